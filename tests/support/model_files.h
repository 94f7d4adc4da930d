/* model_files.h: helpers for the suites that read GGUF files and whole
 * models (test_gguf, test_gguf_writer, test_convert, test_quantize,
 * test_ternary_codec): where the tiny model's files are and where scratch
 * output goes, opening a GGUF file or buffer that must be valid, and telling
 * a projection matrix from the other tensors.
 *
 * Test support only: a file that does not open fails the calling Criterion
 * test with the path and the reader's message.
 */
#ifndef BN_TEST_MODEL_FILES_H
#define BN_TEST_MODEL_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "loader/gguf.h"

/* Opens path (default options); the caller closes it. */
bn_gguf *bn_test_gguf_open(const char *path);

/* Opens the GGUF bytes data[0..size), which must outlive the result; the
 * caller closes it. */
bn_gguf *bn_test_gguf_open_bytes(const void *data, size_t size);

/* The path of `file` inside ../shared/models/tiny-bitnet (e.g. "hf" or
 * "tiny-bitnet-I2_S.gguf") into buf[0..size); returns buf. */
char *bn_test_tiny_path(char *buf, size_t size, const char *file);

/* True when `file` inside ../shared/models/tiny-bitnet can be read (tests
 * that need it skip otherwise). */
bool bn_test_tiny_has(const char *file);

/* Skips the calling test ("../shared/models/tiny-bitnet is absent") unless
 * bn_test_tiny_has(file). */
void bn_test_require_tiny(const char *file);

/* A scratch output file in the build tree, unique to this process:
 * "<build>/<suite>_<tag>_<pid>.gguf" into buf[0..size); returns buf. */
char *bn_test_out_path(char *buf, size_t size, const char *suite, const char *tag);

/* True for the seven projection matrices of a block (attn_q/k/v/output,
 * ffn_gate/up/down), the tensors a BitNet model stores ternary. */
bool bn_test_is_projection(const char *name);

#endif
