/* domains/devices/map.c - a string-keyed map of pointers (open addressing,
 * linear probing, tombstones): the registry and the commands, thousands of
 * entries looked up on every message. */
#include <stdint.h>
#include <string.h>

#include "core/mem.h"
#include "core/str.h"
#include "domains/devices/devices_int.h"

static char tombstone;
#define TOMB (&tombstone)

void dev_map_free(dev_map_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] != NULL && m->keys[i] != TOMB)
            hub_free(m->keys[i]);
    hub_free(m->keys);
    hub_free(m->vals);
    memset(m, 0, sizeof(*m));
}

static size_t slot(const dev_map_t *m, const char *key, int *found)
{
    size_t mask = m->cap - 1, j = hub_hash(key, strlen(key)) & mask, first = SIZE_MAX;

    for (;;) {
        char *k = m->keys[j];
        if (k == NULL) {
            *found = 0;
            return first != SIZE_MAX ? first : j;
        }
        if (k == TOMB) {
            if (first == SIZE_MAX)
                first = j;
        } else if (strcmp(k, key) == 0) {
            *found = 1;
            return j;
        }
        j = (j + 1) & mask;
    }
}

static void grow(dev_map_t *m)
{
    dev_map_t old = *m;

    m->cap = old.cap ? (old.n * 4 > old.cap ? old.cap * 2 : old.cap) : 16;
    m->keys = hub_calloc(m->cap, sizeof(*m->keys));
    m->vals = hub_calloc(m->cap, sizeof(*m->vals));
    m->n = m->used = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i] != NULL && old.keys[i] != TOMB) {
            int found;
            size_t j = slot(m, old.keys[i], &found);
            m->keys[j] = old.keys[i];
            m->vals[j] = old.vals[i];
            m->n++;
            m->used++;
        }
    hub_free(old.keys);
    hub_free(old.vals);
}

void *dev_map_get(const dev_map_t *m, const char *key)
{
    int found;
    if (m->n == 0)
        return NULL;
    size_t j = slot(m, key, &found);
    return found ? m->vals[j] : NULL;
}

void dev_map_put(dev_map_t *m, const char *key, void *val)
{
    int found;

    if (m->cap == 0 || (m->used + 1) * 2 > m->cap)
        grow(m);
    size_t j = slot(m, key, &found);
    if (!found) {
        if (m->keys[j] == NULL)
            m->used++;
        m->keys[j] = hub_strdup(key);
        m->n++;
    }
    m->vals[j] = val;
}

void dev_map_del(dev_map_t *m, const char *key)
{
    int found;
    if (m->n == 0)
        return;
    size_t j = slot(m, key, &found);
    if (!found)
        return;
    hub_free(m->keys[j]);
    m->keys[j] = TOMB;
    m->vals[j] = NULL;
    m->n--;
}

void **dev_map_values(const dev_map_t *m, size_t *n)
{
    void **out = hub_malloc((m->n ? m->n : 1) * sizeof(*out));
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] != NULL && m->keys[i] != TOMB)
            out[k++] = m->vals[i];
    *n = k;
    return out;
}
