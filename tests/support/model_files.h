/* model_files.h: helpers for the suites that read whole model files
 * (test_convert, test_quantize, test_ternary_codec): open a GGUF file that
 * must be valid, and tell a projection matrix from the other tensors.
 *
 * Test support only: a file that does not open fails the calling Criterion
 * test with the path and the reader's message.
 */
#ifndef BN_TEST_MODEL_FILES_H
#define BN_TEST_MODEL_FILES_H

#include <stdbool.h>

#include "loader/gguf.h"

/* Opens path (default options); the caller closes it. */
bn_gguf *bn_test_gguf_open(const char *path);

/* True for the seven projection matrices of a block (attn_q/k/v/output,
 * ffn_gate/up/down), the tensors a BitNet model stores ternary. */
bool bn_test_is_projection(const char *name);

#endif
