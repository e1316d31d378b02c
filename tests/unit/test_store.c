/* tests/unit/test_store.c - the SQLite store against real files in /tmp.
 *
 * Batches go through the real persist ops and come back through a real
 * hub_inbox on a uv loop, as in the daemon; journal reads come back the same
 * way from the reader thread. Each test uses its own mkdtemp directory and
 * removes it afterwards; every wait is bounded.
 *
 * A small domain ("test": one table, two schema steps, a load) stands in for
 * dmx, so the store is tested without any domain of the product. The
 * statement-cache checks look into store/store_int.h: reuse of a prepared
 * statement is not visible through the public API.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/inbox.h"
#include "core/log.h"
#include "core/metrics.h"
#include "engine/batch.h"
#include "engine/domain.h"
#include "store/store.h"
#include "store/store_int.h"

#define WAIT_MS 10000 /* bound on every wait for a thread (ASan builds are slow) */

/* ---- fixtures ----------------------------------------------------------- */

typedef struct env {
    char dir[64];       /* mkdtemp result */
    char data_dir[128]; /* dir/data/nested (created by the store) */
    char db_path[160];
    hub_store_cfg_t cfg;
    uv_loop_t loop;
    hub_inbox_t *inbox;
    hub_metrics_t *metrics;
} env_t;

typedef struct done_log {
    int n;                  /* completions seen */
    hub_batch_t *order[16]; /* in completion order */
} done_log_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/test_store-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->data_dir, sizeof(e->data_dir), "%s/data/nested", e->dir);
    snprintf(e->db_path, sizeof(e->db_path), "%s/showhub.db", e->data_dir);
    e->cfg.data_dir = e->data_dir;
    e->cfg.sync_full = false;
    e->cfg.journal_retention = 1000;
    e->cfg.dedupe_capacity = 100;
    e->cfg.dedupe_ttl_ms = 900000;
    assert_int_equal(uv_loop_init(&e->loop), 0);
    assert_int_equal(hub_inbox_new(&e->inbox, &e->loop, NULL), 0);
    e->metrics = hub_metrics_new();
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env_t *e = *state;
    hub_inbox_close(e->inbox);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&e->loop); /* every handle closed */
    hub_metrics_free(e->metrics);
    nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(e);
    assert_int_equal(rc, 0);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Run the loop until *count reaches want; bounded by WAIT_MS. */
static void pump(env_t *e, const int *count, int want)
{
    for (int i = 0; i < WAIT_MS && *count < want; i++) {
        uv_run(&e->loop, UV_RUN_NOWAIT);
        if (*count < want)
            sleep_ms(1);
    }
    assert_int_equal(*count, want);
}

/* ---- the test domain ------------------------------------------------------ */

typedef struct item {
    char name[32];
    int64_t value;
    int has_data; /* data was not NULL */
    uint8_t data[16];
    size_t ndata;
    char note[32];
} item_t;

typedef struct tdom {
    int step2_runs;   /* the fn step ran */
    int step2_saw;    /* has_table: 1 for test_item, 0 for a missing table */
    int fail_step2;   /* make the fn step fail after changing the schema */
    int fail_load;    /* make load fail */
    int loads;        /* load ran */
    item_t items[64]; /* what load read, by name */
    size_t nitems;
} tdom_t;

static int tdom_step2(void *ctx, hub_db_t *db, char *err, size_t errlen)
{
    tdom_t *t = ctx;
    int rc;

    t->step2_runs++;
    t->step2_saw = db->has_table(db, "test_item") && !db->has_table(db, "test_nothing");
    rc = db->exec(db,
                  "ALTER TABLE test_item ADD COLUMN note TEXT;"
                  "INSERT INTO test_item(name, value, note) VALUES('seed', 1, 'from step 2');",
                  err, errlen);
    if (rc == 0 && t->fail_step2) {
        snprintf(err, errlen, "step 2 refused on purpose");
        return HUB_ESTORE;
    }
    return rc;
}

static int tdom_row(void *ud, const hub_val_t *cols, int ncols)
{
    tdom_t *t = ud;
    item_t *it;

    if (ncols != 4 || t->nitems == sizeof(t->items) / sizeof(t->items[0]))
        return 1;
    it = &t->items[t->nitems++];
    memset(it, 0, sizeof(*it));
    if (cols[0].type == HUB_VAL_TEXT)
        snprintf(it->name, sizeof(it->name), "%.*s", (int)cols[0].n, (const char *)cols[0].p);
    it->value = cols[1].type == HUB_VAL_INT ? cols[1].i : -999;
    if (cols[2].type == HUB_VAL_BLOB && cols[2].n <= sizeof(it->data)) {
        it->has_data = 1;
        memcpy(it->data, cols[2].p, cols[2].n);
        it->ndata = cols[2].n;
    }
    if (cols[3].type == HUB_VAL_TEXT)
        snprintf(it->note, sizeof(it->note), "%.*s", (int)cols[3].n, (const char *)cols[3].p);
    return 0;
}

static int tdom_load(void *ctx, hub_db_t *db, char *err, size_t errlen)
{
    tdom_t *t = ctx;
    hub_val_t min = HUB_VAL_I(0);

    t->loads++;
    t->nitems = 0;
    if (t->fail_load) {
        snprintf(err, errlen, "load refused on purpose");
        return HUB_ESTORE;
    }
    return db->query(db,
                     "SELECT name, value, data, note FROM test_item WHERE value >= ?1 "
                     "ORDER BY name",
                     &min, 1, tdom_row, t, err, errlen);
}

static const hub_migration_t tdom_migrations[] = {
    {.sql = "CREATE TABLE test_item(name TEXT PRIMARY KEY,"
            " value INTEGER NOT NULL CHECK(value >= 0), data BLOB)"},
    {.fn = tdom_step2},
};

static const hub_domain_def_t tdom_def = {
    .name = "test",
    .migrations = tdom_migrations,
    .nmigrations = 2,
    .load = tdom_load,
};

/* The same domain as an older showhub knew it: only its first step. */
static const hub_domain_def_t tdom_def_v1 = {
    .name = "test",
    .migrations = tdom_migrations,
    .nmigrations = 1,
    .load = tdom_load,
};

/* A second domain: its version is kept apart from test's. */
static const hub_migration_t other_migrations[] = {
    {.sql = "CREATE TABLE other_thing(id INTEGER PRIMARY KEY)"},
};
static const hub_domain_def_t other_def = {
    .name = "other",
    .migrations = other_migrations,
    .nmigrations = 1,
};

static const item_t *tdom_item(const tdom_t *t, const char *name)
{
    for (size_t i = 0; i < t->nitems; i++)
        if (strcmp(t->items[i].name, name) == 0)
            return &t->items[i];
    return NULL;
}

/* The domain's statements (static: the store caches them by address). */
static const hub_stmt_t st_upsert = {
    "INSERT INTO test_item(name, value, data) VALUES(?1, ?2, ?3) ON CONFLICT(name) DO UPDATE "
    "SET value = excluded.value, data = excluded.data",
    3};
static const hub_stmt_t st_delete = {"DELETE FROM test_item WHERE name = ?1", 1};
static const hub_stmt_t st_bump = {"UPDATE test_item SET value = value + ?2 WHERE name = ?1", 2};
static const hub_stmt_t st_missing = {"INSERT INTO test_no_such_table(x) VALUES(?1)", 1};

/* The prepared form the store holds for k, or NULL (see the file comment). */
static sqlite3_stmt *cached(const hub_store_t *s, const hub_stmt_t *k)
{
    for (size_t i = 0; i < s->capcache; i++)
        if (s->cache[i].key == k)
            return s->cache[i].st;
    return NULL;
}

/* ---- batches ---------------------------------------------------------------- */

#define TB_ROWS 96

/* A batch plus the texts and values it points to (which the store borrows). */
typedef struct tb {
    hub_batch_t *b;
    char (*ids)[HUB_REQ_ID_MAX + 8];
    char (*payloads)[64];
    char (*patches)[96];
    hub_row_t rows[TB_ROWS];
    hub_val_t vals[TB_ROWS][3];
    char keys[TB_ROWS][48];
    char names[TB_ROWS][32];
    uint8_t blobs[TB_ROWS][16];
    size_t nrows;
} tb_t;

static void on_done(hub_batch_t *b, void *ud)
{
    done_log_t *d = ud;
    if (d->n < 16)
        d->order[d->n] = b;
    d->n++;
}

/* A batch of n records from first_seq at ts_ms; ids derived from the seq. */
static tb_t *tb_new(uint64_t first_seq, size_t n, uint64_t ts_ms, done_log_t *d)
{
    tb_t *t = calloc(1, sizeof(*t));
    size_t cap = n ? n : 1;

    t->ids = calloc(cap, sizeof(*t->ids));
    t->payloads = calloc(cap, sizeof(*t->payloads));
    t->patches = calloc(cap, sizeof(*t->patches));
    t->b = hub_batch_new();
    for (size_t i = 0; i < n; i++) {
        hub_journal_rec_t *r = hub_batch_add_rec(t->b);
        uint64_t seq = first_seq + i;
        snprintf(t->ids[i], sizeof(t->ids[i]), "01ARZ3NDEKTSV4RRFFQ%07llu",
                 (unsigned long long)seq);
        snprintf(t->payloads[i], sizeof(t->payloads[i]), "{\"n\":%llu}", (unsigned long long)seq);
        snprintf(t->patches[i], sizeof(t->patches[i]), "[{\"path\":\"test.n\",\"value\":%llu}]",
                 (unsigned long long)seq);
        r->seq = seq;
        r->ts_ms = ts_ms;
        r->req_id = t->ids[i];
        r->src = "test";
        r->name = "test.set";
        r->payload = t->payloads[i];
        r->payload_len = strlen(t->payloads[i]);
        r->patches = t->patches[i];
        r->patches_len = strlen(t->patches[i]);
        r->rooms = "test";
    }
    t->b->seq = n ? first_seq + n - 1 : 0;
    t->b->ts_ms = ts_ms;
    t->b->rc = 12345; /* the store must overwrite it */
    t->b->done = on_done;
    t->b->done_ud = d;
    return t;
}

static void tb_free(tb_t *t)
{
    if (t == NULL)
        return;
    hub_batch_free(t->b);
    free(t->ids);
    free(t->payloads);
    free(t->patches);
    free(t);
}

/* Append a row of stmt; key NULL: never replaced. Returns its values. */
static hub_val_t *tb_row(tb_t *t, const hub_stmt_t *stmt, const char *key)
{
    assert_true(t->nrows < TB_ROWS);
    size_t i = t->nrows++;
    hub_row_t *row = &t->rows[i];
    row->stmt = stmt;
    if (key != NULL) {
        snprintf(t->keys[i], sizeof(t->keys[i]), "%s", key);
        row->key = t->keys[i];
    }
    row->vals = t->vals[i];
    hub_batch_add_row(t->b, row);
    return t->vals[i];
}

static const char *tb_name(tb_t *t, const char *name)
{
    size_t i = t->nrows - 1;
    snprintf(t->names[i], sizeof(t->names[i]), "%s", name);
    return t->names[i];
}

static void tb_upsert_data(tb_t *t, const char *name, int64_t value, const void *data, size_t n)
{
    char key[48];
    snprintf(key, sizeof(key), "item:%s", name);
    hub_val_t *v = tb_row(t, &st_upsert, key);
    const char *nm = tb_name(t, name);
    v[0] = HUB_VAL_S(nm, strlen(nm));
    v[1] = HUB_VAL_I(value);
    if (data != NULL) {
        assert_true(n <= sizeof(t->blobs[0]));
        memcpy(t->blobs[t->nrows - 1], data, n);
        v[2] = HUB_VAL_B(t->blobs[t->nrows - 1], n);
    } else {
        v[2] = HUB_VAL_NONE;
    }
}

static void tb_upsert(tb_t *t, const char *name, int64_t value)
{
    tb_upsert_data(t, name, value, NULL, 0);
}

static void tb_delete(tb_t *t, const char *name)
{
    char key[48];
    snprintf(key, sizeof(key), "item:%s", name);
    hub_val_t *v = tb_row(t, &st_delete, key);
    const char *nm = tb_name(t, name);
    v[0] = HUB_VAL_S(nm, strlen(nm));
}

/* Unkeyed: value += by (never replaced by a later row). */
static void tb_bump(tb_t *t, const char *name, int64_t by)
{
    hub_val_t *v = tb_row(t, &st_bump, NULL);
    const char *nm = tb_name(t, name);
    v[0] = HUB_VAL_S(nm, strlen(nm));
    v[1] = HUB_VAL_I(by);
}

/* ---- store helpers ---------------------------------------------------------- */

static hub_store_t *open_ok(env_t *e)
{
    hub_store_t *s = NULL;
    char err[512] = "";
    int rc = hub_store_open(&s, &e->cfg, e->metrics, err, sizeof(err));
    if (rc != 0)
        fail_msg("open: %s", err);
    return s;
}

static int open_fails(env_t *e, char *err, size_t n)
{
    hub_store_t *s = NULL;
    int rc = hub_store_open(&s, &e->cfg, NULL, err, n);
    assert_null(s);
    assert_true(rc < 0);
    return rc;
}

static void attach_ok(hub_store_t *s, const hub_domain_def_t *def, void *ctx)
{
    char err[512] = "";
    if (hub_store_attach(s, def, ctx, err, sizeof(err)) != 0)
        fail_msg("attach %s: %s", def->name, err);
}

static void load_ok(hub_store_t *s, hub_restore_t *r)
{
    char err[512] = "";
    if (hub_store_load(s, r, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
}

/* Open, attach the test domain (if t), load (discarding what is restored),
 * start. */
static hub_store_t *start_ok(env_t *e, tdom_t *t)
{
    hub_store_t *s = open_ok(e);
    hub_restore_t r;
    if (t != NULL)
        attach_ok(s, &tdom_def, t);
    load_ok(s, &r);
    hub_restore_free(&r);
    assert_int_equal(hub_store_start(s, e->inbox), 0);
    return s;
}

/* Submit and wait for its completion; returns its rc. */
static int commit(env_t *e, hub_store_t *s, tb_t *t)
{
    const hub_persist_ops_t *ops = hub_store_persist_ops(s);
    done_log_t *d = t->b->done_ud;
    int before = d->n;
    ops->submit(ops->ctx, t->b);
    pump(e, &d->n, before + 1);
    if (before < 16)
        assert_ptr_equal(d->order[before], t->b);
    return t->b->rc;
}

/* Open (with the test domain), start, commit the batches in order, close. */
static void write_batches(env_t *e, tb_t **ts, int n)
{
    tdom_t dom = {0};
    hub_store_t *s = start_ok(e, &dom);
    for (int i = 0; i < n; i++)
        if (commit(e, s, ts[i]) != 0)
            fail_msg("batch %d: %s", i, ts[i]->b->err);
    hub_store_close(s);
}

static sqlite3 *sql_open(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    return db;
}

static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = sql_open(path);
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The first column of the first row as text ("<null>" for NULL, "" for no row). */
static void sql_text(const char *path, const char *sql, char *out, size_t n)
{
    sqlite3 *db = sql_open(path);
    sqlite3_stmt *st;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, n, "%s", t ? (const char *)t : "<null>");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = sql_open(path);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

static void make_data_dir(env_t *e)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", e->data_dir);
    assert_int_equal(system(cmd), 0);
}

static int64_t meta_seq(const char *path)
{
    return sql_int(path, "SELECT value FROM meta WHERE key = 'seq'");
}

static int has_metric(hub_metrics_t *m, const char *line)
{
    size_t len;
    char *text = hub_metrics_render(m, &len);
    int found = strstr(text, line) != NULL;
    free(text);
    return found;
}

/* ---- journal pages ---------------------------------------------------------- */

typedef struct pages {
    int n;
    hub_journal_page_t *p[32];
} pages_t;

static void on_page(hub_journal_page_t *p, void *ud)
{
    pages_t *ps = ud;
    if (ps->n < 32)
        ps->p[ps->n] = p;
    else
        hub_journal_page_free(p);
    ps->n++;
}

static void pages_free(pages_t *ps)
{
    for (int i = 0; i < ps->n && i < 32; i++)
        hub_journal_page_free(ps->p[i]);
    ps->n = 0;
}

/* One page, read through the reader thread and the inbox. */
static hub_journal_page_t *read_page(env_t *e, hub_store_t *s, uint64_t since, size_t limit)
{
    pages_t ps = {0};
    hub_store_read_journal(s, since, limit, on_page, &ps);
    pump(e, &ps.n, 1);
    return ps.p[0];
}

/* ---- tests: opening and the store's schema --------------------------------- */

static void test_new_db_created_at_version_2(void **state)
{
    env_t *e = *state;
    hub_restore_t r;
    struct stat sb;
    char mode[16];

    hub_store_t *s = open_ok(e);
    assert_int_equal(stat(e->data_dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0755);
    load_ok(s, &r);
    assert_int_equal(r.found, 0);
    assert_int_equal(r.seq, 0);
    assert_int_equal(r.ts_ms, 0);
    assert_int_equal(r.nids, 0);
    hub_restore_free(&r);
    hub_store_close(s); /* never started: just closes */

    assert_int_equal(sql_int(e->db_path, "PRAGMA user_version"), 2);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM sqlite_master WHERE type='table' "
                                         "AND name IN ('meta','journal','domain_schema')"),
                     3);
    /* The store knows no domain's tables; seed 000's are gone (renamed for
     * dmx's first step, empty here). */
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM sqlite_master WHERE type='table' "
                                         "AND name IN ('state','universe','fixture','journal_v1')"),
                     0);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM pragma_table_info('journal') WHERE "
                                         "name IN ('seq','req_id','src','name','payload',"
                                         "'patches','rooms','ts_ms')"),
                     8);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM meta"), 0);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM domain_schema"), 0);
    sql_text(e->db_path, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");

    /* Reopening an existing version-2 database changes nothing. */
    s = open_ok(e);
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "PRAGMA user_version"), 2);
}

/* Seed 000's layout (user_version 1), built by hand as seed 000 left it. */
static void test_seed000_db_migrates_to_version_2(void **state)
{
    env_t *e = *state;
    uint64_t now = hub_wall_ms();
    char sql[2048], text[256];
    hub_restore_t r;

    make_data_dir(e);
    snprintf(
        sql, sizeof(sql),
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE state(id INTEGER PRIMARY KEY CHECK(id = 1), seq INTEGER, ts_ms INTEGER);"
        "CREATE TABLE universe(id INTEGER PRIMARY KEY, slots BLOB NOT NULL);"
        "CREATE TABLE fixture(name TEXT PRIMARY KEY, universe INTEGER, channel INTEGER,"
        " nchannels INTEGER);"
        "CREATE TABLE journal(seq INTEGER PRIMARY KEY, cmd_id TEXT NOT NULL, src TEXT NOT NULL,"
        " r INTEGER, g INTEGER, b INTEGER, ts_ms INTEGER NOT NULL);"
        "PRAGMA user_version = 1;"
        "INSERT INTO state VALUES(1, 3, %llu);"
        "INSERT INTO universe VALUES(1, x'0a141e');"
        "INSERT INTO fixture VALUES('demo', 1, 1, 3), ('wash', 1, 20, 4);"
        "INSERT INTO journal VALUES(1, '01ARZ3NDEKTSV4RRFFQ69G5FA1', 'mqtt', 10, 20, 30, %llu),"
        " (2, '01ARZ3NDEKTSV4RRFFQ69G5FA2', 'ui', 0, 0, 0, %llu),"
        " (3, '01ARZ3NDEKTSV4RRFFQ69G5FA3', 'api', 255, 128, 7, %llu);",
        (unsigned long long)now, (unsigned long long)(now - 2000), (unsigned long long)(now - 1000),
        (unsigned long long)now);
    sql_exec(e->db_path, sql);

    hub_store_t *s = open_ok(e);
    load_ok(s, &r);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.seq, 3);
    assert_int_equal(r.ts_ms, now);
    assert_int_equal(r.nids, 3);
    assert_string_equal(r.ids[0].id, "01ARZ3NDEKTSV4RRFFQ69G5FA1");
    assert_int_equal(r.ids[0].seq, 1);
    assert_int_equal(r.ids[0].ts_ms, now - 2000);
    assert_string_equal(r.ids[2].id, "01ARZ3NDEKTSV4RRFFQ69G5FA3");
    hub_restore_free(&r);
    assert_int_equal(hub_store_start(s, e->inbox), 0);

    /* The converted journal, read back as clients will. */
    hub_journal_page_t *p = read_page(e, s, 0, 10);
    assert_int_equal(p->rc, 0);
    assert_int_equal(p->oldest, 1);
    assert_int_equal(p->n, 3);
    assert_int_equal(p->entries[0].seq, 1);
    assert_string_equal(p->entries[0].req_id, "01ARZ3NDEKTSV4RRFFQ69G5FA1");
    assert_string_equal(p->entries[0].src, "mqtt");
    assert_string_equal(p->entries[0].name, "fixture.set_values");
    assert_string_equal(p->entries[0].payload,
                        "{\"fixture\":\"demo\",\"values\":{\"red\":10,\"green\":20,\"blue\":30}}");
    assert_null(p->entries[0].patches);
    assert_string_equal(p->entries[0].rooms, "dmx");
    assert_int_equal(p->entries[0].ts_ms, now - 2000);
    assert_string_equal(p->entries[2].payload,
                        "{\"fixture\":\"demo\",\"values\":{\"red\":255,\"green\":128,\"blue\":7}}");
    assert_string_equal(p->entries[2].src, "api");
    hub_journal_page_free(p);

    /* New records go on after the imported ones. */
    done_log_t d = {0};
    tb_t *t = tb_new(4, 1, now, &d);
    assert_int_equal(commit(e, s, t), 0);
    hub_store_close(s);
    tb_free(t);

    assert_int_equal(sql_int(e->db_path, "PRAGMA user_version"), 2);
    assert_int_equal(meta_seq(e->db_path), 4);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 4);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal WHERE name = "
                                         "'fixture.set_values' AND patches IS NULL AND rooms = "
                                         "'dmx'"),
                     3);
    sql_text(e->db_path,
             "SELECT group_concat(src || '=' || req_id, ' ') FROM journal WHERE seq < 4", text,
             sizeof(text));
    assert_string_equal(text, "mqtt=01ARZ3NDEKTSV4RRFFQ69G5FA1 ui=01ARZ3NDEKTSV4RRFFQ69G5FA2 "
                              "api=01ARZ3NDEKTSV4RRFFQ69G5FA3");
    /* Seed 000's rows wait in legacy_* for the dmx domain's first step. */
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM sqlite_master WHERE type='table' "
                                         "AND name IN ('state','universe','fixture','journal_v1')"),
                     0);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM legacy_fixture"), 2);
    assert_int_equal(sql_int(e->db_path, "SELECT channel FROM legacy_fixture WHERE name='wash'"),
                     20);
    sql_text(e->db_path, "SELECT hex(slots) FROM legacy_universe WHERE id = 1", text, sizeof(text));
    assert_string_equal(text, "0A141E");
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM domain_schema"), 0);
}

static void test_newer_schema_refused(void **state)
{
    env_t *e = *state;
    char err[512] = "";
    hub_store_close(open_ok(e));
    sql_exec(e->db_path, "PRAGMA user_version = 99");
    assert_int_equal(open_fails(e, err, sizeof(err)), HUB_ESTORE);
    assert_non_null(strstr(err, "schema version 99 is newer than this showhub supports (2)"));
    assert_non_null(strstr(err, "upgrade showhub or use another DMX_DATA_DIR"));
    if (strstr(err, e->db_path) == NULL)
        fail_msg("the message does not name the file: %s", err);
    assert_int_equal(sql_int(e->db_path, "PRAGMA user_version"), 99); /* untouched */
}

static void test_garbage_file_refused(void **state)
{
    env_t *e = *state;
    char err[512] = "";
    make_data_dir(e);
    FILE *f = fopen(e->db_path, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an sqlite database\n", f);
    fclose(f);
    assert_true(open_fails(e, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, e->db_path));
    assert_non_null(strstr(err, "not a usable showhub database"));
    assert_non_null(strstr(err, "move it away"));
}

static void test_foreign_sqlite_db_refused(void **state)
{
    env_t *e = *state;
    char err[512] = "";
    make_data_dir(e);
    sql_exec(e->db_path, "CREATE TABLE photos(id INTEGER PRIMARY KEY)");
    assert_int_equal(open_fails(e, err, sizeof(err)), HUB_ESTORE);
    assert_non_null(strstr(err, e->db_path));
    assert_non_null(strstr(err, "not a showhub one"));
    assert_non_null(strstr(err, "move it away or use another DMX_DATA_DIR"));
    /* Nothing of ours was created in it. */
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM sqlite_master"), 1);
    assert_int_equal(sql_int(e->db_path, "PRAGMA user_version"), 0);
}

static void test_unusable_data_dir(void **state)
{
    env_t *e = *state;
    char err[512] = "";
    char file[128], dir[160];
    snprintf(file, sizeof(file), "%s/plainfile", e->dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(dir, sizeof(dir), "%s/sub/dir", file);
    e->cfg.data_dir = dir;
    assert_int_equal(open_fails(e, err, sizeof(err)), -ENOTDIR);
    assert_non_null(strstr(err, "cannot create data directory"));
    assert_non_null(strstr(err, dir));
    assert_non_null(strstr(err, "DMX_DATA_DIR"));

    e->cfg.data_dir = "";
    assert_int_equal(open_fails(e, err, sizeof(err)), HUB_EINVAL);
    assert_non_null(strstr(err, "DMX_DATA_DIR"));
}

/* ---- tests: domains ---------------------------------------------------------- */

static void test_domain_attach_migrates_and_loads(void **state)
{
    env_t *e = *state;
    tdom_t t = {0}, o = {0};

    hub_store_t *s = open_ok(e);
    attach_ok(s, &tdom_def, &t);
    attach_ok(s, &other_def, &o);
    assert_int_equal(t.step2_runs, 1);
    assert_int_equal(t.step2_saw, 1);
    assert_int_equal(t.loads, 1);
    /* Step 2 (fn) ran after step 1 (sql) and load read what it wrote. */
    assert_int_equal(t.nitems, 1);
    assert_string_equal(t.items[0].name, "seed");
    assert_int_equal(t.items[0].value, 1);
    assert_int_equal(t.items[0].has_data, 0);
    assert_string_equal(t.items[0].note, "from step 2");
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT version FROM domain_schema WHERE domain='test'"),
                     2);
    assert_int_equal(sql_int(e->db_path, "SELECT version FROM domain_schema WHERE domain='other'"),
                     1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM other_thing"), 0);

    /* Up to date: no step runs again, load does. */
    memset(&t, 0, sizeof(t));
    s = open_ok(e);
    attach_ok(s, &tdom_def, &t);
    assert_int_equal(t.step2_runs, 0);
    assert_int_equal(t.loads, 1);
    assert_int_equal(t.nitems, 1);
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM test_item"), 1);
}

/* A step that fails rolls back with its version bump; load does not run; the
 * next attach runs the step again. */
static void test_domain_step_failure_rolls_back(void **state)
{
    env_t *e = *state;
    tdom_t t = {.fail_step2 = 1};
    char err[512] = "";

    hub_store_t *s = open_ok(e);
    assert_int_equal(hub_store_attach(s, &tdom_def, &t, err, sizeof(err)), HUB_ESTORE);
    assert_non_null(strstr(err, "cannot migrate the test tables of"));
    assert_non_null(strstr(err, e->db_path));
    assert_non_null(strstr(err, "to version 2"));
    assert_non_null(strstr(err, "step 2 refused on purpose"));
    assert_int_equal(t.step2_runs, 1);
    assert_int_equal(t.loads, 0);
    hub_store_close(s);
    /* Step 1 committed; step 2's ALTER and INSERT did not. */
    assert_int_equal(sql_int(e->db_path, "SELECT version FROM domain_schema WHERE domain='test'"),
                     1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM pragma_table_info('test_item') "
                                         "WHERE name = 'note'"),
                     0);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM test_item"), 0);

    memset(&t, 0, sizeof(t));
    s = open_ok(e);
    attach_ok(s, &tdom_def, &t);
    assert_int_equal(t.step2_runs, 1);
    assert_int_equal(t.nitems, 1);
    hub_store_close(s);

    /* A load that fails is reported with the domain, the file, and what to do. */
    memset(&t, 0, sizeof(t));
    t.fail_load = 1;
    s = open_ok(e);
    assert_int_equal(hub_store_attach(s, &tdom_def, &t, err, sizeof(err)), HUB_ESTORE);
    assert_non_null(strstr(err, "cannot read the test state from"));
    assert_non_null(strstr(err, e->db_path));
    assert_non_null(strstr(err, "load refused on purpose"));
    assert_non_null(strstr(err, "move the file away"));
    hub_store_close(s);
}

static void test_domain_newer_schema_refused(void **state)
{
    env_t *e = *state;
    tdom_t t = {0};
    char err[512] = "";

    hub_store_t *s = open_ok(e);
    attach_ok(s, &tdom_def, &t);
    hub_store_close(s);

    memset(&t, 0, sizeof(t));
    s = open_ok(e);
    assert_int_equal(hub_store_attach(s, &tdom_def_v1, &t, err, sizeof(err)), HUB_ESTORE);
    assert_non_null(strstr(err, "the test tables in"));
    assert_non_null(strstr(err, e->db_path));
    assert_non_null(strstr(err, "schema version 2, newer than this showhub supports (1)"));
    assert_non_null(strstr(err, "upgrade showhub or use another DMX_DATA_DIR"));
    assert_int_equal(t.loads, 0);
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT version FROM domain_schema WHERE domain='test'"),
                     2);
}

/* A domain's rows written by batches, and read back by its load after a
 * reopen; the statements are prepared once and reused by later batches. */
static void test_domain_rows_roundtrip(void **state)
{
    env_t *e = *state;
    tdom_t t = {0};
    done_log_t d = {0};
    uint64_t now = hub_wall_ms();
    static const uint8_t blob[] = {1, 0, 2, 0, 255};

    hub_store_t *s = start_ok(e, &t);
    tb_t *b1 = tb_new(1, 2, now, &d);
    tb_upsert_data(b1, "a", 10, blob, sizeof(blob));
    tb_upsert(b1, "b", 20);
    tb_upsert(b1, "c", 30);
    assert_int_equal(commit(e, s, b1), 0);
    sqlite3_stmt *up = cached(s, &st_upsert);
    assert_non_null(up);
    assert_null(cached(s, &st_delete));
    assert_int_equal(s->ncache, 1);

    /* An upsert then a delete of the same key in one batch: only the delete
     * remains in the batch (and "b" is gone), "a" is updated in place. */
    tb_t *b2 = tb_new(3, 1, now + 1, &d);
    tb_upsert(b2, "a", 11);
    tb_upsert(b2, "b", 21);
    tb_delete(b2, "b");
    assert_null(b2->b->rows[1]);
    assert_ptr_equal(b2->b->rows[2], &b2->rows[2]);
    assert_int_equal(commit(e, s, b2), 0);
    assert_ptr_equal(cached(s, &st_upsert), up); /* prepared once */
    assert_non_null(cached(s, &st_delete));
    assert_int_equal(s->ncache, 2);
    hub_store_close(s);

    memset(&t, 0, sizeof(t));
    s = open_ok(e);
    attach_ok(s, &tdom_def, &t);
    hub_restore_t r;
    load_ok(s, &r);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.seq, 3);
    assert_int_equal(r.ts_ms, now + 1);
    hub_restore_free(&r);
    hub_store_close(s);
    assert_int_equal(t.nitems, 3); /* a, c, seed */
    const item_t *a = tdom_item(&t, "a");
    assert_non_null(a);
    assert_int_equal(a->value, 11);
    assert_int_equal(a->has_data, 0); /* the upsert wrote NULL */
    assert_null(tdom_item(&t, "b"));
    const item_t *c = tdom_item(&t, "c");
    assert_non_null(c);
    assert_int_equal(c->value, 30);
    assert_non_null(tdom_item(&t, "seed"));
    tb_free(b1);
    tb_free(b2);

    /* A blob (with NUL bytes) round trips whole. */
    memset(&t, 0, sizeof(t));
    s = start_ok(e, &t);
    tb_t *b3 = tb_new(4, 1, now + 2, &d);
    tb_upsert_data(b3, "blob", 5, blob, sizeof(blob));
    assert_int_equal(commit(e, s, b3), 0);
    hub_store_close(s);
    memset(&t, 0, sizeof(t));
    s = open_ok(e);
    attach_ok(s, &tdom_def, &t);
    hub_store_close(s);
    const item_t *bl = tdom_item(&t, "blob");
    assert_non_null(bl);
    assert_int_equal(bl->has_data, 1);
    assert_int_equal(bl->ndata, sizeof(blob));
    assert_memory_equal(bl->data, blob, sizeof(blob));
    tb_free(b3);
}

/* What replacement means for the store: a replaced row is not written at
 * all (here it would violate the CHECK and fail the batch), unkeyed rows are
 * never replaced, and rows run in batch order. */
static void test_rows_replaced_and_ordered(void **state)
{
    env_t *e = *state;
    tdom_t t = {0};
    done_log_t d = {0};

    hub_store_t *s = start_ok(e, &t);
    tb_t *b = tb_new(1, 1, 1000, &d);
    tb_upsert(b, "x", -1); /* replaced below: never written */
    tb_upsert(b, "y", 1);
    tb_bump(b, "y", 10); /* unkeyed: both run, after the upsert */
    tb_bump(b, "y", 100);
    tb_delete(b, "z"); /* replaced by the upsert below */
    tb_upsert(b, "z", 7);
    tb_upsert(b, "x", 5);
    assert_null(b->b->rows[0]);
    assert_null(b->b->rows[4]);
    assert_int_equal(commit(e, s, b), 0);
    hub_store_close(s);

    assert_int_equal(sql_int(e->db_path, "SELECT value FROM test_item WHERE name='x'"), 5);
    assert_int_equal(sql_int(e->db_path, "SELECT value FROM test_item WHERE name='y'"), 111);
    assert_int_equal(sql_int(e->db_path, "SELECT value FROM test_item WHERE name='z'"), 7);
    tb_free(b);
}

/* More statements than the cache's first table holds: each keeps its own
 * prepared form through the growth, and the next batch reuses all of them. */
static void test_statement_cache_grows(void **state)
{
    env_t *e = *state;
    enum { NSTMT = 40 };
    static char sql[NSTMT][160];
    static hub_stmt_t many[NSTMT];
    sqlite3_stmt *first[NSTMT];
    tdom_t t = {0};
    done_log_t d = {0};
    char name[16];

    for (int i = 0; i < NSTMT; i++) {
        snprintf(sql[i], sizeof(sql[i]),
                 "INSERT INTO test_item(name, value) VALUES(?1, ?2 + %d) ON CONFLICT(name) "
                 "DO UPDATE SET value = excluded.value",
                 i);
        many[i].sql = sql[i];
        many[i].nparams = 2;
    }
    hub_store_t *s = start_ok(e, &t);
    for (int round = 0; round < 2; round++) {
        tb_t *b = tb_new((uint64_t)round + 1, 1, 1000, &d);
        for (int i = 0; i < NSTMT; i++) {
            snprintf(name, sizeof(name), "m%02d", i);
            hub_val_t *v = tb_row(b, &many[i], NULL);
            const char *nm = tb_name(b, name);
            v[0] = HUB_VAL_S(nm, strlen(nm));
            v[1] = HUB_VAL_I((round + 1) * 1000);
        }
        assert_int_equal(commit(e, s, b), 0);
        assert_int_equal(s->ncache, NSTMT);
        for (int i = 0; i < NSTMT; i++) {
            sqlite3_stmt *st = cached(s, &many[i]);
            assert_non_null(st);
            if (round == 0)
                first[i] = st;
            else
                assert_ptr_equal(st, first[i]);
        }
        tb_free(b);
    }
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM test_item WHERE name LIKE 'm%'"),
                     NSTMT);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM test_item WHERE name LIKE 'm%' AND "
                                         "value = 2000 + CAST(substr(name, 2) AS INTEGER)"),
                     NSTMT);
}

/* ---- tests: the journal, seq/ts and dedupe ids ------------------------------ */

static void test_journal_roundtrip_all_columns(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    uint64_t now = hub_wall_ms();

    tb_t *t = tb_new(1, 3, now - 10, &d);
    hub_journal_rec_t *r = t->b->recs;
    r[0].req_id = "req-0";
    r[0].src = "mqtt";
    r[0].name = "fixture.set_values";
    r[0].payload = "{\"a\":1}not part of it"; /* payload_len says where it ends */
    r[0].payload_len = 7;
    r[0].patches = "[{\"path\":\"dmx.x\",\"value\":1}]trailing";
    r[0].patches_len = strlen(r[0].patches) - strlen("trailing");
    r[0].rooms = "dmx,test";
    r[1].patches = NULL; /* seed-000 style: no patches */
    r[1].patches_len = 0;
    r[1].rooms = "";
    r[2].ts_ms = now;
    t->b->ts_ms = now;
    hub_store_t *s = start_ok(e, NULL);
    assert_int_equal(commit(e, s, t), 0);

    hub_journal_page_t *p = read_page(e, s, 0, 100);
    assert_int_equal(p->rc, 0);
    assert_int_equal(p->since, 0);
    assert_int_equal(p->oldest, 1);
    assert_int_equal(p->n, 3);
    const hub_journal_entry_t *en = p->entries;
    assert_int_equal(en[0].seq, 1);
    assert_int_equal(en[0].ts_ms, now - 10);
    assert_string_equal(en[0].req_id, "req-0");
    assert_string_equal(en[0].src, "mqtt");
    assert_string_equal(en[0].name, "fixture.set_values");
    assert_string_equal(en[0].payload, "{\"a\":1}");
    assert_string_equal(en[0].patches, "[{\"path\":\"dmx.x\",\"value\":1}]");
    assert_string_equal(en[0].rooms, "dmx,test");
    assert_int_equal(en[1].seq, 2);
    assert_string_equal(en[1].req_id, t->ids[1]);
    assert_string_equal(en[1].src, "test");
    assert_string_equal(en[1].name, "test.set");
    assert_string_equal(en[1].payload, "{\"n\":2}");
    assert_null(en[1].patches);
    assert_string_equal(en[1].rooms, "");
    assert_int_equal(en[2].seq, 3);
    assert_int_equal(en[2].ts_ms, now);
    assert_string_equal(en[2].patches, t->patches[2]);
    hub_journal_page_free(p);
    hub_store_close(s);
    tb_free(t);

    s = open_ok(e);
    hub_restore_t rs;
    load_ok(s, &rs);
    assert_int_equal(rs.found, 1);
    assert_int_equal(rs.seq, 3);
    assert_int_equal(rs.ts_ms, now);
    assert_int_equal(rs.nids, 3);
    assert_string_equal(rs.ids[0].id, "req-0");
    assert_int_equal(rs.ids[0].seq, 1);
    assert_int_equal(rs.ids[0].ts_ms, now - 10);
    hub_restore_free(&rs);
    assert_null(rs.ids);
    hub_store_close(s);
}

/* Two batches queued at once complete in order; metrics count them; the WAL
 * is folded back at close; seq/ts/ids come back on reopen. */
static void test_batches_complete_in_order_and_restore(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    uint64_t now = hub_wall_ms();
    tdom_t t = {0};

    tb_t *b1 = tb_new(1, 3, now - 10, &d);
    tb_upsert(b1, "a", 1);
    tb_t *b2 = tb_new(4, 2, now, &d);
    tb_upsert(b2, "a", 2);

    hub_store_t *s = start_ok(e, &t);
    const hub_persist_ops_t *ops = hub_store_persist_ops(s);
    ops->submit(ops->ctx, b1->b);
    ops->submit(ops->ctx, b2->b);
    pump(e, &d.n, 2);
    assert_ptr_equal(d.order[0], b1->b);
    assert_ptr_equal(d.order[1], b2->b);
    assert_int_equal(b1->b->rc, 0);
    assert_int_equal(b2->b->rc, 0);
    assert_string_equal(b2->b->err, "");
    assert_true(has_metric(e->metrics, "dmx_store_commits_total 2\n"));
    assert_true(has_metric(e->metrics, "dmx_store_errors_total 0\n"));
    assert_true(has_metric(e->metrics, "dmx_store_batch_size 2\n"));
    assert_true(has_metric(e->metrics, "dmx_store_commit_seconds_count 2\n"));
    /* WAL folded back at close, even with another connection open (a backup
     * or the sqlite3 shell), when SQLite's own last-close checkpoint does not
     * run. */
    char wal[200];
    struct stat sb;
    snprintf(wal, sizeof(wal), "%s-wal", e->db_path);
    sqlite3 *other = sql_open(e->db_path);
    assert_int_equal(sqlite3_exec(other, "SELECT count(*) FROM journal", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(sb.st_size > 0);
    hub_store_close(s);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    sqlite3_close(other);

    hub_metrics_free(e->metrics);
    e->metrics = hub_metrics_new();
    memset(&t, 0, sizeof(t));
    s = open_ok(e);
    attach_ok(s, &tdom_def, &t);
    hub_restore_t r;
    load_ok(s, &r);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.seq, 5);
    assert_int_equal(r.ts_ms, now);
    assert_int_equal(r.nids, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(r.ids[i].id, i < 3 ? b1->ids[i] : b2->ids[i - 3]);
        assert_int_equal(r.ids[i].seq, i + 1);
    }
    assert_int_equal(r.ids[0].ts_ms, now - 10);
    assert_int_equal(r.ids[4].ts_ms, now);
    hub_restore_free(&r);
    hub_store_close(s);
    assert_int_equal(tdom_item(&t, "a")->value, 2);
    tb_free(b1);
    tb_free(b2);
}

static void test_restore_ids_ttl_capacity_order(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    uint64_t now = hub_wall_ms();
    char too_long[HUB_REQ_ID_MAX + 2];

    memset(too_long, 'x', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0'; /* 65 characters */
    /* seq 1-4 expired, 5-11 recent (ts rising with seq); 7 and 9 are not
     * valid ids (not written by us) and 10 has a control character. */
    tb_t *old = tb_new(1, 4, now - e->cfg.dedupe_ttl_ms - 60000, &d);
    tb_t *recent = tb_new(5, 7, 0, &d);
    for (size_t i = 0; i < 7; i++)
        recent->b->recs[i].ts_ms = now - 7000 + i * 1000;
    recent->b->ts_ms = recent->b->recs[6].ts_ms;
    recent->b->recs[2].req_id = "";
    recent->b->recs[4].req_id = too_long;
    recent->b->recs[5].req_id = "bad\tid";
    tb_t *bs[] = {old, recent};
    write_batches(e, bs, 2);
    static const int valid[] = {0, 1, 3, 6}; /* indexes into recent: seq 5, 6, 8, 11 */

    /* TTL: only the recent valid ones, though capacity allows 100. */
    hub_store_t *s = open_ok(e);
    hub_restore_t r;
    load_ok(s, &r);
    assert_int_equal(r.seq, 11);
    assert_int_equal(r.nids, 4);
    for (size_t i = 0; i < 4; i++) {
        const hub_journal_rec_t *want = &recent->b->recs[valid[i]];
        assert_string_equal(r.ids[i].id, want->req_id);
        assert_int_equal(r.ids[i].seq, want->seq);
        assert_int_equal(r.ids[i].ts_ms, want->ts_ms);
    }
    hub_restore_free(&r);
    hub_store_close(s);

    /* Capacity 2: at most two, the newest valid one last. The window may be
     * taken over rows (seq 10-11, of which 10 is invalid: one id) or over
     * valid ids (8 and 11); either keeps the promise. */
    e->cfg.dedupe_capacity = 2;
    s = open_ok(e);
    load_ok(s, &r);
    assert_in_range(r.nids, 1, 2);
    assert_string_equal(r.ids[r.nids - 1].id, recent->ids[6]);
    assert_int_equal(r.ids[r.nids - 1].seq, 11);
    if (r.nids == 2)
        assert_int_equal(r.ids[0].seq, 8);
    hub_restore_free(&r);
    hub_store_close(s);

    /* Capacity 3 over valid rows only: write three more valid ones. */
    e->cfg.dedupe_capacity = 3;
    tb_t *more = tb_new(12, 3, now, &d);
    tb_t *bs2[] = {more};
    write_batches(e, bs2, 1);
    s = open_ok(e);
    load_ok(s, &r);
    assert_int_equal(r.nids, 3);
    assert_string_equal(r.ids[0].id, more->ids[0]);
    assert_string_equal(r.ids[1].id, more->ids[1]);
    assert_string_equal(r.ids[2].id, more->ids[2]);
    assert_int_equal(r.ids[0].seq, 12);
    assert_int_equal(r.ids[2].seq, 14);
    hub_restore_free(&r);
    hub_store_close(s);

    /* Capacity 0: none, and nothing to free. */
    e->cfg.dedupe_capacity = 0;
    s = open_ok(e);
    load_ok(s, &r);
    assert_int_equal(r.nids, 0);
    assert_int_equal(r.seq, 14);
    hub_restore_free(&r);
    hub_store_close(s);
    tb_free(old);
    tb_free(recent);
    tb_free(more);
}

#define ROW_BYTES_SQL                                                                              \
    "SELECT coalesce(sum(length(CAST(payload AS BLOB)) + length(CAST(patches AS BLOB))), 0) "      \
    "FROM journal"

/* DMX_JOURNAL_MAX_MB: the journal's payload + patch bytes stay within the
 * bound (+10 % slack, like the row count), the newest dedupe_capacity rows
 * are kept whatever their size, the byte count is kept in meta across a
 * restart, and it follows what pruning by count removes too. */
static void test_journal_byte_bound(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    tdom_t t = {0};
    e->cfg.journal_retention = 100000;
    e->cfg.dedupe_capacity = 5;

    /* Rows of this test are 34-40 bytes: find one's size first. */
    tb_t *b0 = tb_new(1, 1, 1000, &d);
    uint64_t row = b0->b->recs[0].payload_len + b0->b->recs[0].patches_len;
    e->cfg.journal_max_bytes = 100 * row;
    hub_store_t *s = start_ok(e, &t);
    assert_int_equal(commit(e, s, b0), 0);
    uint64_t seq = 2;
    tb_t *bs[40];
    for (int i = 0; i < 40; i++) { /* 40 x 10 rows = 400 rows: four times the bound */
        bs[i] = tb_new(seq, 10, 1000 + (uint64_t)i, &d);
        seq += 10;
        assert_int_equal(commit(e, s, bs[i]), 0);
        int64_t bytes = sql_int(e->db_path, ROW_BYTES_SQL);
        assert_true((uint64_t)bytes <= e->cfg.journal_max_bytes * 11 / 10 + 10 * row + row);
        assert_int_equal(sql_int(e->db_path, "SELECT CAST(value AS INTEGER) FROM meta WHERE "
                                             "key = 'journal_bytes'"),
                         bytes);
    }
    assert_true(sql_int(e->db_path, "SELECT count(*) FROM journal") < 130);
    assert_int_equal(sql_int(e->db_path, "SELECT max(seq) FROM journal"), (int64_t)seq - 1);
    hub_store_close(s);

    /* A tiny bound still keeps the newest dedupe_capacity rows. */
    e->cfg.journal_max_bytes = 1;
    s = start_ok(e, &t);
    tb_t *b1 = tb_new(seq, 3, 5000, &d);
    assert_int_equal(commit(e, s, b1), 0);
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 5);
    assert_int_equal(sql_int(e->db_path, "SELECT min(seq) FROM journal"), (int64_t)seq + 3 - 5);
    assert_int_equal(sql_int(e->db_path, "SELECT CAST(value AS INTEGER) FROM meta WHERE "
                                         "key = 'journal_bytes'"),
                     sql_int(e->db_path, ROW_BYTES_SQL));
    seq += 3;

    /* No byte bound: the count still follows pruning by rows. */
    e->cfg.journal_max_bytes = 0;
    e->cfg.journal_retention = 5;
    s = start_ok(e, &t);
    tb_t *b2 = tb_new(seq, 20, 6000, &d);
    assert_int_equal(commit(e, s, b2), 0);
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 5);
    assert_int_equal(sql_int(e->db_path, "SELECT CAST(value AS INTEGER) FROM meta WHERE "
                                         "key = 'journal_bytes'"),
                     sql_int(e->db_path, ROW_BYTES_SQL));
    for (int i = 0; i < 40; i++)
        tb_free(bs[i]);
    tb_free(b0);
    tb_free(b1);
    tb_free(b2);
}

static void test_journal_retention(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    e->cfg.journal_retention = 10;
    e->cfg.dedupe_capacity = 5;
    /* 11 rows: within retention + 10%, kept. */
    tb_t *b1 = tb_new(1, 11, 1000, &d);
    tb_t *bs1[] = {b1};
    write_batches(e, bs1, 1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 11);

    /* A 12th row crosses the slack: back to the newest 10 (seq 3..12). */
    tb_t *b2 = tb_new(12, 1, 2000, &d);
    tb_t *bs2[] = {b2};
    write_batches(e, bs2, 1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 10);
    assert_int_equal(sql_int(e->db_path, "SELECT min(seq) FROM journal"), 3);
    assert_int_equal(sql_int(e->db_path, "SELECT max(seq) FROM journal"), 12);
    assert_int_equal(meta_seq(e->db_path), 12);

    /* Retention is at least the dedupe capacity. */
    e->cfg.journal_retention = 2;
    e->cfg.dedupe_capacity = 20;
    tb_t *b3 = tb_new(13, 10, 3000, &d);
    tb_t *bs3[] = {b3};
    write_batches(e, bs3, 1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 20);
    assert_int_equal(sql_int(e->db_path, "SELECT min(seq) FROM journal"), 3);

    /* Pruning within one process, across batches (the oldest seq is tracked
     * by the writer): 4 more rows at retention 20 + 2 slack reach 24 > 22. */
    e->cfg.journal_retention = 20;
    e->cfg.dedupe_capacity = 5;
    tdom_t t = {0};
    hub_store_t *s = start_ok(e, &t);
    tb_t *b4 = tb_new(23, 1, 4000, &d);
    tb_t *b5 = tb_new(24, 3, 4000, &d);
    assert_int_equal(commit(e, s, b4), 0);
    assert_int_equal(commit(e, s, b5), 0);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 20);
    assert_int_equal(sql_int(e->db_path, "SELECT min(seq) FROM journal"), 7);
    /* The writer moved its oldest seq to 7: two more rows (22 <= 22) prune
     * nothing (from a stale 3 they would). */
    tb_t *b6 = tb_new(27, 1, 5000, &d);
    tb_t *b7 = tb_new(28, 1, 5000, &d);
    assert_int_equal(commit(e, s, b6), 0);
    assert_int_equal(commit(e, s, b7), 0);
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 22);
    assert_int_equal(sql_int(e->db_path, "SELECT min(seq) FROM journal"), 7);
    tb_free(b6);
    tb_free(b7);
    tb_free(b1);
    tb_free(b2);
    tb_free(b3);
    tb_free(b4);
    tb_free(b5);
}

/* ---- tests: journal reads ----------------------------------------------------- */

static void test_journal_read_pages(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    pages_t ps = {0};

    hub_store_t *s = start_ok(e, NULL);
    tb_t *t = tb_new(1, 5, 1000, &d);
    assert_int_equal(commit(e, s, t), 0);

    /* Queued together, answered in order. */
    hub_store_read_journal(s, 0, 2, on_page, &ps);
    hub_store_read_journal(s, 2, 2, on_page, &ps);
    hub_store_read_journal(s, 4, 2, on_page, &ps);
    hub_store_read_journal(s, 5, 10, on_page, &ps);
    hub_store_read_journal(s, 100, 10, on_page, &ps);
    pump(e, &ps.n, 5);
    static const uint64_t since[] = {0, 2, 4, 5, 100};
    static const size_t count[] = {2, 2, 1, 0, 0};
    for (int i = 0; i < 5; i++) {
        hub_journal_page_t *p = ps.p[i];
        assert_int_equal(p->rc, 0);
        assert_int_equal(p->since, since[i]);
        assert_int_equal(p->oldest, 1);
        assert_int_equal(p->n, count[i]);
        for (size_t j = 0; j < p->n; j++) {
            assert_int_equal(p->entries[j].seq, since[i] + 1 + j);
            assert_string_equal(p->entries[j].req_id, t->ids[since[i] + j]);
        }
    }
    pages_free(&ps);
    hub_store_close(s);
    tb_free(t);

    /* An empty journal: nothing, oldest 0. */
    e->cfg.data_dir = e->dir; /* another database */
    s = start_ok(e, NULL);
    hub_journal_page_t *p = read_page(e, s, 0, 10);
    assert_int_equal(p->rc, 0);
    assert_int_equal(p->n, 0);
    assert_int_equal(p->oldest, 0);
    hub_journal_page_free(p);
    hub_store_close(s);
}

static void test_journal_read_after_pruning(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    e->cfg.journal_retention = 10;
    e->cfg.dedupe_capacity = 5;

    hub_store_t *s = start_ok(e, NULL);
    tb_t *b1 = tb_new(1, 11, 1000, &d);
    tb_t *b2 = tb_new(12, 1, 2000, &d);
    assert_int_equal(commit(e, s, b1), 0);
    hub_journal_page_t *p = read_page(e, s, 0, 100);
    assert_int_equal(p->oldest, 1);
    assert_int_equal(p->n, 11);
    hub_journal_page_free(p);

    assert_int_equal(commit(e, s, b2), 0); /* prunes seq 1-2 */
    p = read_page(e, s, 0, 100);
    assert_int_equal(p->rc, 0);
    assert_int_equal(p->oldest, 3);
    assert_int_equal(p->n, 10);
    assert_int_equal(p->entries[0].seq, 3);
    assert_int_equal(p->entries[9].seq, 12);
    hub_journal_page_free(p);
    /* A client behind the oldest sees the gap: since + 1 < oldest. */
    p = read_page(e, s, 1, 3);
    assert_int_equal(p->oldest, 3);
    assert_int_equal(p->n, 3);
    assert_int_equal(p->entries[0].seq, 3);
    hub_journal_page_free(p);
    hub_store_close(s);
    tb_free(b1);
    tb_free(b2);
}

/* Reads still queued at close are answered HUB_ESHUTDOWN, each exactly once
 * and in order. The first BIG reads are slow (the whole of a big journal,
 * several times over, so that on a loaded machine they still outlast the
 * call to close), so the ones queued behind them are still waiting when
 * close runs. */
static void test_journal_reads_answered_at_shutdown(void **state)
{
    env_t *e = *state;
    enum { NREC = 20000, BIG = 8, NREAD = 24 };
    done_log_t d = {0};
    pages_t ps = {0};
    e->cfg.journal_retention = NREC;

    hub_store_t *s = start_ok(e, NULL);
    tb_t *t = tb_new(1, NREC, 1000, &d);
    assert_int_equal(commit(e, s, t), 0);
    for (int i = 0; i < BIG; i++)
        hub_store_read_journal(s, 0, NREC, on_page, &ps);
    for (int i = BIG; i < NREAD; i++)
        hub_store_read_journal(s, (uint64_t)i, 1, on_page, &ps);
    hub_store_close(s);
    pump(e, &ps.n, NREAD);

    int shut = 0;
    for (int i = 0; i < NREAD; i++) {
        hub_journal_page_t *p = ps.p[i];
        assert_int_equal(p->since, (uint64_t)(i < BIG ? 0 : i));
        if (p->rc == HUB_ESHUTDOWN) {
            assert_int_equal(p->n, 0);
            assert_null(p->entries);
            shut++;
        } else {
            assert_int_equal(shut, 0); /* nothing answered normally after a shutdown answer */
            assert_int_equal(p->rc, 0);
            assert_int_equal(p->n, i < BIG ? NREC : 1);
        }
    }
    assert_true(shut >= 1);
    assert_int_equal(ps.p[NREAD - 1]->rc, HUB_ESHUTDOWN);
    pages_free(&ps);
    tb_free(t);
}

/* ---- tests: failures ------------------------------------------------------------ */

/* A row that breaks a constraint fails the whole batch: its journal records,
 * its rows before the bad one, seq and ts all roll back. The next batch
 * (carrying the failed one's rows, as the engine does) commits, reusing the
 * statement that failed. */
static void test_failed_row_rolls_back_whole_batch(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    tdom_t t = {0};

    hub_store_t *s = start_ok(e, &t);
    tb_t *b1 = tb_new(1, 2, 1000, &d);
    tb_upsert(b1, "a", 1);
    assert_int_equal(commit(e, s, b1), 0);

    tb_t *b2 = tb_new(3, 2, 2000, &d);
    tb_upsert(b2, "a", 100);
    tb_upsert(b2, "b", 2);
    tb_upsert(b2, "c", -1); /* CHECK(value >= 0) */
    assert_int_equal(commit(e, s, b2), HUB_ESTORE);
    assert_non_null(strstr(b2->b->err, "CHECK constraint failed"));
    assert_true(has_metric(e->metrics, "dmx_store_errors_total 1\n"));
    assert_true(has_metric(e->metrics, "dmx_store_commits_total 1\n"));

    tb_t *b3 = tb_new(5, 1, 3000, &d);
    tb_upsert(b3, "a", 100);
    tb_upsert(b3, "b", 2);
    tb_upsert(b3, "c", 3);
    assert_int_equal(commit(e, s, b3), 0);
    assert_string_equal(b3->b->err, "");
    hub_store_close(s);

    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 3);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal WHERE seq IN (3, 4)"), 0);
    assert_int_equal(meta_seq(e->db_path), 5);
    assert_int_equal(sql_int(e->db_path, "SELECT value FROM meta WHERE key = 'ts_ms'"), 3000);
    assert_int_equal(sql_int(e->db_path, "SELECT value FROM test_item WHERE name='a'"), 100);
    assert_int_equal(sql_int(e->db_path, "SELECT value FROM test_item WHERE name='c'"), 3);
    tb_free(b1);
    tb_free(b2);
    tb_free(b3);
}

/* Before the retry commits, nothing of the failed batch is visible. */
static void test_failed_row_leaves_nothing_behind(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    tdom_t t = {0};

    hub_store_t *s = start_ok(e, &t);
    tb_t *b1 = tb_new(1, 1, 1000, &d);
    tb_upsert(b1, "a", 1);
    assert_int_equal(commit(e, s, b1), 0);
    tb_t *b2 = tb_new(2, 2, 2000, &d);
    tb_upsert(b2, "a", 50);
    tb_delete(b2, "seed");
    tb_upsert(b2, "bad", -5);
    assert_int_equal(commit(e, s, b2), HUB_ESTORE);
    hub_store_close(s);

    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 1);
    assert_int_equal(meta_seq(e->db_path), 1);
    assert_int_equal(sql_int(e->db_path, "SELECT value FROM meta WHERE key = 'ts_ms'"), 1000);
    assert_int_equal(sql_int(e->db_path, "SELECT value FROM test_item WHERE name='a'"), 1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM test_item WHERE name='seed'"), 1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM test_item WHERE name='bad'"), 0);
    tb_free(b1);
    tb_free(b2);
}

/* A journal insert that fails midway (a seq reused) rolls back the rows
 * inserted before it; the connection is usable again afterwards. */
static void test_failed_journal_insert_rolls_back(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};

    hub_store_t *s = start_ok(e, NULL);
    tb_t *b1 = tb_new(1, 2, 1000, &d);
    assert_int_equal(commit(e, s, b1), 0);
    tb_t *b2 = tb_new(3, 2, 2000, &d);
    b2->b->recs[1].seq = 2; /* the insert of seq 3 went in first */
    assert_int_equal(commit(e, s, b2), HUB_ESTORE);
    assert_non_null(strstr(b2->b->err, "UNIQUE"));
    tb_t *b3 = tb_new(3, 1, 3000, &d);
    assert_int_equal(commit(e, s, b3), 0);
    hub_store_close(s);

    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 3);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal WHERE seq = 4"), 0);
    assert_int_equal(sql_int(e->db_path, "SELECT ts_ms FROM journal WHERE seq = 3"), 3000);
    assert_int_equal(meta_seq(e->db_path), 3);
    tb_free(b1);
    tb_free(b2);
    tb_free(b3);
}

/* A statement SQLite cannot prepare fails its batch with SQLite's reason. */
static void test_unpreparable_statement_fails_batch(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    tdom_t t = {0};

    hub_store_t *s = start_ok(e, &t);
    tb_t *b1 = tb_new(1, 1, 1000, &d);
    tb_upsert(b1, "a", 1);
    hub_val_t *v = tb_row(b1, &st_missing, NULL);
    v[0] = HUB_VAL_I(1);
    assert_int_equal(commit(e, s, b1), HUB_ESTORE);
    assert_non_null(strstr(b1->b->err, "no such table"));
    assert_null(cached(s, &st_missing));
    tb_t *b2 = tb_new(2, 1, 2000, &d);
    tb_upsert(b2, "a", 2);
    assert_int_equal(commit(e, s, b2), 0);
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 1);
    assert_int_equal(sql_int(e->db_path, "SELECT value FROM test_item WHERE name='a'"), 2);
    tb_free(b1);
    tb_free(b2);
}

/* ---- tests: threads and durability ------------------------------------------- */

/* Checkpoints run beside the writer: the WAL stays near the threshold
 * instead of growing with every commit, and nothing committed is lost. */
static void test_wal_checkpointed_in_background(void **state)
{
    env_t *e = *state;
    enum { N = 300, FRAMES = 8 };
    done_log_t d = {0};
    char wal[200];
    struct stat sb;
    tdom_t t = {0};

    e->cfg.checkpoint_frames = FRAMES;
    snprintf(wal, sizeof(wal), "%s-wal", e->db_path);
    hub_store_t *s = start_ok(e, &t);
    for (int i = 0; i < N; i++) {
        tb_t *b = tb_new((uint64_t)i + 1, 1, 1000 + (uint64_t)i, &d);
        tb_upsert(b, "a", i);
        assert_int_equal(commit(e, s, b), 0);
        tb_free(b);
        /* Commits a millisecond apart, as under load: time for the
         * checkpointer to run even on a machine busy with other tests. */
        sleep_ms(1);
    }
    /* Without checkpoints N commits leave ~3-4 frames each in the WAL; with
     * them it restarts every few commits. The bound leaves room for a
     * checkpoint thread starved on a loaded machine (RESTART at 16 x FRAMES
     * catches up). */
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(sb.st_size < (off_t)N * 4120);
    assert_false(has_metric(e->metrics, "dmx_store_checkpoints_total 0\n"));
    assert_true(has_metric(e->metrics, "\ndmx_store_checkpoints_total "));
    assert_true(has_metric(e->metrics, "dmx_store_checkpoint_errors_total 0\n"));
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), N);
    assert_int_equal(meta_seq(e->db_path), N);
    assert_int_equal(sql_int(e->db_path, "SELECT value FROM test_item WHERE name='a'"), N - 1);
}

static void test_close_finishes_queued_batch(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    tdom_t t = {0};
    tb_t *b = tb_new(1, 1, 5000, &d);
    tb_upsert(b, "a", 9);

    hub_store_t *s = start_ok(e, &t);
    const hub_persist_ops_t *ops = hub_store_persist_ops(s);
    ops->submit(ops->ctx, b->b);
    hub_store_close(s);       /* the completion is posted even so */
    assert_int_equal(d.n, 0); /* ... and runs on the loop, not inside close */
    pump(e, &d.n, 1);
    assert_int_equal(b->b->rc, 0);
    assert_int_equal(meta_seq(e->db_path), 1);
    assert_int_equal(sql_int(e->db_path, "SELECT value FROM test_item WHERE name='a'"), 9);
    tb_free(b);
}

/* The durability contract: once done reports rc 0, a kill -9 loses nothing. */
static void test_committed_batch_survives_kill(void **state)
{
    env_t *e = *state;
    static const uint8_t blob[] = {3, 1, 4};
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        done_log_t d = {0};
        tdom_t t = {0};
        uv_loop_t loop;
        hub_inbox_t *inbox;
        hub_store_t *s = NULL;
        char err[512];
        hub_restore_t r;
        if (uv_loop_init(&loop) != 0 || hub_inbox_new(&inbox, &loop, NULL) != 0)
            _exit(2);
        if (hub_store_open(&s, &e->cfg, NULL, err, sizeof(err)) != 0 ||
            hub_store_attach(s, &tdom_def, &t, err, sizeof(err)) != 0 ||
            hub_store_load(s, &r, err, sizeof(err)) != 0 || hub_store_start(s, inbox) != 0)
            _exit(3);
        tb_t *b = tb_new(1, 3, 4242, &d);
        tb_upsert_data(b, "kept", 77, blob, sizeof(blob));
        const hub_persist_ops_t *ops = hub_store_persist_ops(s);
        ops->submit(ops->ctx, b->b);
        for (int i = 0; i < WAIT_MS && d.n == 0; i++) {
            uv_run(&loop, UV_RUN_NOWAIT);
            sleep_ms(1);
        }
        if (d.n != 1 || b->b->rc != 0)
            _exit(4);
        raise(SIGKILL);
        _exit(5);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
        fail_msg("child exited with %d before the kill", WEXITSTATUS(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    /* The WAL was never checkpointed or closed: it is all there is. */
    tdom_t t = {0};
    hub_store_t *s = open_ok(e);
    attach_ok(s, &tdom_def, &t);
    assert_int_equal(t.step2_runs, 0); /* the child's migrations were durable too */
    hub_restore_t r;
    load_ok(s, &r);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.seq, 3);
    assert_int_equal(r.ts_ms, 4242);
    assert_int_equal(r.nids, 0); /* ts 4242 is far outside the TTL */
    hub_restore_free(&r);
    hub_store_close(s);
    const item_t *it = tdom_item(&t, "kept");
    assert_non_null(it);
    assert_int_equal(it->value, 77);
    assert_int_equal(it->ndata, sizeof(blob));
    assert_memory_equal(it->data, blob, sizeof(blob));
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 3);
}

/* ---- tests: a domain's read jobs (hub_store_read_job) ------------------------------ */

typedef struct rjob {
    pthread_t loop_thread;
    _Atomic int started; /* fn began (reader thread) */
    _Atomic int ran;     /* fn ran (reader thread) */
    int ran_on_loop;     /* fn ran on the loop thread: wrong */
    int done;            /* done calls */
    int done_off_loop;   /* done ran off the loop thread: wrong */
    int rc;              /* done's rc */
    int order;           /* its place among the answers (1-based) */
    int *answered;       /* shared answer counter */
    char names[256];     /* "name=value " per row */
    int nrows;           /* rows seen */
    int exec_rc;         /* a write attempt on the reader's connection */
    char exec_err[256];
    int has_item, has_none; /* has_table("test_item"), has_table("test_nothing") */
    _Atomic int *gate;      /* non-NULL: wait (bounded) until it is set */
    int ncols;              /* the widest row seen */
    int64_t ints[40];
    int types[40];
} rjob_t;

static int rjob_row(void *ud, const hub_val_t *c, int n)
{
    rjob_t *j = ud;
    size_t len = strlen(j->names);
    j->nrows++;
    if (n >= 2 && c[0].type == HUB_VAL_TEXT)
        snprintf(j->names + len, sizeof(j->names) - len, "%.*s=%lld ", (int)c[0].n,
                 (const char *)c[0].p, (long long)c[1].i);
    return 0;
}

static void rjob_fn(void *ud, hub_db_t *db)
{
    rjob_t *j = ud;
    char err[256] = "";

    atomic_store(&j->started, 1);
    if (j->gate != NULL)
        for (int i = 0; i < WAIT_MS && !atomic_load(j->gate); i++)
            sleep_ms(1);
    j->ran_on_loop = pthread_equal(pthread_self(), j->loop_thread);
    j->has_item = db->has_table(db, "test_item");
    j->has_none = db->has_table(db, "test_nothing");
    if (db->query(db, "SELECT name, value FROM test_item ORDER BY name", NULL, 0, rjob_row, j, err,
                  sizeof(err)) != 0)
        snprintf(j->names, sizeof(j->names), "query failed: %.200s", err);
    j->exec_rc = db->exec(db, "INSERT INTO test_item(name, value) VALUES('w', 1)", j->exec_err,
                          sizeof(j->exec_err));
    atomic_store(&j->ran, 1);
}

static void rjob_done(void *ud, int rc)
{
    rjob_t *j = ud;
    j->done++;
    j->done_off_loop = !pthread_equal(pthread_self(), j->loop_thread);
    j->rc = rc;
    j->order = ++*j->answered;
}

static void rjob_init(rjob_t *j, int *answered)
{
    memset(j, 0, sizeof(*j));
    j->loop_thread = pthread_self();
    j->answered = answered;
}

/* A read job runs on the reader thread, on a read-only connection that sees
 * every committed batch (a later job sees a later batch), and is answered
 * on the loop thread, once, with rc 0. */
static void test_read_job_sees_committed_rows(void **state)
{
    env_t *e = *state;
    tdom_t t = {0};
    done_log_t d = {0};
    int answered = 0;
    rjob_t j1, j2;

    hub_store_t *s = start_ok(e, &t);
    tb_t *b1 = tb_new(1, 1, 1000, &d);
    tb_upsert(b1, "a", 10);
    tb_upsert(b1, "b", 20);
    assert_int_equal(commit(e, s, b1), 0);

    rjob_init(&j1, &answered);
    hub_store_read_job(s, rjob_fn, rjob_done, &j1);
    pump(e, &j1.done, 1);
    assert_int_equal(atomic_load(&j1.ran), 1);
    assert_int_equal(j1.ran_on_loop, 0);
    assert_int_equal(j1.done_off_loop, 0);
    assert_int_equal(j1.rc, 0);
    assert_int_equal(j1.has_item, 1);
    assert_int_equal(j1.has_none, 0);
    /* step 2 of the domain wrote "seed" */
    assert_string_equal(j1.names, "a=10 b=20 seed=1 ");
    /* read-only: a write is refused with SQLite's reason */
    assert_int_equal(j1.exec_rc, HUB_ESTORE);
    assert_true(j1.exec_err[0] != '\0');

    tb_t *b2 = tb_new(2, 1, 2000, &d);
    tb_upsert(b2, "c", 30);
    tb_delete(b2, "a");
    assert_int_equal(commit(e, s, b2), 0);
    rjob_init(&j2, &answered);
    hub_store_read_job(s, rjob_fn, rjob_done, &j2);
    pump(e, &j2.done, 1);
    assert_int_equal(j2.rc, 0);
    assert_string_equal(j2.names, "b=20 c=30 seed=1 ");
    /* answered once each */
    for (int i = 0; i < 50; i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(j1.done, 1);
    assert_int_equal(j2.done, 1);
    assert_int_equal(answered, 2);
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM test_item WHERE name = 'w'"), 0);
    tb_free(b1);
    tb_free(b2);
}

struct gate_arg {
    _Atomic int *gate;
    long after_ms;
};

static void *open_gate(void *arg)
{
    struct gate_arg *g = arg;
    sleep_ms(g->after_ms);
    atomic_store(g->gate, 1);
    return NULL;
}

/* Jobs still queued when the store closes are answered HUB_ESHUTDOWN, once
 * each and in order, without running: the first job holds the reader until
 * close has begun (a gate opened 1 s after close is called). */
static void test_read_jobs_answered_at_shutdown(void **state)
{
    env_t *e = *state;
    enum { N = 6 };
    tdom_t t = {0};
    int answered = 0;
    rjob_t j[N];
    _Atomic int gate = 0;
    pthread_t th;
    struct gate_arg ga = {&gate, 1000};

    hub_store_t *s = start_ok(e, &t);
    for (int i = 0; i < N; i++) {
        rjob_init(&j[i], &answered);
        if (i == 0)
            j[i].gate = &gate;
        hub_store_read_job(s, rjob_fn, rjob_done, &j[i]);
    }
    /* close only once the reader is inside job 0, held there until the gate opens */
    for (int i = 0; i < WAIT_MS && !atomic_load(&j[0].started); i++)
        sleep_ms(1);
    assert_int_equal(atomic_load(&j[0].started), 1);
    assert_int_equal(pthread_create(&th, NULL, open_gate, &ga), 0);
    hub_store_close(s);
    pthread_join(th, NULL);
    pump(e, &answered, N);
    for (int i = 0; i < 50; i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(answered, N);
    assert_int_equal(j[0].rc, 0);
    assert_int_equal(atomic_load(&j[0].ran), 1);
    /* Normally jobs 1.. are all shut (close flagged the reader long before
     * the gate opened); on a machine too loaded for that, some may have run
     * first, but never one after a shutdown answer. */
    int shut = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(j[i].done, 1);
        assert_int_equal(j[i].order, i + 1);
        assert_int_equal(j[i].done_off_loop, 0);
        if (j[i].rc == HUB_ESHUTDOWN) {
            assert_int_equal(atomic_load(&j[i].ran), 0);
            shut++;
        } else {
            assert_int_equal(shut, 0);
            assert_int_equal(j[i].rc, 0);
            assert_int_equal(atomic_load(&j[i].ran), 1);
        }
    }
    assert_int_equal(j[N - 1].rc, HUB_ESHUTDOWN);
}

/* ---- the 32 columns a domain's query hands over ----------------------------------- */

static const hub_migration_t wide_migrations[] = {
    {.sql = "CREATE TABLE wide(c1 INTEGER, c2 INTEGER, c3 INTEGER, c4 INTEGER, c5 INTEGER,"
            " c6 INTEGER, c7 INTEGER, c8 INTEGER, c9 INTEGER, c10 INTEGER, c11 INTEGER,"
            " c12 INTEGER, c13 INTEGER, c14 INTEGER, c15 INTEGER, c16 INTEGER, c17 INTEGER,"
            " c18 TEXT, c19 INTEGER, c20 INTEGER, c21 INTEGER, c22 INTEGER, c23 INTEGER,"
            " c24 INTEGER, c25 BLOB, c26 INTEGER, c27 INTEGER, c28 INTEGER, c29 INTEGER,"
            " c30 INTEGER, c31 INTEGER, c32 INTEGER, c33 INTEGER, c34 INTEGER, c35 INTEGER,"
            " c36 INTEGER, c37 INTEGER, c38 INTEGER, c39 INTEGER, c40 INTEGER);"
            "INSERT INTO wide VALUES(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,"
            " 'eighteen', NULL, 20, 21, 22, 23, 24, x'0019', 26, 27, 28, 29, 30, 31, 32, 33,"
            " 34, 35, 36, 37, 38, 39, 40);"},
};

static int wide_row(void *ud, const hub_val_t *c, int n)
{
    rjob_t *j = ud;
    j->nrows++;
    if (n > j->ncols)
        j->ncols = n;
    for (int i = 0; i < n && i < 40; i++) {
        j->types[i] = c[i].type;
        j->ints[i] = c[i].type == HUB_VAL_INT ? c[i].i : -1;
    }
    return 0;
}

static int wide_load(void *ctx, hub_db_t *db, char *err, size_t errlen)
{
    return db->query(db, "SELECT * FROM wide", NULL, 0, wide_row, ctx, err, errlen);
}

static const hub_domain_def_t wide_def = {
    .name = "wide", .migrations = wide_migrations, .nmigrations = 1, .load = wide_load};

static void wide_job(void *ud, hub_db_t *db)
{
    char err[256];
    rjob_t *j = ud;
    if (db->query(db, "SELECT * FROM wide", NULL, 0, wide_row, j, err, sizeof(err)) != 0)
        j->nrows = -1;
    atomic_store(&j->ran, 1);
}

/* 32 columns of each row reach the domain, at start-up (load) and in a
 * read job, with their types: the registry's 24 columns fit; more are cut. */
static void check_wide(const rjob_t *j)
{
    assert_int_equal(j->nrows, 1);
    assert_int_equal(j->ncols, 32);
    for (int i = 0; i < 32; i++) {
        if (i == 17) {
            assert_int_equal(j->types[i], HUB_VAL_TEXT);
        } else if (i == 18) {
            assert_int_equal(j->types[i], HUB_VAL_NULL);
        } else if (i == 24) {
            assert_int_equal(j->types[i], HUB_VAL_BLOB);
        } else {
            assert_int_equal(j->types[i], HUB_VAL_INT);
            assert_int_equal(j->ints[i], i + 1);
        }
    }
}

static void test_domain_query_32_columns(void **state)
{
    env_t *e = *state;
    rjob_t at_load, job;
    int answered = 0;
    hub_restore_t r;

    rjob_init(&at_load, &answered);
    hub_store_t *s = open_ok(e);
    attach_ok(s, &wide_def, &at_load);
    check_wide(&at_load);
    load_ok(s, &r);
    hub_restore_free(&r);
    assert_int_equal(hub_store_start(s, e->inbox), 0);
    rjob_init(&job, &answered);
    hub_store_read_job(s, wide_job, rjob_done, &job);
    pump(e, &job.done, 1);
    assert_int_equal(job.rc, 0);
    check_wide(&job);
    hub_store_close(s);
}

int main(void)
{
    hub_log_set_level(HUB_LOG_OFF);
    umask(022); /* the 0755 check assumes the usual umask */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_new_db_created_at_version_2),
        T(test_seed000_db_migrates_to_version_2),
        T(test_newer_schema_refused),
        T(test_garbage_file_refused),
        T(test_foreign_sqlite_db_refused),
        T(test_unusable_data_dir),
        T(test_domain_attach_migrates_and_loads),
        T(test_domain_step_failure_rolls_back),
        T(test_domain_newer_schema_refused),
        T(test_domain_rows_roundtrip),
        T(test_rows_replaced_and_ordered),
        T(test_statement_cache_grows),
        T(test_journal_roundtrip_all_columns),
        T(test_batches_complete_in_order_and_restore),
        T(test_restore_ids_ttl_capacity_order),
        T(test_journal_byte_bound),
        T(test_journal_retention),
        T(test_journal_read_pages),
        T(test_journal_read_after_pruning),
        T(test_journal_reads_answered_at_shutdown),
        T(test_failed_row_rolls_back_whole_batch),
        T(test_failed_row_leaves_nothing_behind),
        T(test_failed_journal_insert_rolls_back),
        T(test_unpreparable_statement_fails_batch),
        T(test_wal_checkpointed_in_background),
        T(test_close_finishes_queued_batch),
        T(test_committed_batch_survives_kill),
        T(test_read_job_sees_committed_rows),
        T(test_read_jobs_answered_at_shutdown),
        T(test_domain_query_32_columns),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
