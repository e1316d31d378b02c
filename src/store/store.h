/* store/store.h - SQLite persistence on its own thread.
 *
 * The store thread owns the sqlite3 connection that writes (WAL); a
 * checkpoint thread with its own connection copies the WAL back
 * (store/checkpoint.h), and a reader thread with a read-only connection
 * answers journal queries (store/reader.c), so no commit waits for either.
 * The engine hands it batches (engine/batch.h) through
 * hub_store_persist_ops(); the thread writes each in one transaction
 * (journal records, the domains' rows, seq), commits, and posts the batch
 * back to the loop through the inbox, where batch->done runs.
 *
 * The store knows no domain: each domain brings its tables (schema steps,
 * hub_store_attach) and rows (statements with values). The store's own
 * tables are the journal, meta (seq, ts) and the domains' schema versions.
 * Opening, attaching and loading are synchronous, before serving.
 *
 * Files: <data_dir>/showhub.db (+ -wal, -shm).
 */
#ifndef HUB_STORE_STORE_H
#define HUB_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/inbox.h"
#include "core/metrics.h"
#include "engine/batch.h"
#include "engine/domain.h"

typedef struct hub_store hub_store_t;

typedef struct hub_store_cfg {
    const char *data_dir;       /* created if missing (mode 0755) */
    bool sync_full;             /* synchronous=FULL, else NORMAL */
    size_t journal_retention;   /* rows kept; pruning keeps at least this many */
    uint64_t journal_max_bytes; /* and at most this many payload + patch bytes (0: no bound);
                                 * the newest dedupe_capacity rows are always kept */
    size_t dedupe_capacity;     /* ids returned by load, at most */
    uint64_t dedupe_ttl_ms;     /* ids older than now - ttl are not returned */
    int checkpoint_frames;      /* WAL frames before a background checkpoint; 0 = 1000 */
} hub_store_cfg_t;

/* Open (create, migrate) the database. On failure returns a negative code and
 * writes a line saying what to do to err; nothing is left open. */
int hub_store_open(hub_store_t **out, const hub_store_cfg_t *cfg, hub_metrics_t *metrics, char *err,
                   size_t errlen);
/* Bring a domain's tables to its newest schema step (one transaction per
 * step), then run its load. Synchronous; before hub_store_start. */
int hub_store_attach(hub_store_t *s, const hub_domain_def_t *def, void *ctx, char *err,
                     size_t errlen);
/* Read seq, ts and the recent request ids (synchronous; before start). */
int hub_store_load(hub_store_t *s, hub_restore_t *out, char *err, size_t errlen);
/* Start the writer and reader threads; completions are posted to inbox. */
int hub_store_start(hub_store_t *s, hub_inbox_t *inbox);
/* The engine's view of the store. Valid until hub_store_close(). */
const hub_persist_ops_t *hub_store_persist_ops(hub_store_t *s);
/* Finish the batch in flight (its completion is still posted), stop the
 * threads, checkpoint and close the database. Journal reads still queued
 * are answered with rc HUB_ESHUTDOWN. */
void hub_store_close(hub_store_t *s);

/* ---- the journal, read back (types in engine/batch.h) ------------------- */

/* Read up to limit entries with seq > since on the reader thread; cb runs on
 * the loop thread (through the inbox given to start). */
void hub_store_read_journal(hub_store_t *s, uint64_t since, size_t limit, hub_journal_cb cb,
                            void *ud);
/* A domain's read job (engine/rows.h hub_db_reader_t) on the reader thread. */
void hub_store_read_job(void *store, void (*fn)(void *ud, hub_db_t *db),
                        void (*done)(void *ud, int rc), void *ud);

#endif
