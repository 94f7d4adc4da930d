/* cli_args.h: the number parsing and the usage-error exit that every tool's
 * command line shares, so that a flag like "-t 2x" or "--port 99999" is
 * refused the same way by each of them (named, exit 2) instead of being read
 * as 0 or wrapped around by atoi.
 * Only the tools include this.
 */
#ifndef BN_TOOLS_CLI_ARGS_H
#define BN_TOOLS_CLI_ARGS_H

#include <stdbool.h>
#include <stdio.h>

/* A whole decimal number in [lo, hi] into *out; false (out untouched) for
 * NULL, empty text, trailing characters, overflow or a value outside. */
bool bn_cli_parse_long(const char *s, long lo, long hi, long *out);
/* A number in [lo, hi] (NaN never is) into *out; false as above. */
bool bn_cli_parse_double(const char *s, double lo, double hi, double *out);

/* Prints "TOOL: " fmt (with its one %s arg) on stderr, then usage(stderr);
 * returns 2, the usage-error exit code. */
int bn_cli_usage_error(const char *tool, void (*usage)(FILE *), const char *fmt, const char *arg);

#endif
