/* cli_args.c: see cli_args.h. */
#include "tools/cli_args.h"

#include <errno.h>
#include <stdlib.h>

bool bn_cli_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool bn_cli_parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* !(v >= lo) also refuses NaN */
    if (errno || *end || !(v >= lo) || !(v <= hi))
        return false;
    *out = v;
    return true;
}

int bn_cli_usage_error(const char *tool, void (*usage)(FILE *), const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", tool);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}
