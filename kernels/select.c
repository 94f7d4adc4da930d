/* select.c: choosing a kernel table.
 *
 * Owns the list of tables built into this library, the mapping from a name
 * (BN_KERNELS) to a table, and the static row split helper. The choice is
 * returned to the caller, never stored: the runtime keeps it in its model.
 */
#include <string.h>

#include "kernels/internal.h"
#include "runtime/error.h"

/* Every table this build may contain, worst first. */
typedef struct bn_table_entry {
    const char *name;
    const bn_kernels *table; /* NULL when not built */
    int feature;             /* 0 none, 1 avx2, 2 avx512, 3 neon, 4 neon-dotprod,
                              * 5 avx512vbmi */
} bn_table_entry;

static const bn_table_entry bn_tables[] = {
    {"ref", &bn_kernels_ref, 0},
#if defined(BN_HAVE_KERNELS_X86)
    {"avx2", &bn_kernels_avx2, 1},
    {"avx512", &bn_kernels_avx512, 2},
#if defined(BN_HAVE_KERNELS_AVX512VBMI)
    {"avx512vbmi", &bn_kernels_avx512vbmi, 5},
#else
    {"avx512vbmi", NULL, 5},
#endif
#else
    {"avx2", NULL, 1},
    {"avx512", NULL, 2},
    {"avx512vbmi", NULL, 5},
#endif
#if defined(BN_HAVE_KERNELS_ARM)
    {"neon", &bn_kernels_neon, 3},
    {"neon-dotprod", &bn_kernels_neon_dotprod, 4},
#else
    {"neon", NULL, 3},
    {"neon-dotprod", NULL, 4},
#endif
};
#define BN_N_TABLES (sizeof bn_tables / sizeof bn_tables[0])

static bool bn_cpu_runs(const bn_cpu_features *f, int feature) {
    switch (feature) {
    case 0: return true;
    case 1: return f->avx2;
    case 2: return f->avx512;
    case 3: return f->neon;
    case 4: return f->neon_dotprod;
    case 5: return f->avx512vbmi;
    default: return false;
    }
}

size_t bn_kernels_available(const bn_kernels **out, size_t cap) {
    bn_cpu_features f;
    bn_cpu_features_detect(&f);
    size_t n = 0;
    for (size_t i = 0; i < BN_N_TABLES; i++) {
        if (!bn_tables[i].table || !bn_cpu_runs(&f, bn_tables[i].feature))
            continue;
        if (n < cap)
            out[n] = bn_tables[i].table;
        n++;
    }
    return n;
}

const bn_kernels *bn_kernels_find(const char *name) {
    for (size_t i = 0; name && i < BN_N_TABLES; i++)
        if (strcmp(bn_tables[i].name, name) == 0)
            return bn_tables[i].table;
    return NULL;
}

bn_status bn_kernels_select(const char *override, const bn_kernels **out, bn_error *err) {
    bn_cpu_features f;
    bn_cpu_features_detect(&f);
    *out = NULL;
    if (!override || !override[0]) {
        for (size_t i = 0; i < BN_N_TABLES; i++)
            if (bn_tables[i].table && bn_cpu_runs(&f, bn_tables[i].feature))
                *out = bn_tables[i].table; /* the list is ordered worst first */
        return BN_STATUS_OK;
    }
    for (size_t i = 0; i < BN_N_TABLES; i++) {
        if (strcmp(bn_tables[i].name, override) != 0)
            continue;
        if (!bn_tables[i].table)
            return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                "kernel table '%s' is not built into this library (it was "
                                "compiled for another architecture or with the ISA disabled)",
                                override);
        if (!bn_cpu_runs(&f, bn_tables[i].feature))
            return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                "kernel table '%s' needs CPU features this machine (or its OS) "
                                "does not offer",
                                override);
        *out = bn_tables[i].table;
        return BN_STATUS_OK;
    }
    return bn_error_set(err, BN_STATUS_INVALID_ARG,
                        "unknown kernel table '%s' (expected ref, avx2, avx512, avx512vbmi, "
                        "neon or neon-dotprod)",
                        override);
}

void bn_kernels_split_rows(int64_t rows, int64_t granule, int ith, int n_threads,
                           int64_t *begin, int64_t *end) {
    if (granule < 1)
        granule = 1;
    if (n_threads < 1)
        n_threads = 1;
    int64_t units = (rows + granule - 1) / granule;
    int64_t u0 = units * ith / n_threads, u1 = units * (ith + 1) / n_threads;
    int64_t b = u0 * granule, e = u1 * granule;
    *begin = b < rows ? b : rows;
    *end = e < rows ? e : rows;
}
