/* default_model.h: where the tools find the bundled tiny model when no -m is
 * given. bitnet-run and bitnet-server look in the same places, so the lookup
 * lives here once; a new place to look is added in one spot for both.
 * Only the tools include this.
 */
#ifndef BN_TOOLS_DEFAULT_MODEL_H
#define BN_TOOLS_DEFAULT_MODEL_H

#include <stddef.h>

/* The bundled model's file name, under models/. */
#define BN_DEFAULT_MODEL "tiny-bitnet-I2_S.gguf"

/* Writes the path of the bundled model into buf (cap bytes) and returns buf,
 * or returns NULL when it is in none of the places looked at. */
const char *bn_default_model_path(char *buf, size_t cap);

#endif
