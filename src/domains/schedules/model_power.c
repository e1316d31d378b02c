/* domains/schedules/model_power.c - seed 004's group power intents (rules in
 * model.h; seed notes §4.3.4, §4.5).
 *
 * The intent is a pure function of (occurrences, now, previous intent): the
 * basis says on/off, the merged window and the covering events; the next
 * intent keeps its id until the desired state changes or an event of the
 * group is edited, so a screen can tell a heartbeat from a new decision.
 */
#include "domains/schedules/model.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static int by_start(const void *a, const void *b)
{
    const sch_occ_t *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void sch_power_basis(const sch_occ_t *occ, size_t n, int64_t now, sch_basis_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t ncover = 0;
    for (size_t i = 0; i < n; i++)
        ncover += occ[i].start <= now && now < occ[i].end;
    if (ncover == 0)
        return;

    out->on = 1;
    out->ids = hub_malloc(ncover * sizeof(*out->ids));
    for (size_t i = 0; i < n; i++)
        if (occ[i].start <= now && now < occ[i].end)
            out->ids[out->nids++] = occ[i].event_id;
    qsort(out->ids, out->nids, sizeof(*out->ids), by_value);
    size_t u = 1; /* drop repeats: two occurrences of one event can overlap */
    for (size_t i = 1; i < out->nids; i++)
        if (out->ids[i] != out->ids[u - 1])
            out->ids[u++] = out->ids[i];
    out->nids = u;

    /* Merge in start order; the chain holding now is the window. Touching
     * counts as joined (next.start <= end), so back-to-back events never
     * show an OFF at the seam. */
    sch_occ_t *s = hub_malloc(n * sizeof(*s));
    memcpy(s, occ, n * sizeof(*s));
    qsort(s, n, sizeof(*s), by_start);
    int64_t ws = s[0].start, we = s[0].end;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && s[i].start <= we) {
            we = s[i].end > we ? s[i].end : we;
            continue;
        }
        if (ws <= now && now < we)
            break;
        if (i < n) {
            ws = s[i].start;
            we = s[i].end;
        }
    }
    hub_free(s);
    out->win_start = ws;
    out->win_end = we;
}

void sch_basis_free(sch_basis_t *b)
{
    hub_free(b->ids);
    memset(b, 0, sizeof(*b));
}

void sch_intent_free(sch_intent_t *in)
{
    hub_free(in->ids);
    memset(in, 0, sizeof(*in));
}

int sch_intent_copy(sch_intent_t *dst, const sch_intent_t *src)
{
    *dst = *src;
    dst->ids = NULL;
    if (src->nids > 0) {
        dst->ids = hub_malloc(src->nids * sizeof(*dst->ids));
        memcpy(dst->ids, src->ids, src->nids * sizeof(*dst->ids));
    }
    return 0;
}

/* Same body apart from intent_id, issued_at and expires_at. */
static int same_content(const sch_intent_t *prev, const sch_basis_t *b, int poll_s)
{
    if (prev->poll_s != poll_s || prev->nids != b->nids)
        return 0;
    if (b->nids > 0 && memcmp(prev->ids, b->ids, b->nids * sizeof(*b->ids)) != 0)
        return 0;
    return prev->win_start == b->win_start && prev->win_end == b->win_end;
}

static void stamp(sch_intent_t *in, int64_t now, const sch_power_cfg_t *cfg)
{
    int64_t life = (int64_t)cfg->multiplier * cfg->poll_s;
    if (life < cfg->min_expiry_s)
        life = cfg->min_expiry_s;
    in->issued_at = now;
    in->expires_at = now + life * 1000;
    in->poll_s = cfg->poll_s;
}

int sch_power_next(const sch_intent_t *prev, const sch_basis_t *b, int64_t group_id, int64_t now,
                   int edited, const sch_power_cfg_t *cfg, void (*new_id)(void *ud, char out[37]),
                   void *ud, sch_intent_t *out)
{
    if (prev != NULL && prev->group_id != group_id)
        prev = NULL;
    int kind;
    if (prev == NULL || prev->on != (b->on != 0) || edited)
        kind = SCH_PUB_TRANSITION;
    else if (!same_content(prev, b, cfg->poll_s))
        kind = SCH_PUB_UPDATE;
    else
        kind = cfg->heartbeat ? SCH_PUB_HEARTBEAT : SCH_PUB_NONE;

    if (kind == SCH_PUB_NONE) {
        sch_intent_copy(out, prev);
        return SCH_PUB_NONE;
    }

    memset(out, 0, sizeof(*out));
    if (kind == SCH_PUB_TRANSITION) {
        new_id(ud, out->intent_id);
        out->intent_id[36] = '\0';
    } else {
        memcpy(out->intent_id, prev->intent_id, sizeof(out->intent_id));
    }
    out->group_id = group_id;
    out->on = b->on != 0;
    stamp(out, now, cfg);
    /* OFF carries no ids and no window (seed: [] and null). */
    if (out->on) {
        out->win_start = b->win_start;
        out->win_end = b->win_end;
        out->nids = b->nids;
        if (b->nids > 0) {
            out->ids = hub_malloc(b->nids * sizeof(*out->ids));
            memcpy(out->ids, b->ids, b->nids * sizeof(*out->ids));
        }
    }
    return kind;
}

static void put_time(hub_jbuf_t *b, const char *key, int64_t ms, int with_ms)
{
    char t[32];
    sch_time_format(ms, with_ms, t);
    hub_jbuf_key(b, key);
    hub_jbuf_str(b, t);
}

void sch_intent_render(hub_jbuf_t *b, const sch_intent_t *in)
{
    /* expires_at = issued_at + whole seconds, so both share issued_at's form. */
    int ms = in->issued_at % 1000 != 0;
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "schema_version");
    hub_jbuf_str(b, "1.0");
    hub_jbuf_key(b, "intent_id");
    hub_jbuf_str(b, in->intent_id);
    hub_jbuf_key(b, "group_id");
    hub_jbuf_int(b, in->group_id);
    hub_jbuf_key(b, "desired_state");
    hub_jbuf_str(b, in->on ? "on" : "off");
    hub_jbuf_key(b, "reason");
    hub_jbuf_str(b, in->on ? "active_event" : "no_active_event");
    put_time(b, "issued_at", in->issued_at, ms);
    put_time(b, "expires_at", in->expires_at, ms);
    hub_jbuf_key(b, "poll_interval_sec");
    hub_jbuf_int(b, in->poll_s);
    hub_jbuf_key(b, "active_event_ids");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; in->on && i < in->nids; i++)
        hub_jbuf_int(b, in->ids[i]);
    hub_jbuf_close(b, ']');
    if (in->on) {
        put_time(b, "event_window_start", in->win_start, in->win_start % 1000 != 0);
        put_time(b, "event_window_end", in->win_end, in->win_end % 1000 != 0);
    } else {
        hub_jbuf_key(b, "event_window_start");
        hub_jbuf_null(b);
        hub_jbuf_key(b, "event_window_end");
        hub_jbuf_null(b);
    }
    hub_jbuf_close(b, '}');
}

int sch_intent_expired(const sch_intent_t *in, int64_t now)
{
    return now >= in->expires_at;
}
