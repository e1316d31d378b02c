/* engine/dedupe.c - TTL + LRU map of request ids to their seq.
 *
 * A fixed pool of `capacity` entries, a chained hash table with twice as many
 * buckets, and a recency list (head = most recent). The hash is seeded at
 * random so clients cannot pick ids that pile into one bucket.
 */
#include "engine/dedupe.h"

#include <assert.h>
#include <string.h>
#include <sys/random.h>

#include "core/mem.h"
#include "core/str.h"

typedef struct entry {
    struct entry *hnext;               /* hash chain */
    struct entry *newer, *older;       /* recency list */
    struct entry *age_next, *age_prev; /* age list: oldest seen_ms first */
    uint64_t seen_ms;
    uint64_t seq;
    uint64_t hash; /* hash_id(id) */
    unsigned char len;
    int used;
    char id[HUB_REQ_ID_MAX + 1];
} entry_t;

struct hub_dedupe {
    entry_t *pool;
    size_t pool_used;   /* entries of pool handed out at least once */
    entry_t *free_list; /* released entries, linked through hnext */
    entry_t **buckets;
    size_t nbuckets; /* power of two */
    size_t capacity, size;
    uint64_t ttl_ms;
    uint64_t seed;
    entry_t *newest, *oldest;     /* recency */
    entry_t *age_head, *age_tail; /* age; expired entries gather at the head */
};

static uint64_t hash_id(const hub_dedupe_t *d, const char *id, size_t len)
{
    return hub_hash_seeded(d->seed, id, len);
}

hub_dedupe_t *hub_dedupe_new(size_t capacity, uint64_t ttl_ms)
{
    hub_dedupe_t *d = hub_calloc(1, sizeof(*d));
    if (capacity == 0)
        capacity = 1;
    d->capacity = capacity;
    d->ttl_ms = ttl_ms;
    d->nbuckets = 16;
    while (d->nbuckets < capacity * 2)
        d->nbuckets <<= 1;
    d->buckets = hub_calloc(d->nbuckets, sizeof(entry_t *));
    /* Entries are handed out in order and only released ones are listed:
     * the pool's pages stay untouched (not resident) until used. */
    d->pool = hub_calloc(capacity, sizeof(entry_t));
    if (getrandom(&d->seed, sizeof(d->seed), GRND_NONBLOCK) != sizeof(d->seed))
        d->seed = (uint64_t)(uintptr_t)d ^ 0x5bd1e995u;
    return d;
}

void hub_dedupe_free(hub_dedupe_t *d)
{
    if (d == NULL)
        return;
    hub_free(d->pool);
    hub_free(d->buckets);
    hub_free(d);
}

static entry_t **slot_at(hub_dedupe_t *d, const char *id, size_t len, uint64_t h)
{
    entry_t **pp = &d->buckets[h & (d->nbuckets - 1)];
    while (*pp != NULL && ((*pp)->len != len || memcmp((*pp)->id, id, len) != 0))
        pp = &(*pp)->hnext;
    return pp;
}

static entry_t **slot_of(hub_dedupe_t *d, const char *id)
{
    size_t len = strnlen(id, HUB_REQ_ID_MAX);
    return slot_at(d, id, len, hash_id(d, id, len));
}

static void list_unlink(hub_dedupe_t *d, entry_t *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        d->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        d->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void list_push_newest(hub_dedupe_t *d, entry_t *e)
{
    e->newer = NULL;
    e->older = d->newest;
    if (d->newest)
        d->newest->newer = e;
    else
        d->oldest = e;
    d->newest = e;
}

static void age_unlink(hub_dedupe_t *d, entry_t *e)
{
    if (e->age_prev)
        e->age_prev->age_next = e->age_next;
    else
        d->age_head = e->age_next;
    if (e->age_next)
        e->age_next->age_prev = e->age_prev;
    else
        d->age_tail = e->age_prev;
    e->age_next = e->age_prev = NULL;
}

static void age_push(hub_dedupe_t *d, entry_t *e)
{
    e->age_next = NULL;
    e->age_prev = d->age_tail;
    if (d->age_tail)
        d->age_tail->age_next = e;
    else
        d->age_head = e;
    d->age_tail = e;
}

static void drop(hub_dedupe_t *d, entry_t *e)
{
    entry_t **pp = slot_at(d, e->id, e->len, e->hash);
    *pp = e->hnext;
    list_unlink(d, e);
    age_unlink(d, e);
    e->used = 0;
    e->hnext = d->free_list;
    d->free_list = e;
    d->size--;
}

static int expired(const hub_dedupe_t *d, const entry_t *e, uint64_t now_ms)
{
    return now_ms >= e->seen_ms && now_ms - e->seen_ms >= d->ttl_ms;
}

int hub_dedupe_seen(hub_dedupe_t *d, const char *id, uint64_t now_ms, uint64_t *seq)
{
    entry_t *e = *slot_of(d, id);
    if (e == NULL)
        return 0;
    if (expired(d, e, now_ms)) {
        drop(d, e);
        return 0;
    }
    list_unlink(d, e);
    list_push_newest(d, e);
    if (seq != NULL)
        *seq = e->seq;
    return 1;
}

void hub_dedupe_add(hub_dedupe_t *d, const char *id, uint64_t seen_ms, uint64_t seq)
{
    size_t len = strnlen(id, HUB_REQ_ID_MAX);
    uint64_t h = hash_id(d, id, len);
    entry_t **pp = slot_at(d, id, len, h);
    entry_t *e = *pp;

    if (e != NULL) { /* re-added: refresh both age and recency */
        e->seen_ms = seen_ms;
        e->seq = seq;
        list_unlink(d, e);
        list_push_newest(d, e);
        age_unlink(d, e);
        age_push(d, e);
        return;
    }
    /* Expired entries go first, wherever they are in recency order. The age
     * list is in insertion order, which is seen_ms order while the clock
     * moves forward. */
    while (d->age_head != NULL && expired(d, d->age_head, seen_ms))
        drop(d, d->age_head);
    if (d->size >= d->capacity)
        drop(d, d->oldest);
    if (d->free_list != NULL) {
        e = d->free_list;
        d->free_list = e->hnext;
    } else {
        assert(d->pool_used < d->capacity); /* size < capacity: one is left */
        e = &d->pool[d->pool_used++];
    }
    e->len = (unsigned char)len;
    memcpy(e->id, id, len);
    e->id[len] = '\0';
    e->hash = h;
    e->seen_ms = seen_ms;
    e->seq = seq;
    e->used = 1;
    pp = slot_at(d, id, len, h); /* drops above may have changed the chain */
    e->hnext = NULL;
    *pp = e;
    list_push_newest(d, e);
    age_push(d, e);
    d->size++;
}

void hub_dedupe_remove(hub_dedupe_t *d, const char *id)
{
    entry_t *e = *slot_of(d, id);
    if (e != NULL)
        drop(d, e);
}

size_t hub_dedupe_size(const hub_dedupe_t *d)
{
    return d->size;
}
