/* fuzz_chat_template.c: libFuzzer target for chat formats
 * (runtime/chat_template.c): a GGUF's tokenizer.chat_template text through
 * detection, a --chat-template name through lookup, and arbitrary message
 * texts and roles through rendering.
 *
 * Input: segments separated by 0x1F bytes. Byte 0 picks the format (0-3 a
 * fixed one; else the format detected from segment 1, the Jinja text, and
 * the fixed format byte % 4 when nothing is recognised); byte 1 is flags
 * (bit 0: add the generation prompt; the rest: where the split point k
 * falls). Each later segment is a message: its first byte the role (values
 * 3 and up are invalid roles, which must be refused), the rest its content.
 *
 * Properties checked (abort on violation, which libFuzzer reports):
 * detection and name lookup give a format or a status with a message;
 * rendering with a valid role list succeeds, with an invalid role fails with
 * INVALID_ARG; the text has no NUL inside (out_len == strlen); it ends with
 * the generation prompt when one was asked for; and rendering is
 * prefix-stable (chat_template.h): [0, k) then [k, n) equals [0, n).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/chat_template.h"

#define MAX_MSGS 32

static char *dup_range(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bn_chat_template tmpl = (bn_chat_template)(data[0] % BN_CHAT_TEMPLATE_COUNT);
    bool detect = data[0] >= BN_CHAT_TEMPLATE_COUNT;
    bool gen = data[1] & 1;
    unsigned split = data[1] >> 1;

    /* segments after the two header bytes */
    char *seg[MAX_MSGS + 1];
    size_t n_seg = 0, start = 2;
    for (size_t i = 2; i <= size && n_seg < MAX_MSGS + 1; i++) {
        if (i == size || data[i] == 0x1F) {
            seg[n_seg++] = dup_range(data + start, i - start);
            start = i + 1;
        }
    }

    size_t first_msg = 0;
    bn_error err = {0};
    if (detect && n_seg > 0) {
        bn_chat_template found;
        bn_status st = bn_chat_template_detect(seg[0], &found, &err);
        if (st == BN_STATUS_OK) {
            if ((unsigned)found >= BN_CHAT_TEMPLATE_COUNT)
                abort();
            tmpl = found;
        } else if (st != BN_STATUS_NOT_FOUND || err.message[0] == '\0') {
            abort();
        }
        bn_error_clear(&err);
        /* the same text as a --chat-template name */
        if (bn_chat_template_from_name(seg[0], &found, &err) == BN_STATUS_OK) {
            if (!bn_chat_template_name(found))
                abort();
        } else if (err.message[0] == '\0') {
            abort();
        }
        bn_error_clear(&err);
        first_msg = 1;
    }

    bn_chat_message msgs[MAX_MSGS + 1];
    size_t n = 0;
    bool roles_ok = true;
    for (size_t i = first_msg; i < n_seg; i++) {
        unsigned role = seg[i][0] ? (uint8_t)seg[i][0] % 5 : 0;
        roles_ok &= role <= BN_CHAT_ROLE_ASSISTANT;
        msgs[n].role = (bn_chat_role)role;
        msgs[n].content = seg[i][0] ? seg[i] + 1 : seg[i];
        n++;
    }

    char *all = NULL, *head = NULL, *rest = NULL;
    size_t all_len = 0, head_len = 0, rest_len = 0;
    bn_status st = bn_chat_template_render(tmpl, msgs, n, 0, gen, &all, &all_len, &err);
    if (!roles_ok) {
        if (st != BN_STATUS_INVALID_ARG || all != NULL)
            abort();
        goto done;
    }
    if (st != BN_STATUS_OK || !all || strlen(all) != all_len)
        abort();
    const char *gp = bn_chat_template_generation_prompt(tmpl);
    size_t gp_len = strlen(gp);
    if (gen && (all_len < gp_len || memcmp(all + all_len - gp_len, gp, gp_len) != 0))
        abort();
    /* prefix stability at k */
    size_t k = n ? split % (n + 1) : 0;
    if (bn_chat_template_render(tmpl, msgs, k, 0, false, &head, &head_len, &err) != BN_STATUS_OK ||
        bn_chat_template_render(tmpl, msgs, n, k, gen, &rest, &rest_len, &err) != BN_STATUS_OK)
        abort();
    if (head_len + rest_len != all_len || memcmp(head, all, head_len) != 0 ||
        memcmp(rest, all + head_len, rest_len) != 0)
        abort();
    /* first > n is refused */
    char *bad = NULL;
    size_t bad_len = 0;
    if (bn_chat_template_render(tmpl, msgs, n, n + 1, gen, &bad, &bad_len, &err) !=
        BN_STATUS_INVALID_ARG)
        abort();
    free(bad);
done:
    free(all);
    free(head);
    free(rest);
    for (size_t i = 0; i < n_seg; i++)
        free(seg[i]);
    return 0;
}
