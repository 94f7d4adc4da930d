/* bitnet-run: generate text with a BitNet model (llama-cli-like flags).
 *
 *   bitnet-run [-m model.gguf] -p "prompt" [-n 128] [-t threads] [-c ctx]
 *              [--temp 0.8] [--top-k 40] [--top-p 0.95] [--min-p 0.05]
 *              [--repeat-penalty 1.0] [--repeat-last-n 64] [-s seed] ...
 *
 * stdout gets the prompt, then the generated text, flushed token by token;
 * everything else (statistics, --verbose details, errors) goes to stderr.
 * Without -m the bundled tiny model is used (models/ next to the build or
 * source tree). Uses the public API (runtime/bitnet.h) only.
 *
 * Exit codes: 0 done (also when generation stops at a full context, with a
 * note on stderr), 1 runtime errors (bad model, prompt longer than the
 * context, ...), 2 usage errors.
 */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/bitnet.h"
#include "tools/bitnet-run.h"
#include "tools/cli_args.h"
#include "tools/default_model.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bitnet-run [options] -p PROMPT\n"
            "\n"
            "  -m, --model FILE         model GGUF (default: the bundled models/" BN_DEFAULT_MODEL ")\n"
            "  -p, --prompt TEXT        prompt\n"
            "  -f, --file FILE          read the prompt from FILE\n"
            "  -n, --n-predict N        tokens to generate (default 128; -1: until end/context)\n"
            "  -t, --threads N          threads (default: number of cores)\n"
            "  -c, --ctx-size N         context size (default: min(training context, 4096))\n"
            "  -b, --batch-size N       tokens per forward step for prompts (default 512)\n"
            "  -s, --seed N             sampling seed (default: random)\n"
            "      --temp X             temperature (default 0.8; 0 = greedy)\n"
            "      --top-k N            top-k (default 40; 0 = off)\n"
            "      --top-p X            top-p (default 0.95; 1 = off)\n"
            "      --min-p X            min-p (default 0.05; 0 = off)\n"
            "      --repeat-penalty X   repetition penalty (default 1.0 = off)\n"
            "      --repeat-last-n N    tokens the penalty looks back (default 64)\n"
            "  -ctk, --cache-type-k T   KV cache type for K: f16 (default) or f32\n"
            "  -ctv, --cache-type-v T   KV cache type for V: f16 (default) or f32\n"
            "      --no-display-prompt  do not echo the prompt\n"
            "      --ignore-eos         keep generating past end-of-generation tokens\n"
            "      --lm-head-i8         int8 copy of the output layer (faster, less exact)\n"
            "      --no-mmap            read the model into memory instead of mapping it:\n"
            "                           huge pages, faster decode; slower load, not shared\n"
            "      --dump-logits FILE   write the logits of every prompt position to FILE\n"
            "                           (little-endian float32, n_prompt_tokens x n_vocab)\n"
            "  -cnv, --chat             interactive chat (-p is the system prompt)\n"
            "      --chat-template NAME chat format: bitnet, llama3, falcon3 or plain\n"
            "                           (default: recognised from the model, else plain)\n"
            "      --ctx-shift          chat: when the context is full, drop the oldest turns\n"
            "                           (default: end the reply)\n"
            "      --verbose            load time, kernel table and speeds on stderr\n"
            "  -h, --help               this text\n"
            "\n"
            "environment: BN_KERNELS=ref|avx2|avx512|avx512vbmi|neon|neon-dotprod picks the kernel table.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    return bn_cli_usage_error("bitnet-run", usage, fmt, arg);
}

static bool parse_float(const char *s, float *out)
{
    double v;
    if (!bn_cli_parse_double(s, -FLT_MAX, FLT_MAX, &v))
        return false;
    *out = (float)v;
    return true;
}

static bool parse_kv_type(const char *s, bn_kv_type *out)
{
    if (s && strcmp(s, "f16") == 0)
        *out = BN_KV_TYPE_F16;
    else if (s && strcmp(s, "f32") == 0)
        *out = BN_KV_TYPE_F32;
    else
        return false;
    return true;
}

/* Parses argv into o. Returns 0, or the exit code (2 usage, or -1 for --help). */
static int parse_args(int argc, char **argv, bn_run_options *o)
{
    memset(o, 0, sizeof *o);
    o->n_predict = 128;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    o->n_threads = nproc > 0 ? (int)nproc : 1;
    o->n_batch = 512;
    bn_sampler_params_default(&o->sampling);
    o->type_k = BN_KV_TYPE_F16;
    o->type_v = BN_KV_TYPE_F16;
    o->display_prompt = true;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        /* Flags that take a value. */
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
#define IS(x) (strcmp(a, x) == 0)
#define NEED_VALUE()                                              \
    do {                                                          \
        if (!v)                                                   \
            return usage_error("option %s needs a value", a);     \
        i++;                                                      \
    } while (0)
        if (IS("-h") || IS("--help")) {
            return -1;
        } else if (IS("-m") || IS("--model")) {
            NEED_VALUE();
            o->model_path = v;
        } else if (IS("-p") || IS("--prompt")) {
            NEED_VALUE();
            o->prompt = v;
        } else if (IS("-f") || IS("--file")) {
            NEED_VALUE();
            o->prompt_file = v;
        } else if (IS("-n") || IS("--n-predict")) {
            NEED_VALUE();
            if (!bn_cli_parse_long(v, -1, INT32_MAX, &l))
                return usage_error("-n wants an integer >= -1, got '%s'", v);
            o->n_predict = (int32_t)l;
        } else if (IS("-t") || IS("--threads")) {
            NEED_VALUE();
            if (!bn_cli_parse_long(v, 1, 1024, &l))
                return usage_error("-t wants a thread count from 1 to 1024, got '%s'", v);
            o->n_threads = (int)l;
        } else if (IS("-c") || IS("--ctx-size")) {
            NEED_VALUE();
            if (!bn_cli_parse_long(v, 0, 1 << 24, &l))
                return usage_error("-c wants a context size from 0 to 16777216, got '%s'", v);
            o->n_ctx = (int32_t)l;
        } else if (IS("-b") || IS("--batch-size")) {
            NEED_VALUE();
            if (!bn_cli_parse_long(v, 1, 1 << 16, &l))
                return usage_error("-b wants a batch size from 1 to 65536, got '%s'", v);
            o->n_batch = (int32_t)l;
        } else if (IS("-s") || IS("--seed")) {
            NEED_VALUE();
            char *end;
            errno = 0;
            long long sv = strtoll(v, &end, 10);
            if (errno || *end || !*v)
                return usage_error("-s wants an integer seed, got '%s'", v);
            if (sv >= 0) {
                o->seed_given = true;
                o->seed = (uint64_t)sv;
            }
        } else if (IS("--temp") || IS("--temperature")) {
            NEED_VALUE();
            if (!parse_float(v, &o->sampling.temp))
                return usage_error("--temp wants a number, got '%s'", v);
        } else if (IS("--top-k")) {
            NEED_VALUE();
            if (!bn_cli_parse_long(v, 0, INT32_MAX, &l))
                return usage_error("--top-k wants an integer >= 0, got '%s'", v);
            o->sampling.top_k = (int32_t)l;
        } else if (IS("--top-p")) {
            NEED_VALUE();
            if (!parse_float(v, &o->sampling.top_p) || o->sampling.top_p < 0.0f)
                return usage_error("--top-p wants a number in [0, 1], got '%s'", v);
        } else if (IS("--min-p")) {
            NEED_VALUE();
            if (!parse_float(v, &o->sampling.min_p) || o->sampling.min_p < 0.0f ||
                o->sampling.min_p > 1.0f)
                return usage_error("--min-p wants a number in [0, 1], got '%s'", v);
        } else if (IS("--repeat-penalty")) {
            NEED_VALUE();
            if (!parse_float(v, &o->sampling.repeat_penalty) || o->sampling.repeat_penalty <= 0.0f)
                return usage_error("--repeat-penalty wants a positive number, got '%s'", v);
        } else if (IS("--repeat-last-n")) {
            NEED_VALUE();
            if (!bn_cli_parse_long(v, -1, INT32_MAX, &l))
                return usage_error("--repeat-last-n wants an integer >= -1, got '%s'", v);
            o->sampling.repeat_last_n = (int32_t)l;
        } else if (IS("-ctk") || IS("--cache-type-k")) {
            NEED_VALUE();
            if (!parse_kv_type(v, &o->type_k))
                return usage_error("--cache-type-k wants f16 or f32, got '%s'", v);
        } else if (IS("-ctv") || IS("--cache-type-v")) {
            NEED_VALUE();
            if (!parse_kv_type(v, &o->type_v))
                return usage_error("--cache-type-v wants f16 or f32, got '%s'", v);
        } else if (IS("--dump-logits")) {
            NEED_VALUE();
            o->dump_logits = v;
        } else if (IS("--chat-template")) {
            NEED_VALUE();
            o->chat_template = v;
        } else if (IS("--no-display-prompt")) {
            o->display_prompt = false;
        } else if (IS("--verbose")) {
            o->verbose = true;
        } else if (IS("--lm-head-i8")) {
            o->lm_head_i8 = true;
        } else if (IS("--no-mmap")) {
            o->no_mmap = true;
        } else if (IS("--ignore-eos")) {
            o->ignore_eos = true;
        } else if (IS("--ctx-shift")) {
            o->ctx_shift = true;
        } else if (IS("-cnv") || IS("--chat") || IS("--conversation")) {
            o->chat = true;
        } else {
            return usage_error("unknown option '%s'", a);
        }
#undef IS
#undef NEED_VALUE
    }
    if (o->prompt && o->prompt_file)
        return usage_error("%s", "give the prompt with -p or -f, not both");
    return 0;
}

/* Reads a whole file as a NUL-terminated string. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int fail(const bn_error *err)
{
    fprintf(stderr, "bitnet-run: error: %s\n", err->message[0] ? err->message
                                                                : bn_status_name(err->status));
    return 1;
}

/* Writes one token's text to stdout. */
static bn_status emit_token(const bn_model *model, int32_t tok, bn_error *err)
{
    char piece[256];
    size_t n = 0;
    bn_status st = bn_model_token_to_piece(model, tok, piece, sizeof piece, &n, err);
    if (st != BN_STATUS_OK)
        return st;
    fwrite(piece, 1, n, stdout);
    fflush(stdout);
    return BN_STATUS_OK;
}

int main(int argc, char **argv)
{
    bn_run_options o;
    int rc = parse_args(argc, argv, &o);
    if (rc == -1) {
        usage(stdout);
        return 0;
    }
    if (rc)
        return rc;

    bn_error err;
    bn_error_clear(&err);
    bn_model *model = NULL;
    bn_session *session = NULL;
    bn_sampler *sampler = NULL;
    int32_t *ids = NULL;
    char *prompt_buf = NULL;
    rc = 1;

    char path_buf[4096];
    if (!o.model_path) {
        o.model_path = bn_default_model_path(path_buf, sizeof path_buf);
        if (!o.model_path) {
            fprintf(stderr, "bitnet-run: error: no -m given and the bundled model models/%s "
                            "was not found next to the executable or in the source tree\n",
                    BN_DEFAULT_MODEL);
            return 1;
        }
    }

    size_t prompt_len = 0;
    const char *prompt = o.prompt;
    if (o.prompt_file) {
        prompt_buf = read_file(o.prompt_file, &prompt_len);
        if (!prompt_buf) {
            fprintf(stderr, "bitnet-run: error: cannot read prompt file '%s': %s\n",
                    o.prompt_file, strerror(errno));
            return 1;
        }
        prompt = prompt_buf;
    } else if (prompt) {
        prompt_len = strlen(prompt);
    }
    o.prompt = prompt;

    /* Load. */
    double t_load = now_ms();
    bn_model_options mo;
    bn_model_options_default(&mo);
    mo.n_threads = o.n_threads;
    mo.kernels = getenv("BN_KERNELS");
    if (mo.kernels && !*mo.kernels)
        mo.kernels = NULL;
    mo.lm_head_i8 = o.lm_head_i8;
    mo.use_mmap = !o.no_mmap;
    if (bn_model_load(o.model_path, &mo, &model, &err) != BN_STATUS_OK) {
        fprintf(stderr, "bitnet-run: error: %s: %s\n", o.model_path, err.message);
        goto done;
    }
    t_load = now_ms() - t_load;
    if (!bn_model_has_tokenizer(model)) {
        fprintf(stderr, "bitnet-run: error: %s has no tokenizer (tokenizer.ggml.* metadata), "
                        "so text cannot be encoded\n", o.model_path);
        goto done;
    }
    if (o.verbose) {
        fprintf(stderr, "bitnet-run: model: %s\n", bn_model_description(model));
        fprintf(stderr, "bitnet-run: file %s, %.1f MiB, %s in %.0f ms\n", o.model_path,
                (double)bn_model_file_bytes(model) / 1048576.0,
                o.no_mmap ? "read into memory" : "mapped, loaded", t_load);
        fprintf(stderr, "bitnet-run: kernels: %s, %d threads, %.1f MiB streamed per token%s\n",
                bn_model_kernels_name(model), o.n_threads,
                (double)bn_model_bytes_per_token(model) / 1048576.0,
                o.lm_head_i8 ? " (int8 output layer)" : "");
    }

    if (!o.seed_given)
        o.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    o.sampling.seed = o.seed;
    if (bn_sampler_new(&o.sampling, bn_model_n_vocab(model), &sampler, &err) != BN_STATUS_OK) {
        rc = fail(&err);
        goto done;
    }

    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = o.n_ctx;
    so.n_batch = o.n_batch;
    so.n_threads = o.n_threads;
    so.type_k = o.type_k;
    so.type_v = o.type_v;

    if (o.chat) {
#ifdef BN_RUN_HAVE_CHAT
        if (bn_session_new(model, &so, &session, &err) != BN_STATUS_OK) {
            rc = fail(&err);
            goto done;
        }
        rc = bn_run_chat(&o, model, session, sampler);
#else
        fprintf(stderr, "bitnet-run: error: chat mode (-cnv) is not built into this bitnet-run\n");
        rc = 1;
#endif
        goto done;
    }

    if (!prompt || prompt_len == 0) {
        fprintf(stderr, "bitnet-run: error: the prompt is empty: give text with -p or -f\n");
        goto done;
    }

    /* Tokenize (ask for the size first, then fill). */
    size_t n_ids = 0;
    bn_error probe;
    bn_error_clear(&probe);
    bool add_bos = bn_model_add_bos(model);
    bn_status st = bn_model_tokenize(model, prompt, prompt_len, add_bos, true, NULL, 0, &n_ids,
                                     &probe);
    if (st != BN_STATUS_OK && st != BN_STATUS_INVALID_ARG) {
        rc = fail(&probe);
        goto done;
    }
    ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "bitnet-run: error: out of memory for %zu prompt tokens\n", n_ids);
        goto done;
    }
    if (bn_model_tokenize(model, prompt, prompt_len, add_bos, true, ids, n_ids, &n_ids, &err)) {
        rc = fail(&err);
        goto done;
    }
    if (n_ids == 0) {
        fprintf(stderr, "bitnet-run: error: the prompt encodes to no tokens\n");
        goto done;
    }

    if (o.dump_logits)
        so.n_logits = (int32_t)(n_ids > INT32_MAX ? INT32_MAX : n_ids);
    if (bn_session_new(model, &so, &session, &err) != BN_STATUS_OK) {
        rc = fail(&err);
        goto done;
    }
    int32_t n_ctx = bn_session_n_ctx(session);
    if (n_ids > (size_t)n_ctx) {
        fprintf(stderr, "bitnet-run: error: the prompt has %zu tokens but the context holds %d "
                        "(raise -c, at most the model's training context %d is sensible)\n",
                n_ids, (int)n_ctx, (int)bn_model_n_ctx_train(model));
        goto done;
    }
    if (o.verbose)
        fprintf(stderr, "bitnet-run: prompt: %zu tokens, context %d, seed %llu\n", n_ids,
                (int)n_ctx, (unsigned long long)o.seed);

    if (o.display_prompt) {
        fwrite(prompt, 1, prompt_len, stdout);
        fflush(stdout);
    }

    /* Prompt: one eval (the session splits it into batches). */
    if (bn_session_eval(session, ids, n_ids, o.dump_logits != NULL, &err) != BN_STATUS_OK) {
        rc = fail(&err);
        goto done;
    }
    for (size_t i = 0; i < n_ids; i++)
        bn_sampler_accept(sampler, ids[i]);
    if (o.dump_logits) {
        FILE *f = fopen(o.dump_logits, "wb");
        bool ok = f != NULL;
        int32_t nv = bn_model_n_vocab(model);
        for (size_t i = 0; ok && i < n_ids; i++)
            ok = fwrite(bn_session_logits(session, (int32_t)i), sizeof(float), (size_t)nv, f) ==
                 (size_t)nv;
        if (f && fclose(f) != 0)
            ok = false;
        if (!ok) {
            fprintf(stderr, "bitnet-run: error: cannot write logits to '%s': %s\n",
                    o.dump_logits, strerror(errno));
            goto done;
        }
    }

    /* Generation. */
    int32_t n_gen = 0;
    const char *stop_reason = "token limit (-n)";
    while (o.n_predict < 0 || n_gen < o.n_predict) {
        int32_t tok;
        if (bn_sampler_sample(sampler, bn_session_logits(session, -1), &tok, &err)) {
            rc = fail(&err);
            goto done;
        }
        if (!o.ignore_eos && bn_model_is_eog(model, tok)) {
            stop_reason = "end of generation token";
            break;
        }
        if (emit_token(model, tok, &err) != BN_STATUS_OK) {
            rc = fail(&err);
            goto done;
        }
        bn_sampler_accept(sampler, tok);
        n_gen++;
        if (o.n_predict >= 0 && n_gen >= o.n_predict)
            break;
        if (bn_session_n_past(session) >= n_ctx) {
            stop_reason = "context full";
            fprintf(stderr, "\nbitnet-run: the context (%d tokens, -c) is full after %d generated "
                            "tokens; stopping\n", (int)n_ctx, (int)n_gen);
            break;
        }
        if (bn_session_eval(session, &tok, 1, false, &err) != BN_STATUS_OK) {
            rc = fail(&err);
            goto done;
        }
    }
    printf("\n");
    fflush(stdout);

    bn_session_stats stats;
    bn_session_stats_get(session, &stats);
    double pp = stats.prompt_ms > 0 ? (double)stats.n_prompt_tokens * 1e3 / stats.prompt_ms : 0;
    double tg = stats.gen_ms > 0 ? (double)stats.n_gen_tokens * 1e3 / stats.gen_ms : 0;
    if (n_ids == 1) /* a one-token prompt was counted as a generation step */
        pp = 0;
    fprintf(stderr,
            "bitnet-run: prompt %zu tokens (%.1f tokens/s), generated %d tokens (%.1f tokens/s), "
            "stop: %s\n",
            n_ids, pp, (int)n_gen, tg, stop_reason);
    if (o.verbose)
        fprintf(stderr, "bitnet-run: prompt %.1f ms, generation %.1f ms, %llu eval calls\n",
                stats.prompt_ms, stats.gen_ms, (unsigned long long)stats.n_eval_calls);
    rc = 0;
done:
    free(ids);
    free(prompt_buf);
    bn_sampler_free(sampler);
    bn_session_free(session);
    bn_model_free(model);
    return rc;
}
