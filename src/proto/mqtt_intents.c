/* proto/mqtt_intents.c - MQTT messages that become intents, and their fates.
 *
 *   v1/demo/rgb/cmd         seed 000's command; failures on v1/demo/rgb/error
 *   v1/hub/intent           an intent envelope {req_id, name, payload, src?,
 *                           reply_to?}; the result goes to reply_to when
 *                           given, else a failure goes to v1/hub/error
 *   a domain's topics       e.g. v1/dmx/fixtures/<name>/set; results likewise
 *
 * Every payload is checked before it is parsed (size, UTF-8); anything
 * refused is logged with its topic (mqtt_malformed) and counted
 * (dmx_mqtt_malformed_total), never fatal. Reading pauses while the engine's
 * queue is full (mqtt.c), so a refusal for overload is rare.
 *
 * Threading: the loop thread (inside libmosquitto's callbacks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/ulid.h"
#include "proto/mqtt_int.h"

/* {"cmdId":<id or null>,"error":msg[,"field":field]} on v1/demo/rgb/error. */
static void publish_error(hub_mqtt_t *m, const char *cmd_id, const char *msg, const char *field)
{
    json_t *o = json_object();
    json_t *s;
    char *text;

    json_object_set_new(o, "cmdId", cmd_id && cmd_id[0] ? json_string(cmd_id) : json_null());
    s = json_string(msg);
    json_object_set_new(o, "error", s ? s : json_string("invalid message"));
    if (field != NULL)
        json_object_set_new(o, "field", json_string(field));
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL)
        return;
    hub__mqtt_publish(m, TOPIC_ERROR, text, strlen(text), 1, 0);
    free(text);
}

/* The result of an intent that came by MQTT: to its reply_to, or, when it
 * failed and nobody asked, to v1/hub/error. */
static void publish_result(hub_mqtt_t *m, const hub_intent_t *in, const char *reply_to)
{
    int ok = in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE;
    json_t *o;
    char *text;

    if (reply_to == NULL && ok)
        return;
    if (ok)
        o = json_pack("{s:b,s:I,s:s}", "ok", 1, "seq", (json_int_t)in->seq, "req_id", in->req_id);
    else
        o = json_pack("{s:b,s:s,s:{s:s,s:s}}", "ok", 0, "req_id", in->req_id, "error", "code",
                      hub_errcode_name(in->err.code), "message", in->err.msg);
    if (o == NULL)
        return;
    if (in->outcome == HUB_INTENT_DUPLICATE)
        json_object_set_new(o, "duplicate", json_true());
    if (!ok && in->err.field[0] != '\0')
        json_object_set_new(json_object_get(o, "error"), "field", json_string(in->err.field));
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    hub__mqtt_publish(m, reply_to ? reply_to : TOPIC_HUB_ERR, text, strlen(text), 1, 0);
    free(text);
}

void hub__mqtt_malformed(hub_mqtt_t *m, const char *topic, const char *cmd_id, const char *msg,
                         const char *field)
{
    hub_metric_inc(m->m_malformed);
    hub_log(HUB_LOG_WARN, "mqtt_malformed", "{s:s,s:s,s:s,s:s}", "topic", topic, "reason", msg,
            "field", field, "cmdId", cmd_id && cmd_id[0] ? cmd_id : "");
    if (strcmp(topic, TOPIC_CMD) == 0)
        publish_error(m, cmd_id, msg, field);
}

/* Size and UTF-8; 0 if the payload may be parsed. */
static int check_payload(hub_mqtt_t *m, const struct mosquitto_message *msg)
{
    size_t len = (size_t)msg->payloadlen, bad;
    char text[96];

    if (len == 0) { /* also how a retained message is cleared */
        hub__mqtt_malformed(m, msg->topic, NULL, "empty payload: expected a JSON object", "");
        return -1;
    }
    if (len > PAYLOAD_MAX) {
        snprintf(text, sizeof(text), "payload too large: %zu bytes (limit %d)", len, PAYLOAD_MAX);
        hub__mqtt_malformed(m, msg->topic, NULL, text, "");
        return -1;
    }
    if (!hub__mqtt_utf8_valid(msg->payload, len, &bad)) {
        snprintf(text, sizeof(text), "payload is not valid UTF-8 (byte %zu)", bad);
        hub__mqtt_malformed(m, msg->topic, NULL, text, "");
        return -1;
    }
    return 0;
}

/* ---- seed 000's command ---------------------------------------------------- */

static void on_cmd_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    hub_mqtt_t *m = ud;
    const char *why;

    (void)ann;
    if (in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE)
        return; /* the state publish (or none, for a duplicate) says it */
    why = in->outcome == HUB_INTENT_REJECTED ? in->err.msg : hub_strerror(in->outcome);
    hub_log(HUB_LOG_WARN, "mqtt_cmd_failed", "{s:s,s:s}", "cmdId", in->req_id, "error", why);
    publish_error(m, in->req_id, why, NULL);
}

void hub__mqtt_on_cmd(hub_mqtt_t *m, const struct mosquitto_message *msg)
{
    hub_error_t err;
    hub_intent_t *in;
    char cmd_id[HUB_REQ_ID_MAX + 1];
    int rc;

    if (check_payload(m, msg) != 0)
        return;
    if (hub_intent_parse_rgb(msg->payload, (size_t)msg->payloadlen, "mqtt", &in, &err, cmd_id) !=
        0) {
        hub__mqtt_malformed(m, TOPIC_CMD, cmd_id, err.msg, err.field);
        return;
    }
    in->recv_us = hub_mono_us();
    in->done = on_cmd_done;
    in->ud = m;
    rc = hub_engine_submit(m->engine, in);
    if (rc != 0) {
        /* Rare: reading stops while the queue is full (read_some). */
        hub_log(HUB_LOG_WARN, "mqtt_cmd_refused", "{s:s,s:s}", "cmdId", in->req_id, "error",
                hub_strerror(rc));
        publish_error(m, in->req_id, hub_strerror(rc), NULL);
        hub_intent_free(in);
    }
}

/* ---- intents ------------------------------------------------------------------- */

static void on_intent_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    (void)ann;
    if (in->outcome != HUB_INTENT_APPLIED && in->outcome != HUB_INTENT_DUPLICATE)
        hub_log(HUB_LOG_WARN, "mqtt_intent_failed", "{s:s,s:s,s:s,s:s}", "req_id", in->req_id,
                "name", in->name, "code", hub_errcode_name(in->err.code), "error", in->err.msg);
    publish_result(ud, in, in->reply_to);
}

/* Prepare and queue in; a refusal is answered like any result. */
static void submit(hub_mqtt_t *m, hub_intent_t *in)
{
    hub_error_t err;
    int rc;

    in->recv_us = hub_mono_us();
    in->done = on_intent_done;
    in->ud = m;
    if (hub_engine_prepare(m->engine, in, &err) != 0) {
        in->outcome = HUB_INTENT_REJECTED;
        in->err = err;
        on_intent_done(in, NULL, m);
        hub_intent_free(in);
        return;
    }
    rc = hub_engine_submit(m->engine, in);
    if (rc != 0) {
        in->outcome = rc;
        hub_error_set(&in->err, HUB_ERR_OVERLOADED, "", "%s; retry later", hub_strerror(rc));
        on_intent_done(in, NULL, m);
        hub_intent_free(in);
    }
}

/* A refusal before the intent exists: the result, if we can tell where. */
static void refuse(hub_mqtt_t *m, const char *topic, const char *req_id, const json_t *reply_to,
                   const hub_error_t *err)
{
    hub_intent_t tmp;

    hub__mqtt_malformed(m, topic, NULL, err->msg, err->field);
    memset(&tmp, 0, sizeof(tmp));
    snprintf(tmp.req_id, sizeof(tmp.req_id), "%s", req_id ? req_id : "");
    tmp.outcome = HUB_INTENT_REJECTED;
    tmp.err = *err;
    const char *rt = json_is_string(reply_to) && json_string_length(reply_to) > 0 &&
                             json_string_length(reply_to) <= 256 &&
                             strpbrk(json_string_value(reply_to), "+#") == NULL
                         ? json_string_value(reply_to)
                         : NULL;
    publish_result(m, &tmp, rt);
}

void hub__mqtt_on_intent(hub_mqtt_t *m, const struct mosquitto_message *msg)
{
    json_error_t jerr;
    hub_error_t err;
    hub_intent_t *in = NULL;
    json_t *obj;
    char req_id[HUB_REQ_ID_MAX + 1] = "";

    if (check_payload(m, msg) != 0)
        return;
    obj = json_loadb(msg->payload, (size_t)msg->payloadlen, HUB_JSON_FLAGS, &jerr);
    if (obj == NULL) {
        hub_error_set(&err, HUB_ERR_INVALID, "", "malformed JSON at line %d column %d: %.120s",
                      jerr.line, jerr.column, jerr.text);
        refuse(m, msg->topic, NULL, NULL, &err);
        return;
    }
    if (hub_intent_from_envelope(obj, "mqtt", 1, &in, &err, req_id) != 0 ||
        hub_intent_set_reply_to(in, json_object_get(obj, "reply_to"), &err) != 0) {
        if (err.code == HUB_ERR_NONE)
            err.code = HUB_ERR_INVALID;
        refuse(m, msg->topic, req_id, json_object_get(obj, "reply_to"), &err);
        hub_intent_free(in); /* a valid envelope with a bad reply_to */
        json_decref(obj);
        return;
    }
    json_decref(obj);
    submit(m, in);
}

typedef struct domain_match {
    hub_mqtt_t *m;
    const struct mosquitto_message *msg;
    int taken;
} domain_match_t;

static void on_raw_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    (void)ann;
    (void)ud;
    if (in->outcome != HUB_INTENT_APPLIED && in->outcome != HUB_INTENT_DUPLICATE)
        hub_log(HUB_LOG_DEBUG, "mqtt_telemetry_refused", "{s:s,s:s}", "name", in->name, "error",
                in->outcome == HUB_INTENT_REJECTED ? in->err.msg : hub_strerror(in->outcome));
}

/* Device telemetry (hub_topic_def_t.raw): the domain checks, logs and
 * counts; refusals are not published anywhere (the device asked nothing). */
static void raw_topic(hub_mqtt_t *m, const hub_topic_def_t *t, void *ctx,
                      const struct mosquitto_message *msg)
{
    hub_intent_t *in = NULL;
    hub_error_t err;
    int rc;

    memset(&err, 0, sizeof(err));
    if (t->to_intent(ctx, msg->topic, msg->payloadlen > 0 ? msg->payload : "",
                     (size_t)msg->payloadlen, &in, &err) != 0 ||
        in == NULL)
        return;
    if (in->req_id[0] == '\0')
        hub_ulid_new(in->req_id);
    in->recv_us = hub_mono_us();
    in->done = on_raw_done;
    in->ud = m;
    rc = hub_engine_submit(m->engine, in);
    if (rc != 0) {
        in->outcome = rc;
        on_raw_done(in, NULL, m);
        hub_intent_free(in);
    }
}

static void try_topic(void *ud, const hub_topic_def_t *t, void *ctx)
{
    domain_match_t *dm = ud;
    hub_mqtt_t *m = dm->m;
    const struct mosquitto_message *msg = dm->msg;
    bool matches = false;
    hub_intent_t *in = NULL;
    hub_error_t err;

    if (mosquitto_topic_matches_sub(t->filter, msg->topic, &matches) != MOSQ_ERR_SUCCESS ||
        !matches)
        return;
    if (t->raw) { /* telemetry: every domain that reads the topic sees it */
        dm->taken = 1;
        raw_topic(m, t, ctx, msg);
        return;
    }
    if (dm->taken)
        return;
    dm->taken = 1;
    if (check_payload(m, msg) != 0)
        return;
    memset(&err, 0, sizeof(err));
    if (t->to_intent(ctx, msg->topic, msg->payload, (size_t)msg->payloadlen, &in, &err) != 0) {
        if (err.code == HUB_ERR_NONE)
            err.code = HUB_ERR_INVALID;
        refuse(m, msg->topic, NULL, NULL, &err);
        return;
    }
    if (in->req_id[0] == '\0')
        hub_ulid_new(in->req_id);
    submit(m, in);
}

int hub__mqtt_on_domain(hub_mqtt_t *m, const struct mosquitto_message *msg)
{
    domain_match_t dm = {m, msg, 0};
    hub_engine_topics_foreach(m->engine, try_topic, &dm);
    return dm.taken;
}
