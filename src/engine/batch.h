/* engine/batch.h - what the engine hands to the store: one group commit.
 *
 * A batch carries the journal records of the intents applied since the last
 * batch and the rows their domains asked for, in apply order. It moves to the
 * store thread by hub_persist_ops.submit and back by the store calling the
 * done function on the loop thread (through the inbox). Everything it points
 * to (texts, values) belongs to the intents, which live until the batch is
 * back. The store never sees engine structs other than this one, and only
 * reads it.
 */
#ifndef HUB_ENGINE_BATCH_H
#define HUB_ENGINE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "engine/intent.h"
#include "engine/rows.h"

typedef struct hub_journal_rec {
    uint64_t seq;
    uint64_t ts_ms;
    const char *req_id, *src, *name;
    const char *payload; /* JSON */
    size_t payload_len;
    const char *patches; /* JSON array */
    size_t patches_len;
    const char *rooms; /* comma list of the rooms its patches touch */
} hub_journal_rec_t;

typedef struct hub_batch hub_batch_t;
typedef void (*hub_batch_done_fn)(hub_batch_t *batch, void *ud);

struct hub_batch {
    hub_journal_rec_t *recs; /* applied intents, seq ascending */
    size_t nrecs, caprecs;
    const hub_row_t **rows; /* in apply order; NULL where a later row of its key replaced it */
    size_t nrows, caprows;
    uint64_t seq, ts_ms; /* after the last record (the store's meta row) */
    int rc;              /* set by the store: 0 committed, else HUB_ESTORE */
    char err[160];       /* set by the store with rc: what failed */
    /* Engine-private from here: the store must not touch these. */
    size_t *keyidx; /* open-addressing table: row index + 1, 0 = empty */
    size_t keycap;
    hub_intent_t *head, *tail; /* intents answered when this commits */
    size_t nintents;
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

/* A recently applied request id, as the store restores it for dedupe. */
typedef struct hub_restore_id {
    char id[HUB_REQ_ID_MAX + 1];
    uint64_t seq;
    uint64_t ts_ms;
} hub_restore_id_t;

/* What the store restores for the engine at start-up (domains load their
 * own tables). */
typedef struct hub_restore {
    uint64_t seq, ts_ms;   /* 0 when the db is new */
    int found;             /* 1 if a saved state existed */
    hub_restore_id_t *ids; /* recent applied request ids, oldest first */
    size_t nids;
} hub_restore_t;

void hub_restore_free(hub_restore_t *r);

/* The journal read back (store/reader.c fills it; adapters use it). */
typedef struct hub_journal_entry {
    uint64_t seq, ts_ms;
    const char *req_id, *src, *name;
    const char *payload; /* JSON */
    const char *patches; /* JSON array; NULL for entries imported from seed 000 */
    const char *rooms;   /* comma list */
} hub_journal_entry_t;

typedef struct hub_journal_page {
    int rc;                       /* 0, or HUB_ESTORE / HUB_ESHUTDOWN */
    uint64_t since;               /* as asked */
    uint64_t oldest;              /* the oldest seq the journal holds (0: empty) */
    hub_journal_entry_t *entries; /* seq > since, ascending, at most limit */
    size_t n;
    void *_mem; /* the texts */
} hub_journal_page_t;

/* Loop thread; the page is the callee's: free it with hub_journal_page_free. */
typedef void (*hub_journal_cb)(hub_journal_page_t *page, void *ud);

void hub_journal_page_free(hub_journal_page_t *p);
/* Read up to limit entries with seq > since; cb runs later on the loop thread. */
typedef void (*hub_journal_read_fn)(void *ud, uint64_t since, size_t limit, hub_journal_cb cb,
                                    void *cb_ud);

/* Batch helpers (engine/batch.c). */
hub_batch_t *hub_batch_new(void);
void hub_batch_free(hub_batch_t *b);
void hub_batch_clear(hub_batch_t *b);
hub_journal_rec_t *hub_batch_add_rec(hub_batch_t *b);
/* Append row; a keyed row replaces the earlier row of the same key. */
void hub_batch_add_row(hub_batch_t *b, const hub_row_t *row);

#endif
