/* sp_model.c: the bounds-checked protobuf reader behind sp_model.h.
 *
 * Protobuf wire format: each field is a varint key (field << 3 | wire
 * type) followed by a varint (0), 8 bytes (1), a varint length and that
 * many bytes (2), or 4 bytes (5). Groups (3, 4) are not used by
 * sentencepiece_model.proto and are rejected. Fields read:
 *   ModelProto:     1 pieces (message), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece:  1 piece (string), 2 score (float), 3 type (enum)
 *   TrainerSpec:    35 byte_fallback, 40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
 *   NormalizerSpec: 3 add_dummy_prefix
 */
#include "tokenizer/sp_model.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

typedef struct pb_cursor {
    const uint8_t *base, *p, *end;
} pb_cursor;

static size_t pb_off(const pb_cursor *c) { return (size_t)(c->p - c->base); }

static bool pb_varint(pb_cursor *c, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end)
            return false;
        uint8_t b = *c->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false; /* more than 10 bytes */
}

/* One field as read from the wire. */
typedef struct pb_field {
    uint32_t field;
    int wire;      /* 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit */
    uint64_t v;    /* wire 0: the varint; 1: the 8 raw bytes; 5: the 4 raw bytes */
    pb_cursor sub; /* wire 2: the payload */
} pb_field;

/* Reads the next field header and its payload into *f (cleared first);
 * `what` names the message being read in errors. */
static bn_status pb_next(pb_cursor *c, pb_field *f, const char *what, bn_error *err)
{
    *f = (pb_field){0, -1, 0, {0}};
    uint64_t key;
    size_t at = pb_off(c);
    if (!pb_varint(c, &key))
        return bn_error_set(err, BN_STATUS_FORMAT, "SentencePiece model: bad field key in %s at byte %zu",
                            what, at);
    f->field = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    switch (f->wire) {
    case 0:
        if (!pb_varint(c, &f->v))
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "SentencePiece model: truncated varint in %s at byte %zu", what, at);
        return BN_STATUS_OK;
    case 1:
        if (c->end - c->p < 8)
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "SentencePiece model: truncated 64-bit field in %s at byte %zu", what, at);
        memcpy(&f->v, c->p, 8);
        c->p += 8;
        return BN_STATUS_OK;
    case 2: {
        uint64_t len;
        if (!pb_varint(c, &len) || len > (uint64_t)(c->end - c->p))
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "SentencePiece model: field %u of %s at byte %zu runs past the end "
                                "(%zu bytes remain)",
                                f->field, what, at, (size_t)(c->end - c->p));
        f->sub.base = c->base;
        f->sub.p = c->p;
        f->sub.end = c->p + len;
        c->p += len;
        return BN_STATUS_OK;
    }
    case 5: {
        if (c->end - c->p < 4)
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "SentencePiece model: truncated 32-bit field in %s at byte %zu", what, at);
        uint32_t v;
        memcpy(&v, c->p, 4);
        f->v = v;
        c->p += 4;
        return BN_STATUS_OK;
    }
    default:
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "SentencePiece model: unsupported wire type %d in %s at byte %zu",
                            f->wire, what, at);
    }
}

static bn_status parse_piece(pb_cursor c, bn_sp_piece *out, bn_error *err)
{
    bn_status st;
    *out = (bn_sp_piece){"", 0, 0.0f, 1};
    while (c.p < c.end) {
        pb_field f;
        if ((st = pb_next(&c, &f, "a piece", err)) != BN_STATUS_OK)
            return st;
        if (f.field == 1 && f.wire == 2) {
            out->text = (const char *)f.sub.p;
            out->len = (size_t)(f.sub.end - f.sub.p);
        } else if (f.field == 2 && f.wire == 5) {
            uint32_t bits = (uint32_t)f.v;
            memcpy(&out->score, &bits, 4);
        } else if (f.field == 3 && f.wire == 0) {
            if (f.v < 1 || f.v > 6)
                return bn_error_set(err, BN_STATUS_FORMAT,
                                    "SentencePiece model: piece type %llu at byte %zu is not 1..6",
                                    (unsigned long long)f.v, pb_off(&c));
            out->type = (int32_t)f.v;
        }
    }
    return BN_STATUS_OK;
}

static bn_status parse_trainer(pb_cursor c, bn_sp_model *m, bn_error *err)
{
    bn_status st;
    while (c.p < c.end) {
        pb_field f;
        if ((st = pb_next(&c, &f, "trainer_spec", err)) != BN_STATUS_OK)
            return st;
        if (f.wire != 0)
            continue;
        /* int32 fields: negative values arrive sign-extended to 64 bits. */
        int32_t iv = (int32_t)(int64_t)f.v;
        switch (f.field) {
        case 35: m->byte_fallback = f.v != 0; break;
        case 40: m->unk_id = iv; break;
        case 41: m->bos_id = iv; break;
        case 42: m->eos_id = iv; break;
        case 43: m->pad_id = iv; break;
        default: break;
        }
    }
    return BN_STATUS_OK;
}

static bn_status parse_normalizer(pb_cursor c, bn_sp_model *m, bn_error *err)
{
    bn_status st;
    while (c.p < c.end) {
        pb_field f;
        if ((st = pb_next(&c, &f, "normalizer_spec", err)) != BN_STATUS_OK)
            return st;
        if (f.field == 3 && f.wire == 0)
            m->add_dummy_prefix = f.v != 0;
    }
    return BN_STATUS_OK;
}

bn_status bn_sp_model_parse(const uint8_t *data, size_t size, bn_sp_model *out, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    bn_sp_model m = {NULL, 0, 0, 1, 2, -1, false, true}; /* sentencepiece's defaults */
    size_t cap = 0;
    if (!out || (!data && size)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_sp_model_parse: NULL argument");
        goto fail;
    }
    pb_cursor c = {data, data, data + size};
    while (c.p < c.end) {
        pb_field f;
        if ((st = pb_next(&c, &f, "ModelProto", err)) != BN_STATUS_OK)
            goto fail;
        if (f.wire != 2)
            continue;
        if (f.field == 1) {
            if (m.n_pieces == cap) {
                cap = cap ? cap * 2 : 1024;
                bn_sp_piece *np = realloc(m.pieces, cap * sizeof *np);
                if (!np) {
                    st = bn_error_set(err, BN_STATUS_NO_MEMORY, "SentencePiece model: out of memory");
                    goto fail;
                }
                m.pieces = np;
            }
            if ((st = parse_piece(f.sub, &m.pieces[m.n_pieces], err)) != BN_STATUS_OK)
                goto fail;
            m.n_pieces++;
        } else if (f.field == 2) {
            if ((st = parse_trainer(f.sub, &m, err)) != BN_STATUS_OK)
                goto fail;
        } else if (f.field == 3) {
            if ((st = parse_normalizer(f.sub, &m, err)) != BN_STATUS_OK)
                goto fail;
        }
    }
    if (m.n_pieces == 0) {
        st = bn_error_set(err, BN_STATUS_FORMAT, "SentencePiece model: no pieces in %zu bytes", size);
        goto fail;
    }
    *out = m;
    return BN_STATUS_OK;
fail:
    free(m.pieces);
    return st;
}

void bn_sp_model_free(bn_sp_model *m)
{
    if (!m)
        return;
    free(m->pieces);
    m->pieces = NULL;
    m->n_pieces = 0;
}
