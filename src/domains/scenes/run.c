/* domains/scenes/run.c - the scene intents: files (save, delete, rescan),
 * runs (run, stop) and the hub's own (tick, feedback, outcome, mode).
 *
 * Apply only changes the state and records what is due: an action fired by
 * apply is sent out by announce once the change is durable (announce.c),
 * so the journal holds every fired action before anything moves. Timing is
 * monotonic: an action is due at the run's start plus its t_ms.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/mem.h"
#include "core/ulid.h"
#include "domains/scenes/scenes_int.h"

void scn__run_free(scn_run_t *r)
{
    if (r == NULL)
        return;
    for (size_t k = 0; k < r->def.n && r->acts; k++) {
        hub_free(r->acts[k].error);
        hub_free(r->acts[k].ref);
        hub_free(r->acts[k].early_error);
    }
    hub_free(r->acts);
    scn_scene_free(&r->def);
    hub_free(r);
}

static void act_error(scn_act_t *s, int status, const char *msg)
{
    s->status = status;
    hub_free(s->error);
    s->error = hub_strdup(msg);
}

/* ---- ending runs -------------------------------------------------------------------- */

void scn__ended_push(hub_scndom_t *d, const char *id, const char *text, size_t len, hub_apply_t *ap)
{
    if (d->nended == SCN_ENDED_KEEP) {
        if (ap != NULL) {
            char path[64];
            snprintf(path, sizeof(path), "scenes.runs.%s", d->ended[0].id);
            hub_apply_change(ap, path, "null", 4, NULL, 0);
        }
        hub_free(d->ended[0].text);
        memmove(&d->ended[0], &d->ended[1], (d->nended - 1) * sizeof(*d->ended));
        d->nended--;
    }
    if (d->ended == NULL)
        d->ended = hub_calloc(SCN_ENDED_KEEP, sizeof(*d->ended));
    scn_ended_t *e = &d->ended[d->nended++];
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->text = hub_strndup(text, len);
    e->len = len;
}

static void retire(hub_scndom_t *d, hub_apply_t *ap, size_t i, int status)
{
    scn_run_t *r = d->runs[i];
    hub_jbuf_t b;

    r->status = status;
    r->ended_ms = hub_apply_ts_ms(ap);
    r->retired_seq = hub_apply_seq(ap);
    r->dirty = 0;
    hub_jbuf_init(&b);
    scn__render_run(&b, r);
    scn__change_run(ap, r);
    scn__row_run(ap, r, b.p, b.len);
    scn__ended_push(d, r->id, b.p, b.len, ap);
    hub_jbuf_free(&b);
    memmove(&d->runs[i], &d->runs[i + 1], (d->nruns - i - 1) * sizeof(*d->runs));
    d->nruns--;
    d->retired = hub_realloc(d->retired, (d->nretired + 1) * sizeof(*d->retired));
    d->retired[d->nretired++] = r;
}

static int run_complete(const hub_scndom_t *d, const scn_run_t *r)
{
    uint64_t limit = (uint64_t)d->cfg.feedback_timeout_ms * 1000u;
    uint64_t now_us = hub_mono_us();

    if (r->next < r->def.n)
        return 0;
    for (size_t k = 0; k < r->def.n; k++) {
        const scn_act_t *s = &r->acts[k];
        if (s->status == SCN_ST_SENT)
            return 0;
        /* A player gets the feedback window to fail (its exit status comes
         * as scene.outcome, which must find the run still running). */
        if (s->status == SCN_ST_PLAYED && (s->sent_us == 0 || now_us < s->sent_us + limit))
            return 0;
    }
    return 1;
}

/* Emit the runs the intent changed; retire the complete ones. Returns how
 * many runs changed. */
static int settle(hub_scndom_t *d, hub_apply_t *ap)
{
    int n = 0;
    for (size_t i = 0; i < d->nruns;) {
        scn_run_t *r = d->runs[i];
        if (run_complete(d, r)) {
            retire(d, ap, i, SCN_RUN_FINISHED);
            n++;
            continue;
        }
        if (r->dirty) {
            n++;
            hub_jbuf_t b;
            r->dirty = 0;
            scn__change_run(ap, r);
            /* the row follows every change (rows of one key coalesce in a
             * batch): after a crash the run comes back as far as it got */
            hub_jbuf_init(&b);
            scn__render_run(&b, r);
            scn__row_run(ap, r, b.p, b.len);
            hub_jbuf_free(&b);
        }
        i++;
    }
    return n;
}

static void add_ghost(hub_scndom_t *d, const scn_action_t *a, uint64_t sent_us)
{
    if (d->nghosts == SCN_GHOSTS_MAX) {
        memmove(&d->ghosts[0], &d->ghosts[1], (d->nghosts - 1) * sizeof(*d->ghosts));
        d->nghosts--;
    }
    if (d->ghosts == NULL)
        d->ghosts = hub_calloc(SCN_GHOSTS_MAX, sizeof(*d->ghosts));
    scn_ghost_t *g = &d->ghosts[d->nghosts++];
    snprintf(g->room, sizeof(g->room), "%s", a->room);
    snprintf(g->device, sizeof(g->device), "%s", a->device ? a->device : "");
    g->sent_us = sent_us;
}

static void drop_ghost(hub_scndom_t *d, size_t i)
{
    memmove(&d->ghosts[i], &d->ghosts[i + 1], (d->nghosts - i - 1) * sizeof(*d->ghosts));
    d->nghosts--;
}

static void stop_run(hub_scndom_t *d, hub_apply_t *ap, size_t i)
{
    scn_run_t *r = d->runs[i];
    for (size_t k = 0; k < r->def.n; k++) {
        scn_act_t *s = &r->acts[k];
        if (s->status == SCN_ST_SENT && r->def.actions[k].kind == SCN_MQTT && s->sent_us)
            add_ghost(d, &r->def.actions[k], s->sent_us);
        else if (s->status == SCN_ST_PENDING && s->early_us && s->early_error == NULL)
            add_ghost(d, &r->def.actions[k], s->early_us); /* out before its tick */
        if (s->status == SCN_ST_PENDING)
            act_error(s, SCN_ST_SKIPPED, "the run was stopped before it was due");
        else if (s->status == SCN_ST_SENT)
            act_error(s, SCN_ST_SKIPPED, "the run was stopped before its outcome was known");
        if (s->status == SCN_ST_SKIPPED && s->fired_seq == 0)
            s->dispatched = 1; /* never fired: nothing to send */
    }
    r->next = r->def.n;
    retire(d, ap, i, SCN_RUN_STOPPED);
}

/* ---- firing ---------------------------------------------------------------------------- */

static void fire_due(hub_scndom_t *d, hub_apply_t *ap, scn_run_t *r, uint64_t now_us)
{
    while (r->next < r->def.n && r->acts[r->next].due_us <= now_us + SCN_SLACK_US) {
        size_t k = r->next++;
        const scn_action_t *a = &r->def.actions[k];
        scn_act_t *s = &r->acts[k];

        s->fired_ms = hub_apply_ts_ms(ap);
        s->fired_seq = hub_apply_seq(ap);
        s->late_ms = now_us > s->due_us ? (double)(now_us - s->due_us) / 1000.0 : 0;
        switch (a->kind) {
        case SCN_MQTT:
            if (s->early_error != NULL) { /* the timer's publish was refused */
                s->status = SCN_ST_ERROR;
                hub_free(s->error);
                s->error = s->early_error;
                s->early_error = NULL;
                s->dispatched = 1;
            } else if (s->token != 0) { /* the timer published it already */
                s->status = SCN_ST_SENT;
                s->sent_us = s->early_us;
                s->dispatched = 1;
            } else if (d->simulation) {
                s->status = SCN_ST_SIMULATED;
                r->simulation = 1;
            } else {
                s->status = SCN_ST_SENT;
            }
            break;
        case SCN_LOCAL:
            /* No I/O here: a missing file or a failing player is learnt in
             * announce and comes back as scene.outcome while the run keeps
             * the player's window open (run_complete). */
            s->status = d->media_command ? SCN_ST_PLAYED : SCN_ST_SIMULATED;
            break;
        default: s->status = SCN_ST_SENT; break;
        }
        r->dirty = 1;
    }
}

/* Feedback that did not come in time; how many timed out. */
static int expire(hub_scndom_t *d, uint64_t now_us)
{
    for (size_t i = 0; i < d->nghosts;) {
        if (now_us >= d->ghosts[i].sent_us + (uint64_t)d->cfg.feedback_timeout_ms * 1000u)
            drop_ghost(d, i);
        else
            i++;
    }
    uint64_t limit = (uint64_t)d->cfg.feedback_timeout_ms * 1000u;
    int n = 0;
    for (size_t i = 0; i < d->nruns; i++) {
        scn_run_t *r = d->runs[i];
        for (size_t k = 0; k < r->def.n; k++) {
            scn_act_t *s = &r->acts[k];
            if (s->status == SCN_ST_SENT && r->def.actions[k].kind == SCN_MQTT && s->sent_us &&
                now_us >= s->sent_us + limit) {
                s->status = SCN_ST_TIMEOUT;
                d->fb_timeout++;
                r->dirty = 1;
                n++;
            }
        }
    }
    return n;
}

/* ---- file intents -------------------------------------------------------------------- */

static const char *name_of(hub_apply_t *ap, const json_t *p)
{
    const json_t *v = json_object_get(p, "name");
    if (!json_is_string(v) || !scn_name_valid(json_string_value(v), json_string_length(v))) {
        hub_apply_fail(ap, HUB_ERR_INVALID, "name",
                       "name must be a scene name: 1-64 characters of A-Z a-z 0-9 _ -");
        return NULL;
    }
    return json_string_value(v);
}

static int apply_save(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"name", "scene", NULL};
    hub_scndom_t *d = ctx;
    const char *name;
    char file[SCN_NAME_MAX + 16], field[HUB_FIELD_MAX + 1];
    hub_error_t err;
    scn_scene_t s;

    if (hub_apply_check_keys(ap, p, keys) != 0 || (name = name_of(ap, p)) == NULL)
        return HUB_EINVAL;
    if (strcmp(name, "runs") == 0 || strcmp(name, "rescan") == 0)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "name",
                              "\"%s\" is reserved (GET /api/v1/scenes/%s); choose another name",
                              name, name);
    if (!json_is_object(json_object_get(p, "scene")))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "scene",
                              "the body must be a scene object: {\"room\": …, \"actions\": […]}");
    if (scn__file(d, name) == NULL && d->nfiles >= SCN_SCENES_MAX)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "name",
                              "%d scenes exist already: delete one first", SCN_SCENES_MAX);
    snprintf(file, sizeof(file), "%s%s", name, SCN_FILE_SUFFIX);
    if (scn_parse(json_object_get(p, "scene"), name, file, &s, &err) != 0) {
        snprintf(field, sizeof(field), "%s", err.field);
        return hub_apply_fail(ap, HUB_ERR_INVALID, field, "%s", err.msg);
    }
    snprintf(s.name, sizeof(s.name), "%s", name);
    scn__row_file(ap, d, &s);
    scn__file_put(d, name, &s);
    scn__change_file(ap, scn__file(d, name), name);
    return 0;
}

static int apply_delete(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"name", NULL};
    hub_scndom_t *d = ctx;
    const char *name;

    if (hub_apply_check_keys(ap, p, keys) != 0 || (name = name_of(ap, p)) == NULL)
        return HUB_EINVAL;
    if (scn__file(d, name) == NULL)
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "name",
                              "no scene named \"%s\" (GET /api/v1/scenes lists them)", name);
    scn__row_file_delete(ap, d, name);
    scn__file_del(d, name);
    scn__change_file(ap, NULL, name);
    return 0;
}

static int prepare_rescan(void *ctx, hub_intent_t *in, hub_error_t *err)
{
    hub_scndom_t *d = ctx;
    const char *key;
    json_t *v;
    json_object_foreach(in->payload, key, v)
    {
        return hub_error_set(err, HUB_ERR_INVALID, key,
                             "unknown field \"%.40s\": scene.rescan takes {}", key);
    }
    hub_intent_set_payload(in, json_pack("{s:o}", "entries", scn__scan_json(d->dir)));
    return 0;
}

static int apply_rescan(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"entries", NULL};
    hub_scndom_t *d = ctx;
    const json_t *entries = json_object_get(p, "entries");

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    if (!json_is_array(entries))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "entries", "the directory was not scanned");
    /* names gone from the directory */
    for (size_t i = 0; i < d->nfiles; i++) {
        int found = 0;
        size_t j;
        json_t *e;
        json_array_foreach(entries, j, e)
        {
            const char *n = json_string_value(json_object_get(e, "name"));
            if (n && strcmp(n, d->files[i]->name) == 0)
                found = 1;
        }
        if (!found)
            scn__change_file(ap, NULL, d->files[i]->name);
    }
    scn__files_replace(d, entries);
    for (size_t i = 0; i < d->nfiles; i++)
        scn__change_file(ap, d->files[i], d->files[i]->name);
    return 0;
}

/* ---- runs ------------------------------------------------------------------------------- */

static int copy_scene(const scn_scene_t *src, scn_scene_t *dst)
{
    hub_jbuf_t b;
    hub_error_t err;
    hub_jbuf_init(&b);
    scn_render(&b, src);
    json_t *root = json_loadb(b.p, b.len, HUB_JSON_FLAGS, NULL);
    hub_jbuf_free(&b);
    int rc = root ? scn_parse(root, NULL, NULL, dst, &err) : -1;
    json_decref(root);
    return rc;
}

static scn_run_t *in_room(const hub_scndom_t *d, const char *room)
{
    for (size_t i = 0; i < d->nruns; i++)
        if (d->runs[i]->def.room[0] && strcmp(d->runs[i]->def.room, room) == 0)
            return d->runs[i];
    return NULL;
}

static size_t run_index(const hub_scndom_t *d, const scn_run_t *r)
{
    for (size_t i = 0; i < d->nruns; i++)
        if (d->runs[i] == r)
            return i;
    return d->nruns;
}

static int apply_run(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"name", "restart", "scene", "label", "depth", NULL};
    hub_scndom_t *d = ctx;
    const hub_intent_t *in = hub_apply_intent(ap);
    const json_t *restart = json_object_get(p, "restart");
    const json_t *inline_scene = json_object_get(p, "scene");
    const json_t *label = json_object_get(p, "label");
    scn_scene_t def;
    hub_error_t err;

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    if (restart != NULL && !json_is_boolean(restart))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "restart", "restart must be true or false");
    const json_t *depth = json_object_get(p, "depth");
    if (depth != NULL &&
        (!json_is_number(depth) || json_number_value(depth) < 0 || json_number_value(depth) > 1000))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "depth", "depth is set by the hub: omit it");
    /* A scene whose action runs a scene (itself, with restart) must not loop
     * for ever: runs started by runs nest at most SCN_DEPTH_MAX deep. */
    if (depth != NULL && json_number_value(depth) > SCN_DEPTH_MAX)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "name",
                              "scenes started by scenes nest at most %d deep: this run would be "
                              "%d deep (does a scene run itself?)",
                              SCN_DEPTH_MAX, (int)json_number_value(depth));
    if (label != NULL && (!json_is_string(label) || json_string_length(label) > SCN_LABEL_MAX))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "label",
                              "label must be a string of at most %d bytes", SCN_LABEL_MAX);
    if (inline_scene != NULL) {
        if (json_object_get(p, "name") != NULL)
            return hub_apply_fail(ap, HUB_ERR_INVALID, "scene",
                                  "send either name (a saved scene) or scene (actions inline)");
        const json_t *acts = json_object_get(inline_scene, "actions");
        if (!json_is_object(inline_scene) || json_object_size(inline_scene) != 1 || acts == NULL)
            return hub_apply_fail(ap, HUB_ERR_INVALID, "scene",
                                  "an inline scene is {\"actions\": […]}");
        if (scn_parse_actions(acts, "scene.actions", &def, &err) != 0)
            return hub_apply_fail(ap, HUB_ERR_INVALID, err.field, "%s", err.msg);
    } else {
        const char *name = name_of(ap, p);
        if (name == NULL)
            return HUB_EINVAL;
        const scn_file_t *f = scn__file(d, name);
        if (f == NULL)
            return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "name",
                                  "no scene named \"%s\" (GET /api/v1/scenes lists them)", name);
        if (!f->ok)
            return hub_apply_fail(ap, HUB_ERR_INVALID, "name", "scene %s cannot run: %s", name,
                                  f->error ? f->error : "its file does not parse");
        if (copy_scene(&f->scene, &def) != 0)
            return hub_apply_fail(ap, HUB_ERR_INVALID, "name", "scene %s could not be copied",
                                  name);
        snprintf(def.name, sizeof(def.name), "%s", name);
    }
    scn_run_t *busy = def.room[0] ? in_room(d, def.room) : NULL;
    if (busy != NULL && !json_is_true(restart)) {
        char room[SCN_NAME_MAX + 1];
        snprintf(room, sizeof(room), "%s", def.room);
        scn_scene_free(&def);
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "name",
                              "room %s is running %s (run %s): stop it first, or send "
                              "\"restart\": true to stop it and start this one",
                              room, busy->label, busy->id);
    }
    if (busy == NULL && d->nruns >= SCN_RUNS_MAX) {
        scn_scene_free(&def);
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "name", "%d runs are running: stop one first",
                              SCN_RUNS_MAX);
    }
    if (busy != NULL)
        stop_run(d, ap, run_index(d, busy));

    scn_run_t *r = hub_calloc(1, sizeof(*r));
    hub_ulid_new(r->id);
    snprintf(r->label, sizeof(r->label), "%s",
             label         ? json_string_value(label)
             : def.name[0] ? def.name
                           : "inline");
    snprintf(r->src, sizeof(r->src), "%s", in->src);
    r->depth = depth ? (int)json_number_value(depth) : 0;
    r->def = def;
    r->acts = hub_calloc(def.n ? def.n : 1, sizeof(*r->acts));
    /* Both clocks read now, together: the intent's ts is its batch's, taken
     * before earlier intents of the batch applied. */
    r->started_ms = hub_wall_ms();
    r->start_us = hub_mono_us();
    for (size_t k = 0; k < def.n; k++)
        r->acts[k].due_us = r->start_us + (uint64_t)def.actions[k].t_ms * 1000u;
    d->runs = hub_realloc(d->runs, (d->nruns + 1) * sizeof(*d->runs));
    d->runs[d->nruns++] = r;
    /* Its 0 ms MQTT actions go out now, as the timer sends later ones, not
     * after this intent's commit (docs/decisions/scenes.md). */
    scn__publish_due(d);
    fire_due(d, ap, r, r->start_us);
    hub_jbuf_t b;
    hub_jbuf_init(&b);
    scn__render_run(&b, r);
    scn__row_run(ap, r, b.p, b.len);
    hub_jbuf_free(&b);
    r->dirty = 1;
    settle(d, ap);
    return 0;
}

static int apply_stop(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"name", "run", NULL};
    hub_scndom_t *d = ctx;
    const char *name = json_string_value(json_object_get(p, "name"));
    const char *run = json_string_value(json_object_get(p, "run"));

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    if ((name == NULL) == (run == NULL))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "name",
                              "send name (the scene) or run (a run id), one of them");
    if (name != NULL && name_of(ap, p) == NULL)
        return HUB_EINVAL;
    /* Stopping what is not running is not an error: the room is quiet. */
    for (size_t i = 0; i < d->nruns; i++) {
        scn_run_t *r = d->runs[i];
        if ((name && strcmp(r->def.name, name) == 0) || (run && strcmp(r->id, run) == 0)) {
            stop_run(d, ap, i);
            return 0;
        }
    }
    if (name != NULL && scn__file(d, name) == NULL)
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "name",
                              "no scene named \"%s\" (GET /api/v1/scenes lists them)", name);
    return 0;
}

static int apply_tick(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_scndom_t *d = ctx;
    uint64_t now_us = hub_mono_us();
    (void)p;

    if (scn__own_only(ap) != 0)
        return HUB_EINVAL;
    int expired = expire(d, now_us);
    if (expired > 0)
        scn__change_feedback(ap, d); /* its timeout count */
    for (size_t i = 0; i < d->nruns; i++)
        fire_due(d, ap, d->runs[i], now_us);
    /* A tick that found nothing due (woken early) spends no seq. */
    if (settle(d, ap) == 0 && expired == 0)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "nothing was due");
    return 0;
}

/* The oldest action awaiting feedback that this feedback may answer. */
static int oldest(hub_scndom_t *d, const char *room, const char *device, int by_device,
                  scn_run_t **rr, size_t *kk)
{
    uint64_t best = UINT64_MAX;
    *rr = NULL;
    for (size_t i = 0; i < d->nruns; i++) {
        scn_run_t *r = d->runs[i];
        for (size_t k = 0; k < r->def.n; k++) {
            const scn_action_t *a = &r->def.actions[k];
            const scn_act_t *s = &r->acts[k];
            if (s->status != SCN_ST_SENT || a->kind != SCN_MQTT || s->sent_us == 0 ||
                s->sent_us >= best)
                continue;
            if (room && strcmp(a->room, room) != 0)
                continue;
            if (by_device && (a->device == NULL || strcmp(a->device, device) != 0))
                continue;
            best = s->sent_us;
            *rr = r;
            *kk = k;
        }
    }
    return *rr != NULL;
}

/* Whether the actions waiting for feedback are all in one room: only then
 * may a device's confirmation that names no action take the oldest (seed 002
 * runs one room per controller; with two, it could confirm the wrong one). */
static int one_room_waits(const hub_scndom_t *d)
{
    const char *room = NULL;
    for (size_t i = 0; i < d->nruns; i++)
        for (size_t k = 0; k < d->runs[i]->def.n; k++) {
            const scn_action_t *a = &d->runs[i]->def.actions[k];
            if (d->runs[i]->acts[k].status != SCN_ST_SENT || a->kind != SCN_MQTT)
                continue;
            if (room != NULL && strcmp(room, a->room) != 0)
                return 0;
            room = a->room;
        }
    return room != NULL;
}

/* A stopped run's action, older than before_us and still in its timeout
 * at at_us, that this feedback answers; d->nghosts when none. */
static size_t ghost_before(hub_scndom_t *d, const char *room, const char *device,
                           uint64_t before_us, uint64_t at_us, uint64_t limit)
{
    for (size_t i = 0; i < d->nghosts; i++) {
        const scn_ghost_t *g = &d->ghosts[i];
        if (g->sent_us >= before_us || at_us > g->sent_us + limit)
            continue;
        if (room ? strcmp(g->room, room) == 0
                 : (g->device[0] == '\0' || strcmp(g->device, device) == 0))
            return i;
    }
    return d->nghosts;
}

static void observe(hub_scndom_t *d, double ms)
{
    int i = 0;
    while (i < SCN_LAT_BUCKETS && ms > scn_lat_bounds_ms[i])
        i++;
    d->lat_counts[i]++;
    d->lat_sum_ms += ms;
}

static int apply_feedback(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"room", "device", "ok", "at_us", "topic", NULL};
    hub_scndom_t *d = ctx;
    const char *room = json_string_value(json_object_get(p, "room"));
    const char *device = json_string_value(json_object_get(p, "device"));
    int ok = json_is_true(json_object_get(p, "ok"));
    uint64_t at_us = (uint64_t)json_number_value(json_object_get(p, "at_us"));
    uint64_t limit = (uint64_t)d->cfg.feedback_timeout_ms * 1000u;
    scn_run_t *r;
    size_t k;
    int changed = 0;

    if (scn__own_only(ap) != 0 || hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    for (;;) {
        int found = device ? oldest(d, NULL, device, 1, &r, &k) ||
                                 (one_room_waits(d) && oldest(d, NULL, NULL, 0, &r, &k))
                           : oldest(d, room, NULL, 0, &r, &k);
        size_t gi =
            ghost_before(d, room, device, found ? r->acts[k].sent_us : UINT64_MAX, at_us, limit);
        if (gi < d->nghosts) { /* it answers a stopped run's action */
            drop_ghost(d, gi);
            break;
        }
        if (!found)
            break; /* nobody waits for it (the tick timed it out first) */
        scn_act_t *s = &r->acts[k];
        r->dirty = 1;
        changed = 1;
        if (at_us > s->sent_us + limit) { /* late: that one timed out; try the next */
            s->status = SCN_ST_TIMEOUT;
            d->fb_timeout++;
            continue;
        }
        s->latency_ms = at_us > s->sent_us ? (double)(at_us - s->sent_us) / 1000.0 : 0;
        observe(d, s->latency_ms);
        if (ok) {
            s->status = SCN_ST_OK;
            d->fb_ok++;
        } else {
            char msg[300];
            snprintf(msg, sizeof(msg), "the device answered ERROR on %s",
                     json_string_value(json_object_get(p, "topic")));
            act_error(s, SCN_ST_ERROR, msg);
            d->fb_error++;
        }
        break;
    }
    if (!changed) /* answered a stopped run, or came too late: nothing to record, no seq */
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "", "no action waits for this feedback");
    scn__change_feedback(ap, d);
    settle(d, ap);
    return 0;
}

static int apply_outcome(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"run", "k", "ok", "error", "ref", NULL};
    hub_scndom_t *d = ctx;
    const char *id = json_string_value(json_object_get(p, "run"));
    double kf = json_number_value(json_object_get(p, "k"));
    const char *error = json_string_value(json_object_get(p, "error"));
    const char *ref = json_string_value(json_object_get(p, "ref"));
    scn_run_t *r = id ? scn__run(d, id) : NULL;

    if (scn__own_only(ap) != 0 || hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    if (r == NULL || kf < 0 || (size_t)kf >= r->def.n) /* the run ended (stopped) meanwhile */
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "run", "the run is no longer running");
    scn_act_t *s = &r->acts[(size_t)kf];
    int before = s->status;
    int had_ref = s->ref != NULL;
    if (ref != NULL) {
        hub_free(s->ref);
        s->ref = hub_strdup(ref);
    }
    if (json_is_true(json_object_get(p, "ok"))) {
        if (s->status == SCN_ST_SENT)
            s->status = SCN_ST_DONE;
    } else if (s->status == SCN_ST_SENT || s->status == SCN_ST_PLAYED) {
        act_error(s, SCN_ST_ERROR, error ? error : "failed");
    }
    if (s->status == before && (ref == NULL || had_ref))
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "k", "the action's outcome is known already");
    if (s->status != before)
        s->logged = 0; /* log and count the new outcome */
    r->dirty = 1;
    settle(d, ap);
    return 0;
}

static int apply_mode(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"simulation", "link", NULL};
    hub_scndom_t *d = ctx;
    int sim = json_is_true(json_object_get(p, "simulation"));

    if (scn__own_only(ap) != 0 || hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    d->link = (int)json_number_value(json_object_get(p, "link"));
    if (sim == d->simulation)
        return 0;
    d->simulation = sim;
    d->sim_since_ms = sim ? hub_apply_ts_ms(ap) : 0;
    scn__change_mode(ap, d);
    return 0;
}

const hub_intent_def_t scn__intents[] = {
    {"scene.save", apply_save, NULL},
    {"scene.delete", apply_delete, NULL},
    {"scene.rescan", apply_rescan, prepare_rescan},
    {"scene.run", apply_run, NULL},
    {"scene.stop", apply_stop, NULL},
    {"scene.tick", apply_tick, NULL},
    {"scene.feedback", apply_feedback, NULL},
    {"scene.outcome", apply_outcome, NULL},
    {"scene.mode", apply_mode, NULL},
    {NULL, NULL, NULL},
};
