/* bitnet.h: the public API of the bitnet runtime.
 *
 * Two opaque objects: a model (weights, vocabulary, kernel table; read-only
 * once loaded, shareable between threads) and a session (KV cache, scratch,
 * sampler state; used by one thread at a time). Every call that can fail
 * returns a bn_status and fills a bn_error with a message that names the
 * thing and the numbers. The library never prints and never aborts on input
 * that comes from outside (files, prompts, flags).
 *
 * This header is grown module by module; the status and error record below
 * are shared by every module of the library.
 */
#ifndef BITNET_H
#define BITNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bn_status {
    BN_STATUS_OK = 0,
    BN_STATUS_IO,           /* a file could not be opened, read or mapped */
    BN_STATUS_FORMAT,       /* a file is malformed (truncated, inconsistent) */
    BN_STATUS_UNSUPPORTED,  /* well-formed, but a type/arch/feature we do not run */
    BN_STATUS_INVALID_ARG,  /* a caller passed a bad value (flag, size, NULL) */
    BN_STATUS_NO_MEMORY,
    BN_STATUS_NOT_FOUND,    /* a key, tensor or token that is not there */
    BN_STATUS_CONTEXT_FULL, /* the KV cache has no room for more tokens */
    BN_STATUS_INTERRUPTED,  /* the caller asked to stop */
} bn_status;

#define BN_ERROR_MESSAGE_BYTES 512

/* The first error wins: later calls to bn_error_set do not overwrite it, so
 * the message names the root cause, not the last function on the way out. */
typedef struct bn_error {
    bn_status status;
    char message[BN_ERROR_MESSAGE_BYTES];
} bn_error;

const char *bn_status_name(bn_status status);
void bn_error_clear(bn_error *err);

#ifdef __cplusplus
}
#endif

#endif /* BITNET_H */
