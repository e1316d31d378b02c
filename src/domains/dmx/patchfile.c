/* domains/dmx/patchfile.c - parse and validate the DMX patch file.
 *
 * Order of checks: the top-level keys, then universes, then each fixture
 * field by field (keys, name, universe, address, channels, fit), duplicate
 * fixture names, the demo fixture, overlaps, then POIs, then the universe
 * union. The first problem found is the one reported, so the message a
 * technician sees for a given file is always the same.
 *
 * Cost: linear in the input plus one sort of the fixtures for the overlap
 * check; duplicate names go through a jansson object used as a hash set.
 * Nothing is written to *out until every check has passed.
 */
#include "domains/dmx/patchfile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "domains/dmx/roles.h"

#define ECHO_MAX      40 /* input bytes echoed in a message */
#define ECHO_BUF      (ECHO_MAX * 4 + 8)
#define PATH_ECHO_MAX 200 /* the path is the operator's, not input: show more */
#define LABEL_BUF     (HUB_DMX_NAME_MAX + 64)
#define NAME_RULE     "1-64 characters from A-Z a-z 0-9 _ -"
#define UNIVERSE_SPAN (HUB_DMX_UNIVERSE_MAX + 1)

typedef struct ctx {
    const char *path; /* for messages only */
    char *err;        /* caller's buffer, errlen bytes */
    size_t errlen;
} ctx_t;

/* A fixture's channel range, for the overlap sort. */
typedef struct span {
    int universe, first, last;
    size_t index; /* in the file's fixtures array */
} span_t;

static const char *const top_keys[] = {"universes", "fixtures", "pois", NULL};
static const char *const fixture_keys[] = {"name", "universe", "address", "channels", NULL};
static const char *const poi_keys[] = {"name", "pan", "tilt", "pan_fine", "tilt_fine", NULL};

static void put(char *buf, size_t size, size_t *o, char ch)
{
    if (*o + 1 < size)
        buf[(*o)++] = ch;
}

/* Write s[0..len) to buf as printable ASCII, at most max input bytes (longer
 * input ends in "..."). Bytes outside 0x20..0x7e become \xNN so a message
 * stays one line and cannot carry terminal escapes; quoted mode also escapes
 * '"' and '\' and adds the quotes. */
static const char *echo(char *buf, size_t size, const char *s, size_t len, size_t max, int quoted)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    size_t n = len < max ? len : max;

    if (quoted)
        put(buf, size, &o, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch > 0x7e) {
            put(buf, size, &o, '\\');
            put(buf, size, &o, 'x');
            put(buf, size, &o, hex[ch >> 4]);
            put(buf, size, &o, hex[ch & 15]);
        } else {
            if (quoted && (ch == '"' || ch == '\\'))
                put(buf, size, &o, '\\');
            put(buf, size, &o, (char)ch);
        }
    }
    if (len > n)
        for (int i = 0; i < 3; i++)
            put(buf, size, &o, '.');
    if (quoted)
        put(buf, size, &o, '"');
    buf[o] = '\0';
    return buf;
}

__attribute__((format(printf, 2, 3))) static int fail(ctx_t *c, const char *fmt, ...)
{
    char path[PATH_ECHO_MAX * 4 + 8];
    va_list ap;
    int n;

    if (c->err == NULL || c->errlen == 0)
        return HUB_EINVAL;
    echo(path, sizeof(path), c->path, strlen(c->path), PATH_ECHO_MAX, 0);
    n = snprintf(c->err, c->errlen, "%s: ", path);
    if (n >= 0 && (size_t)n < c->errlen) {
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* Every argument is echo()ed or ours; this keeps the one-line promise
     * even if a future message forgets. */
    for (char *p = c->err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return HUB_EINVAL;
}

/* "the string \"x\"", "1.5", "an array"...: what was found instead. */
static const char *describe(char *buf, size_t size, const json_t *v)
{
    if (v == NULL)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING:
        return echo(buf, size, json_string_value(v), json_string_length(v), ECHO_MAX, 1);
    case JSON_INTEGER:
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        /* Shortest form that reads back exactly; a trailing ".0" so 1.0 is
         * not shown as "1" next to "must be an integer". */
        snprintf(buf, size, "%.15g", json_real_value(v));
        if (strtod(buf, NULL) != json_real_value(v))
            snprintf(buf, size, "%.17g", json_real_value(v));
        if (strpbrk(buf, ".e") == NULL && strlen(buf) + 3 <= size)
            strcat(buf, ".0");
        return buf;
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

static int is_name_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

static int name_ok(const char *s, size_t len)
{
    if (len == 0 || len > HUB_DMX_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* "fixture \"par1\" (fixtures[3]): " when the entity has a valid name, else
 * "fixtures[3]: ". A valid name needs no escaping. */
static const char *entity_label(char *buf, size_t size, const char *kind, const char *arr,
                                const json_t *o, size_t i)
{
    const json_t *n = json_is_object(o) ? json_object_get(o, "name") : NULL;

    if (json_is_string(n) && name_ok(json_string_value(n), json_string_length(n)))
        snprintf(buf, size, "%s \"%s\" (%s[%zu]): ", kind, json_string_value(n), arr, i);
    else
        snprintf(buf, size, "%s[%zu]: ", arr, i);
    return buf;
}

static int key_in(const char *k, size_t klen, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++)
        if (strlen(keys[i]) == klen && memcmp(keys[i], k, klen) == 0)
            return 1;
    return 0;
}

/* Refuse keys outside keys[] (typos would otherwise be silently ignored),
 * then require the first nreq of them. accepted and required spell them out
 * for the messages. */
static int check_keys(ctx_t *c, const char *label, const json_t *o, const char *const *keys,
                      size_t nreq, const char *accepted, const char *required)
{
    char k[ECHO_BUF];
    /* jansson's iteration API takes non-const objects; it does not modify them. */
    json_t *obj = (json_t *)o;

    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        if (!key_in(key, klen, keys))
            return fail(c, "%sunknown key %s (accepted keys: %s)", label,
                        echo(k, sizeof(k), key, klen, ECHO_MAX, 1), accepted);
    }
    for (size_t i = 0; i < nreq; i++)
        if (json_object_get(o, keys[i]) == NULL)
            return fail(c, "%smissing key \"%s\" (required keys: %s)", label, keys[i], required);
    return 0;
}

/* *out = v when v is a JSON integer in lo..hi (reals such as 1.0 are refused:
 * a technician who wrote 1.5 meant something we would silently change). */
static int get_int(ctx_t *c, const char *label, const char *field, const json_t *v, int lo, int hi,
                   int *out)
{
    char got[ECHO_BUF];

    if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    return fail(c, "%s%s must be an integer %d..%d, got %s", label, field, lo, hi,
                describe(got, sizeof(got), v));
}

static int get_name(ctx_t *c, const char *label, const json_t *v, char *dst)
{
    char got[ECHO_BUF], bad[8];
    const char *s;
    size_t len;

    if (!json_is_string(v))
        return fail(c, "%sname must be a string of " NAME_RULE ", got %s", label,
                    describe(got, sizeof(got), v));
    s = json_string_value(v);
    len = json_string_length(v);
    if (len == 0)
        return fail(c, "%sname is empty; use " NAME_RULE, label);
    if (len > HUB_DMX_NAME_MAX)
        return fail(c, "%sname %s is %zu characters long; use " NAME_RULE, label,
                    echo(got, sizeof(got), s, len, ECHO_MAX, 1), len);
    for (size_t i = 0; i < len; i++)
        if (!is_name_char((unsigned char)s[i]))
            return fail(c, "%sname %s has the character '%s' at position %zu; use " NAME_RULE,
                        label, echo(got, sizeof(got), s, len, ECHO_MAX, 1),
                        echo(bad, sizeof(bad), s + i, 1, 1, 0), i + 1);
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

static int parse_channels(ctx_t *c, const char *label, const json_t *v, hub_patch_fixture_t *f)
{
    char got[ECHO_BUF];
    int seen[HUB_ROLE_COUNT];
    size_t n;

    if (!json_is_array(v))
        return fail(c, "%schannels must be an array of role names (%s), got %s", label,
                    hub_dmx_role_list(), describe(got, sizeof(got), v));
    n = json_array_size(v);
    if (n == 0)
        return fail(c, "%schannels is empty; list 1 to %d role names (%s)", label,
                    HUB_DMX_FIXTURE_CH_MAX, hub_dmx_role_list());
    if (n > HUB_DMX_FIXTURE_CH_MAX)
        return fail(c, "%schannels has %zu entries; at most %d channels per fixture are accepted",
                    label, n, HUB_DMX_FIXTURE_CH_MAX);
    for (int r = 0; r < HUB_ROLE_COUNT; r++)
        seen[r] = -1;
    for (size_t j = 0; j < n; j++) {
        const json_t *e = json_array_get(v, j);
        int role;
        if (!json_is_string(e))
            return fail(c, "%schannels[%zu] must be a role name, got %s; accepted: %s", label, j,
                        describe(got, sizeof(got), e), hub_dmx_role_list());
        role = hub_dmx_role_parse(json_string_value(e), json_string_length(e));
        if (role < 0)
            return fail(c, "%schannels[%zu] %s is not a known role; accepted: %s", label, j,
                        describe(got, sizeof(got), e), hub_dmx_role_list());
        if (seen[role] >= 0)
            return fail(c,
                        "%schannels[%zu] \"%s\" is listed twice (also channels[%d]); "
                        "a role may appear once per fixture",
                        label, j, hub_dmx_role_name(role), seen[role]);
        seen[role] = (int)j;
        f->roles[j] = (unsigned char)role;
    }
    f->nch = (int)n;
    return 0;
}

static int parse_fixture(ctx_t *c, const json_t *o, size_t i, hub_patch_fixture_t *f)
{
    char label[LABEL_BUF], got[ECHO_BUF];
    int rc;

    entity_label(label, sizeof(label), "fixture", "fixtures", o, i);
    if (!json_is_object(o))
        return fail(c,
                    "%smust be an object with the keys name, universe, address, channels, "
                    "got %s",
                    label, describe(got, sizeof(got), o));
    rc = check_keys(c, label, o, fixture_keys, 4, "name, universe, address, channels",
                    "name, universe, address, channels");
    if (rc == 0)
        rc = get_name(c, label, json_object_get(o, "name"), f->name);
    if (rc == 0)
        rc = get_int(c, label, "universe", json_object_get(o, "universe"), HUB_DMX_UNIVERSE_MIN,
                     HUB_DMX_UNIVERSE_MAX, &f->universe);
    if (rc == 0)
        rc = get_int(c, label, "address", json_object_get(o, "address"), 1, HUB_DMX_SLOTS,
                     &f->address);
    if (rc == 0)
        rc = parse_channels(c, label, json_object_get(o, "channels"), f);
    if (rc == 0 && f->address + f->nch - 1 > HUB_DMX_SLOTS)
        rc = fail(c, "%saddress %d with %d channels does not fit in %d slots (channels %d-%d)",
                  label, f->address, f->nch, HUB_DMX_SLOTS, f->address, f->address + f->nch - 1);
    return rc;
}

/* "channel 5" or "channels 5-8". */
static const char *channels(char *buf, size_t size, int first, int last)
{
    if (first == last)
        snprintf(buf, size, "channel %d", first);
    else
        snprintf(buf, size, "channels %d-%d", first, last);
    return buf;
}

static void set_implicit_demo(hub_patch_fixture_t *f, int demo_universe)
{
    memset(f, 0, sizeof(*f));
    strcpy(f->name, HUB_DMX_DEMO_NAME);
    f->universe = demo_universe;
    f->address = 1;
    f->nch = 3;
    f->roles[0] = HUB_ROLE_RED;
    f->roles[1] = HUB_ROLE_GREEN;
    f->roles[2] = HUB_ROLE_BLUE;
    f->implicit = 1;
}

static void fixture_label(char *buf, size_t size, const hub_patch_fixture_t *f, size_t i)
{
    snprintf(buf, size, "fixture \"%s\" (fixtures[%zu])", f->name, i);
}

/* A file-defined demo replaces the implicit one, so it must still serve /rgb. */
static int check_file_demo(ctx_t *c, const hub_patch_fixture_t *f, size_t i)
{
    static const int need[] = {HUB_ROLE_RED, HUB_ROLE_GREEN, HUB_ROLE_BLUE};
    char label[LABEL_BUF];

    for (size_t k = 0; k < sizeof(need) / sizeof(need[0]); k++)
        if (hub_patch_role_channel(f, need[k]) < 0) {
            fixture_label(label, sizeof(label), f, i);
            return fail(c,
                        "%s: has no \"%s\" channel; the fixture named \"demo\" backs /rgb and "
                        "needs the roles red, green and blue",
                        label, hub_dmx_role_name(need[k]));
        }
    return 0;
}

static int check_implicit_demo(ctx_t *c, const hub_patch_fixture_t *fx, size_t n, int demo_u)
{
    char label[LABEL_BUF], range[40];

    for (size_t i = 0; i < n; i++) {
        const hub_patch_fixture_t *f = &fx[i];
        if (f->universe != demo_u || f->address > 3)
            continue;
        fixture_label(label, sizeof(label), f, i);
        return fail(c,
                    "%s: uses %s on universe %d, overlapping the implicit demo fixture, which "
                    "backs /rgb: the implicit demo fixture occupies channels 1-3 of universe %d; "
                    "define a fixture named \"demo\" elsewhere or move this fixture",
                    label, channels(range, sizeof(range), f->address, f->address + f->nch - 1),
                    demo_u, demo_u);
    }
    return 0;
}

static int cmp_span(const void *a, const void *b)
{
    const span_t *x = a, *y = b;

    if (x->universe != y->universe)
        return x->universe < y->universe ? -1 : 1;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorted by (universe, first channel), ranges on a universe are disjoint iff
 * each ends before the next begins, so neighbours are all we compare. */
static int check_overlaps(ctx_t *c, const hub_patch_fixture_t *fx, size_t n)
{
    span_t *s;
    int rc = 0;

    if (n < 2)
        return 0;
    s = hub_malloc(n * sizeof(*s));
    for (size_t i = 0; i < n; i++)
        s[i] = (span_t){fx[i].universe, fx[i].address, fx[i].address + fx[i].nch - 1, i};
    qsort(s, n, sizeof(*s), cmp_span);
    for (size_t k = 1; k < n && rc == 0; k++) {
        const span_t *a = &s[k - 1], *b = &s[k];
        char la[LABEL_BUF], lb[LABEL_BUF], ra[40], rb[40], both[40];
        if (a->universe != b->universe || b->first > a->last)
            continue;
        if (a->index > b->index) { /* name the later one in the file first */
            const span_t *t = a;
            a = b;
            b = t;
        }
        fixture_label(la, sizeof(la), &fx[a->index], a->index);
        fixture_label(lb, sizeof(lb), &fx[b->index], b->index);
        rc = fail(c, "%s: uses %s on universe %d, overlapping %s of %s; both use %s", lb,
                  channels(rb, sizeof(rb), b->first, b->last), b->universe,
                  channels(ra, sizeof(ra), a->first, a->last), la,
                  channels(both, sizeof(both), a->first > b->first ? a->first : b->first,
                           a->last < b->last ? a->last : b->last));
    }
    hub_free(s);
    return rc;
}

/* used[u] is set for each declared universe. */
static int parse_universes(ctx_t *c, const json_t *v, unsigned char *used)
{
    char got[ECHO_BUF], field[32];
    size_t n;
    int u = 0, rc;

    if (!json_is_array(v))
        return fail(c, "universes must be an array of universe numbers %d..%d, got %s",
                    HUB_DMX_UNIVERSE_MIN, HUB_DMX_UNIVERSE_MAX, describe(got, sizeof(got), v));
    n = json_array_size(v);
    if (n > HUB_DMX_MAX_UNIVERSES)
        return fail(c, "universes has %zu entries; at most %d universes are accepted", n,
                    HUB_DMX_MAX_UNIVERSES);
    for (size_t i = 0; i < n; i++) {
        snprintf(field, sizeof(field), "universes[%zu]", i);
        rc = get_int(c, "", field, json_array_get(v, i), HUB_DMX_UNIVERSE_MIN, HUB_DMX_UNIVERSE_MAX,
                     &u);
        if (rc)
            return rc;
        if (used[u]) {
            size_t j = 0; /* only on error: find the earlier one */
            while (json_integer_value(json_array_get(v, j)) != u)
                j++;
            return fail(c, "universes[%zu]: %d is listed twice (also universes[%zu])", i, u, j);
        }
        used[u] = 1;
    }
    return 0;
}

static int parse_fixtures(ctx_t *c, const json_t *v, hub_patch_t *p, int *has_demo)
{
    char got[ECHO_BUF], label[LABEL_BUF];
    json_t *names;
    size_t n;
    int rc = 0;

    if (!json_is_array(v))
        return fail(c, "fixtures must be an array of fixture objects, got %s",
                    describe(got, sizeof(got), v));
    n = json_array_size(v);
    if (n > HUB_DMX_MAX_FIXTURES)
        return fail(c, "fixtures has %zu entries; at most %d fixtures are accepted", n,
                    HUB_DMX_MAX_FIXTURES);
    /* One spare slot for the implicit demo. */
    p->fixtures = hub_calloc(n + 1, sizeof(*p->fixtures));
    names = json_object();
    for (size_t i = 0; i < n && rc == 0; i++) {
        hub_patch_fixture_t *f = &p->fixtures[i];
        const json_t *prev;
        rc = parse_fixture(c, json_array_get(v, i), i, f);
        if (rc)
            break;
        prev = json_object_get(names, f->name);
        if (prev) {
            fixture_label(label, sizeof(label), f, i);
            rc = fail(c,
                      "%s: name \"%s\" is already used by fixtures[%" JSON_INTEGER_FORMAT
                      "]; fixture names must be unique",
                      label, f->name, json_integer_value(prev));
            break;
        }
        json_object_set_new(names, f->name, json_integer((json_int_t)i));
        if (strcmp(f->name, HUB_DMX_DEMO_NAME) == 0)
            *has_demo = 1;
        p->nfixtures = i + 1;
    }
    json_decref(names);
    return rc;
}

static int parse_poi(ctx_t *c, const json_t *o, size_t i, hub_patch_poi_t *poi)
{
    char label[LABEL_BUF], got[ECHO_BUF];
    const json_t *v;
    int rc;

    entity_label(label, sizeof(label), "poi", "pois", o, i);
    if (!json_is_object(o))
        return fail(c, "%smust be an object with the keys name, pan, tilt, got %s", label,
                    describe(got, sizeof(got), o));
    rc = check_keys(c, label, o, poi_keys, 3, "name, pan, tilt, pan_fine, tilt_fine",
                    "name, pan, tilt");
    if (rc == 0)
        rc = get_name(c, label, json_object_get(o, "name"), poi->name);
    if (rc == 0)
        rc = get_int(c, label, "pan", json_object_get(o, "pan"), 0, 255, &poi->pan);
    if (rc == 0)
        rc = get_int(c, label, "tilt", json_object_get(o, "tilt"), 0, 255, &poi->tilt);
    if (rc == 0 && (v = json_object_get(o, "pan_fine")) != NULL)
        rc = get_int(c, label, "pan_fine", v, 0, 255, &poi->pan_fine);
    if (rc == 0 && (v = json_object_get(o, "tilt_fine")) != NULL)
        rc = get_int(c, label, "tilt_fine", v, 0, 255, &poi->tilt_fine);
    return rc;
}

static int parse_pois(ctx_t *c, const json_t *v, hub_patch_t *p)
{
    char got[ECHO_BUF], label[LABEL_BUF];
    json_t *names;
    size_t n;
    int rc = 0;

    if (!json_is_array(v))
        return fail(c, "pois must be an array of POI objects, got %s",
                    describe(got, sizeof(got), v));
    n = json_array_size(v);
    if (n > HUB_DMX_MAX_POIS)
        return fail(c, "pois has %zu entries; at most %d POIs are accepted", n, HUB_DMX_MAX_POIS);
    if (n == 0)
        return 0;
    p->pois = hub_calloc(n, sizeof(*p->pois));
    names = json_object();
    for (size_t i = 0; i < n && rc == 0; i++) {
        hub_patch_poi_t *poi = &p->pois[i];
        const json_t *prev;
        rc = parse_poi(c, json_array_get(v, i), i, poi);
        if (rc)
            break;
        prev = json_object_get(names, poi->name);
        if (prev) {
            snprintf(label, sizeof(label), "poi \"%s\" (pois[%zu])", poi->name, i);
            rc = fail(c,
                      "%s: name \"%s\" is already used by pois[%" JSON_INTEGER_FORMAT
                      "]; POI names must be unique",
                      label, poi->name, json_integer_value(prev));
            break;
        }
        json_object_set_new(names, poi->name, json_integer((json_int_t)i));
        p->npois = i + 1;
    }
    json_decref(names);
    return rc;
}

/* p->universes = the set bits of used, plus demo_u when it lies outside the
 * range used covers (it is then never a file fixture's universe). */
static int collect_universes(ctx_t *c, const unsigned char *used, int demo_u, int implicit,
                             hub_patch_t *p)
{
    int outside = implicit && (demo_u < HUB_DMX_UNIVERSE_MIN || demo_u > HUB_DMX_UNIVERSE_MAX);
    size_t n = (size_t)outside, k = 0;

    for (int u = HUB_DMX_UNIVERSE_MIN; u <= HUB_DMX_UNIVERSE_MAX; u++)
        n += used[u];
    if (n > HUB_DMX_MAX_UNIVERSES)
        return fail(c,
                    "%zu universes are in use (declared, fixtures' and the implicit demo's); "
                    "at most %d universes are accepted",
                    n, HUB_DMX_MAX_UNIVERSES);
    p->universes = hub_malloc(n * sizeof(*p->universes));
    if (outside && demo_u < HUB_DMX_UNIVERSE_MIN)
        p->universes[k++] = demo_u;
    for (int u = HUB_DMX_UNIVERSE_MIN; u <= HUB_DMX_UNIVERSE_MAX; u++)
        if (used[u])
            p->universes[k++] = u;
    if (outside && demo_u > HUB_DMX_UNIVERSE_MAX)
        p->universes[k++] = demo_u;
    p->nuniverses = k;
    return 0;
}

static int build(ctx_t *c, const json_t *root, int demo_u, hub_patch_t *p, unsigned char *used)
{
    char got[ECHO_BUF];
    const json_t *v;
    int rc, has_demo = 0;

    if (root == NULL)
        return fail(c, "no JSON value; expected an object with the keys universes, fixtures, pois");
    if (!json_is_object(root))
        return fail(c,
                    "the top level must be an object with the keys universes, fixtures, pois, "
                    "got %s",
                    describe(got, sizeof(got), root));
    rc = check_keys(c, "top level: ", root, top_keys, 0, "universes, fixtures, pois", "");
    if (rc == 0 && (v = json_object_get(root, "universes")) != NULL)
        rc = parse_universes(c, v, used);
    if (rc == 0 && (v = json_object_get(root, "fixtures")) != NULL)
        rc = parse_fixtures(c, v, p, &has_demo);
    if (rc)
        return rc;
    if (p->fixtures == NULL)
        p->fixtures = hub_calloc(1, sizeof(*p->fixtures));
    if (has_demo) {
        for (size_t i = 0; i < p->nfixtures && rc == 0; i++)
            if (strcmp(p->fixtures[i].name, HUB_DMX_DEMO_NAME) == 0)
                rc = check_file_demo(c, &p->fixtures[i], i);
    } else {
        rc = check_implicit_demo(c, p->fixtures, p->nfixtures, demo_u);
    }
    if (rc == 0)
        rc = check_overlaps(c, p->fixtures, p->nfixtures);
    if (rc == 0 && (v = json_object_get(root, "pois")) != NULL)
        rc = parse_pois(c, v, p);
    if (rc)
        return rc;
    for (size_t i = 0; i < p->nfixtures; i++)
        used[p->fixtures[i].universe] = 1;
    if (!has_demo) {
        set_implicit_demo(&p->fixtures[p->nfixtures++], demo_u);
        if (demo_u >= HUB_DMX_UNIVERSE_MIN && demo_u <= HUB_DMX_UNIVERSE_MAX)
            used[demo_u] = 1;
    }
    return collect_universes(c, used, demo_u, !has_demo, p);
}

int hub_patch_from_json(const json_t *root, const char *path, int demo_universe, hub_patch_t *out,
                        char *err, size_t errlen)
{
    ctx_t c = {path ? path : "patch file", err, errlen};
    hub_patch_t p = {0};
    unsigned char *used;
    int rc;

    memset(out, 0, sizeof(*out));
    if (err && errlen)
        err[0] = '\0';
    used = hub_calloc(UNIVERSE_SPAN, 1);
    rc = build(&c, root, demo_universe, &p, used);
    hub_free(used);
    if (rc) {
        hub_patch_free(&p);
        return rc;
    }
    *out = p;
    return 0;
}

int hub_patch_parse(const char *text, size_t len, const char *path, int demo_universe,
                    hub_patch_t *out, char *err, size_t errlen)
{
    ctx_t c = {path ? path : "patch file", err, errlen};
    char why[JSON_ERROR_TEXT_LENGTH * 4 + 8];
    json_error_t je;
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if (err && errlen)
        err[0] = '\0';
    if (text == NULL || len == 0)
        return fail(&c, "the file is empty; expected a JSON object with the keys universes, "
                        "fixtures, pois");
    /* DECODE_ANY: a bare 3 gets the "must be an object" message, not a parse error. */
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (root == NULL)
        return fail(&c, "not valid JSON at line %d column %d: %s", je.line, je.column,
                    echo(why, sizeof(why), je.text, strlen(je.text), JSON_ERROR_TEXT_LENGTH, 0));
    rc = hub_patch_from_json(root, path, demo_universe, out, err, errlen);
    json_decref(root);
    return rc;
}

void hub_patch_default(int demo_universe, hub_patch_t *out)
{
    memset(out, 0, sizeof(*out));
    out->fixtures = hub_calloc(1, sizeof(*out->fixtures));
    set_implicit_demo(&out->fixtures[0], demo_universe);
    out->nfixtures = 1;
    out->universes = hub_malloc(sizeof(*out->universes));
    out->universes[0] = demo_universe;
    out->nuniverses = 1;
}

void hub_patch_free(hub_patch_t *p)
{
    if (p == NULL)
        return;
    hub_free(p->universes);
    hub_free(p->fixtures);
    hub_free(p->pois);
    memset(p, 0, sizeof(*p));
}

const hub_patch_fixture_t *hub_patch_fixture(const hub_patch_t *p, const char *name)
{
    if (p == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < p->nfixtures; i++)
        if (strcmp(p->fixtures[i].name, name) == 0)
            return &p->fixtures[i];
    return NULL;
}

int hub_patch_role_channel(const hub_patch_fixture_t *f, int role)
{
    if (f == NULL)
        return -1;
    for (int i = 0; i < f->nch; i++)
        if (f->roles[i] == role)
            return i;
    return -1;
}
