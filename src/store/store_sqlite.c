/* store/store_sqlite.c - the SQLite store: open, the writer thread, close.
 *
 * One connection, opened by hub_store_open() on the caller's thread, used for
 * the schema steps and the synchronous load, then handed to the store thread
 * for good: after hub_store_start() only that thread touches it (hence
 * SQLITE_OPEN_NOMUTEX). WAL checkpoints run on a second connection of their
 * own (checkpoint.c), journal queries on a third, read-only (reader.c).
 *
 * Each batch is one transaction: its journal records, the rows its intents'
 * domains asked for (each statement prepared once, cached by address), seq
 * and ts in meta, and journal pruning. A batch is reported committed (rc 0)
 * only after COMMIT returned, so with WAL and synchronous=NORMAL it survives
 * a process kill, and with FULL also a power loss. The journal doubles as
 * the durable dedupe cache (docs/decisions/store.md).
 *
 * Threading: open/attach/load/start/close on the loop (or main) thread;
 * submit on the loop thread; everything that runs SQL after start on the
 * store thread.
 */
#include "store/store.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store_int.h"
#define DB_NAME         "showhub.db"
#define BUSY_TIMEOUT_MS 5000
/* WAL frames before a background checkpoint (SQLite's own default), and the
 * size at which commits wait for one (~64 MB of 4 KiB pages). */
#define CKPT_FRAMES      1000
#define CKPT_HARD_FRAMES 16384
/* A WAL that grew under load is cut back to this when it restarts. */
#define WAL_SIZE_LIMIT "4194304"

/* A queued batch; after the commit the same allocation travels back to the
 * loop as the inbox message. */
struct store_job {
    hub_msg_t msg;          /* first: the inbox hands us &msg */
    hub_batch_t *batch;     /* the engine's, borrowed until done */
    struct store_job *next; /* store queue link */
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_JOURNAL_INSERT] = "INSERT INTO journal(seq, req_id, src, name, payload, patches, rooms,"
                          " ts_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_META_SEQ] = "INSERT INTO meta(key, value) VALUES('seq', ?1) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_META_TS] = "INSERT INTO meta(key, value) VALUES('ts_ms', ?1) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_META_JBYTES] = "INSERT INTO meta(key, value) VALUES('journal_bytes', ?1) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_JOURNAL_PRUNE] = "DELETE FROM journal WHERE seq <= ?1",
    [ST_JOURNAL_BYTES_UPTO] = "SELECT coalesce(sum(" JOURNAL_ROW_BYTES "), 0) FROM journal "
                              "WHERE seq <= ?1",
    [ST_JOURNAL_BYTES_CUT] = "SELECT seq FROM (SELECT seq, sum(" JOURNAL_ROW_BYTES ") OVER "
                             "(ORDER BY seq) AS cum FROM journal) WHERE cum >= ?1 LIMIT 1",
};

/* ---- open: directory, connection, pragmas, schema ---------------------- */

/* mkdir -p with mode 0755. Returns 0 or -errno, naming the failing prefix. */
static int mkdir_p(const char *dir, char *failed, size_t n)
{
    char *p = hub_strdup(dir);
    int rc = 0;

    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = -errno;
        } else {
            struct stat sb;
            if (stat(p, &sb) < 0)
                rc = -errno;
            else if (!S_ISDIR(sb.st_mode))
                rc = -ENOTDIR;
        }
        if (rc < 0) {
            snprintf(failed, n, "%s", p);
            break;
        }
        *c = saved;
        if (saved == '\0')
            break;
    }
    hub_free(p);
    return rc;
}
static int configure(hub_store_t *s, int sync_full, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc;

    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* The first statement reads the header: a non-database fails here. */
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            if (mode == NULL || strcmp(mode, "wal") != 0)
                hub_log(HUB_LOG_WARN, "store_no_wal", "{s:s,s:s}", "path", s->path, "mode",
                        mode ? mode : "?");
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        int code = sqlite3_errcode(s->db);
        if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
            snprintf(err, errlen,
                     "%s is not a usable showhub database (%s); move it away to start fresh "
                     "or set DMX_DATA_DIR to another directory",
                     s->path, sqlite3_errmsg(s->db));
        else
            snprintf(err, errlen,
                     "cannot use database %s: %s; check the file and directory "
                     "permissions of DMX_DATA_DIR",
                     s->path, sqlite3_errmsg(s->db));
        return HUB_ESTORE;
    }
    if (hub__exec(s->db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") !=
            SQLITE_OK ||
        hub__exec(s->db, "PRAGMA journal_size_limit=" WAL_SIZE_LIMIT) != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure %s: %s", s->path, sqlite3_errmsg(s->db));
        return HUB_ESTORE;
    }
    /* Checkpoints run on their own thread (store/checkpoint.c). */
    sqlite3_wal_autocheckpoint(s->db, 0);
    return 0;
}

/* After every commit on the writer connection. */
static int on_wal_commit(void *ud, sqlite3 *db, const char *name, int nframes)
{
    hub_store_t *s = ud;
    if (s->ckpt != NULL)
        hub__ckpt_poke(s->ckpt, nframes);
    return SQLITE_OK;
}

static void register_metrics(hub_store_t *s, hub_metrics_t *m)
{
    static const double bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1};
    if (m == NULL)
        return;
    s->m_commits =
        hub_metrics_counter(m, "dmx_store_commits_total", "Batches committed to the SQLite store");
    s->m_errors = hub_metrics_counter(m, "dmx_store_errors_total",
                                      "Batches the SQLite store failed to commit");
    s->m_commit_s =
        hub_metrics_histogram(m, "dmx_store_commit_seconds", "Time to write and commit one batch",
                              bounds, sizeof(bounds) / sizeof(bounds[0]));
    s->m_batch_size =
        hub_metrics_gauge(m, "dmx_store_batch_size", "Journal records in the last batch written");
    s->m_journal_bytes =
        hub_metrics_gauge(m, "dmx_store_journal_bytes",
                          "Payload and patch bytes in the journal (bounded by DMX_JOURNAL_MAX_MB)");
}

static void submit(void *ctx, hub_batch_t *batch);
static int64_t meta_int(hub_store_t *s, const char *key, int *found);

static void store_free(hub_store_t *s)
{
    hub__ckpt_free(s->ckpt);
    s->ckpt = NULL;
    hub__reader_free(s->reader);
    s->reader = NULL;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    for (size_t i = 0; i < s->capcache; i++)
        sqlite3_finalize(s->cache[i].st);
    hub_free(s->cache);
    if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
        hub_log(HUB_LOG_ERROR, "store_close_failed", "{s:s,s:s}", "path", s->path, "error",
                sqlite3_errmsg(s->db));
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    hub_free(s->path);
    hub_free(s->data_dir);
    hub_free(s);
}

int hub_store_open(hub_store_t **out, const hub_store_cfg_t *cfg, hub_metrics_t *metrics, char *err,
                   size_t errlen)
{
    hub_store_t *s;
    char failed[512];
    size_t plen;
    int rc;

    if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0') {
        snprintf(err, errlen, "no data directory given; set DMX_DATA_DIR");
        return HUB_EINVAL;
    }
    rc = mkdir_p(cfg->data_dir, failed, sizeof(failed));
    if (rc < 0) {
        snprintf(err, errlen,
                 "cannot create data directory %s (%s: %s); create it writable for this user "
                 "or set DMX_DATA_DIR to another directory",
                 cfg->data_dir, failed, hub_strerror(rc));
        return rc;
    }
    if (access(cfg->data_dir, W_OK | X_OK) < 0) {
        rc = -errno;
        snprintf(err, errlen,
                 "data directory %s is not writable (%s); fix its permissions or set "
                 "DMX_DATA_DIR to a writable directory",
                 cfg->data_dir, hub_strerror(rc));
        return rc;
    }
    if (!sqlite3_threadsafe()) {
        snprintf(err, errlen, "the linked SQLite is built without thread support");
        return HUB_ESTORE;
    }

    s = hub_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->data_dir = hub_strdup(cfg->data_dir);
    plen = strlen(cfg->data_dir) + sizeof("/" DB_NAME);
    s->path = hub_malloc(plen);
    snprintf(s->path, plen, "%s/" DB_NAME, cfg->data_dir);
    s->dedupe_capacity = cfg->dedupe_capacity;
    s->dedupe_ttl_ms = cfg->dedupe_ttl_ms;
    s->retention = cfg->journal_retention > cfg->dedupe_capacity ? cfg->journal_retention
                                                                 : cfg->dedupe_capacity;
    s->max_bytes = cfg->journal_max_bytes;
    s->ops.submit = submit;
    s->ops.ctx = s;

    rc = sqlite3_open_v2(s->path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen,
                 "cannot open database %s: %s; check DMX_DATA_DIR and its "
                 "permissions",
                 s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        rc = HUB_ESTORE;
        goto fail;
    }
    rc = configure(s, cfg->sync_full, err, errlen);
    if (rc < 0)
        goto fail;
    rc = hub__store_migrate(s, err, errlen);
    if (rc < 0)
        goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen,
                     "database %s does not match this showhub's schema (%s); move it "
                     "away or use another DMX_DATA_DIR",
                     s->path, sqlite3_errmsg(s->db));
            rc = HUB_ESTORE;
            goto fail;
        }
    }
    {
        int64_t min_seq = hub__query_int(s->db, "SELECT coalesce(min(seq), 0) FROM journal");
        s->journal_min_seq = min_seq > 0 ? (uint64_t)min_seq : 0;
        int found = 0;
        int64_t bytes = meta_int(s, "journal_bytes", &found);
        if (!found) /* a database from before the count was kept */
            bytes = hub__query_int(s->db,
                                   "SELECT coalesce(sum(" JOURNAL_ROW_BYTES "), 0) FROM journal");
        s->journal_bytes = bytes > 0 ? (uint64_t)bytes : 0;
    }
    {
        hub__ckpt_cfg_t cc = {
            .path = s->path,
            .sync_full = cfg->sync_full,
            .frames = cfg->checkpoint_frames > 0 ? cfg->checkpoint_frames : CKPT_FRAMES,
        };
        cc.hard_frames = cc.frames * (CKPT_HARD_FRAMES / CKPT_FRAMES);
        rc = hub__ckpt_new(&s->ckpt, &cc, metrics, err, errlen);
        if (rc < 0)
            goto fail;
        sqlite3_wal_hook(s->db, on_wal_commit, s);
    }
    register_metrics(s, metrics);
    hub_log(HUB_LOG_INFO, "store_open", "{s:s,s:s,s:I}", "path", s->path, "synchronous",
            cfg->sync_full ? "full" : "normal", "retention", (json_int_t)s->retention);
    *out = s;
    return 0;

fail:
    store_free(s);
    return rc;
}

/* ---- attach and load ------------------------------------------------------ */

int hub_store_attach(hub_store_t *s, const hub_domain_def_t *def, void *ctx, char *err,
                     size_t errlen)
{
    assert(!s->started);
    return hub__store_attach(s, def, ctx, err, errlen);
}

static int64_t meta_int(hub_store_t *s, const char *key, int *found)
{
    sqlite3_stmt *q;
    int64_t v = 0;

    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1, &q, NULL) !=
        SQLITE_OK)
        return 0;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        v = sqlite3_column_int64(q, 0);
        *found = 1;
    }
    sqlite3_finalize(q);
    return v;
}

/* The newest ids within the TTL, at most capacity of them, oldest first. */
static int load_ids(hub_store_t *s, hub_restore_t *out)
{
    sqlite3_stmt *q;
    uint64_t now = hub_wall_ms();
    uint64_t cutoff = now > s->dedupe_ttl_ms ? now - s->dedupe_ttl_ms : 0;
    size_t cap = s->dedupe_capacity;
    int rc;

    if (cap == 0)
        return SQLITE_OK;
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT req_id, seq, ts_ms FROM (SELECT seq, req_id, ts_ms FROM "
                            "journal WHERE ts_ms >= ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)cutoff);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)cap);
    out->ids = hub_calloc(cap, sizeof(*out->ids));
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && out->nids < cap) {
        const char *id = (const char *)sqlite3_column_text(q, 0);
        size_t n = id ? strlen(id) : 0;
        if (!hub_req_id_valid(id, n))
            continue; /* not written by us: skip rather than hand the engine junk */
        if (id[0] == HUB_INTERNAL_ID_PREFIX)
            continue; /* the hub's own intents are never deduped */
        hub_restore_id_t *r = &out->ids[out->nids++];
        memcpy(r->id, id, n + 1);
        r->seq = (uint64_t)sqlite3_column_int64(q, 1);
        r->ts_ms = (uint64_t)sqlite3_column_int64(q, 2);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

int hub_store_load(hub_store_t *s, hub_restore_t *out, char *err, size_t errlen)
{
    int rc;

    assert(!s->started);
    memset(out, 0, sizeof(*out));
    out->seq = (uint64_t)meta_int(s, "seq", &out->found);
    out->ts_ms = (uint64_t)meta_int(s, "ts_ms", &out->found);
    rc = load_ids(s, out);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen,
                 "cannot read saved state from %s: %s; move the file away to "
                 "start fresh",
                 s->path, sqlite3_errmsg(s->db));
        hub_restore_free(out);
        memset(out, 0, sizeof(*out));
        return HUB_ESTORE;
    }
    hub_log(HUB_LOG_INFO, "store_loaded", "{s:b,s:I,s:I}", "found", out->found, "seq",
            (json_int_t)out->seq, "ids", (json_int_t)out->nids);
    return 0;
}

/* ---- the writer --------------------------------------------------------- */

static int step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* The seq up to which rows go so that at most max_bytes stay (0: within the
 * bound). Only past ~10 % over it, like the row count. Never the newest
 * dedupe_capacity rows: a restart restores the dedupe cache from them. */
static uint64_t prune_bytes_upto(hub_store_t *s, const hub_batch_t *b, uint64_t total)
{
    uint64_t slack = s->max_bytes / 10, max_seq = b->recs[b->nrecs - 1].seq, upto = 0;
    sqlite3_stmt *st = s->stmt[ST_JOURNAL_BYTES_CUT];

    if (s->max_bytes == 0 || total <= s->max_bytes + slack)
        return 0;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(total - s->max_bytes));
    if (sqlite3_step(st) == SQLITE_ROW)
        upto = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (max_seq <= s->dedupe_capacity)
        return 0;
    return upto < max_seq - s->dedupe_capacity ? upto : max_seq - s->dedupe_capacity;
}

static uint64_t bytes_upto(hub_store_t *s, uint64_t seq)
{
    sqlite3_stmt *st = s->stmt[ST_JOURNAL_BYTES_UPTO];
    uint64_t n = 0;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return n;
}

/* Rows to delete so that the journal keeps retention rows; 0 for none. Prune
 * only once the excess reaches ~10% so a delete runs every retention/10
 * intents, not every batch. */
static uint64_t prune_upto(const hub_store_t *s, const hub_batch_t *b)
{
    uint64_t slack = s->retention / 10 > 0 ? s->retention / 10 : 1;
    uint64_t min_seq = s->journal_min_seq != 0 ? s->journal_min_seq : b->recs[0].seq;
    uint64_t max_seq = b->recs[b->nrecs - 1].seq;

    if (max_seq < min_seq || max_seq - min_seq + 1 <= s->retention + slack)
        return 0;
    return max_seq - s->retention;
}

/* The prepared form of a domain statement (cached by its address). */
static sqlite3_stmt *stmt_for(hub_store_t *s, const hub_stmt_t *key)
{
    size_t j;

    if (s->capcache > 0) {
        j = ((uintptr_t)key >> 4) & (s->capcache - 1);
        while (s->cache[j].key != NULL) {
            if (s->cache[j].key == key)
                return s->cache[j].st;
            j = (j + 1) & (s->capcache - 1);
        }
    }
    if ((s->ncache + 1) * 2 > s->capcache) {
        size_t cap = s->capcache ? s->capcache * 2 : 32;
        hub__stmt_slot_t *nc = hub_calloc(cap, sizeof(*nc));
        for (size_t i = 0; i < s->capcache; i++) {
            if (s->cache[i].key == NULL)
                continue;
            size_t k = ((uintptr_t)s->cache[i].key >> 4) & (cap - 1);
            while (nc[k].key != NULL)
                k = (k + 1) & (cap - 1);
            nc[k] = s->cache[i];
        }
        hub_free(s->cache);
        s->cache = nc;
        s->capcache = cap;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(s->db, key->sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        return NULL; /* the caller reports sqlite3_errmsg */
    j = ((uintptr_t)key >> 4) & (s->capcache - 1);
    while (s->cache[j].key != NULL)
        j = (j + 1) & (s->capcache - 1);
    s->cache[j].key = key;
    s->cache[j].st = st;
    s->ncache++;
    return st;
}

/* A domain's file (engine/rows.h), written before the transaction commits. */
static int write_file(hub_store_t *s, const hub_row_t *row)
{
    char path[4096], err[512];
    const hub_val_t *p = &row->vals[0], *data = &row->vals[1];
    int rc;

    if (p->type != HUB_VAL_TEXT || p->n == 0 || p->n >= sizeof(path))
        return SQLITE_MISUSE;
    memcpy(path, p->p, p->n);
    path[p->n] = '\0';
    if (data->type == HUB_VAL_NULL)
        rc = hub_file_remove(path, err, sizeof(err));
    else
        rc = hub_file_write_atomic(path, data->p, data->n, err, sizeof(err));
    if (rc != 0) {
        snprintf(s->file_err, sizeof(s->file_err), "%s", err);
        return SQLITE_IOERR;
    }
    return SQLITE_OK;
}

static int write_row(hub_store_t *s, const hub_row_t *row)
{
    sqlite3_stmt *st;
    int rc;

    if (row->stmt == &hub_stmt_file)
        return write_file(s, row);
    st = stmt_for(s, row->stmt);

    if (st == NULL)
        return SQLITE_ERROR;
    for (int i = 0; i < row->stmt->nparams; i++) {
        const hub_val_t *v = &row->vals[i];
        switch (v->type) {
        case HUB_VAL_INT: sqlite3_bind_int64(st, i + 1, v->i); break;
        case HUB_VAL_TEXT: sqlite3_bind_text(st, i + 1, v->p, (int)v->n, SQLITE_STATIC); break;
        case HUB_VAL_BLOB: sqlite3_bind_blob(st, i + 1, v->p, (int)v->n, SQLITE_STATIC); break;
        default: sqlite3_bind_null(st, i + 1); break;
        }
    }
    rc = step_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int write_batch(hub_store_t *s, const hub_batch_t *b, uint64_t *pruned_to,
                       uint64_t *bytes_after)
{
    sqlite3_stmt *st;
    int rc;

    *pruned_to = 0;
    rc = step_reset(s->stmt[ST_BEGIN]);
    if (rc != SQLITE_OK)
        return rc;

    st = s->stmt[ST_JOURNAL_INSERT];
    for (size_t i = 0; i < b->nrecs && rc == SQLITE_OK; i++) {
        const hub_journal_rec_t *r = &b->recs[i];
        sqlite3_bind_int64(st, 1, (sqlite3_int64)r->seq);
        sqlite3_bind_text(st, 2, r->req_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->src, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, r->payload, (int)r->payload_len, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, r->patches, (int)r->patches_len, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, r->rooms, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, (sqlite3_int64)r->ts_ms);
        rc = step_reset(st);
    }
    sqlite3_clear_bindings(st);
    for (size_t i = 0; i < b->nrows && rc == SQLITE_OK; i++)
        if (b->rows[i] != NULL) /* NULL: replaced by a later row of its key */
            rc = write_row(s, b->rows[i]);
    if (rc != SQLITE_OK)
        return rc;

    sqlite3_bind_int64(s->stmt[ST_META_SEQ], 1, (sqlite3_int64)b->seq);
    rc = step_reset(s->stmt[ST_META_SEQ]);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s->stmt[ST_META_TS], 1, (sqlite3_int64)b->ts_ms);
        rc = step_reset(s->stmt[ST_META_TS]);
    }
    if (rc != SQLITE_OK)
        return rc;

    /* Pruning rides in the same transaction: one fsync per batch. */
    uint64_t total = s->journal_bytes;
    for (size_t i = 0; i < b->nrecs; i++)
        total += b->recs[i].payload_len + b->recs[i].patches_len;
    if (b->nrecs > 0) {
        uint64_t upto = prune_upto(s, b), by_bytes = prune_bytes_upto(s, b, total);
        if (by_bytes > upto)
            upto = by_bytes;
        if (upto > 0) {
            uint64_t gone = bytes_upto(s, upto);
            st = s->stmt[ST_JOURNAL_PRUNE];
            sqlite3_bind_int64(st, 1, (sqlite3_int64)upto);
            rc = step_reset(st);
            if (rc != SQLITE_OK)
                return rc;
            *pruned_to = upto;
            total = gone < total ? total - gone : 0;
        }
    }
    /* Kept in meta, so a start does not read the whole journal to learn it. */
    if (b->nrecs > 0) {
        sqlite3_bind_int64(s->stmt[ST_META_JBYTES], 1, (sqlite3_int64)total);
        rc = step_reset(s->stmt[ST_META_JBYTES]);
        if (rc != SQLITE_OK)
            return rc;
    }
    *bytes_after = total;
    return step_reset(s->stmt[ST_COMMIT]);
}

static void process(hub_store_t *s, hub_batch_t *b)
{
    uint64_t t0 = hub_mono_us();
    uint64_t pruned_to, bytes_after = 0;
    int rc;

    s->file_err[0] = '\0';
    rc = write_batch(s, b, &pruned_to, &bytes_after);

    if (rc == SQLITE_OK) {
        b->rc = 0;
        b->err[0] = '\0';
        if (b->nrecs > 0 && s->journal_min_seq == 0)
            s->journal_min_seq = b->recs[0].seq;
        s->journal_bytes = bytes_after;
        if (s->m_journal_bytes != NULL)
            hub_metric_set(s->m_journal_bytes, (double)bytes_after);
        if (pruned_to > 0) {
            s->journal_min_seq = pruned_to + 1;
            hub_log(HUB_LOG_DEBUG, "store_journal_pruned", "{s:I}", "upto", (json_int_t)pruned_to);
        }
        if (s->m_commits != NULL) {
            hub_metric_inc(s->m_commits);
            hub_metric_observe(s->m_commit_s, (double)(hub_mono_us() - t0) / 1e6);
            hub_metric_set(s->m_batch_size, (double)b->nrecs);
        }
        return;
    }
    /* Copy the message before ROLLBACK replaces it. */
    b->rc = HUB_ESTORE;
    if (s->file_err[0] != '\0')
        snprintf(b->err, sizeof(b->err), "%.159s", s->file_err);
    else
        snprintf(b->err, sizeof(b->err), "%s", sqlite3_errmsg(s->db));
    s->file_err[0] = '\0';
    if (!sqlite3_get_autocommit(s->db))
        hub__exec(s->db, "ROLLBACK");
    hub_log(HUB_LOG_ERROR, "store_error", "{s:s,s:i,s:s,s:I,s:I}", "path", s->path, "code", rc,
            "error", b->err, "seq", (json_int_t)b->seq, "nrecs", (json_int_t)b->nrecs);
    if (s->m_errors != NULL) {
        hub_metric_inc(s->m_errors);
        hub_metric_set(s->m_batch_size, (double)b->nrecs);
    }
}

/* Runs on the loop thread: the batch is the engine's again. */
static void on_job_done(hub_msg_t *msg, void *ud)
{
    store_job_t *job = (store_job_t *)msg;
    hub_batch_t *b = job->batch;

    hub_free(job);
    b->done(b, b->done_ud);
}

static void *store_main(void *arg)
{
    hub_store_t *s = arg;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->head == NULL && !s->stopping)
            pthread_cond_wait(&s->cond, &s->lock);
        store_job_t *job = s->head;
        if (job == NULL)
            break; /* stopping and nothing left */
        s->head = job->next;
        if (s->head == NULL)
            s->tail = NULL;
        pthread_mutex_unlock(&s->lock);

        process(s, job->batch);
        job->msg.fn = on_job_done;
        hub_inbox_post(s->inbox, &job->msg);

        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void submit(void *ctx, hub_batch_t *batch)
{
    hub_store_t *s = ctx;
    store_job_t *job = hub_calloc(1, sizeof(*job));

    assert(s->started && !s->stopping);
    job->batch = batch;
    pthread_mutex_lock(&s->lock);
    if (s->tail != NULL)
        s->tail->next = job;
    else
        s->head = job;
    s->tail = job;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

int hub_store_start(hub_store_t *s, hub_inbox_t *inbox)
{
    char why[256];
    int err;

    assert(!s->started);
    s->inbox = inbox;
    if (hub__reader_new(&s->reader, s->path, inbox, why, sizeof(why)) != 0) {
        hub_log(HUB_LOG_ERROR, "store_reader_failed", "{s:s}", "error", why);
        return HUB_ESTORE;
    }
    err = pthread_create(&s->thread, NULL, store_main, s);
    if (err != 0) {
        hub_log(HUB_LOG_ERROR, "store_thread_failed", "{s:s}", "error", strerror(err));
        return -err;
    }
    s->started = 1;
    return 0;
}

const hub_persist_ops_t *hub_store_persist_ops(hub_store_t *s)
{
    return &s->ops;
}

void hub_store_read_journal(hub_store_t *s, uint64_t since, size_t limit, hub_journal_cb cb,
                            void *ud)
{
    hub__reader_read(s->reader, since, limit, cb, ud);
}

void hub_store_read_job(void *store, void (*fn)(void *ud, hub_db_t *db),
                        void (*done)(void *ud, int rc), void *ud)
{
    hub_store_t *s = store;
    hub__reader_job(s->reader, fn, done, ud);
}

void hub_store_close(hub_store_t *s)
{
    if (s == NULL)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = 1;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
        s->started = 0;
    }
    hub__reader_free(s->reader); /* answers what is still queued: shutting down */
    s->reader = NULL;
    hub__ckpt_free(s->ckpt); /* before the final checkpoint below takes its place */
    s->ckpt = NULL;
    /* Fold the WAL back so the directory holds one self-contained file. */
    if (sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
        hub_log(HUB_LOG_WARN, "store_checkpoint_failed", "{s:s,s:s}", "path", s->path, "error",
                sqlite3_errmsg(s->db));
    hub_log(HUB_LOG_INFO, "store_closed", "{s:s}", "path", s->path);
    store_free(s);
}
