/* file_read.c: a whole file into one malloc'd buffer (see file_read.h).
 * The buffer doubles from 64 KiB rather than trusting a size from stat, so
 * that pipes and files that change while being read work the same way. */
#include "loader/file_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

bn_status bn_file_read_all(const char *path, uint8_t **out, size_t *len, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f) {
        st = bn_error_set(err, BN_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                st = bn_error_set(err, BN_STATUS_NO_MEMORY, "%s: out of memory reading", path);
                goto fail;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                st = bn_error_set(err, BN_STATUS_IO, "%s: read error", path);
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    *out = buf;
    *len = n;
    return BN_STATUS_OK;
fail:
    if (f)
        fclose(f);
    free(buf);
    return st;
}
