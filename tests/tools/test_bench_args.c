/* test_bench_args.c: bitnet-bench's flag parsing and test expansion
 * (tools/bench/bench_args.c): llama-bench's list semantics, defaults,
 * combination order, and the errors a user gets for bad values. */
#include <criterion/criterion.h>
#include <string.h>

#include "tools/bench/bench_args.h"

/* Parses a NULL-terminated argument list over the defaults (2 CPUs). */
static bn_status parse(bn_bench_params *p, bn_error *err, bool *help,
                       const char *const *args)
{
    char *argv[64] = {"bitnet-bench"};
    int argc = 1;
    while (args[argc - 1]) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    bn_bench_params_default(p, 2);
    bn_error_clear(err);
    return bn_bench_params_parse(p, argc, argv, help, err);
}

Test(bench_args, has_llama_bench_defaults)
{
    bn_bench_params p;
    bn_error err;
    bool help;
    const char *a[] = {"-m", "x.gguf", NULL};
    cr_assert_eq(parse(&p, &err, &help, a), BN_STATUS_OK, "%s", err.message);
    cr_assert_not(help);
    cr_assert_eq(p.n_models, 1);
    cr_assert_str_eq(p.models[0], "x.gguf");
    cr_assert_eq(p.n_n_prompt, 1);
    cr_assert_eq(p.n_prompt[0], 512);
    cr_assert_eq(p.n_gen[0], 128);
    cr_assert_eq(p.n_threads, 1);
    cr_assert_eq(p.threads[0], 2);
    cr_assert_eq(p.reps, 5);
    cr_assert(p.warmup);
    cr_assert_eq(p.format, BN_BENCH_FORMAT_MD);
    cr_assert_null(p.kernels[0]);
    cr_assert_eq(bn_bench_instance_count(&p), 2); /* pp512, tg128 */
    bn_bench_params_free(&p);
}

Test(bench_args, splits_comma_lists_and_appends_repeated_flags)
{
    bn_bench_params p;
    bn_error err;
    bool help;
    const char *a[] = {"-m", "a.gguf,b.gguf", "-t", "1,2", "-t", "4", "-p", "128", "-n", "0",
                       "-pg", "512,128", "-r", "3", "-o", "json", NULL};
    cr_assert_eq(parse(&p, &err, &help, a), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(p.n_models, 2);
    cr_assert_str_eq(p.models[1], "b.gguf");
    cr_assert_eq(p.n_threads, 3);
    cr_assert_eq(p.threads[2], 4);
    cr_assert_eq(p.n_pg, 1);
    cr_assert_eq(p.pg[0].n_prompt, 512);
    cr_assert_eq(p.pg[0].n_gen, 128);
    cr_assert_eq(p.reps, 3);
    cr_assert_eq(p.format, BN_BENCH_FORMAT_JSON);
    /* -n 0 skips the generation test: 2 models x 3 thread counts x (pp128, pp512+tg128) */
    cr_assert_eq(bn_bench_instance_count(&p), 12);
    bn_bench_instance in[12];
    cr_assert_eq(bn_bench_instances(&p, in, 12), 12);
    /* model outermost, then threads, then the tests in pp, tg, pg order */
    cr_assert_str_eq(in[0].model, "a.gguf");
    cr_assert_eq(in[0].n_threads, 1);
    cr_assert_eq(in[0].n_prompt, 128);
    cr_assert_eq(in[0].n_gen, 0);
    cr_assert_eq(in[1].n_prompt, 512);
    cr_assert_eq(in[1].n_gen, 128);
    cr_assert_eq(in[2].n_threads, 2);
    cr_assert_str_eq(in[6].model, "b.gguf");
    cr_assert_eq(in[11].n_threads, 4);
    bn_bench_params_free(&p);
}

Test(bench_args, reads_kernels_cache_types_batch_and_mmap)
{
    bn_bench_params p;
    bn_error err;
    bool help;
    const char *a[] = {"-m", "m.gguf", "--kernels", "ref,auto,avx2", "-ctk", "f32", "-ctv",
                       "f16,f32", "-b", "64", "-mmp", "0", "--no-warmup", "--seed", "7", NULL};
    cr_assert_eq(parse(&p, &err, &help, a), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(p.n_kernels, 3);
    cr_assert_str_eq(p.kernels[0], "ref");
    cr_assert_null(p.kernels[1], "auto means the default table");
    cr_assert_str_eq(p.kernels[2], "avx2");
    cr_assert_eq(p.n_type_k, 1);
    cr_assert_eq(p.type_k[0], BN_KV_TYPE_F32);
    cr_assert_eq(p.n_type_v, 2);
    cr_assert_eq(p.n_batch[0], 64);
    cr_assert_not(p.use_mmap[0]);
    cr_assert_not(p.warmup);
    cr_assert_eq(p.seed, 7);
    /* 3 kernels x 2 V types x (pp512, tg128) */
    cr_assert_eq(bn_bench_instance_count(&p), 12);
    bn_bench_params_free(&p);
}

Test(bench_args, reads_kernel_families_and_the_int8_output_layer)
{
    bn_bench_params p;
    bn_error err;
    bool help;
    const char *a[] = {"-m", "m.gguf", "-pk", "mad,lut", "-dk", "lut", "--lm-head-i8", "0,1",
                       "-n", "0", NULL};
    cr_assert_eq(parse(&p, &err, &help, a), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(p.n_prompt_kernels, 2);
    cr_assert_eq(p.prompt_kernels[1], BN_KERNEL_CHOICE_LUT);
    cr_assert_eq(p.decode_kernels[0], BN_KERNEL_CHOICE_LUT);
    cr_assert_eq(p.n_lm_head_i8, 2);
    cr_assert(p.lm_head_i8[1]);
    bn_bench_instance in[4];
    cr_assert_eq(bn_bench_instances(&p, in, 4), 4);
    /* the int8 flag is outside the families: (0,mad) (0,lut) (1,mad) (1,lut) */
    cr_assert_not(in[1].lm_head_i8);
    cr_assert_eq(in[1].prompt_kernels, BN_KERNEL_CHOICE_LUT);
    cr_assert(in[2].lm_head_i8);
    cr_assert_eq(in[2].prompt_kernels, BN_KERNEL_CHOICE_MAD);
    cr_assert_str_eq(bn_bench_kernel_choice_name(in[3].decode_kernels), "lut");
    bn_bench_params_free(&p);
}

Test(bench_args, help_needs_no_model)
{
    bn_bench_params p;
    bn_error err;
    bool help;
    const char *a[] = {"--help", NULL};
    cr_assert_eq(parse(&p, &err, &help, a), BN_STATUS_OK);
    cr_assert(help);
    cr_assert(strstr(bn_bench_usage(), "-m, --model"));
    bn_bench_params_free(&p);
}

/* Each bad command line and a piece of the message it must give. */
static const struct {
    const char *args[8];
    const char *message;
} bad[] = {
    {{"-p", "512", NULL}, "-m FILE is required"},
    {{"-m", "x", "-t", "0", NULL}, "-t: '0' is not a thread count"},
    {{"-m", "x", "-t", "1,,2", NULL}, "-t: empty item in '1,,2'"},
    {{"-m", "x", "-t", "2,", NULL}, "empty item"},
    {{"-m", "x", "-p", "12x", NULL}, "-p: '12x' is not a token count"},
    {{"-m", "x", "-n", "-5", NULL}, "-n: '-5' is not a token count"},
    {{"-m", "x", "-pg", "512", NULL}, "-pg: '512' is not a pair"},
    {{"-m", "x", "-pg", "512,", NULL}, "not a pair"},
    {{"-m", "x", "-r", "0", NULL}, "-r: '0' is not a repetition count"},
    {{"-m", "x", "-o", "xml", NULL}, "-o: 'xml' is not md, json or csv"},
    {{"-m", "x", "-ctk", "q8_0", NULL}, "-ctk: 'q8_0' is not f16 or f32"},
    {{"-m", "x", "-mmp", "2", NULL}, "-mmp: '2' is not 0 or 1"},
    {{"-m", "x", "-pk", "fast", NULL}, "-pk: 'fast' is not auto, mad or lut"},
    {{"-m", "x", "--lm-head-i8", "yes", NULL}, "--lm-head-i8: 'yes' is not 0 or 1"},
    {{"-m", "x", "-t", "99999999999999999999", NULL}, "is not a thread count"},
    {{"-m", "x", "--frobnicate", NULL}, "unknown argument '--frobnicate'"},
    {{"-m", "x", "-t", NULL}, "-t needs a value"},
    {{"-m", NULL}, "-m needs a value"},
};

Test(bench_args, rejects_bad_values_with_the_flag_and_value_named)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bn_bench_params p;
        bn_error err;
        bool help;
        cr_assert_eq(parse(&p, &err, &help, bad[i].args), BN_STATUS_INVALID_ARG, "case %zu", i);
        cr_assert(strstr(err.message, bad[i].message), "case %zu: got '%s', want '%s'", i,
                  err.message, bad[i].message);
        bn_bench_params_free(&p);
    }
}

Test(bench_args, rejects_more_values_than_a_list_holds)
{
    char list[4 * (BN_BENCH_MAX_LIST + 1)] = "";
    for (int i = 0; i <= BN_BENCH_MAX_LIST; i++)
        strcat(list, i ? ",1" : "1");
    bn_bench_params p;
    bn_error err;
    bool help;
    const char *a[] = {"-m", "x", "-t", list, NULL};
    cr_assert_eq(parse(&p, &err, &help, a), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "more than 64 values"), "%s", err.message);
    bn_bench_params_free(&p);
}

Test(bench_args, skips_every_test_when_all_counts_are_zero)
{
    bn_bench_params p;
    bn_error err;
    bool help;
    const char *a[] = {"-m", "x", "-p", "0", "-n", "0", NULL};
    cr_assert_eq(parse(&p, &err, &help, a), BN_STATUS_OK);
    cr_assert_eq(bn_bench_instance_count(&p), 0);
    bn_bench_params_free(&p);
}
