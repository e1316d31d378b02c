/* engine/dedupe.h - TTL + LRU set of recently applied command ids.
 *
 * An id is a duplicate while it is younger than ttl and among the capacity
 * most recently used. Lookups refresh recency (LRU); age counts from the
 * first application. Loop thread only; O(1) per operation.
 */
#ifndef HUB_ENGINE_DEDUPE_H
#define HUB_ENGINE_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct hub_dedupe hub_dedupe_t;

hub_dedupe_t *hub_dedupe_new(size_t capacity, uint64_t ttl_ms);
void hub_dedupe_free(hub_dedupe_t *d);
/* 1 if id (canonical ULID) was seen within ttl at now_ms (and refresh it),
 * else 0. Does not insert. */
int hub_dedupe_seen(hub_dedupe_t *d, const char *id, uint64_t now_ms);
/* Insert id first seen at seen_ms; evicts expired then least recently used. */
void hub_dedupe_add(hub_dedupe_t *d, const char *id, uint64_t seen_ms);
/* Forget id (its command did not become durable). */
void hub_dedupe_remove(hub_dedupe_t *d, const char *id);
size_t hub_dedupe_size(const hub_dedupe_t *d);

#endif
