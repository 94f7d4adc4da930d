/* chat_2b4t_model.h: a 2B4T-shaped chat model for the chat tests (header
 * only, included by tests/runtime/test_chat.c and tests/tools/
 * test_chat_repl.c).
 *
 * Writes a GGUF with arch bitnet-b1.58, the real Llama-3 vocabulary
 * (imported from tokenizer.json by our importer), optionally 2B4T's chat
 * template, and one random layer (64 embd, 2 heads / 1 kv, 128 ff, F32
 * ternary-valued projections). The untied output layer is zero except the
 * rows of <|eot_id|> (128009) and <|end_of_text|> (128001), which are +w and
 * -w: whatever the hidden state, one of the two has the largest logit, so a
 * greedy reply always ends at once with one of 2B4T's stop tokens, and with
 * --ignore-eos it is made of them only. Not a language model.
 */
#ifndef BN_TEST_CHAT_2B4T_MODEL_H
#define BN_TEST_CHAT_2B4T_MODEL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loader/gguf_writer.h"
#include "loader/half.h"
#include "runtime/bitnet.h"
#include "tokenizer/hf_import.h"

/* microsoft/bitnet-b1.58-2B-4T's template (as quoted from its
 * tokenizer_config.json). */
#define BN_CHAT_2B4T_TEMPLATE                                                                      \
    "{% for message in messages %}{{ message['role'] | capitalize + ': ' + message['content'] | " \
    "trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% "      \
    "endif %}"

#define BN_CHAT_2B4T_VOCAB 128256
#define BN_CHAT_2B4T_EMBD 64
#define BN_CHAT_2B4T_FF 128

typedef struct bn_chat_2b4t_keep {
    void *bufs[32]; /* tensor data stays alive until the file is written */
    int n;
} bn_chat_2b4t_keep;

static bn_status bn_chat_2b4t_tensor(bn_gguf_writer *w, bn_chat_2b4t_keep *keep, const char *name,
                                     bn_tensor_type type, int64_t ne0, int64_t ne1,
                                     const float *values, bn_error *err)
{
    int64_t n = ne0 * ne1;
    size_t esz = type == BN_TYPE_F32 ? 4 : 2;
    uint8_t *buf = malloc((size_t)n * esz);
    if (!buf || keep->n == (int)(sizeof keep->bufs / sizeof *keep->bufs)) {
        free(buf);
        return BN_STATUS_NO_MEMORY;
    }
    keep->bufs[keep->n++] = buf;
    for (int64_t i = 0; i < n; i++) {
        if (type == BN_TYPE_F32) {
            memcpy(buf + 4 * i, &values[i], 4);
        } else {
            uint16_t h = bn_f32_to_f16(values[i]);
            memcpy(buf + 2 * i, &h, 2);
        }
    }
    int64_t ne[2] = {ne0, ne1};
    return bn_gguf_writer_add_tensor(w, name, type, ne1 > 1 ? 2 : 1, ne, buf, (uint64_t)n * esz,
                                     err);
}

/* Writes the model to path; chat_template may be NULL (none). */
static bn_status bn_chat_2b4t_model_write(const char *path, const char *tokenizer_json,
                                          const char *chat_template, bn_error *err)
{
    enum { V = BN_CHAT_2B4T_VOCAB, E = BN_CHAT_2B4T_EMBD, F = BN_CHAT_2B4T_FF };
    bn_status st;
    bn_gguf_writer *w = NULL;
    bn_chat_2b4t_keep keep = {{0}, 0};
    float *v = malloc((size_t)V * E * sizeof *v);
    if (!v)
        return BN_STATUS_NO_MEMORY;
    if ((st = bn_gguf_writer_new(&w, err)))
        goto done;
    static const struct {
        const char *key;
        uint32_t v;
    } u32s[] = {{"bitnet-b1.58.vocab_size", V},
                {"bitnet-b1.58.context_length", 256},
                {"bitnet-b1.58.embedding_length", E},
                {"bitnet-b1.58.block_count", 1},
                {"bitnet-b1.58.feed_forward_length", F},
                {"bitnet-b1.58.attention.head_count", 2},
                {"bitnet-b1.58.attention.head_count_kv", 1},
                {"bitnet-b1.58.rope.dimension_count", E / 2}};
    if ((st = bn_gguf_writer_set_string(w, "general.architecture", "bitnet-b1.58", err)))
        goto done;
    for (size_t i = 0; i < sizeof u32s / sizeof *u32s; i++)
        if ((st = bn_gguf_writer_set_u32(w, u32s[i].key, u32s[i].v, err)))
            goto done;
    if ((st = bn_gguf_writer_set_f32(w, "bitnet-b1.58.attention.layer_norm_rms_epsilon", 1e-5f,
                                     err)) ||
        (st = bn_gguf_writer_set_f32(w, "bitnet-b1.58.rope.freq_base", 500000.0f, err)) ||
        (st = bn_hf_tokenizer_import(tokenizer_json, w, err)))
        goto done;
    if (chat_template &&
        (st = bn_gguf_writer_set_string(w, "tokenizer.chat_template", chat_template, err)))
        goto done;

    /* A fixed pseudo-random sequence of -1, 0, 1, 2. */
    uint32_t r = 12345;
#define BN_NEXT() (r = r * 1664525u + 1013904223u, (int)(r >> 30) - 1)
    for (size_t i = 0; i < (size_t)V * E; i++)
        v[i] = 0.5f * (float)BN_NEXT();
    if ((st = bn_chat_2b4t_tensor(w, &keep, "token_embd.weight", BN_TYPE_F16, E, V, v, err)))
        goto done;
    memset(v, 0, (size_t)V * E * sizeof *v);
    for (int i = 0; i < E; i++) {
        float s = (i % 3 == 0) ? 1.0f : -1.0f;
        v[(size_t)128009 * E + i] = s;
        v[(size_t)128001 * E + i] = -s;
    }
    if ((st = bn_chat_2b4t_tensor(w, &keep, "output.weight", BN_TYPE_F16, E, V, v, err)))
        goto done;
    for (int i = 0; i < F; i++)
        v[i] = 1.0f;
    static const char *const norms[] = {"output_norm.weight", "blk.0.attn_norm.weight",
                                        "blk.0.attn_sub_norm.weight", "blk.0.ffn_norm.weight"};
    for (int i = 0; i < 4; i++)
        if ((st = bn_chat_2b4t_tensor(w, &keep, norms[i], BN_TYPE_F32, E, 1, v, err)))
            goto done;
    if ((st = bn_chat_2b4t_tensor(w, &keep, "blk.0.ffn_sub_norm.weight", BN_TYPE_F32, F, 1, v,
                                  err)))
        goto done;
    static const struct {
        const char *name;
        int64_t k, rows;
    } mats[] = {{"blk.0.attn_q.weight", E, E},       {"blk.0.attn_k.weight", E, E / 2},
                {"blk.0.attn_v.weight", E, E / 2},   {"blk.0.attn_output.weight", E, E},
                {"blk.0.ffn_gate.weight", E, F},     {"blk.0.ffn_up.weight", E, F},
                {"blk.0.ffn_down.weight", F, E}};
    for (size_t m = 0; m < sizeof mats / sizeof *mats; m++) {
        float s = 1.0f / sqrtf((float)mats[m].k);
        for (int64_t i = 0; i < mats[m].k * mats[m].rows; i++) {
            int t = BN_NEXT();
            v[i] = s * (float)(t > 1 ? 0 : t);
        }
        if ((st = bn_chat_2b4t_tensor(w, &keep, mats[m].name, BN_TYPE_F32, mats[m].k,
                                      mats[m].rows, v, err)))
            goto done;
    }
#undef BN_NEXT
    st = bn_gguf_writer_write_file(w, path, err);
done:
    bn_gguf_writer_free(w);
    for (int i = 0; i < keep.n; i++)
        free(keep.bufs[i]);
    free(v);
    return st;
}

#endif /* BN_TEST_CHAT_2B4T_MODEL_H */
