/* domains/scenes/model_scene.c - scene files and action lists: checks, firing
 * order and canonical JSON (rules in model.h and the issue 10 plan).
 *
 * Checks run in a fixed order (the root's members, name, room, description,
 * the action count, then each action member by member), and the first
 * problem found is the one reported, so a given file always gets the same
 * message. The scene is built aside and reaches *out only when every check
 * has passed.
 *
 * Numbers: HUB_JSON_FLAGS decodes every number as a real, trees built in
 * memory hold integers; t_ms takes either when it is integral.
 */
#include "domains/scenes/model.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "domains/devices/model.h"

#define ECHO_MAX        40 /* input bytes echoed in a message */
#define ECHO_BUF        (ECHO_MAX * 4 + 8)
#define FILE_ECHO_MAX   64 /* the file label is the operator's: a little more */
#define FILE_BUF        (FILE_ECHO_MAX * 4 + 8)
#define PATH_BUF        (HUB_FIELD_MAX + 64)
#define LIST_BUF        96
#define INTENT_NAME_MAX 64
#define MEDIA_FILE_MAX  255

#define NAME_RULE   "1-64 characters from A-Z a-z 0-9 _ -"
#define DEV_RULE    "a device id: 1-64 characters from A-Z a-z 0-9 _ : -"
#define INTENT_RULE "1-64 characters from a-z 0-9 _ . with at least one '.'"
#define MEDIA_RULE                                                                                 \
    "a plain file name of 1-255 bytes: no '/', not starting with '.', no control bytes"

typedef struct pctx {
    const char *file; /* label for messages, NULL: none */
    hub_error_t *err; /* may be NULL */
    int t_required;   /* scene files: t_ms must be given */
} pctx_t;

static const char *const root_members[] = {"room", "actions", "name", "description", NULL};
static const char *const action_members[] = {"t_ms",   "topic",   "message", "device",
                                             "intent", "command", NULL};
static const char *const intent_members[] = {"name", "payload", NULL};
static const char *const command_members[] = {"device", "action", NULL};

/* ---- text for messages ---- */

/* s[0..len) as printable ASCII: at most max bytes ("..." after), other
 * bytes as \xNN; quoted adds quotes and escapes '"' and '\'. A message stays
 * one line and can carry no terminal escapes. Returns buf. */
static const char *echo_n(char *buf, size_t size, const char *s, size_t len, size_t max, int quoted)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, n = len < max ? len : max;

#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (o + 1 < size)                                                                          \
            buf[o++] = (ch);                                                                       \
    } while (0)
    if (quoted)
        PUT('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch > 0x7e) {
            PUT('\\');
            PUT('x');
            PUT(hex[ch >> 4]);
            PUT(hex[ch & 15]);
            continue;
        }
        if (quoted && (ch == '"' || ch == '\\'))
            PUT('\\');
        PUT((char)ch);
    }
    if (len > n) {
        PUT('.');
        PUT('.');
        PUT('.');
    }
    if (quoted)
        PUT('"');
#undef PUT
    buf[o] = '\0';
    return buf;
}

static const char *echo(char buf[ECHO_BUF], const char *s, size_t len)
{
    return echo_n(buf, ECHO_BUF, s, len, ECHO_MAX, 1);
}

static const char *echo_str(char buf[ECHO_BUF], const json_t *v)
{
    return echo(buf, json_string_value(v), json_string_length(v));
}

/* What v is, for "got ...": "\"x\"", "-5", "1.5", "an array", "nothing". */
static const char *describe(char buf[ECHO_BUF], const json_t *v)
{
    if (v == NULL)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return echo_str(buf, v);
    case JSON_INTEGER:
        snprintf(buf, ECHO_BUF, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL: {
        double d = json_real_value(v);
        /* Integers arrive as reals: show -5, not -5.0; else the shortest
         * text that reads back as d (1.5, not 1.50000000000000000). */
        if (d == floor(d) && fabs(d) < 1e15) {
            snprintf(buf, ECHO_BUF, "%.0f", d + 0.0);
            return buf;
        }
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, ECHO_BUF, "%.*g", p, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        return buf;
    }
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

/* The first n names (n SIZE_MAX: all) joined by ", ". */
static const char *join(char buf[LIST_BUF], const char *const *names, size_t n)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && names[i] && o + 1 < LIST_BUF; i++)
        o += (size_t)snprintf(buf + o, LIST_BUF - o, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

/* Set err: field, and the message with the file label first. Returns
 * HUB_EINVAL for `return fail(…)`. */
__attribute__((format(printf, 3, 4))) static int fail(const pctx_t *c, const char *field,
                                                      const char *fmt, ...)
{
    char msg[HUB_ERRMSG_MAX + 1], label[FILE_BUF];
    size_t off = 0;
    va_list ap;

    if (c->err == NULL)
        return HUB_EINVAL;
    if (c->file && *c->file) {
        echo_n(label, sizeof(label), c->file, strlen(c->file), FILE_ECHO_MAX, 0);
        off = (size_t)snprintf(msg, sizeof(msg), "%s: ", label);
        if (off >= sizeof(msg))
            off = sizeof(msg) - 1;
    }
    va_start(ap, fmt);
    vsnprintf(msg + off, sizeof(msg) - off, fmt, ap);
    va_end(ap);
    return hub_error_set(c->err, HUB_ERR_INVALID, field, "%s", msg);
}

/* path.key, or key at the root; cut to fit (err->field is shorter still). */
static const char *sub(char buf[PATH_BUF], const char *path, const char *key)
{
    hub_str_join(buf, PATH_BUF, path, *path ? "." : "", key);
    return buf;
}

/* ---- members ---- */

static int member_in(const char *k, size_t klen, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (strlen(names[i]) == klen && memcmp(names[i], k, klen) == 0)
            return 1;
    return 0;
}

/* Edit distance of a and b, both short (keys); larger than 2 reads as 3. */
static size_t distance(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b), row[24], prev;

    if (na > 20 || nb > 20)
        return 3;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[nb];
}

/* Refuse members outside names (a typo such as "rom" must not be ignored),
 * then require the first nreq of them. */
static int check_members(const pctx_t *c, const json_t *o, const char *path,
                         const char *const *names, size_t nreq)
{
    char k[ECHO_BUF], f[PATH_BUF], list[LIST_BUF], hint[ECHO_BUF] = "";
    json_t *obj = (json_t *)o; /* jansson iterates non-const objects; nothing changes */

    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        if (member_in(key, klen, names))
            continue;
        for (size_t i = 0; names[i] && klen >= 3; i++)
            if (distance(key, klen, names[i]) <= 2) {
                snprintf(hint, sizeof(hint), " (did you mean %s?)", names[i]);
                break;
            }
        sub(f, path, echo_n(k, sizeof(k), key, klen, ECHO_MAX, 0));
        return fail(c, f, "unknown field %s%s; accepted: %s", f, hint, join(list, names, SIZE_MAX));
    }
    for (size_t i = 0; i < nreq; i++)
        if (json_object_get(o, names[i]) == NULL)
            return fail(c, sub(f, path, names[i]), "%s is missing (required: %s)", f,
                        join(list, names, nreq));
    return 0;
}

/* ---- values ---- */

/* Why s[0..len) breaks a name rule (chars: is_ok), or NULL. */
static const char *name_problem(char *buf, size_t size, const char *s, size_t len, size_t max,
                                int (*is_ok)(unsigned char))
{
    char ch[ECHO_BUF];

    if (len == 0)
        return "is empty";
    if (len > max) {
        snprintf(buf, size, "is %zu bytes long", len);
        return buf;
    }
    for (size_t i = 0; i < len; i++)
        if (!is_ok((unsigned char)s[i])) {
            snprintf(buf, size, "has the character '%s' at position %zu",
                     echo_n(ch, sizeof(ch), s + i, 1, 1, 0), i + 1);
            return buf;
        }
    return NULL;
}

static int name_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

static int intent_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.';
}

int scn_name_valid(const char *s, size_t n)
{
    char why[64];

    return s != NULL && name_problem(why, sizeof(why), s, n, SCN_NAME_MAX, name_char) == NULL;
}

/* A name or room (field) into dst. */
static int get_name(const pctx_t *c, const char *field, const json_t *v, char *dst)
{
    char got[ECHO_BUF], why[64];
    const char *problem;

    if (!json_is_string(v))
        return fail(c, field, "%s must be a string of " NAME_RULE ", got %s", field,
                    describe(got, v));
    problem = name_problem(why, sizeof(why), json_string_value(v), json_string_length(v),
                           SCN_NAME_MAX, name_char);
    if (problem)
        return fail(c, field, "%s %s %s; accepted: " NAME_RULE, field, echo_str(got, v), problem);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* A string of at most max bytes without NUL (C strings end there). */
static int get_text(const pctx_t *c, const char *field, const json_t *v, size_t max,
                    const char **out)
{
    char got[ECHO_BUF];

    if (!json_is_string(v))
        return fail(c, field, "%s must be a string of at most %zu bytes, got %s", field, max,
                    describe(got, v));
    if (json_string_length(v) > max)
        return fail(c, field, "%s is %zu bytes long; at most %zu", field, json_string_length(v),
                    max);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(c, field, "%s %s contains a NUL byte", field, echo_str(got, v));
    *out = json_string_value(v);
    return 0;
}

static int get_t_ms(const pctx_t *c, const char *field, const json_t *v, int64_t *out)
{
    char got[ECHO_BUF];

    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= SCN_T_MS_MAX) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && d >= 0 && d <= SCN_T_MS_MAX) {
            *out = (int64_t)d;
            return 0;
        }
    }
    return fail(c, field, "%s must be an integer 0..%d, got %s", field, SCN_T_MS_MAX,
                describe(got, v));
}

static int get_device(const pctx_t *c, const char *field, const json_t *v, char **out)
{
    char got[ECHO_BUF];

    if (!json_is_string(v) || !dev_id_valid(json_string_value(v), json_string_length(v)))
        return fail(c, field, "%s must be " DEV_RULE ", got %s", field, describe(got, v));
    *out = hub_strdup(json_string_value(v));
    return 0;
}

/* ---- topics ---- */

/* Why topic s[0..len) may not be published by a scene, or NULL. */
static const char *topic_problem(char *buf, size_t size, const char *s, size_t len)
{
    const char *slash;

    if (len == 0)
        return "is empty";
    if (len > SCN_TOPIC_MAX) {
        snprintf(buf, size, "is %zu bytes long; at most %d", len, SCN_TOPIC_MAX);
        return buf;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0')
            return "contains a NUL byte";
        if (s[i] == '+' || s[i] == '#') {
            snprintf(buf, size, "has the wildcard '%c' at position %zu; wildcards cannot be sent",
                     s[i], i + 1);
            return buf;
        }
    }
    if (s[0] == '$')
        return "starts with '$' (reserved by brokers)";
    if (s[0] == '/')
        return "starts with '/'; the first level is the room";
    slash = memchr(s, '/', len);
    if (slash == NULL)
        return "has one level; a scene topic is <room>/<what>";
    if ((size_t)(slash - s) > SCN_NAME_MAX) {
        snprintf(buf, size, "has a first level (the room) of %zu bytes; at most %d",
                 (size_t)(slash - s), SCN_NAME_MAX);
        return buf;
    }
    if (len >= 7 && memcmp(s + len - 7, "/status", 7) == 0)
        return "ends in /status, the feedback topic";
    return NULL;
}

int scn_is_local(const char *topic)
{
    size_t n = topic ? strlen(topic) : 0;

    return n >= 6 && (strcmp(topic + n - 6, "/audio") == 0 || strcmp(topic + n - 6, "/video") == 0);
}

int scn_media_file_valid(const char *file)
{
    size_t n = file ? strlen(file) : 0;

    if (n == 0 || n > MEDIA_FILE_MAX || file[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (file[i] == '/' || (unsigned char)file[i] < 0x20 || file[i] == 0x7f)
            return 0;
    return 1;
}

/* ---- actions ---- */

static int parse_topic(const pctx_t *c, const json_t *o, const char *path, scn_action_t *a)
{
    const json_t *v = json_object_get(o, "topic");
    char f[PATH_BUF], got[ECHO_BUF], why[96];
    const char *problem, *msg;
    int rc;

    sub(f, path, "topic");
    if (!json_is_string(v))
        return fail(c, f, "%s must be a string <room>/<what>, got %s", f, describe(got, v));
    problem = topic_problem(why, sizeof(why), json_string_value(v), json_string_length(v));
    if (problem)
        return fail(c, f, "%s %s %s", f, echo_str(got, v), problem);
    a->topic = hub_strdup(json_string_value(v));
    a->kind = scn_is_local(a->topic) ? SCN_LOCAL : SCN_MQTT;
    memcpy(a->room, a->topic, (size_t)(strchr(a->topic, '/') - a->topic));

    v = json_object_get(o, "message");
    if (v == NULL)
        return fail(c, sub(f, path, "message"), "%s is missing (%s)", f,
                    a->kind == SCN_LOCAL ? "the media file: " MEDIA_RULE : "the payload, a string");
    rc = get_text(c, sub(f, path, "message"), v, SCN_MESSAGE_MAX, &msg);
    if (rc)
        return rc;
    if (a->kind == SCN_LOCAL && !scn_media_file_valid(msg))
        return fail(c, f, "%s %s is not a media file; accepted: " MEDIA_RULE, f, echo_str(got, v));
    a->message = hub_strdup(msg);

    v = json_object_get(o, "device");
    if (v == NULL)
        return 0;
    if (a->kind == SCN_LOCAL)
        return fail(c, sub(f, path, "device"),
                    "%s is not accepted on a local (/audio, /video) action: no device answers it",
                    f);
    return get_device(c, sub(f, path, "device"), v, &a->device);
}

static int parse_intent(const pctx_t *c, const json_t *o, const char *path, scn_action_t *a)
{
    char p[PATH_BUF], f[PATH_BUF], got[ECHO_BUF], why[64];
    const json_t *v = json_object_get(o, "intent");
    const char *s, *problem;
    size_t n;
    int rc;

    sub(p, path, "intent");
    if (!json_is_object(v))
        return fail(c, p, "%s must be an object {name, payload?}, got %s", p, describe(got, v));
    rc = check_members(c, v, p, intent_members, 1);
    if (rc)
        return rc;
    o = v;
    v = json_object_get(o, "name");
    sub(f, p, "name");
    if (!json_is_string(v))
        return fail(c, f, "%s must be " INTENT_RULE ", got %s", f, describe(got, v));
    s = json_string_value(v);
    n = json_string_length(v);
    problem = name_problem(why, sizeof(why), s, n, INTENT_NAME_MAX, intent_char);
    if (problem == NULL && memchr(s, '.', n) == NULL)
        problem = "has no '.' (intent names are <domain>.<verb>)";
    if (problem)
        return fail(c, f, "%s %s %s; accepted: " INTENT_RULE, f, echo_str(got, v), problem);
    a->intent = hub_strdup(s);
    a->kind = SCN_INTENT;

    v = json_object_get(o, "payload");
    if (v == NULL) {
        a->payload = json_object();
    } else if (!json_is_object(v)) {
        return fail(c, sub(f, p, "payload"), "%s must be an object, got %s", f, describe(got, v));
    } else {
        /* A copy: the caller's tree may change. Opaque, but integral
         * numbers become integers as in every intent's payload. */
        a->payload = json_deep_copy(v);
        if (a->payload)
            hub_json_normalize_numbers(a->payload);
    }
    if (a->payload == NULL)
        hub_oom(0);
    return 0;
}

static int parse_command(const pctx_t *c, const json_t *o, const char *path, scn_action_t *a)
{
    char p[PATH_BUF], f[PATH_BUF], got[ECHO_BUF], list[LIST_BUF];
    const char *names[DEV_ACT_COUNT + 1];
    const json_t *v = json_object_get(o, "command");
    dev_action_t act;
    int rc;

    sub(p, path, "command");
    if (!json_is_object(v))
        return fail(c, p, "%s must be an object {device, action}, got %s", p, describe(got, v));
    rc = check_members(c, v, p, command_members, 2);
    if (rc)
        return rc;
    o = v;
    rc = get_device(c, sub(f, p, "device"), json_object_get(o, "device"), &a->cmd_device);
    if (rc)
        return rc;
    v = json_object_get(o, "action");
    /* The length check: "reboot_host\u0000x" must not pass as reboot_host. */
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        dev_action_parse(json_string_value(v), &act) != 0) {
        for (int i = 0; i < DEV_ACT_COUNT; i++)
            names[i] = dev_action_name((dev_action_t)i);
        names[DEV_ACT_COUNT] = NULL;
        return fail(c, sub(f, p, "action"), "%s must be one of %s, got %s", f,
                    join(list, names, SIZE_MAX), describe(got, v));
    }
    a->cmd_action = hub_strdup(dev_action_name(act));
    a->kind = SCN_COMMAND;
    return 0;
}

static int parse_action(const pctx_t *c, const json_t *o, const char *path, scn_action_t *a)
{
    static const char *const kinds[] = {"topic", "intent", "command"};
    const char *given[3];
    char f[PATH_BUF], got[ECHO_BUF];
    const json_t *v;
    size_t n = 0;
    int rc;

    if (!json_is_object(o))
        return fail(c, path, "%s must be an object, got %s", path, describe(got, o));
    rc = check_members(c, o, path, action_members, 0);
    if (rc)
        return rc;
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(o, kinds[i]))
            given[n++] = kinds[i];
    if (n == 0)
        return fail(c, path, "%s needs one of topic, intent, command", path);
    if (n > 1)
        return fail(c, path,
                    "%s has both %s and %s; an action takes exactly one of topic, intent, command",
                    path, given[0], given[1]);
    v = json_object_get(o, "t_ms");
    if (v) {
        rc = get_t_ms(c, sub(f, path, "t_ms"), v, &a->t_ms);
        if (rc)
            return rc;
    } else if (c->t_required) {
        return fail(c, sub(f, path, "t_ms"), "%s is missing (an integer 0..%d, ms from the start)",
                    f, SCN_T_MS_MAX);
    }
    if (given[0] == kinds[0])
        return parse_topic(c, o, path, a);
    for (size_t i = 0; i < 2; i++) {
        const char *k = i ? "device" : "message";
        if (json_object_get(o, k))
            return fail(c, sub(f, path, k), "%s is only for topic actions%s", f,
                        i ? " (a command names its device in command.device)" : "");
    }
    if (given[0] == kinds[1])
        return parse_intent(c, o, path, a);
    return parse_command(c, o, path, a);
}

/* Firing order: by t_ms, ties in file order. */
static int by_time(const void *x, const void *y)
{
    const scn_action_t *a = x, *b = y;

    if (a->t_ms != b->t_ms)
        return a->t_ms < b->t_ms ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static int parse_list(const pctx_t *c, const json_t *arr, const char *field, scn_scene_t *s)
{
    char got[ECHO_BUF], path[PATH_BUF];
    size_t n;
    int rc;

    if (!json_is_array(arr))
        return fail(c, field, "%s must be an array of at most %d actions, got %s", field,
                    SCN_ACTIONS_MAX, describe(got, arr));
    n = json_array_size(arr);
    if (n > SCN_ACTIONS_MAX)
        return fail(c, field, "%s has %zu actions; at most %d", field, n, SCN_ACTIONS_MAX);
    if (n)
        s->actions = hub_calloc(n, sizeof(*s->actions));
    for (size_t i = 0; i < n; i++) {
        scn_action_t *a = &s->actions[i];
        /* Counted before it is filled, so scn_scene_free frees a partial one. */
        s->n = i + 1;
        a->index = (int)i;
        snprintf(path, sizeof(path), "%s[%zu]", field, i);
        rc = parse_action(c, json_array_get(arr, i), path, a);
        if (rc)
            return rc;
        if (a->t_ms > s->duration_ms)
            s->duration_ms = a->t_ms;
    }
    if (n > 1)
        qsort(s->actions, n, sizeof(*s->actions), by_time);
    return 0;
}

/* ---- scenes ---- */

static int parse_root(const pctx_t *c, const json_t *root, const char *name, scn_scene_t *s)
{
    char got[ECHO_BUF], other[ECHO_BUF];
    const json_t *v;
    const char *desc;
    int rc;

    if (!json_is_object(root))
        return fail(c, "",
                    "a scene must be a JSON object {room, actions, name?, description?}, got %s",
                    describe(got, root));
    rc = check_members(c, root, "", root_members, 2);
    if (rc)
        return rc;
    v = json_object_get(root, "name");
    if (v) {
        rc = get_name(c, "name", v, s->name);
        if (rc)
            return rc;
        if (name && strcmp(name, s->name) != 0)
            return fail(c, "name", "name %s does not match the file's name %s", echo_str(got, v),
                        echo(other, name, strlen(name)));
    } else if (name) {
        if (!scn_name_valid(name, strlen(name)))
            return fail(c, "name", "name %s (the file's) is not a scene name; accepted: " NAME_RULE,
                        echo(got, name, strlen(name)));
        memcpy(s->name, name, strlen(name) + 1);
    }
    rc = get_name(c, "room", json_object_get(root, "room"), s->room);
    if (rc)
        return rc;
    v = json_object_get(root, "description");
    if (v) {
        rc = get_text(c, "description", v, SCN_DESCRIPTION_MAX, &desc);
        if (rc)
            return rc;
        s->description = hub_strdup(desc);
    }
    return parse_list(c, json_object_get(root, "actions"), "actions", s);
}

int scn_parse(const json_t *root, const char *name, const char *file, scn_scene_t *out,
              hub_error_t *err)
{
    pctx_t c = {file, err, 1};
    scn_scene_t s;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&s, 0, sizeof(s));
    rc = parse_root(&c, root, name, &s);
    if (rc) {
        scn_scene_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}

int scn_parse_actions(const json_t *arr, const char *field, scn_scene_t *out, hub_error_t *err)
{
    pctx_t c = {NULL, err, 0};
    scn_scene_t s;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&s, 0, sizeof(s));
    rc = parse_list(&c, arr, field && *field ? field : "actions", &s);
    if (rc) {
        scn_scene_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}

void scn_scene_free(scn_scene_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        scn_action_t *a = &s->actions[i];
        hub_free(a->topic);
        hub_free(a->message);
        hub_free(a->device);
        hub_free(a->intent);
        json_decref(a->payload);
        hub_free(a->cmd_device);
        hub_free(a->cmd_action);
    }
    hub_free(s->actions);
    hub_free(s->description);
    memset(s, 0, sizeof(*s));
}

/* ---- rendering ---- */

static void render_action(hub_jbuf_t *b, const scn_action_t *a)
{
    char *text;

    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "t_ms");
    hub_jbuf_int(b, a->t_ms);
    switch (a->kind) {
    case SCN_MQTT:
    case SCN_LOCAL:
        hub_jbuf_key(b, "topic");
        hub_jbuf_str(b, a->topic);
        hub_jbuf_key(b, "message");
        hub_jbuf_str(b, a->message);
        if (a->device) {
            hub_jbuf_key(b, "device");
            hub_jbuf_str(b, a->device);
        }
        break;
    case SCN_INTENT:
        hub_jbuf_key(b, "intent");
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "name");
        hub_jbuf_str(b, a->intent);
        hub_jbuf_key(b, "payload");
        /* The file's member order, as every other payload the hub shows. */
        text = a->payload ? json_dumps(a->payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (text)
            hub_jbuf_json(b, text, strlen(text));
        else
            hub_jbuf_lit(b, "{}");
        free(text); /* jansson's allocator */
        hub_jbuf_close(b, '}');
        break;
    case SCN_COMMAND:
        hub_jbuf_key(b, "command");
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "device");
        hub_jbuf_str(b, a->cmd_device);
        hub_jbuf_key(b, "action");
        hub_jbuf_str(b, a->cmd_action);
        hub_jbuf_close(b, '}');
        break;
    }
    hub_jbuf_close(b, '}');
}

void scn_render(hub_jbuf_t *b, const scn_scene_t *s)
{
    size_t *order = NULL;

    hub_jbuf_open(b, '{');
    if (s->name[0]) {
        hub_jbuf_key(b, "name");
        hub_jbuf_str(b, s->name);
    }
    if (s->room[0]) {
        hub_jbuf_key(b, "room");
        hub_jbuf_str(b, s->room);
    }
    if (s->description) {
        hub_jbuf_key(b, "description");
        hub_jbuf_str(b, s->description);
    }
    hub_jbuf_key(b, "actions");
    hub_jbuf_open(b, '[');
    /* Stored in firing order, written in file order: indexes are 0..n-1. */
    if (s->n)
        order = hub_malloc(s->n * sizeof(*order));
    for (size_t i = 0; i < s->n; i++) {
        assert(s->actions[i].index >= 0 && (size_t)s->actions[i].index < s->n);
        order[s->actions[i].index] = i;
    }
    for (size_t i = 0; i < s->n; i++)
        render_action(b, &s->actions[order[i]]);
    hub_free(order);
    hub_jbuf_close(b, ']');
    hub_jbuf_close(b, '}');
}
