/* error.h: filling a bn_error (internal to the library).
 *
 * Every module reports failures through bn_error_set, which keeps the first
 * message written and returns the status so that a call site can read
 * `return bn_error_set(err, BN_STATUS_FORMAT, "...")`. err may be NULL.
 */
#ifndef BN_ERROR_H
#define BN_ERROR_H

#include "runtime/bitnet.h"

#if defined(__GNUC__)
#define BN_PRINTF_LIKE(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define BN_PRINTF_LIKE(fmt_index, first_arg)
#endif

bn_status bn_error_set(bn_error *err, bn_status status, const char *fmt, ...) BN_PRINTF_LIKE(3, 4);

#endif /* BN_ERROR_H */
