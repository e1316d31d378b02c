/* engine/engine_int.h - shared by the engine/ sources only (the SQLite btreeInt.h idea). */
#ifndef HUB_ENGINE_INT_H
#define HUB_ENGINE_INT_H

#include "engine/arena.h"
#include "engine/domain.h"
#include "engine/engine.h"

#define HUB__MAX_ROOTS 8

typedef struct hub__domain {
    const hub_domain_def_t *def;
    void *ctx;
    const char *roots[HUB__MAX_ROOTS];
    int root_bits[HUB__MAX_ROOTS];
    int nroots;
} hub__domain_t;

/* What one applied intent produced; owned by the intent (in->_rec) until it
 * is answered, or by the engine's carry list when its commit failed (its
 * rows must reach the next commit). */
typedef struct hub__record {
    struct hub__record *next; /* carry list */
    hub__domain_t *dom;
    hub_change_t *changes;
    size_t nchanges, capchanges;
    hub_row_t **rows;
    size_t nrows, caprows;
    char *patches;
    size_t patches_len;
    uint64_t rooms;
    char *rooms_text;
    hub_arena_t arena; /* last: it is large, and record_new clears only what is before */
} hub__record_t;

struct hub_apply {
    hub_engine_t *e;
    hub_intent_t *in;
    hub__record_t *rec;
    uint64_t seq, ts_ms;
    hub_jbuf_t *scratch;
    hub_error_t *err;
    int failed;
};

/* The outbox of one announcement: messages with their texts. */
struct hub_outbox {
    hub_outmsg_t *msgs;
    size_t n, cap;
    hub_arena_t arena;
};

void hub__outbox_init(hub_outbox_t *o);
void hub__outbox_reset(hub_outbox_t *o);
void hub__outbox_free(hub_outbox_t *o);

#endif
