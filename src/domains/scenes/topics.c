/* domains/scenes/topics.c - feedback from the devices (seed 002):
 * <room>/status OK|ERROR and devices/<id>/status OK|ERROR. Only while an
 * action waits for it (tracking is on only while a scene runs); other
 * messages on those topics are not ours (presence goes to the devices
 * domain, which reads devices/+/status too).
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "domains/scenes/scenes_int.h"

static int eq(const char *p, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(p, s, len) == 0;
}

static int waiting(const hub_scndom_t *d, const char *room)
{
    uint64_t now = hub_mono_us(), limit = (uint64_t)d->cfg.feedback_timeout_ms * 1000u;
    for (size_t i = 0; i < d->nghosts; i++) /* a stopped run's action: it takes its answer */
        if ((room == NULL || strcmp(d->ghosts[i].room, room) == 0) &&
            now <= d->ghosts[i].sent_us + limit)
            return 1;
    for (size_t i = 0; i < d->nruns; i++)
        for (size_t k = 0; k < d->runs[i]->def.n; k++)
            if (d->runs[i]->acts[k].status == SCN_ST_SENT &&
                d->runs[i]->def.actions[k].kind == SCN_MQTT &&
                (room == NULL || strcmp(d->runs[i]->def.actions[k].room, room) == 0))
                return 1;
    return 0;
}

static int feedback(hub_scndom_t *d, const char *topic, const char *key, const char *val, int ok,
                    hub_intent_t **out)
{
    json_t *p = json_pack("{s:s,s:b,s:I,s:s}", key, val, "ok", ok, "at_us",
                          (json_int_t)hub_mono_us(), "topic", topic);
    hub_intent_t *in = scn__intent_new("scene.feedback", "mqtt");
    hub_intent_set_payload(in, p);
    (void)d;
    *out = in;
    return 0;
}

static int on_room_status(void *ctx, const char *topic, const char *payload, size_t len,
                          hub_intent_t **out, hub_error_t *err)
{
    hub_scndom_t *d = ctx;
    char room[SCN_NAME_MAX + 1];
    const char *slash = strchr(topic, '/');
    size_t n = slash ? (size_t)(slash - topic) : 0;

    (void)err;
    if (n == 0 || n > SCN_NAME_MAX)
        return 0;
    memcpy(room, topic, n);
    room[n] = '\0';
    if (!eq(payload, len, "OK") && !eq(payload, len, "ERROR"))
        return 0; /* someone else's status topic */
    if (!waiting(d, room)) {
        hub_log(HUB_LOG_DEBUG, "scene_feedback_ignored", "{s:s,s:s}", "logger", "mqtt_feedback",
                "topic", topic);
        return 0;
    }
    return feedback(d, topic, "room", room, eq(payload, len, "OK"), out);
}

static int on_device_status(void *ctx, const char *topic, const char *payload, size_t len,
                            hub_intent_t **out, hub_error_t *err)
{
    hub_scndom_t *d = ctx;
    char id[SCN_NAME_MAX + 1];
    const char *start = topic + 8; /* "devices/" */
    const char *end = strrchr(topic, '/');

    (void)err;
    if (!eq(payload, len, "OK") && !eq(payload, len, "ERROR"))
        return 0; /* presence: the devices domain's */
    if (end == NULL || end <= start || (size_t)(end - start) > SCN_NAME_MAX)
        return 0;
    memcpy(id, start, (size_t)(end - start));
    id[end - start] = '\0';
    if (!waiting(d, NULL))
        return 0;
    return feedback(d, topic, "device", id, eq(payload, len, "OK"), out);
}

void scn__topics_init(hub_scndom_t *d)
{
    d->topics[0] = (hub_topic_def_t){.filter = "+/status", .to_intent = on_room_status, .raw = 1};
    d->topics[1] =
        (hub_topic_def_t){.filter = "devices/+/status", .to_intent = on_device_status, .raw = 1};
    d->topics[2] = (hub_topic_def_t){0};
}
