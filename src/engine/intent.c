/* engine/intent.c - intents: envelopes, the seed-000 command, error codes. */
#include "engine/intent.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jbuf.h"
#include "core/mem.h"
#include "core/ulid.h"

static const struct {
    const char *name;
    int http;
} codes[] = {
    [HUB_ERR_NONE] = {"", 200},
    [HUB_ERR_INVALID] = {"invalid", 400},
    [HUB_ERR_UNKNOWN_INTENT] = {"unknown_intent", 400},
    [HUB_ERR_NOT_FOUND] = {"not_found", 404},
    [HUB_ERR_CONFLICT] = {"conflict", 409},
    [HUB_ERR_OVERLOADED] = {"overloaded", 503},
    [HUB_ERR_DROPPED] = {"dropped", 503},
    [HUB_ERR_UNAUTHORIZED] = {"unauthorized", 401},
    [HUB_ERR_STORE_FAILED] = {"store_failed", 500},
};

const char *hub_errcode_name(hub_errcode_t code)
{
    return (unsigned)code < sizeof(codes) / sizeof(codes[0]) ? codes[code].name : "invalid";
}

int hub_errcode_http(hub_errcode_t code)
{
    return (unsigned)code < sizeof(codes) / sizeof(codes[0]) ? codes[code].http : 500;
}

int hub_error_set(hub_error_t *err, hub_errcode_t code, const char *field, const char *fmt, ...)
{
    va_list ap;

    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return HUB_EINVAL;
}

uint8_t hub_clamp_byte(double v)
{
    double r = round(v); /* half away from zero */
    if (!(r >= 0))       /* also NaN */
        return 0;
    if (r > 255)
        return 255;
    return (uint8_t)r;
}

/* Printable ASCII only: ids and sources end up in logs, topics and the journal. */
static int printable(const char *s, size_t len, size_t max)
{
    if (s == NULL || len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    return 1;
}

int hub_req_id_valid(const char *s, size_t len)
{
    return printable(s, len, HUB_REQ_ID_MAX);
}

int hub_src_valid(const char *s, size_t len)
{
    return printable(s, len, HUB_SRC_MAX);
}

/* Copy s (NULL: dflt) into dst[n], truncated. Not snprintf: this runs for
 * every intent. */
static void copy_field(char *dst, size_t n, const char *s, const char *dflt)
{
    size_t len;
    if (s == NULL)
        s = dflt;
    len = strnlen(s, n - 1);
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* Take payload and its compact text (malloc'd, owned from now on). */
static void take_payload(hub_intent_t *in, json_t *payload, char *text, size_t len)
{
    json_decref(in->payload);
    free(in->payload_text);
    in->payload = payload;
    in->payload_text = text;
    in->payload_len = len;
}

/* An intent with no payload yet. */
static hub_intent_t *intent_alloc(const char *req_id, const char *src, const char *name)
{
    hub_intent_t *in = hub_calloc(1, sizeof(*in));
    copy_field(in->req_id, sizeof(in->req_id), req_id, "");
    copy_field(in->src, sizeof(in->src), src, "api");
    copy_field(in->name, sizeof(in->name), name, "");
    in->is_ui = strcmp(in->src, "ui") == 0;
    return in;
}

hub_intent_t *hub_intent_new(const char *req_id, const char *src, const char *name)
{
    hub_intent_t *in = intent_alloc(req_id, src, name);
    take_payload(in, json_object(), hub_strndup("{}", 2), 2);
    return in;
}

hub_intent_t *hub_intent_new_internal(const char *name, const char *src)
{
    char id[HUB_REQ_ID_MAX + 1];

    id[0] = HUB_INTERNAL_ID_PREFIX;
    hub_ulid_new(id + 1);
    hub_intent_t *in = hub_intent_new(id, src, name);
    in->internal = 1;
    return in;
}

void hub_intent_set_payload(hub_intent_t *in, json_t *payload)
{
    char *text = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (text == NULL) /* only on OOM inside jansson */
        text = hub_strndup("{}", 2);
    take_payload(in, payload, text, strlen(text));
}

void hub_intent_free(hub_intent_t *in)
{
    if (in == NULL)
        return;
    json_decref(in->payload);
    free(in->payload_text); /* jansson's allocator (malloc) or hub_strndup */
    hub_free(in->reply_to);
    hub_free(in);
}

void hub_json_normalize_numbers(json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, key, child)
        {
            double d = json_is_real(child) ? json_real_value(child) : NAN;
            if (d == floor(d) && fabs(d) < 9007199254740992.0)
                json_object_set_new(v, key, json_integer((json_int_t)d));
            else
                hub_json_normalize_numbers(child);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
        {
            double d = json_is_real(child) ? json_real_value(child) : NAN;
            if (d == floor(d) && fabs(d) < 9007199254740992.0)
                json_array_set_new(v, i, json_integer((json_int_t)d));
            else
                hub_json_normalize_numbers(child);
        }
    }
}

/* Copy a string member's value into dst (dstlen bytes) if valid. */
static int get_str(const json_t *obj, const char *key, const json_t **v)
{
    *v = json_object_get(obj, key);
    return *v != NULL;
}

int hub_intent_from_envelope(const json_t *obj, const char *default_src, int require_req_id,
                             hub_intent_t **out, hub_error_t *err,
                             char req_id_out[HUB_REQ_ID_MAX + 1])
{
    const json_t *v;
    const char *src = default_src;
    hub_intent_t *in;

    memset(err, 0, sizeof(*err));
    req_id_out[0] = '\0';
    if (!json_is_object(obj))
        return hub_error_set(err, HUB_ERR_INVALID, "", "the intent must be a JSON object");
    if (get_str(obj, "req_id", &v)) {
        if (!json_is_string(v) || !hub_req_id_valid(json_string_value(v), json_string_length(v)))
            return hub_error_set(err, HUB_ERR_INVALID, "req_id",
                                 "req_id must be a string of 1-64 printable ASCII characters");
        snprintf(req_id_out, HUB_REQ_ID_MAX + 1, "%s", json_string_value(v));
    } else if (require_req_id) {
        return hub_error_set(err, HUB_ERR_INVALID, "req_id",
                             "req_id is required (1-64 printable ASCII characters, e.g. a ULID)");
    }
    if (get_str(obj, "src", &v)) {
        if (!json_is_string(v) || !hub_src_valid(json_string_value(v), json_string_length(v)))
            return hub_error_set(err, HUB_ERR_INVALID, "src",
                                 "src must be a string of 1-64 printable ASCII characters");
        src = json_string_value(v);
    }
    if (!get_str(obj, "name", &v))
        return hub_error_set(err, HUB_ERR_INVALID, "name",
                             "name is required: the intent to apply, e.g. \"fixture.set_values\"");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > HUB_NAME_MAX ||
        !printable(json_string_value(v), json_string_length(v), HUB_NAME_MAX))
        return hub_error_set(err, HUB_ERR_INVALID, "name",
                             "name must be a string of 1-63 printable ASCII characters");
    const char *name = json_string_value(v);
    const json_t *payload = json_object_get(obj, "payload");
    if (payload != NULL && !json_is_object(payload))
        return hub_error_set(err, HUB_ERR_INVALID, "payload", "payload must be a JSON object");

    in = hub_intent_new(req_id_out, src, name);
    if (payload != NULL) {
        json_t *copy = json_deep_copy(payload);
        hub_json_normalize_numbers(copy);
        hub_intent_set_payload(in, copy);
    }
    *out = in;
    return 0;
}

int hub_intent_set_reply_to(hub_intent_t *in, const json_t *v, hub_error_t *err)
{
    const char *t;
    size_t n;

    if (v == NULL)
        return 0;
    t = json_is_string(v) ? json_string_value(v) : NULL;
    n = t ? json_string_length(v) : 0;
    if (t == NULL || n == 0 || n > 256 || strlen(t) != n || strpbrk(t, "+#") != NULL)
        return hub_error_set(err, HUB_ERR_INVALID, "reply_to",
                             "reply_to must be an MQTT topic of 1-256 bytes without + or #");
    hub_free(in->reply_to);
    in->reply_to = hub_strndup(t, n);
    return 0;
}

/* ---- the seed-000 command ------------------------------------------------ */

static int rgb_fail(hub_error_t *err, const char *field, const char *msg)
{
    return hub_error_set(err, HUB_ERR_INVALID, field, "%s", msg);
}

int hub_intent_from_rgb(const json_t *obj, const char *default_src, hub_intent_t **out,
                        hub_error_t *err, char cmd_id[HUB_REQ_ID_MAX + 1])
{
    static const char *const chan[3] = {"r", "g", "b"};
    static const char *const role[3] = {"red", "green", "blue"};
    const json_t *v;
    const char *src = default_src;
    uint8_t rgb[3];
    char id[HUB_ULID_LEN + 1];

    memset(err, 0, sizeof(*err));
    cmd_id[0] = '\0';
    if (!json_is_object(obj))
        return rgb_fail(err, "", "body must be a JSON object");

    v = json_object_get(obj, "cmdId");
    if (v == NULL)
        return rgb_fail(err, "cmdId", "cmdId is required (a ULID, 26 characters)");
    if (!json_is_string(v))
        return rgb_fail(err, "cmdId", "cmdId must be a string (a ULID, 26 characters)");
    if (!hub_ulid_valid(json_string_value(v), json_string_length(v)))
        return rgb_fail(err, "cmdId",
                        "cmdId is not a valid ULID (26 Crockford base32 characters, first 0-7)");
    hub_ulid_canon(id, json_string_value(v));
    memcpy(cmd_id, id, sizeof(id));

    v = json_object_get(obj, "schema");
    if (v != NULL && (!json_is_string(v) || strcmp(json_string_value(v), HUB_CMD_SCHEMA) != 0))
        return rgb_fail(err, "schema", "unknown schema: expected \"" HUB_CMD_SCHEMA "\"");

    v = json_object_get(obj, "src");
    if (v != NULL) {
        if (!json_is_string(v) || !hub_src_valid(json_string_value(v), json_string_length(v)))
            return rgb_fail(err, "src", "src must be a string of 1-64 printable ASCII characters");
        src = json_string_value(v);
    }

    for (int i = 0; i < 3; i++) {
        v = json_object_get(obj, chan[i]);
        if (v == NULL || !json_is_number(v)) {
            char msg[64];
            snprintf(msg, sizeof(msg), "%s must be a number (0-255)", chan[i]);
            return rgb_fail(err, chan[i], msg);
        }
        rgb[i] = hub_clamp_byte(json_number_value(v));
    }

    hub_intent_t *in = intent_alloc(id, src, "fixture.set_values");
    hub_jbuf_t text = {0};
    /* The text json_dumps would give of the payload, written directly. */
    hub_jbuf_lit(&text, "{\"fixture\":\"demo\",\"values\":");
    hub_jbuf_open(&text, '{');
    for (int i = 0; i < 3; i++) {
        hub_jbuf_key(&text, role[i]);
        hub_jbuf_uint(&text, rgb[i]);
    }
    hub_jbuf_close(&text, '}');
    hub_jbuf_close(&text, '}');
    size_t len = text.len;
    take_payload(in, NULL, hub_jbuf_take(&text, NULL), len);
    memcpy(in->rgb, rgb, 3);
    in->legacy = 1;
    *out = in;
    return 0;
}

int hub_intent_parse_rgb(const char *text, size_t len, const char *default_src, hub_intent_t **out,
                         hub_error_t *err, char cmd_id[HUB_REQ_ID_MAX + 1])
{
    json_error_t jerr;
    json_t *obj;
    int rc;

    memset(err, 0, sizeof(*err));
    cmd_id[0] = '\0';
    obj = json_loadb(text, len, HUB_JSON_FLAGS, &jerr);
    if (obj == NULL)
        return hub_error_set(err, HUB_ERR_INVALID, "",
                             "malformed JSON at line %d column %d: %.120s", jerr.line, jerr.column,
                             jerr.text);
    rc = hub_intent_from_rgb(obj, default_src, out, err, cmd_id);
    json_decref(obj);
    return rc;
}
