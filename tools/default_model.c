/* default_model.c: the bundled-model lookup shared by bitnet-run and
 * bitnet-server (see default_model.h). It looks next to the executable
 * first, so a build tree or an installed tree finds its own copy, and only
 * then in the source tree the build came from.
 */
#include "tools/default_model.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool file_exists(const char *p)
{
    return access(p, R_OK) == 0;
}

/* The bundled model: ../models or ../../models from the executable's
 * directory (build/tools/bitnet-run -> models/), ../share/bitnet/models
 * (an installed tree, bin/bitnet-run), then the source tree. */
const char *bn_default_model_path(char *buf, size_t cap)
{
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            const char *ups[] = {"/../models/", "/../../models/", "/models/",
                                 "/../share/bitnet/models/"};
            for (size_t i = 0; i < sizeof ups / sizeof *ups; i++) {
                snprintf(buf, cap, "%s%s%s", exe, ups[i], BN_DEFAULT_MODEL);
                if (file_exists(buf))
                    return buf;
            }
        }
    }
#ifdef BN_SOURCE_DIR
    snprintf(buf, cap, "%s/models/%s", BN_SOURCE_DIR, BN_DEFAULT_MODEL);
    if (file_exists(buf))
        return buf;
#endif
    return NULL;
}
