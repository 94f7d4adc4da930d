/* chat_render.c: bn_model_chat_render (runtime/bitnet.h), a whole
 * conversation rendered in the model's chat format, for callers of the
 * public API (the Python package's Model.chat) that cannot reach
 * chat_template.h. The format is chosen as bitnet-run --chat chooses it:
 * recognised from tokenizer.chat_template, else "plain".
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/bitnet.h"
#include "runtime/chat_template.h"
#include "runtime/error.h"

bn_status bn_model_chat_render(const bn_model *model, const char *const *roles,
                               const char *const *contents, size_t n, bool add_generation_prompt,
                               char *buf, size_t cap, size_t *n_bytes, bn_error *err) {
    if (!model || !n_bytes || (n && (!roles || !contents)) || (cap && !buf))
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "chat render: NULL argument");
    bn_chat_template tmpl;
    bn_error probe = {0};
    if (bn_chat_template_detect(bn_model_chat_template(model), &tmpl, &probe) != BN_STATUS_OK)
        tmpl = BN_CHAT_TEMPLATE_PLAIN;
    bn_chat_message *msgs = calloc(n ? n : 1, sizeof *msgs);
    if (!msgs)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "chat render: %zu messages", n);
    bn_status s = BN_STATUS_OK;
    for (size_t i = 0; i < n && s == BN_STATUS_OK; i++) {
        const char *r = roles[i] ? roles[i] : "";
        if (strcmp(r, "system") == 0)
            msgs[i].role = BN_CHAT_ROLE_SYSTEM;
        else if (strcmp(r, "user") == 0)
            msgs[i].role = BN_CHAT_ROLE_USER;
        else if (strcmp(r, "assistant") == 0)
            msgs[i].role = BN_CHAT_ROLE_ASSISTANT;
        else
            s = bn_error_set(err, BN_STATUS_INVALID_ARG,
                             "chat render: message %zu has role '%s' (system, user or assistant)",
                             i, r);
        msgs[i].content = contents[i];
    }
    char *text = NULL;
    size_t len = 0;
    if (s == BN_STATUS_OK)
        s = bn_chat_template_render(tmpl, msgs, n, 0, add_generation_prompt, &text, &len, err);
    free(msgs);
    if (s != BN_STATUS_OK)
        return s;
    *n_bytes = len;
    if (len + 1 > cap)
        s = bn_error_set(err, BN_STATUS_INVALID_ARG, "chat render: %zu bytes do not fit in %zu",
                         len + 1, cap);
    else
        memcpy(buf, text, len + 1);
    free(text);
    return s;
}
