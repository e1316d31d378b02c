/* domains/scenes/announce.c - what goes out once a scene change is durable:
 * fired MQTT actions are published (tracked: a refusal becomes the action's
 * error), local media started, intents and device commands submitted, and
 * every outcome logged the way seed 002's loggers do ("mqtt",
 * "mqtt_feedback", with its message texts).
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/ulid.h"
#include "domains/scenes/scenes_int.h"

static const char *const kind_names[] = {"mqtt", "local", "intent", "command"};

/* ---- outcomes learnt later ------------------------------------------------------------ */

void scn__outcome(hub_scndom_t *d, const char *run_id, size_t k, int ok, const char *error,
                  const char *ref)
{
    json_t *p = json_pack("{s:s,s:I,s:b}", "run", run_id, "k", (json_int_t)k, "ok", ok);
    if (error)
        json_object_set_new(p, "error", json_string(error));
    if (ref)
        json_object_set_new(p, "ref", json_string(ref));
    if (scn__submit(d, "scene.outcome", p, "scene") != 0)
        hub_log(HUB_LOG_WARN, "scene_outcome_lost", "{s:s,s:I,s:s}", "run", run_id, "k",
                (json_int_t)k, "error", error ? error : "");
}

void scn__on_sent(void *ctx, uint64_t token, int ok, const char *why)
{
    hub_scndom_t *d = ctx;
    char msg[300];
    if (ok)
        return;
    for (size_t i = 0; i < d->nruns; i++)
        for (size_t k = 0; k < d->runs[i]->def.n; k++) {
            scn_act_t *s = &d->runs[i]->acts[k];
            if (s->token != token)
                continue;
            snprintf(msg, sizeof(msg), "not sent: %s", why ? why : "refused");
            if (s->status == SCN_ST_PENDING) { /* refused at once, before its tick */
                hub_free(s->early_error);
                s->early_error = hub_strdup(msg);
            } else {
                scn__outcome(d, d->runs[i]->id, k, 0, msg, NULL);
            }
            return;
        }
}

static void log_publish(const scn_run_t *r, const scn_action_t *a)
{
    if (hub_log_enabled(HUB_LOG_INFO)) {
        char msg[SCN_TOPIC_MAX + SCN_MESSAGE_MAX + 32];
        snprintf(msg, sizeof(msg), "Publishing to %s: %s", a->topic, a->message);
        hub_log(HUB_LOG_INFO, "scene_publish", "{s:s,s:s,s:s,s:s}", "logger", "mqtt", "message",
                msg, "run", r->id, "topic", a->topic);
    }
    if (hub_log_enabled(HUB_LOG_DEBUG)) {
        char msg[SCN_TOPIC_MAX + SCN_NAME_MAX + 64];
        snprintf(msg, sizeof(msg), "Sent: %s -> expecting feedback on: %s/status", a->topic,
                 a->room);
        hub_log(HUB_LOG_DEBUG, "scene_feedback_expected", "{s:s,s:s,s:s}", "logger",
                "mqtt_feedback", "message", msg, "run", r->id);
    }
}

/* MQTT actions go out when they are due, from the timer, not after their
 * tick's commit: a commit (and a WAL checkpoint) can take milliseconds, and
 * seed 002 publishes at the offset. The tick that follows records them
 * (fire_due), so the journal still holds every action. */
void scn__publish_due(hub_scndom_t *d)
{
    if (d->simulation)
        return; /* simulated by the tick */
    uint64_t now = hub_mono_us();
    for (size_t i = 0; i < d->nruns; i++) {
        scn_run_t *r = d->runs[i];
        for (size_t k = r->next; k < r->def.n && r->acts[k].due_us <= now + SCN_SLACK_US; k++) {
            const scn_action_t *a = &r->def.actions[k];
            scn_act_t *s = &r->acts[k];
            if (a->kind != SCN_MQTT || s->token != 0)
                continue;
            s->token = ++d->next_token;
            s->early_us = hub_mono_us();
            /* QoS 0 as seed 002's paho publish: the room's feedback, not a
             * PUBACK, says whether the device got it */
            hub_engine_publish_now(d->engine, a->topic, a->message, strlen(a->message), 0,
                                   scn__on_sent, d, s->token);
            log_publish(r, a);
        }
    }
}

typedef struct sub_ctx {
    hub_scndom_t *d;
    char run[SCN_RUN_ID_LEN + 1];
    size_t k;
    int command;
} sub_ctx_t;

/* The fate of an intent or device command a scene submitted. */
static void on_sub_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    sub_ctx_t *c = ud;
    char ref[64] = "";

    if (in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE) {
        for (size_t i = 0; c->command && ann && i < ann->nchanges; i++)
            if (strncmp(ann->changes[i].path, "devices.commands.", 17) == 0)
                snprintf(ref, sizeof(ref), "%s", ann->changes[i].path + 17);
        scn__outcome(c->d, c->run, c->k, 1, NULL, ref[0] ? ref : NULL);
    } else {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s refused: %s", in->name,
                 in->outcome == HUB_INTENT_REJECTED ? in->err.msg : hub_strerror(in->outcome));
        scn__outcome(c->d, c->run, c->k, 0, msg, NULL);
    }
    hub_free(c);
}

static void submit_action(hub_scndom_t *d, const scn_run_t *r, size_t k)
{
    const scn_action_t *a = &r->def.actions[k];
    hub_error_t err;
    char id[HUB_REQ_ID_MAX + 1], src[HUB_SRC_MAX + 1], reason[256];
    json_t *p;

    hub_ulid_new(id);
    snprintf(src, sizeof(src), "scene");
    hub_intent_t *in =
        hub_intent_new(id, src, a->kind == SCN_INTENT ? a->intent : "device.command");
    if (a->kind == SCN_INTENT) {
        p = json_deep_copy(a->payload);
        if (strcmp(a->intent, "scene.run") == 0) /* bounds scenes running scenes */
            json_object_set_new(p, "depth", json_integer(r->depth + 1));
    } else {
        snprintf(reason, sizeof(reason), "scene %s", r->label);
        p = json_pack("{s:s,s:s,s:s}", "device", a->cmd_device, "action", a->cmd_action, "reason",
                      reason);
    }
    hub_intent_set_payload(in, p);
    sub_ctx_t *c = hub_calloc(1, sizeof(*c));
    c->d = d;
    snprintf(c->run, sizeof(c->run), "%s", r->id);
    c->k = k;
    c->command = a->kind == SCN_COMMAND;
    in->recv_us = hub_mono_us();
    in->done = on_sub_done;
    in->ud = c;
    memset(&err, 0, sizeof(err));
    int rc = hub_engine_prepare(d->engine, in, &err);
    if (rc == 0)
        rc = hub_engine_submit(d->engine, in);
    if (rc != 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s refused: %s", in->name,
                 err.msg[0] ? err.msg : hub_strerror(rc));
        hub_intent_free(in);
        hub_free(c);
        scn__outcome(d, r->id, k, 0, msg, NULL);
    }
}

/* ---- dispatch -------------------------------------------------------------------------- */

static void dispatch(hub_scndom_t *d, scn_run_t *r, size_t k, hub_outbox_t *out)
{
    const scn_action_t *a = &r->def.actions[k];
    scn_act_t *s = &r->acts[k];

    s->dispatched = 1;
    if (s->status == SCN_ST_SKIPPED)
        return;
    switch (a->kind) {
    case SCN_MQTT:
        if (s->status != SCN_ST_SENT)
            return; /* simulated: logged with the outcomes */
        s->token = ++d->next_token;
        s->sent_us = hub_mono_us();
        /* QoS 0 as seed 002's paho publish (the feedback says it arrived) */
        hub_engine_publish_now(d->engine, a->topic, a->message, strlen(a->message), 0, scn__on_sent,
                               d, s->token);
        log_publish(r, a);
        break;
    case SCN_LOCAL:
        if (s->status == SCN_ST_PLAYED) {
            s->sent_us = hub_mono_us(); /* the run waits a feedback window for it to fail */
            scn__media_play(d, r->id, k, a->message);
        }
        break;
    default:
        if (s->status == SCN_ST_SENT)
            submit_action(d, r, k);
        break;
    }
}

/* Seed 002's lines: "Feedback OK: room1/light (0.234s)",
 * "Feedback TIMEOUT: room1/light (>1.000s)". */
static void log_outcome(hub_scndom_t *d, const scn_run_t *r, size_t k)
{
    const scn_action_t *a = &r->def.actions[k];
    scn_act_t *s = &r->acts[k];
    char msg[SCN_TOPIC_MAX + 600];
    const char *what = a->kind == SCN_MQTT || a->kind == SCN_LOCAL ? a->topic
                       : a->kind == SCN_INTENT                     ? a->intent
                                                                   : a->cmd_action;

    s->logged = 1;
    hub_metric_inc(d->m_actions[a->kind][s->status]);
    switch (s->status) {
    case SCN_ST_OK:
        snprintf(msg, sizeof(msg), "Feedback OK: %s (%.3fs)", a->topic, s->latency_ms / 1000.0);
        hub_metric_observe(d->m_latency, s->latency_ms / 1000.0);
        hub_metric_inc(d->m_fb[0]);
        hub_log(HUB_LOG_INFO, "scene_feedback", "{s:s,s:s,s:s,s:s,s:s,s:f}", "logger",
                "mqtt_feedback", "message", msg, "outcome", "ok", "run", r->id, "topic", a->topic,
                "latency_ms", s->latency_ms);
        return;
    case SCN_ST_TIMEOUT:
        snprintf(msg, sizeof(msg), "Feedback TIMEOUT: %s (>%.3fs)", a->topic,
                 d->cfg.feedback_timeout_ms / 1000.0);
        hub_metric_inc(d->m_fb[2]);
        hub_log(HUB_LOG_WARN, "scene_feedback", "{s:s,s:s,s:s,s:s,s:s}", "logger", "mqtt_feedback",
                "message", msg, "outcome", "timeout", "run", r->id, "topic", a->topic);
        return;
    case SCN_ST_SIMULATED:
        if (a->kind == SCN_MQTT)
            snprintf(msg, sizeof(msg), "Simulated: %s -> %s (the MQTT broker is unreachable)",
                     a->topic, a->message);
        else
            snprintf(msg, sizeof(msg), "Simulated: %s -> %s (SCENE_MEDIA_COMMAND is not set)",
                     a->topic, a->message);
        hub_log(HUB_LOG_INFO, "scene_simulated", "{s:s,s:s,s:s,s:s}", "logger",
                a->kind == SCN_MQTT ? "mqtt" : "media", "message", msg, "run", r->id, "topic",
                a->topic);
        return;
    case SCN_ST_ERROR:
        if (a->kind == SCN_MQTT && s->latency_ms > 0) {
            snprintf(msg, sizeof(msg), "Feedback ERROR: %s (%.3fs)", a->topic,
                     s->latency_ms / 1000.0);
            hub_metric_inc(d->m_fb[1]);
            hub_metric_observe(d->m_latency, s->latency_ms / 1000.0);
        } else {
            snprintf(msg, sizeof(msg), "%s %s failed: %s", kind_names[a->kind], what,
                     s->error ? s->error : "");
        }
        hub_log(HUB_LOG_WARN, "scene_action_failed", "{s:s,s:s,s:s,s:s,s:s}", "logger",
                a->kind == SCN_MQTT ? "mqtt_feedback" : "scenes", "message", msg, "outcome",
                "error", "run", r->id, "action", what);
        return;
    default: return;
    }
}

static int final(int st)
{
    return st != SCN_ST_PENDING && st != SCN_ST_SENT;
}

static void pass(hub_scndom_t *d, scn_run_t *r, uint64_t seq, hub_outbox_t *out)
{
    if (!r->start_logged) {
        r->start_logged = 1;
        hub_log(HUB_LOG_INFO, "scene_run_started", "{s:s,s:s,s:s,s:s,s:I}", "run", r->id, "scene",
                r->label, "room", r->def.room, "src", r->src, "actions", (json_int_t)r->def.n);
    }
    for (size_t k = 0; k < r->def.n; k++) {
        scn_act_t *s = &r->acts[k];
        if (s->fired_seq != 0 && s->fired_seq <= seq && !s->dispatched)
            dispatch(d, r, k, out);
        if (s->dispatched && !s->logged && final(s->status))
            log_outcome(d, r, k);
    }
}

static void log_run_end(const scn_run_t *r)
{
    hub_log(r->status == SCN_RUN_FINISHED ? HUB_LOG_INFO : HUB_LOG_WARN, "scene_run_ended",
            "{s:s,s:s,s:s,s:s,s:I,s:b}", "run", r->id, "scene", r->label, "room", r->def.room,
            "status", scn_run_status_names[r->status], "actions", (json_int_t)r->def.n,
            "simulation", r->simulation);
}

void scn__announce(void *ctx, const hub_announce_t *ann, const hub_change_t *mine, size_t nmine,
                   hub_outbox_t *out)
{
    hub_scndom_t *d = ctx;

    for (size_t i = 0; i < nmine; i++) {
        if (strcmp(mine[i].path, "scenes.mode") != 0)
            continue;
        if (d->simulation)
            hub_outbox_event(out, HUB_EVENT_ERROR, "scenes",
                             "simulation mode: the MQTT broker is unreachable; scene actions are "
                             "logged as simulated, not sent, until it is back");
        else
            hub_outbox_event(out, HUB_EVENT_INFO, "scenes",
                             "simulation mode ended: the MQTT broker is reachable again");
        hub_metric_set(d->m_sim, d->simulation);
    }
    for (size_t i = 0; i < d->nruns; i++)
        pass(d, d->runs[i], ann->seq, out);
    for (size_t i = 0; i < d->nretired;) {
        scn_run_t *r = d->retired[i];
        pass(d, r, ann->seq, out);
        if (r->retired_seq <= ann->seq) {
            log_run_end(r);
            if (r->status == SCN_RUN_STOPPED)
                scn__media_kill_run(d, r->id); /* stop means the room goes quiet */
            scn__run_free(r);
            d->retired[i] = d->retired[--d->nretired];
            continue;
        }
        i++;
    }
    hub_metric_set(d->m_running, (double)d->nruns);
    scn__arm(d);
}
