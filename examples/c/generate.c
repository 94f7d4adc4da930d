/* generate.c: a small program over the installed libbitnet.
 *
 *   cc generate.c $(pkg-config --cflags --libs bitnet) -o generate
 *   ./generate MODEL.gguf "Once upon a time" [N]
 *
 * Greedy generation through bitnet.h, then one weight matrix through the
 * quantization API of bitnet_quant.h (ternarize, pack to I2_S, BitLinear).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bitnet.h>
#include <bitnet_quant.h>

static int fail(const char *what, const bn_error *err) {
    fprintf(stderr, "generate: error: %s: %s\n", what, err->message);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: generate MODEL.gguf PROMPT [N]\n");
        return 2;
    }
    int n_predict = argc > 3 ? atoi(argv[3]) : 32;
    bn_error err;
    bn_error_clear(&err);

    bn_model *model = NULL;
    if (bn_model_load(argv[1], NULL, &model, &err) != BN_STATUS_OK)
        return fail("load", &err);
    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = 256;
    bn_session *session = NULL;
    if (bn_session_new(model, &so, &session, &err) != BN_STATUS_OK)
        return fail("session", &err);
    bn_sampler_params sp;
    bn_sampler_params_default(&sp);
    sp.temp = 0.0f; /* greedy */
    bn_sampler *sampler = NULL;
    if (bn_sampler_new(&sp, bn_model_n_vocab(model), &sampler, &err) != BN_STATUS_OK)
        return fail("sampler", &err);

    int32_t ids[256];
    size_t n = 0;
    if (bn_model_tokenize(model, argv[2], strlen(argv[2]), bn_model_add_bos(model), false, ids,
                          256, &n, &err) != BN_STATUS_OK)
        return fail("tokenize", &err);
    if (bn_session_eval(session, ids, n, false, &err) != BN_STATUS_OK)
        return fail("eval", &err);
    printf("%s", argv[2]);
    for (int i = 0; i < n_predict; i++) {
        int32_t tok;
        if (bn_sampler_sample(sampler, bn_session_logits(session, -1), &tok, &err) != BN_STATUS_OK)
            return fail("sample", &err);
        if (bn_model_is_eog(model, tok))
            break;
        bn_sampler_accept(sampler, tok);
        char piece[64];
        size_t len = 0;
        if (bn_model_token_to_piece(model, tok, piece, sizeof piece, &len, &err) == BN_STATUS_OK)
            fwrite(piece, 1, len, stdout);
        if (bn_session_eval(session, &tok, 1, false, &err) != BN_STATUS_OK)
            return fail("eval", &err);
    }
    printf("\n");

    /* The quantization API: a 64 x 256 matrix, ternary per tensor, packed to
     * I2_S, and one BitLinear product. */
    enum { R = 64, K = 256 };
    static float w[R * K], x[K], y[R];
    static int8_t codes[R * K];
    for (int i = 0; i < R * K; i++)
        w[i] = sinf((float)i * 0.1f);
    for (int k = 0; k < K; k++)
        x[k] = cosf((float)k * 0.05f);
    float gamma;
    uint64_t nb;
    if (bn_quant_weights_ternary(w, R, K, 0, codes, &gamma, &err) != BN_STATUS_OK ||
        bn_quant_packed_bytes(BN_QTYPE_I2_S, R, K, &nb, &err) != BN_STATUS_OK)
        return fail("quantize", &err);
    void *packed = malloc(nb);
    bn_bitlinear *bl = NULL;
    if (!packed || bn_quant_pack(BN_QTYPE_I2_S, codes, &gamma, R, K, 0, packed, nb, &err) ||
        bn_bitlinear_new(BN_QTYPE_I2_S, packed, nb, R, K, NULL, &bl, &err) ||
        bn_bitlinear_forward(bl, x, 1, y, 1, &err))
        return fail("bitlinear", &err);
    printf("quant: gamma %.6f, I2_S %llu bytes, y[0] %.4f (%s)\n", (double)gamma,
           (unsigned long long)nb, (double)y[0], bn_bitlinear_kernels_name(bl));

    bn_bitlinear_free(bl);
    free(packed);
    bn_sampler_free(sampler);
    bn_session_free(session);
    bn_model_free(model);
    return 0;
}
