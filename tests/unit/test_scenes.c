/* tests/unit/test_scenes.c - the scenes domain on a real engine without a
 * store (persist NULL: every batch completes at once), on a real uv loop
 * with the real clocks (scn_rig.h): scenes fire on the monotonic clock, so
 * offsets are short (0/60/120 ms) and SCENE_FEEDBACK_TIMEOUT_MS is 300;
 * orders and outcomes are asserted exactly, times only with generous
 * bounds (ASan).
 *
 * Scenes are saved with scene.save (in memory here: without a store no file
 * is written; test_scenes_store.c has the files), run with scene.run or the
 * REST routes, and answered by feedback fed through the domain's raw MQTT
 * topics as the MQTT adapter hands them over. Checked: seed 002's timing
 * (offsets, file order for ties, the 0 ms actions inside the run's own
 * announcement), feedback correlation (ok with latency, error, timeout,
 * out of order, two rooms, devices/<id>/status, nothing waiting) and its
 * log lines, local /audio and /video (simulated, played, missing, failing
 * player; never published), simulation mode, room conflicts and restart,
 * intent and command actions, the hub's own intents, the directory
 * (rescan, broken files) and hostile payloads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "scn_rig.h"

#define TIMEOUT_MS 300  /* SCENE_FEEDBACK_TIMEOUT_MS */
#define END_MS     5000 /* the longest wait for a run to end */
#define U1         "9b8d1856-ff34-4864-a726-12de072d0f77"
#define U2         "0b9c5e0e-3a4f-4d6b-9a8e-2f1e3d4c5b6a"

static scn_rig_t R;
static scn_cap_t cap = {-1, ""};
static int log_level = HUB_LOG_OFF;
static char tmp[64], scenes_dir[128], media_dir[128], media_cmd[512];

/* What the next setup binds with. */
static struct {
    int media; /* SCENE_MEDIA_COMMAND: 0 unset, 1 a shell writing <tmp>/played, 2 /bin/false */
    int nomqtt;
    int no_track;
} opt;

static int setup_with(void)
{
    char cmd[512];
    memset(&R, 0, sizeof(R));
    snprintf(tmp, sizeof(tmp), "/tmp/test_scenes.XXXXXX");
    assert_non_null(mkdtemp(tmp));
    snprintf(scenes_dir, sizeof(scenes_dir), "%s/scenes", tmp);
    snprintf(media_dir, sizeof(media_dir), "%s/media", tmp);
    snprintf(cmd, sizeof(cmd), "mkdir -p %s %s", scenes_dir, media_dir);
    assert_int_equal(system(cmd), 0);
    if (opt.media == 1)
        snprintf(media_cmd, sizeof(media_cmd), "/bin/sh -c 'echo {file} > %s/played'", tmp);
    else if (opt.media == 2)
        snprintf(media_cmd, sizeof(media_cmd), "/bin/false {file}");
    hub_scndom_cfg_t c = {.dir = scenes_dir,
                          .media_dir = media_dir,
                          .media_command = opt.media ? media_cmd : NULL,
                          .feedback_timeout_ms = TIMEOUT_MS,
                          .mqtt_enabled = !opt.nomqtt};
    R.no_track = opt.no_track;
    scn_rig_init(&R, &c);
    scn_rig_go(&R, NULL, NULL);
    memset(&opt, 0, sizeof(opt));
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with();
}

static int setup_player(void **state)
{
    (void)state;
    opt.media = 1;
    return setup_with();
}

static int setup_false_player(void **state)
{
    (void)state;
    opt.media = 2;
    return setup_with();
}

static int setup_nomqtt(void **state)
{
    (void)state;
    opt.nomqtt = 1;
    return setup_with();
}

static int setup_untracked(void **state)
{
    (void)state;
    opt.no_track = 1;
    return setup_with();
}

static int teardown(void **state)
{
    char cmd[160];
    (void)state;
    hub_free(scn_cap_end(&cap, log_level));
    scn_rig_free(&R);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static void ok(const char *src, const char *name, const char *payload)
{
    if (scn_rig_run(&R, src, name, payload) != HUB_INTENT_APPLIED)
        fail_msg("%s %s: outcome %d %s/%s (%s)", name, payload, R.outcome,
                 hub_errcode_name(R.err.code), R.err.field, R.err.msg);
}

/* Refused with code and field (and msg containing want_msg when given);
 * nothing announced. */
static void refused(const char *src, const char *name, const char *payload, hub_errcode_t code,
                    const char *field, const char *want_msg)
{
    size_t n = R.nanns;
    int rc = scn_rig_run(&R, src, name, payload);
    if (rc != HUB_INTENT_REJECTED || R.err.code != code || strcmp(R.err.field, field) != 0 ||
        (want_msg != NULL && strstr(R.err.msg, want_msg) == NULL))
        fail_msg("%s %.200s: outcome %d %s/%s (%s), want %s/%s (%s)", name, payload, rc,
                 hub_errcode_name(R.err.code), R.err.field, R.err.msg, hub_errcode_name(code),
                 field, want_msg ? want_msg : "");
    assert_int_equal(R.nanns, n);
}

/* scene.save name with the scene (single-quoted JSON). */
static void save(const char *name, const char *scene)
{
    char p[4096];
    snprintf(p, sizeof(p), "{'name':'%s','scene':%s}", name, scene);
    ok("api", "scene.save", p);
}

/* scene.run name; the run id into id. */
static void run(const char *name, char id[SCN_RUN_ID_LEN + 1])
{
    char p[256];
    snprintf(p, sizeof(p), "{'name':'%s'}", name);
    R.run_id[0] = '\0';
    ok("api", "scene.run", p);
    assert_int_equal(strlen(R.run_id), SCN_RUN_ID_LEN);
    memcpy(id, R.run_id, SCN_RUN_ID_LEN + 1);
}

static void run_inline(const char *actions, char id[SCN_RUN_ID_LEN + 1])
{
    char p[4096];
    snprintf(p, sizeof(p), "{'scene':{'actions':%s},'label':'inline test'}", actions);
    R.run_id[0] = '\0';
    ok("scene", "scene.run", p);
    assert_int_equal(strlen(R.run_id), SCN_RUN_ID_LEN);
    memcpy(id, R.run_id, SCN_RUN_ID_LEN + 1);
}

static const char *act(const char *id, size_t i, const char *key)
{
    return scn_rig_act(&R, id, i, key);
}

static const char *field(const char *id, const char *key)
{
    return scn_rig_run_field(&R, id, key);
}

static long count(const char *id, const char *status)
{
    json_t *r = scn_rig_get(&R, "runs", id);
    json_t *v = json_object_get(json_object_get(r, "counts"), status);
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(r);
    return n;
}

static long feedback_count(const char *key)
{
    json_t *f = scn_rig_get(&R, "feedback", NULL);
    json_t *v = json_object_get(f, key);
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(f);
    return n;
}

static const char *mode(const char *key)
{
    json_t *m = scn_rig_get(&R, "mode", NULL);
    const char *s = scn_text(m ? json_object_get(m, key) : NULL);
    json_decref(m);
    return s;
}

/* The value of the sample whose line starts with series and a space; NAN
 * when absent. */
static double metric(const char *series)
{
    size_t len, n = strlen(series);
    char *text = hub_metrics_render(R.metrics, &len);
    double v = NAN;
    for (char *line = text; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return v;
}

/* The log line containing what (a copy, or NULL). */
static char *log_line(const char *log, const char *what)
{
    const char *p = strstr(log, what);
    if (p == NULL)
        return NULL;
    const char *s = p, *e = strchr(p, '\n');
    while (s > log && s[-1] != '\n')
        s--;
    return hub_strndup(s, e ? (size_t)(e - s) : strlen(s));
}

static void assert_logged(const char *log, const char *what, const char *also)
{
    char *line = log_line(log, what);
    if (line == NULL)
        fail_msg("not logged: %s\n--- log:\n%s", what, log);
    if (also != NULL && strstr(line, also) == NULL)
        fail_msg("logged without %s: %s", also, line);
    hub_free(line);
}

static void wait_ms(long ms)
{
    scn_rig_wait(&R, ms, NULL, NULL);
}

static int status_is(scn_rig_t *r, const void *ud)
{
    const char *const *w = ud; /* id, index, status */
    return strcmp(scn_rig_act(r, w[0], (size_t)atoi(w[1]), "status"), w[2]) == 0;
}

static void wait_status(const char *id, const char *index, const char *status, long ms)
{
    const char *w[3] = {id, index, status};
    if (!scn_rig_wait(&R, ms, status_is, w))
        fail_msg("action %s of run %s is %s, not %s, after %ld ms", index, id,
                 act(id, (size_t)atoi(index), "status"), status, ms);
}

/* ---- timing ------------------------------------------------------------------------- */

/* Seed 002's timeline on a short scale: each action published at its
 * offset from the run's start (monotonic), never before it (beyond the
 * domain's 1 ms slack), in t_ms order, ties in file order; the 0 ms
 * actions go out with the scene.run announcement itself. */
static void test_timing(void **state)
{
    (void)state;
    save("timing", "{'room':'room1','actions':["
                   "{'t_ms':120,'topic':'room1/c','message':'C'},"
                   "{'t_ms':0,'topic':'room1/a','message':'A'},"
                   "{'t_ms':60,'topic':'room1/b1','message':'B1'},"
                   "{'t_ms':60,'topic':'room1/b2','message':'B2'},"
                   "{'t_ms':0,'topic':'room1/a2','message':'A2'}]}");
    size_t from = R.nanns;
    uint64_t submitted = hub_mono_us();
    char id[SCN_RUN_ID_LEN + 1];
    run("timing", id);
    const scn_run_t *r = scn__run(R.d, id);
    assert_non_null(r);
    uint64_t start = r->start_us;
    assert_true(start >= submitted);
    assert_string_equal(field(id, "status"), "running");
    assert_string_equal(field(id, "scene"), "timing");
    assert_string_equal(field(id, "room"), "room1");
    assert_string_equal(field(id, "src"), "api");

    /* the 0 ms actions: published by scene.run's own announcement (before
     * the subscribers hear it), in file order, QoS 0 as seed 002 sends them */
    size_t run_at = R.nanns;
    for (size_t i = from; i < R.nanns; i++)
        if (strcmp(R.anns[i].name, "scene.run") == 0)
            run_at = i;
    assert_true(run_at >= from + 2 && run_at < R.nanns);
    const scn_ann_t *a = &R.anns[run_at - 2], *a2 = &R.anns[run_at - 1];
    assert_string_equal(a->name, "direct");
    assert_int_equal(a->nmsgs, 1);
    assert_int_equal(a->msgs[0].kind, HUB_OUT_MQTT);
    assert_string_equal(a->msgs[0].topic, "room1/a");
    assert_string_equal(a->msgs[0].payload, "A"); /* a plain string, as seed 002 sends it */
    assert_int_equal(a->msgs[0].qos, 0);
    assert_int_equal(a->msgs[0].retain, 0);
    assert_true(a->msgs[0].tracked); /* its fate: handed to the socket or not */
    assert_string_equal(a2->name, "direct");
    assert_string_equal(a2->msgs[0].topic, "room1/a2");
    assert_string_equal(a2->msgs[0].payload, "A2");
    assert_int_equal(R.anns[run_at].nmsgs, 0);
    /* fired and sent: the 60 ms ones still pending */
    assert_string_equal(act(id, 1, "status"), "sent");
    assert_string_equal(act(id, 4, "status"), "sent");
    assert_string_equal(act(id, 2, "status"), "pending");
    assert_string_equal(act(id, 2, "fired_at"), "null");

    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");

    static const char *const order[] = {"room1/a", "room1/a2", "room1/b1", "room1/b2", "room1/c"};
    static const int64_t offset_ms[] = {0, 0, 60, 60, 120};
    size_t n = 0;
    for (size_t i = from; i < R.nanns; i++)
        for (size_t k = 0; k < R.anns[i].nmsgs; k++) {
            const scn_msg_t *m = &R.anns[i].msgs[k];
            if (m->kind != HUB_OUT_MQTT)
                continue;
            assert_true(n < 5);
            assert_string_equal(m->topic, order[n]);
            int64_t at = (int64_t)(R.anns[i].at_us - start);
            /* never early (the domain fires what is due within 1 ms), and
             * late by little (generous: ASan) */
            if (at < offset_ms[n] * 1000 - 1000 || at > offset_ms[n] * 1000 + 500000)
                fail_msg("%s published at %.3f ms, its offset is %lld ms", m->topic, at / 1000.0,
                         (long long)offset_ms[n]);
            n++;
        }
    assert_int_equal(n, 5);
    /* each action's late_ms is small; nothing answered: all timed out */
    for (size_t i = 0; i < 5; i++) {
        double late = scn_rig_act_num(&R, id, i, "late_ms");
        assert_true(late >= 0 && late < 500);
        assert_string_equal(act(id, i, "status"), "timeout");
        assert_string_equal(act(id, i, "kind"), "mqtt");
        assert_string_not_equal(act(id, i, "fired_at"), "null");
    }
    assert_string_equal(act(id, 0, "t_ms"), "120");
    assert_string_equal(act(id, 0, "i"), "0");
    assert_int_equal(count(id, "timeout"), 5);
    assert_int_equal(feedback_count("timeout"), 5);
    assert_string_not_equal(field(id, "ended_at"), "null");
    assert_string_equal(field(id, "duration_ms"), "120");
    assert_null(scn__run(R.d, id));
}

/* ---- feedback ------------------------------------------------------------------------- */

/* OK with its latency, ERROR, no answer: the three outcomes, logged as
 * seed 002 does; an ERROR does not stop the scene. */
static void test_feedback_outcomes_logged(void **state)
{
    (void)state;
    save("fb", "{'room':'room1','actions':["
               "{'t_ms':0,'topic':'room1/light','message':'ON'},"
               "{'t_ms':60,'topic':'room1/steam','message':'ON'},"
               "{'t_ms':120,'topic':'room1/motor','message':'START'}]}");
    scn_cap_begin(&cap);
    size_t from = R.nanns;
    char id[SCN_RUN_ID_LEN + 1];
    run("fb", id);
    wait_ms(30);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(act(id, 0, "status"), "ok");
    double lat = scn_rig_act_num(&R, id, 0, "latency_ms");
    assert_true(lat >= 30 && lat < 1000);
    /* steam answered ERROR */
    scn_rig_wait_published(&R, from, "room1/steam", 1000);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "ERROR"), 1);
    assert_string_equal(act(id, 1, "status"), "error");
    assert_non_null(strstr(act(id, 1, "error"), "ERROR"));
    assert_string_not_equal(act(id, 1, "latency_ms"), "null");
    assert_string_equal(field(id, "status"), "running");
    /* the motor still goes, and is never answered */
    scn_rig_wait_published(&R, from, "room1/motor", 1000);
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    char *log = scn_cap_end(&cap, log_level);
    assert_string_equal(act(id, 2, "status"), "timeout");
    assert_string_equal(act(id, 2, "latency_ms"), "null");
    assert_int_equal(count(id, "ok"), 1);
    assert_int_equal(count(id, "error"), 1);
    assert_int_equal(count(id, "timeout"), 1);

    /* "Feedback OK: room1/light (0.234s)" with this latency */
    const char *p = strstr(log, "Feedback OK: room1/light (");
    assert_non_null(p);
    char *end;
    double s = strtod(p + strlen("Feedback OK: room1/light ("), &end);
    assert_true(fabs(s * 1000 - lat) <= 1.01);
    assert_true(strncmp(end, "s)", 2) == 0);
    assert_logged(log, "Feedback OK: room1/light (", "\"logger\":\"mqtt_feedback\"");
    assert_logged(log, "Feedback TIMEOUT: room1/motor (>0.300s)", "\"logger\":\"mqtt_feedback\"");
    assert_logged(log, "Feedback ERROR: room1/steam (", "\"logger\":\"mqtt_feedback\"");
    assert_logged(log, "Sent: room1/light -> expecting feedback on: room1/status",
                  "\"level\":\"debug\"");
    assert_logged(log, "Publishing to room1/motor: START", "\"logger\":\"mqtt\"");
    assert_logged(log, "\"event\":\"scene_run_ended\"", "\"status\":\"finished\"");
    hub_free(log);

    /* the histogram */
    assert_int_equal(feedback_count("ok"), 1);
    assert_int_equal(feedback_count("error"), 1);
    assert_int_equal(feedback_count("timeout"), 1);
    assert_int_equal(feedback_count("timeout_ms"), TIMEOUT_MS);
    json_t *f = scn_rig_get(&R, "feedback", NULL);
    json_t *counts = json_object_get(f, "counts");
    size_t i;
    json_t *v;
    long total = 0;
    json_array_foreach(counts, i, v) total += (long)json_integer_value(v);
    assert_int_equal(total, 2); /* ok and error have a latency */
    assert_int_equal(json_array_size(counts),
                     json_array_size(json_object_get(f, "buckets_ms")) + 1);
    json_decref(f);
    assert_true(metric("scene_feedback_total{outcome=\"ok\"}") == 1);
    assert_true(metric("scene_feedback_total{outcome=\"timeout\"}") == 1);
    assert_true(metric("scene_actions_total{kind=\"mqtt\",outcome=\"error\"}") == 1);
}

/* Feedback for A coming late, inside B's window: A timed out, B is ok. */
static void test_feedback_out_of_order(void **state)
{
    (void)state;
    save("ooo", "{'room':'room1','actions':["
                "{'t_ms':0,'topic':'room1/a','message':'1'},"
                "{'t_ms':60,'topic':'room1/b','message':'2'}]}");
    size_t from = R.nanns;
    char id[SCN_RUN_ID_LEN + 1];
    run("ooo", id);
    scn_rig_wait_published(&R, from, "room1/b", 1000);
    /* the tick times A out at 300 ms; B waits until 360 ms */
    wait_status(id, "0", "timeout", 1000);
    assert_string_equal(act(id, 1, "status"), "sent");
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(act(id, 1, "status"), "ok");
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    assert_string_equal(act(id, 0, "status"), "timeout");

    /* the same, decided by the feedback itself: it arrived (at_us) after
     * A's deadline, before the tick timed A out */
    from = R.nanns;
    run("ooo", id);
    scn_rig_wait_published(&R, from, "room1/b", 1000);
    const scn_run_t *r = scn__run(R.d, id);
    assert_non_null(r);
    uint64_t a_sent = r->acts[0].sent_us;
    assert_true(a_sent != 0);
    assert_string_equal(act(id, 0, "status"), "sent");
    json_t *p = json_pack("{s:s,s:b,s:I,s:s}", "room", "room1", "ok", 1, "at_us",
                          (json_int_t)(a_sent + TIMEOUT_MS * 1000 + 5000), "topic", "room1/status");
    assert_int_equal(scn_rig_submit(&R, "mqtt", "scene.feedback", p), 0);
    scn_rig_settle(&R);
    assert_int_equal(R.outcome, HUB_INTENT_APPLIED);
    assert_string_equal(act(id, 0, "status"), "timeout");
    assert_string_equal(act(id, 1, "status"), "ok");
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    assert_int_equal(feedback_count("timeout"), 2);
    assert_int_equal(feedback_count("ok"), 2);
}

/* <room>/status answers only that room's actions, oldest first. */
static void test_feedback_two_rooms(void **state)
{
    (void)state;
    save("r1", "{'room':'room1','actions':["
               "{'t_ms':0,'topic':'room1/light','message':'ON'},"
               "{'t_ms':0,'topic':'room1/steam','message':'ON'}]}");
    save("r2", "{'room':'room2','actions':[{'t_ms':0,'topic':'room2/light','message':'ON'}]}");
    char id1[SCN_RUN_ID_LEN + 1], id2[SCN_RUN_ID_LEN + 1];
    run("r1", id1);
    run("r2", id2);
    assert_int_equal(scn_rig_mqtt(&R, "room2/status", "OK"), 1);
    assert_string_equal(act(id2, 0, "status"), "ok");
    assert_string_equal(act(id1, 0, "status"), "sent");
    assert_string_equal(act(id1, 1, "status"), "sent");
    assert_string_equal(field(id2, "status"), "finished");
    /* nothing waits in room2 any more: not even an intent */
    uint64_t seq = hub_engine_seq(R.e);
    assert_int_equal(scn_rig_mqtt(&R, "room2/status", "OK"), 0);
    assert_int_equal(hub_engine_seq(R.e), seq);
    /* room1: the oldest first */
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(act(id1, 0, "status"), "ok");
    assert_string_equal(act(id1, 1, "status"), "sent");
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "ERROR"), 1);
    assert_string_equal(act(id1, 1, "status"), "error");
    assert_string_equal(field(id1, "status"), "finished");
}

/* devices/<id>/status OK: the action naming that device, else the oldest
 * waiting one of any room; presence payloads are not feedback. */
static void test_feedback_device(void **state)
{
    (void)state;
    save("dv", "{'room':'room1','actions':["
               "{'t_ms':0,'topic':'room1/light','message':'ON'},"
               "{'t_ms':0,'topic':'room1/steam','message':'ON','device':'esp32_02'},"
               "{'t_ms':0,'topic':'room1/motor','message':'START','device':'esp32_03'}]}");
    char id[SCN_RUN_ID_LEN + 1];
    run("dv", id);
    assert_int_equal(scn_rig_mqtt(&R, "devices/esp32_03/status", "OK"), 1);
    assert_string_equal(act(id, 2, "status"), "ok");
    assert_string_equal(act(id, 0, "status"), "sent");
    assert_string_equal(act(id, 1, "status"), "sent");
    /* presence goes to the devices domain only */
    uint64_t seq = hub_engine_seq(R.e);
    assert_int_equal(scn_rig_mqtt(&R, "devices/esp32_02/status", "online"), 0);
    assert_string_equal(act(id, 1, "status"), "sent");
    assert_true(hub_engine_seq(R.e) > seq); /* device.presence */
    /* a device no action names: the oldest waiting (light) */
    assert_int_equal(scn_rig_mqtt(&R, "devices/esp32_09/status", "OK"), 1);
    assert_string_equal(act(id, 0, "status"), "ok");
    assert_string_equal(act(id, 1, "status"), "sent");
    assert_int_equal(scn_rig_mqtt(&R, "devices/esp32_02/status", "ERROR"), 1);
    assert_string_equal(act(id, 1, "status"), "error");
    assert_string_equal(field(id, "status"), "finished");
    /* nothing waits: no intent, no seq */
    seq = hub_engine_seq(R.e);
    assert_int_equal(scn_rig_mqtt(&R, "devices/esp32_02/status", "OK"), 0);
    assert_int_equal(hub_engine_seq(R.e), seq);
}

/* Two rooms waiting: a device no action names confirms neither (it could
 * belong to either room). */
static void test_feedback_device_two_rooms(void **state)
{
    (void)state;
    save("a1", "{'room':'room1','actions':[{'t_ms':0,'topic':'room1/light','message':'ON'}]}");
    save("a2", "{'room':'room2','actions':[{'t_ms':0,'topic':'room2/light','message':'ON'}]}");
    char id1[SCN_RUN_ID_LEN + 1], id2[SCN_RUN_ID_LEN + 1];
    run("a1", id1);
    run("a2", id2);
    scn_rig_mqtt(&R, "devices/esp32_09/status", "OK");
    assert_string_equal(act(id1, 0, "status"), "sent");
    assert_string_equal(act(id2, 0, "status"), "sent");
    assert_int_equal(scn_rig_mqtt(&R, "room2/status", "OK"), 1);
    assert_string_equal(act(id2, 0, "status"), "ok");
    /* now only room1 waits: the device's OK is its */
    assert_int_equal(scn_rig_mqtt(&R, "devices/esp32_09/status", "OK"), 1);
    assert_string_equal(act(id1, 0, "status"), "ok");
}

/* Feedback while nothing waits is ignored without an intent; other
 * payloads on <room>/status are someone else's. */
static void test_feedback_nothing_waiting(void **state)
{
    (void)state;
    uint64_t seq = hub_engine_seq(R.e);
    size_t n = R.nanns;
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 0);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "ERROR"), 0);
    assert_int_equal(scn_rig_mqtt(&R, "/status", "OK"), 0);
    assert_int_equal(hub_engine_seq(R.e), seq);
    assert_int_equal(R.nanns, n);

    save("w", "{'room':'room1','actions':[{'t_ms':0,'topic':'room1/light','message':'ON'}]}");
    char id[SCN_RUN_ID_LEN + 1];
    run("w", id);
    seq = hub_engine_seq(R.e);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "online"), 0);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "ok"), 0);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", ""), 0);
    assert_int_equal(scn_rig_mqtt(&R, "room3/status", "OK"), 0); /* room3 waits for nothing */
    char big[300];
    memset(big, 'r', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big + 200, "/status", 8);
    assert_int_equal(scn_rig_mqtt(&R, big, "OK"), 0); /* a room name too long */
    assert_int_equal(hub_engine_seq(R.e), seq);
    assert_string_equal(act(id, 0, "status"), "sent");
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(field(id, "status"), "finished");
}

/* A device that answers ERROR, or a publish the broker refused, never
 * stops the scene. */
static void test_error_never_stops(void **state)
{
    (void)state;
    save("e", "{'room':'room1','actions':["
              "{'t_ms':0,'topic':'room1/light','message':'ON'},"
              "{'t_ms':0,'topic':'room1/fog','message':'ON'},"
              "{'t_ms':60,'topic':'room1/steam','message':'ON'}]}");
    size_t from = R.nanns;
    char id[SCN_RUN_ID_LEN + 1];
    run("e", id);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "ERROR"), 1);
    assert_string_equal(act(id, 0, "status"), "error");
    /* the broker refused the second publish */
    scn_rig_puback(&R, scn_rig_published(&R, from, "room1/fog", NULL), 0, "no connection");
    assert_string_equal(act(id, 1, "status"), "error");
    assert_string_equal(act(id, 1, "error"), "not sent: no connection");
    assert_string_equal(field(id, "status"), "running");
    scn_msg_t *m = scn_rig_wait_published(&R, from, "room1/steam", 1000);
    scn_rig_puback(&R, m, 1, NULL); /* acknowledged: still waits for feedback */
    assert_string_equal(act(id, 2, "status"), "sent");
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(act(id, 2, "status"), "ok");
    assert_string_equal(field(id, "status"), "finished");
    assert_int_equal(count(id, "error"), 2);
}

/* Without an adapter that reports publishes (MQTT off), every publish
 * fails: the action is an error, the scene goes on. */
static void test_untracked_publish_fails(void **state)
{
    (void)state;
    char id[SCN_RUN_ID_LEN + 1];
    run_inline("[{'topic':'room1/light','message':'ON'},"
               "{'t_ms':60,'topic':'room1/steam','message':'ON'}]",
               id);
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    assert_string_equal(act(id, 0, "status"), "error");
    assert_non_null(strstr(act(id, 0, "error"), "MQTT is disabled"));
    assert_string_equal(act(id, 1, "status"), "error");
    assert_string_equal(field(id, "label"), "inline test");
    assert_string_equal(field(id, "scene"), "null");
    assert_string_equal(field(id, "room"), "null");
}

/* ---- local media ------------------------------------------------------------------------ */

static const char *const MEDIA_SCENE = "{'room':'room1','actions':["
                                       "{'t_ms':0,'topic':'room1/audio','message':'bg.mp3'},"
                                       "{'t_ms':0,'topic':'room1/light','message':'ON'},"
                                       "{'t_ms':60,'topic':'room1/video','message':'v.mp4'}]}";

/* Without SCENE_MEDIA_COMMAND local actions are simulated; never on MQTT. */
static void test_local_simulated(void **state)
{
    (void)state;
    save("m", MEDIA_SCENE);
    scn_cap_begin(&cap);
    size_t from = R.nanns;
    char id[SCN_RUN_ID_LEN + 1];
    run("m", id);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    char *log = scn_cap_end(&cap, log_level);
    assert_string_equal(act(id, 0, "kind"), "local");
    assert_string_equal(act(id, 0, "status"), "simulated");
    assert_string_equal(act(id, 1, "status"), "ok"); /* the local one expects no feedback */
    assert_string_equal(act(id, 2, "status"), "simulated");
    assert_string_equal(act(id, 2, "message"), "v.mp4");
    assert_string_equal(field(id, "simulation"), "false"); /* MQTT was not simulated */
    assert_int_equal(scn_rig_count_published(&R, from, "room1/audio"), 0);
    assert_int_equal(scn_rig_count_published(&R, from, "room1/video"), 0);
    assert_int_equal(scn_rig_count_published(&R, from, "room1/"), 1);
    assert_logged(log, "Simulated: room1/audio -> bg.mp3 (SCENE_MEDIA_COMMAND is not set)",
                  "\"logger\":\"media\"");
    hub_free(log);
    assert_string_equal(mode("media"), "simulated");
}

static int player_done(scn_rig_t *r, const void *ud)
{
    (void)ud;
    return r->d->children == NULL;
}

static int file_there(scn_rig_t *r, const void *path)
{
    (void)r;
    return access(path, F_OK) == 0;
}

/* SCENE_MEDIA_COMMAND plays the file from SCENE_MEDIA_DIR (no shell of its
 * own: this template asks for one). */
static void test_local_played(void **state)
{
    char path[192], want[256];
    (void)state;
    snprintf(path, sizeof(path), "%s/bg.mp3", media_dir);
    scn_write_file(path, "not really audio");
    save("p", "{'room':'room1','actions':[{'t_ms':0,'topic':'room1/audio','message':'bg.mp3'}]}");
    size_t from = R.nanns;
    char id[SCN_RUN_ID_LEN + 1];
    run("p", id);
    snprintf(path, sizeof(path), "%s/played", tmp);
    if (!scn_rig_wait(&R, 5000, file_there, path))
        fail_msg("the player did not run");
    assert_true(scn_rig_wait(&R, 5000, player_done, NULL));
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    char *played = scn_read_file(path);
    snprintf(want, sizeof(want), "%s/bg.mp3\n", media_dir);
    assert_string_equal(played, want);
    hub_free(played);
    assert_string_equal(act(id, 0, "status"), "played");
    assert_string_equal(act(id, 0, "error"), "null");
    assert_int_equal(scn_rig_count_published(&R, from, "room1/"), 0);
    assert_string_equal(mode("media"), "player");
}

/* A played action whose window closed while later actions wait must not
 * wake the tick for nothing (it once spun the loop: 30,000 seqs a run). */
static void test_local_then_later_no_spin(void **state)
{
    char path[192];
    (void)state;
    snprintf(path, sizeof(path), "%s/bg.mp3", media_dir);
    scn_write_file(path, "not really audio");
    save("ls", "{'room':'room1','actions':[{'t_ms':0,'topic':'room1/audio','message':'bg.mp3'},"
               "{'t_ms':900,'topic':'room1/steam','message':'ON'}]}");
    uint64_t seq = hub_engine_seq(R.e);
    char id[SCN_RUN_ID_LEN + 1];
    run("ls", id);
    size_t from = R.nanns;
    scn_rig_wait_published(&R, from, "room1/steam", 3000);
    /* run, outcome or not, the steam tick: a handful, not thousands */
    assert_true(hub_engine_seq(R.e) - seq < 8);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    assert_true(hub_engine_seq(R.e) - seq < 10);
}

/* A scene whose action runs itself again stops nesting at SCN_DEPTH_MAX. */
static void test_scene_runs_itself_bounded(void **state)
{
    (void)state;
    save("loop", "{'room':'room3','actions':[{'t_ms':0,'intent':{'name':'scene.run',"
                 "'payload':{'name':'loop','restart':true}}}]}");
    char id[SCN_RUN_ID_LEN + 1];
    run("loop", id);
    for (int i = 0; i < 50; i++)
        scn_rig_settle(&R);
    json_t *runs = scn_rig_get(&R, "runs", NULL);
    size_t n = 0;
    const char *key;
    json_t *r;
    json_object_foreach(runs, key, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "scene")), "loop") == 0)
            n++;
    }
    json_decref(runs);
    assert_int_equal(n, 1 + SCN_DEPTH_MAX); /* the first and 3 nested, then refused */
    refused("api", "scene.run", "{'name':'loop','depth':4}", HUB_ERR_CONFLICT, "name",
            "nest at most 3 deep");
    refused("api", "scene.run", "{'name':'loop','depth':'x'}", HUB_ERR_INVALID, "depth", NULL);
}

/* A media file not in SCENE_MEDIA_DIR: the action is an error, the scene
 * goes on. */
static void test_local_missing_file(void **state)
{
    char path[192];
    (void)state;
    save("p", "{'room':'room1','actions':["
              "{'t_ms':0,'topic':'room1/audio','message':'missing.mp3'},"
              "{'t_ms':60,'topic':'room1/light','message':'ON'}]}");
    size_t from = R.nanns;
    char id[SCN_RUN_ID_LEN + 1];
    run("p", id);
    scn_rig_wait_published(&R, from, "room1/light", 1000);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    assert_string_equal(act(id, 0, "status"), "error");
    assert_non_null(strstr(act(id, 0, "error"), "missing.mp3 cannot be read"));
    assert_string_equal(act(id, 1, "status"), "ok");
    snprintf(path, sizeof(path), "%s/played", tmp);
    assert_int_equal(access(path, F_OK), -1);

    /* the same as the scene's last action */
    save("q", "{'room':'room2','actions':["
              "{'t_ms':0,'topic':'room2/audio','message':'missing.mp3'}]}");
    run("q", id);
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    assert_string_equal(act(id, 0, "status"), "error");
    assert_int_equal(scn_rig_count_published(&R, from, "room2/"), 0);
}

/* A player that fails: the action is an error. */
static void test_local_player_fails(void **state)
{
    char path[192];
    (void)state;
    snprintf(path, sizeof(path), "%s/bg.mp3", media_dir);
    scn_write_file(path, "x");
    save("p", "{'room':'room1','actions':[{'t_ms':0,'topic':'room1/audio','message':'bg.mp3'}]}");
    char id[SCN_RUN_ID_LEN + 1];
    run("p", id);
    assert_true(scn_rig_wait(&R, 5000, player_done, NULL));
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    assert_string_equal(act(id, 0, "status"), "error");
    assert_string_equal(act(id, 0, "error"), "the player exited with status 1");
}

/* ---- simulation mode ----------------------------------------------------------------------- */

static void test_simulation_mode(void **state)
{
    (void)state;
    save("s", "{'room':'room1','actions':["
              "{'t_ms':0,'topic':'room1/light','message':'ON'},"
              "{'t_ms':60,'topic':'room1/steam','message':'ON'}]}");
    assert_string_equal(mode("simulation"), "false");
    assert_string_equal(mode("since"), "null");
    /* DOWN is the adapter retrying: not simulation yet */
    uint64_t seq = hub_engine_seq(R.e);
    hub_engine_link_set(R.e, HUB_LINK_DOWN);
    scn_rig_settle(&R);
    assert_int_equal(hub_engine_seq(R.e), seq);
    assert_string_equal(mode("simulation"), "false");
    /* unreachable: simulation */
    hub_engine_link_set(R.e, HUB_LINK_UNREACHABLE);
    scn_rig_settle(&R);
    assert_non_null(scn_rig_ann(&R, "scene.mode"));
    assert_string_equal(scn_rig_ann(&R, "scene.mode")->src, "mqtt");
    assert_string_equal(mode("simulation"), "true");
    assert_string_not_equal(mode("since"), "null");
    assert_non_null(strstr(mode("reason"), "unreachable"));
    assert_non_null(strstr(scn_rig_events(&R), "error scenes: simulation mode"));
    assert_true(metric("scene_simulation_mode") == 1);

    scn_cap_begin(&cap);
    size_t from = R.nanns;
    char id[SCN_RUN_ID_LEN + 1];
    run("s", id);
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    char *log = scn_cap_end(&cap, log_level);
    assert_string_equal(act(id, 0, "status"), "simulated");
    assert_string_equal(act(id, 1, "status"), "simulated");
    assert_string_equal(field(id, "simulation"), "true");
    assert_int_equal(count(id, "simulated"), 2);
    assert_logged(log, "Simulated: room1/light -> ON (the MQTT broker is unreachable)",
                  "\"logger\":\"mqtt\"");
    hub_free(log);

    /* back: simulation ends; what was simulated is never sent late */
    hub_engine_link_set(R.e, HUB_LINK_UP);
    scn_rig_settle(&R);
    assert_string_equal(mode("simulation"), "false");
    assert_string_equal(mode("since"), "null");
    assert_non_null(strstr(scn_rig_events(&R), "info scenes: simulation mode ended"));
    assert_true(metric("scene_simulation_mode") == 0);
    wait_ms(150);
    assert_int_equal(scn_rig_count_published(&R, from, "room1/"), 0);
    /* and new runs publish */
    run("s", id);
    assert_non_null(scn_rig_published(&R, from, "room1/light", NULL));
    assert_string_equal(act(id, 0, "status"), "sent");
    /* a reconnect (DOWN then UP) does not start simulation */
    seq = hub_engine_seq(R.e);
    hub_engine_link_set(R.e, HUB_LINK_DOWN);
    hub_engine_link_set(R.e, HUB_LINK_UP);
    scn_rig_settle(&R);
    assert_int_equal(hub_engine_seq(R.e), seq);
    assert_string_equal(mode("simulation"), "false");
}

/* The broker lost during a run: what fires from then on is simulated,
 * never sent later. */
static void test_simulation_mid_run(void **state)
{
    (void)state;
    save("s", "{'room':'room1','actions':["
              "{'t_ms':0,'topic':'room1/a','message':'1'},"
              "{'t_ms':60,'topic':'room1/b','message':'2'},"
              "{'t_ms':120,'topic':'room1/c','message':'3'}]}");
    size_t from = R.nanns;
    char id[SCN_RUN_ID_LEN + 1];
    run("s", id);
    hub_engine_link_set(R.e, HUB_LINK_DOWN);
    hub_engine_link_set(R.e, HUB_LINK_UNREACHABLE);
    scn_rig_settle(&R);
    assert_string_equal(mode("simulation"), "true");
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1); /* a was sent */
    assert_string_equal(act(id, 0, "status"), "ok");
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    assert_string_equal(act(id, 1, "status"), "simulated");
    assert_string_equal(act(id, 2, "status"), "simulated");
    assert_string_equal(field(id, "simulation"), "true");
    hub_engine_link_set(R.e, HUB_LINK_UP);
    scn_rig_settle(&R);
    wait_ms(100);
    assert_int_equal(scn_rig_count_published(&R, from, "room1/"), 1);
}

/* MQTT disabled: simulation from the start, without an intent. */
static void test_mqtt_disabled(void **state)
{
    (void)state;
    assert_int_equal(hub_engine_seq(R.e), 0);
    assert_string_equal(mode("simulation"), "true");
    assert_non_null(strstr(mode("reason"), "DMX_MQTT_ENABLED"));
    hub_engine_link_set(R.e, HUB_LINK_UNREACHABLE); /* no adapter would; still nothing */
    scn_rig_settle(&R);
    assert_int_equal(hub_engine_seq(R.e), 0);
    char id[SCN_RUN_ID_LEN + 1];
    run_inline("[{'topic':'room1/light','message':'ON'}]", id);
    assert_string_equal(field(id, "status"), "finished");
    assert_string_equal(act(id, 0, "status"), "simulated");
    assert_int_equal(scn_rig_count_published(&R, 0, "room1/"), 0);
}

/* ---- conflicts ---------------------------------------------------------------------------- */

static void test_conflict_and_restart(void **state)
{
    (void)state;
    save("s1", "{'room':'room1','actions':["
               "{'t_ms':0,'topic':'room1/light','message':'ON'},"
               "{'t_ms':5000,'topic':'room1/steam','message':'ON'}]}");
    save("s2", "{'room':'room1','actions':[{'t_ms':0,'topic':'room1/x','message':'X'}]}");
    save("s3", "{'room':'room2','actions':[{'t_ms':5000,'topic':'room2/y','message':'Y'}]}");
    size_t from = R.nanns;

    assert_int_equal(scn_rig_http(&R, HUB_HTTP_POST, "/api/v1/scenes/s1/run", NULL), 200);
    json_t *b = json_loads(R.http_body, 0, NULL);
    assert_true(json_is_true(json_object_get(b, "ok")));
    char id1[SCN_RUN_ID_LEN + 1];
    snprintf(id1, sizeof(id1), "%s", json_string_value(json_object_get(b, "run_id")));
    assert_int_equal(json_integer_value(json_object_get(b, "seq")), R.seq);
    json_decref(b);
    assert_string_equal(field(id1, "status"), "running");

    /* the room is busy: 409 conflict, for the same scene or another */
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_POST, "/api/v1/scenes/s1/run", NULL), 409);
    b = json_loads(R.http_body, 0, NULL);
    assert_false(json_is_true(json_object_get(b, "ok")));
    json_t *e = json_object_get(b, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "conflict");
    assert_string_equal(json_string_value(json_object_get(e, "field")), "name");
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), id1));
    json_decref(b);
    refused("api", "scene.run", "{'name':'s2'}", HUB_ERR_CONFLICT, "name",
            "room room1 is running s1");
    refused("api", "scene.run", "{'name':'s2','restart':false}", HUB_ERR_CONFLICT, "name", NULL);
    /* another room is free */
    char id3[SCN_RUN_ID_LEN + 1];
    run("s3", id3);

    /* restart: the old run stopped, its unfired actions skipped */
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_POST, "/api/v1/scenes/s2/run", "{'restart':true}"),
                     200);
    b = json_loads(R.http_body, 0, NULL);
    char id2[SCN_RUN_ID_LEN + 1];
    snprintf(id2, sizeof(id2), "%s", json_string_value(json_object_get(b, "run_id")));
    json_decref(b);
    assert_string_not_equal(id1, id2);
    assert_string_equal(field(id1, "status"), "stopped");
    assert_string_not_equal(field(id1, "ended_at"), "null");
    assert_string_equal(act(id1, 0, "status"), "skipped");
    assert_string_equal(act(id1, 0, "error"), "the run was stopped before its outcome was known");
    assert_string_equal(act(id1, 1, "status"), "skipped");
    assert_string_equal(act(id1, 1, "error"), "the run was stopped before it was due");
    assert_string_equal(act(id1, 1, "fired_at"), "null");
    assert_string_equal(field(id2, "status"), "running");
    assert_string_equal(field(id2, "scene"), "s2");
    assert_string_equal(act(id2, 0, "status"), "sent");
    assert_string_equal(field(id3, "status"), "running");
    /* a restart of the scene running itself */
    R.run_id[0] = '\0';
    ok("api", "scene.run", "{'name':'s2','restart':true}");
    char id4[SCN_RUN_ID_LEN + 1];
    snprintf(id4, sizeof(id4), "%s", R.run_id);
    assert_string_not_equal(id4, id2);
    assert_string_equal(field(id2, "status"), "stopped");
    assert_string_equal(field(id4, "status"), "running");
    /* room1's devices answer in order: the first two confirmations are the
     * stopped runs' published actions (s1's light, s2's x), not the new run's */
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(field(id4, "status"), "running");
    assert_string_equal(act(id4, 0, "status"), "sent");
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(act(id4, 0, "status"), "sent");
    /* the third one is the new run's */
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(field(id4, "status"), "finished");
    assert_string_equal(act(id4, 0, "status"), "ok");
    assert_string_equal(act(id2, 0, "status"), "skipped");

    /* stop: of a scene not running, fine and nothing changes */
    size_t n = R.nanns;
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_POST, "/api/v1/scenes/s1/stop", NULL), 200);
    assert_int_equal(R.nanns, n + 1);
    assert_int_equal(R.anns[n].nchanges, 0);
    ok("api", "scene.stop", "{'run':'01ARZ3NDEKTSV4RRFFQ69G5FAV'}");
    assert_int_equal(R.anns[R.nanns - 1].nchanges, 0);
    /* by run id */
    char p[128];
    snprintf(p, sizeof(p), "{'run':'%s'}", id3);
    ok("api", "scene.stop", p);
    assert_string_equal(field(id3, "status"), "stopped");
    assert_string_equal(act(id3, 0, "status"), "skipped");
    refused("api", "scene.stop", "{'name':'s1','run':'x'}", HUB_ERR_INVALID, "name", NULL);
    refused("api", "scene.stop", "{}", HUB_ERR_INVALID, "name", NULL);
    refused("api", "scene.stop", "{'name':'../etc'}", HUB_ERR_INVALID, "name", NULL);
    refused("api", "scene.stop", "{'name':'ghost'}", HUB_ERR_NOT_FOUND, "name", "no scene named");

    wait_ms(100);
    /* nothing of the stopped runs went out after all */
    assert_int_equal(scn_rig_count_published(&R, from, "room1/steam"), 0);
    assert_int_equal(scn_rig_count_published(&R, from, "room2/"), 0);
    /* run of a scene that does not exist */
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_POST, "/api/v1/scenes/nope/run", NULL), 404);
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_POST, "/api/v1/scenes/s1/run", "{'bogus':1}"), 400);
    assert_string_equal(R.err.field, "bogus");
}

/* At most SCN_RUNS_MAX runs at once; a restart in a busy room still goes. */
static void test_runs_limit(void **state)
{
    (void)state;
    save("s1", "{'room':'room1','actions':[{'t_ms':86400000,'topic':'room1/x','message':'1'}]}");
    save("s2", "{'room':'room1','actions':[{'t_ms':86400000,'topic':'room1/y','message':'1'}]}");
    save("s3", "{'room':'room2','actions':[{'t_ms':86400000,'topic':'room2/y','message':'1'}]}");
    char id[SCN_RUN_ID_LEN + 1];
    run("s1", id);
    for (int i = 1; i < SCN_RUNS_MAX; i++)
        run_inline("[{'t_ms':86400000,'topic':'room9/x','message':'1'}]", id);
    assert_int_equal(R.d->nruns, SCN_RUNS_MAX);
    refused("scene", "scene.run", "{'scene':{'actions':[]}}", HUB_ERR_CONFLICT, "name",
            "256 runs are running");
    refused("api", "scene.run", "{'name':'s3'}", HUB_ERR_CONFLICT, "name", "stop one first");
    ok("api", "scene.run", "{'name':'s2','restart':true}");
    assert_int_equal(R.d->nruns, SCN_RUNS_MAX);
    /* an empty inline scene finishes at once once there is room */
    ok("api", "scene.stop", "{'name':'s2'}");
    run_inline("[]", id);
    assert_string_equal(field(id, "status"), "finished");
    assert_int_equal(R.d->nruns, SCN_RUNS_MAX - 1);
}

/* ---- intent and command actions ------------------------------------------------------- */

static void test_intent_and_command_actions(void **state)
{
    (void)state;
    ok("mqtt", "device.discovery",
       "{'uuid':'" U1 "','hostname':'pi','ip':'10.0.0.9','info':{'v':1}}");
    save("ic",
         "{'room':'room1','actions':["
         "{'t_ms':0,'intent':{'name':'scene.stop','payload':{'run':'01ARZ3NDEKTSV4RRFFQ69G5FAV'}}},"
         "{'t_ms':0,'intent':{'name':'scene.delete','payload':{'name':'ghost'}}},"
         "{'t_ms':0,'command':{'device':'" U1 "','action':'restart_app'}},"
         "{'t_ms':0,'command':{'device':'" U2 "','action':'restart_app'}},"
         "{'t_ms':0,'intent':{'name':'nosuch.thing'}},"
         "{'t_ms':60,'topic':'room1/light','message':'ON'}]}");
    size_t from = R.nanns;
    char id[SCN_RUN_ID_LEN + 1];
    run("ic", id);
    scn_rig_wait_published(&R, from, "room1/light", 1000);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(scn_rig_wait_end(&R, id, END_MS), "finished");
    assert_string_equal(act(id, 0, "kind"), "intent");
    assert_string_equal(act(id, 0, "intent"), "scene.stop");
    assert_string_equal(act(id, 0, "status"), "done");
    assert_string_equal(act(id, 1, "status"), "error");
    assert_non_null(strstr(act(id, 1, "error"), "scene.delete refused: no scene named \"ghost\""));
    assert_string_equal(act(id, 2, "kind"), "command");
    assert_string_equal(act(id, 2, "status"), "done");
    assert_int_equal(strlen(act(id, 2, "command_id")), 36);
    assert_string_equal(act(id, 3, "status"), "error");
    assert_non_null(strstr(act(id, 3, "error"), "device.command refused: Client nicht gefunden"));
    assert_string_equal(act(id, 4, "status"), "error");
    assert_non_null(strstr(act(id, 4, "error"), "nosuch.thing refused"));
    assert_string_equal(act(id, 5, "status"), "ok");
    assert_int_equal(count(id, "done"), 2);
    assert_int_equal(count(id, "error"), 3);
    /* the command went to the device, from the scene */
    scn_ann_t *c = scn_rig_ann(&R, "device.command");
    assert_non_null(c);
    assert_string_equal(c->src, "scene");
    assert_non_null(scn_rig_published(&R, from, "infoscreen/" U1 "/commands", NULL));
    json_t *cmd = scn_rig_render(&R);
    json_t *dc = json_object_get(
        json_object_get(json_object_get(json_object_get(cmd, "state"), "devices"), "commands"),
        act(id, 2, "command_id"));
    assert_non_null(dc);
    assert_string_equal(json_string_value(json_object_get(dc, "reason")), "scene ic");
    json_decref(cmd);
}

/* The hub's own intents cannot be sent by a client. */
static void test_internal_intents_refused(void **state)
{
    (void)state;
    static const char *const own[][2] = {
        {"scene.tick", "{}"},
        {"scene.feedback", "{'room':'room1','ok':true,'at_us':1,'topic':'room1/status'}"},
        {"scene.outcome", "{'run':'x','k':0,'ok':true}"},
        {"scene.mode", "{'simulation':true,'link':3}"},
    };
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        refused("api", own[i][0], own[i][1], HUB_ERR_INVALID, "name", "made by the hub itself");
        refused("ws", own[i][0], own[i][1], HUB_ERR_INVALID, "name", "made by the hub itself");
    }
    assert_string_equal(mode("simulation"), "false");
    /* internal ones with stray keys are refused too */
    refused("mqtt", "scene.mode", "{'simulation':true,'x':1}", HUB_ERR_INVALID, "x", NULL);
    /* an outcome for a run that is gone changes nothing and spends no seq */
    uint64_t seq = R.seq;
    refused("scene", "scene.outcome", "{'run':'nope','k':0,'ok':false,'error':'x'}",
            HUB_ERR_CONFLICT, "run", "no longer running");
    assert_int_equal(R.seq, seq);
}

/* ---- files ----------------------------------------------------------------------------- */

static void test_save_validation(void **state)
{
    (void)state;
    refused("api", "scene.save",
            "{'name':'bad','scene':{'room':'room1','actions':["
            "{'t_ms':0,'topic':'room1/a','message':'1'},{'t_ms':0,'topic':'room1/b','message':'1'},"
            "{'t_ms':-5,'topic':'room1/c','message':'1'}]}}",
            HUB_ERR_INVALID, "actions[2].t_ms", "actions[2].t_ms");
    refused("api", "scene.save",
            "{'name':'bad','scene':{'room':'room1','actions':[{'t_ms':0,'topic':'room1/status',"
            "'message':'OK'}]}}",
            HUB_ERR_INVALID, "actions[0].topic", NULL);
    refused("api", "scene.save",
            "{'name':'bad','scene':{'room':'room1','actions':[{'t_ms':0,'topic':'room1/audio',"
            "'message':'../x.mp3'}]}}",
            HUB_ERR_INVALID, "actions[0].message", NULL);
    refused("api", "scene.save",
            "{'name':'bad','scene':{'room':'room1','actions':[{'t_ms':0,'topic':'room1/a',"
            "'message':'1','x':2}]}}",
            HUB_ERR_INVALID, "actions[0].x", NULL);
    refused("api", "scene.save", "{'name':'bad','scene':{'actions':[]}}", HUB_ERR_INVALID, "room",
            NULL);
    refused("api", "scene.save", "{'name':'bad','scene':{'name':'other','room':'r','actions':[]}}",
            HUB_ERR_INVALID, "name", "does not match");
    refused("api", "scene.save", "{'name':'bad','scene':[]}", HUB_ERR_INVALID, "scene", NULL);
    refused("api", "scene.save", "{'name':'a/b','scene':{'room':'r','actions':[]}}",
            HUB_ERR_INVALID, "name", NULL);
    refused("api", "scene.save", "{'name':'ok','scene':{'room':'r','actions':[]},'x':1}",
            HUB_ERR_INVALID, "x", NULL);
    /* the names of other routes are reserved */
    refused("api", "scene.save", "{'name':'runs','scene':{'room':'r','actions':[]}}",
            HUB_ERR_INVALID, "name", "reserved");
    refused("api", "scene.save", "{'name':'rescan','scene':{'room':'r','actions':[]}}",
            HUB_ERR_INVALID, "name", "reserved");
    /* delete of what is not there */
    refused("api", "scene.delete", "{'name':'ghost'}", HUB_ERR_NOT_FOUND, "name", "ghost");
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_DELETE, "/api/v1/scenes/ghost", NULL), 404);
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_GET, "/api/v1/scenes/ghost", NULL), 404);
    assert_null(scn_rig_get(&R, "list", "bad"));

    /* a good one: listed, readable, deletable */
    save("good", "{'room':'room1','description':'d','actions':[{'t_ms':5,'topic':'room1/a',"
                 "'message':'1','device':'esp32_01'}]}");
    json_t *l = scn_rig_get(&R, "list", "good");
    assert_non_null(l);
    assert_string_equal(scn_text(json_object_get(l, "room")), "room1");
    assert_string_equal(scn_text(json_object_get(l, "actions")), "1");
    assert_string_equal(scn_text(json_object_get(l, "duration_ms")), "5");
    assert_string_equal(scn_text(json_object_get(l, "error")), "null");
    json_decref(l);
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_GET, "/api/v1/scenes/good", NULL), 200);
    json_t *g = json_loads(R.http_body, 0, NULL);
    json_t *want = scn_json("{'name':'good','room':'room1','description':'d','actions':["
                            "{'t_ms':5,'topic':'room1/a','message':'1','device':'esp32_01'}]}");
    assert_true(json_equal(g, want));
    json_decref(g);
    json_decref(want);
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_GET, "/api/v1/scenes", NULL), 200);
    assert_non_null(strstr(R.http_body, "\"name\":\"good\""));
    ok("api", "scene.delete", "{'name':'good'}");
    assert_null(scn_rig_get(&R, "list", "good"));
}

/* scene.rescan: a file copied in by hand appears, a removed one goes, a
 * broken one is listed with its error and cannot run. */
static void test_rescan(void **state)
{
    char path[256];
    (void)state;
    snprintf(path, sizeof(path), "%s/hand.scene.json", scenes_dir);
    scn_write_file(path, "{'room':'room1','actions':[{'t_ms':0,'topic':'room1/a','message':'1'}]}");
    snprintf(path, sizeof(path), "%s/broken.scene.json", scenes_dir);
    scn_write_file(path, "{'room':'room1','actions':[{'t_ms':'soon','topic':'room1/a'}]}");
    snprintf(path, sizeof(path), "%s/notjson.scene.json", scenes_dir);
    scn_write_file(path, "{'room':");
    snprintf(path, sizeof(path), "%s/.hidden.scene.json", scenes_dir);
    scn_write_file(path, "{'room':'room1','actions':[]}");
    snprintf(path, sizeof(path), "%s/other.json", scenes_dir);
    scn_write_file(path, "{'room':'room1','actions':[]}");
    assert_null(scn_rig_get(&R, "list", "hand"));
    ok("api", "scene.rescan", "{}");
    json_t *l = scn_rig_get(&R, "list", NULL);
    assert_int_equal(json_object_size(l), 3);
    json_decref(l);
    json_t *h = scn_rig_get(&R, "list", "hand");
    assert_string_equal(scn_text(json_object_get(h, "error")), "null");
    json_decref(h);
    json_t *b = scn_rig_get(&R, "list", "broken");
    assert_non_null(strstr(scn_text(json_object_get(b, "error")), "t_ms"));
    assert_string_equal(scn_text(json_object_get(b, "scene")), "null");
    json_decref(b);
    json_t *nj = scn_rig_get(&R, "list", "notjson");
    assert_non_null(strstr(scn_text(json_object_get(nj, "error")), "notjson.scene.json: line"));
    json_decref(nj);
    refused("api", "scene.run", "{'name':'broken'}", HUB_ERR_INVALID, "name", "cannot run");
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_GET, "/api/v1/scenes/broken", NULL), 400);
    char id[SCN_RUN_ID_LEN + 1];
    run("hand", id);
    assert_int_equal(scn_rig_mqtt(&R, "room1/status", "OK"), 1);
    assert_string_equal(field(id, "status"), "finished");
    /* removed by hand: gone at the next rescan */
    snprintf(path, sizeof(path), "%s/hand.scene.json", scenes_dir);
    assert_int_equal(unlink(path), 0);
    ok("api", "scene.rescan", "{}");
    assert_null(scn_rig_get(&R, "list", "hand"));
    assert_non_null(
        strstr(R.anns[R.nanns - 1].patches, "{\"path\":\"scenes.list.hand\",\"value\":null}"));
    refused("api", "scene.run", "{'name':'hand'}", HUB_ERR_NOT_FOUND, "name", NULL);
    /* rescan takes no arguments (prepare refuses) */
    assert_int_equal(scn_rig_submit(&R, "api", "scene.rescan", scn_json("{'dir':'/etc'}")), -1);
    assert_int_equal(R.err.code, HUB_ERR_INVALID);
    assert_string_equal(R.err.field, "dir");
    /* via REST */
    assert_int_equal(scn_rig_http(&R, HUB_HTTP_POST, "/api/v1/scenes/rescan", NULL), 200);
}

/* ---- hostile ----------------------------------------------------------------------------- */

static void test_run_hostile(void **state)
{
    (void)state;
    save("s1", "{'room':'room1','actions':[{'t_ms':0,'topic':'room1/a','message':'1'}]}");
    refused("api", "scene.run", "{'name':'s1','bogus':1}", HUB_ERR_INVALID, "bogus", NULL);
    refused("api", "scene.run", "{'name':'s1','restart':'yes'}", HUB_ERR_INVALID, "restart", NULL);
    refused("api", "scene.run", "{'name':'s1','restart':1}", HUB_ERR_INVALID, "restart", NULL);
    refused("api", "scene.run", "{'name':'s1','label':7}", HUB_ERR_INVALID, "label", NULL);
    char p[600], label[SCN_LABEL_MAX + 2];
    memset(label, 'l', SCN_LABEL_MAX + 1);
    label[SCN_LABEL_MAX + 1] = '\0';
    snprintf(p, sizeof(p), "{'name':'s1','label':'%s'}", label);
    refused("api", "scene.run", p, HUB_ERR_INVALID, "label", "at most 160");
    refused("api", "scene.run", "{'name':'s1','scene':{'actions':[]}}", HUB_ERR_INVALID, "scene",
            "either name");
    refused("api", "scene.run", "{'scene':{'actions':[],'room':'room1'}}", HUB_ERR_INVALID, "scene",
            NULL);
    refused("api", "scene.run", "{'scene':[]}", HUB_ERR_INVALID, "scene", NULL);
    refused("api", "scene.run", "{'scene':{'actions':{}}}", HUB_ERR_INVALID, "scene.actions", NULL);
    refused("api", "scene.run", "{'scene':{'actions':[{'topic':'room1/#','message':'x'}]}}",
            HUB_ERR_INVALID, "scene.actions[0].topic", NULL);
    refused("api", "scene.run", "{}", HUB_ERR_INVALID, "name", NULL);
    refused("api", "scene.run", "{'name':null}", HUB_ERR_INVALID, "name", NULL);
    refused("api", "scene.run", "{'name':'ghost'}", HUB_ERR_NOT_FOUND, "name", NULL);

    /* huge: too many actions, a message too long */
    json_t *acts = json_array();
    for (int i = 0; i <= SCN_ACTIONS_MAX; i++)
        json_array_append_new(acts, json_pack("{s:s,s:s}", "topic", "room1/a", "message", "1"));
    json_t *pl = json_pack("{s:{s:O}}", "scene", "actions", acts);
    assert_int_equal(scn_rig_submit(&R, "api", "scene.run", pl), 0);
    scn_rig_settle(&R);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_string_equal(R.err.field, "scene.actions");
    assert_non_null(strstr(R.err.msg, "at most 1000"));
    pl = json_pack("{s:s,s:{s:s,s:O}}", "name", "huge", "scene", "room", "room1", "actions", acts);
    assert_int_equal(scn_rig_submit(&R, "api", "scene.save", pl), 0);
    scn_rig_settle(&R);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_string_equal(R.err.field, "actions");
    json_decref(acts);
    char *msg = hub_malloc(SCN_MESSAGE_MAX + 2);
    memset(msg, 'm', SCN_MESSAGE_MAX + 1);
    msg[SCN_MESSAGE_MAX + 1] = '\0';
    pl = json_pack("{s:{s:[{s:s,s:s}]}}", "scene", "actions", "topic", "room1/a", "message", msg);
    assert_int_equal(scn_rig_submit(&R, "api", "scene.run", pl), 0);
    scn_rig_settle(&R);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_string_equal(R.err.field, "scene.actions[0].message");
    hub_free(msg);
    char topic[SCN_TOPIC_MAX + 10];
    memset(topic, 't', sizeof(topic) - 1);
    topic[sizeof(topic) - 1] = '\0';
    topic[4] = '/';
    pl = json_pack("{s:{s:[{s:s,s:s}]}}", "scene", "actions", "topic", topic, "message", "1");
    assert_int_equal(scn_rig_submit(&R, "api", "scene.run", pl), 0);
    scn_rig_settle(&R);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_string_equal(R.err.field, "scene.actions[0].topic");
    pl = json_pack("{s:{s:[{s:I,s:s,s:s}]}}", "scene", "actions", "t_ms",
                   (json_int_t)SCN_T_MS_MAX + 1, "topic", "room1/a", "message", "1");
    assert_int_equal(scn_rig_submit(&R, "api", "scene.run", pl), 0);
    scn_rig_settle(&R);
    assert_int_equal(R.outcome, HUB_INTENT_REJECTED);
    assert_string_equal(R.err.field, "scene.actions[0].t_ms");
    /* nothing ran */
    assert_int_equal(R.d->nruns, 0);
    json_t *runs = scn_rig_get(&R, "runs", NULL);
    assert_int_equal(json_object_size(runs), 0);
    json_decref(runs);
}

int main(void)
{
    log_level = getenv("SCN_LOG") ? HUB_LOG_DEBUG : HUB_LOG_OFF;
    hub_log_set_level(log_level);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_outcomes_logged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_two_rooms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_nothing_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_never_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untracked_publish_fails, setup_untracked, teardown),
        cmocka_unit_test_setup_teardown(test_local_simulated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_then_later_no_spin, setup_player, teardown),
        cmocka_unit_test_setup_teardown(test_scene_runs_itself_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_device_two_rooms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_played, setup_player, teardown),
        cmocka_unit_test_setup_teardown(test_local_missing_file, setup_player, teardown),
        cmocka_unit_test_setup_teardown(test_local_player_fails, setup_false_player, teardown),
        cmocka_unit_test_setup_teardown(test_simulation_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_simulation_mid_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mqtt_disabled, setup_nomqtt, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intent_and_command_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_internal_intents_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rescan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_hostile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
