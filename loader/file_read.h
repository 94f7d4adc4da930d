/* file_read.h: reading a whole small file (config.json, tokenizer.json,
 * tokenizer.model) into memory with stdio, for the readers that parse from
 * a buffer. GGUF and safetensors files are mapped instead (gguf.c,
 * safetensors.c); this is for files of a few megabytes at most.
 *
 * No state; thread-safe. The caller frees the buffer.
 */
#ifndef BN_LOADER_FILE_READ_H
#define BN_LOADER_FILE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/bitnet.h"

/* Reads all of path into *out (malloc'd, *len bytes, not NUL-terminated;
 * non-NULL even for an empty file). On failure *out is left alone and the
 * error names the path: "<path>: cannot open: <reason>",
 * "<path>: out of memory reading" or "<path>: read error". */
bn_status bn_file_read_all(const char *path, uint8_t **out, size_t *len, bn_error *err);

#endif
