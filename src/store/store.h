/* store/store.h - SQLite persistence on its own thread.
 *
 * The store thread owns the sqlite3 connection that reads and writes rows
 * (WAL); a checkpoint thread with its own connection copies the WAL back
 * (store/checkpoint.h), so no commit waits for that. The engine hands
 * it batches (engine/batch.h) through hub_store_persist_ops(); the thread
 * writes each in one transaction (journal rows + the whole state), commits,
 * and posts the batch back to the loop through the inbox, where
 * batch->done runs. Loading at start-up is synchronous, before serving.
 *
 * Files: <data_dir>/showhub.db (+ -wal, -shm). Schema is created and
 * migrated by the daemon (PRAGMA user_version).
 */
#ifndef HUB_STORE_STORE_H
#define HUB_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/inbox.h"
#include "core/metrics.h"
#include "engine/batch.h"

typedef struct hub_store hub_store_t;

typedef struct hub_store_cfg {
    const char *data_dir;     /* created if missing (mode 0755) */
    bool sync_full;           /* synchronous=FULL, else NORMAL */
    size_t journal_retention; /* rows kept; pruning keeps at least this many */
    size_t dedupe_capacity;   /* ids returned by load, at most */
    uint64_t dedupe_ttl_ms;   /* ids older than now - ttl are not returned */
    int demo_universe;        /* for hub_state_init() when the db is new */
    int checkpoint_frames;    /* WAL frames before a background checkpoint; 0 = 1000 */
} hub_store_cfg_t;

/* Open (create, migrate) the database. On failure returns a negative code and
 * writes a line saying what to do to err; nothing is left open. */
int hub_store_open(hub_store_t **out, const hub_store_cfg_t *cfg, hub_metrics_t *metrics, char *err,
                   size_t errlen);
/* Read the saved state and recent command ids (synchronous; before start). */
int hub_store_load(hub_store_t *s, hub_restore_t *out, char *err, size_t errlen);
/* Start the store thread; completions are posted to inbox. */
int hub_store_start(hub_store_t *s, hub_inbox_t *inbox);
/* The engine's view of the store. Valid until hub_store_close(). */
const hub_persist_ops_t *hub_store_persist_ops(hub_store_t *s);
/* Finish the batch in flight (its completion is still posted), stop the
 * thread, checkpoint and close the database. */
void hub_store_close(hub_store_t *s);

#endif
