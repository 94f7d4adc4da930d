/* fuzz_util.h: helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * Some readers take a path, not bytes (bn_model_load, the Hugging Face
 * tokenizer import); a target then writes its input to a file in a
 * scratch folder ($BN_FUZZ_SCRATCH, which run-fuzz.sh sets and removes;
 * else a per-process folder in /dev/shm, $TMPDIR or /tmp) and passes that
 * path. The folder is made once and reused: libFuzzer
 * runs one input at a time in one thread.
 */
#ifndef BN_FUZZ_UTIL_H
#define BN_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* path of NAME inside the scratch folder (static storage, overwritten by
 * the next call); aborts when no folder can be made: the harness is broken,
 * not the input. */
static const char *bn_fuzz_scratch_path(const char *name)
{
    static char dir[256];
    static char path[512];
    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        if (getenv("BN_FUZZ_SCRATCH"))
            snprintf(dir, sizeof dir, "%s", getenv("BN_FUZZ_SCRATCH"));
        else
            snprintf(dir, sizeof dir, "%s/bn-fuzz-%ld", base ? base : "/tmp", (long)getpid());
        if (mkdir(dir, 0700) != 0 && access(dir, W_OK) != 0)
            abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Writes data (and then tail, which may be NULL) to the scratch file NAME and
 * returns its path. */
static const char *bn_fuzz_write_file(const char *name, const uint8_t *data, size_t size,
                                      const uint8_t *tail, size_t tail_size)
{
    const char *path = bn_fuzz_scratch_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size ||
        (tail_size && fwrite(tail, 1, tail_size, f) != tail_size) || fclose(f) != 0)
        abort();
    return path;
}

#endif /* BN_FUZZ_UTIL_H */
