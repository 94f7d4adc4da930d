/* error.c: status names and the first-error-wins message record. */
#include "runtime/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *bn_status_name(bn_status status)
{
    switch (status) {
    case BN_STATUS_OK: return "ok";
    case BN_STATUS_IO: return "i/o error";
    case BN_STATUS_FORMAT: return "format error";
    case BN_STATUS_UNSUPPORTED: return "unsupported";
    case BN_STATUS_INVALID_ARG: return "invalid argument";
    case BN_STATUS_NO_MEMORY: return "out of memory";
    case BN_STATUS_NOT_FOUND: return "not found";
    case BN_STATUS_CONTEXT_FULL: return "context full";
    case BN_STATUS_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

void bn_error_clear(bn_error *err)
{
    if (!err)
        return;
    err->status = BN_STATUS_OK;
    err->message[0] = '\0';
}

bn_status bn_error_set(bn_error *err, bn_status status, const char *fmt, ...)
{
    if (!err || err->status != BN_STATUS_OK)
        return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}
