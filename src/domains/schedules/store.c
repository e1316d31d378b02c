/* domains/schedules/store.c - the schedules' tables, rows and start-up load.
 *
 *   schedule_events  every event; exdates a JSON array of ms, content and
 *                    on_start/on_end their compact JSON
 *   schedule_fired   the durable once-per-occurrence record of the hooks:
 *                    (event, occurrence start, start|end) and when
 *   schedule_active  each group's active list as last published (group -1:
 *                    the hub's own), so a restart knows which retained
 *                    lists to clear
 *   schedule_power   each group's cached power intent, the body as
 *                    published (with its intent_id): a restart mid-window
 *                    keeps the intent_id
 *   schedule_meta    next_event_id: ids are never reused
 *
 * Times are INTEGER ms since the epoch (UTC). Everything lives in memory;
 * the tables are read back once at start-up.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "domains/schedules/schedules_int.h"

const hub_migration_t sch__migrations[] = {
    {"CREATE TABLE schedule_events("
     " id INTEGER PRIMARY KEY, group_id INTEGER, title TEXT NOT NULL, type TEXT NOT NULL,"
     " start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, rrule TEXT,"
     " exdates TEXT NOT NULL DEFAULT '[]', content TEXT, on_start TEXT, on_end TEXT,"
     " detached_from INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
     " req_id TEXT);"
     "CREATE INDEX ix_schedule_events_group ON schedule_events(group_id);"
     "CREATE TABLE schedule_fired("
     " event_id INTEGER NOT NULL, occurrence INTEGER NOT NULL, which TEXT NOT NULL,"
     " at INTEGER NOT NULL, PRIMARY KEY(event_id, occurrence, which));"
     "CREATE TABLE schedule_active(group_id INTEGER PRIMARY KEY, events TEXT NOT NULL);"
     "CREATE TABLE schedule_power(group_id INTEGER PRIMARY KEY, intent TEXT NOT NULL);"
     "CREATE TABLE schedule_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
     NULL},
};
const int sch__nmigrations = 1;

static const hub_stmt_t st_event = {
    "INSERT OR REPLACE INTO schedule_events(id, group_id, title, type, start_ms, end_ms, rrule,"
    " exdates, content, on_start, on_end, detached_from, created_at, updated_at, req_id)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    15};
static const hub_stmt_t st_event_del = {"DELETE FROM schedule_events WHERE id = ?1", 1};
static const hub_stmt_t st_fired_del_event = {"DELETE FROM schedule_fired WHERE event_id = ?1", 1};
static const hub_stmt_t st_fired = {
    "INSERT OR REPLACE INTO schedule_fired(event_id, occurrence, which, at) VALUES(?1, ?2, ?3, ?4)",
    4};
static const hub_stmt_t st_fired_del = {
    "DELETE FROM schedule_fired WHERE event_id = ?1 AND occurrence = ?2", 2};
static const hub_stmt_t st_active = {
    "INSERT OR REPLACE INTO schedule_active(group_id, events) VALUES(?1, ?2)", 2};
static const hub_stmt_t st_active_del = {"DELETE FROM schedule_active WHERE group_id = ?1", 1};
static const hub_stmt_t st_power = {
    "INSERT OR REPLACE INTO schedule_power(group_id, intent) VALUES(?1, ?2)", 2};
static const hub_stmt_t st_meta = {
    "INSERT OR REPLACE INTO schedule_meta(key, value) VALUES('next_event_id', ?1)", 1};

static hub_val_t s_or_null(const char *s)
{
    return s ? HUB_VAL_S(s, strlen(s)) : HUB_VAL_NONE;
}

void sch__row_event(hub_apply_t *ap, const sch_event_t *ev)
{
    char key[64];
    hub_jbuf_t x;

    hub_jbuf_init(&x);
    hub_jbuf_open(&x, '[');
    for (size_t i = 0; i < ev->nexdates; i++)
        hub_jbuf_int(&x, ev->exdates[i]);
    hub_jbuf_close(&x, ']');
    hub_val_t v[15] = {
        HUB_VAL_I(ev->id),
        ev->group == SCH_HUB ? HUB_VAL_NONE : HUB_VAL_I(ev->group),
        HUB_VAL_S(ev->title, strlen(ev->title)),
        HUB_VAL_S(ev->type, strlen(ev->type)),
        HUB_VAL_I(ev->start),
        HUB_VAL_I(ev->end),
        s_or_null(ev->rrule),
        HUB_VAL_S(x.p, x.len),
        s_or_null(ev->content),
        s_or_null(ev->on_start),
        s_or_null(ev->on_end),
        ev->detached_from > 0 ? HUB_VAL_I(ev->detached_from) : HUB_VAL_NONE,
        HUB_VAL_I(ev->created),
        HUB_VAL_I(ev->updated),
        ev->req_id[0] ? HUB_VAL_S(ev->req_id, strlen(ev->req_id)) : HUB_VAL_NONE,
    };
    snprintf(key, sizeof(key), "schedule_events:%" PRId64, ev->id);
    hub_apply_row(ap, &st_event, key, v);
    hub_jbuf_free(&x);
}

void sch__row_event_delete(hub_apply_t *ap, int64_t id)
{
    char key[64];
    hub_val_t v[1] = {HUB_VAL_I(id)};
    snprintf(key, sizeof(key), "schedule_events:%" PRId64, id);
    hub_apply_row(ap, &st_event_del, key, v);
    hub_apply_row(ap, &st_fired_del_event, NULL, v);
}

void sch__row_next_id(hub_apply_t *ap, int64_t next_id)
{
    hub_val_t v[1] = {HUB_VAL_I(next_id)};
    hub_apply_row(ap, &st_meta, "schedule_meta:next_event_id", v);
}

void sch__row_fired(hub_apply_t *ap, int64_t event_id, int64_t occ, int end, int64_t at)
{
    char key[96];
    const char *which = end ? "end" : "start";
    hub_val_t v[4] = {HUB_VAL_I(event_id), HUB_VAL_I(occ), HUB_VAL_S(which, strlen(which)),
                      HUB_VAL_I(at)};
    snprintf(key, sizeof(key), "schedule_fired:%" PRId64 ":%" PRId64 ":%s", event_id, occ, which);
    hub_apply_row(ap, &st_fired, key, v);
}

void sch__row_fired_delete(hub_apply_t *ap, int64_t event_id, int64_t occ)
{
    hub_val_t v[2] = {HUB_VAL_I(event_id), HUB_VAL_I(occ)};
    hub_apply_row(ap, &st_fired_del, NULL, v);
}

void sch__row_active(hub_apply_t *ap, int64_t group, const char *list)
{
    char key[64];
    snprintf(key, sizeof(key), "schedule_active:%" PRId64, group);
    if (list == NULL) {
        hub_val_t v[1] = {HUB_VAL_I(group)};
        hub_apply_row(ap, &st_active_del, key, v);
        return;
    }
    hub_val_t v[2] = {HUB_VAL_I(group), HUB_VAL_S(list, strlen(list))};
    hub_apply_row(ap, &st_active, key, v);
}

void sch__row_power(hub_apply_t *ap, int64_t group, const char *body, size_t len)
{
    char key[64];
    hub_val_t v[2] = {HUB_VAL_I(group), HUB_VAL_S(body, len)};
    snprintf(key, sizeof(key), "schedule_power:%" PRId64, group);
    hub_apply_row(ap, &st_power, key, v);
}

/* ---- the intent body, read back ---------------------------------------------------------- */

static int time_of(const json_t *v, int64_t *out)
{
    if (json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    return sch_time_parse(json_string_value(v), json_string_length(v), out, NULL) == 0 ? 0 : -1;
}

int sch__intent_parse(const char *body, size_t len, sch_intent_t *out)
{
    json_t *o = json_loadb(body, len, 0, NULL);
    const char *id = json_string_value(json_object_get(o, "intent_id"));
    const char *state = json_string_value(json_object_get(o, "desired_state"));
    const json_t *ids = json_object_get(o, "active_event_ids");
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (o == NULL || id == NULL || strlen(id) != 36 || state == NULL ||
        !json_is_integer(json_object_get(o, "group_id")) || !json_is_array(ids))
        goto done;
    memcpy(out->intent_id, id, 37);
    out->group_id = json_integer_value(json_object_get(o, "group_id"));
    out->on = strcmp(state, "on") == 0;
    out->poll_s = (int)json_integer_value(json_object_get(o, "poll_interval_sec"));
    if (time_of(json_object_get(o, "issued_at"), &out->issued_at) != 0 ||
        time_of(json_object_get(o, "expires_at"), &out->expires_at) != 0 ||
        time_of(json_object_get(o, "event_window_start"), &out->win_start) != 0 ||
        time_of(json_object_get(o, "event_window_end"), &out->win_end) != 0)
        goto done;
    out->nids = json_array_size(ids);
    if (out->nids > 0) {
        out->ids = hub_malloc(out->nids * sizeof(*out->ids));
        for (size_t i = 0; i < out->nids; i++)
            out->ids[i] = json_integer_value(json_array_get(ids, i));
    }
    rc = 0;
done:
    json_decref(o);
    return rc;
}

/* ---- load -------------------------------------------------------------------------------- */

static char *col_str(const hub_val_t *c)
{
    return c->type == HUB_VAL_TEXT ? hub_strndup(c->p, c->n) : NULL;
}

static int load_event(void *ud, const hub_val_t *c, int n)
{
    hub_schdom_t *d = ud;
    if (n < 15 || c[0].type != HUB_VAL_INT || c[2].type != HUB_VAL_TEXT ||
        c[3].type != HUB_VAL_TEXT || c[3].n > SCH_TYPE_MAX)
        return 0;
    sch_event_t *ev = hub_calloc(1, sizeof(*ev));
    ev->id = c[0].i;
    ev->group = c[1].type == HUB_VAL_INT ? c[1].i : SCH_HUB;
    ev->title = col_str(&c[2]);
    memcpy(ev->type, c[3].p, c[3].n);
    ev->start = c[4].i;
    ev->end = c[5].i;
    ev->rrule = col_str(&c[6]);
    if (c[7].type == HUB_VAL_TEXT) {
        json_t *x = json_loadb(c[7].p, c[7].n, 0, NULL);
        size_t k = json_array_size(x);
        if (k > 0) {
            ev->exdates = hub_malloc(k * sizeof(*ev->exdates));
            for (size_t i = 0; i < k; i++)
                ev->exdates[i] = json_integer_value(json_array_get(x, i));
            ev->nexdates = k;
        }
        json_decref(x);
    }
    ev->content = col_str(&c[8]);
    ev->on_start = col_str(&c[9]);
    ev->on_end = col_str(&c[10]);
    ev->detached_from = c[11].type == HUB_VAL_INT ? c[11].i : 0;
    ev->created = c[12].i;
    ev->updated = c[13].i;
    if (c[14].type == HUB_VAL_TEXT && c[14].n <= HUB_REQ_ID_MAX)
        memcpy(ev->req_id, c[14].p, c[14].n);
    sch__event_members(ev);
    sch__event_insert(d, ev);
    if (ev->id >= d->next_id)
        d->next_id = ev->id + 1;
    return 0;
}

static int load_fired(void *ud, const hub_val_t *c, int n)
{
    hub_schdom_t *d = ud;
    if (n < 4 || c[2].type != HUB_VAL_TEXT)
        return 0;
    sch_fired_t *f = sch__fired(d, c[0].i, c[1].i, 1);
    if (c[2].n == 3 && memcmp(c[2].p, "end", 3) == 0)
        f->end_at = c[3].i;
    else
        f->start_at = c[3].i;
    return 0;
}

static int load_active(void *ud, const hub_val_t *c, int n)
{
    hub_schdom_t *d = ud;
    if (n < 2 || c[1].type != HUB_VAL_TEXT)
        return 0;
    sch_group_t *g = sch__group(d, c[0].i < 0 ? SCH_HUB : c[0].i, 1);
    hub_free(g->active);
    g->active = col_str(&c[1]);
    g->pub_active = col_str(&c[1]);
    return 0;
}

static int load_power(void *ud, const hub_val_t *c, int n)
{
    hub_schdom_t *d = ud;
    sch_intent_t in;
    if (n < 2 || c[1].type != HUB_VAL_TEXT || sch__intent_parse(c[1].p, c[1].n, &in) != 0)
        return 0;
    sch_group_t *g = sch__group(d, c[0].i, 1);
    if (g->has_intent)
        sch_intent_free(&g->intent);
    g->intent = in;
    g->has_intent = 1;
    g->pub_body = col_str(&c[1]);
    g->pub_len = c[1].n;
    g->pub_issued = in.issued_at;
    g->pub_expires = in.expires_at;
    return 0;
}

static int load_meta(void *ud, const hub_val_t *c, int n)
{
    hub_schdom_t *d = ud;
    if (n >= 1 && c[0].type == HUB_VAL_INT && c[0].i > d->next_id)
        d->next_id = c[0].i;
    return 0;
}

int sch__load(void *ctx, hub_db_t *db, char *err, size_t errlen)
{
    hub_schdom_t *d = ctx;

    if (db->query(db,
                  "SELECT id, group_id, title, type, start_ms, end_ms, rrule, exdates, content,"
                  " on_start, on_end, detached_from, created_at, updated_at, req_id"
                  " FROM schedule_events ORDER BY id",
                  NULL, 0, load_event, d, err, errlen) != 0 ||
        db->query(db, "SELECT event_id, occurrence, which, at FROM schedule_fired", NULL, 0,
                  load_fired, d, err, errlen) != 0 ||
        db->query(db, "SELECT group_id, events FROM schedule_active", NULL, 0, load_active, d, err,
                  errlen) != 0 ||
        db->query(db, "SELECT group_id, intent FROM schedule_power", NULL, 0, load_power, d, err,
                  errlen) != 0 ||
        db->query(db, "SELECT value FROM schedule_meta WHERE key = 'next_event_id'", NULL, 0,
                  load_meta, d, err, errlen) != 0)
        return HUB_ESTORE;
    hub_metric_set(d->m_events, (double)d->nev);
    return 0;
}
