/* tests/unit/test_dmx_store.c - the dmx domain's tables on the real SQLite
 * store: what load makes of rows it did not write itself (hand-edited,
 * from an older patch, damaged). The fixture "demo" is always there, rows
 * of fixtures and universes the patch no longer has are dropped (and stay
 * gone), damaged values are ignored rather than trusted, and the patch the
 * state was saved with is kept so a changed file arrives as a reload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#include <uv.h>

#include "core/metrics.h"
#include "domains/dmx/dmx.h"
#include "engine/engine.h"
#include "store/store.h"

static const char *const PATCH =
    "{\"universes\":[1,2],\"fixtures\":["
    "{\"name\":\"par1\",\"universe\":1,\"address\":10,\"channels\":[\"red\",\"dimmer\"]},"
    "{\"name\":\"spot\",\"universe\":2,\"address\":1,\"channels\":[\"dimmer\"]}]}";

static char dir[64], file[128], db[128];

static void write_patch(const char *text)
{
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void sql(const char *text)
{
    sqlite3 *d;
    assert_int_equal(sqlite3_open(db, &d), SQLITE_OK);
    if (sqlite3_exec(d, text, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", text, sqlite3_errmsg(d));
    sqlite3_close(d);
}

static long long sql_int(const char *text)
{
    sqlite3 *d;
    sqlite3_stmt *st;
    long long v = -1;
    assert_int_equal(sqlite3_open(db, &d), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(d, text, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(d);
    return v;
}

/* Open the store, attach dmx (migrations + load), start an engine on what
 * was loaded; returns the published state as JSON and whether the patch
 * file differs from the stored patch. */
static json_t *load_state(int *patch_changed)
{
    uv_loop_t loop;
    hub_metrics_t *m = hub_metrics_new();
    hub_store_t *s;
    hub_dmx_t *d;
    hub_engine_t *e;
    hub_restore_t r;
    char err[512];
    hub_store_cfg_t sc = {
        .data_dir = dir, .journal_retention = 100, .dedupe_capacity = 10, .dedupe_ttl_ms = 60000};
    hub_dmx_cfg_t dc = {.fixtures_file = file, .file_explicit = 1, .demo_universe = 1};
    hub_engine_cfg_t ec = {.queue_size = 10, .dedupe_capacity = 10, .dedupe_ttl_ms = 60000};

    uv_loop_init(&loop);
    if (hub_dmx_new(&d, &dc, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(hub_engine_new(&e, &loop, &ec, m), 0);
    assert_int_equal(hub_engine_register(e, hub_dmx_domain(), d), 0);
    if (hub_store_open(&s, &sc, m, err, sizeof(err)) != 0 ||
        hub_store_attach(s, hub_dmx_domain(), d, err, sizeof(err)) != 0 ||
        hub_store_load(s, &r, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(hub_engine_start(e, &r, NULL), 0);
    hub_restore_free(&r);
    *patch_changed = hub_dmx_patch_changed(d);

    hub_jbuf_t b;
    hub_jbuf_init(&b);
    hub_engine_render_state(e, hub_engine_state_rooms(e), &b);
    json_t *j = json_loads(b.p, 0, NULL);
    assert_non_null(j);
    hub_jbuf_free(&b);

    hub_store_close(s);
    hub_engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    hub_dmx_free(d);
    hub_metrics_free(m);
    return j;
}

static const json_t *dmx_of(const json_t *j)
{
    return json_object_get(json_object_get(j, "state"), "dmx");
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_dmx_store.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/fixtures.json", dir);
    snprintf(db, sizeof(db), "%s/showhub.db", dir);
    write_patch(PATCH);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* A new database stores the file's patch as it is: no reload pending. */
static void test_new_db_stores_the_patch(void **state)
{
    int changed = -1;
    (void)state;
    json_t *j = load_state(&changed);
    assert_int_equal(changed, 0);
    const json_t *fx = json_object_get(dmx_of(j), "fixtures");
    assert_non_null(json_object_get(fx, "demo")); /* implicit, on universe 1 */
    assert_non_null(json_object_get(fx, "par1"));
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM dmx_meta WHERE key = 'patch'"), 1);
    /* the same file again: still nothing to reload */
    j = load_state(&changed);
    assert_int_equal(changed, 0);
    json_decref(j);
}

/* Rows nobody should trust: a fixture the patch does not have, values that
 * are not JSON, roles the fixture lacks, a raw-channel blob of the wrong
 * size, raw channels of a universe not in the patch and on a patched slot. */
static void test_hostile_rows_are_dropped_or_ignored(void **state)
{
    int changed = -1;
    (void)state;
    json_decref(load_state(&changed)); /* create the tables */
    sql("INSERT INTO dmx_fixture VALUES('gone', 1, '{\"red\":5}', 3, 1000);"
        "INSERT INTO dmx_fixture VALUES('par1', 0, 'not json', 4, 1000);"
        "INSERT INTO dmx_fixture VALUES('spot', 1, '{\"dimmer\":300,\"pan\":7,\"uv\":\"x\"}', 5, "
        "1000);"
        "DELETE FROM dmx_fixture WHERE name = 'demo';"
        "INSERT INTO dmx_channels VALUES(1, x'0102030405', x'0101010101');"
        "INSERT INTO dmx_channels VALUES(9, zeroblob(512), zeroblob(512));");
    json_t *j = load_state(&changed);
    const json_t *dmx = dmx_of(j);
    const json_t *fx = json_object_get(dmx, "fixtures");

    assert_non_null(json_object_get(fx, "demo")); /* always there */
    assert_null(json_object_get(fx, "gone"));
    /* Damaged values: ignored, the fixture kept with what its row says else. */
    const json_t *par1 = json_object_get(fx, "par1");
    assert_true(json_is_false(json_object_get(par1, "armed")));
    assert_true(json_is_null(json_object_get(json_object_get(par1, "values"), "red")));
    /* Out-of-range values are clamped, roles it lacks and non-numbers skipped. */
    const json_t *sv = json_object_get(json_object_get(fx, "spot"), "values");
    assert_int_equal(json_integer_value(json_object_get(sv, "dimmer")), 255);
    assert_int_equal(json_object_size(sv), 1);
    assert_int_equal(json_object_size(json_object_get(dmx, "channels")), 0);
    json_decref(j);
    /* The rows of what the patch does not have are gone from the tables. */
    assert_int_equal(sql_int("SELECT count(*) FROM dmx_fixture WHERE name = 'gone'"), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM dmx_channels WHERE universe = 9"), 0);
    /* and they do not come back */
    j = load_state(&changed);
    assert_null(json_object_get(json_object_get(dmx_of(j), "fixtures"), "gone"));
    json_decref(j);
}

/* A file changed while stopped: the state loads with the stored patch (what
 * clients last saw), and the change is flagged to arrive as a reload. */
static void test_changed_file_loads_the_stored_patch(void **state)
{
    int changed = -1;
    (void)state;
    json_decref(load_state(&changed));
    sql("INSERT OR REPLACE INTO dmx_fixture VALUES('par1', 1, '{\"red\":7}', 2, 1000)");
    write_patch("{\"universes\":[1],\"fixtures\":["
                "{\"name\":\"par1\",\"universe\":1,\"address\":20,\"channels\":[\"red\"]}]}");
    json_t *j = load_state(&changed);
    assert_int_equal(changed, 1);
    const json_t *fx = json_object_get(dmx_of(j), "fixtures");
    const json_t *par1 = json_object_get(fx, "par1");
    assert_int_equal(json_integer_value(json_object_get(par1, "address")), 10); /* stored */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(par1, "values"), "red")),
                     7);
    assert_non_null(json_object_get(fx, "spot")); /* still: the reload removes it */
    json_decref(j);
    /* A damaged stored patch is replaced by the file's, with no reload. */
    sql("UPDATE dmx_meta SET value = '{\"patch\":5}' WHERE key = 'patch'");
    j = load_state(&changed);
    assert_int_equal(changed, 0);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(dmx_of(j), "fixtures"), "par1"), "address")),
        20);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_db_stores_the_patch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_rows_are_dropped_or_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_file_loads_the_stored_patch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
