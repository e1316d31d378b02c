/* domains/show/showfile_parse.c - parse and check show files.
 *
 * Order of checks: the root's members, name, duration_ms, audio, the item
 * count, then each cue and then each effect member by member, each id's
 * uniqueness right after its item. The first problem found is the one
 * reported, so a given file always gets the same message. Nothing reaches
 * *out before every check has passed.
 *
 * Numbers: HUB_JSON_FLAGS decodes every number as a real, and trees built
 * in memory (json_pack, normalized intents) hold integers; both are taken.
 * An integer field takes only integral values; ranges are checked on the
 * double before it is converted.
 */
#include "domains/show/showfile.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "domains/dmx/roles.h"
#include "domains/show/showfile_int.h"
#include "engine/intent.h"

#define ECHO_MAX      40 /* input bytes echoed in a message */
#define ECHO_BUF      (ECHO_MAX * 4 + 8)
#define FILE_ECHO_MAX 200 /* the file name is the operator's, not input: show more */
#define LABEL_BUF     (HUB_SHOW_ID_MAX + 48)
#define PATH_BUF      48
#define LIST_BUF      160
#define LIST_NAMES    3 /* fixture names listed in a check message */
#define SET_MIN       8 /* longer fixture lists find duplicates through a hash */
#define PERIOD_MAX    3600000
#define NAME_RULE     "1-64 characters from A-Z a-z 0-9 _ -"
#define ID_RULE       "1-64 characters from A-Z a-z 0-9 _ . -"
#define AUDIO_RULE                                                                                 \
    "a plain file name of 1-255 bytes: no '/', not starting with '.', no control characters"

typedef struct ctx {
    const char *file; /* NULL: one item on its own, no file prefix */
    char *err;        /* caller's buffers; may be NULL */
    size_t errlen;
    char *field;
    size_t fieldlen;
    char label[LABEL_BUF]; /* "cue \"c1\" (cues[2]): ", "" at the root */
    char path[PATH_BUF];   /* "cues[2]", "" at the root or for one item */
} ctx_t;

/* A bounded, always NUL-terminated string being written; excess is cut. */
typedef struct sbuf {
    char *p;
    size_t size, len;
} sbuf_t;

static const char *const root_members[] = {"name", "duration_ms", "audio", "cues", "effects", NULL};
static const char *const cue_members[] = {"id",  "t_ms",    "fixtures", "values",
                                          "poi", "fade_ms", "curve",    NULL};
static const char *const effect_members[] = {"id",     "t_ms",   "dur_ms", "fixtures",
                                             "effect", "params", NULL};

/* ---- text for messages ---- */

static void sb_putc(sbuf_t *b, char ch)
{
    if (b->len + 1 < b->size) {
        b->p[b->len++] = ch;
        b->p[b->len] = '\0';
    }
}

static void sb_puts(sbuf_t *b, const char *s)
{
    while (*s)
        sb_putc(b, *s++);
}

/* s[0..len) as printable ASCII: at most max input bytes ("..." after longer
 * input), other bytes as \xNN; quoted adds quotes and escapes '"' and '\'.
 * A message stays one line and cannot carry terminal escapes. */
static void sb_echo(sbuf_t *b, const char *s, size_t len, size_t max, int quoted)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = len < max ? len : max;

    if (quoted)
        sb_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch > 0x7e) {
            sb_puts(b, "\\x");
            sb_putc(b, hex[ch >> 4]);
            sb_putc(b, hex[ch & 15]);
            continue;
        }
        if (quoted && (ch == '"' || ch == '\\'))
            sb_putc(b, '\\');
        sb_putc(b, (char)ch);
    }
    if (len > n)
        sb_puts(b, "...");
    if (quoted)
        sb_putc(b, '"');
}

/* Into buf; returns buf (for use as a printf argument). */
static const char *echo(char *buf, size_t size, const char *s, size_t len, int quoted)
{
    sbuf_t b = {buf, size, 0};

    buf[0] = '\0';
    sb_echo(&b, s, len, ECHO_MAX, quoted);
    return buf;
}

/* What v is, for "got ...": "\"x\"", "-5", "1.5", "an array", "nothing". */
static const char *describe(char *buf, size_t size, const json_t *v)
{
    if (v == NULL)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return echo(buf, size, json_string_value(v), json_string_length(v), 1);
    case JSON_INTEGER:
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL: {
        double d = json_real_value(v);
        /* Integers arrive as reals: show 255, not 255.0. */
        if (d == floor(d) && fabs(d) < 1e15)
            snprintf(buf, size, "%.0f", d + 0.0); /* + 0.0: -0 reads "0" */
        else
            showfile__shortest(buf, size, d);
        return buf;
    }
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

/* names joined by sep: "id, t_ms, fixtures". */
static const char *join(char *buf, size_t size, const char *const *names, size_t n, const char *sep)
{
    sbuf_t b = {buf, size, 0};

    buf[0] = '\0';
    for (size_t i = 0; i < n && names[i]; i++) {
        if (i)
            sb_puts(&b, sep);
        sb_puts(&b, names[i]);
    }
    return buf;
}

/* Fill c->field with path.field and c->err with "file: label message". */
__attribute__((format(printf, 3, 4))) static int fail(ctx_t *c, const char *field, const char *fmt,
                                                      ...)
{
    sbuf_t b = {c->err, c->errlen, 0};
    va_list ap;

    if (c->field && c->fieldlen)
        snprintf(c->field, c->fieldlen, "%s%s%s", c->path, *c->path && *field ? "." : "", field);
    if (c->err == NULL || c->errlen == 0)
        return HUB_EINVAL;
    c->err[0] = '\0';
    if (c->file) {
        const char *f = *c->file ? c->file : "show";
        sb_echo(&b, f, strlen(f), FILE_ECHO_MAX, 0);
        sb_puts(&b, ": ");
    }
    sb_puts(&b, c->label);
    va_start(ap, fmt);
    vsnprintf(c->err + b.len, c->errlen - b.len, fmt, ap);
    va_end(ap);
    /* Every argument is echoed or ours; this keeps the one-line promise
     * should a future message forget. */
    for (char *p = c->err; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    return HUB_EINVAL;
}

static void ctx_init(ctx_t *c, const char *file, char *err, size_t errlen, char *field,
                     size_t fieldlen)
{
    memset(c, 0, sizeof(*c));
    c->file = file;
    c->err = err;
    c->errlen = errlen;
    c->field = field;
    c->fieldlen = fieldlen;
    if (err && errlen)
        err[0] = '\0';
    if (field && fieldlen)
        field[0] = '\0';
}

/* Label and path of an item: "cue \"c1\" (cues[2]): " when its id is valid,
 * else "cues[2]: "; on its own (index < 0) "cue \"c1\": " or "cue: ". */
static void set_item(ctx_t *c, const char *kind, const char *arr, long index, const char *id,
                     size_t idlen)
{
    int named = id != NULL && hub_show_id_valid(id, idlen);

    c->path[0] = '\0';
    if (index >= 0)
        snprintf(c->path, sizeof(c->path), "%s[%ld]", arr, index);
    if (named && index >= 0)
        snprintf(c->label, sizeof(c->label), "%s \"%s\" (%s): ", kind, id, c->path);
    else if (named)
        snprintf(c->label, sizeof(c->label), "%s \"%s\": ", kind, id);
    else
        snprintf(c->label, sizeof(c->label), "%s: ", index >= 0 ? c->path : kind);
}

static void set_item_json(ctx_t *c, const char *kind, const char *arr, long index, const json_t *o)
{
    const json_t *id = json_is_object(o) ? json_object_get(o, "id") : NULL;

    if (json_is_string(id))
        set_item(c, kind, arr, index, json_string_value(id), json_string_length(id));
    else
        set_item(c, kind, arr, index, NULL, 0);
}

/* ---- names ---- */

static int name_char(unsigned char ch, int dots)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || (dots && ch == '.');
}

/* Why s[0..len) breaks the name rule, or NULL when it does not. */
static const char *name_problem(char *buf, size_t size, const char *s, size_t len, size_t max,
                                int dots)
{
    char ch[8];

    if (len == 0)
        return "is empty";
    if (len > max) {
        snprintf(buf, size, "is %zu characters long", len);
        return buf;
    }
    for (size_t i = 0; i < len; i++)
        if (!name_char((unsigned char)s[i], dots)) {
            snprintf(buf, size, "has the character '%s' at position %zu",
                     echo(ch, sizeof(ch), s + i, 1, 0), i + 1);
            return buf;
        }
    return NULL;
}

int hub_show_id_valid(const char *s, size_t len)
{
    char why[64];

    return s != NULL && name_problem(why, sizeof(why), s, len, HUB_SHOW_ID_MAX, 1) == NULL;
}

int hub_show_name_valid(const char *s, size_t len)
{
    /* Not starting with '.': a hidden file is not listed (and ".", ".."). */
    return hub_show_id_valid(s, len) && s[0] != '.';
}

/* ---- members and values ---- */

static int member_in(const char *k, size_t klen, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (strlen(names[i]) == klen && memcmp(names[i], k, klen) == 0)
            return 1;
    return 0;
}

/* Refuse members outside names (a typo such as "fade" must not be ignored),
 * then require the first nreq of them. */
static int check_members(ctx_t *c, const json_t *o, const char *const *names, size_t nreq)
{
    char k[ECHO_BUF], kf[ECHO_BUF], list[LIST_BUF];
    /* jansson iterates non-const objects; it does not change them. */
    json_t *obj = (json_t *)o;

    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        if (!member_in(key, klen, names))
            return fail(c, echo(kf, sizeof(kf), key, klen, 0), "unknown member %s (accepted: %s)",
                        echo(k, sizeof(k), key, klen, 1),
                        join(list, sizeof(list), names, SIZE_MAX, ", "));
    }
    for (size_t i = 0; i < nreq; i++)
        if (json_object_get(o, names[i]) == NULL)
            return fail(c, names[i], "\"%s\" is missing (required: %s)", names[i],
                        join(list, sizeof(list), names, nreq, ", "));
    return 0;
}

static int get_int(ctx_t *c, const char *field, const json_t *v, int64_t lo, int64_t hi,
                   int64_t *out)
{
    char got[ECHO_BUF];
    double d;

    if (!json_is_number(v))
        return fail(c, field, "\"%s\" must be an integer %" PRId64 "..%" PRId64 ", got %s", field,
                    lo, hi, describe(got, sizeof(got), v));
    d = json_number_value(v);
    if (d != floor(d))
        return fail(c, field, "\"%s\" %s is not an integer; accepted: %" PRId64 "..%" PRId64, field,
                    describe(got, sizeof(got), v), lo, hi);
    if (d < (double)lo || d > (double)hi)
        return fail(c, field, "\"%s\" %s is out of range %" PRId64 "..%" PRId64, field,
                    describe(got, sizeof(got), v), lo, hi);
    *out = (int64_t)d;
    return 0;
}

static int get_byte(ctx_t *c, const char *field, const json_t *v, int *out)
{
    int64_t x = 0;
    int rc = get_int(c, field, v, 0, 255, &x);

    *out = (int)x;
    return rc;
}

/* A number 0..1 (duty, spread). */
static int get_unit(ctx_t *c, const char *field, const json_t *v, double *out)
{
    char got[ECHO_BUF];

    if (!json_is_number(v))
        return fail(c, field, "\"%s\" must be a number 0..1, got %s", field,
                    describe(got, sizeof(got), v));
    if (!(json_number_value(v) >= 0 && json_number_value(v) <= 1))
        return fail(c, field, "\"%s\" %s is out of range 0..1", field,
                    describe(got, sizeof(got), v));
    *out = json_number_value(v);
    return 0;
}

/* A fixture or POI name (what names "what") into dst. */
static int get_name(ctx_t *c, const char *field, const json_t *v, const char *what, char *dst)
{
    char got[ECHO_BUF], why[64];
    const char *problem;

    if (!json_is_string(v))
        return fail(c, field, "\"%s\" must be a %s name (" NAME_RULE "), got %s", field, what,
                    describe(got, sizeof(got), v));
    problem = name_problem(why, sizeof(why), json_string_value(v), json_string_length(v),
                           HUB_DMX_NAME_MAX, 0);
    if (problem)
        return fail(c, field, "\"%s\" %s %s; a %s name is " NAME_RULE, field,
                    describe(got, sizeof(got), v), problem, what);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_id(ctx_t *c, const json_t *v, char *dst)
{
    char got[ECHO_BUF], why[64];
    const char *problem;

    if (!json_is_string(v))
        return fail(c, "id", "\"id\" must be a string of " ID_RULE ", got %s",
                    describe(got, sizeof(got), v));
    problem = name_problem(why, sizeof(why), json_string_value(v), json_string_length(v),
                           HUB_SHOW_ID_MAX, 1);
    if (problem)
        return fail(c, "id", "\"id\" %s %s; an id is " ID_RULE, describe(got, sizeof(got), v),
                    problem);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* The first j < i naming the same fixture as list[i], or -1. set (NULL
 * for short lists) maps names to indexes seen so far. */
static long find_dup(const hub_show_ident_t *list, size_t i, json_t *set)
{
    const json_t *prev;

    if (set == NULL) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(list[j], list[i]) == 0)
                return (long)j;
        return -1;
    }
    prev = json_object_get(set, list[i]);
    if (prev)
        return (long)json_integer_value(prev);
    json_object_set_new(set, list[i], json_integer((json_int_t)i));
    return -1;
}

/* On failure *out may hold a partial list: the caller frees it. */
static int get_fixtures(ctx_t *c, const json_t *v, hub_show_ident_t **out, size_t *nout)
{
    char got[ECHO_BUF], field[32];
    json_t *set;
    size_t n;
    int rc = 0;

    if (!json_is_array(v))
        return fail(c, "fixtures", "\"fixtures\" must be an array of fixture names, got %s",
                    describe(got, sizeof(got), v));
    n = json_array_size(v);
    if (n == 0)
        return fail(c, "fixtures", "\"fixtures\" is empty; name 1 to %d fixtures",
                    HUB_SHOW_MAX_FIXTURES);
    if (n > HUB_SHOW_MAX_FIXTURES)
        return fail(c, "fixtures", "\"fixtures\" has %zu entries; at most %d are accepted", n,
                    HUB_SHOW_MAX_FIXTURES);
    *out = hub_calloc(n, sizeof(**out));
    set = n > SET_MIN ? json_object() : NULL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        long j;
        snprintf(field, sizeof(field), "fixtures[%zu]", i);
        rc = get_name(c, field, json_array_get(v, i), "fixture", (*out)[i]);
        if (rc == 0 && (j = find_dup(*out, i, set)) >= 0)
            rc = fail(c, field, "\"%s\" \"%s\" is listed twice (also fixtures[%ld])", field,
                      (*out)[i], j);
    }
    json_decref(set);
    if (rc == 0)
        *nout = n;
    return rc;
}

static int get_role(ctx_t *c, const char *field, const json_t *v, int *out)
{
    char got[ECHO_BUF];
    int role = -1;

    if (json_is_string(v))
        role = hub_dmx_role_parse(json_string_value(v), json_string_length(v));
    if (role < 0)
        return fail(c, field, "\"%s\" %s is not a role; accepted: %s", field,
                    describe(got, sizeof(got), v), hub_dmx_role_list());
    *out = role;
    return 0;
}

/* ---- cues ---- */

static int get_values(ctx_t *c, const json_t *v, hub_show_cue_t *q)
{
    char got[ECHO_BUF], k[ECHO_BUF], field[ECHO_BUF + 8];
    json_t *obj = (json_t *)v; /* iterated, not changed */
    int rc = 0;

    if (!json_is_object(v))
        return fail(c, "values", "\"values\" must be an object of role: 0..255, got %s",
                    describe(got, sizeof(got), v));
    if (json_object_size(v) > 0)
        q->values = hub_calloc(json_object_size(v), sizeof(*q->values));
    for (void *it = json_object_iter(obj); it && rc == 0; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        hub_show_value_t *val = &q->values[q->nvalues];
        snprintf(field, sizeof(field), "values.%s", echo(k, sizeof(k), key, klen, 0));
        val->role = hub_dmx_role_parse(key, klen);
        if (val->role < 0)
            return fail(c, field, "\"values\" has %s, which is not a role; accepted: %s",
                        echo(got, sizeof(got), key, klen, 1), hub_dmx_role_list());
        rc = get_byte(c, field, json_object_iter_value(it), &val->value);
        q->nvalues += rc == 0;
    }
    return rc;
}

static int is_pan_tilt(int role)
{
    return role == HUB_ROLE_PAN || role == HUB_ROLE_PAN_FINE || role == HUB_ROLE_TILT ||
           role == HUB_ROLE_TILT_FINE;
}

/* Values, a poi or both; a poi gives pan and tilt, so values may not. */
static int check_target(ctx_t *c, const hub_show_cue_t *q)
{
    char field[32];

    if (q->nvalues == 0 && q->poi[0] == '\0')
        return fail(c, "values",
                    "sets nothing; a cue needs \"values\" (role: 0..255), \"poi\" or both");
    for (size_t i = 0; q->poi[0] && i < q->nvalues; i++)
        if (is_pan_tilt(q->values[i].role)) {
            snprintf(field, sizeof(field), "values.%s", hub_dmx_role_name(q->values[i].role));
            return fail(c, field,
                        "\"%s\" cannot be set with \"poi\": the POI gives pan, pan_fine, tilt "
                        "and tilt_fine",
                        field);
        }
    return 0;
}

static int get_curve(ctx_t *c, const json_t *v, int *out)
{
    char got[ECHO_BUF], list[LIST_BUF];
    int curve = json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v)
                    ? hub_show_curve_parse(json_string_value(v))
                    : -1;

    if (curve < 0)
        return fail(c, "curve", "\"curve\" %s is not a curve; accepted: %s",
                    describe(got, sizeof(got), v),
                    join(list, sizeof(list), showfile__curve_names, HUB_CURVE_COUNT, " "));
    *out = curve;
    return 0;
}

static int cue_fields(ctx_t *c, const json_t *o, int64_t duration, hub_show_cue_t *q)
{
    char got[ECHO_BUF];
    const json_t *v;
    int rc;

    if (!json_is_object(o))
        return fail(c, "", "a cue must be an object, got %s", describe(got, sizeof(got), o));
    rc = check_members(c, o, cue_members, 3);
    if (rc == 0)
        rc = get_id(c, json_object_get(o, "id"), q->id);
    if (rc == 0)
        rc = get_int(c, "t_ms", json_object_get(o, "t_ms"), 0, duration, &q->t_ms);
    if (rc == 0)
        rc = get_fixtures(c, json_object_get(o, "fixtures"), &q->fixtures, &q->nfixtures);
    if (rc == 0 && (v = json_object_get(o, "values")) != NULL)
        rc = get_values(c, v, q);
    if (rc == 0 && (v = json_object_get(o, "poi")) != NULL)
        rc = get_name(c, "poi", v, "POI", q->poi);
    if (rc == 0)
        rc = check_target(c, q);
    if (rc == 0 && (v = json_object_get(o, "fade_ms")) != NULL)
        rc = get_int(c, "fade_ms", v, 0, duration, &q->fade_ms);
    if (rc == 0 && (v = json_object_get(o, "curve")) != NULL)
        rc = get_curve(c, v, &q->curve);
    return rc;
}

/* On failure q is freed and zeroed. */
static int parse_cue(ctx_t *c, const json_t *o, int64_t duration, hub_show_cue_t *q)
{
    int rc;

    memset(q, 0, sizeof(*q));
    q->curve = HUB_CURVE_LINEAR;
    rc = cue_fields(c, o, duration, q);
    if (rc)
        hub_show_cue_free(q);
    return rc;
}

/* ---- effects ---- */

static int param_index(const char *k, size_t klen)
{
    for (int i = 0; i < P_COUNT; i++)
        if (strlen(showfile__param_names[i]) == klen &&
            memcmp(showfile__param_names[i], k, klen) == 0)
            return i;
    return -1;
}

/* "period_ms, role, min, max": what effect takes. */
static const char *accepted_params(char *buf, size_t size, int effect)
{
    const char *names[P_COUNT + 1];
    size_t n = 0;

    for (int i = 0; i < P_COUNT; i++)
        if (showfile__fx_params[effect] & BIT(i))
            names[n++] = showfile__param_names[i];
    names[n] = NULL;
    return join(buf, size, names, n, ", ");
}

static int get_param(ctx_t *c, int which, const json_t *v, hub_show_params_t *p)
{
    char field[32];

    snprintf(field, sizeof(field), "params.%s", showfile__param_names[which]);
    switch (which) {
    case P_PERIOD: return get_int(c, field, v, 1, PERIOD_MAX, &p->period_ms);
    case P_ROLE: return get_role(c, field, v, &p->role);
    case P_MIN: return get_byte(c, field, v, &p->min);
    case P_MAX: return get_byte(c, field, v, &p->max);
    case P_DUTY: return get_unit(c, field, v, &p->duty);
    default: return get_unit(c, field, v, &p->spread);
    }
}

/* p holds effect's defaults; the members of v override them. */
static int get_params(ctx_t *c, const json_t *v, int effect, hub_show_params_t *p)
{
    char got[ECHO_BUF], field[ECHO_BUF + 8], list[LIST_BUF];
    json_t *obj = (json_t *)v; /* iterated, not changed */
    int rc = 0;

    if (!json_is_object(v))
        return fail(c, "params", "\"params\" must be an object, got %s",
                    describe(got, sizeof(got), v));
    for (void *it = json_object_iter(obj); it && rc == 0; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        int which = param_index(key, klen);
        if (which < 0 || !(showfile__fx_params[effect] & BIT(which))) {
            snprintf(field, sizeof(field), "params.%s", echo(got, sizeof(got), key, klen, 0));
            return fail(c, field, "\"params\" has %s, which %s %s; accepted for %s: %s",
                        echo(got, sizeof(got), key, klen, 1),
                        which < 0 ? "is not a parameter of" : "does not apply to",
                        showfile__effect_names[effect], showfile__effect_names[effect],
                        accepted_params(list, sizeof(list), effect));
        }
        rc = get_param(c, which, json_object_iter_value(it), p);
    }
    if (rc == 0 && p->min > p->max)
        rc = fail(c, "params.min",
                  "\"params.min\" %d is above \"params.max\" %d; min must be <= max", p->min,
                  p->max);
    return rc;
}

static int get_effect_name(ctx_t *c, const json_t *v, int *out)
{
    char got[ECHO_BUF], list[LIST_BUF];
    int fx = json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v)
                 ? hub_show_effect_parse(json_string_value(v))
                 : -1;

    if (fx < 0)
        return fail(c, "effect", "\"effect\" %s is not an effect; accepted: %s",
                    describe(got, sizeof(got), v),
                    join(list, sizeof(list), showfile__effect_names, HUB_FX_COUNT, " "));
    *out = fx;
    return 0;
}

static int effect_fields(ctx_t *c, const json_t *o, int64_t duration, hub_show_effect_t *e)
{
    char got[ECHO_BUF];
    const json_t *v;
    int rc;

    if (!json_is_object(o))
        return fail(c, "", "an effect must be an object, got %s", describe(got, sizeof(got), o));
    rc = check_members(c, o, effect_members, 5);
    if (rc == 0)
        rc = get_id(c, json_object_get(o, "id"), e->id);
    if (rc == 0)
        rc = get_int(c, "t_ms", json_object_get(o, "t_ms"), 0, duration, &e->t_ms);
    if (rc == 0)
        rc = get_int(c, "dur_ms", json_object_get(o, "dur_ms"), 1, duration, &e->dur_ms);
    if (rc == 0 && e->t_ms + e->dur_ms > duration)
        rc = fail(c, "dur_ms",
                  "\"dur_ms\" %" PRId64 " runs past the end of the show: t_ms %" PRId64
                  " + dur_ms %" PRId64 " = %" PRId64 " > duration_ms %" PRId64,
                  e->dur_ms, e->t_ms, e->dur_ms, e->t_ms + e->dur_ms, duration);
    if (rc == 0)
        rc = get_fixtures(c, json_object_get(o, "fixtures"), &e->fixtures, &e->nfixtures);
    if (rc == 0)
        rc = get_effect_name(c, json_object_get(o, "effect"), &e->effect);
    if (rc == 0)
        hub_show_params_default(e->effect, &e->params);
    if (rc == 0 && (v = json_object_get(o, "params")) != NULL)
        rc = get_params(c, v, e->effect, &e->params);
    return rc;
}

/* On failure e is freed and zeroed. */
static int parse_effect(ctx_t *c, const json_t *o, int64_t duration, hub_show_effect_t *e)
{
    int rc;

    memset(e, 0, sizeof(*e));
    rc = effect_fields(c, o, duration, e);
    if (rc)
        hub_show_effect_free(e);
    return rc;
}

/* ---- the show ---- */

/* 1 if s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code
 * points past U+10FFFF): strings built in memory skip jansson's check. */
static int utf8_ok(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t n;
        uint32_t cp, min;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xe0) == 0xc0)
            n = 1, cp = s[i] & 0x1f, min = 0x80;
        else if ((s[i] & 0xf0) == 0xe0)
            n = 2, cp = s[i] & 0x0f, min = 0x800;
        else if ((s[i] & 0xf8) == 0xf0)
            n = 3, cp = s[i] & 0x07, min = 0x10000;
        else
            return 0;
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* Why s[0..len) is not a plain file name, or NULL. Non-ASCII UTF-8 is
 * fine (song titles); what could leave the shows folder or hide is not. */
static const char *audio_problem(char *buf, size_t size, const char *s, size_t len)
{
    if (len == 0)
        return "is empty";
    if (len > HUB_SHOW_AUDIO_MAX) {
        snprintf(buf, size, "is %zu bytes long", len);
        return buf;
    }
    if (s[0] == '.')
        return "starts with '.'";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '/' || ch < 0x20 || ch == 0x7f) {
            snprintf(buf, size, "has %s at position %zu",
                     ch == '/' ? "a '/'" : "a control character", i + 1);
            return buf;
        }
    }
    return utf8_ok((const unsigned char *)s, len) ? NULL : "is not valid UTF-8";
}

static int get_audio(ctx_t *c, const json_t *v, char *dst)
{
    char got[ECHO_BUF], why[64];
    const char *problem;

    if (json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(c, "audio", "\"audio\" must be null or " AUDIO_RULE ", got %s",
                    describe(got, sizeof(got), v));
    problem = audio_problem(why, sizeof(why), json_string_value(v), json_string_length(v));
    if (problem)
        return fail(c, "audio", "\"audio\" %s %s; use " AUDIO_RULE, describe(got, sizeof(got), v),
                    problem);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_show_name(ctx_t *c, const json_t *v, char *dst)
{
    char got[ECHO_BUF], why[64];
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    size_t len = json_is_string(v) ? json_string_length(v) : 0;
    const char *problem;

    if (s == NULL)
        return fail(c, "name", "\"name\" must be a string of " ID_RULE ", got %s",
                    describe(got, sizeof(got), v));
    problem = name_problem(why, sizeof(why), s, len, HUB_SHOW_NAME_MAX, 1);
    if (problem == NULL && !hub_show_name_valid(s, len))
        problem = "is not a name";
    if (problem)
        return fail(c, "name",
                    "\"name\" %s %s; a show name is " ID_RULE ", not starting with \".\"",
                    describe(got, sizeof(got), v), problem);
    memcpy(dst, s, len + 1);
    return 0;
}

/* Record id at the current item (c->path); refuse it if already there. */
static int claim_id(ctx_t *c, json_t *ids, const char *id)
{
    const json_t *prev = json_object_get(ids, id);

    if (prev)
        return fail(c, "id",
                    "\"id\" \"%s\" is already used by %s; ids are unique across cues and effects",
                    id, json_string_value(prev));
    json_object_set_new(ids, id, json_string(c->path));
    return 0;
}

static int parse_items(ctx_t *c, const json_t *cues, const json_t *effects, hub_show_t *s)
{
    json_t *ids = json_object();
    size_t nc = json_array_size(cues), ne = json_array_size(effects);
    int rc = 0;

    if (nc)
        s->cues = hub_calloc(nc, sizeof(*s->cues));
    if (ne)
        s->effects = hub_calloc(ne, sizeof(*s->effects));
    for (size_t i = 0; i < nc && rc == 0; i++) {
        const json_t *o = json_array_get(cues, i);
        set_item_json(c, "cue", "cues", (long)i, o);
        rc = parse_cue(c, o, s->duration_ms, &s->cues[i]);
        s->ncues += rc == 0;
        if (rc == 0)
            rc = claim_id(c, ids, s->cues[i].id);
    }
    for (size_t i = 0; i < ne && rc == 0; i++) {
        const json_t *o = json_array_get(effects, i);
        set_item_json(c, "effect", "effects", (long)i, o);
        rc = parse_effect(c, o, s->duration_ms, &s->effects[i]);
        s->neffects += rc == 0;
        if (rc == 0)
            rc = claim_id(c, ids, s->effects[i].id);
    }
    json_decref(ids);
    return rc;
}

/* An optional array member: *out = NULL when absent. */
static int get_items(ctx_t *c, const json_t *root, const char *key, const char *what,
                     const json_t **out)
{
    char got[ECHO_BUF];

    *out = json_object_get(root, key);
    if (*out == NULL || json_is_array(*out))
        return 0;
    return fail(c, key, "\"%s\" must be an array of %s objects, got %s", key, what,
                describe(got, sizeof(got), *out));
}

static int parse_root(ctx_t *c, const json_t *root, hub_show_t *s)
{
    char got[ECHO_BUF];
    const json_t *cues = NULL, *effects = NULL, *v;
    int rc;

    if (root == NULL)
        return fail(c, "", "no JSON value; expected an object with name and duration_ms");
    if (!json_is_object(root))
        return fail(c, "", "the top level must be an object with name and duration_ms, got %s",
                    describe(got, sizeof(got), root));
    rc = check_members(c, root, root_members, 2);
    if (rc == 0)
        rc = get_show_name(c, json_object_get(root, "name"), s->name);
    if (rc == 0)
        rc = get_int(c, "duration_ms", json_object_get(root, "duration_ms"), 1,
                     HUB_SHOW_DURATION_MAX, &s->duration_ms);
    if (rc == 0 && (v = json_object_get(root, "audio")) != NULL)
        rc = get_audio(c, v, s->audio);
    if (rc == 0)
        rc = get_items(c, root, "cues", "cue", &cues);
    if (rc == 0)
        rc = get_items(c, root, "effects", "effect", &effects);
    if (rc == 0 && json_array_size(cues) + json_array_size(effects) > HUB_SHOW_MAX_ITEMS)
        rc = fail(c, "cues", "\"cues\" and \"effects\" hold %zu items; at most %d are accepted",
                  json_array_size(cues) + json_array_size(effects), HUB_SHOW_MAX_ITEMS);
    if (rc == 0)
        rc = parse_items(c, cues, effects, s);
    return rc;
}

int hub_show_from_json(const json_t *root, const char *file, hub_show_t *out, char *err,
                       size_t errlen, char *field, size_t fieldlen)
{
    hub_show_t s;
    ctx_t c;
    int rc;

    ctx_init(&c, file ? file : "", err, errlen, field, fieldlen);
    memset(out, 0, sizeof(*out));
    memset(&s, 0, sizeof(s));
    rc = parse_root(&c, root, &s);
    if (rc) {
        hub_show_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}

int hub_show_parse(const char *text, size_t len, const char *file, hub_show_t *out, char *err,
                   size_t errlen)
{
    char why[ECHO_BUF];
    json_error_t je;
    json_t *root;
    ctx_t c;
    int rc;

    ctx_init(&c, file ? file : "", err, errlen, NULL, 0);
    memset(out, 0, sizeof(*out));
    if (text == NULL || len == 0)
        return fail(&c, "", "the file is empty; expected a JSON object with name and duration_ms");
    /* DECODE_ANY: a bare 3 gets "must be an object", not a parse error. */
    root = json_loadb(text, len, HUB_JSON_FLAGS | JSON_DECODE_ANY, &je);
    if (root == NULL)
        return fail(&c, "", "not valid JSON at line %d column %d: %s", je.line, je.column,
                    echo(why, sizeof(why), je.text, strlen(je.text), 0));
    rc = hub_show_from_json(root, file, out, err, errlen, NULL, 0);
    json_decref(root);
    return rc;
}

/* A caller's duration into the range a show can have (also keeps the
 * double compare in get_int exact). */
static int64_t clamp_duration(int64_t d)
{
    return d < 0 ? 0 : d > HUB_SHOW_DURATION_MAX ? HUB_SHOW_DURATION_MAX : d;
}

int hub_show_cue_from_json(const json_t *obj, int64_t duration_ms, hub_show_cue_t *out, char *err,
                           size_t errlen, char *field, size_t fieldlen)
{
    ctx_t c;

    ctx_init(&c, NULL, err, errlen, field, fieldlen);
    set_item_json(&c, "cue", NULL, -1, obj);
    return parse_cue(&c, obj, clamp_duration(duration_ms), out);
}

int hub_show_effect_from_json(const json_t *obj, int64_t duration_ms, hub_show_effect_t *out,
                              char *err, size_t errlen, char *field, size_t fieldlen)
{
    ctx_t c;

    ctx_init(&c, NULL, err, errlen, field, fieldlen);
    set_item_json(&c, "effect", NULL, -1, obj);
    return parse_effect(&c, obj, clamp_duration(duration_ms), out);
}

/* ---- references ---- */

/* "par1, par2, par3 and 5 more": the fixtures a check message is about. */
static const char *name_list(char *buf, size_t size, const hub_show_ident_t *names, size_t n)
{
    sbuf_t b = {buf, size, 0};
    char more[40];

    buf[0] = '\0';
    for (size_t i = 0; i < n && i < LIST_NAMES; i++) {
        if (i)
            sb_puts(&b, ", ");
        sb_echo(&b, names[i], strlen(names[i]), HUB_DMX_NAME_MAX, 0);
    }
    if (n > LIST_NAMES) {
        snprintf(more, sizeof(more), " and %zu more", n - LIST_NAMES);
        sb_puts(&b, more);
    }
    return buf;
}

/* fx[i] = the patch's fixture names[i]; refuse the first one missing. */
static int resolve(ctx_t *c, const hub_show_patch_t *patch, const hub_show_ident_t *names, size_t n,
                   const hub_patch_fixture_t **fx)
{
    char field[32], got[ECHO_BUF];

    for (size_t i = 0; i < n; i++) {
        fx[i] = patch && patch->fixture ? patch->fixture(patch->ud, names[i]) : NULL;
        if (fx[i] == NULL) {
            snprintf(field, sizeof(field), "fixtures[%zu]", i);
            return fail(c, field, "\"%s\" %s is not a fixture of the patch", field,
                        echo(got, sizeof(got), names[i], strlen(names[i]), 1));
        }
    }
    return 0;
}

static int any_has(const hub_patch_fixture_t *const *fx, size_t n, int role)
{
    for (size_t i = 0; i < n; i++)
        if (hub_patch_role_channel(fx[i], role) >= 0)
            return 1;
    return 0;
}

static int check_poi(ctx_t *c, const hub_show_patch_t *patch, const hub_show_cue_t *q,
                     const hub_patch_fixture_t *const *fx)
{
    char got[ECHO_BUF], list[LIST_BUF];
    const hub_patch_poi_t *poi = patch && patch->poi ? patch->poi(patch->ud, q->poi) : NULL;

    echo(got, sizeof(got), q->poi, strlen(q->poi), 1);
    if (poi == NULL)
        return fail(c, "poi", "\"poi\" %s is not a POI of the patch", got);
    if (!any_has(fx, q->nfixtures, HUB_ROLE_PAN) && !any_has(fx, q->nfixtures, HUB_ROLE_TILT))
        return fail(c, "poi",
                    "\"poi\" %s needs pan or tilt, and none of its fixtures (%s) has either", got,
                    name_list(list, sizeof(list), q->fixtures, q->nfixtures));
    return 0;
}

static int check_cue(ctx_t *c, const hub_show_patch_t *patch, const hub_show_cue_t *q,
                     const hub_patch_fixture_t **fx)
{
    char field[32], list[LIST_BUF];
    int rc = resolve(c, patch, q->fixtures, q->nfixtures, fx);

    for (size_t i = 0; rc == 0 && i < q->nvalues; i++) {
        const char *role = showfile__role_name(q->values[i].role);
        if (any_has(fx, q->nfixtures, q->values[i].role))
            continue;
        snprintf(field, sizeof(field), "values.%s", role);
        rc = fail(c, field, "\"%s\": none of its fixtures (%s) has a %s channel", field,
                  name_list(list, sizeof(list), q->fixtures, q->nfixtures), role);
    }
    if (rc == 0 && q->poi[0])
        rc = check_poi(c, patch, q, fx);
    return rc;
}

static int check_effect(ctx_t *c, const hub_show_patch_t *patch, const hub_show_effect_t *e,
                        const hub_patch_fixture_t **fx)
{
    char list[LIST_BUF];
    int rc = resolve(c, patch, e->fixtures, e->nfixtures, fx);

    if (rc)
        return rc;
    name_list(list, sizeof(list), e->fixtures, e->nfixtures);
    if (e->effect == HUB_FX_RAINBOW) {
        if (any_has(fx, e->nfixtures, HUB_ROLE_RED) || any_has(fx, e->nfixtures, HUB_ROLE_GREEN) ||
            any_has(fx, e->nfixtures, HUB_ROLE_BLUE))
            return 0;
        return fail(c, "fixtures",
                    "rainbow needs a red, green or blue channel, and none of its fixtures (%s) "
                    "has one",
                    list);
    }
    if (any_has(fx, e->nfixtures, e->params.role))
        return 0;
    return fail(c, "params.role", "\"params.role\" %s: none of its fixtures (%s) has a %s channel",
                showfile__role_name(e->params.role), list, showfile__role_name(e->params.role));
}

int hub_show_check(const hub_show_t *s, const char *file, const hub_show_patch_t *patch, char *err,
                   size_t errlen, char *field, size_t fieldlen)
{
    const hub_patch_fixture_t **fx;
    size_t most = 1;
    ctx_t c;
    int rc = 0;

    ctx_init(&c, file ? file : "", err, errlen, field, fieldlen);
    for (size_t i = 0; i < s->ncues; i++)
        most = s->cues[i].nfixtures > most ? s->cues[i].nfixtures : most;
    for (size_t i = 0; i < s->neffects; i++)
        most = s->effects[i].nfixtures > most ? s->effects[i].nfixtures : most;
    fx = hub_malloc(most * sizeof(*fx));
    for (size_t i = 0; i < s->ncues && rc == 0; i++) {
        const hub_show_cue_t *q = &s->cues[i];
        set_item(&c, "cue", "cues", (long)i, q->id, strlen(q->id));
        rc = check_cue(&c, patch, q, fx);
    }
    for (size_t i = 0; i < s->neffects && rc == 0; i++) {
        const hub_show_effect_t *e = &s->effects[i];
        set_item(&c, "effect", "effects", (long)i, e->id, strlen(e->id));
        rc = check_effect(&c, patch, e, fx);
    }
    hub_free(fx);
    return rc;
}
