/* tests/unit/test_show_store.c - the show domain on the real SQLite store
 * (a temp data dir), its files, and core/fileio.
 *
 * The hub is put together as src/app.c does (dmx then show, the store
 * attached and loaded, batches through the real persist ops and back
 * through a hub_inbox on a uv loop), and taken apart the same way; a
 * "restart" is a second hub on the same data dir. Checked: edits written
 * to the show file in the group commit (durable when the intent is
 * answered, no temp file left), show.delete removing the file, a file
 * write that fails failing the commit (and the hub going on once the
 * cause is gone), what a restart restores (the show from its file, the
 * transport paused, an unreadable file reported), the start-up scan
 * removing stale temp files, DMX_DEFAULT_SHOW, and hub_file_* directly.
 * Every wait is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/inbox.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "domains/dmx/dmx.h"
#include "domains/show/show.h"
#include "domains/show/show_int.h"
#include "engine/engine.h"
#include "engine/intent.h"
#include "store/store.h"

#define WAIT_MS 10000

static const char *const OPENING =
    "{'name':'opening','duration_ms':180000,'audio':'opening.mp3','cues':["
    "{'id':'c1','t_ms':0,'fixtures':['par1','par2'],'values':{'red':255,'dimmer':255},"
    "'fade_ms':2000,'curve':'linear'},"
    "{'id':'c2','t_ms':5000,'fixtures':['mover1'],'poi':'stage_center','fade_ms':500}],"
    "'effects':[{'id':'e1','t_ms':10000,'dur_ms':8000,'fixtures':['par1','par2'],"
    "'effect':'chase','params':{'period_ms':500,'role':'dimmer'}}]}";

/* One running hub. */
typedef struct hub {
    uv_loop_t loop;
    hub_metrics_t *m;
    hub_inbox_t *inbox;
    hub_store_t *store;
    hub_engine_t *e;
    hub_dmx_t *dmx;
    hub_showdom_t *d;
    /* the sink */
    hub_show_prog_t *prog;
    hub_transport_t tr;
    int nprog, ntr;
    /* operator events "level source: message\n", applied intents "name(src) " */
    char events[4096], seen[2048];
    /* the last answer */
    int outcome;
    hub_error_t err;
    /* at the answer: the bytes of watch (NULL: none) */
    char watch[256];
    char *watched;
} hub_t;

static hub_t H;
static char dir[64], data[128], patch[192], shows[192];
static const char *default_show;

#define SHOW_RIG       H
#define SHOW_RIG_SHOWS shows
#include "show_rig.h"

/* ---- helpers ------------------------------------------------------------------ */

/* The file's bytes (free them), NULL when it cannot be read. */
static char *slurp(const char *path)
{
    char *text, err[256];
    size_t len;
    if (hub_file_read(path, 1 << 20, &text, &len, err, sizeof(err)) != 0)
        return NULL;
    return text;
}

/* Show name's file, parsed; fails the test when it does not parse. */
static void read_show(const char *name, hub_show_t *out)
{
    char p[256], err[512];
    show_file(name, p, sizeof(p));
    char *text = slurp(p);
    if (text == NULL)
        fail_msg("%s cannot be read", p);
    if (hub_show_parse(text, strlen(text), p, out, err, sizeof(err)) != 0)
        fail_msg("%s does not parse: %s", p, err);
    hub_free(text);
}

static const hub_show_cue_t *cue_of(const hub_show_t *s, const char *id)
{
    for (size_t i = 0; i < s->ncues; i++)
        if (strcmp(s->cues[i].id, id) == 0)
            return &s->cues[i];
    return NULL;
}

/* Names in the shows directory starting with a dot (temp files), counted. */
static int dot_files(void)
{
    DIR *dp = opendir(shows);
    struct dirent *de;
    int n = 0;
    assert_non_null(dp);
    while ((de = readdir(dp)) != NULL)
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(dp);
    return n;
}

/* ---- the hub ---------------------------------------------------------------------- */

static void sink_previews(void *ud, hub_show_previews_t *pv)
{
    (void)ud;
    hub_show_previews_unref(pv);
}

static void on_event(void *ud, const hub_event_t *ev)
{
    static const char *const levels[] = {"info", "warning", "error"};
    size_t n = strlen(H.events);
    (void)ud;
    snprintf(H.events + n, sizeof(H.events) - n, "%s %s: %s\n", levels[ev->level], ev->source,
             ev->message);
}

/* Put a hub together on the data dir, as src/app.c does. */
static void hub_open(void)
{
    char err[512];
    hub_restore_t r;

    memset(&H, 0, sizeof(H));
    assert_int_equal(uv_loop_init(&H.loop), 0);
    H.m = hub_metrics_new();
    assert_int_equal(hub_inbox_new(&H.inbox, &H.loop, NULL), 0);
    hub_dmx_cfg_t dc = {.fixtures_file = patch, .file_explicit = 1, .demo_universe = 1};
    if (hub_dmx_new(&H.dmx, &dc, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    hub_showdom_cfg_t sc = {
        .shows_dir = shows, .default_show = default_show, .max_bytes = 1 << 20, .dmx = H.dmx};
    if (hub_showdom_new(&H.d, &sc, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    hub_engine_cfg_t ec = {.queue_size = 100, .dedupe_capacity = 100, .dedupe_ttl_ms = 60000};
    assert_int_equal(hub_engine_new(&H.e, &H.loop, &ec, H.m), 0);
    assert_int_equal(hub_engine_register(H.e, hub_dmx_domain(), H.dmx), 0);
    assert_int_equal(hub_engine_register(H.e, hub_showdom_domain(), H.d), 0);
    hub_store_cfg_t stc = {.data_dir = data,
                           .journal_retention = 1000,
                           .dedupe_capacity = 100,
                           .dedupe_ttl_ms = 60000};
    if (hub_store_open(&H.store, &stc, H.m, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    for (size_t i = 0; i < hub_engine_ndomains(H.e); i++) {
        void *ctx;
        const hub_domain_def_t *def = hub_engine_domain_at(H.e, i, &ctx);
        if (hub_store_attach(H.store, def, ctx, err, sizeof(err)) != 0)
            fail_msg("%s", err);
    }
    if (hub_store_load(H.store, &r, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(hub_engine_start(H.e, &r, hub_store_persist_ops(H.store)), 0);
    hub_restore_free(&r);
    assert_int_equal(hub_store_start(H.store, H.inbox), 0);
    hub_subscriber_t sub = {.on_state = on_state, .on_event = on_event};
    hub_engine_subscribe(H.e, &sub);
    hub_show_sink_t sink = {sink_playback, sink_previews, NULL};
    hub_showdom_set_sink(H.d, &sink);
    hub_showdom_start(H.d, H.e, &H.loop);
}

/* Run the loop until the engine is idle (bounded). */
static void hub_settle(void)
{
    for (int i = 0; i < WAIT_MS; i++) {
        uv_run(&H.loop, UV_RUN_NOWAIT);
        if (hub_engine_idle(H.e))
            return;
        sleep_ms(1);
    }
    fail_msg("the engine did not become idle");
}

/* And take it apart, as src/app.c does. */
static void hub_close(void)
{
    hub_settle();
    hub_engine_unsubscribe_all(H.e);
    hub_engine_close_store(H.e);
    hub_store_close(H.store);
    hub_inbox_drain(H.inbox);
    hub_engine_free(H.e);
    hub_inbox_close(H.inbox);
    hub_showdom_stop(H.d);
    uv_run(&H.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&H.loop), 0);
    hub_showdom_free(H.d);
    hub_dmx_free(H.dmx);
    hub_metrics_free(H.m);
    hub_show_prog_unref(H.prog);
    hub_free(H.watched);
    memset(&H, 0, sizeof(H));
}

static void on_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    (void)ann;
    (void)ud;
    H.outcome = in->outcome;
    H.err = in->err;
    if (H.watch[0] != '\0') {
        hub_free(H.watched);
        H.watched = slurp(H.watch); /* what the file holds when the intent is answered */
    }
}

static int run(const char *name, const char *payload)
{
    static int n;
    char id[32];
    snprintf(id, sizeof(id), "s-%d-%ld", ++n, (long)getpid());
    if (submit_intent(id, name, payload, on_done) != 0)
        return H.outcome;
    for (int i = 0; i < WAIT_MS && H.outcome == -999; i++) {
        uv_run(&H.loop, UV_RUN_NOWAIT);
        if (H.outcome == -999)
            sleep_ms(1);
    }
    assert_int_not_equal(H.outcome, -999);
    return H.outcome;
}

static const char *loaded_name(void)
{
    static char name[80];
    json_t *s = show_state();
    const char *n = json_string_value(json_object_get(json_object_get(s, "loaded"), "name"));
    snprintf(name, sizeof(name), "%s", n ? n : "");
    json_decref(s);
    return name;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_show_store.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(patch, sizeof(patch), "%s/fixtures.json", dir);
    snprintf(shows, sizeof(shows), "%s/data/shows", dir);
    write_path(patch, PATCH);
    assert_int_equal(mkdir(data, 0755), 0);
    assert_int_equal(mkdir(shows, 0755), 0);
    write_show("opening", OPENING);
    default_show = NULL;
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

/* ---- files written in the group commit ----------------------------------------------- */

static void test_edit_writes_the_file_in_the_commit(void **state)
{
    char path[256];
    hub_show_t s;
    (void)state;
    hub_open();
    ok("show.load", "{'name':'opening'}");
    show_file("opening", path, sizeof(path));
    snprintf(H.watch, sizeof(H.watch), "%s", path);
    ok("cue.update", "{'id':'c1','cue':{'t_ms':0,'fixtures':['par1'],'values':{'red':200},"
                     "'fade_ms':100}}");
    /* durable before the answer: the file already held the edit */
    assert_non_null(H.watched);
    assert_non_null(strstr(H.watched, "\"red\": 200"));
    read_show("opening", &s);
    const hub_show_cue_t *c = cue_of(&s, "c1");
    assert_non_null(c);
    assert_int_equal(c->nvalues, 1);
    assert_int_equal(c->values[0].value, 200);
    assert_int_equal(c->fade_ms, 100);
    assert_int_equal(c->nfixtures, 1);
    assert_int_equal(s.ncues, 2);
    assert_int_equal(s.neffects, 1);
    /* the file is what memory holds, in the canonical form */
    hub_jbuf_t a, b;
    hub_jbuf_init(&a);
    hub_jbuf_init(&b);
    hub_show_render(&a, &s);
    hub_show_render(&b, &H.d->show);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    hub_jbuf_free(&a);
    hub_jbuf_free(&b);
    hub_show_free(&s);
    /* indented for people */
    assert_non_null(strstr(H.watched, "\n  \"duration_ms\": 180000"));
    assert_int_equal(dot_files(), 0); /* no temp file left */

    /* effect edits and show.save of another show write their files too */
    ok("effect.delete", "{'id':'e1'}");
    read_show("opening", &s);
    assert_int_equal(s.neffects, 0);
    hub_show_free(&s);
    H.watch[0] = '\0';
    ok("show.save", "{'name':'fresh','show':{'name':'fresh','duration_ms':5000,'cues':["
                    "{'id':'a','t_ms':10,'fixtures':['par2'],'values':{'green':7}}]}}");
    read_show("fresh", &s);
    assert_string_equal(s.name, "fresh");
    assert_int_equal(s.duration_ms, 5000);
    assert_int_equal(s.cues[0].values[0].value, 7);
    assert_int_equal(s.cues[0].curve, HUB_CURVE_LINEAR); /* defaults written out */
    hub_show_free(&s);
    assert_int_equal(dot_files(), 0);
    /* a refused edit writes nothing */
    char *before = slurp(path);
    assert_int_equal(run("cue.update", "{'id':'nope','cue':{'t_ms':0,'fixtures':['par1'],"
                                       "'values':{'red':1}}}"),
                     HUB_INTENT_REJECTED);
    char *after = slurp(path);
    assert_string_equal(before, after);
    hub_free(before);
    hub_free(after);
    hub_close();
}

static void test_delete_removes_the_file(void **state)
{
    char path[256];
    (void)state;
    hub_open();
    ok("show.save", "{'name':'old','show':{'name':'old','duration_ms':1000}}");
    show_file("old", path, sizeof(path));
    assert_int_equal(access(path, F_OK), 0);
    json_t *e = list_entry("old");
    assert_non_null(e);
    json_decref(e);
    ok("show.delete", "{'name':'old'}");
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    assert_null(list_entry("old"));
    assert_int_equal(run("show.delete", "{'name':'old'}"), HUB_INTENT_REJECTED);
    assert_int_equal(H.err.code, HUB_ERR_NOT_FOUND);
    /* the loaded show cannot be deleted; its file stays */
    ok("show.load", "{'name':'opening'}");
    assert_int_equal(run("show.delete", "{'name':'opening'}"), HUB_INTENT_REJECTED);
    assert_int_equal(H.err.code, HUB_ERR_CONFLICT);
    show_file("opening", path, sizeof(path));
    assert_int_equal(access(path, F_OK), 0);
    hub_close();
}

/* A file write that fails fails the commit: the intent is answered
 * store_failed, the store error names the file. The state in memory is
 * kept and written with the next commit; once the cause is gone the hub
 * goes on. The cause here works as root too: the temp file's path is a
 * directory, so open() fails with EISDIR. */
static void test_failing_file_write_fails_the_commit(void **state)
{
    char path[256], tmp[256];
    hub_show_t s;
    (void)state;
    hub_open();
    ok("show.load", "{'name':'opening'}");
    assert_null(hub_engine_store_error(H.e));
    show_file("opening", path, sizeof(path));
    char *orig = slurp(path);
    snprintf(tmp, sizeof(tmp), "%s/.opening.cue.json.tmp", shows);
    assert_int_equal(mkdir(tmp, 0755), 0);

    H.events[0] = '\0';
    int rc = run("cue.update", "{'id':'c1','cue':{'t_ms':0,'fixtures':['par1'],"
                               "'values':{'red':201}}}");
    assert_int_equal(rc, HUB_ESTORE);
    assert_int_equal(H.err.code, HUB_ERR_STORE_FAILED);
    assert_non_null(strstr(H.err.msg, ".opening.cue.json.tmp"));
    const char *se = hub_engine_store_error(H.e);
    assert_non_null(se);
    assert_non_null(strstr(se, ".opening.cue.json.tmp"));
    assert_non_null(strstr(H.events, "error store: commit failed"));
    /* the file is untouched; memory holds the edit */
    char *now = slurp(path);
    assert_string_equal(now, orig);
    hub_free(now);
    assert_int_equal(H.d->show.cues[0].values[0].value, 201);
    /* while the cause lasts every commit carries the file and fails */
    assert_int_equal(run("transport.jump_to_time", "{'t_ms':1000}"), HUB_ESTORE);
    assert_int_equal(H.err.code, HUB_ERR_STORE_FAILED);

    /* the cause gone: the next commit succeeds and writes the kept edit */
    assert_int_equal(rmdir(tmp), 0);
    ok("transport.play", "{}");
    assert_null(hub_engine_store_error(H.e));
    read_show("opening", &s);
    assert_int_equal(cue_of(&s, "c1")->values[0].value, 201);
    hub_show_free(&s);
    assert_int_equal(dot_files(), 0);
    ok("transport.pause", "{}");
    ok("cue.update", "{'id':'c1','cue':{'t_ms':0,'fixtures':['par1'],'values':{'red':202}}}");
    read_show("opening", &s);
    assert_int_equal(cue_of(&s, "c1")->values[0].value, 202);
    hub_show_free(&s);
    hub_free(orig);
    hub_close();

    /* and what the failed commits left is consistent after a restart */
    hub_open();
    assert_string_equal(loaded_name(), "opening");
    assert_string_equal(tr_state(), "paused");
    assert_int_equal(H.d->show.cues[0].values[0].value, 202);
    hub_close();
}

/* ---- restarts -------------------------------------------------------------------------- */

/* A hub that stops while playing (no clean shutdown) comes back paused at
 * the last durable transport change, with the show read from its file. */
static void test_restart_playing_comes_back_paused(void **state)
{
    (void)state;
    hub_open();
    ok("show.load", "{'name':'opening'}");
    ok("cue.update", "{'id':'c1','cue':{'t_ms':0,'fixtures':['par1'],'values':{'red':77}}}");
    ok("transport.jump_to_time", "{'t_ms':5000}");
    ok("transport.play", "{'rate':1.5}");
    sleep_ms(50);
    hub_close(); /* no hub_showdom_shutdown: as after kill -9 */

    hub_open();
    assert_string_equal(loaded_name(), "opening");
    assert_string_equal(tr_state(), "paused");
    assert_int_equal(tr_t_ms(), 5000);
    assert_int_equal(H.d->tr.rate_pm, 1500);
    assert_null(H.d->load_warning);
    assert_int_equal(H.d->show.cues[0].values[0].value, 77); /* the edit, from the file */
    /* start handed the restored show and transport to the sink */
    assert_int_equal(H.nprog, 1);
    assert_non_null(H.prog);
    assert_int_equal(H.ntr, 1);
    assert_int_equal(H.tr.state, HUB_TRANSPORT_PAUSED);
    assert_int_equal(H.tr.t_us, 5000000);
    uint8_t out[512], set[512];
    hub_show_render_universe(H.prog, NULL, 2, 5000000, out, set);
    assert_int_equal(out[0], 77);
    assert_int_equal(set[0], 1);
    /* play resumes there */
    ok("transport.play", "{}");
    assert_int_equal(tr_t_ms(), 5000);
    hub_close();
}

/* A clean shutdown pauses first: the hub comes back where it stopped. */
static void test_restart_after_clean_shutdown(void **state)
{
    (void)state;
    hub_open();
    ok("show.load", "{'name':'opening'}");
    ok("transport.play", "{}");
    sleep_ms(80);
    hub_showdom_shutdown(H.d);
    hub_settle();
    assert_non_null(strstr(H.seen, "transport.pause(shutdown)"));
    int64_t at = tr_t_ms();
    assert_true(at >= 80);
    hub_close();

    hub_open();
    assert_string_equal(tr_state(), "paused");
    assert_int_equal(tr_t_ms(), at);
    hub_close();
}

/* Paused stays paused; stopped stays stopped; the file is the truth: a
 * valid change made to it while the hub was down is what loads. */
static void test_restart_paused_and_stopped(void **state)
{
    (void)state;
    hub_open();
    ok("show.load", "{'name':'opening'}");
    ok("transport.jump_to_time", "{'t_ms':7000}");
    hub_close();
    hub_open();
    assert_string_equal(tr_state(), "paused");
    assert_int_equal(tr_t_ms(), 7000);
    ok("transport.stop", "{}");
    hub_close();

    write_show("opening", "{'name':'opening','duration_ms':9000,'cues':["
                          "{'id':'hand','t_ms':0,'fixtures':['par2'],'values':{'blue':99}}]}");
    hub_open();
    assert_string_equal(loaded_name(), "opening");
    assert_string_equal(tr_state(), "stopped");
    assert_int_equal(tr_t_ms(), 0);
    assert_int_equal(H.d->show.duration_ms, 9000);
    assert_string_equal(H.d->show.cues[0].id, "hand");
    uint8_t out[512], set[512];
    hub_show_render_universe(H.prog, NULL, 2, 0, out, set);
    assert_int_equal(out[6], 99);
    /* unloaded stays unloaded */
    ok("show.unload", "{}");
    hub_close();
    hub_open();
    assert_string_equal(loaded_name(), "");
    assert_null(H.prog);
    hub_close();
}

/* A stored position past the end of the file's (shorter) show is not
 * restored: the show loads stopped. */
static void test_restart_position_beyond_a_shorter_file(void **state)
{
    (void)state;
    hub_open();
    ok("show.load", "{'name':'opening'}");
    ok("transport.jump_to_time", "{'t_ms':100000}");
    hub_close();
    write_show("opening", "{'name':'opening','duration_ms':9000}");
    hub_open();
    assert_string_equal(loaded_name(), "opening");
    assert_int_equal(tr_t_ms(), 0);
    assert_string_equal(tr_state(), "stopped");
    hub_close();
}

/* A show file that became invalid (or went away) while the hub was down:
 * nothing is loaded, the hub starts and says why. */
static void test_restart_invalid_file_warns(void **state)
{
    (void)state;
    hub_open();
    ok("show.load", "{'name':'opening'}");
    ok("transport.jump_to_time", "{'t_ms':3000}");
    hub_close();
    write_show("opening", "{'name':'opening','duration_ms':1000,'cues':["
                          "{'id':'c1','t_ms':0,'fixtures':['par1'],'values':{'red':1},"
                          "'fade_ms':-5}]}");
    hub_open();
    assert_string_equal(loaded_name(), "");
    assert_null(H.prog);
    assert_string_equal(tr_state(), "stopped");
    assert_non_null(H.d->load_warning);
    assert_non_null(strstr(H.d->load_warning, "opening.cue.json"));
    assert_non_null(strstr(H.d->load_warning, "fade_ms"));
    assert_non_null(strstr(H.events, "warning show: the show loaded before the restart could not "
                                     "be loaded again: opening.cue.json"));
    json_t *e = list_entry("opening");
    assert_non_null(e);
    assert_non_null(json_object_get(e, "error"));
    json_decref(e);
    /* the hub works: another show loads */
    ok("show.save", "{'name':'next','show':{'name':'next','duration_ms':1000}}");
    ok("show.load", "{'name':'next'}");
    hub_close();

    /* a file that is gone */
    hub_open();
    assert_string_equal(loaded_name(), "next");
    hub_close();
    char p[256];
    show_file("next", p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    hub_open();
    assert_string_equal(loaded_name(), "");
    assert_non_null(strstr(H.d->load_warning, "does not exist"));
    assert_non_null(strstr(H.events, "warning show:"));
    hub_close();
}

/* The start-up scan removes the temp files an interrupted save left, and
 * nothing else. */
static void test_startup_scan_removes_stale_temp_files(void **state)
{
    char a[256], b[256], c[256], d[256];
    (void)state;
    snprintf(a, sizeof(a), "%s/.opening.cue.json.tmp", shows);
    snprintf(b, sizeof(b), "%s/.gone.cue.json.tmp", shows);
    snprintf(c, sizeof(c), "%s/.notes", shows);
    snprintf(d, sizeof(d), "%s/keep.tmp", shows);
    write_path(a, "{'name':'opening','dura");
    write_path(b, "{");
    write_path(c, "x");
    write_path(d, "x");
    hub_open();
    assert_int_equal(access(a, F_OK), -1);
    assert_int_equal(access(b, F_OK), -1);
    assert_int_equal(access(c, F_OK), 0);
    assert_int_equal(access(d, F_OK), 0);
    json_t *e = list_entry("opening"); /* the real file is untouched */
    assert_non_null(e);
    assert_null(json_object_get(e, "error"));
    json_decref(e);
    hub_close();
}

/* DMX_DEFAULT_SHOW: loaded at start when nothing is loaded and its file
 * exists (show.load, src startup); not over a restored show. */
static void test_default_show(void **state)
{
    (void)state;
    default_show = "absent";
    hub_open();
    hub_settle();
    assert_string_equal(loaded_name(), "");
    assert_string_equal(H.seen, "");
    hub_close();

    default_show = "opening";
    hub_open();
    hub_settle();
    assert_string_equal(H.seen, "show.load(startup) ");
    assert_string_equal(loaded_name(), "opening");
    ok("show.save", "{'name':'other','show':{'name':'other','duration_ms':1000}}");
    ok("show.load", "{'name':'other'}");
    hub_close();

    hub_open();
    hub_settle();
    assert_string_equal(H.seen, ""); /* a show was restored */
    assert_string_equal(loaded_name(), "other");
    hub_close();
}

/* ---- core/fileio ------------------------------------------------------------------------ */

/* len bytes written to path atomically read back (at most max) as the same
 * bytes and a terminating NUL. */
static void write_read_back(const char *path, const char *bytes, size_t len, size_t max)
{
    char err[512] = "", *text;
    size_t got;
    assert_int_equal(hub_file_write_atomic(path, bytes, len, err, sizeof(err)), 0);
    assert_int_equal(hub_file_read(path, max, &text, &got, err, sizeof(err)), 0);
    assert_int_equal(got, len);
    assert_memory_equal(text, bytes, len + 1);
    hub_free(text);
}

static void test_fileio_write_read_remove(void **state)
{
    char path[256], err[512] = "", *text;
    size_t len;
    (void)state;
    snprintf(path, sizeof(path), "%s/f.json", dir);
    write_read_back(path, "hello", 5, 100);
    /* over an existing file, shorter: no stale bytes */
    write_read_back(path, "hi", 2, 100);
    /* empty, and binary with a NUL */
    write_read_back(path, "", 0, 0);
    write_read_back(path, "a\0b", 3, 3);
    /* exactly max is fine, one more is -EFBIG naming the path */
    assert_int_equal(hub_file_read(path, 2, &text, &len, err, sizeof(err)), -EFBIG);
    assert_null(text);
    assert_non_null(strstr(err, path));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* no temp file left in the directory */
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s/.f.json.tmp", dir);
    assert_int_equal(access(tmp, F_OK), -1);
    /* remove, and remove again: not an error */
    assert_int_equal(hub_file_remove(path, err, sizeof(err)), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(hub_file_remove(path, err, sizeof(err)), 0);
    /* mkdir -p: nested, existing, with a trailing slash */
    char deep[256];
    snprintf(deep, sizeof(deep), "%s/a/b/c", dir);
    assert_int_equal(hub_mkdir_p(deep, err, sizeof(err)), 0);
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(hub_mkdir_p(deep, err, sizeof(err)), 0);
    snprintf(deep, sizeof(deep), "%s/a/b/d/", dir);
    assert_int_equal(hub_mkdir_p(deep, err, sizeof(err)), 0);
    snprintf(deep, sizeof(deep), "%s/a/b/d", dir);
    assert_int_equal(stat(deep, &st), 0);
}

static void test_fileio_errors_name_the_path(void **state)
{
    char path[256], err[512], *text = (char *)1;
    size_t len = 7;
    (void)state;
    /* read: missing */
    snprintf(path, sizeof(path), "%s/missing.json", dir);
    err[0] = '\0';
    assert_int_equal(hub_file_read(path, 100, &text, &len, err, sizeof(err)), -ENOENT);
    assert_null(text);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err, path));
    /* read: a directory is not a regular file */
    err[0] = '\0';
    assert_int_equal(hub_file_read(shows, 100, &text, &len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, shows));
    /* write: into a directory that does not exist */
    snprintf(path, sizeof(path), "%s/nodir/x.json", dir);
    err[0] = '\0';
    assert_int_equal(hub_file_write_atomic(path, "x", 1, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "nodir/.x.json.tmp"));
    /* write: the temp path is a directory (fails as root too) */
    char tmp[256];
    snprintf(path, sizeof(path), "%s/blocked.json", dir);
    snprintf(tmp, sizeof(tmp), "%s/.blocked.json.tmp", dir);
    assert_int_equal(mkdir(tmp, 0755), 0);
    err[0] = '\0';
    /* (the stale temp is unlinked first, a directory cannot be; then the
     * exclusive create finds it there) */
    assert_int_equal(hub_file_write_atomic(path, "x", 1, err, sizeof(err)), -EEXIST);
    assert_non_null(strstr(err, tmp));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(rmdir(tmp), 0);
    /* write: the target is a directory: the rename fails, the temp file goes */
    snprintf(path, sizeof(path), "%s/adir", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(tmp, sizeof(tmp), "%s/.adir.tmp", dir);
    err[0] = '\0';
    int rc = hub_file_write_atomic(path, "x", 1, err, sizeof(err));
    assert_true(rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST);
    assert_non_null(strstr(err, path));
    assert_int_equal(access(tmp, F_OK), -1);
    /* remove: a directory cannot be unlinked */
    err[0] = '\0';
    rc = hub_file_remove(path, err, sizeof(err));
    assert_true(rc < 0);
    assert_non_null(strstr(err, path));
    /* remove: a missing file in a missing directory (its directory cannot be synced) */
    snprintf(path, sizeof(path), "%s/nodir/x.json", dir);
    err[0] = '\0';
    assert_int_equal(hub_file_remove(path, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, path));
    /* mkdir -p: under a regular file; an empty path */
    snprintf(path, sizeof(path), "%s/plain", dir);
    write_path(path, "x");
    snprintf(tmp, sizeof(tmp), "%s/plain/sub", dir);
    err[0] = '\0';
    assert_int_equal(hub_mkdir_p(tmp, err, sizeof(err)), -ENOTDIR);
    assert_non_null(strstr(err, tmp));
    assert_int_equal(hub_mkdir_p("", err, sizeof(err)), -EINVAL);
    /* a path too long for the temp name */
    char *lp = malloc(4200);
    assert_non_null(lp);
    memset(lp, 'a', 4199);
    lp[0] = '/';
    lp[4199] = '\0';
    err[0] = '\0';
    assert_int_equal(hub_file_write_atomic(lp, "x", 1, err, sizeof(err)), -ENAMETOOLONG);
    assert_non_null(strstr(err, "too long"));
    free(lp);
}

int main(void)
{
    hub_log_set_level(HUB_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_edit_writes_the_file_in_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_removes_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_file_write_fails_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_playing_comes_back_paused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_after_clean_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_paused_and_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_position_beyond_a_shorter_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_invalid_file_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_startup_scan_removes_stale_temp_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_default_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fileio_write_read_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fileio_errors_name_the_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
