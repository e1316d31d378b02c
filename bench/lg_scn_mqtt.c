/* bench/lg_scn_mqtt.c - scenario "mqtt": commands through the broker.
 *
 * A publisher sends QoS 1 commands to v1/demo/rgb/cmd open-loop at --rate.
 * Two consumers time every state: one WebSocket reader of the server and one
 * MQTT subscriber of v1/demo/rgb/state (QoS 1, through the same broker).
 * Latency = arrival - intended publish time, per command and consumer.
 * The subscriber runs on libmosquitto's thread and owns its histogram and
 * counters until that thread is joined.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lg.h"
#include "lg_cmd.h"
#include "lg_mqtt.h"
#include "lg_pace.h"
#include "lg_proc.h"
#include "lg_util.h"
#include "lg_ws.h"

#define CMD_TOPIC   "v1/demo/rgb/cmd"
#define STATE_TOPIC "v1/demo/rgb/state"

typedef struct run {
    lg_cmds_t cmds;
    lg_mqtt_t *pub, *sub;
    lg_ws_t *ws;
    lg_wsc_t *reader;
    int ws_first, ws_closed;
    uint32_t ws_got;
    lg_hist_t ws_lat;
    uint32_t mq_got;  /* atomic: MQTT thread writes */
    lg_hist_t mq_lat; /* MQTT thread only */
    uint64_t pub_failed;
    uint64_t last_ns; /* atomic: latest arrival of a run's state, either consumer */
} run_t;

static void note_arrival(run_t *r, uint64_t t)
{
    uint64_t cur = __atomic_load_n(&r->last_ns, __ATOMIC_RELAXED);
    while (t > cur && !__atomic_compare_exchange_n(&r->last_ns, &cur, t, 1, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED))
        ;
}

static uint64_t due_of(run_t *r, int64_t k)
{
    return __atomic_load_n(&r->cmds.intended_ns[k], __ATOMIC_ACQUIRE);
}

static void on_mq(const char *topic, const char *payload, size_t len, uint64_t t, void *ud)
{
    run_t *r = ud;
    uint32_t v;
    uint64_t seq;
    if (strcmp(topic, STATE_TOPIC) != 0 || lg_parse_state(payload, len, &v, &seq) < 0)
        return;
    int64_t k = lg_cmds_index_of_value(&r->cmds, v);
    if (k < 0)
        return;
    uint64_t due = due_of(r, k);
    if (!due)
        return;
    uint8_t was = __atomic_fetch_or(&r->cmds.seen[k], LG_SEEN_MQTT, __ATOMIC_ACQ_REL);
    if (was & LG_SEEN_MQTT)
        return;
    lg_hist_add(&r->mq_lat, t > due ? t - due : 0);
    note_arrival(r, t);
    __atomic_add_fetch(&r->mq_got, 1, __ATOMIC_RELEASE);
}

static void on_text(lg_wsc_t *c, const char *txt, size_t len, uint64_t t, void *ud)
{
    run_t *r = ud;
    uint32_t v;
    uint64_t seq;
    if (!r->ws_first) {
        r->ws_first = 1;
        return;
    }
    if (lg_parse_state(txt, len, &v, &seq) < 0)
        return;
    int64_t k = lg_cmds_index_of_value(&r->cmds, v);
    if (k < 0 || !due_of(r, k))
        return;
    uint8_t was = __atomic_fetch_or(&r->cmds.seen[k], LG_SEEN_WS, __ATOMIC_ACQ_REL);
    if (was & LG_SEEN_WS)
        return;
    uint64_t due = due_of(r, k);
    lg_hist_add(&r->ws_lat, t > due ? t - due : 0);
    note_arrival(r, t);
    r->ws_got++;
}

static void on_close(lg_wsc_t *c, int was_open, int code, void *ud)
{
    run_t *r = ud;
    r->ws_closed = 1;
}

static const lg_ws_ops_t ws_ops = {NULL, on_text, on_close};

static void on_emit(uint64_t e, uint64_t intended, void *ud)
{
    run_t *r = ud;
    char body[256];
    if (r->cmds.n >= r->cmds.cap)
        return;
    uint32_t k = r->cmds.n;
    size_t len = lg_cmds_body(&r->cmds, k, "mqtt", 0, body, sizeof(body));
    __atomic_store_n(&r->cmds.intended_ns[k], intended, __ATOMIC_RELEASE);
    r->cmds.chan[k] = LG_CHAN_MQTT;
    r->cmds.n++;
    if (lg_mqtt_publish(r->pub, CMD_TOPIC, body, len, 1) < 0)
        r->pub_failed++;
}

static int ws_ready(void *ud)
{
    run_t *r = ud;
    return r->ws_first || r->ws_closed;
}

static int pace_done(void *ud)
{
    return lg_pace_done(ud);
}

static int all_arrived(void *ud)
{
    run_t *r = ud;
    uint32_t n = r->cmds.n;
    return __atomic_load_n(&r->mq_got, __ATOMIC_ACQUIRE) >= n && (r->ws_closed || r->ws_got >= n) &&
           lg_mqtt_acked(r->pub) >= n;
}

int lg_scn_mqtt(const lg_opts_t *o, json_t *out)
{
    uv_loop_t loop;
    run_t r = {0};
    lg_pace_t pace;
    lg_snap_t s0, s1;
    lg_proc_sample_t p0, p1;
    char id[64];

    if (o->mqtt_port <= 0 || o->rate <= 0) {
        fprintf(stderr, "loadgen: mqtt needs --mqtt-port and --rate\n");
        return 2;
    }
    uint32_t cap = (uint32_t)(o->rate * o->duration_s) + 16;
    if (lg_scn_begin(o, &loop, &s0, &r.cmds, cap) != 0)
        return 1;
    lg_hist_init(&r.ws_lat);
    lg_hist_init(&r.mq_lat);
    snprintf(id, sizeof(id), "lg-sub-%d", (int)getpid());
    r.sub = lg_mqtt_new(o->host, o->mqtt_port, id, on_mq, &r);
    snprintf(id, sizeof(id), "lg-pub-%d", (int)getpid());
    r.pub = lg_mqtt_new(o->host, o->mqtt_port, id, NULL, NULL);
    if (!r.sub || !r.pub || lg_mqtt_subscribe(r.sub, STATE_TOPIC, 1) < 0) {
        lg_mqtt_free(r.sub);
        lg_mqtt_free(r.pub);
        lg_cmds_free(&r.cmds);
        return 1;
    }
    r.ws = lg_ws_new(&loop, &ws_ops, &r);
    r.reader = lg_ws_connect(r.ws, o->host, o->port, "/ws", NULL, 0);
    lg_run_until(&loop, ws_ready, &r, 10);
    lg_run_for(&loop, 0.2); /* the retained state reaches the subscriber */
    lg_pace_init(&pace, &loop);

    lg_proc_reset_hwm(o->pid);
    lg_proc_sample(o->pid, &p0);
    uint64_t t0 = lg_now_ns();
    lg_pace_start(&pace, o->rate, cap, (uint64_t)(o->duration_s * 1e9), on_emit, &r);
    lg_run_until(&loop, pace_done, &pace, o->duration_s + 2);
    lg_pace_stop(&pace);
    double send_s = (double)(lg_now_ns() - t0) / 1e9;
    int complete = lg_run_until(&loop, all_arrived, &r, o->tail_s);
    double run_s = (double)(lg_now_ns() - t0) / 1e9;
    lg_proc_sample(o->pid, &p1);
    lg_wait_drained(o, 2);
    lg_snap_take(o, &s1);
    uint64_t acked = lg_mqtt_acked(r.pub);
    lg_mqtt_free(r.pub);
    lg_mqtt_free(r.sub); /* joins the MQTT thread: mq_lat is ours now */

    uint32_t n = r.cmds.n;
    json_object_set_new(out, "rate", json_real(o->rate));
    json_object_set_new(out, "sent", json_integer(n));
    json_object_set_new(out, "puback", json_integer((json_int_t)acked));
    json_object_set_new(out, "publish_failed", json_integer((json_int_t)r.pub_failed));
    json_object_set_new(out, "complete", json_boolean(complete));
    /* Applied over the time from the first publish to the last state seen. */
    uint64_t last = __atomic_load_n(&r.last_ns, __ATOMIC_RELAXED);
    double applied_s = last > t0 ? (double)(last - t0) / 1e9 : run_s;
    json_object_set_new(out, "applied_per_s", json_real((double)(s1.seq - s0.seq) / applied_s));
    json_object_set_new(out, "sent_per_s", json_real((double)n / send_s));
    json_object_set_new(out, "ws_reader",
                        json_pack("{s:I, s:I, s:b, s:o}", "got", (json_int_t)r.ws_got, "missed",
                                  (json_int_t)(n - r.ws_got), "closed", r.ws_closed, "latency",
                                  lg_hist_json(&r.ws_lat)));
    json_object_set_new(out, "mqtt_sub",
                        json_pack("{s:I, s:I, s:o}", "got", (json_int_t)r.mq_got, "missed",
                                  (json_int_t)(n - r.mq_got), "latency", lg_hist_json(&r.mq_lat)));
    json_object_set_new(out, "sender_lag", lg_hist_json(&pace.lag));
    json_object_set_new(out, "server", lg_snap_delta_json(&s0, &s1));
    json_object_set_new(out, "proc", lg_proc_json(&p0, &p1));

    lg_pace_close(&pace);
    lg_ws_free(r.ws);
    lg_loop_close(&loop);
    lg_cmds_free(&r.cmds);
    return s1.ok ? 0 : 1; /* no answer after the run: the server died */
}
