/* membw_loops.h: the body shared by the streaming-read loops of membw.c,
 * instantiated once per ISA file with that file's vector type (private to
 * tools/bench/; see membw_isa.h for the contract).
 *
 * Before including, define:
 *   BN_MEMBW_VEC        the vector type (VB bytes)
 *   BN_MEMBW_VB         its width in bytes: 16, 32 or 64 (divides a line)
 *   BN_MEMBW_LOAD(p)    an aligned load of one vector
 *   BN_MEMBW_ADD(a, b)  lane-wise 64-bit add
 *   BN_MEMBW_ZERO       a zero vector
 *   BN_MEMBW_FOLD(v)    the 64-bit sum of v's lanes
 *   BN_MEMBW_PREFETCH(p) a read prefetch into L1
 *   BN_MEMBW_NAME       the function's name
 * Per step and stream: two 64-byte lines, each line's loads added into the
 * line's own accumulator (2 per stream, 8 at 4 streams), so no add chain
 * is longer than one line's loads and the loads, not the adds, set the pace.
 */
#define BN_MEMBW_INLINE static inline __attribute__((always_inline))
#define BN_MEMBW_PER_LINE (64 / BN_MEMBW_VB)

BN_MEMBW_INLINE uint64_t bn_membw_body(const uint8_t *p, size_t bytes, const int S,
                                       const int PF, size_t prefetch) {
    const size_t sub = bytes / (size_t)S; /* bytes per stream */
    BN_MEMBW_VEC acc[4][2];
    for (int s = 0; s < S; s++)
        acc[s][0] = acc[s][1] = BN_MEMBW_ZERO;
    for (size_t i = 0; i < sub; i += 128) {
        for (int s = 0; s < S; s++) {
            const uint8_t *q = p + (size_t)s * sub + i;
            if (PF) {
                BN_MEMBW_PREFETCH(q + prefetch);
                BN_MEMBW_PREFETCH(q + prefetch + 64);
            }
            for (int l = 0; l < 2; l++)
                for (int j = 0; j < BN_MEMBW_PER_LINE; j++)
                    acc[s][l] = BN_MEMBW_ADD(acc[s][l], BN_MEMBW_LOAD(q + 64 * l + BN_MEMBW_VB * j));
        }
    }
    uint64_t sum = 0;
    for (int s = 0; s < S; s++)
        sum += BN_MEMBW_FOLD(BN_MEMBW_ADD(acc[s][0], acc[s][1]));
    return sum;
}

uint64_t BN_MEMBW_NAME(const uint8_t *p, size_t bytes, int streams, size_t prefetch) {
    /* One specialised loop per (streams, prefetch or not). */
    switch (streams * 2 + (prefetch > 0)) {
    case 2: return bn_membw_body(p, bytes, 1, 0, 0);
    case 3: return bn_membw_body(p, bytes, 1, 1, prefetch);
    case 4: return bn_membw_body(p, bytes, 2, 0, 0);
    case 5: return bn_membw_body(p, bytes, 2, 1, prefetch);
    case 8: return bn_membw_body(p, bytes, 4, 0, 0);
    default: return bn_membw_body(p, bytes, 4, 1, prefetch);
    }
}
