/* tests/unit/test_scenes_store.c - the scenes domain on the real SQLite
 * store (a temp data dir), with the real clocks and loop of scn_rig.h.
 *
 * The hub is put together as src/app.c does (the domains bound, the store
 * attached and loaded, batches through the real persist ops and back
 * through a hub_inbox on the uv loop) and taken apart the same way; a
 * "restart" is a second hub on the same data dir and scenes directory.
 * Checked: scene.save writes <dir>/<name>.scene.json as a file row of the
 * group commit (atomically: no temp file left, the text the canonical
 * render, indented), a refused save leaves the file alone, delete removes
 * it, and the files are what the next hub lists; a run's row at its start
 * and at its end (read with sqlite3 directly); after a restart the ended
 * runs are back in scenes.runs.* as they were, and a run that was running
 * comes back "interrupted" with its waiting actions "skipped". Every wait
 * is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#include <uv.h>

#include "core/inbox.h"
#include "scn_rig.h"
#include "store/store.h"

#define TIMEOUT_MS 300
#define END_MS     3000

static scn_rig_t R;
static hub_inbox_t *inbox;
static hub_store_t *store;
static char dir[64], data[128], scenes_dir[128], db_path[192];

/* ---- the hub ---------------------------------------------------------------------- */

static void hub_open(void)
{
    char err[512];
    hub_restore_t r;
    hub_scndom_cfg_t c = {.dir = scenes_dir,
                          .media_dir = data,
                          .media_command = NULL,
                          .feedback_timeout_ms = TIMEOUT_MS,
                          .mqtt_enabled = 1};

    memset(&R, 0, sizeof(R));
    scn_rig_init(&R, &c);
    assert_int_equal(hub_inbox_new(&inbox, &R.loop, NULL), 0);
    hub_store_cfg_t stc = {.data_dir = data,
                           .journal_retention = 10000,
                           .dedupe_capacity = 100,
                           .dedupe_ttl_ms = 60000};
    if (hub_store_open(&store, &stc, R.metrics, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    for (size_t i = 0; i < hub_engine_ndomains(R.e); i++) {
        void *ctx;
        const hub_domain_def_t *def = hub_engine_domain_at(R.e, i, &ctx);
        if (hub_store_attach(store, def, ctx, err, sizeof(err)) != 0)
            fail_msg("%s", err);
    }
    if (hub_store_load(store, &r, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    scn_rig_go(&R, &r, hub_store_persist_ops(store));
    hub_restore_free(&r);
    assert_int_equal(hub_store_start(store, inbox), 0);
}

static void hub_close(void)
{
    scn_rig_settle(&R);
    hub_scndom_stop(R.d);
    hub_devdom_stop(R.dv);
    hub_engine_unsubscribe_all(R.e);
    hub_engine_close_store(R.e);
    hub_store_close(store);
    store = NULL;
    hub_inbox_drain(inbox);
    hub_engine_free(R.e);
    hub_inbox_close(inbox);
    uv_run(&R.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&R.loop), 0);
    hub_scndom_free(R.d);
    hub_devdom_free(R.dv);
    hub_metrics_free(R.metrics);
    scn_rig_free_anns(&R);
    hub_jbuf_free(&R.events);
    hub_free(R.http_body);
    memset(&R, 0, sizeof(R));
}

static void hub_restart(void)
{
    hub_close();
    hub_open();
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_scenes_store.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(scenes_dir, sizeof(scenes_dir), "%s/scenes", dir);
    snprintf(db_path, sizeof(db_path), "%s/showhub.db", data);
    hub_open();
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];
    (void)state;
    if (R.e != NULL)
        hub_close();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void ok(const char *src, const char *name, const char *payload)
{
    if (scn_rig_run(&R, src, name, payload) != HUB_INTENT_APPLIED)
        fail_msg("%s %s: outcome %d %s/%s (%s)", name, payload, R.outcome,
                 hub_errcode_name(R.err.code), R.err.field, R.err.msg);
}

static void run(const char *name, char id[SCN_RUN_ID_LEN + 1])
{
    char p[256];
    snprintf(p, sizeof(p), "{'name':'%s'}", name);
    R.run_id[0] = '\0';
    ok("api", "scene.run", p);
    assert_int_equal(strlen(R.run_id), SCN_RUN_ID_LEN);
    memcpy(id, R.run_id, SCN_RUN_ID_LEN + 1);
}

static const char *act(const char *id, size_t i, const char *key)
{
    return scn_rig_act(&R, id, i, key);
}

/* The compact text of scenes.runs.<id> (hub_free it). */
static char *run_text(const char *id)
{
    json_t *r = scn_rig_get(&R, "runs", id);
    char *t = r ? json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char *out = hub_strdup(t ? t : "<absent>");
    free(t);
    json_decref(r);
    return out;
}

static void scene_path(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.scene.json", scenes_dir, name);
}

/* The number of entries in the scenes directory. */
static int dir_entries(void)
{
    DIR *d = opendir(scenes_dir);
    struct dirent *de;
    int n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* ---- sqlite3, directly -------------------------------------------------------------- */

static sqlite3 *sql_open(void)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The first column of the first row as text ("<null>"; "" for no row). */
static const char *sql_text(const char *sql, const char *arg)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    sqlite3 *db = sql_open();
    sqlite3_stmt *st;
    buf[k][0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(buf[k], sizeof(buf[k]), "%s", t ? (const char *)t : "<null>");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf[k];
}

/* ---- files ------------------------------------------------------------------------- */

#define INTRO                                                                                      \
    "{'room':'room1','description':'the intro','actions':["                                        \
    "{'t_ms':2500,'topic':'room1/audio','message':'bg.mp3'},"                                      \
    "{'t_ms':0,'topic':'room1/light','message':'ON','device':'esp32_01'},"                         \
    "{'t_ms':6000,'intent':{'name':'transport.play','payload':{'b':1,'a':2.5}}},"                  \
    "{'t_ms':10000,'command':{'device':'9b8d1856-ff34-4864-a726-12de072d0f77',"                    \
    "'action':'restart_app'}}]}"

/* PUT writes the file in the commit: the canonical render, indented, and
 * nothing else in the directory; a refused save leaves it; DELETE removes
 * it; the next hub lists what the files say. */
static void test_save_writes_file(void **state)
{
    char path[256];
    (void)state;
    scene_path("intro", path, sizeof(path));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_PUT, "/api/v1/scenes/intro", INTRO), 200);
    char *text = scn_read_file(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "\n  \"room\": \"room1\"")); /* for people: indented */
    json_error_t jerr;
    json_t *file = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (file == NULL)
        fail_msg("the file is not JSON (%s): %s", jerr.text, text);
    /* the canonical render (GET answers it) */
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_GET, "/api/v1/scenes/intro", NULL), 200);
    json_t *canon = json_loads(R.http_body, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(canon);
    assert_true(json_equal(file, canon));
    /* members in the documented order, actions in file order */
    char *compact = json_dumps(file, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(compact, R.http_body);
    free(compact);
    assert_string_equal(json_string_value(json_object_get(file, "name")), "intro");
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(file, "actions"), 0), "t_ms")),
                     2500);
    json_decref(canon);
    json_decref(file);
    hub_free(text);
    assert_int_equal(dir_entries(), 1); /* no temp file left */

    /* replaced */
    assert_int_equal(
        scn_rig_http(&R, HUB_HTTP_PUT, "/api/v1/scenes/intro",
                     "{'room':'room1','actions':[{'t_ms':0,'topic':'room1/x','message':'1'}]}"),
        200);
    text = scn_read_file(path);
    assert_non_null(strstr(text, "room1/x"));
    assert_null(strstr(text, "room1/light"));
    /* refused: the file stays as it was */
    assert_int_equal(
        scn_rig_http(&R, HUB_HTTP_PUT, "/api/v1/scenes/intro",
                     "{'room':'room1','actions':[{'t_ms':0,'topic':'room1/x'},{'t_ms':-1}]}"),
        400);
    assert_string_equal(R.err.field, "actions[0].message");
    char *still = scn_read_file(path);
    assert_string_equal(still, text);
    hub_free(still);
    hub_free(text);
    assert_int_equal(dir_entries(), 1);

    /* another, then a restart: both listed from the files */
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_PUT, "/api/v1/scenes/second", INTRO), 200);
    assert_int_equal(dir_entries(), 2);
    json_t *before = scn_rig_get(&R, "list", NULL);
    hub_restart();
    json_t *after = scn_rig_get(&R, "list", NULL);
    assert_int_equal(json_object_size(after), 2);
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);

    /* delete removes the file */
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_DELETE, "/api/v1/scenes/intro", NULL), 200);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(dir_entries(), 1);
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_DELETE, "/api/v1/scenes/intro", NULL), 404);
    /* the rescan agrees with the store */
    ok("api", "scene.rescan", "{}");
    json_t *l = scn_rig_get(&R, "list", NULL);
    assert_int_equal(json_object_size(l), 1);
    assert_non_null(json_object_get(l, "second"));
    json_decref(l);
}

/* ---- runs ------------------------------------------------------------------------- */

/* A row when the run starts, replaced when it ends. */
static void test_run_rows(void **state)
{
    (void)state;
    ok("api", "scene.save",
       "{'name':'r','scene':{'room':'room1','actions':["
       "{'t_ms':0,'topic':'room1/light','message':'ON'},"
       "{'t_ms':60,'topic':'room1/steam','message':'ON'}]}}");
    char id[SCN_RUN_ID_LEN + 1];
    run("r", id);
    assert_string_equal(sql_text("SELECT status FROM scene_runs WHERE id = ?1", id), "running");
    assert_string_equal(sql_text("SELECT ended_at FROM scene_runs WHERE id = ?1", id), "<null>");
    assert_string_equal(sql_text("SELECT scene FROM scene_runs WHERE id = ?1", id), "r");
    assert_string_equal(sql_text("SELECT room FROM scene_runs WHERE id = ?1", id), "room1");
    json_t *body = json_loads(sql_text("SELECT body FROM scene_runs WHERE id = ?1", id), 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "status")), "running");
    json_decref(body);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    assert_string_equal(sql_text("SELECT status FROM scene_runs WHERE id = ?1", id), "finished");
    assert_string_not_equal(sql_text("SELECT ended_at FROM scene_runs WHERE id = ?1", id),
                            "<null>");
    json_t *row = json_loads(sql_text("SELECT body FROM scene_runs WHERE id = ?1", id), 0, NULL);
    json_t *now = scn_rig_get(&R, "runs", id);
    assert_non_null(row);
    assert_true(json_equal(row, now));
    json_decref(row);
    json_decref(now);
    assert_string_equal(act(id, 0, "status"), "ok");
    assert_string_equal(act(id, 1, "status"), "timeout");
}

/* The ended runs come back as they were; a running one comes back
 * interrupted with its waiting actions skipped, and its room is free. */
static void test_restart_runs_back(void **state)
{
    (void)state;
    ok("api", "scene.save",
       "{'name':'a','scene':{'room':'room1','actions':[{'t_ms':0,'topic':'room1/"
       "l','message':'1'}]}}");
    ok("api", "scene.save",
       "{'name':'b','scene':{'room':'room2','actions':["
       "{'t_ms':0,'topic':'room2/l','message':'1'},"
       "{'t_ms':60000,'topic':'room2/m','message':'2'}]}}");
    ok("api", "scene.save",
       "{'name':'c','scene':{'room':'room3','actions':["
       "{'t_ms':0,'topic':'room3/l','message':'1'},"
       "{'t_ms':60000,'topic':'room3/m','message':'2'}]}}");
    char fin[SCN_RUN_ID_LEN + 1], stopped[SCN_RUN_ID_LEN + 1], running[SCN_RUN_ID_LEN + 1];
    run("a", fin);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(scn_rig_run_field(&R, fin, "status"), "finished");
    run("b", stopped);
    ok("api", "scene.stop", "{'name':'b'}");
    assert_string_equal(scn_rig_run_field(&R, stopped, "status"), "stopped");
    run("c", running);
    assert_string_equal(act(running, 0, "status"), "sent");
    assert_string_equal(act(running, 1, "status"), "pending");
    char *fin_text = run_text(fin), *stopped_text = run_text(stopped);

    hub_restart();
    char *t = run_text(fin);
    assert_string_equal(t, fin_text);
    hub_free(t);
    t = run_text(stopped);
    assert_string_equal(t, stopped_text);
    hub_free(t);
    hub_free(fin_text);
    hub_free(stopped_text);
    assert_string_equal(scn_rig_run_field(&R, running, "status"), "interrupted");
    assert_string_equal(scn_rig_run_field(&R, running, "scene"), "c");
    assert_string_equal(act(running, 0, "status"), "skipped");
    assert_string_equal(act(running, 1, "status"), "skipped");
    assert_string_equal(act(running, 1, "error"), "the hub stopped while the run was running");
    assert_string_equal(sql_text("SELECT status FROM scene_runs WHERE id = ?1", running),
                        "interrupted");
    json_t *runs = scn_rig_get(&R, "runs", NULL);
    assert_int_equal(json_object_size(runs), 3);
    json_decref(runs);
    /* GET /api/v1/scenes/runs lists them; GET …/runs/<id> answers one */
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_GET, "/api/v1/scenes/runs", NULL), 200);
    assert_non_null(strstr(R.http_body, running));
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/scenes/runs/%s", running);
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_GET, path, NULL), 200);
    assert_non_null(strstr(R.http_body, "\"status\":\"interrupted\""));
    assert_int_equal(
        scn_rig_http(&R, HUB_HTTP_GET, "/api/v1/scenes/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV", NULL),
        404);
    /* nothing runs: room3 is free, nothing of the old run is sent */
    assert_int_equal(R.d->nruns, 0);
    char again[SCN_RUN_ID_LEN + 1];
    run("c", again);
    assert_string_equal(scn_rig_run_field(&R, again, "status"), "running");
    assert_int_equal(scn_rig_count_published(&R, 0, "room3/m"), 0);
    ok("api", "scene.stop", "{'name':'c'}");

    /* and a second restart keeps it so */
    hub_restart();
    assert_string_equal(scn_rig_run_field(&R, running, "status"), "interrupted");
    assert_string_equal(scn_rig_run_field(&R, again, "status"), "stopped");
}

int main(void)
{
    hub_log_set_level(getenv("SCN_LOG") ? HUB_LOG_DEBUG : HUB_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_save_writes_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_runs_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
