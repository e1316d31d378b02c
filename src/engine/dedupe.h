/* engine/dedupe.h - TTL + LRU map of recently applied request ids.
 *
 * An id (a req_id, or a seed-000 cmdId in canonical form: the two share one
 * namespace) is a duplicate while it is younger than ttl and among the
 * capacity most recently used. Each entry keeps the seq its intent got, so a
 * duplicate can be answered with the first answer. Lookups refresh recency
 * (LRU); age counts from the first application. Loop thread only; O(1) per
 * operation.
 */
#ifndef HUB_ENGINE_DEDUPE_H
#define HUB_ENGINE_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/intent.h"

typedef struct hub_dedupe hub_dedupe_t;

hub_dedupe_t *hub_dedupe_new(size_t capacity, uint64_t ttl_ms);
void hub_dedupe_free(hub_dedupe_t *d);
/* 1 if id (1..HUB_REQ_ID_MAX bytes, NUL-terminated) was seen within ttl at
 * now_ms (and refresh it; *seq, if not NULL, gets its seq), else 0. Does not
 * insert. */
int hub_dedupe_seen(hub_dedupe_t *d, const char *id, uint64_t now_ms, uint64_t *seq);
/* Insert id first seen at seen_ms with seq; evicts expired then least
 * recently used. */
void hub_dedupe_add(hub_dedupe_t *d, const char *id, uint64_t seen_ms, uint64_t seq);
/* Forget id (its intent did not become durable). */
void hub_dedupe_remove(hub_dedupe_t *d, const char *id);
size_t hub_dedupe_size(const hub_dedupe_t *d);

#endif
