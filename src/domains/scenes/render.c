/* domains/scenes/render.c - the scenes' entities as JSON: runs with each
 * action's outcome, listed files, the feedback latency histogram and the
 * simulation mode (docs/scenes.md has the shapes).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "domains/scenes/scenes_int.h"

const char *const scn_status_names[SCN_ST_COUNT] = {
    "pending", "sent", "ok", "error", "timeout", "simulated", "played", "done", "skipped"};
const char *const scn_run_status_names[4] = {"running", "finished", "stopped", "interrupted"};
/* Feedback latency buckets (ms): the seed's 1 s timeout spread out. */
const double scn_lat_bounds_ms[SCN_LAT_BUCKETS] = {10,  25,  50,   100,  250,
                                                   500, 750, 1000, 2500, 5000};

static const char *const kind_names[] = {"mqtt", "local", "intent", "command"};

void scn__time(hub_jbuf_t *b, uint64_t ms)
{
    char t[96];
    struct tm tm;
    time_t s = (time_t)(ms / 1000);

    if (ms == 0 || gmtime_r(&s, &tm) == NULL) {
        hub_jbuf_null(b);
        return;
    }
    snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
    hub_jbuf_str(b, t);
}

static void num_or_null(hub_jbuf_t *b, int has, double v)
{
    char t[32];
    if (!has) {
        hub_jbuf_null(b);
        return;
    }
    int n = snprintf(t, sizeof(t), "%.3f", v);
    hub_jbuf_json(b, t, (size_t)n);
}

static void render_action(hub_jbuf_t *b, const scn_action_t *a, const scn_act_t *s)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "i");
    hub_jbuf_int(b, a->index);
    hub_jbuf_key(b, "t_ms");
    hub_jbuf_int(b, a->t_ms);
    hub_jbuf_key(b, "kind");
    hub_jbuf_str(b, kind_names[a->kind]);
    if (a->kind == SCN_MQTT || a->kind == SCN_LOCAL) {
        hub_jbuf_key(b, "topic");
        hub_jbuf_str(b, a->topic);
        hub_jbuf_key(b, "message");
        hub_jbuf_str(b, a->message);
    } else if (a->kind == SCN_INTENT) {
        hub_jbuf_key(b, "intent");
        hub_jbuf_str(b, a->intent);
    } else {
        hub_jbuf_key(b, "device");
        hub_jbuf_str(b, a->cmd_device);
        hub_jbuf_key(b, "action");
        hub_jbuf_str(b, a->cmd_action);
    }
    hub_jbuf_key(b, "status");
    hub_jbuf_str(b, scn_status_names[s->status]);
    hub_jbuf_key(b, "fired_at");
    scn__time(b, s->fired_ms);
    hub_jbuf_key(b, "late_ms");
    num_or_null(b, s->fired_ms != 0, s->late_ms < 0 ? 0 : s->late_ms);
    hub_jbuf_key(b, "latency_ms");
    num_or_null(b, s->status == SCN_ST_OK || (s->status == SCN_ST_ERROR && s->latency_ms > 0),
                s->latency_ms);
    hub_jbuf_key(b, "error");
    if (s->error)
        hub_jbuf_str(b, s->error);
    else
        hub_jbuf_null(b);
    if (s->ref) {
        hub_jbuf_key(b, "command_id");
        hub_jbuf_str(b, s->ref);
    }
    hub_jbuf_close(b, '}');
}

void scn__render_run(hub_jbuf_t *b, const scn_run_t *r)
{
    uint64_t counts[SCN_ST_COUNT] = {0};

    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "id");
    hub_jbuf_str(b, r->id);
    hub_jbuf_key(b, "scene");
    if (r->def.name[0])
        hub_jbuf_str(b, r->def.name);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "label");
    hub_jbuf_str(b, r->label);
    hub_jbuf_key(b, "room");
    if (r->def.room[0])
        hub_jbuf_str(b, r->def.room);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "status");
    hub_jbuf_str(b, scn_run_status_names[r->status]);
    hub_jbuf_key(b, "src");
    hub_jbuf_str(b, r->src);
    hub_jbuf_key(b, "started_at");
    scn__time(b, r->started_ms);
    hub_jbuf_key(b, "ended_at");
    scn__time(b, r->ended_ms);
    hub_jbuf_key(b, "duration_ms");
    hub_jbuf_int(b, r->def.duration_ms);
    hub_jbuf_key(b, "simulation");
    hub_jbuf_bool(b, r->simulation);
    hub_jbuf_key(b, "actions");
    hub_jbuf_open(b, '[');
    /* file order: people read the scene as they wrote it */
    for (int i = 0; i < (int)r->def.n; i++)
        for (size_t k = 0; k < r->def.n; k++)
            if (r->def.actions[k].index == i) {
                render_action(b, &r->def.actions[k], &r->acts[k]);
                counts[r->acts[k].status]++;
                break;
            }
    hub_jbuf_close(b, ']');
    hub_jbuf_key(b, "counts");
    hub_jbuf_open(b, '{');
    for (int s = 0; s < SCN_ST_COUNT; s++) {
        hub_jbuf_key(b, scn_status_names[s]);
        hub_jbuf_uint(b, counts[s]);
    }
    hub_jbuf_close(b, '}');
    hub_jbuf_close(b, '}');
}

void scn__render_file(hub_jbuf_t *b, const scn_file_t *f)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "name");
    hub_jbuf_str(b, f->name);
    hub_jbuf_key(b, "room");
    if (f->ok && f->scene.room[0])
        hub_jbuf_str(b, f->scene.room);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "actions");
    hub_jbuf_uint(b, f->ok ? f->scene.n : 0);
    hub_jbuf_key(b, "duration_ms");
    hub_jbuf_int(b, f->ok ? f->scene.duration_ms : 0);
    hub_jbuf_key(b, "scene");
    if (f->ok)
        scn_render(b, &f->scene);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "error");
    if (f->ok)
        hub_jbuf_null(b);
    else
        hub_jbuf_str(b, f->error ? f->error : "");
    hub_jbuf_close(b, '}');
}

void scn__render_feedback(hub_jbuf_t *b, const hub_scndom_t *d)
{
    char t[48];
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "ok");
    hub_jbuf_uint(b, d->fb_ok);
    hub_jbuf_key(b, "error");
    hub_jbuf_uint(b, d->fb_error);
    hub_jbuf_key(b, "timeout");
    hub_jbuf_uint(b, d->fb_timeout);
    hub_jbuf_key(b, "timeout_ms");
    hub_jbuf_int(b, d->cfg.feedback_timeout_ms);
    hub_jbuf_key(b, "sum_ms");
    int n = snprintf(t, sizeof(t), "%.3f", d->lat_sum_ms);
    hub_jbuf_json(b, t, (size_t)n);
    hub_jbuf_key(b, "buckets_ms");
    hub_jbuf_open(b, '[');
    for (int i = 0; i < SCN_LAT_BUCKETS; i++) {
        n = snprintf(t, sizeof(t), "%g", scn_lat_bounds_ms[i]);
        hub_jbuf_json(b, t, (size_t)n);
    }
    hub_jbuf_close(b, ']');
    /* counts[i]: latencies <= buckets_ms[i] and above the previous bound;
     * the last one: above every bound */
    hub_jbuf_key(b, "counts");
    hub_jbuf_open(b, '[');
    for (int i = 0; i <= SCN_LAT_BUCKETS; i++)
        hub_jbuf_uint(b, d->lat_counts[i]);
    hub_jbuf_close(b, ']');
    hub_jbuf_close(b, '}');
}

void scn__render_mode(hub_jbuf_t *b, const hub_scndom_t *d)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "simulation");
    hub_jbuf_bool(b, d->simulation);
    hub_jbuf_key(b, "since");
    scn__time(b, d->simulation ? d->sim_since_ms : 0);
    hub_jbuf_key(b, "reason");
    if (!d->simulation)
        hub_jbuf_null(b);
    else if (d->link == HUB_LINK_DISABLED)
        hub_jbuf_str(b, "MQTT is disabled (DMX_MQTT_ENABLED=false)");
    else
        hub_jbuf_str(b, "the MQTT broker is unreachable after 5 attempts 2 s apart");
    hub_jbuf_key(b, "media");
    hub_jbuf_str(b, d->media_command ? "player" : "simulated");
    hub_jbuf_close(b, '}');
}

void scn__change_run(hub_apply_t *ap, const scn_run_t *r)
{
    char path[64];
    hub_jbuf_t *b = hub_apply_scratch(ap);
    scn__render_run(b, r);
    snprintf(path, sizeof(path), "scenes.runs.%s", r->id);
    hub_apply_change(ap, path, b->p, b->len, NULL, 0);
}

void scn__change_file(hub_apply_t *ap, const scn_file_t *f, const char *name)
{
    char path[SCN_NAME_MAX + 16];
    hub_jbuf_t *b = hub_apply_scratch(ap);
    snprintf(path, sizeof(path), "scenes.list.%s", name);
    if (f == NULL) {
        hub_apply_change(ap, path, "null", 4, NULL, 0);
        return;
    }
    scn__render_file(b, f);
    hub_apply_change(ap, path, b->p, b->len, NULL, 0);
}

void scn__change_feedback(hub_apply_t *ap, const hub_scndom_t *d)
{
    hub_jbuf_t *b = hub_apply_scratch(ap);
    scn__render_feedback(b, d);
    hub_apply_change(ap, "scenes.feedback", b->p, b->len, NULL, 0);
}

void scn__change_mode(hub_apply_t *ap, const hub_scndom_t *d)
{
    hub_jbuf_t *b = hub_apply_scratch(ap);
    scn__render_mode(b, d);
    hub_apply_change(ap, "scenes.mode", b->p, b->len, NULL, 0);
}
