/* loader.h: the loader module's interface for the rest of the library:
 * tensor types, the GGUF reader and the GGUF writer. */
#ifndef BN_LOADER_H
#define BN_LOADER_H

#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "loader/tensor_type.h"

#endif /* BN_LOADER_H */
