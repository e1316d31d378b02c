/* tests/unit/test_store.c - the SQLite store against real files in /tmp.
 *
 * Batches go through the real persist ops and come back through a real
 * hub_inbox on a uv loop, as in the daemon. Each test uses its own mkdtemp
 * directory and removes it afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
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
#include "store/store.h"

/* ---- fixtures ----------------------------------------------------------- */

typedef struct env {
    char dir[64];       /* mkdtemp result */
    char data_dir[128]; /* dir/data (created by the store) */
    char db_path[160];
    hub_store_cfg_t cfg;
    uv_loop_t loop;
    hub_inbox_t *inbox;
    hub_metrics_t *metrics;
} env_t;

typedef struct done_log {
    int n;                 /* completions seen */
    hub_batch_t *order[8]; /* in completion order */
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
    e->cfg.demo_universe = 1;
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

static void on_done(hub_batch_t *b, void *ud)
{
    done_log_t *d = ud;
    if (d->n < 8)
        d->order[d->n] = b;
    d->n++;
}

/* A batch of n records starting at first_seq, ids derived from the seq. */
static hub_batch_t *make_batch(uint64_t first_seq, size_t n, uint64_t ts_ms, done_log_t *d)
{
    hub_batch_t *b = calloc(1, sizeof(*b));
    b->recs = calloc(n ? n : 1, sizeof(*b->recs));
    b->nrecs = b->caprecs = n;
    for (size_t i = 0; i < n; i++) {
        hub_journal_rec_t *r = &b->recs[i];
        r->seq = first_seq + i;
        snprintf(r->cmd_id, sizeof(r->cmd_id), "01ARZ3NDEKTSV4RRFFQ%07llu",
                 (unsigned long long)r->seq);
        snprintf(r->src, sizeof(r->src), "test");
        r->rgb[0] = (uint8_t)r->seq;
        r->rgb[1] = 2;
        r->rgb[2] = 3;
        r->ts_ms = ts_ms;
    }
    hub_state_init(&b->state, 1);
    b->state.seq = first_seq + n - 1;
    b->state.ts_ms = ts_ms;
    b->rc = 12345; /* the store must overwrite it */
    b->done = on_done;
    b->done_ud = d;
    return b;
}

static void free_batch(hub_batch_t *b)
{
    free(b->recs);
    free(b);
}

/* Run the loop until d has want completions; bounded to ~5 s. */
static void wait_done(env_t *e, done_log_t *d, int want)
{
    for (int i = 0; i < 5000 && d->n < want; i++) {
        uv_run(&e->loop, UV_RUN_NOWAIT);
        if (d->n < want) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    assert_int_equal(d->n, want);
}

static hub_store_t *open_ok(env_t *e)
{
    hub_store_t *s = NULL;
    char err[256] = "";
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
    return rc;
}

static void load_ok(hub_store_t *s, hub_restore_t *r)
{
    char err[256] = "";
    if (hub_store_load(s, r, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
}

/* Open, load (discarding what is restored), start. */
static hub_store_t *start_ok(env_t *e)
{
    hub_store_t *s = open_ok(e);
    hub_restore_t r;
    load_ok(s, &r);
    hub_restore_free(&r);
    assert_int_equal(hub_store_start(s, e->inbox), 0);
    return s;
}

/* Open, load, start, write the batches one after another, close. */
static void write_batches(env_t *e, hub_batch_t **bs, int n)
{
    done_log_t *d = bs[0]->done_ud;
    hub_store_t *s = start_ok(e);
    const hub_persist_ops_t *ops = hub_store_persist_ops(s);
    for (int i = 0; i < n; i++) {
        int before = d->n;
        ops->submit(ops->ctx, bs[i]);
        wait_done(e, d, before + 1);
        assert_int_equal(bs[i]->rc, 0);
    }
    hub_store_close(s);
}

static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static const hub_universe_t *universe(const hub_state_t *st, int id)
{
    for (size_t i = 0; i < st->nuniverses; i++)
        if (st->universes[i].id == id)
            return &st->universes[i];
    return NULL;
}

static void fill(uint8_t *slots, uint8_t salt)
{
    for (int i = 0; i < HUB_DMX_SLOTS; i++)
        slots[i] = (uint8_t)(i * 7 + salt);
}

/* ---- tests -------------------------------------------------------------- */

static void test_new_db_loads_demo_state(void **state)
{
    env_t *e = *state;
    hub_restore_t r;
    struct stat sb;

    hub_store_t *s = open_ok(e);
    assert_int_equal(stat(e->data_dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0755);
    load_ok(s, &r);
    assert_int_equal(r.found, 0);
    assert_int_equal(r.state.seq, 0);
    assert_int_equal(r.nids, 0);
    const hub_fixture_t *demo = hub_state_fixture(&r.state, "demo");
    assert_non_null(demo);
    assert_int_equal(demo->universe, 1);
    assert_int_equal(demo->channel, 1);
    assert_non_null(universe(&r.state, 1));
    hub_restore_free(&r);
    hub_store_close(s); /* never started: just closes */

    assert_int_equal(sql_int(e->db_path, "PRAGMA user_version"), 1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM sqlite_master WHERE type='table' "
                                         "AND name IN ('state','universe','fixture','journal')"),
                     4);
    char mode[16] = "";
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(e->db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_string_equal(mode, "wal");
}

static void test_roundtrip_restores_exactly(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    uint64_t now = hub_wall_ms();

    hub_batch_t *b1 = make_batch(1, 3, now - 10, &d);
    fill(b1->state.universes[0].slots, 1);
    b1->state.universes[1].id = 7;
    fill(b1->state.universes[1].slots, 99);
    b1->state.nuniverses = 2;
    hub_fixture_t *spot = &b1->state.fixtures[b1->state.nfixtures++];
    snprintf(spot->name, sizeof(spot->name), "spot");
    spot->universe = 7;
    spot->channel = 10;
    spot->nchannels = 6;
    hub_batch_t *b2 = make_batch(4, 2, now, &d);
    memcpy(&b2->state.universes, &b1->state.universes, sizeof(b1->state.universes));
    memcpy(&b2->state.fixtures, &b1->state.fixtures, sizeof(b1->state.fixtures));
    b2->state.nuniverses = 2;
    b2->state.nfixtures = 2;
    b2->state.universes[0].slots[0] = 255;
    b2->state.universes[0].slots[511] = 42;

    /* Both queued before the thread reports either: completions in order. */
    hub_store_t *s = start_ok(e);
    const hub_persist_ops_t *ops = hub_store_persist_ops(s);
    ops->submit(ops->ctx, b1);
    ops->submit(ops->ctx, b2);
    wait_done(e, &d, 2);
    assert_ptr_equal(d.order[0], b1);
    assert_ptr_equal(d.order[1], b2);
    assert_int_equal(b1->rc, 0);
    assert_int_equal(b2->rc, 0);

    size_t len;
    char *text = hub_metrics_render(e->metrics, &len);
    assert_non_null(strstr(text, "dmx_store_commits_total 2\n"));
    assert_non_null(strstr(text, "dmx_store_errors_total 0\n"));
    assert_non_null(strstr(text, "dmx_store_batch_size 2\n"));
    assert_non_null(strstr(text, "dmx_store_commit_seconds_count 2\n"));
    free(text);
    hub_store_close(s);

    /* WAL folded back at close. */
    char wal[200];
    struct stat sb;
    snprintf(wal, sizeof(wal), "%s-wal", e->db_path);
    assert_true(stat(wal, &sb) < 0 || sb.st_size == 0);

    hub_metrics_free(e->metrics);
    e->metrics = hub_metrics_new();
    s = open_ok(e);
    hub_restore_t r;
    load_ok(s, &r);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.state.seq, 5);
    assert_int_equal(r.state.ts_ms, now);
    assert_int_equal(r.state.nuniverses, 2);
    assert_memory_equal(universe(&r.state, 1)->slots, b2->state.universes[0].slots, HUB_DMX_SLOTS);
    assert_memory_equal(universe(&r.state, 7)->slots, b2->state.universes[1].slots, HUB_DMX_SLOTS);
    assert_int_equal(r.state.nfixtures, 2);
    const hub_fixture_t *f = hub_state_fixture(&r.state, "spot");
    assert_non_null(f);
    assert_int_equal(f->universe, 7);
    assert_int_equal(f->channel, 10);
    assert_int_equal(f->nchannels, 6);
    assert_non_null(hub_state_fixture(&r.state, "demo"));
    assert_int_equal(r.nids, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(r.ids[i], (i < 3 ? b1->recs[i] : b2->recs[i - 3]).cmd_id);
    assert_int_equal(r.id_ts_ms[0], now - 10);
    assert_int_equal(r.id_ts_ms[4], now);
    hub_restore_free(&r);
    assert_null(r.ids);
    hub_store_close(s);

    assert_int_equal(sql_int(e->db_path, "SELECT r FROM journal WHERE seq = 4"), 4);
    free_batch(b1);
    free_batch(b2);
}

static void test_removed_rows_do_not_come_back(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    hub_batch_t *b1 = make_batch(1, 1, 1000, &d);
    b1->state.universes[1].id = 3;
    b1->state.nuniverses = 2;
    snprintf(b1->state.fixtures[1].name, sizeof(b1->state.fixtures[1].name), "gone");
    b1->state.nfixtures = 2;
    hub_batch_t *b2 = make_batch(2, 1, 2000, &d); /* demo only */
    hub_batch_t *bs[] = {b1, b2};
    write_batches(e, bs, 2);

    hub_store_t *s = open_ok(e);
    hub_restore_t r;
    load_ok(s, &r);
    assert_int_equal(r.state.nuniverses, 1);
    assert_null(universe(&r.state, 3));
    assert_int_equal(r.state.nfixtures, 1);
    assert_null(hub_state_fixture(&r.state, "gone"));
    hub_restore_free(&r);
    hub_store_close(s);
    free_batch(b1);
    free_batch(b2);
}

/* The store writes only rows that changed since its last commit; a failed
 * commit must not count as written, or its rows would never be retried. */
static void test_rows_of_a_failed_batch_are_written_later(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    hub_batch_t *b1 = make_batch(1, 1, 1000, &d);
    hub_batch_t *b2 = make_batch(1, 1, 2000, &d); /* seq 1 again: fails */
    fill(b2->state.universes[0].slots, 9);
    snprintf(b2->state.fixtures[1].name, sizeof(b2->state.fixtures[1].name), "wash");
    b2->state.fixtures[1].universe = 1;
    b2->state.fixtures[1].channel = 20;
    b2->state.fixtures[1].nchannels = 4;
    b2->state.nfixtures = 2;
    hub_batch_t *b3 = make_batch(2, 1, 3000, &d); /* same rows as b2, valid */
    memcpy(&b3->state.universes, &b2->state.universes, sizeof(b2->state.universes));
    memcpy(&b3->state.fixtures, &b2->state.fixtures, sizeof(b2->state.fixtures));
    b3->state.nfixtures = 2;

    hub_store_t *s = start_ok(e);
    const hub_persist_ops_t *ops = hub_store_persist_ops(s);
    ops->submit(ops->ctx, b1);
    wait_done(e, &d, 1);
    ops->submit(ops->ctx, b2);
    wait_done(e, &d, 2);
    assert_int_equal(b2->rc, HUB_ESTORE);
    ops->submit(ops->ctx, b3);
    wait_done(e, &d, 3);
    assert_int_equal(b3->rc, 0);
    hub_store_close(s);

    s = open_ok(e);
    hub_restore_t r;
    load_ok(s, &r);
    const hub_fixture_t *f = hub_state_fixture(&r.state, "wash");
    assert_non_null(f);
    assert_int_equal(f->channel, 20);
    assert_memory_equal(universe(&r.state, 1)->slots, b3->state.universes[0].slots, HUB_DMX_SLOTS);
    hub_restore_free(&r);
    hub_store_close(s);
    free_batch(b1);
    free_batch(b2);
    free_batch(b3);
}

/* Checkpoints run beside the writer: the WAL stays near the threshold
 * instead of growing with every commit, and nothing committed is lost. */
static void test_wal_checkpointed_in_background(void **state)
{
    env_t *e = *state;
    enum { N = 300, FRAMES = 8 };
    done_log_t d = {0};
    char wal[200];
    struct stat sb;

    e->cfg.checkpoint_frames = FRAMES;
    snprintf(wal, sizeof(wal), "%s-wal", e->db_path);
    hub_store_t *s = start_ok(e);
    const hub_persist_ops_t *ops = hub_store_persist_ops(s);
    for (int i = 0; i < N; i++) {
        hub_batch_t *b = make_batch((uint64_t)i + 1, 1, 1000 + (uint64_t)i, &d);
        b->state.universes[0].slots[0] = (uint8_t)i;
        ops->submit(ops->ctx, b);
        wait_done(e, &d, i + 1);
        assert_int_equal(b->rc, 0);
        free_batch(b);
        /* Commits a millisecond apart, as under load: time for the
         * checkpointer to run even on a machine busy with other tests. */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* Without checkpoints N commits leave ~3 frames each in the WAL; with
     * them it restarts every few commits. The bound leaves room for a
     * checkpoint thread starved on a loaded machine (RESTART at 16 x FRAMES
     * catches up). */
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(sb.st_size < (off_t)N * 4120);
    size_t len;
    char *text = hub_metrics_render(e->metrics, &len);
    assert_null(strstr(text, "dmx_store_checkpoints_total 0\n"));
    assert_non_null(strstr(text, "dmx_store_checkpoint_errors_total 0\n"));
    free(text);
    hub_store_close(s);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), N);
    assert_int_equal(sql_int(e->db_path, "SELECT seq FROM state"), N);
}

static void test_close_finishes_queued_batch(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    hub_batch_t *b = make_batch(1, 1, 5000, &d);

    hub_store_t *s = start_ok(e);
    hub_store_persist_ops(s)->submit(s, b);
    hub_store_close(s); /* the completion is posted even so */
    wait_done(e, &d, 1);
    assert_int_equal(b->rc, 0);
    assert_int_equal(sql_int(e->db_path, "SELECT seq FROM state"), 1);
    free_batch(b);
}

static void test_dedupe_ttl_capacity_order(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    uint64_t now = hub_wall_ms();
    /* seq 1-4 expired, 5-9 recent (ts rising with seq). */
    hub_batch_t *old = make_batch(1, 4, now - e->cfg.dedupe_ttl_ms - 60000, &d);
    hub_batch_t *recent = make_batch(5, 5, 0, &d);
    for (size_t i = 0; i < 5; i++)
        recent->recs[i].ts_ms = now - 5000 + i * 1000;
    hub_batch_t *bs[] = {old, recent};
    write_batches(e, bs, 2);

    /* TTL: only the 5 recent ones, though capacity allows 100. */
    hub_store_t *s = open_ok(e);
    hub_restore_t r;
    load_ok(s, &r);
    assert_int_equal(r.nids, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(r.ids[i], recent->recs[i].cmd_id);
        assert_int_equal(r.id_ts_ms[i], recent->recs[i].ts_ms);
    }
    hub_restore_free(&r);
    hub_store_close(s);

    /* Capacity 3: the 3 newest, still oldest first. */
    e->cfg.dedupe_capacity = 3;
    s = open_ok(e);
    load_ok(s, &r);
    assert_int_equal(r.nids, 3);
    assert_string_equal(r.ids[0], recent->recs[2].cmd_id);
    assert_string_equal(r.ids[1], recent->recs[3].cmd_id);
    assert_string_equal(r.ids[2], recent->recs[4].cmd_id);
    hub_restore_free(&r);
    hub_store_close(s);

    /* Capacity 0: none, and nothing to free. */
    e->cfg.dedupe_capacity = 0;
    s = open_ok(e);
    load_ok(s, &r);
    assert_int_equal(r.nids, 0);
    hub_restore_free(&r);
    hub_store_close(s);
    free_batch(old);
    free_batch(recent);
}

static void test_journal_retention(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    e->cfg.journal_retention = 10;
    e->cfg.dedupe_capacity = 5;
    /* 11 rows: within retention + 10%, kept. */
    hub_batch_t *b1 = make_batch(1, 11, 1000, &d);
    hub_batch_t *bs1[] = {b1};
    write_batches(e, bs1, 1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 11);

    /* A 12th row crosses the slack: back to the newest 10 (seq 3..12). */
    hub_batch_t *b2 = make_batch(12, 1, 2000, &d);
    hub_batch_t *bs2[] = {b2};
    write_batches(e, bs2, 1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 10);
    assert_int_equal(sql_int(e->db_path, "SELECT min(seq) FROM journal"), 3);
    assert_int_equal(sql_int(e->db_path, "SELECT max(seq) FROM journal"), 12);

    /* Retention is at least the dedupe capacity. */
    e->cfg.journal_retention = 2;
    e->cfg.dedupe_capacity = 20;
    hub_batch_t *b3 = make_batch(13, 10, 3000, &d);
    hub_batch_t *bs3[] = {b3};
    write_batches(e, bs3, 1);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 20);
    free_batch(b1);
    free_batch(b2);
    free_batch(b3);
}

static void test_failed_batch_rolls_back(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    hub_batch_t *b1 = make_batch(1, 2, 1000, &d);
    fill(b1->state.universes[0].slots, 5);
    /* Reuses seq 2: the journal insert fails after seq 3's row went in. */
    hub_batch_t *b2 = make_batch(3, 2, 2000, &d);
    b2->recs[1].seq = 2;
    b2->state.universes[0].slots[0] = 77;

    hub_store_t *s = start_ok(e);
    const hub_persist_ops_t *ops = hub_store_persist_ops(s);
    ops->submit(ops->ctx, b1);
    wait_done(e, &d, 1);
    assert_int_equal(b1->rc, 0);
    ops->submit(ops->ctx, b2);
    wait_done(e, &d, 2);
    assert_int_equal(b2->rc, HUB_ESTORE);
    assert_non_null(strstr(b2->err, "UNIQUE"));
    size_t len;
    char *text = hub_metrics_render(e->metrics, &len);
    assert_non_null(strstr(text, "dmx_store_errors_total 1\n"));
    assert_non_null(strstr(text, "dmx_store_commits_total 1\n"));
    free(text);
    /* The connection is usable again after the rollback. */
    hub_batch_t *b3 = make_batch(3, 1, 3000, &d);
    ops->submit(ops->ctx, b3);
    wait_done(e, &d, 3);
    assert_int_equal(b3->rc, 0);
    hub_store_close(s);

    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal"), 3);
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM journal WHERE seq = 4"), 0);
    assert_int_equal(sql_int(e->db_path, "SELECT seq FROM state"), 3);
    assert_int_equal(sql_int(e->db_path, "SELECT ts_ms FROM state"), 3000);
    free_batch(b1);
    free_batch(b2);
    free_batch(b3);
}

static void test_demo_fixture_always_present(void **state)
{
    env_t *e = *state;
    done_log_t d = {0};
    hub_batch_t *b = make_batch(1, 1, 1000, &d);
    fill(b->state.universes[0].slots, 9);
    hub_batch_t *bs[] = {b};
    write_batches(e, bs, 1);
    sql_exec(e->db_path, "DELETE FROM fixture; INSERT INTO fixture VALUES('wash', 1, 20, 4);"
                         "INSERT INTO universe VALUES(9, x'0102030405');");

    hub_store_t *s = open_ok(e);
    hub_restore_t r;
    load_ok(s, &r);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.state.seq, 1);
    const hub_fixture_t *demo = hub_state_fixture(&r.state, "demo");
    assert_non_null(demo);
    assert_int_equal(demo->universe, 1);
    assert_non_null(hub_state_fixture(&r.state, "wash"));
    assert_memory_equal(universe(&r.state, 1)->slots, b->state.universes[0].slots, HUB_DMX_SLOTS);
    assert_null(universe(&r.state, 9)); /* 5-byte blob ignored */
    hub_restore_free(&r);
    hub_store_close(s);
    free_batch(b);
}

static void test_newer_schema_refused(void **state)
{
    env_t *e = *state;
    char err[256] = "";
    hub_store_close(open_ok(e));
    sql_exec(e->db_path, "PRAGMA user_version = 99");
    assert_int_equal(open_fails(e, err, sizeof(err)), HUB_ESTORE);
    assert_string_equal(err, "database schema version 99 is newer than this showhub supports "
                             "(1); upgrade showhub or use another DMX_DATA_DIR");
}

static void test_garbage_file_refused(void **state)
{
    env_t *e = *state;
    char err[256] = "";
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", e->data_dir);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(e->db_path, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an sqlite database\n", f);
    fclose(f);
    assert_true(open_fails(e, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, e->db_path));
    assert_non_null(strstr(err, "not a usable showhub database"));
}

static void test_foreign_sqlite_db_refused(void **state)
{
    env_t *e = *state;
    char err[256] = "";
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", e->data_dir);
    assert_int_equal(system(cmd), 0);
    sql_exec(e->db_path, "CREATE TABLE photos(id INTEGER PRIMARY KEY)");
    assert_int_equal(open_fails(e, err, sizeof(err)), HUB_ESTORE);
    assert_non_null(strstr(err, "not a showhub one"));
    assert_int_equal(sql_int(e->db_path, "SELECT count(*) FROM sqlite_master"), 1);
}

static void test_unusable_data_dir(void **state)
{
    env_t *e = *state;
    char err[256] = "";
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
}

/* The durability contract: once done reports rc 0, a kill -9 loses nothing. */
static void test_committed_batch_survives_kill(void **state)
{
    env_t *e = *state;
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        done_log_t d = {0};
        uv_loop_t loop;
        hub_inbox_t *inbox;
        hub_store_t *s = NULL;
        char err[256];
        hub_restore_t r;
        uv_loop_init(&loop);
        hub_inbox_new(&inbox, &loop, NULL);
        if (hub_store_open(&s, &e->cfg, NULL, err, sizeof(err)) != 0 ||
            hub_store_load(s, &r, err, sizeof(err)) != 0 || hub_store_start(s, inbox) != 0)
            _exit(2);
        hub_batch_t *b = make_batch(1, 3, 4242, &d);
        fill(b->state.universes[0].slots, 3);
        hub_store_persist_ops(s)->submit(s, b);
        for (int i = 0; i < 5000 && d.n == 0; i++) {
            uv_run(&loop, UV_RUN_NOWAIT);
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        if (d.n != 1 || b->rc != 0)
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    hub_store_t *s = open_ok(e);
    hub_restore_t r;
    load_ok(s, &r);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.state.seq, 3);
    assert_int_equal(r.state.ts_ms, 4242);
    uint8_t want[HUB_DMX_SLOTS];
    fill(want, 3);
    assert_memory_equal(universe(&r.state, 1)->slots, want, HUB_DMX_SLOTS);
    assert_int_equal(r.nids, 0); /* ts 4242 is far outside the TTL */
    hub_restore_free(&r);
    hub_store_close(s);
}

int main(void)
{
    hub_log_set_level(HUB_LOG_OFF);
    umask(022); /* the 0755 check below assumes the usual umask */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_db_loads_demo_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_restores_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_rows_do_not_come_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_of_a_failed_batch_are_written_later, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpointed_in_background, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_finishes_queued_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedupe_ttl_capacity_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_batch_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demo_fixture_always_present, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_sqlite_db_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_data_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_committed_batch_survives_kill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
