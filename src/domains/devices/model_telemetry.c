/* domains/devices/model_telemetry.c - heartbeat and health payloads to the
 * device's telemetry fields (rules in model.h).
 *
 * The seed's listener ignores a field it cannot use and keeps the rest, so
 * each field is judged on its own: null or absent leaves it unset, a wrong
 * type or value leaves it unset and names it in ignored[].
 */
#include "domains/devices/model.h"

#include <math.h>
#include <string.h>

static const char *const proc_names[DEV_PROC_COUNT] = {"running", "crashed", "starting", "stopped"};
static const char *const screen_names[DEV_SCREEN_COUNT] = {"OK", "BLACK", "FROZEN", "UNKNOWN"};

const char *dev_proc_name(dev_proc_t p)
{
    return (unsigned)p < DEV_PROC_COUNT ? proc_names[p] : "unknown";
}

int dev_proc_parse(const char *s, dev_proc_t *out)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < DEV_PROC_COUNT; i++) {
        if (strcmp(s, proc_names[i]) == 0) {
            *out = (dev_proc_t)i;
            return 0;
        }
    }
    return -1;
}

const char *dev_screen_name(dev_screen_t s)
{
    return (unsigned)s < DEV_SCREEN_COUNT ? screen_names[s] : "unknown";
}

int dev_screen_parse(const char *s, dev_screen_t *out)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < DEV_SCREEN_COUNT; i++) {
        if (strcmp(s, screen_names[i]) == 0) {
            *out = (dev_screen_t)i;
            return 0;
        }
    }
    return -1;
}

/* ---- value coercions ------------------------------------------------------------ */

static void ignore(dev_telemetry_t *t, const char *name)
{
    if (t->nignored < (int)(sizeof(t->ignored) / sizeof(t->ignored[0])))
        t->ignored[t->nignored++] = name;
}

/* A string jansson holds with no NUL inside (C callers would see less). */
static const char *plain_str(const json_t *v, size_t *len)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    *len = json_string_length(v);
    return memchr(s, '\0', *len) == NULL ? s : NULL;
}

/* d as an int64 when it is finite and in range, truncated toward zero. */
static int real_to_i64(double d, int64_t *out)
{
    /* 2^63 is exact in a double; the range is [-2^63, 2^63). */
    if (!isfinite(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return -1;
    *out = (int64_t)d;
    return 0;
}

static int is_pyspace(char c)
{
    return (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= ' ');
}

/* Python's int(str) for int64: surrounding whitespace, an optional sign,
 * then digits with single underscores between them. ASCII whitespace only:
 * the Unicode spaces Python also strips do not occur in practice. */
static int str_to_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t mag = 0;

    while (n > 0 && is_pyspace(s[n - 1]))
        n--;
    while (i < n && is_pyspace(s[i]))
        i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i >= n)
        return -1;
    for (int prev_digit = 0; i < n; i++) {
        if (s[i] == '_' && prev_digit && i + 1 < n) {
            prev_digit = 0;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (mag > (UINT64_MAX - d) / 10)
            return -1;
        mag = mag * 10 + d;
        prev_digit = 1;
    }
    if (mag > (uint64_t)INT64_MAX + (uint64_t)neg)
        return -1;
    /* -(mag - 1) - 1 reaches INT64_MIN without overflow. */
    *out = neg ? (mag == 0 ? 0 : -(int64_t)(mag - 1) - 1) : (int64_t)mag;
    return 0;
}

/* An integer, or a real with no fractional part. */
static int whole(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) == trunc(json_real_value(v)))
        return real_to_i64(json_real_value(v), out);
    return -1;
}

/* ---- fields --------------------------------------------------------------------- */

/* v present and not null: the listener skips nulls without a word. */
static int present(const json_t *v)
{
    return v != NULL && !json_is_null(v);
}

static void set_process(dev_telemetry_t *t, const json_t *v, const char *name)
{
    size_t n;
    const char *s;
    if (!present(v))
        return;
    if ((s = plain_str(v, &n)) == NULL) {
        ignore(t, name);
        return;
    }
    /* Cut at DEV_PROCESS_MAX bytes, backing off a split UTF-8 sequence. */
    if (n > DEV_PROCESS_MAX) {
        n = DEV_PROCESS_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(t->process, s, n);
    t->process[n] = '\0';
    t->has_process = 1;
}

static void set_pid(dev_telemetry_t *t, const json_t *v, const char *name)
{
    if (!present(v))
        return;
    if (whole(v, &t->pid) != 0) {
        ignore(t, name);
        return;
    }
    t->has_pid = 1;
}

static void set_status(dev_telemetry_t *t, const json_t *v, const char *name)
{
    size_t n;
    const char *s;
    if (!present(v))
        return;
    if ((s = plain_str(v, &n)) == NULL || dev_proc_parse(s, &t->status) != 0) {
        ignore(t, name);
        return;
    }
    t->has_status = 1;
}

/* Integer, whole real or a decimal string. */
static void set_event(dev_telemetry_t *t, const json_t *v, const char *name)
{
    size_t n;
    const char *s;
    if (!present(v))
        return;
    if (whole(v, &t->event_id) != 0 &&
        ((s = plain_str(v, &n)) == NULL || str_to_i64(s, n, &t->event_id) != 0)) {
        ignore(t, name);
        return;
    }
    t->has_event = 1;
}

static void set_screen(dev_telemetry_t *t, const json_t *v, const char *name)
{
    size_t n;
    const char *s;
    if (!present(v))
        return;
    if ((s = plain_str(v, &n)) == NULL || dev_screen_parse(s, &t->screen) != 0) {
        ignore(t, name);
        return;
    }
    t->has_screen = 1;
}

/* int(reconnect_count): an integer, a real truncated toward zero, or an
 * integer string. Booleans are ignored (Python would take them as 0/1). */
static void set_reconnects(dev_telemetry_t *t, const json_t *v, const char *name)
{
    size_t n;
    const char *s;
    int rc = -1;
    if (!present(v))
        return;
    if (json_is_integer(v)) {
        t->reconnects = json_integer_value(v);
        rc = 0;
    } else if (json_is_real(v)) {
        rc = real_to_i64(json_real_value(v), &t->reconnects);
    } else if ((s = plain_str(v, &n)) != NULL) {
        rc = str_to_i64(s, n, &t->reconnects);
    }
    if (rc != 0) {
        ignore(t, name);
        return;
    }
    t->has_reconnects = 1;
}

/* "if last_disconnect_str:" - an empty string is skipped like null. */
static void set_disconnect(dev_telemetry_t *t, const json_t *v, const char *name)
{
    size_t n;
    const char *s;
    if (!present(v) || (json_is_string(v) && json_string_length(v) == 0))
        return;
    if ((s = plain_str(v, &n)) == NULL || dev_time_parse(s, n, &t->disconnect_ms) != 0) {
        ignore(t, name);
        return;
    }
    t->has_disconnect = 1;
}

/* root[key] when it is an object; a non-object is ignored by name. */
static const json_t *sub(dev_telemetry_t *t, const json_t *root, const char *key)
{
    const json_t *v = json_object_get(root, key);
    if (!present(v))
        return NULL;
    if (!json_is_object(v)) {
        ignore(t, key);
        return NULL;
    }
    return v;
}

int dev_health_map(const json_t *root, dev_telemetry_t *out)
{
    const json_t *o;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(root))
        return -1;
    if ((o = sub(out, root, "actual_state")) != NULL) {
        set_process(out, json_object_get(o, "process"), "actual_state.process");
        set_pid(out, json_object_get(o, "pid"), "actual_state.pid");
        set_status(out, json_object_get(o, "status"), "actual_state.status");
    }
    if ((o = sub(out, root, "expected_state")) != NULL)
        set_event(out, json_object_get(o, "event_id"), "expected_state.event_id");
    /* The nested screen status wins; the top-level one is the fallback. */
    if ((o = sub(out, root, "health_metrics")) != NULL)
        set_screen(out, json_object_get(o, "screen_health_status"),
                   "health_metrics.screen_health_status");
    if (!out->has_screen)
        set_screen(out, json_object_get(root, "screen_health_status"), "screen_health_status");
    if ((o = sub(out, root, "broker_connection")) != NULL) {
        set_reconnects(out, json_object_get(o, "reconnect_count"),
                       "broker_connection.reconnect_count");
        set_disconnect(out, json_object_get(o, "last_disconnect_at"),
                       "broker_connection.last_disconnect_at");
    }
    return 0;
}

int dev_heartbeat_map(const json_t *root, dev_telemetry_t *out)
{
    memset(out, 0, sizeof(*out));
    if (root == NULL)
        return 0;
    if (!json_is_object(root))
        return -1;
    set_process(out, json_object_get(root, "current_process"), "current_process");
    set_pid(out, json_object_get(root, "process_pid"), "process_pid");
    set_status(out, json_object_get(root, "process_status"), "process_status");
    set_event(out, json_object_get(root, "current_event_id"), "current_event_id");
    return 0;
}
