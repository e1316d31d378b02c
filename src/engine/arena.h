/* engine/arena.h - a bump allocator for things that die together.
 *
 * An applied intent's changes, rows and rendered patches all live until its
 * answer has gone out; one arena per intent frees them in one go. The first
 * chunk is embedded, so a small intent allocates nothing more.
 */
#ifndef HUB_ENGINE_ARENA_H
#define HUB_ENGINE_ARENA_H

#include <stddef.h>

#define HUB_ARENA_INLINE 2048

typedef struct hub_arena_chunk {
    struct hub_arena_chunk *next;
    size_t cap, used;
    _Alignas(8) unsigned char data[];
} hub_arena_chunk_t;

typedef struct hub_arena {
    hub_arena_chunk_t *extra; /* heap chunks, newest first */
    size_t used;
    _Alignas(8) unsigned char first[HUB_ARENA_INLINE];
} hub_arena_t;

void hub_arena_init(hub_arena_t *a);
/* n bytes, 8-byte aligned; never NULL (aborts on OOM). */
void *hub_arena_alloc(hub_arena_t *a, size_t n);
/* A copy of s[0..n) plus a NUL. */
char *hub_arena_strndup(hub_arena_t *a, const char *s, size_t n);
void *hub_arena_memdup(hub_arena_t *a, const void *p, size_t n);
/* Free the heap chunks and start over. */
void hub_arena_reset(hub_arena_t *a);

#endif
