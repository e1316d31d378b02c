/* domains/scenes/routes.c - REST: the scene files, running and stopping
 * them, and their runs (docs/scenes.md).
 */
#include <stdio.h>
#include <string.h>

#include "core/jbuf.h"
#include "core/mem.h"
#include "domains/scenes/scenes_int.h"

static const int scene_max_bytes = SCN_FILE_MAX;

static int arg_name(const hub_route_req_t *rq, hub_error_t *err)
{
    if (!scn_name_valid(rq->args[0], strlen(rq->args[0])))
        return hub_error_set(err, HUB_ERR_INVALID, "name",
                             "a scene name is 1-64 characters of A-Z a-z 0-9 _ -");
    return 0;
}

/* ---- reads ------------------------------------------------------------------------------ */

static int list_scenes(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_scndom_t *d = ctx;
    (void)rq;
    (void)err;
    hub_jbuf_open(out, '{');
    hub_jbuf_key(out, "dir");
    hub_jbuf_str(out, d->dir);
    hub_jbuf_key(out, "scenes");
    hub_jbuf_open(out, '[');
    for (size_t i = 0; i < d->nfiles; i++) {
        const scn_file_t *f = d->files[i];
        const scn_run_t *running = NULL;
        for (size_t j = 0; j < d->nruns && running == NULL; j++)
            if (strcmp(d->runs[j]->def.name, f->name) == 0)
                running = d->runs[j];
        hub_jbuf_open(out, '{');
        hub_jbuf_key(out, "name");
        hub_jbuf_str(out, f->name);
        hub_jbuf_key(out, "room");
        if (f->ok)
            hub_jbuf_str(out, f->scene.room);
        else
            hub_jbuf_null(out);
        hub_jbuf_key(out, "actions");
        hub_jbuf_uint(out, f->ok ? f->scene.n : 0);
        hub_jbuf_key(out, "duration_ms");
        hub_jbuf_int(out, f->ok ? f->scene.duration_ms : 0);
        hub_jbuf_key(out, "running");
        if (running)
            hub_jbuf_str(out, running->id);
        else
            hub_jbuf_null(out);
        hub_jbuf_key(out, "error");
        if (f->ok)
            hub_jbuf_null(out);
        else
            hub_jbuf_str(out, f->error ? f->error : "");
        hub_jbuf_close(out, '}');
    }
    hub_jbuf_close(out, ']');
    hub_jbuf_key(out, "simulation");
    hub_jbuf_bool(out, d->simulation);
    hub_jbuf_close(out, '}');
    return 0;
}

static int get_scene(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_scndom_t *d = ctx;
    if (arg_name(rq, err) != 0)
        return HUB_EINVAL;
    const scn_file_t *f = scn__file(d, rq->args[0]);
    if (f == NULL)
        return hub_error_set(err, HUB_ERR_NOT_FOUND, "name",
                             "no scene named \"%s\" (GET /api/v1/scenes lists them)", rq->args[0]);
    if (!f->ok)
        return hub_error_set(err, HUB_ERR_INVALID, "name", "%s",
                             f->error ? f->error : "the file does not parse");
    scn_render(out, &f->scene);
    return 0;
}

static int list_runs(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_scndom_t *d = ctx;
    (void)rq;
    (void)err;
    hub_jbuf_open(out, '{');
    hub_jbuf_key(out, "runs");
    hub_jbuf_open(out, '[');
    for (size_t i = d->nruns; i-- > 0;)
        scn__render_run(out, d->runs[i]);
    for (size_t i = d->nended; i-- > 0;)
        hub_jbuf_json(out, d->ended[i].text, d->ended[i].len);
    hub_jbuf_close(out, ']');
    hub_jbuf_key(out, "feedback");
    scn__render_feedback(out, d);
    hub_jbuf_key(out, "mode");
    scn__render_mode(out, d);
    hub_jbuf_close(out, '}');
    return 0;
}

static int get_run(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_scndom_t *d = ctx;
    const scn_run_t *r = scn__run(d, rq->args[0]);
    if (r != NULL) {
        scn__render_run(out, r);
        return 0;
    }
    for (size_t i = 0; i < d->nended; i++)
        if (strcmp(d->ended[i].id, rq->args[0]) == 0) {
            hub_jbuf_json(out, d->ended[i].text, d->ended[i].len);
            return 0;
        }
    return hub_error_set(err, HUB_ERR_NOT_FOUND, "run",
                         "no run %.40s among the running and the last %d ended "
                         "(GET /api/v1/scenes/runs lists them)",
                         rq->args[0], SCN_ENDED_KEEP);
}

/* ---- mutations --------------------------------------------------------------------------- */

static int put_scene(const hub_route_req_t *rq, const char **name, json_t **payload,
                     hub_error_t *err)
{
    if (arg_name(rq, err) != 0)
        return HUB_EINVAL;
    if (rq->body == NULL || !json_is_object(rq->body))
        return hub_error_set(err, HUB_ERR_INVALID, "scene",
                             "the body must be a scene: {\"room\": \"room1\", \"actions\": "
                             "[{\"t_ms\": 0, \"topic\": \"room1/light\", \"message\": \"ON\"}]}");
    *name = "scene.save";
    *payload = json_pack("{s:s,s:O}", "name", rq->args[0], "scene", rq->body);
    return 0;
}

static int delete_scene(const hub_route_req_t *rq, const char **name, json_t **payload,
                        hub_error_t *err)
{
    if (arg_name(rq, err) != 0)
        return HUB_EINVAL;
    *name = "scene.delete";
    *payload = json_pack("{s:s}", "name", rq->args[0]);
    return 0;
}

static int post_run(const hub_route_req_t *rq, const char **name, json_t **payload,
                    hub_error_t *err)
{
    if (arg_name(rq, err) != 0)
        return HUB_EINVAL;
    json_t *p = json_pack("{s:s}", "name", rq->args[0]);
    if (rq->body != NULL) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)rq->body, key, v)
        {
            if (strcmp(key, "restart") != 0) {
                json_decref(p);
                return hub_error_set(err, HUB_ERR_INVALID, key,
                                     "unknown field \"%.40s\": the body is {\"restart\": true} "
                                     "or empty",
                                     key);
            }
            json_object_set(p, key, v);
        }
    }
    *name = "scene.run";
    *payload = p;
    return 0;
}

static int post_stop(const hub_route_req_t *rq, const char **name, json_t **payload,
                     hub_error_t *err)
{
    if (arg_name(rq, err) != 0)
        return HUB_EINVAL;
    *name = "scene.stop";
    *payload = json_pack("{s:s}", "name", rq->args[0]);
    return 0;
}

static int post_rescan(const hub_route_req_t *rq, const char **name, json_t **payload,
                       hub_error_t *err)
{
    (void)rq;
    (void)err;
    *name = "scene.rescan";
    *payload = json_object();
    return 0;
}

/* {"ok":true,"seq":N,"req_id":…,"run_id":…}: the client follows its run. */
static void answer_run(void *ctx, const hub_intent_t *in, const hub_announce_t *ann,
                       hub_reply_t *reply)
{
    hub_jbuf_t b;
    const char *run = NULL;
    (void)ctx;

    /* the new run is the last run that changed (a restart stops the old one
     * first; a full history evicts the oldest as null) */
    for (size_t i = 0; ann && i < ann->nchanges; i++)
        if (strncmp(ann->changes[i].path, "scenes.runs.", 12) == 0 &&
            strcmp(ann->changes[i].value, "null") != 0)
            run = ann->changes[i].path + 12;
    hub_jbuf_init(&b);
    hub_jbuf_open(&b, '{');
    hub_jbuf_key(&b, "ok");
    int ok = in->outcome == HUB_INTENT_APPLIED || in->outcome == HUB_INTENT_DUPLICATE;
    hub_jbuf_bool(&b, ok);
    if (ok) {
        hub_jbuf_key(&b, "seq");
        hub_jbuf_uint(&b, in->seq);
    }
    hub_jbuf_key(&b, "req_id");
    hub_jbuf_str(&b, in->req_id);
    if (ok) {
        hub_jbuf_key(&b, "run_id");
        if (run)
            hub_jbuf_str(&b, run);
        else
            hub_jbuf_null(&b); /* a duplicate: its run is the first request's */
    } else {
        hub_jbuf_key(&b, "error");
        hub_jbuf_open(&b, '{');
        hub_jbuf_key(&b, "code");
        hub_jbuf_str(&b, in->outcome == HUB_INTENT_REJECTED ? hub_errcode_name(in->err.code)
                                                            : "unavailable");
        hub_jbuf_key(&b, "message");
        hub_jbuf_str(&b,
                     in->outcome == HUB_INTENT_REJECTED ? in->err.msg : hub_strerror(in->outcome));
        if (in->outcome == HUB_INTENT_REJECTED && in->err.field[0]) {
            hub_jbuf_key(&b, "field");
            hub_jbuf_str(&b, in->err.field);
        }
        hub_jbuf_close(&b, '}');
    }
    hub_jbuf_close(&b, '}');
    int status = ok                                   ? 200
                 : in->outcome == HUB_INTENT_REJECTED ? hub_errcode_http(in->err.code)
                                                      : 503;
    hub_reply_send(reply, status, b.p, b.len);
    hub_jbuf_free(&b);
}

const hub_route_def_t scn__routes[] = {
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/scenes", .read = list_scenes},
    {.method = HUB_HTTP_POST,
     .pattern = "/api/v1/scenes/rescan",
     .to_intent = post_rescan,
     .lenient_body = 1},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/scenes/runs", .read = list_runs},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/scenes/runs/*", .read = get_run},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/scenes/*", .read = get_scene},
    {.method = HUB_HTTP_PUT,
     .pattern = "/api/v1/scenes/*",
     .to_intent = put_scene,
     .max_body = &scene_max_bytes},
    {.method = HUB_HTTP_DELETE, .pattern = "/api/v1/scenes/*", .to_intent = delete_scene},
    {.method = HUB_HTTP_POST,
     .pattern = "/api/v1/scenes/*/run",
     .to_intent = post_run,
     .answer = answer_run},
    {.method = HUB_HTTP_POST, .pattern = "/api/v1/scenes/*/stop", .to_intent = post_stop},
    {.method = 0},
};
