/* ternarize.c: absmean ternarization (see the header). */
#include "loader/ternarize.h"

#include <math.h>
#include <string.h>

/* PyTorch's float32 sum of |w| (aten/native/cpu/SumKernel.cpp, as built
 * with 256-bit vectors): the values are read as vectors of LANES floats;
 * vectors are taken ILP at a time into ILP accumulator rows; every
 * 2^level_power steps the level-0 accumulators are folded into level 1, and
 * so on up a 4-level cascade, which keeps the rounding error near log(n)
 * instead of n. Leftover vectors go into row 0, leftover scalars into a
 * scalar that then adds the lanes in order. Only additions of |w|: nothing
 * here can overflow for finite weights. */
enum { LANES = 8, ILP = 4, LEVELS = 4 };

static float abs_sum_torch_order(const float *w, int64_t n) {
    int64_t n_vec = n / LANES, size = n_vec / ILP;
    int ceil_log2 = 0;
    while (((int64_t)1 << ceil_log2) < size)
        ceil_log2++;
    int64_t level_power = ceil_log2 / LEVELS > 4 ? ceil_log2 / LEVELS : 4;
    int64_t level_step = (int64_t)1 << level_power, level_mask = level_step - 1;
    float acc[LEVELS][ILP][LANES]; /* (levels, accumulator rows, lanes) */
    memset(acc, 0, sizeof acc);
    int64_t i = 0;
    while (i + level_step <= size) {
        /* Level 0 in a local copy: the same additions in the same order, but
         * the compiler keeps 32 floats in registers instead of storing to the
         * cascade array after every vector (about 2x on one core). */
        float a0[ILP][LANES];
        memcpy(a0, acc[0], sizeof a0);
        for (int64_t j = 0; j < level_step; j++, i++)
            for (int k = 0; k < ILP; k++)
                for (int l = 0; l < LANES; l++)
                    a0[k][l] += fabsf(w[(i * ILP + k) * LANES + l]);
        memcpy(acc[0], a0, sizeof a0);
        for (int j = 1; j < LEVELS; j++) {
            for (int k = 0; k < ILP; k++)
                for (int l = 0; l < LANES; l++) {
                    acc[j][k][l] += acc[j - 1][k][l];
                    acc[j - 1][k][l] = 0.0f;
                }
            if ((i & (level_mask << (j * level_power))) != 0)
                break;
        }
    }
    for (; i < size; i++)
        for (int k = 0; k < ILP; k++)
            for (int l = 0; l < LANES; l++)
                acc[0][k][l] += fabsf(w[(i * ILP + k) * LANES + l]);
    for (int j = 1; j < LEVELS; j++)
        for (int k = 0; k < ILP; k++)
            for (int l = 0; l < LANES; l++)
                acc[0][k][l] += acc[j][k][l];
    for (int64_t v = size * ILP; v < n_vec; v++)
        for (int l = 0; l < LANES; l++)
            acc[0][0][l] += fabsf(w[v * LANES + l]);
    for (int k = 1; k < ILP; k++)
        for (int l = 0; l < LANES; l++)
            acc[0][0][l] += acc[0][k][l];
    float total = 0.0f;
    for (int64_t k = n_vec * LANES; k < n; k++)
        total += fabsf(w[k]);
    for (int l = 0; l < LANES; l++)
        total += acc[0][0][l];
    return total;
}

float bn_absmean_scale(const float *w, int64_t n) {
    float s = n > 0 ? abs_sum_torch_order(w, n) / (float)n : 0.0f;
    return s > 1e-5f ? s : 1e-5f;
}

/* The largest float w with fl(w / s) <= 0.5. Division by s > 0 rounded to
 * nearest is monotonic in w, so fl(w / s) > 0.5 exactly when w exceeds this
 * threshold; it sits within an ulp or two of 0.5 * s, and the walks below
 * find it with the very division the reference formula does. */
static float half_threshold(float s) {
    float w = 0.5f * s;
    while (w / s > 0.5f)
        w = nextafterf(w, -INFINITY);
    while (nextafterf(w, INFINITY) / s <= 0.5f)
        w = nextafterf(w, INFINITY);
    return w;
}

void bn_ternarize(const float *w, int64_t n, float s, int8_t *t) {
    /* clamp(round_half_even(w / s), -1, 1) is two comparisons: round(q) >= 1
     * exactly when q > 0.5 (0.5 itself rounds to even, 0), <= -1 exactly
     * when q < -0.5, and fl(-w / s) = -fl(w / s); q > 0.5 is w > hi (see
     * half_threshold). A NaN weight compares false and becomes 0, as does
     * everything when s is NaN or infinite (hi is then NaN or infinite).
     * The same codes as rintf(w / s) (torch.round), without a division or a
     * rounding call per weight: the loop vectorizes and runs at memory speed. */
    const float hi = half_threshold(s), lo = -hi;
    for (int64_t i = 0; i < n; i++)
        t[i] = (int8_t)((w[i] > hi) - (w[i] < lo));
}

float bn_ternary_fit_scale(const float *w, const int8_t *t, int64_t n) {
    double sum = 0.0;
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (t[i] != 0) {
            sum += (double)w[i] * t[i];
            count++;
        }
    }
    return count ? (float)(sum / (double)count) : 0.0f;
}
