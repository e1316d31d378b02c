/* domains/schedules/events.c - events and their intents.
 *
 *   event.create {event}                 a new event; its id is the next one
 *                                        (never reused, schedule_meta)
 *   event.update {id, event}             whole replacement (seed 004's PUT);
 *                {id, seed}              or seed 004's camelCase keys, merged
 *                                        into the event (its PUT route)
 *   event.delete {id}                    a running occurrence's on_end runs
 *   event.detach {id, date, event?|seed?} seed 004: an EXDATE for that UTC
 *                                        date's occurrence on the series and a
 *                                        standalone copy of it, overrides
 *                                        applied; its hook records move with it
 *
 * Everything is validated before anything changes; a refused intent leaves
 * the state as it was. Each change of an event marks its group edited, so
 * the group's next power intent gets a fresh intent_id (seed 004), and its
 * announce asks for a cycle at once.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "domains/scenes/model.h"
#include "domains/schedules/schedules_int.h"

#define FMAX 96 /* an error field path */

static const char *const common_keys[] = {"id",         "group_id", "title", "subject",
                                          "event_type", "start",    "end",   "occurrence_start",
                                          "recurring",  NULL};

/* ---- small parsers ------------------------------------------------------------------------ */

static int as_int(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (x == floor(x) && fabs(x) < 9.0e15) {
            *out = (int64_t)x;
            return 0;
        }
    }
    return -1;
}

int64_t sch__id_of(const json_t *v)
{
    int64_t id;
    if (as_int(v, &id) == 0)
        return id > 0 ? id : 0;
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    id = strtoll(s, NULL, 10);
    return id > 0 ? id : 0;
}

int sch__time_parse_any(const char *s, size_t n, int64_t *ms)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf) - 2)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (n > 6 && strcmp(buf + n - 6, "+00:00") == 0) {
        n -= 6;
        buf[n] = '\0';
    }
    if (buf[n - 1] != 'Z') {
        buf[n++] = 'Z';
        buf[n] = '\0';
    }
    return sch_time_parse(buf, n, ms, NULL) == 0 ? 0 : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Compact JSON with integral numbers as integers (heap, NUL-terminated). */
static char *dump(const json_t *v)
{
    json_t *c = json_deep_copy(v);
    hub_json_normalize_numbers(c);
    char *t = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(c);
    char *out = hub_strdup(t ? t : "null");
    free(t);
    return out;
}

void sch__event_members(sch_event_t *ev)
{
    hub_jbuf_t b;
    json_t *c = ev->content ? json_loads(ev->content, 0, NULL) : NULL;
    const char *key;
    json_t *v;

    hub_free(ev->members);
    ev->members = NULL;
    hub_jbuf_init(&b);
    hub_jbuf_raw(&b, "", 0);
    json_object_foreach(c, key, v)
    {
        int common = 0;
        for (const char *const *k = common_keys; *k && !common; k++)
            common = strcmp(*k, key) == 0;
        if (common)
            continue; /* content never overrides the common fields */
        char *t = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        hub_jbuf_lit(&b, ",");
        hub_jbuf_key(&b, key);
        hub_jbuf_json(&b, t, strlen(t));
        free(t);
    }
    json_decref(c);
    ev->members = hub_jbuf_take(&b, NULL);
}

/* ---- an event from JSON ---------------------------------------------------------------------- */

/* "<prefix>.<key> <msg>[: <detail>]" */
static int fail_field(hub_apply_t *ap, const char *prefix, const char *key, const char *msg,
                      const char *detail)
{
    char f[FMAX];
    snprintf(f, sizeof(f), "%s.%s", prefix, key);
    return hub_apply_fail(ap, HUB_ERR_INVALID, f, "%s %s%s%s", f, msg, detail ? ": " : "",
                          detail ? detail : "");
}

static int take_time(hub_apply_t *ap, const json_t *o, const char *prefix, const char *key,
                     int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    char f[FMAX];
    snprintf(f, sizeof(f), "%s.%s", prefix, key);
    if (!json_is_string(v))
        return hub_apply_fail(ap, HUB_ERR_INVALID, f,
                              "%s is required: an RFC 3339 UTC time such as "
                              "\"2026-03-31T10:15:30Z\"",
                              f);
    int rc = sch_time_parse(json_string_value(v), json_string_length(v), out, NULL);
    if (rc != 0)
        return hub_apply_fail(ap, HUB_ERR_INVALID, f,
                              "%s \"%.40s\": %s (e.g. 2026-03-31T10:15:30Z)", f,
                              json_string_value(v), sch_time_error(rc));
    return 0;
}

static int take_actions(hub_apply_t *ap, const json_t *v, const char *prefix, const char *key,
                        char **out)
{
    char f[FMAX];
    hub_error_t err;
    scn_scene_t sc;

    *out = NULL;
    if (v == NULL || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0))
        return 0;
    snprintf(f, sizeof(f), "%s.%s", prefix, key);
    if (!json_is_array(v))
        return hub_apply_fail(ap, HUB_ERR_INVALID, f,
                              "%s must be a list of actions like a scene's "
                              "([{\"topic\":…,\"message\":…}, …]) or null",
                              f);
    json_t *c = json_deep_copy(v);
    hub_json_normalize_numbers(c);
    memset(&err, 0, sizeof(err));
    int rc = scn_parse_actions(c, f, &sc, &err);
    scn_scene_free(&sc);
    if (rc != 0) {
        json_decref(c);
        return hub_apply_fail(ap, err.code ? err.code : HUB_ERR_INVALID,
                              err.field[0] ? err.field : f, "%s",
                              err.msg[0] ? err.msg : "invalid actions");
    }
    char *t = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(c);
    if (t == NULL || strlen(t) > SCH_ACTIONS_MAX) {
        free(t);
        return hub_apply_fail(ap, HUB_ERR_INVALID, f, "%s: at most %d bytes of actions", f,
                              SCH_ACTIONS_MAX);
    }
    *out = hub_strdup(t);
    free(t);
    return 0;
}

static void clear_fields(sch_event_t *e)
{
    hub_free(e->title);
    hub_free(e->rrule);
    hub_free(e->exdates);
    hub_free(e->content);
    hub_free(e->members);
    hub_free(e->on_start);
    hub_free(e->on_end);
    hub_free(e->occ);
    memset(e, 0, sizeof(*e));
}

static void emit_count(void *ud, int64_t s, int64_t e)
{
    (void)s;
    (void)e;
    ++*(long *)ud;
}

/* A whole event object (ours) into out: every field validated, nothing of
 * the domain changed. prefix names the object in error fields ("event").
 * single: a detached occurrence (rrule and exdates are refused). 0, or
 * HUB_EINVAL with ap failed and out empty. */
static int parse_inner(hub_apply_t *ap, const json_t *o, const char *prefix, int single,
                       sch_event_t *out)
{
    static const char *const keys[] = {"group_id",   "title",      "type",    "start",
                                       "end",        "rrule",      "exdates", "content",
                                       "on_start",   "on_end",     "id",      "detached_from",
                                       "created_at", "updated_at", NULL};
    const char *key;
    json_t *v;
    char f[FMAX];

    memset(out, 0, sizeof(*out));
    if (!json_is_object(o))
        return hub_apply_fail(ap, HUB_ERR_INVALID, prefix,
                              "%s must be an object: {\"group_id\", \"title\", \"type\", "
                              "\"start\", \"end\", \"rrule\"?, \"exdates\"?, \"content\"?, "
                              "\"on_start\"?, \"on_end\"?}",
                              prefix);
    json_object_foreach((json_t *)o, key, v)
    {
        int ok = 0;
        for (const char *const *k = keys; *k && !ok; k++)
            ok = strcmp(*k, key) == 0;
        if (!ok) {
            snprintf(f, sizeof(f), "%s.%.40s", prefix, key);
            return hub_apply_fail(ap, HUB_ERR_INVALID, f,
                                  "unknown field \"%.40s\" in %s: accepted are group_id, title, "
                                  "type, start, end, rrule, exdates, content, on_start, on_end",
                                  key, prefix);
        }
    }
    /* group_id: required, null = the hub itself */
    v = json_object_get(o, "group_id");
    if (v == NULL)
        return fail_field(ap, prefix, "group_id",
                          "is required: a group id (0..2147483647), or null for the hub itself",
                          NULL);
    if (json_is_null(v)) {
        out->group = SCH_HUB;
    } else if (as_int(v, &out->group) != 0 || out->group < 0 || out->group > SCH_GROUP_MAX) {
        return fail_field(ap, prefix, "group_id",
                          "must be a group id (an integer 0..2147483647) or null", NULL);
    }
    v = json_object_get(o, "title");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > SCH_TITLE_MAX)
        return fail_field(ap, prefix, "title", "is required: a string of 1..256 bytes", NULL);
    v = json_object_get(o, "type");
    if (v == NULL || json_is_null(v)) {
        snprintf(out->type, sizeof(out->type), "other");
    } else {
        const char *t = json_string_value(v);
        size_t n = t ? json_string_length(v) : 0;
        int ok = n >= 1 && n <= SCH_TYPE_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = (t[i] >= 'a' && t[i] <= 'z') || t[i] == '_';
        if (!ok)
            return fail_field(ap, prefix, "type",
                              "must be 1..32 of a-z and _ (presentation, website, video, "
                              "message, webuntis, other, …)",
                              NULL);
        memcpy(out->type, t, n);
        out->type[n] = '\0';
    }
    if (take_time(ap, o, prefix, "start", &out->start) != 0 ||
        take_time(ap, o, prefix, "end", &out->end) != 0)
        return HUB_EINVAL;
    if (out->end <= out->start)
        return fail_field(ap, prefix, "end", "must be after start", NULL);

    /* rrule */
    v = json_object_get(o, "rrule");
    const char *rr = json_string_value(v);
    if (v != NULL && !json_is_null(v) && rr == NULL)
        return fail_field(ap, prefix, "rrule",
                          "must be an RFC 5545 RRULE such as \"FREQ=WEEKLY;BYDAY=MO,WE\", or null",
                          NULL);
    if (rr != NULL && strncmp(rr, "RRULE:", 6) == 0)
        rr += 6;
    if (rr != NULL && rr[0] != '\0') {
        char err[200];
        if (single)
            return fail_field(ap, prefix, "rrule",
                              "is refused: a detached occurrence is a single event", NULL);
        if (strlen(rr) > SCH_RRULE_MAX)
            return fail_field(ap, prefix, "rrule", "is too long: at most 1024 bytes", NULL);
        if (sch_rrule_check(rr, err, sizeof(err)) != 0)
            return fail_field(ap, prefix, "rrule", "is not a valid RRULE", err);
    } else {
        rr = NULL;
    }

    /* exdates */
    v = json_object_get(o, "exdates");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) > SCH_EXDATES_MAX)
            return fail_field(ap, prefix, "exdates",
                              "must be a list of at most 1000 occurrence starts "
                              "(\"2026-04-01T08:00:00Z\" or \"20260401T080000Z\")",
                              NULL);
        if (single && json_array_size(v) > 0)
            return fail_field(ap, prefix, "exdates",
                              "is refused: a detached occurrence is a single event", NULL);
        size_t n = json_array_size(v);
        int64_t *x = hub_malloc((n ? n : 1) * sizeof(*x));
        for (size_t i = 0; i < n; i++) {
            const json_t *s = json_array_get(v, i);
            int rc = json_is_string(s)
                         ? sch_exdate_parse(json_string_value(s), json_string_length(s), &x[i])
                         : SCH_TIME_ESYNTAX;
            if (rc != 0) {
                hub_free(x);
                snprintf(f, sizeof(f), "%s.exdates[%zu]", prefix, i);
                return hub_apply_fail(ap, HUB_ERR_INVALID, f,
                                      "%s: %s (an occurrence start such as "
                                      "\"2026-04-01T08:00:00Z\" or \"20260401T080000Z\")",
                                      f, sch_time_error(rc));
            }
        }
        if (n > 1)
            qsort(x, n, sizeof(*x), cmp_i64);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (k == 0 || x[k - 1] != x[i])
                x[k++] = x[i];
        out->exdates = x;
        out->nexdates = k;
    }

    /* the series must occur at least once (exdates aside: a series whose
     * occurrences were all detached is still valid) */
    {
        char err[200];
        long count = 0;
        sch_series_t s = {.start = out->start, .end = out->end, .rrule = rr};
        long rc =
            sch_expand(&s, out->start, SCH_TIME_MAX_MS, 1, emit_count, &count, err, sizeof(err));
        if (rc <= 0) {
            hub_free(out->exdates);
            out->exdates = NULL;
            return fail_field(ap, prefix, rr ? "rrule" : "start",
                              "never occurs from the event's start",
                              rc < 0 ? err : "no occurrence");
        }
    }

    /* content */
    v = json_object_get(o, "content");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_object(v)) {
            hub_free(out->exdates);
            out->exdates = NULL;
            return fail_field(ap, prefix, "content",
                              "must be a JSON object (the devices' event data) or null", NULL);
        }
        char *t = dump(v);
        if (strlen(t) > SCH_CONTENT_MAX) {
            hub_free(t);
            hub_free(out->exdates);
            out->exdates = NULL;
            return fail_field(ap, prefix, "content", "is too large: at most 65536 bytes of JSON",
                              NULL);
        }
        out->content = t;
    }
    if (take_actions(ap, json_object_get(o, "on_start"), prefix, "on_start", &out->on_start) != 0 ||
        take_actions(ap, json_object_get(o, "on_end"), prefix, "on_end", &out->on_end) != 0) {
        clear_fields(out);
        return HUB_EINVAL;
    }
    out->title = hub_strdup(json_string_value(json_object_get(o, "title")));
    out->rrule = rr ? hub_strdup(rr) : NULL;
    sch__event_members(out);
    return 0;
}

static int parse_event(hub_apply_t *ap, const json_t *o, const char *prefix, int single,
                       sch_event_t *out)
{
    int rc = parse_inner(ap, o, prefix, single, out);
    if (rc != 0)
        clear_fields(out);
    return rc;
}

/* ---- seed 004's camelCase keys ------------------------------------------------------------- */

/* A time from seed 004's REST (naive UTC allowed) as our RFC 3339 text. */
static json_t *seed_time(const json_t *v)
{
    int64_t ms;
    char t[32];
    if (!json_is_string(v) ||
        sch__time_parse_any(json_string_value(v), json_string_length(v), &ms) != 0)
        return NULL;
    sch_time_format(ms, ms % 1000 != 0, t);
    return json_string(t);
}

/* recurrenceException: Syncfusion's comma-separated compact EXDATEs (or a list). */
static json_t *seed_exdates(const json_t *v)
{
    json_t *a = json_array();
    if (json_is_array(v)) {
        json_decref(a);
        return json_deep_copy(v);
    }
    if (!json_is_string(v))
        return a; /* null: none */
    const char *s = json_string_value(v);
    while (*s) {
        while (*s == ',' || *s == ' ')
            s++;
        size_t n = strcspn(s, ", ");
        if (n > 0)
            json_array_append_new(a, json_stringn(s, n));
        s += n;
    }
    return a;
}

/* Overlay seed 004's keys on an event object (ours). Unknown keys are
 * ignored, as seed 004's Flask routes ignore them. 0 or HUB_EINVAL. */
static int seed_overlay(hub_apply_t *ap, json_t *o, const json_t *seed)
{
    static const char *const times[][2] = {{"startTime", "start"}, {"endTime", "end"}};
    const json_t *v;

    if (!json_is_object(seed))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "",
                              "send a JSON object with the fields to change (subject, startTime, "
                              "endTime, type, groupId, recurrenceRule, recurrenceException)");
    if ((v = json_object_get(seed, "subject")) != NULL)
        json_object_set(o, "title", (json_t *)v);
    if ((v = json_object_get(seed, "type")) != NULL)
        json_object_set(o, "type", (json_t *)v);
    if ((v = json_object_get(seed, "groupId")) != NULL)
        json_object_set(o, "group_id", (json_t *)v);
    for (int i = 0; i < 2; i++) {
        if ((v = json_object_get(seed, times[i][0])) == NULL)
            continue;
        json_t *t = seed_time(v);
        if (t == NULL)
            return hub_apply_fail(ap, HUB_ERR_INVALID, times[i][0],
                                  "%s must be an ISO date-time in UTC, e.g. "
                                  "2026-03-31T10:15:30",
                                  times[i][0]);
        json_object_set_new(o, times[i][1], t);
    }
    if ((v = json_object_get(seed, "recurrenceRule")) != NULL)
        json_object_set(o, "rrule", (json_t *)v);
    if ((v = json_object_get(seed, "recurrenceException")) != NULL)
        json_object_set_new(o, "exdates", seed_exdates(v));
    return 0;
}

/* The event as our JSON object (new reference). */
static json_t *event_object(const sch_event_t *ev)
{
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    sch__render_event(&b, ev);
    json_t *o = json_loadb(b.p, b.len, 0, NULL);
    hub_jbuf_free(&b);
    return o;
}

/* ---- intents ------------------------------------------------------------------------------- */

static sch_event_t *find(hub_schdom_t *d, hub_apply_t *ap, const json_t *p)
{
    const json_t *v = json_object_get(p, "id");
    int64_t id = sch__id_of(v);
    sch_event_t *ev = id > 0 ? sch__event(d, id) : NULL;
    if (ev == NULL && json_is_string(v))
        hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "id", "Event %.40s not found", json_string_value(v));
    else if (ev == NULL)
        hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "id", "Event %" PRId64 " not found", id);
    return ev;
}

static int check_room(hub_schdom_t *d, hub_apply_t *ap)
{
    if (d->nev < (size_t)d->cfg.max_events)
        return 0;
    return hub_apply_fail(ap, HUB_ERR_CONFLICT, "",
                          "at most %d events: delete past or unused ones first (a series counts "
                          "once)",
                          d->cfg.max_events);
}

static void commit_new(hub_schdom_t *d, hub_apply_t *ap, sch_event_t *ev)
{
    ev->id = d->next_id++;
    sch__event_insert(d, ev);
    sch__row_event(ap, ev);
    sch__row_next_id(ap, d->next_id);
    sch__change_event(ap, ev);
    sch__group_edited(d, ev->group);
}

int sch__apply_create(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"event", NULL};
    hub_schdom_t *d = ctx;
    sch_event_t tmp;

    if (hub_apply_check_keys(ap, p, keys) != 0 || check_room(d, ap) != 0 ||
        parse_event(ap, json_object_get(p, "event"), "event", 0, &tmp) != 0)
        return HUB_EINVAL;
    sch_event_t *ev = hub_calloc(1, sizeof(*ev));
    *ev = tmp;
    ev->created = ev->updated = (int64_t)hub_apply_ts_ms(ap);
    snprintf(ev->req_id, sizeof(ev->req_id), "%s", hub_apply_intent(ap)->req_id);
    commit_new(d, ap, ev);
    return 0;
}

int sch__apply_update(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"id", "event", "seed", NULL};
    hub_schdom_t *d = ctx;
    const json_t *body = json_object_get(p, "event"), *seed = json_object_get(p, "seed");
    sch_event_t tmp, *ev;
    int rc;

    if (hub_apply_check_keys(ap, p, keys) != 0 || (ev = find(d, ap, p)) == NULL)
        return HUB_EINVAL;
    if ((body == NULL) == (seed == NULL))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "event",
                              "send the whole event as \"event\" (or seed 004's fields as "
                              "\"seed\")");
    if (seed != NULL) {
        json_t *o = event_object(ev);
        rc = seed_overlay(ap, o, seed);
        if (rc == 0)
            rc = parse_event(ap, o, "event", 0, &tmp);
        json_decref(o);
    } else {
        const json_t *id = json_object_get(body, "id");
        if (id != NULL && sch__id_of(id) != ev->id)
            return hub_apply_fail(ap, HUB_ERR_INVALID, "event.id",
                                  "event.id must be the event's id (%" PRId64 ") or absent",
                                  ev->id);
        rc = parse_event(ap, body, "event", 0, &tmp);
    }
    if (rc != 0)
        return HUB_EINVAL;
    /* Seed 004 regenerates a series' exceptions when it moves: a seed PUT
     * that moves the start without recurrenceException moves them along
     * (else a detached day would occur twice: the copy and the moved one). */
    if (seed != NULL && tmp.rrule != NULL && json_object_get(seed, "startTime") != NULL &&
        json_object_get(seed, "recurrenceException") == NULL && tmp.start != ev->start)
        for (size_t i = 0; i < tmp.nexdates; i++)
            tmp.exdates[i] += tmp.start - ev->start;
    sch__group_edited(d, ev->group);
    int64_t from = ev->group;
    tmp.id = ev->id;
    tmp.detached_from = ev->detached_from;
    tmp.created = ev->created;
    tmp.updated = (int64_t)hub_apply_ts_ms(ap);
    memcpy(tmp.req_id, ev->req_id, sizeof(tmp.req_id));
    clear_fields(ev);
    *ev = tmp;
    sch__event_regroup(d, ev, from);
    sch__group_edited(d, ev->group);
    sch__row_event(ap, ev);
    sch__change_event(ap, ev);
    return 0;
}

int sch__apply_delete(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"id", NULL};
    hub_schdom_t *d = ctx;
    sch_event_t *ev;

    if (hub_apply_check_keys(ap, p, keys) != 0 || (ev = find(d, ap, p)) == NULL)
        return HUB_EINVAL;
    /* A running occurrence ends with its event: its on_end runs (once; the
     * event's records go with it, and its id is never reused). */
    for (size_t i = 0; i < d->nfired;) {
        sch_fired_t *f = &d->fired[i];
        if (f->event_id != ev->id) {
            i++;
            continue;
        }
        if (f->start_at != 0 && f->end_at == 0)
            sch__hook_queue(d, hub_apply_seq(ap), ev, f->occ, 1);
        sch__fired_remove(d, i);
    }
    sch__event_remove(d, ev->id);
    sch__group_edited(d, ev->group);
    sch__row_event_delete(ap, ev->id);
    sch__change_event_gone(ap, ev->id);
    sch__event_free(ev);
    return 0;
}

static void emit_first(void *ud, int64_t s, int64_t e)
{
    int64_t *o = ud;
    if (o[0] == 0 && s >= o[2]) {
        o[0] = s;
        o[1] = e;
    }
}

int sch__apply_detach(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"id", "date", "event", "seed", NULL};
    static const char *const over_keys[] = {"group_id", "title",    "type",   "start", "end",
                                            "content",  "on_start", "on_end", NULL};
    hub_schdom_t *d = ctx;
    const char *date = json_string_value(json_object_get(p, "date"));
    const json_t *over = json_object_get(p, "event"), *seed = json_object_get(p, "seed");
    sch_event_t *ev, tmp;
    int64_t day;
    char err[200], buf[32];

    if (hub_apply_check_keys(ap, p, keys) != 0 || (ev = find(d, ap, p)) == NULL)
        return HUB_EINVAL;
    int ok = date != NULL && strlen(date) == 10 && date[4] == '-' && date[7] == '-';
    for (int i = 0; ok && i < 10; i++)
        ok = i == 4 || i == 7 || isdigit((unsigned char)date[i]);
    if (ok) {
        snprintf(buf, sizeof(buf), "%sT00:00:00Z", date);
        ok = sch_time_parse(buf, strlen(buf), &day, NULL) == 0;
    }
    if (!ok)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "date",
                              "date must be the occurrence's UTC date as YYYY-MM-DD");
    if (ev->rrule == NULL)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "id",
                              "event %" PRId64 " is not recurring: edit it instead", ev->id);
    if (over != NULL && seed != NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "event", "send overrides once");
    if (over != NULL && !json_is_null(over)) {
        const char *key;
        json_t *v;
        if (!json_is_object(over))
            return hub_apply_fail(ap, HUB_ERR_INVALID, "event",
                                  "event must be an object of the fields to change");
        json_object_foreach((json_t *)over, key, v)
        {
            int known = 0;
            for (const char *const *k = over_keys; *k && !known; k++)
                known = strcmp(*k, key) == 0;
            if (!known) {
                char f[FMAX];
                snprintf(f, sizeof(f), "event.%.40s", key);
                return hub_apply_fail(ap, HUB_ERR_INVALID, f,
                                      "%s cannot be overridden: a detached occurrence takes "
                                      "group_id, title, type, start, end, content, on_start, "
                                      "on_end",
                                      f);
            }
        }
    }
    if (check_room(d, ap) != 0)
        return HUB_EINVAL;

    /* That day's occurrence, exdates aside (an excluded one is a conflict). */
    sch_series_t s = sch__series(ev);
    s.exdates = NULL;
    s.nexdates = 0;
    int64_t found[3] = {0, 0, day};
    if (sch_expand(&s, day, day + SCH_DAY_MS, 64, emit_first, found, err, sizeof(err)) < 0)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "id", "event %" PRId64 ": %s", ev->id, err);
    if (found[1] == 0 || found[0] >= day + SCH_DAY_MS)
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "date",
                              "event %" PRId64 " has no occurrence on %s", ev->id, date);
    int64_t occ = found[0], occ_end = found[1];
    if (ev->nexdates > 0 && bsearch(&occ, ev->exdates, ev->nexdates, sizeof(int64_t), cmp_i64))
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "date",
                              "the occurrence of %s is already detached or excluded", date);

    /* The standalone copy, overrides applied, validated as a new event. */
    json_t *o = event_object(ev);
    sch_time_format(occ, occ % 1000 != 0, buf);
    json_object_set_new(o, "start", json_string(buf));
    sch_time_format(occ_end, occ_end % 1000 != 0, buf);
    json_object_set_new(o, "end", json_string(buf));
    json_object_set_new(o, "rrule", json_null());
    json_object_set_new(o, "exdates", json_array());
    int rc = 0;
    if (seed != NULL && json_is_object(seed)) {
        /* Syncfusion sends the series' rule along with an edited
         * occurrence; the copy is a single event whatever it says. */
        json_t *sc = json_deep_copy(seed);
        json_object_del(sc, "recurrenceRule");
        json_object_del(sc, "recurrenceException");
        rc = seed_overlay(ap, o, sc);
        json_decref(sc);
    } else if (seed != NULL && !json_is_null(seed)) {
        rc = seed_overlay(ap, o, seed);
    } else if (json_is_object(over))
        json_object_update(o, (json_t *)over);
    if (rc == 0)
        rc = parse_event(ap, o, "event", 1, &tmp);
    json_decref(o);
    if (rc != 0)
        return HUB_EINVAL;

    /* The series: one more EXDATE. */
    int64_t *x = hub_malloc((ev->nexdates + 1) * sizeof(*x));
    size_t k = 0;
    for (size_t i = 0; i < ev->nexdates && ev->exdates[i] < occ; i++)
        x[k++] = ev->exdates[i];
    x[k++] = occ;
    for (size_t i = k - 1; i < ev->nexdates; i++)
        x[k++] = ev->exdates[i];
    hub_free(ev->exdates);
    ev->exdates = x;
    ev->nexdates = k;
    ev->c_ok = 0; /* its cached occurrences */
    ev->updated = (int64_t)hub_apply_ts_ms(ap);
    sch__row_event(ap, ev);
    sch__change_event(ap, ev);
    sch__group_edited(d, ev->group);

    sch_event_t *nev = hub_calloc(1, sizeof(*nev));
    *nev = tmp;
    nev->detached_from = ev->id;
    nev->created = nev->updated = ev->updated;
    snprintf(nev->req_id, sizeof(nev->req_id), "%s", hub_apply_intent(ap)->req_id);
    int64_t series_id = ev->id;
    commit_new(d, ap, nev); /* its change is the last: the answer reads it */

    /* Hooks that ran for the occurrence stay run for its copy. */
    sch_fired_t *f = sch__fired(d, series_id, occ, 0);
    if (f != NULL) {
        sch_fired_t keep = *f;
        sch__fired_remove(d, (size_t)(f - d->fired));
        sch__row_fired_delete(ap, series_id, occ);
        sch_fired_t *nf = sch__fired(d, nev->id, nev->start, 1);
        nf->start_at = keep.start_at;
        nf->end_at = keep.end_at;
        if (keep.start_at != 0)
            sch__row_fired(ap, nev->id, nev->start, 0, keep.start_at);
        if (keep.end_at != 0)
            sch__row_fired(ap, nev->id, nev->start, 1, keep.end_at);
    }
    return 0;
}
