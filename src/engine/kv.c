/* engine/kv.c - insertion-ordered string map (see kv.h). */
#include "engine/kv.h"

#include <string.h>

#include "core/mem.h"
#include "core/str.h"

typedef struct ent {
    char *key;
    char *text;
    size_t len, cap; /* cap: bytes text can hold, NUL included */
    int aux;
} ent_t;

struct hub_kv {
    ent_t *ents; /* insertion order; deleted ones compacted away */
    size_t n, cap;
    size_t *idx; /* ent index + 1; 0 empty */
    size_t idxcap;
};

static void reindex(hub_kv_t *kv)
{
    size_t cap = 16;
    while (cap < kv->n * 2 + 2)
        cap *= 2;
    hub_free(kv->idx);
    kv->idx = hub_calloc(cap, sizeof(*kv->idx));
    kv->idxcap = cap;
    for (size_t i = 0; i < kv->n; i++) {
        size_t j = hub_hash_str(kv->ents[i].key) & (cap - 1);
        while (kv->idx[j] != 0)
            j = (j + 1) & (cap - 1);
        kv->idx[j] = i + 1;
    }
}

static long find(const hub_kv_t *kv, const char *key)
{
    if (kv->idxcap == 0)
        return -1;
    size_t j = hub_hash_str(key) & (kv->idxcap - 1);
    while (kv->idx[j] != 0) {
        if (strcmp(kv->ents[kv->idx[j] - 1].key, key) == 0)
            return (long)(kv->idx[j] - 1);
        j = (j + 1) & (kv->idxcap - 1);
    }
    return -1;
}

hub_kv_t *hub_kv_new(void)
{
    hub_kv_t *kv = hub_calloc(1, sizeof(*kv));
    reindex(kv);
    return kv;
}

void hub_kv_free(hub_kv_t *kv)
{
    if (kv == NULL)
        return;
    for (size_t i = 0; i < kv->n; i++) {
        hub_free(kv->ents[i].key);
        hub_free(kv->ents[i].text);
    }
    hub_free(kv->ents);
    hub_free(kv->idx);
    hub_free(kv);
}

void hub_kv_set(hub_kv_t *kv, const char *key, const char *text, size_t len, int aux)
{
    long i = find(kv, key);
    ent_t *e;

    if (i >= 0) {
        e = &kv->ents[i];
        hub_str_set(&e->text, &e->cap, text, len); /* views change on every intent */
        e->len = len;
        e->aux = aux;
        return;
    }
    if (kv->n == kv->cap) {
        kv->cap = kv->cap ? kv->cap * 2 : 8;
        kv->ents = hub_realloc(kv->ents, kv->cap * sizeof(*kv->ents));
    }
    e = &kv->ents[kv->n++];
    e->key = hub_strdup(key);
    e->text = hub_strndup(text, len);
    e->len = len;
    e->cap = len + 1;
    e->aux = aux;
    if (kv->n * 2 > kv->idxcap) {
        reindex(kv);
    } else {
        size_t j = hub_hash_str(key) & (kv->idxcap - 1);
        while (kv->idx[j] != 0)
            j = (j + 1) & (kv->idxcap - 1);
        kv->idx[j] = kv->n;
    }
}

const char *hub_kv_get(const hub_kv_t *kv, const char *key, size_t *len)
{
    long i = find(kv, key);
    if (i < 0)
        return NULL;
    if (len != NULL)
        *len = kv->ents[i].len;
    return kv->ents[i].text;
}

void hub_kv_del(hub_kv_t *kv, const char *key)
{
    long i = find(kv, key);
    if (i < 0)
        return;
    hub_free(kv->ents[i].key);
    hub_free(kv->ents[i].text);
    memmove(&kv->ents[i], &kv->ents[i + 1], (kv->n - (size_t)i - 1) * sizeof(*kv->ents));
    kv->n--;
    reindex(kv);
}

size_t hub_kv_count(const hub_kv_t *kv)
{
    return kv->n;
}

void hub_kv_foreach(const hub_kv_t *kv,
                    void (*fn)(void *ud, const char *key, const char *text, size_t len, int aux),
                    void *ud)
{
    for (size_t i = 0; i < kv->n; i++)
        fn(ud, kv->ents[i].key, kv->ents[i].text, kv->ents[i].len, kv->ents[i].aux);
}
