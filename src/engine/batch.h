/* engine/batch.h - what the engine hands to the store: one group commit.
 *
 * A batch carries the journal records of the commands applied since the last
 * batch and a copy of the state after the last of them. It moves to the store
 * thread by hub_persist_ops.submit and back by the store calling the done
 * function on the loop thread (through the inbox). The store never sees
 * engine structs other than this one, and only reads it.
 */
#ifndef HUB_ENGINE_BATCH_H
#define HUB_ENGINE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/ulid.h"
#include "engine/command.h"
#include "engine/state.h"

typedef struct hub_journal_rec {
    uint64_t seq;
    char cmd_id[HUB_ULID_LEN + 1];
    char src[HUB_SRC_MAX + 1];
    uint8_t rgb[3];
    uint64_t ts_ms;
} hub_journal_rec_t;

typedef struct hub_batch hub_batch_t;
typedef void (*hub_batch_done_fn)(hub_batch_t *batch, void *ud);

struct hub_batch {
    hub_journal_rec_t *recs; /* applied commands, seq ascending */
    size_t nrecs, caprecs;
    hub_state_t state; /* state after recs (whole copy) */
    int rc;            /* set by the store: 0 committed, else HUB_ESTORE */
    char err[160];     /* set by the store with rc: what failed */
    /* Engine-private from here: the store must not touch these. */
    hub_cmd_t *cmds_head, *cmds_tail; /* commands answered when this commits */
    size_t ncmds;
    hub_batch_done_fn done; /* engine's completion, called on the loop thread */
    void *done_ud;
};

/* How the engine reaches its store. submit takes ownership of batch and must
 * eventually call batch->done(batch, batch->done_ud) on the loop thread,
 * after setting rc. Batches are submitted one at a time: the next only after
 * the previous one's done. */
typedef struct hub_persist_ops {
    void (*submit)(void *ctx, hub_batch_t *batch);
    void *ctx;
} hub_persist_ops_t;

/* What the store restores at start-up. */
typedef struct hub_restore {
    hub_state_t state;             /* seq 0 and zero slots when the db is new */
    int found;                     /* 1 if a saved state existed */
    char (*ids)[HUB_ULID_LEN + 1]; /* recent applied cmdIds, oldest first */
    uint64_t *id_ts_ms;            /* their apply times */
    size_t nids;
} hub_restore_t;

void hub_restore_free(hub_restore_t *r);

#endif
