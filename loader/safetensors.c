/* safetensors.c: validating safetensors reader and shard sets (see header).
 *
 * Layout: u64 little-endian N, then N bytes of JSON (an object; the optional
 * "__metadata__" member is a string map and is skipped), then the data
 * section; each tensor's data_offsets are relative to the data section.
 * Everything read from the file is checked here once, at open, so the views
 * handed out afterwards need no further checks.
 */
#include "loader/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/json.h"
#include "runtime/error.h"

/* The JSON header of the largest real checkpoints is a few hundred KB; the
 * reference implementation refuses headers past 100 MB, and so do we. */
#define MAX_HEADER_BYTES ((uint64_t)100 << 20)

struct bn_safetensors {
    char what[256];       /* the path (or caller's label) for messages */
    const uint8_t *bytes; /* whole file */
    uint64_t size;
    void *map;            /* mmap base, or NULL */
    uint8_t *owned;       /* read fallback buffer, or NULL */
    bn_json_doc *header;
    bn_st_tensor *tensors;
    size_t n_tensors;
};

static const struct {
    const char *name;
    size_t size;
} dtype_table[BN_ST_DTYPE_COUNT] = {
    [BN_ST_BOOL] = {"BOOL", 1}, [BN_ST_U8] = {"U8", 1},
    [BN_ST_I8] = {"I8", 1},     [BN_ST_F8_E4M3] = {"F8_E4M3", 1},
    [BN_ST_F8_E5M2] = {"F8_E5M2", 1}, [BN_ST_U16] = {"U16", 2},
    [BN_ST_I16] = {"I16", 2},   [BN_ST_F16] = {"F16", 2},
    [BN_ST_BF16] = {"BF16", 2}, [BN_ST_U32] = {"U32", 4},
    [BN_ST_I32] = {"I32", 4},   [BN_ST_F32] = {"F32", 4},
    [BN_ST_U64] = {"U64", 8},   [BN_ST_I64] = {"I64", 8},
    [BN_ST_F64] = {"F64", 8},
};

const char *bn_st_dtype_name(bn_st_dtype dtype) {
    return (unsigned)dtype < BN_ST_DTYPE_COUNT ? dtype_table[dtype].name : "unknown";
}

size_t bn_st_dtype_size(bn_st_dtype dtype) {
    return (unsigned)dtype < BN_ST_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

/* Checks one header entry and fills t. */
static bn_status parse_entry(const bn_safetensors *st, const char *name,
                             const bn_json_value *v, uint64_t data_size, bn_st_tensor *t,
                             bn_error *err) {
    if (!bn_json_is(v, BN_JSON_OBJECT))
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: tensor %s: header entry is a %s, not an object",
                            st->what, name, bn_json_type_name(bn_json_type_of(v)));
    t->name = name;

    const char *dt = NULL;
    if (!bn_json_as_string(bn_json_object_get(v, "dtype"), &dt, NULL))
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: tensor %s: no \"dtype\" string", st->what,
                            name);
    int found = -1;
    for (int i = 0; i < BN_ST_DTYPE_COUNT; i++)
        if (strcmp(dt, dtype_table[i].name) == 0)
            found = i;
    if (found < 0)
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: tensor %s: unknown dtype \"%s\"", st->what,
                            name, dt);
    t->dtype = (bn_st_dtype)found;

    const bn_json_value *shape = bn_json_object_get(v, "shape");
    if (!bn_json_is(shape, BN_JSON_ARRAY))
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: tensor %s: no \"shape\" array", st->what,
                            name);
    size_t nd = bn_json_array_len(shape);
    if (nd > BN_ST_MAX_DIMS)
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: tensor %s: %zu dimensions (at most %d)",
                            st->what, name, nd, BN_ST_MAX_DIMS);
    t->n_dims = (uint32_t)nd;
    uint64_t n = 1;
    for (size_t d = 0; d < BN_ST_MAX_DIMS; d++)
        t->shape[d] = 1;
    for (size_t d = 0; d < nd; d++) {
        int64_t dim;
        if (!bn_json_as_int64(bn_json_array_at(shape, d), &dim) || dim < 0)
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "%s: tensor %s: shape[%zu] is not a non-negative integer",
                                st->what, name, d);
        if (dim != 0 && n > UINT64_MAX / 8 / (uint64_t)dim)
            return bn_error_set(err, BN_STATUS_FORMAT, "%s: tensor %s: shape overflows 64 bits",
                                st->what, name);
        n *= (uint64_t)dim;
        t->shape[d] = dim;
    }
    t->n_elements = n;

    const bn_json_value *offs = bn_json_object_get(v, "data_offsets");
    int64_t begin, end;
    if (bn_json_array_len(offs) != 2 || !bn_json_as_int64(bn_json_array_at(offs, 0), &begin) ||
        !bn_json_as_int64(bn_json_array_at(offs, 1), &end))
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "%s: tensor %s: \"data_offsets\" is not a pair of integers", st->what,
                            name);
    if (begin < 0 || end < begin || (uint64_t)end > data_size)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "%s: tensor %s: data_offsets [%" PRId64 ", %" PRId64
                            "] outside the data section of %" PRIu64 " bytes",
                            st->what, name, begin, end, data_size);
    uint64_t want = n * dtype_table[found].size;
    if ((uint64_t)(end - begin) != want)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "%s: tensor %s: %s shape needs %" PRIu64 " bytes, data_offsets give %" PRId64,
                            st->what, name, dt, want, end - begin);
    t->n_bytes = want;
    t->data = NULL; /* set by the caller, which knows the data section */
    return BN_STATUS_OK;
}

static bn_status parse(bn_safetensors *st, bn_error *err) {
    bn_status s = BN_STATUS_OK;
    if (st->size < 8)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "%s: %" PRIu64 " bytes is too short for a safetensors file (the "
                            "header length alone takes 8)",
                            st->what, st->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | st->bytes[i];
    if (n == 0 || n > st->size - 8 || n > MAX_HEADER_BYTES)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "%s: bad safetensors header length %" PRIu64 " (file has %" PRIu64
                            " bytes after the length field%s)",
                            st->what, n, st->size - 8, n > MAX_HEADER_BYTES ? "; limit 100 MB" : "");
    const uint8_t *data = st->bytes + 8 + n;
    uint64_t data_size = st->size - 8 - n;
    bn_error jerr = {0};
    s = bn_json_parse((const char *)st->bytes + 8, (size_t)n, &st->header, &jerr);
    if (s != BN_STATUS_OK)
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: safetensors header: %s", st->what,
                            jerr.message);
    const bn_json_value *root = bn_json_root(st->header);
    if (!bn_json_is(root, BN_JSON_OBJECT))
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: safetensors header is a %s, not an object",
                            st->what, bn_json_type_name(bn_json_type_of(root)));
    size_t members = bn_json_object_len(root);
    st->tensors = calloc(members ? members : 1, sizeof *st->tensors);
    if (!st->tensors)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "%s: no memory for %zu tensor entries",
                            st->what, members);
    for (size_t i = 0; i < members; i++) {
        const char *key = bn_json_object_key_at(root, i, NULL);
        if (strcmp(key, "__metadata__") == 0)
            continue;
        const bn_json_value *v = bn_json_object_value_at(root, i);
        bn_st_tensor *t = &st->tensors[st->n_tensors];
        s = parse_entry(st, key, v, data_size, t, err);
        if (s != BN_STATUS_OK)
            return s;
        int64_t begin;
        bn_json_as_int64(bn_json_array_at(bn_json_object_get(v, "data_offsets"), 0), &begin);
        t->data = data + begin;
        for (size_t j = 0; j < st->n_tensors; j++)
            if (strcmp(st->tensors[j].name, key) == 0)
                return bn_error_set(err, BN_STATUS_FORMAT, "%s: tensor %s appears twice",
                                    st->what, key);
        st->n_tensors++;
    }
    return BN_STATUS_OK;
}

static bn_safetensors *alloc_st(const char *what) {
    bn_safetensors *st = calloc(1, sizeof *st);
    if (st)
        snprintf(st->what, sizeof st->what, "%s", what ? what : "safetensors");
    return st;
}

bn_status bn_safetensors_open_memory(const void *data, size_t size, const char *what,
                                     bn_safetensors **out, bn_error *err) {
    bn_status s = BN_STATUS_OK;
    bn_safetensors *st = NULL;
    if (!out || (!data && size)) {
        s = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_safetensors_open_memory: NULL argument");
        goto fail;
    }
    *out = NULL;
    st = alloc_st(what);
    if (!st) {
        s = bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for a safetensors reader");
        goto fail;
    }
    st->bytes = data;
    st->size = size;
    s = parse(st, err);
    if (s != BN_STATUS_OK)
        goto fail;
    *out = st;
    return BN_STATUS_OK;
fail:
    bn_safetensors_close(st);
    return s;
}

bn_status bn_safetensors_open_file(const char *path, bn_safetensors **out, bn_error *err) {
    bn_status s = BN_STATUS_OK;
    bn_safetensors *st = NULL;
    int fd = -1;
    if (!path || !out) {
        s = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_safetensors_open_file: NULL argument");
        goto fail;
    }
    *out = NULL;
    st = alloc_st(path);
    if (!st) {
        s = bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for a safetensors reader");
        goto fail;
    }
    fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        s = bn_error_set(err, BN_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        s = bn_error_set(err, BN_STATUS_IO, "%s: not a regular file", path);
        goto fail;
    }
    st->size = (uint64_t)sb.st_size;
    if (st->size > 0) {
        void *m = mmap(NULL, (size_t)st->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            st->map = m;
            st->bytes = m;
        } else {
            /* No mmap (some filesystems): read the whole file instead. */
            st->owned = malloc((size_t)st->size);
            if (!st->owned) {
                s = bn_error_set(err, BN_STATUS_NO_MEMORY, "%s: no memory to read %" PRIu64 " bytes",
                                 path, st->size);
                goto fail;
            }
            uint64_t got = 0;
            while (got < st->size) {
                ssize_t r = read(fd, st->owned + got, (size_t)(st->size - got));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    s = bn_error_set(err, BN_STATUS_IO, "%s: read failed at byte %" PRIu64, path,
                                     got);
                    goto fail;
                }
                got += (uint64_t)r;
            }
            st->bytes = st->owned;
        }
    }
    close(fd);
    fd = -1;
    s = parse(st, err);
    if (s != BN_STATUS_OK)
        goto fail;
    *out = st;
    return BN_STATUS_OK;
fail:
    if (fd >= 0)
        close(fd);
    bn_safetensors_close(st);
    return s;
}

void bn_safetensors_close(bn_safetensors *st) {
    if (!st)
        return;
    if (st->map)
        munmap(st->map, (size_t)st->size);
    free(st->owned);
    bn_json_free(st->header);
    free(st->tensors);
    free(st);
}

size_t bn_safetensors_count(const bn_safetensors *st) { return st ? st->n_tensors : 0; }

const bn_st_tensor *bn_safetensors_at(const bn_safetensors *st, size_t index) {
    return st && index < st->n_tensors ? &st->tensors[index] : NULL;
}

const bn_st_tensor *bn_safetensors_find(const bn_safetensors *st, const char *name) {
    if (!st || !name)
        return NULL;
    for (size_t i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

/* ---- shard sets -------------------------------------------------------- */

struct bn_safetensors_set {
    bn_safetensors **shards;
    size_t n_shards;
    const bn_st_tensor **all; /* every tensor of every shard, shard order */
    size_t n_all;
};

static bool plain_file_name(const char *s) {
    return s[0] && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

static bn_status set_add_shard(bn_safetensors_set *set, const char *dir, const char *file,
                               bn_error *err) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "%s/%s: path too long", dir, file);
    bn_safetensors **grown = realloc(set->shards, (set->n_shards + 1) * sizeof *grown);
    if (!grown)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for shard %s", file);
    set->shards = grown;
    bn_safetensors *st = NULL;
    bn_status s = bn_safetensors_open_file(path, &st, err);
    if (s != BN_STATUS_OK)
        return s;
    set->shards[set->n_shards++] = st;
    return BN_STATUS_OK;
}

static bn_safetensors *set_shard_named(bn_safetensors_set *set, const char *dir, const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    for (size_t i = 0; i < set->n_shards; i++)
        if (strcmp(set->shards[i]->what, path) == 0)
            return set->shards[i];
    return NULL;
}

bn_status bn_safetensors_set_open(const char *dir, bn_safetensors_set **out, bn_error *err) {
    bn_status s = BN_STATUS_OK;
    bn_safetensors_set *set = NULL;
    bn_json_doc *index = NULL;
    char path[4096];
    if (!dir || !out) {
        s = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_safetensors_set_open: NULL argument");
        goto fail;
    }
    *out = NULL;
    set = calloc(1, sizeof *set);
    if (!set) {
        s = bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for a shard set");
        goto fail;
    }
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (access(path, F_OK) == 0) {
        s = bn_json_parse_file(path, &index, err);
        if (s != BN_STATUS_OK)
            goto fail;
        const bn_json_value *map = bn_json_object_get(bn_json_root(index), "weight_map");
        if (!bn_json_is(map, BN_JSON_OBJECT)) {
            s = bn_error_set(err, BN_STATUS_FORMAT, "%s: no \"weight_map\" object", path);
            goto fail;
        }
        /* Open each shard once, in order of first mention. */
        for (size_t i = 0; i < bn_json_object_len(map); i++) {
            const char *file = NULL;
            const char *name = bn_json_object_key_at(map, i, NULL);
            if (!bn_json_as_string(bn_json_object_value_at(map, i), &file, NULL) ||
                !plain_file_name(file)) {
                s = bn_error_set(err, BN_STATUS_FORMAT,
                                 "%s: weight_map[\"%s\"] is not a file name inside the folder",
                                 path, name);
                goto fail;
            }
            if (!set_shard_named(set, dir, file)) {
                s = set_add_shard(set, dir, file, err);
                if (s != BN_STATUS_OK)
                    goto fail;
            }
            if (!bn_safetensors_find(set_shard_named(set, dir, file), name)) {
                s = bn_error_set(err, BN_STATUS_FORMAT,
                                 "%s names tensor %s in %s, which does not hold it", path, name,
                                 file);
                goto fail;
            }
        }
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (access(path, F_OK) != 0) {
            s = bn_error_set(err, BN_STATUS_NOT_FOUND,
                             "%s: neither model.safetensors nor model.safetensors.index.json", dir);
            goto fail;
        }
        s = set_add_shard(set, dir, "model.safetensors", err);
        if (s != BN_STATUS_OK)
            goto fail;
    }
    for (size_t i = 0; i < set->n_shards; i++)
        set->n_all += set->shards[i]->n_tensors;
    set->all = calloc(set->n_all ? set->n_all : 1, sizeof *set->all);
    if (!set->all) {
        s = bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for the tensor list");
        goto fail;
    }
    size_t k = 0;
    for (size_t i = 0; i < set->n_shards; i++)
        for (size_t j = 0; j < set->shards[i]->n_tensors; j++)
            set->all[k++] = &set->shards[i]->tensors[j];
    bn_json_free(index);
    *out = set;
    return BN_STATUS_OK;
fail:
    bn_json_free(index);
    bn_safetensors_set_close(set);
    return s;
}

void bn_safetensors_set_close(bn_safetensors_set *set) {
    if (!set)
        return;
    for (size_t i = 0; i < set->n_shards; i++)
        bn_safetensors_close(set->shards[i]);
    free(set->shards);
    free(set->all);
    free(set);
}

size_t bn_safetensors_set_count(const bn_safetensors_set *set) { return set ? set->n_all : 0; }

const bn_st_tensor *bn_safetensors_set_at(const bn_safetensors_set *set, size_t index) {
    return set && index < set->n_all ? set->all[index] : NULL;
}

const bn_st_tensor *bn_safetensors_set_find(const bn_safetensors_set *set, const char *name) {
    if (!set || !name)
        return NULL;
    for (size_t i = 0; i < set->n_shards; i++) {
        const bn_st_tensor *t = bn_safetensors_find(set->shards[i], name);
        if (t)
            return t;
    }
    return NULL;
}

size_t bn_safetensors_set_shard_count(const bn_safetensors_set *set) {
    return set ? set->n_shards : 0;
}
