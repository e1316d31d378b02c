/* domains/schedules/render.c - events as JSON, and the changes that
 * announce them.
 *
 *   ours (state schedules.events.<id>, /api/v1): snake_case, RFC 3339 UTC
 *     with Z (milliseconds only when a time has some)
 *   seed 004's REST (/api/events): camelCase, times as Python's isoformat()
 *     of a naive UTC datetime ("2026-03-31T10:15:30", its dashboard appends
 *     the Z), recurrenceException as Syncfusion's comma-separated compact
 *     EXDATEs
 *   the MQTT list of active events (<root>/events/<group_id>): snake_case,
 *     one object per active occurrence, content's members merged in
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "domains/schedules/schedules_int.h"

void sch__time(hub_jbuf_t *b, int64_t ms)
{
    char t[32];
    sch_time_format(ms, ms % 1000 != 0, t);
    hub_jbuf_str(b, t);
}

void sch__time_py(hub_jbuf_t *b, int64_t ms)
{
    char t[32], out[48];
    sch_time_format(ms, 0, t);
    t[strlen(t) - 1] = '\0'; /* no Z */
    if (ms % 1000 != 0)
        snprintf(out, sizeof(out), "%s.%03d000", t, (int)(ms % 1000));
    else
        snprintf(out, sizeof(out), "%s", t);
    hub_jbuf_str(b, out);
}

static void group_or_null(hub_jbuf_t *b, int64_t group)
{
    if (group == SCH_HUB)
        hub_jbuf_null(b);
    else
        hub_jbuf_int(b, group);
}

static void json_or_null(hub_jbuf_t *b, const char *text)
{
    if (text == NULL)
        hub_jbuf_null(b);
    else
        hub_jbuf_json(b, text, strlen(text));
}

void sch__render_event(hub_jbuf_t *b, const sch_event_t *ev)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "id");
    hub_jbuf_int(b, ev->id);
    hub_jbuf_key(b, "group_id");
    group_or_null(b, ev->group);
    hub_jbuf_key(b, "title");
    hub_jbuf_str(b, ev->title);
    hub_jbuf_key(b, "type");
    hub_jbuf_str(b, ev->type);
    hub_jbuf_key(b, "start");
    sch__time(b, ev->start);
    hub_jbuf_key(b, "end");
    sch__time(b, ev->end);
    hub_jbuf_key(b, "rrule");
    if (ev->rrule)
        hub_jbuf_str(b, ev->rrule);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "exdates");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < ev->nexdates; i++)
        sch__time(b, ev->exdates[i]);
    hub_jbuf_close(b, ']');
    hub_jbuf_key(b, "content");
    json_or_null(b, ev->content);
    hub_jbuf_key(b, "on_start");
    json_or_null(b, ev->on_start);
    hub_jbuf_key(b, "on_end");
    json_or_null(b, ev->on_end);
    hub_jbuf_key(b, "detached_from");
    if (ev->detached_from > 0)
        hub_jbuf_int(b, ev->detached_from);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "created_at");
    sch__time(b, ev->created);
    hub_jbuf_key(b, "updated_at");
    sch__time(b, ev->updated);
    hub_jbuf_close(b, '}');
}

void sch__render_event_camel(hub_jbuf_t *b, const sch_event_t *ev)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "id");
    hub_jbuf_int(b, ev->id);
    hub_jbuf_key(b, "subject");
    hub_jbuf_str(b, ev->title);
    hub_jbuf_key(b, "startTime");
    sch__time_py(b, ev->start);
    hub_jbuf_key(b, "endTime");
    sch__time_py(b, ev->end);
    hub_jbuf_key(b, "type");
    hub_jbuf_str(b, ev->type);
    hub_jbuf_key(b, "groupId");
    group_or_null(b, ev->group);
    hub_jbuf_key(b, "recurrenceRule");
    if (ev->rrule)
        hub_jbuf_str(b, ev->rrule);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "recurrenceException");
    if (ev->nexdates == 0) {
        hub_jbuf_null(b);
    } else {
        char t[20];
        hub_jbuf_t list;
        hub_jbuf_init(&list);
        for (size_t i = 0; i < ev->nexdates; i++) {
            if (i > 0)
                hub_jbuf_lit(&list, ",");
            sch_exdate_format(ev->exdates[i], t);
            hub_jbuf_raw(&list, t, strlen(t));
        }
        hub_jbuf_strn(b, list.p, list.len);
        hub_jbuf_free(&list);
    }
    hub_jbuf_close(b, '}');
}

void sch__render_active(hub_jbuf_t *b, const sch_event_t *ev, int64_t s, int64_t e)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "id");
    hub_jbuf_int(b, ev->id);
    hub_jbuf_key(b, "group_id");
    group_or_null(b, ev->group);
    hub_jbuf_key(b, "title");
    hub_jbuf_str(b, ev->title);
    hub_jbuf_key(b, "subject");
    hub_jbuf_str(b, ev->title);
    hub_jbuf_key(b, "event_type");
    hub_jbuf_str(b, ev->type);
    hub_jbuf_key(b, "start");
    sch__time(b, s);
    hub_jbuf_key(b, "end");
    sch__time(b, e);
    hub_jbuf_key(b, "occurrence_start");
    sch__time(b, s);
    hub_jbuf_key(b, "recurring");
    hub_jbuf_bool(b, ev->rrule != NULL);
    if (ev->members != NULL && ev->members[0] != '\0')
        hub_jbuf_raw(b, ev->members, strlen(ev->members));
    hub_jbuf_close(b, '}');
}

void sch__active_path(char *path, size_t n, int64_t group)
{
    if (group == SCH_HUB)
        snprintf(path, n, "schedules.active.hub");
    else
        snprintf(path, n, "schedules.active.%" PRId64, group);
}

void sch__change_event(hub_apply_t *ap, const sch_event_t *ev)
{
    char path[64];
    hub_jbuf_t *b = hub_apply_scratch(ap);
    sch__render_event(b, ev);
    snprintf(path, sizeof(path), "schedules.events.%" PRId64, ev->id);
    hub_apply_change(ap, path, b->p, b->len, NULL, 0);
}

void sch__change_event_gone(hub_apply_t *ap, int64_t id)
{
    char path[64];
    snprintf(path, sizeof(path), "schedules.events.%" PRId64, id);
    hub_apply_change(ap, path, "null", 4, NULL, 0);
}
