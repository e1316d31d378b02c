/* engine/command.c - parse and validate commands from JSON. */
#include "engine/command.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"

uint8_t hub_cmd_clamp(double v)
{
    double r = round(v); /* half away from zero */
    if (!(r >= 0))       /* also NaN */
        return 0;
    if (r > 255)
        return 255;
    return (uint8_t)r;
}

hub_cmd_t *hub_cmd_new(const char *cmd_id, const char *src, const uint8_t rgb[3])
{
    hub_cmd_t *c = hub_calloc(1, sizeof(*c));
    snprintf(c->cmd_id, sizeof(c->cmd_id), "%s", cmd_id);
    snprintf(c->src, sizeof(c->src), "%s", src);
    memcpy(c->rgb, rgb, 3);
    c->is_ui = strcmp(c->src, "ui") == 0;
    return c;
}

void hub_cmd_free(hub_cmd_t *cmd)
{
    hub_free(cmd);
}

static int fail(hub_parse_err_t *err, const char *field, const char *msg)
{
    snprintf(err->field, sizeof(err->field), "%s", field);
    snprintf(err->msg, sizeof(err->msg), "%s", msg);
    return HUB_EINVAL;
}

/* Printable ASCII only: src ends up in logs, metrics labels and the journal. */
static int src_ok(const char *s, size_t len)
{
    if (len == 0 || len > HUB_SRC_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    return 1;
}

int hub_cmd_from_json(const json_t *obj, const char *default_src, hub_cmd_t **out,
                      hub_parse_err_t *err)
{
    static const char *const chan[3] = {"r", "g", "b"};
    const json_t *v;
    const char *src = default_src;
    uint8_t rgb[3];
    char id[HUB_ULID_LEN + 1];

    memset(err, 0, sizeof(*err));
    if (!json_is_object(obj))
        return fail(err, "", "body must be a JSON object");

    v = json_object_get(obj, "cmdId");
    if (v == NULL)
        return fail(err, "cmdId", "cmdId is required (a ULID, 26 characters)");
    if (!json_is_string(v))
        return fail(err, "cmdId", "cmdId must be a string (a ULID, 26 characters)");
    if (!hub_ulid_valid(json_string_value(v), json_string_length(v)))
        return fail(err, "cmdId",
                    "cmdId is not a valid ULID (26 Crockford base32 characters, first 0-7)");
    hub_ulid_canon(id, json_string_value(v));
    memcpy(err->cmd_id, id, sizeof(id));

    v = json_object_get(obj, "schema");
    if (v != NULL && (!json_is_string(v) || strcmp(json_string_value(v), HUB_CMD_SCHEMA) != 0))
        return fail(err, "schema", "unknown schema: expected \"" HUB_CMD_SCHEMA "\"");

    v = json_object_get(obj, "src");
    if (v != NULL) {
        if (!json_is_string(v) || !src_ok(json_string_value(v), json_string_length(v)))
            return fail(err, "src", "src must be a string of 1-64 printable ASCII characters");
        src = json_string_value(v);
    }

    for (int i = 0; i < 3; i++) {
        v = json_object_get(obj, chan[i]);
        if (v == NULL || !json_is_number(v)) {
            char msg[64];
            snprintf(msg, sizeof(msg), "%s must be a number (0-255)", chan[i]);
            return fail(err, chan[i], msg);
        }
        rgb[i] = hub_cmd_clamp(json_number_value(v));
    }

    *out = hub_cmd_new(id, src, rgb);
    return 0;
}

int hub_cmd_parse(const char *text, size_t len, const char *default_src, hub_cmd_t **out,
                  hub_parse_err_t *err)
{
    json_error_t jerr;
    json_t *obj;
    int rc;

    memset(err, 0, sizeof(*err));
    obj = json_loadb(text, len, HUB_CMD_JSON_FLAGS, &jerr);
    if (obj == NULL) {
        snprintf(err->msg, sizeof(err->msg), "malformed JSON at line %d column %d: %.120s",
                 jerr.line, jerr.column, jerr.text);
        return HUB_EINVAL;
    }
    rc = hub_cmd_from_json(obj, default_src, out, err);
    json_decref(obj);
    return rc;
}
