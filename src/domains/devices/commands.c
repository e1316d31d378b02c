/* domains/devices/commands.c - seed 004's command lifecycle.
 *
 *   device.command       issue: 404 unknown device, 400 unsupported action,
 *                        the safety lockout (a blocked_safety row, 429), else
 *                        publish_in_progress; its announce publishes the v1
 *                        payload (tracked: the broker's PUBACK is the outcome)
 *   device.command_sent  the publish outcome: published (never regressing
 *                        what an ACK wrote) or failed/mqtt_publish_failed
 *   device.ack           a device's ACK (ingest.c parsed it): the seed's
 *                        mapping, terminal commands ignored, plus ours: the
 *                        topic's uuid must be the command's, and no ACK moves
 *                        a command backwards
 *
 * REST requests wait for the publish outcome (seed 004 waits for
 * wait_for_publish): the route's answer hook keeps the reply on the command
 * until device.command_sent is announced.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/uuid.h"
#include "domains/devices/devices_int.h"

#define LOCKOUT_MESSAGE "Reboot lockout active for this client"

void dev__count_status(hub_devdom_t *d, const dev_command_t *c)
{
    hub_metric_inc(d->m_commands[c->action][c->status]);
}

static void lock_add(dev_device_t *v, uint64_t t)
{
    if (v->nlocks < DEV_LOCKOUT_THRESHOLD) {
        v->locks[v->nlocks++] = t;
        return;
    }
    int oldest = 0;
    for (int i = 1; i < v->nlocks; i++)
        if (v->locks[i] < v->locks[oldest])
            oldest = i;
    v->locks[oldest] = t;
}

/* A command_id for the intent, made before it is queued, so the journal
 * holds the id the device saw. */
int dev__prepare_command(void *ctx, hub_intent_t *in, hub_error_t *err)
{
    json_t *id = json_object_get(in->payload, "command_id");
    uint8_t raw[16];
    char text[HUB_UUID_LEN + 1];

    (void)ctx;
    if (id != NULL) {
        if (!json_is_string(id) || !hub_uuid_valid(json_string_value(id), json_string_length(id)))
            return hub_error_set(err, HUB_ERR_INVALID, "command_id", "command_id must be a UUID");
        return 0;
    }
    hub_uuid_v4(raw);
    hub_uuid_format(raw, text);
    json_t *p = json_deep_copy(in->payload);
    json_object_set_new(p, "command_id", json_string(text));
    hub_intent_set_payload(in, p);
    return 0;
}

/* str(reason).strip() or None, with seed 004's null treated as none. */
static int take_reason(hub_apply_t *ap, const json_t *r, char **out)
{
    char buf[64];
    const char *s;
    size_t n;

    *out = NULL;
    if (r == NULL || json_is_null(r))
        return 0;
    if (json_is_string(r)) {
        s = json_string_value(r);
        n = json_string_length(r);
    } else if (json_is_integer(r) || json_is_real(r) || json_is_boolean(r)) {
        char *t = json_dumps(r, JSON_ENCODE_ANY);
        snprintf(buf, sizeof(buf), "%s", t ? t : "");
        free(t);
        s = buf;
        n = strlen(buf);
    } else {
        return hub_apply_fail(ap, HUB_ERR_INVALID, "reason", "reason must be a string");
    }
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    if (chars > DEV_REASON_MAX)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "reason", "reason: at most %d characters",
                              DEV_REASON_MAX);
    if (n > 0)
        *out = hub_strndup(s, n);
    return 0;
}

int dev__apply_command(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"device",     "action", "reason",   "requested_by",
                                       "command_id", "legacy", "recovery", NULL};
    hub_devdom_t *d = ctx;
    const hub_intent_t *in = hub_apply_intent(ap);
    const char *id = json_string_value(json_object_get(p, "device"));
    const char *action = json_string_value(json_object_get(p, "action"));
    const json_t *rb = json_object_get(p, "requested_by");
    const char *cid = json_string_value(json_object_get(p, "command_id"));
    dev_action_t a;
    char *reason;

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    if (id == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "device", "device must be a device id");
    dev_device_t *v = dev__device(d, id);
    if (v == NULL || v->kind != DEV_KIND_INFOSCREEN)
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "device", "Client nicht gefunden");
    if (action == NULL || dev_action_parse(action, &a) != 0)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "action", "Unsupported action '%.64s'",
                              action ? action : "");
    if (rb != NULL && !json_is_null(rb) && (!json_is_integer(rb) || json_integer_value(rb) < 1))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "requested_by",
                              "requested_by must be a user id (an integer from 1) or null");
    if (cid == NULL || strlen(cid) != 36)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "command_id", "command_id must be a UUID");
    if (dev__command(d, cid) != NULL)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "command_id", "command %s exists already", cid);
    if (take_reason(ap, json_object_get(p, "reason"), &reason) != 0)
        return HUB_EINVAL;

    uint64_t now = hub_apply_ts_ms(ap);
    /* only crash recovery's own intents (internal, src scheduler) skip the lockout */
    int recovery = in->internal && strcmp(in->src, "scheduler") == 0 &&
                   json_is_true(json_object_get(p, "recovery"));
    dev_command_t *c = hub_calloc(1, sizeof(*c));
    memcpy(c->id, cid, 36);
    snprintf(c->client, sizeof(c->client), "%s", v->id);
    snprintf(c->req_id, sizeof(c->req_id), "%s", in->req_id);
    c->action = a;
    c->reason = reason;
    c->requested_by = json_is_integer(rb) ? json_integer_value(rb) : 0;
    c->recovery = recovery;
    c->legacy = json_is_true(json_object_get(p, "legacy")) && a == DEV_ACT_REBOOT_HOST;
    c->issued = c->created = c->updated = now;
    c->expires = now + (uint64_t)(recovery ? d->cfg.recovery_expiry_s : d->cfg.expiry_s) * 1000u;
    dev_map_put(&d->commands, c->id, c);
    c->status = DEV_ST_QUEUED;
    dev__count_status(d, c);
    if (dev_action_locks(a) && !recovery &&
        dev_lockout_hit(v->locks, (size_t)v->nlocks, now, DEV_LOCKOUT_WINDOW_MS)) {
        /* Counted like the seed: blocked rows extend the lockout. */
        c->status = DEV_ST_BLOCKED_SAFETY;
        c->failed = now;
        dev__str_set(&c->error_code, "lockout_threshold", 17);
        dev__str_set(&c->error_message, LOCKOUT_MESSAGE, sizeof(LOCKOUT_MESSAGE) - 1);
        lock_add(v, now);
        hub_log(HUB_LOG_WARN, "command_blocked_safety", "{s:s,s:s,s:s}", "command_id", c->id,
                "client_uuid", c->client, "action", dev_action_name(a));
        dev__row_command(ap, c);
        dev__change_command(d, ap, c, 0);
        dev__count_status(d, c);
        return 0;
    }
    if (dev_action_locks(a))
        lock_add(v, now);
    c->status = DEV_ST_PUBLISH_IN_PROGRESS;
    dev__count_status(d, c);
    dev__row_command(ap, c);
    dev__change_command(d, ap, c, 1);
    return 0;
}

void dev__publish_command(hub_devdom_t *d, dev_command_t *c, hub_outbox_t *out)
{
    char topic[160];
    hub_jbuf_t b;

    if (c->status != DEV_ST_PUBLISH_IN_PROGRESS)
        return;
    hub_jbuf_init(&b);
    dev_command_payload(&b, c->id, c->client, c->action, c->issued, c->expires, c->requested_by,
                        c->reason);
    c->token = d->next_token++;
    c->awaiting = 1;
    snprintf(topic, sizeof(topic), "%s/%s/commands", d->root, c->client);
    hub_outbox_mqtt_tracked(out, topic, b.p, b.len, 0, dev__sent, d, c->token);
    if (d->cfg.compat_topics) {
        snprintf(topic, sizeof(topic), "%s/%s/command", d->root, c->client);
        hub_outbox_mqtt(out, topic, b.p, b.len, 1, 0, 0);
        if (c->legacy) {
            static const char legacy[] = "{\"action\":\"restart\"}";
            snprintf(topic, sizeof(topic), "clients/%s/restart", c->client);
            hub_outbox_mqtt(out, topic, legacy, sizeof(legacy) - 1, 1, 0, 0);
        }
    }
    hub_log(HUB_LOG_INFO, "command_published", "{s:s,s:s,s:s,s:b}", "command_id", c->id,
            "client_uuid", c->client, "action", dev_action_name(c->action), "recovery",
            c->recovery);
    hub_jbuf_free(&b);
}

int dev__apply_sent(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_devdom_t *d = ctx;
    const char *id = json_string_value(json_object_get(p, "command_id"));
    int ok = json_is_true(json_object_get(p, "ok"));
    const char *why = json_string_value(json_object_get(p, "error"));
    dev_command_t *c = id ? dev__command(d, id) : NULL;
    dev_status_t next;
    uint64_t now = hub_apply_ts_ms(ap);
    int changed;

    if (dev__own_only(ap) != 0)
        return HUB_EINVAL;
    if (c == NULL)
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "command_id", "no such command");
    changed = dev_publish_outcome(c->status, ok, &next) || (ok && c->published == 0);
    c->awaiting = 0; /* known now, applied or not */
    if (!changed)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "the command moved on already");
    if (ok && c->published == 0)
        c->published = now; /* published_at = published_at or now */
    if (dev_publish_outcome(c->status, ok, &next)) {
        c->status = next;
        dev__count_status(d, c);
        if (!ok) {
            c->failed = now;
            dev__str_set(&c->error_code, "mqtt_publish_failed", 19);
            why = why && why[0] ? why : "Unknown publish error";
            dev__str_set(&c->error_message, why, strlen(why));
        }
    }
    c->updated = now;
    if (c->recovery)
        hub_log(ok ? HUB_LOG_INFO : HUB_LOG_WARN,
                ok ? "crash_recovery_command_issued" : "crash_recovery_publish_failed",
                "{s:s,s:s,s:s,s:s}", "client_uuid", c->client, "reason", c->reason ? c->reason : "",
                "command_id", c->id, "error", ok ? "" : why);
    dev__row_command(ap, c);
    dev__change_command(d, ap, c, 0);
    return 0;
}

/* ---- ACKs ------------------------------------------------------------------------------ */

enum { IGN_TERMINAL = 0, IGN_BACKWARDS, IGN_UNKNOWN, IGN_WRONG_DEVICE };

int dev__apply_ack(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const dev_status_t target[] = {DEV_ST_ACK_RECEIVED, DEV_ST_EXECUTION_STARTED,
                                          DEV_ST_COMPLETED, DEV_ST_FAILED};
    hub_devdom_t *d = ctx;
    const char *uuid = json_string_value(json_object_get(p, "uuid"));
    const char *id = json_string_value(json_object_get(p, "command_id"));
    const char *st = json_string_value(json_object_get(p, "status"));
    const char *code = json_string_value(json_object_get(p, "error_code"));
    const char *msg = json_string_value(json_object_get(p, "error_message"));
    dev_command_t *c = id ? dev__command(d, id) : NULL;
    dev_ack_status_t ack = DEV_ACK_ACCEPTED;
    dev_status_t next;
    uint64_t now = hub_apply_ts_ms(ap);

    if (dev__own_only(ap) != 0)
        return HUB_EINVAL;
    if (uuid == NULL || id == NULL || st == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "", "uuid, command_id and status are needed");
    for (int i = 0; i < 4; i++)
        if (strcmp(st, i == 0 ? "accepted" : dev_status_name(target[i])) == 0)
            ack = (dev_ack_status_t)i;
    if (c == NULL) {
        hub_metric_inc(d->m_acks_ignored[IGN_UNKNOWN]);
        hub_log(HUB_LOG_WARN, "command_ack_unknown", "{s:s,s:s}", "command_id", id, "uuid", uuid);
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "command_id", "unknown command_id");
    }
    if (strcmp(c->client, uuid) != 0) {
        hub_metric_inc(d->m_acks_ignored[IGN_WRONG_DEVICE]);
        hub_log(HUB_LOG_WARN, "command_ack_wrong_device", "{s:s,s:s,s:s}", "command_id", id, "uuid",
                uuid, "client_uuid", c->client);
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "uuid",
                              "the ACK came from another device's topic");
    }
    switch (dev_ack_apply(c->status, ack, &next)) {
    case DEV_ACK_IGNORE_TERMINAL:
        hub_metric_inc(d->m_acks_ignored[IGN_TERMINAL]);
        hub_log(HUB_LOG_INFO, "command_ack_ignored", "{s:s,s:s,s:s}", "command_id", id, "status",
                dev_status_name(c->status), "reason", "terminal");
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "status", "the command is already %s",
                              dev_status_name(c->status));
    case DEV_ACK_IGNORE_BACKWARDS:
        hub_metric_inc(d->m_acks_ignored[IGN_BACKWARDS]);
        hub_log(HUB_LOG_DEBUG, "command_ack_ignored", "{s:s,s:s,s:s,s:s}", "command_id", id,
                "status", dev_status_name(c->status), "ack", st, "reason", "backwards");
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "status", "the command is at %s already",
                              dev_status_name(c->status));
    case DEV_ACK_APPLY: break;
    }
    c->status = next;
    switch (next) {
    case DEV_ST_ACK_RECEIVED:
        c->acked = now;
        if (c->published)
            hub_metric_observe(d->m_accept_lat, (double)(now - c->published) / 1000.0);
        break;
    case DEV_ST_EXECUTION_STARTED: c->started = now; break;
    case DEV_ST_COMPLETED:
        c->completed = now;
        if (c->published)
            hub_metric_observe(d->m_complete_lat, (double)(now - c->published) / 1000.0);
        break;
    default:
        c->failed = now;
        if (code != NULL)
            dev__str_set(&c->error_code, code, strlen(code));
        if (msg != NULL)
            dev__str_set(&c->error_message, msg, strlen(msg));
        break;
    }
    c->updated = now;
    dev__count_status(d, c);
    hub_log(HUB_LOG_INFO, "command_ack", "{s:s,s:s,s:s}", "command_id", id, "status",
            dev_status_name(next), "uuid", uuid);
    dev__row_command(ap, c);
    dev__change_command(d, ap, c, 0);
    return 0;
}

/* ---- answers to REST requests ---------------------------------------------------------- */

static void answer_error(hub_reply_t *reply, int status, const char *msg)
{
    hub_reply_error(reply, status, msg);
}

/* 202 published (or anything after), 500 publish failed, 429 blocked. */
int dev__answer_body(const dev_command_t *c, hub_jbuf_t *b)
{
    int status = 202;

    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "success");
    if (c->status == DEV_ST_BLOCKED_SAFETY) {
        status = 429;
        hub_jbuf_bool(b, 0);
        hub_jbuf_key(b, "message");
        hub_jbuf_str(b, "Neustart voruebergehend blockiert (Sicherheits-Lockout)");
    } else if (c->status == DEV_ST_FAILED && c->error_code != NULL &&
               strcmp(c->error_code, "mqtt_publish_failed") == 0) {
        char msg[400];
        status = 500;
        snprintf(msg, sizeof(msg), "Failed to publish command: %s",
                 c->error_message ? c->error_message : "");
        dev__utf8_trim(msg);
        hub_jbuf_bool(b, 0);
        hub_jbuf_key(b, "error");
        hub_jbuf_str(b, msg);
    } else {
        char msg[128];
        snprintf(msg, sizeof(msg), "Command published for client %s", c->client);
        hub_jbuf_bool(b, 1);
        hub_jbuf_key(b, "message");
        hub_jbuf_str(b, msg);
    }
    hub_jbuf_key(b, "command");
    dev__render_command_camel(b, c);
    hub_jbuf_close(b, '}');
    return status;
}

static void answer_now(const dev_command_t *c, hub_reply_t *reply)
{
    hub_jbuf_t b;

    hub_jbuf_init(&b);
    int status = dev__answer_body(c, &b);
    hub_reply_send(reply, status, b.p, b.len);
    hub_jbuf_free(&b);
}

void dev__reply_all(hub_devdom_t *d, dev_command_t *c)
{
    (void)d;
    c->awaiting = 0;
    while (c->replies != NULL) {
        dev_reply_t *r = c->replies;
        c->replies = r->next;
        answer_now(c, r->reply);
        hub_free(r);
    }
}

void dev__reply_drop(dev_command_t *c)
{
    while (c->replies != NULL) {
        dev_reply_t *r = c->replies;
        c->replies = r->next;
        answer_error(r->reply, 503, "the hub is shutting down: ask again");
        hub_free(r);
    }
}

static dev_command_t *by_req_id(hub_devdom_t *d, const char *req_id)
{
    size_t n;
    dev_command_t *found = NULL;
    void **all = dev_map_values(&d->commands, &n);
    for (size_t i = 0; i < n && found == NULL; i++)
        if (strcmp(((dev_command_t *)all[i])->req_id, req_id) == 0)
            found = all[i];
    hub_free(all);
    return found;
}

void dev__answer_command(void *ctx, const hub_intent_t *in, const hub_announce_t *ann,
                         hub_reply_t *reply)
{
    hub_devdom_t *d = ctx;
    (void)ann;

    if (in->outcome == HUB_INTENT_REJECTED) {
        int status = hub_errcode_http(in->err.code);
        answer_error(reply, status, in->err.msg);
        return;
    }
    const char *id = json_string_value(json_object_get(in->payload, "command_id"));
    /* Applied in memory but the commit failed: it is published all the
     * same, so "send again" would reboot twice; answer it as applied. */
    int unstored = in->outcome == HUB_ESTORE && id != NULL && dev__command(d, id) != NULL;
    if (in->outcome != HUB_INTENT_APPLIED && in->outcome != HUB_INTENT_DUPLICATE && !unstored) {
        answer_error(reply, hub_errcode_http(in->err.code), in->err.msg);
        return;
    }
    dev_command_t *c =
        in->outcome != HUB_INTENT_DUPLICATE && id ? dev__command(d, id) : by_req_id(d, in->req_id);
    if (c == NULL) { /* the first one's command has left memory: read it back */
        dev__command_by_req(d, in->req_id, reply);
        return;
    }
    if (c->awaiting && !d->stopping) {
        dev_reply_t *r = hub_calloc(1, sizeof(*r));
        r->reply = reply;
        r->next = c->replies;
        c->replies = r;
        return;
    }
    if (c->awaiting) { /* stopping: whether it went out is not known */
        answer_error(reply, 503, "the hub is shutting down: ask again");
        return;
    }
    answer_now(c, reply);
}
