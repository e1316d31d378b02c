/* domains/dmx/routes.c - the dmx REST routes and MQTT topics.
 *
 * Mutations become intents (the same validation, dedupe and durability as
 * any other path in); reads render the published (durable) state.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "domains/dmx/dmx_int.h"

/* ---- mutations (network threads: pure) ----------------------------------------- */

static int body_object(const hub_route_req_t *rq, json_t **payload, hub_error_t *err,
                       const char *example)
{
    if (!json_is_object(rq->body))
        return hub_error_set(err, HUB_ERR_INVALID, "", "the body must be a JSON object, e.g. %s",
                             example);
    *payload = json_deep_copy(rq->body);
    return 0;
}

static int int_arg(const char *s, int *out)
{
    char *end;
    long v;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    v = strtol(s, &end, 10);
    if (*end != '\0' || v > 2147483647L)
        return -1;
    *out = (int)v;
    return 0;
}

static int patch_universe(const hub_route_req_t *rq, const char **name, json_t **payload,
                          hub_error_t *err)
{
    int u;
    if (int_arg(rq->args[0], &u) != 0)
        return hub_error_set(err, HUB_ERR_INVALID, "universe", "\"%.40s\" is not a universe number",
                             rq->args[0]);
    if (body_object(rq, payload, err, "{\"channels\":{\"1\":255}}") != 0)
        return HUB_EINVAL;
    json_object_set_new(*payload, "universe", json_integer(u));
    *name = "dmx.set_channels";
    return 0;
}

static int patch_fixture(const hub_route_req_t *rq, const char **name, json_t **payload,
                         hub_error_t *err)
{
    if (body_object(rq, payload, err, "{\"armed\":false} or {\"values\":{\"red\":255}}") != 0)
        return HUB_EINVAL;
    json_object_set_new(*payload, "fixture", json_string(rq->args[0]));
    *name = "fixture.update";
    return 0;
}

static int post_blackout(const hub_route_req_t *rq, const char **name, json_t **payload,
                         hub_error_t *err)
{
    if (body_object(rq, payload, err, "{\"on\":true}") != 0)
        return HUB_EINVAL;
    *name = "dmx.blackout";
    return 0;
}

static int post_reload(const hub_route_req_t *rq, const char **name, json_t **payload,
                       hub_error_t *err)
{
    (void)rq;
    (void)err;
    *payload = json_object(); /* the prepare step reads the file */
    *name = "dmx.reload_fixtures";
    return 0;
}

/* ---- reads (loop thread: the published state) ----------------------------------- */

static int get_universes(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_dmx_t *d = ctx;
    (void)rq;
    (void)err;
    hub_jbuf_open(out, '{');
    hub_jbuf_key(out, "universes");
    dmx__render_universes(out, d->pub.universes, d->pub.nuniverses);
    hub_jbuf_close(out, '}');
    return 0;
}

static int get_universe(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_dmx_t *d = ctx;
    hub_dmx_layers_t layers;
    uint8_t frame[HUB_DMX_SLOTS];
    long ui;
    int u;

    if (int_arg(rq->args[0], &u) != 0)
        return hub_error_set(err, HUB_ERR_INVALID, "universe", "\"%.40s\" is not a universe number",
                             rq->args[0]);
    ui = dmx__state_universe_index(&d->pub, u);
    if (ui < 0)
        return hub_error_set(err, HUB_ERR_NOT_FOUND, "universe",
                             "universe %d is not in the patch (see GET /api/v1/universes)", u);
    dmx__state_layers(&d->pub, (size_t)ui, &layers);
    hub_dmx_merge_layers(&layers, frame);
    hub_jbuf_open(out, '{');
    hub_jbuf_key(out, "universe");
    hub_jbuf_int(out, u);
    hub_jbuf_key(out, "channels");
    hub_jbuf_open(out, '[');
    for (int s = 0; s < HUB_DMX_SLOTS; s++)
        hub_jbuf_int(out, frame[s]);
    hub_jbuf_close(out, ']');
    hub_jbuf_close(out, '}');
    return 0;
}

static int get_fixtures(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_dmx_t *d = ctx;
    (void)rq;
    (void)err;
    hub_jbuf_open(out, '{');
    hub_jbuf_key(out, "fixtures");
    hub_jbuf_open(out, '{');
    for (size_t i = 0; i < d->pub.nfixtures; i++) {
        hub_jbuf_key(out, d->pub.fixtures[i].def.name);
        dmx__render_fixture(out, &d->pub.fixtures[i], 0);
    }
    hub_jbuf_close(out, '}');
    hub_jbuf_close(out, '}');
    return 0;
}

static int get_fixture(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_dmx_t *d = ctx;
    const dmx__fixture_t *f = dmx__state_fixture(&d->pub, rq->args[0]);
    if (f == NULL)
        return hub_error_set(err, HUB_ERR_NOT_FOUND, "fixture",
                             "no fixture named \"%.64s\" (see GET /api/v1/fixtures)", rq->args[0]);
    dmx__render_fixture(out, f, 0);
    return 0;
}

const hub_route_def_t hub__dmx_routes[] = {
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/universes", .read = get_universes},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/universes/*", .read = get_universe},
    {.method = HUB_HTTP_PATCH, .pattern = "/api/v1/universes/*", .to_intent = patch_universe},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/fixtures", .read = get_fixtures},
    {.method = HUB_HTTP_POST, .pattern = "/api/v1/fixtures/reload", .to_intent = post_reload},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/fixtures/*", .read = get_fixture},
    {.method = HUB_HTTP_PATCH, .pattern = "/api/v1/fixtures/*", .to_intent = patch_fixture},
    {.method = HUB_HTTP_POST, .pattern = "/api/v1/blackout", .to_intent = post_blackout},
    {0},
};

/* ---- MQTT: v1/dmx/fixtures/<name>/set {req_id?, values?, armed?, reply_to?} ------- */

static int fixture_set(void *ctx, const char *topic, const char *payload, size_t len,
                       hub_intent_t **out, hub_error_t *err)
{
    static const char prefix[] = "v1/dmx/fixtures/";
    const char *name = topic + sizeof(prefix) - 1;
    const char *slash = strchr(name, '/');
    json_error_t jerr;
    json_t *obj, *p, *v;
    const char *key;
    hub_intent_t *in;
    char req_id[HUB_REQ_ID_MAX + 1] = "";

    (void)ctx;
    if (slash == NULL || slash == name || (size_t)(slash - name) > HUB_DMX_NAME_MAX)
        return hub_error_set(err, HUB_ERR_INVALID, "topic", "expected v1/dmx/fixtures/<name>/set");
    obj = json_loadb(payload, len, HUB_JSON_FLAGS, &jerr);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return hub_error_set(err, HUB_ERR_INVALID, "",
                             "the payload must be a JSON object {\"values\":{…},\"armed\":…}");
    }
    v = json_object_get(obj, "req_id");
    if (v != NULL) {
        if (!json_is_string(v) || !hub_req_id_valid(json_string_value(v), json_string_length(v))) {
            json_decref(obj);
            return hub_error_set(err, HUB_ERR_INVALID, "req_id",
                                 "req_id must be a string of 1-64 printable ASCII characters");
        }
        snprintf(req_id, sizeof(req_id), "%s", json_string_value(v));
    }
    in = hub_intent_new(req_id, "mqtt", "fixture.update");
    if (hub_intent_set_reply_to(in, json_object_get(obj, "reply_to"), err) != 0) {
        hub_intent_free(in);
        json_decref(obj);
        return HUB_EINVAL;
    }
    p = json_object();
    json_object_set_new(p, "fixture", json_stringn(name, (size_t)(slash - name)));
    json_object_foreach(obj, key, v)
    {
        if (strcmp(key, "req_id") != 0 && strcmp(key, "reply_to") != 0)
            json_object_set(p, key, v);
    }
    json_decref(obj);
    hub_intent_set_payload(in, p);
    *out = in;
    return 0;
}

const hub_topic_def_t hub__dmx_topics[] = {
    {.filter = "v1/dmx/fixtures/+/set", .to_intent = fixture_set},
    {.filter = NULL},
};
