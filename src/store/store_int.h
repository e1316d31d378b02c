/* store/store_int.h - shared by the store/ sources only. */
#ifndef HUB_STORE_INT_H
#define HUB_STORE_INT_H

#include <pthread.h>

#include <sqlite3.h>

#include "store/checkpoint.h"
#include "store/store.h"

typedef struct hub__reader hub__reader_t;

/* The writer's statements, prepared once. */
/* A journal row's size as the byte bound counts it. */
#define JOURNAL_ROW_BYTES "length(CAST(payload AS BLOB)) + length(CAST(patches AS BLOB))"

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_JOURNAL_INSERT,
    ST_META_SEQ,
    ST_META_TS,
    ST_META_JBYTES,
    ST_JOURNAL_PRUNE,
    ST_JOURNAL_BYTES_UPTO,
    ST_JOURNAL_BYTES_CUT,
    ST_COUNT
};

/* A domain statement's prepared form, cached by its hub_stmt_t address. */
typedef struct hub__stmt_slot {
    const hub_stmt_t *key;
    sqlite3_stmt *st;
} hub__stmt_slot_t;

typedef struct store_job store_job_t;

struct hub_store {
    char *data_dir;
    char *path; /* <data_dir>/showhub.db */
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    hub__stmt_slot_t *cache; /* open addressing */
    size_t ncache, capcache;
    size_t dedupe_capacity;
    uint64_t dedupe_ttl_ms;
    uint64_t retention;       /* journal rows kept, >= dedupe_capacity */
    uint64_t journal_min_seq; /* oldest row's seq, 0 when empty (store thread) */
    uint64_t max_bytes;       /* journal payload + patch bytes kept, 0: no bound */
    uint64_t journal_bytes;   /* payload + patch bytes in the journal (store thread) */
    hub__ckpt_t *ckpt;        /* background WAL checkpoints */
    hub__reader_t *reader;    /* journal queries */
    hub_persist_ops_t ops;
    hub_inbox_t *inbox; /* completions go here; set by start */
    pthread_t thread;
    int started;
    pthread_mutex_t lock; /* guards head, tail, stopping */
    pthread_cond_t cond;
    store_job_t *head, *tail;
    int stopping;
    hub_metric_t *m_commits, *m_errors, *m_commit_s, *m_batch_size, *m_journal_bytes;
    char file_err[512]; /* why a file row failed (store thread) */
};

/* store_schema.c */
int hub__store_migrate(hub_store_t *s, char *err, size_t errlen);
int hub__store_attach(hub_store_t *s, const hub_domain_def_t *def, void *ctx, char *err,
                      size_t errlen);
int hub__exec(sqlite3 *db, const char *sql);
int64_t hub__query_int(sqlite3 *db, const char *sql);

/* store_schema.c: hub_db_t over a connection (the writer's at start-up,
 * the reader's for domain read jobs). */
typedef struct hub__db {
    hub_db_t api; /* first */
    sqlite3 *sq;
} hub__db_t;
void hub__db_init(hub__db_t *db, sqlite3 *sq);

/* reader.c */
int hub__reader_new(hub__reader_t **out, const char *path, hub_inbox_t *inbox, char *err,
                    size_t errlen);
void hub__reader_read(hub__reader_t *r, uint64_t since, size_t limit, hub_journal_cb cb, void *ud);
void hub__reader_free(hub__reader_t *r);
/* Run fn(ud, db) on the reader thread (read-only), then done(ud, rc) on the
 * loop thread (rc HUB_ESHUTDOWN when the reader stopped first). */
void hub__reader_job(hub__reader_t *r, void (*fn)(void *ud, hub_db_t *db),
                     void (*done)(void *ud, int rc), void *ud);

#endif
