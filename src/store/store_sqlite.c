/* store/store_sqlite.c - the SQLite store: schema, start-up load, writer thread.
 *
 * One connection, opened by hub_store_open() on the caller's thread, used for
 * the synchronous load, then handed to the store thread for good: after
 * hub_store_start() only that thread touches it (hence SQLITE_OPEN_NOMUTEX).
 * WAL checkpoints run on a second connection of their own (checkpoint.c).
 *
 * Each batch is one transaction: its journal rows, the state row, the
 * universes and fixtures that changed since the last commit, and journal
 * pruning. A batch is
 * reported committed (rc 0) only after COMMIT returned, so with WAL and
 * synchronous=NORMAL it survives a process kill, and with FULL also a power
 * loss. The journal doubles as the durable dedupe cache (docs/decisions/store.md).
 *
 * Threading: open/load/start/close on the loop (or main) thread; submit on the
 * loop thread; everything that runs SQL after start on the store thread.
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
#include "core/log.h"
#include "core/mem.h"
#include "store/checkpoint.h"

#define DB_NAME         "showhub.db"
#define SCHEMA_VERSION  1
#define BUSY_TIMEOUT_MS 5000
/* WAL frames before a background checkpoint (SQLite's own default), and the
 * size at which commits wait for one (~64 MB of 4 KiB pages). */
#define CKPT_FRAMES      1000
#define CKPT_HARD_FRAMES 16384
/* A WAL that grew under load is cut back to this when it restarts. */
#define WAL_SIZE_LIMIT "4194304"

/* A queued batch; after the commit the same allocation travels back to the
 * loop as the inbox message. */
typedef struct store_job {
    hub_msg_t msg;          /* first: the inbox hands us &msg */
    hub_batch_t *batch;     /* the engine's, borrowed until done */
    struct store_job *next; /* store queue link */
} store_job_t;

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_JOURNAL_INSERT,
    ST_STATE_UPSERT,
    ST_UNIVERSE_UPSERT,
    ST_UNIVERSE_COUNT,
    ST_UNIVERSE_DELETE,
    ST_FIXTURE_UPSERT,
    ST_FIXTURE_COUNT,
    ST_FIXTURE_DELETE,
    ST_JOURNAL_PRUNE,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_JOURNAL_INSERT] = "INSERT INTO journal(seq, cmd_id, src, r, g, b, ts_ms) "
                          "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_STATE_UPSERT] = "INSERT INTO state(id, seq, ts_ms) VALUES(1, ?1, ?2) "
                        "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, ts_ms = excluded.ts_ms",
    [ST_UNIVERSE_UPSERT] = "INSERT INTO universe(id, slots) VALUES(?1, ?2) "
                           "ON CONFLICT(id) DO UPDATE SET slots = excluded.slots",
    [ST_UNIVERSE_COUNT] = "SELECT count(*) FROM universe",
    [ST_UNIVERSE_DELETE] = "DELETE FROM universe WHERE id = ?1",
    [ST_FIXTURE_UPSERT] = "INSERT INTO fixture(name, universe, channel, nchannels) "
                          "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE SET "
                          "universe = excluded.universe, channel = excluded.channel, "
                          "nchannels = excluded.nchannels",
    [ST_FIXTURE_COUNT] = "SELECT count(*) FROM fixture",
    [ST_FIXTURE_DELETE] = "DELETE FROM fixture WHERE name = ?1",
    [ST_JOURNAL_PRUNE] = "DELETE FROM journal WHERE seq <= ?1",
};

struct hub_store {
    char *data_dir;
    char *path; /* <data_dir>/showhub.db */
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    int demo_universe;
    size_t dedupe_capacity;
    uint64_t dedupe_ttl_ms;
    uint64_t retention;       /* journal rows kept, >= dedupe_capacity */
    uint64_t journal_min_seq; /* oldest row's seq, 0 when empty (store thread) */
    hub_state_t saved;        /* universes and fixtures as last committed (store thread) */
    int saved_known;          /* saved matches the file (after our first commit) */
    hub__ckpt_t *ckpt;        /* background WAL checkpoints */
    hub_persist_ops_t ops;
    hub_inbox_t *inbox; /* completions go here; set by start */
    pthread_t thread;
    int started;
    pthread_mutex_t lock; /* guards head, tail, stopping */
    pthread_cond_t cond;
    store_job_t *head, *tail;
    int stopping;
    hub_metric_t *m_commits, *m_errors, *m_commit_s, *m_batch_size;
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

static int exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* The single integer a PRAGMA or count query returns; -1 on error. */
static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Version 1: the four tables. The seq order of journal rows is the order the
 * engine applied the commands; dedupe reads it newest first by primary key. */
static const char *const migration_v1 =
    "CREATE TABLE state(id INTEGER PRIMARY KEY CHECK(id = 1), seq INTEGER, ts_ms INTEGER);"
    "CREATE TABLE universe(id INTEGER PRIMARY KEY, slots BLOB NOT NULL);"
    "CREATE TABLE fixture(name TEXT PRIMARY KEY, universe INTEGER, channel INTEGER,"
    " nchannels INTEGER);"
    "CREATE TABLE journal(seq INTEGER PRIMARY KEY, cmd_id TEXT NOT NULL, src TEXT NOT NULL,"
    " r INTEGER, g INTEGER, b INTEGER, ts_ms INTEGER NOT NULL);";

static const char *const migrations[SCHEMA_VERSION + 1] = {
    [1] = migration_v1,
};

/* Bring the schema to SCHEMA_VERSION, one transaction per step. */
static int migrate(hub_store_t *s, char *err, size_t errlen)
{
    int64_t version = query_int(s->db, "PRAGMA user_version");

    if (version < 0) {
        snprintf(err, errlen, "cannot read the schema version of %s: %s", s->path,
                 sqlite3_errmsg(s->db));
        return HUB_ESTORE;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "database schema version %lld is newer than this showhub supports (%d); "
                 "upgrade showhub or use another DMX_DATA_DIR",
                 (long long)version, SCHEMA_VERSION);
        return HUB_ESTORE;
    }
    if (version == 0 && query_int(s->db, "SELECT count(*) FROM sqlite_master") > 0) {
        /* Someone else's SQLite file: creating our tables in it would mix data. */
        snprintf(err, errlen,
                 "%s is an SQLite database but not a showhub one (user_version 0 with "
                 "tables); move it away or use another DMX_DATA_DIR",
                 s->path);
        return HUB_ESTORE;
    }
    for (int64_t v = version + 1; v <= SCHEMA_VERSION; v++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)v);
        if (exec_sql(s->db, "BEGIN IMMEDIATE") != SQLITE_OK ||
            exec_sql(s->db, migrations[v]) != SQLITE_OK || exec_sql(s->db, sql) != SQLITE_OK ||
            exec_sql(s->db, "COMMIT") != SQLITE_OK) {
            snprintf(err, errlen, "cannot migrate %s to schema version %lld: %s", s->path,
                     (long long)v, sqlite3_errmsg(s->db));
            if (!sqlite3_get_autocommit(s->db))
                exec_sql(s->db, "ROLLBACK");
            return HUB_ESTORE;
        }
        hub_log(HUB_LOG_INFO, "store_migrated", "{s:s,s:I}", "path", s->path, "version",
                (json_int_t)v);
    }
    return 0;
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
    if (exec_sql(s->db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") !=
            SQLITE_OK ||
        exec_sql(s->db, "PRAGMA journal_size_limit=" WAL_SIZE_LIMIT) != SQLITE_OK) {
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
}

static void submit(void *ctx, hub_batch_t *batch);

static void store_free(hub_store_t *s)
{
    hub__ckpt_free(s->ckpt);
    s->ckpt = NULL;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
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
    s->demo_universe = cfg->demo_universe;
    s->dedupe_capacity = cfg->dedupe_capacity;
    s->dedupe_ttl_ms = cfg->dedupe_ttl_ms;
    s->retention = cfg->journal_retention > cfg->dedupe_capacity ? cfg->journal_retention
                                                                 : cfg->dedupe_capacity;
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
    rc = migrate(s, err, errlen);
    if (rc < 0)
        goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen,
                     "database %s does not match schema version %d (%s); move it "
                     "away or use another DMX_DATA_DIR",
                     s->path, SCHEMA_VERSION, sqlite3_errmsg(s->db));
            rc = HUB_ESTORE;
            goto fail;
        }
    }
    {
        int64_t min_seq = query_int(s->db, "SELECT coalesce(min(seq), 0) FROM journal");
        s->journal_min_seq = min_seq > 0 ? (uint64_t)min_seq : 0;
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

/* ---- load --------------------------------------------------------------- */

static hub_universe_t *find_or_add_universe(hub_state_t *st, int id)
{
    for (size_t i = 0; i < st->nuniverses; i++)
        if (st->universes[i].id == id)
            return &st->universes[i];
    if (st->nuniverses == HUB_MAX_UNIVERSES)
        return NULL;
    hub_universe_t *u = &st->universes[st->nuniverses++];
    memset(u, 0, sizeof(*u));
    u->id = id;
    return u;
}

static hub_fixture_t *find_or_add_fixture(hub_state_t *st, const char *name)
{
    for (size_t i = 0; i < st->nfixtures; i++)
        if (strcmp(st->fixtures[i].name, name) == 0)
            return &st->fixtures[i];
    if (st->nfixtures == HUB_MAX_FIXTURES)
        return NULL;
    hub_fixture_t *f = &st->fixtures[st->nfixtures++];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    return f;
}

/* Overlay the saved universes and fixtures on st (which holds the demo ones). */
static int load_rows(hub_store_t *s, hub_state_t *st)
{
    sqlite3_stmt *q;
    int rc;

    rc = sqlite3_prepare_v2(s->db, "SELECT id, slots FROM universe ORDER BY id", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int id = sqlite3_column_int(q, 0);
        const void *blob = sqlite3_column_blob(q, 1);
        int len = sqlite3_column_bytes(q, 1);
        if (len != HUB_DMX_SLOTS || blob == NULL) {
            hub_log(HUB_LOG_WARN, "store_bad_universe", "{s:i,s:i,s:s}", "universe", id, "bytes",
                    len, "action", "ignored");
            continue;
        }
        hub_universe_t *u = find_or_add_universe(st, id);
        if (u == NULL) {
            hub_log(HUB_LOG_WARN, "store_too_many_universes", "{s:i,s:i}", "universe", id, "max",
                    HUB_MAX_UNIVERSES);
            continue;
        }
        memcpy(u->slots, blob, HUB_DMX_SLOTS);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return rc;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT name, universe, channel, nchannels FROM fixture ORDER BY name",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        if (name == NULL || name[0] == '\0' || strlen(name) > HUB_FIXTURE_NAME_MAX) {
            hub_log(HUB_LOG_WARN, "store_bad_fixture", "{s:s,s:s}", "name", name ? name : "",
                    "action", "ignored");
            continue;
        }
        hub_fixture_t *f = find_or_add_fixture(st, name);
        if (f == NULL) {
            hub_log(HUB_LOG_WARN, "store_too_many_fixtures", "{s:s,s:i}", "name", name, "max",
                    HUB_MAX_FIXTURES);
            continue;
        }
        f->universe = sqlite3_column_int(q, 1);
        f->channel = sqlite3_column_int(q, 2);
        f->nchannels = sqlite3_column_int(q, 3);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
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
                            "SELECT cmd_id, ts_ms FROM (SELECT seq, cmd_id, ts_ms FROM journal "
                            "WHERE ts_ms >= ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq ASC",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)cutoff);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)cap);
    out->ids = hub_calloc(cap, sizeof(*out->ids));
    out->id_ts_ms = hub_calloc(cap, sizeof(*out->id_ts_ms));
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && out->nids < cap) {
        const char *id = (const char *)sqlite3_column_text(q, 0);
        if (id == NULL || strlen(id) != HUB_ULID_LEN)
            continue; /* not written by us: skip rather than hand the engine junk */
        memcpy(out->ids[out->nids], id, HUB_ULID_LEN + 1);
        out->id_ts_ms[out->nids] = (uint64_t)sqlite3_column_int64(q, 1);
        out->nids++;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int has_fixture(const hub_state_t *st, const char *name)
{
    for (size_t i = 0; i < st->nfixtures; i++)
        if (strcmp(st->fixtures[i].name, name) == 0)
            return 1;
    return 0;
}

int hub_store_load(hub_store_t *s, hub_restore_t *out, char *err, size_t errlen)
{
    sqlite3_stmt *q;
    int rc;

    assert(!s->started);
    memset(out, 0, sizeof(*out));
    /* The demo universe and fixture first, so the result always has them;
     * saved rows overlay (a saved "demo" fixture wins over the default). */
    hub_state_init(&out->state, s->demo_universe);

    rc = sqlite3_prepare_v2(s->db, "SELECT seq, ts_ms FROM state WHERE id = 1", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            out->found = 1;
            out->state.seq = (uint64_t)sqlite3_column_int64(q, 0);
            out->state.ts_ms = (uint64_t)sqlite3_column_int64(q, 1);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
        sqlite3_finalize(q);
    }
    if (rc == SQLITE_OK && out->found)
        rc = load_rows(s, &out->state);
    if (rc == SQLITE_OK)
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
    const hub_fixture_t *demo = hub_state_fixture(&out->state, "demo");
    assert(demo != NULL); /* hub_state_init made it; overlays only replace */
    if (demo != NULL && demo->universe != s->demo_universe)
        hub_log(HUB_LOG_WARN, "store_demo_universe", "{s:i,s:i,s:s}", "saved", demo->universe,
                "configured", s->demo_universe, "note",
                "the saved demo fixture is kept; DMX_OLA_UNIVERSE does not move it");
    hub_log(HUB_LOG_INFO, "store_loaded", "{s:b,s:I,s:i,s:i,s:I}", "found", out->found, "seq",
            (json_int_t)out->state.seq, "universes", (int)out->state.nuniverses, "fixtures",
            (int)out->state.nfixtures, "ids", (json_int_t)out->nids);
    return 0;
}

/* ---- the writer --------------------------------------------------------- */

static int step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int64_t step_count(sqlite3_stmt *st)
{
    int64_t n = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

/* Delete rows of table whose key is not in the state copy: the state is a
 * whole copy, so a removed universe or fixture must not come back. Only runs
 * when the row count says there is something to remove. */
static int prune_absent(hub_store_t *s, const hub_state_t *st, int universes)
{
    sqlite3_stmt *q, *del;
    int rc;

    rc = sqlite3_prepare_v2(
        s->db, universes ? "SELECT id FROM universe" : "SELECT name FROM fixture", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_prepare_v2(s->db,
                            universes ? "DELETE FROM universe WHERE id = ?1"
                                      : "DELETE FROM fixture WHERE name = ?1",
                            -1, &del, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(q);
        return rc;
    }
    /* Collect first: deleting from a table under an open scan of it is not
     * guaranteed to visit every row. */
    size_t n = 0, cap = 8;
    sqlite3_value **gone = hub_malloc(cap * sizeof(*gone));
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int keep = 0;
        if (universes) {
            int id = sqlite3_column_int(q, 0);
            for (size_t i = 0; i < st->nuniverses && !keep; i++)
                keep = st->universes[i].id == id;
        } else {
            const char *name = (const char *)sqlite3_column_text(q, 0);
            keep = name != NULL && has_fixture(st, name);
        }
        if (keep)
            continue;
        if (n == cap)
            gone = hub_realloc(gone, (cap *= 2) * sizeof(*gone));
        gone[n++] = sqlite3_value_dup(sqlite3_column_value(q, 0));
    }
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    for (size_t i = 0; i < n; i++) {
        if (rc == SQLITE_OK) {
            sqlite3_bind_value(del, 1, gone[i]);
            rc = step_reset(del);
        }
        sqlite3_value_free(gone[i]);
    }
    hub_free(gone);
    sqlite3_finalize(del);
    sqlite3_finalize(q);
    return rc;
}

/* Rows to delete so that the journal keeps retention rows; 0 for none. Prune
 * only once the excess reaches ~10% so a delete runs every retention/10
 * commands, not every batch. */
static uint64_t prune_upto(const hub_store_t *s, const hub_batch_t *b)
{
    uint64_t slack = s->retention / 10 > 0 ? s->retention / 10 : 1;
    uint64_t min_seq = s->journal_min_seq != 0 ? s->journal_min_seq : b->recs[0].seq;
    uint64_t max_seq = b->recs[b->nrecs - 1].seq;

    if (max_seq < min_seq || max_seq - min_seq + 1 <= s->retention + slack)
        return 0;
    return max_seq - s->retention;
}

static int put_universe(hub_store_t *s, const hub_universe_t *u)
{
    sqlite3_stmt *st = s->stmt[ST_UNIVERSE_UPSERT];
    sqlite3_bind_int(st, 1, u->id);
    sqlite3_bind_blob(st, 2, u->slots, HUB_DMX_SLOTS, SQLITE_STATIC);
    int rc = step_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int put_fixture(hub_store_t *s, const hub_fixture_t *f)
{
    sqlite3_stmt *st = s->stmt[ST_FIXTURE_UPSERT];
    sqlite3_bind_text(st, 1, f->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, f->universe);
    sqlite3_bind_int(st, 3, f->channel);
    sqlite3_bind_int(st, 4, f->nchannels);
    int rc = step_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Every universe and fixture of the state copy, and delete rows it lacks:
 * for the first commit, when we do not know what the file holds. */
static int write_all_rows(hub_store_t *s, const hub_state_t *st)
{
    int rc = SQLITE_OK;

    for (size_t i = 0; i < st->nuniverses && rc == SQLITE_OK; i++)
        rc = put_universe(s, &st->universes[i]);
    if (rc == SQLITE_OK && step_count(s->stmt[ST_UNIVERSE_COUNT]) != (int64_t)st->nuniverses)
        rc = prune_absent(s, st, 1);
    for (size_t i = 0; i < st->nfixtures && rc == SQLITE_OK; i++)
        rc = put_fixture(s, &st->fixtures[i]);
    if (rc == SQLITE_OK && step_count(s->stmt[ST_FIXTURE_COUNT]) != (int64_t)st->nfixtures)
        rc = prune_absent(s, st, 0);
    return rc;
}

static const hub_universe_t *find_universe(const hub_state_t *st, int id)
{
    for (size_t i = 0; i < st->nuniverses; i++)
        if (st->universes[i].id == id)
            return &st->universes[i];
    return NULL;
}

static const hub_fixture_t *find_fixture(const hub_state_t *st, const char *name)
{
    for (size_t i = 0; i < st->nfixtures; i++)
        if (strcmp(st->fixtures[i].name, name) == 0)
            return &st->fixtures[i];
    return NULL;
}

static int delete_key(sqlite3_stmt *st, int id, const char *name)
{
    if (name != NULL)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int(st, 1, id);
    int rc = step_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Only the rows that differ from the last commit: a colour change rewrites
 * one universe row, not every universe and fixture. */
static int write_changed_rows(hub_store_t *s, const hub_state_t *st)
{
    const hub_state_t *old = &s->saved;
    int rc = SQLITE_OK;

    for (size_t i = 0; i < st->nuniverses && rc == SQLITE_OK; i++) {
        const hub_universe_t *u = &st->universes[i], *was = find_universe(old, u->id);
        if (was == NULL || memcmp(was->slots, u->slots, HUB_DMX_SLOTS) != 0)
            rc = put_universe(s, u);
    }
    for (size_t i = 0; i < old->nuniverses && rc == SQLITE_OK; i++)
        if (find_universe(st, old->universes[i].id) == NULL)
            rc = delete_key(s->stmt[ST_UNIVERSE_DELETE], old->universes[i].id, NULL);
    for (size_t i = 0; i < st->nfixtures && rc == SQLITE_OK; i++) {
        const hub_fixture_t *f = &st->fixtures[i], *was = find_fixture(old, f->name);
        if (was == NULL || was->universe != f->universe || was->channel != f->channel ||
            was->nchannels != f->nchannels)
            rc = put_fixture(s, f);
    }
    for (size_t i = 0; i < old->nfixtures && rc == SQLITE_OK; i++)
        if (find_fixture(st, old->fixtures[i].name) == NULL)
            rc = delete_key(s->stmt[ST_FIXTURE_DELETE], 0, old->fixtures[i].name);
    return rc;
}

static int write_batch(hub_store_t *s, const hub_batch_t *b, uint64_t *pruned_to)
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
        sqlite3_bind_text(st, 2, r->cmd_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->src, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, r->rgb[0]);
        sqlite3_bind_int(st, 5, r->rgb[1]);
        sqlite3_bind_int(st, 6, r->rgb[2]);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)r->ts_ms);
        rc = step_reset(st);
    }
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_OK)
        return rc;

    st = s->stmt[ST_STATE_UPSERT];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)b->state.seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)b->state.ts_ms);
    rc = step_reset(st);
    if (rc == SQLITE_OK)
        rc = s->saved_known ? write_changed_rows(s, &b->state) : write_all_rows(s, &b->state);
    if (rc != SQLITE_OK)
        return rc;

    /* Pruning rides in the same transaction: one fsync per batch. */
    if (b->nrecs > 0) {
        uint64_t upto = prune_upto(s, b);
        if (upto > 0) {
            st = s->stmt[ST_JOURNAL_PRUNE];
            sqlite3_bind_int64(st, 1, (sqlite3_int64)upto);
            rc = step_reset(st);
            if (rc != SQLITE_OK)
                return rc;
            *pruned_to = upto;
        }
    }
    return step_reset(s->stmt[ST_COMMIT]);
}

static void process(hub_store_t *s, hub_batch_t *b)
{
    uint64_t t0 = hub_mono_us();
    uint64_t pruned_to;
    int rc = write_batch(s, b, &pruned_to);

    if (rc == SQLITE_OK) {
        b->rc = 0;
        b->err[0] = '\0';
        hub_state_copy(&s->saved, &b->state); /* what the file holds now */
        s->saved_known = 1;
        if (b->nrecs > 0 && s->journal_min_seq == 0)
            s->journal_min_seq = b->recs[0].seq;
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
    snprintf(b->err, sizeof(b->err), "%s", sqlite3_errmsg(s->db));
    if (!sqlite3_get_autocommit(s->db))
        exec_sql(s->db, "ROLLBACK");
    hub_log(HUB_LOG_ERROR, "store_error", "{s:s,s:i,s:s,s:I,s:I}", "path", s->path, "code", rc,
            "error", b->err, "seq", (json_int_t)b->state.seq, "nrecs", (json_int_t)b->nrecs);
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
    int err;

    assert(!s->started);
    s->inbox = inbox;
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
    hub__ckpt_free(s->ckpt); /* before the final checkpoint below takes its place */
    s->ckpt = NULL;
    /* Fold the WAL back so the directory holds one self-contained file. */
    if (sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
        hub_log(HUB_LOG_WARN, "store_checkpoint_failed", "{s:s,s:s}", "path", s->path, "error",
                sqlite3_errmsg(s->db));
    hub_log(HUB_LOG_INFO, "store_closed", "{s:s}", "path", s->path);
    store_free(s);
}
