/* engine/arena.c - bump allocation (see arena.h). */
#include "engine/arena.h"

#include <stdint.h>
#include <string.h>

#include "core/mem.h"

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

void hub_arena_init(hub_arena_t *a)
{
    a->extra = NULL;
    a->used = 0;
}

void *hub_arena_alloc(hub_arena_t *a, size_t n)
{
    hub_arena_chunk_t *c;

    if (n > SIZE_MAX / 4) /* ALIGN8 and the chunk doubling below would wrap */
        hub_oom(n);
    n = ALIGN8(n ? n : 1);
    if (a->extra == NULL && a->used + n <= HUB_ARENA_INLINE) {
        void *p = a->first + a->used;
        a->used += n;
        return p;
    }
    c = a->extra;
    if (c == NULL || c->used + n > c->cap) {
        size_t cap = c ? c->cap * 2 : 2048;
        while (cap < n)
            cap *= 2;
        c = hub_malloc(sizeof(*c) + cap);
        c->cap = cap;
        c->used = 0;
        c->next = a->extra;
        a->extra = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *hub_arena_strndup(hub_arena_t *a, const char *s, size_t n)
{
    char *p = hub_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *hub_arena_memdup(hub_arena_t *a, const void *p, size_t n)
{
    void *q = hub_arena_alloc(a, n);
    memcpy(q, p, n);
    return q;
}

void hub_arena_reset(hub_arena_t *a)
{
    while (a->extra != NULL) {
        hub_arena_chunk_t *next = a->extra->next;
        hub_free(a->extra);
        a->extra = next;
    }
    a->used = 0;
}
