/* domains/devices/model_command.c - the device command lifecycle and seed
 * 004's frozen command/ACK payloads (rules in model.h).
 */
#include "domains/devices/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/uuid.h"

static const char *const status_names[DEV_ST_COUNT] = {
    "queued",
    "publish_in_progress",
    "published",
    "ack_received",
    "execution_started",
    "completed",
    "failed",
    "expired",
    "canceled",
    "blocked_safety",
};

static const char *const action_names[DEV_ACT_COUNT] = {
    "reboot_host",
    "shutdown_host",
    "restart_app",
};

/* Returns "unknown" (which parses as nothing) out of range, so a log line
 * never gets a NULL. */
const char *dev_status_name(dev_status_t s)
{
    return (unsigned)s < DEV_ST_COUNT ? status_names[s] : "unknown";
}

int dev_status_parse(const char *s, dev_status_t *out)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < DEV_ST_COUNT; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (dev_status_t)i;
            return 0;
        }
    }
    return -1;
}

int dev_status_terminal(dev_status_t s)
{
    return s == DEV_ST_COMPLETED || s == DEV_ST_FAILED || s == DEV_ST_EXPIRED ||
           s == DEV_ST_CANCELED || s == DEV_ST_BLOCKED_SAFETY;
}

const char *dev_action_name(dev_action_t a)
{
    return (unsigned)a < DEV_ACT_COUNT ? action_names[a] : "unknown";
}

int dev_action_parse(const char *s, dev_action_t *out)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < DEV_ACT_COUNT; i++) {
        if (strcmp(s, action_names[i]) == 0) {
            *out = (dev_action_t)i;
            return 0;
        }
    }
    return -1;
}

int dev_action_locks(dev_action_t a)
{
    return a == DEV_ACT_REBOOT_HOST || a == DEV_ACT_RESTART_APP;
}

int dev_expiry_clamp(int seconds)
{
    if (seconds < DEV_EXPIRY_MIN_S)
        return DEV_EXPIRY_MIN_S;
    if (seconds > DEV_EXPIRY_MAX_S)
        return DEV_EXPIRY_MAX_S;
    return seconds;
}

int dev_lockout_hit(const uint64_t *created, size_t n, uint64_t now, uint64_t window)
{
    /* A window reaching before the epoch covers everything. */
    uint64_t since = now >= window ? now - window : 0;
    size_t hits = 0;
    for (size_t i = 0; i < n; i++)
        if (created[i] >= since)
            hits++;
    return hits >= DEV_LOCKOUT_THRESHOLD;
}

static void str_or_null(hub_jbuf_t *b, const char *s)
{
    if (s != NULL)
        hub_jbuf_str(b, s);
    else
        hub_jbuf_null(b);
}

void dev_command_payload(hub_jbuf_t *b, const char *command_id, const char *client_uuid,
                         dev_action_t a, uint64_t issued_ms, uint64_t expires_ms,
                         int64_t requested_by, const char *reason)
{
    char t[DEV_TIME_MAX];

    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "schema_version");
    hub_jbuf_str(b, "1.0");
    hub_jbuf_key(b, "command_id");
    str_or_null(b, command_id);
    hub_jbuf_key(b, "client_uuid");
    str_or_null(b, client_uuid);
    hub_jbuf_key(b, "action");
    hub_jbuf_str(b, dev_action_name(a));
    hub_jbuf_key(b, "issued_at");
    hub_jbuf_strn(b, t, dev_time_format(issued_ms, 0, t));
    hub_jbuf_key(b, "expires_at");
    hub_jbuf_strn(b, t, dev_time_format(expires_ms, 0, t));
    hub_jbuf_key(b, "requested_by");
    if (requested_by > 0)
        hub_jbuf_int(b, requested_by);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "reason");
    str_or_null(b, reason);
    hub_jbuf_close(b, '}');
}

/* UTF-8 code points in s[0..n): JSON Schema's maxLength counts characters,
 * not bytes. jansson has checked the encoding, so counting lead bytes does. */
static size_t utf8_len(const char *s, size_t n)
{
    size_t cp = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            cp++;
    return cp;
}

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
    if (why == NULL || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static int is_uuid(const json_t *v)
{
    return json_is_string(v) && hub_uuid_valid(json_string_value(v), json_string_length(v));
}

/* RFC 3339 date-time (the schema's "format"): dev_time_parse's grammar with
 * the 'T' and an explicit Z or offset, which RFC 3339 requires. */
static int is_date_time(const json_t *v)
{
    uint64_t ms;
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (dev_time_parse(s, n, &ms) != 0 || s[10] != 'T')
        return 0;
    /* Parsed, so the tail is a fraction, "Z" or "+HH:MM" / "-HH:MM". */
    return s[n - 1] == 'Z' || s[n - 6] == '+' || s[n - 6] == '-';
}

/* JSON Schema's "integer" is any number with no fractional part (2020-12,
 * section 6.1.1 of the validation vocabulary), so 1.0 counts. */
static int is_schema_int(const json_t *v, double *val)
{
    if (json_is_integer(v)) {
        *val = (double)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (isfinite(d) && d == trunc(d)) {
            *val = d;
            return 1;
        }
    }
    return 0;
}

static const char *const cmd_keys[] = {
    "schema_version", "command_id", "client_uuid",  "action",
    "issued_at",      "expires_at", "requested_by", "reason",
};

int dev_command_validate(const json_t *payload, const char **code, char *why, size_t whylen)
{
    const size_t nkeys = sizeof(cmd_keys) / sizeof(cmd_keys[0]);
    const json_t *v;
    const char *key;
    dev_action_t a;
    double num;

    *code = "invalid_schema";
    if (!json_is_object(payload)) {
        say(why, whylen, "payload is not an object");
        return -1;
    }
    /* Missing fields first: that is the more specific client error code. */
    for (size_t i = 0; i < nkeys; i++) {
        if (json_object_get(payload, cmd_keys[i]) == NULL) {
            *code = "missing_field";
            say(why, whylen, "missing field '%s'", cmd_keys[i]);
            return -1;
        }
    }
    json_object_foreach((json_t *)payload, key, v)
    {
        size_t i = 0;
        while (i < nkeys && strcmp(key, cmd_keys[i]) != 0)
            i++;
        if (i == nkeys) {
            say(why, whylen, "unexpected field '%s'", key);
            return -1;
        }
    }

    v = json_object_get(payload, "schema_version");
    if (!json_is_string(v) || strcmp(json_string_value(v), "1.0") != 0 ||
        json_string_length(v) != 3) {
        say(why, whylen, "schema_version must be \"1.0\"");
        return -1;
    }
    if (!is_uuid(json_object_get(payload, "command_id"))) {
        say(why, whylen, "command_id must be a UUID string");
        return -1;
    }
    if (!is_uuid(json_object_get(payload, "client_uuid"))) {
        say(why, whylen, "client_uuid must be a UUID string");
        return -1;
    }
    v = json_object_get(payload, "action");
    if (!json_is_string(v) || dev_action_parse(json_string_value(v), &a) != 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        say(why, whylen, "action must be reboot_host, shutdown_host or restart_app");
        return -1;
    }
    if (!is_date_time(json_object_get(payload, "issued_at"))) {
        say(why, whylen, "issued_at must be an RFC 3339 date-time");
        return -1;
    }
    if (!is_date_time(json_object_get(payload, "expires_at"))) {
        say(why, whylen, "expires_at must be an RFC 3339 date-time");
        return -1;
    }
    v = json_object_get(payload, "requested_by");
    if (!json_is_null(v) && !(is_schema_int(v, &num) && num >= 1)) {
        say(why, whylen, "requested_by must be an integer >= 1 or null");
        return -1;
    }
    v = json_object_get(payload, "reason");
    if (!json_is_null(v) &&
        !(json_is_string(v) &&
          utf8_len(json_string_value(v), json_string_length(v)) <= DEV_REASON_MAX)) {
        say(why, whylen, "reason must be a string of at most %d characters or null",
            DEV_REASON_MAX);
        return -1;
    }
    return 0;
}

/* ---- ACKs ----------------------------------------------------------------------- */

/* Length of the whitespace code point at s[0..n) as Python's str.isspace()
 * sees it, or 0. */
static size_t space_at(const unsigned char *s, size_t n)
{
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0D) || (s[0] >= 0x1C && s[0] <= 0x20)))
        return 1;
    if (n >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0))
        return 2;
    if (n >= 3) {
        unsigned cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        if ((s[0] & 0xF0) == 0xE0 &&
            (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
             cp == 0x202F || cp == 0x205F || cp == 0x3000))
            return 3;
    }
    return 0;
}

/* Length of the whitespace code point ending at s[n), or 0. */
static size_t space_before(const unsigned char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (space_at(s + n - k, k) == k)
            return k;
    return 0;
}

/* Python's falsiness, for the listener's "if not command_id". */
static int py_falsy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE: return 1;
    case JSON_STRING: return json_string_length(v) == 0;
    case JSON_INTEGER: return json_integer_value(v) == 0;
    case JSON_REAL: return json_real_value(v) == 0.0;
    case JSON_ARRAY: return json_array_size(v) == 0;
    case JSON_OBJECT: return json_object_size(v) == 0;
    default: return 0;
    }
}

/* error_code / error_message: absent or null (*out NULL), or a string of at
 * most max code points. */
static int opt_str(const json_t *root, const char *key, size_t max, const char **out)
{
    const json_t *v = json_object_get(root, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || utf8_len(json_string_value(v), json_string_length(v)) > max)
        return -1;
    *out = json_string_value(v);
    return 0;
}

static const char *const ack_names[] = {"accepted", "execution_started", "completed", "failed"};

int dev_ack_parse(const json_t *root, dev_ack_t *out, const char **reason, char *why, size_t whylen)
{
    dev_ack_t ack;
    const json_t *v;

    memset(&ack, 0, sizeof(ack));
    if (root == NULL) {
        *reason = "not_json";
        say(why, whylen, "payload is not JSON");
        return -1;
    }
    if (!json_is_object(root)) {
        *reason = "not_object";
        say(why, whylen, "payload is not an object");
        return -1;
    }

    v = json_object_get(root, "command_id");
    if (v == NULL || py_falsy(v)) {
        *reason = "missing_command_id";
        say(why, whylen, "command_id missing or empty");
        return -1;
    }
    if (!is_uuid(v)) {
        *reason = "bad_command_id";
        say(why, whylen, "command_id is not a UUID string");
        return -1;
    }
    memcpy(ack.command_id, json_string_value(v), HUB_UUID_LEN);
    ack.command_id[HUB_UUID_LEN] = '\0';

    /* str(status).strip().lower(): str() of a non-string never spells a
     * status, and no non-ASCII character lower-cases into one of these
     * words (only U+212A KELVIN SIGN lowers to ASCII, and to 'k'), so an
     * ASCII case-insensitive compare after the strip is exact. */
    v = json_object_get(root, "status");
    int found = -1;
    if (json_is_string(v)) {
        const unsigned char *s = (const unsigned char *)json_string_value(v);
        size_t n = json_string_length(v), k;
        while ((k = space_at(s, n)) > 0) {
            s += k;
            n -= k;
        }
        while ((k = space_before(s, n)) > 0)
            n -= k;
        for (int i = 0; i < 4 && found < 0; i++)
            if (strlen(ack_names[i]) == n && strncasecmp((const char *)s, ack_names[i], n) == 0)
                found = i;
    }
    if (found < 0) {
        *reason = "unknown_status";
        say(why, whylen,
            "status missing or not one of accepted, execution_started, "
            "completed, failed");
        return -1;
    }
    ack.status = (dev_ack_status_t)found;

    if (opt_str(root, "error_code", DEV_ERROR_CODE_MAX, &ack.error_code) != 0) {
        *reason = "bad_error_code";
        say(why, whylen, "error_code must be a string of at most %d characters or null",
            DEV_ERROR_CODE_MAX);
        return -1;
    }
    if (opt_str(root, "error_message", DEV_ERROR_MESSAGE_MAX, &ack.error_message) != 0) {
        *reason = "bad_error_message";
        say(why, whylen, "error_message must be a string of at most %d characters or null",
            DEV_ERROR_MESSAGE_MAX);
        return -1;
    }
    if (ack.status == DEV_ACK_FAILED &&
        (ack.error_code == NULL || ack.error_code[0] == '\0' || ack.error_message == NULL ||
         ack.error_message[0] == '\0')) {
        *reason = "failed_without_error";
        say(why, whylen, "a failed ACK needs a non-empty error_code and error_message");
        return -1;
    }
    *out = ack;
    return 0;
}

/* The forward order of the non-terminal path; completed is its end. */
static int rank(dev_status_t s)
{
    switch (s) {
    case DEV_ST_QUEUED: return 0;
    case DEV_ST_PUBLISH_IN_PROGRESS: return 1;
    case DEV_ST_PUBLISHED: return 2;
    case DEV_ST_ACK_RECEIVED: return 3;
    case DEV_ST_EXECUTION_STARTED: return 4;
    case DEV_ST_COMPLETED: return 5;
    default: return -1;
    }
}

dev_ack_verdict_t dev_ack_apply(dev_status_t cur, dev_ack_status_t ack, dev_status_t *next)
{
    dev_status_t target;

    *next = cur;
    /* An out-of-range status is treated as terminal: never touch it. */
    if (dev_status_terminal(cur) || rank(cur) < 0)
        return DEV_ACK_IGNORE_TERMINAL;
    switch (ack) {
    case DEV_ACK_FAILED: *next = DEV_ST_FAILED; return DEV_ACK_APPLY;
    case DEV_ACK_ACCEPTED: target = DEV_ST_ACK_RECEIVED; break;
    case DEV_ACK_EXECUTION_STARTED: target = DEV_ST_EXECUTION_STARTED; break;
    case DEV_ACK_COMPLETED: target = DEV_ST_COMPLETED; break;
    default: return DEV_ACK_IGNORE_BACKWARDS;
    }
    if (rank(target) <= rank(cur))
        return DEV_ACK_IGNORE_BACKWARDS;
    *next = target;
    return DEV_ACK_APPLY;
}

int dev_publish_outcome(dev_status_t cur, int ok, dev_status_t *next)
{
    if (cur != DEV_ST_QUEUED && cur != DEV_ST_PUBLISH_IN_PROGRESS)
        return 0;
    *next = ok ? DEV_ST_PUBLISHED : DEV_ST_FAILED;
    return 1;
}

int dev_command_expired(dev_status_t cur, uint64_t expires_ms, uint64_t now)
{
    return !dev_status_terminal(cur) && expires_ms < now;
}
