/* domains/show/routes.c - the show REST routes.
 *
 *   GET    /api/v1/shows                     {"shows":[…show.list…],"loaded":name|null}
 *   GET    /api/v1/shows/<name>              the show file (canonical form)
 *   PUT    /api/v1/shows/<name>              show.save (the whole file, up to DMX_SHOW_MAX_BYTES)
 *   DELETE /api/v1/shows/<name>              show.delete
 *   GET    /api/v1/shows/<name>/frame?t_ms=T {"t_ms":T,"universes":{"1":[512 values],…}}
 *   GET    /api/v1/shows/<name>/audio        the show's audio file (Range: 206)
 *
 * Reads of the loaded show come from memory; another show is read from its
 * file on the loop thread once per change of the file or the patch (one
 * show is cached: show__cache_t), so repeated /frame or /audio requests
 * cost a stat, not a parse.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/mem.h"
#include "domains/show/show_int.h"

static int show_max_bytes = 4 * 1024 * 1024;

void show__routes_configure(int max_bytes)
{
    show_max_bytes = max_bytes;
}

static int arg_name(const hub_route_req_t *rq, hub_error_t *err)
{
    if (!hub_show_name_valid(rq->args[0], strlen(rq->args[0])))
        return hub_error_set(err, HUB_ERR_INVALID, "name",
                             "a show name is 1-64 of A-Z a-z 0-9 _ . -");
    return 0;
}

static int put_show(const hub_route_req_t *rq, const char **name, json_t **payload,
                    hub_error_t *err)
{
    if (arg_name(rq, err) != 0)
        return HUB_EINVAL;
    if (!json_is_object(rq->body))
        return hub_error_set(err, HUB_ERR_INVALID, "",
                             "send the show file as a JSON object (see docs/shows.md)");
    *name = "show.save";
    *payload = json_pack("{s:s,s:O}", "name", rq->args[0], "show", rq->body);
    return 0;
}

static int delete_show(const hub_route_req_t *rq, const char **name, json_t **payload,
                       hub_error_t *err)
{
    if (arg_name(rq, err) != 0)
        return HUB_EINVAL;
    *name = "show.delete";
    *payload = json_pack("{s:s}", "name", rq->args[0]);
    return 0;
}

static int get_shows(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_showdom_t *d = ctx;
    (void)rq;
    (void)err;
    hub_jbuf_open(out, '{');
    hub_jbuf_key(out, "shows");
    show__render_list(out, d);
    hub_jbuf_key(out, "loaded");
    if (d->loaded)
        hub_jbuf_str(out, d->show.name);
    else
        hub_jbuf_null(out);
    hub_jbuf_close(out, '}');
    return 0;
}

/* Show name from its file (structure and references checked). */
static int read_show(hub_showdom_t *d, const char *name, hub_show_t *out, hub_error_t *err)
{
    char file[HUB_SHOW_NAME_MAX + 16];
    hub_show_patch_t patch = show__patch(d);
    json_t *root;

    if (show__read_json(d->dir, name, d->max_bytes, &root, err) != 0)
        return HUB_EINVAL;
    snprintf(file, sizeof(file), "%s%s", name, HUB_SHOW_FILE_SUFFIX);
    int rc = hub_show_from_json(root, file, out, err->msg, sizeof(err->msg), err->field,
                                sizeof(err->field));
    json_decref(root);
    if (rc == 0 && (rc = hub_show_check(out, file, &patch, err->msg, sizeof(err->msg), err->field,
                                        sizeof(err->field))) != 0)
        hub_show_free(out);
    if (rc != 0)
        err->code = HUB_ERR_INVALID;
    return rc;
}

/* Show name (not the loaded one) through the cache: read again only when
 * the file (mtime, size) or the patch changed. NULL with err on failure. */
static show__cache_t *cached(hub_showdom_t *d, const char *name, hub_error_t *err)
{
    show__cache_t *c = &d->cache;
    char path[4096];
    struct stat st;

    show__path(d, name, path, sizeof(path));
    if (stat(path, &st) != 0) {
        hub_error_set(err, HUB_ERR_NOT_FOUND, "name",
                      "no show named \"%s\" (GET /api/v1/shows lists the shows)", name);
        return NULL;
    }
    int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (c->valid && strcmp(c->name, name) == 0 && c->mtime_ns == mtime &&
        c->size == (int64_t)st.st_size && c->patch_gen == d->patch_gen)
        return c;
    hub_show_free(&c->show);
    hub_show_prog_unref(c->prog);
    memset(c, 0, sizeof(*c));
    if (read_show(d, name, &c->show, err) != 0)
        return NULL;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->mtime_ns = mtime;
    c->size = (int64_t)st.st_size;
    c->patch_gen = d->patch_gen;
    c->valid = 1;
    return c;
}

static int get_show(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_showdom_t *d = ctx;

    if (arg_name(rq, err) != 0)
        return HUB_EINVAL;
    if (d->loaded && strcmp(d->show.name, rq->args[0]) == 0) {
        hub_show_render(out, &d->show);
        return 0;
    }
    const show__cache_t *c = cached(d, rq->args[0], err);
    if (c == NULL)
        return HUB_EINVAL;
    hub_show_render(out, &c->show);
    return 0;
}

/* t_ms from the query: a number of ms (up to 3 decimals), 0..duration. */
static int query_t(const char *query, int64_t duration_ms, double *t_ms, hub_error_t *err)
{
    const char *p = query;
    while (p != NULL && *p != '\0' && strncmp(p, "t_ms=", 5) != 0) {
        p = strchr(p, '&');
        p = p ? p + 1 : NULL;
    }
    if (p == NULL || *p == '\0')
        return hub_error_set(err, HUB_ERR_INVALID, "t_ms",
                             "t_ms is required: ?t_ms=<show time in ms>");
    /* digits, optionally '.' and up to three more: no signs, exponents, hex */
    const char *q = p + 5, *end;
    size_t ints = strspn(q, "0123456789"), decs = 0;
    if (q[ints] == '.')
        decs = strspn(q + ints + 1, "0123456789");
    end = q + ints + (q[ints] == '.' ? 1 + decs : 0);
    double t = ints > 0 && ints <= 12 && decs <= 3 ? strtod(q, NULL) : -1;
    if ((*end != '\0' && *end != '&') || (q[ints] == '.' && decs == 0) || t < 0 ||
        t > (double)duration_ms)
        return hub_error_set(err, HUB_ERR_INVALID, "t_ms",
                             "t_ms must be a number of milliseconds from 0 to %lld (the show's "
                             "duration_ms), with at most three decimals",
                             (long long)duration_ms);
    *t_ms = t;
    return 0;
}

static void render_frame(hub_showdom_t *d, const hub_show_prog_t *prog, double t_ms,
                         hub_jbuf_t *out)
{
    uint8_t vals[HUB_SHOW_SLOTS], set[HUB_SHOW_SLOTS];
    char num[40], key[16];
    size_t nu;
    const int *u = hub_dmx_universes(d->dmx, &nu);
    int64_t t_us = (int64_t)llround(t_ms * 1000.0);

    hub_jbuf_open(out, '{');
    hub_jbuf_key(out, "t_ms");
    if (t_us % 1000 == 0)
        hub_jbuf_int(out, t_us / 1000);
    else {
        int n = snprintf(num, sizeof(num), "%lld.%03lld", (long long)(t_us / 1000),
                         (long long)(t_us % 1000));
        while (num[n - 1] == '0')
            n--;
        hub_jbuf_json(out, num, (size_t)n);
    }
    hub_jbuf_key(out, "universes");
    hub_jbuf_open(out, '{');
    for (size_t i = 0; i < nu; i++) {
        hub_show_render_universe(prog, NULL, u[i], t_us, vals, set);
        snprintf(key, sizeof(key), "%d", u[i]);
        hub_jbuf_key(out, key);
        hub_jbuf_open(out, '[');
        for (int s = 0; s < HUB_SHOW_SLOTS; s++)
            hub_jbuf_uint(out, set[s] ? vals[s] : 0);
        hub_jbuf_close(out, ']');
    }
    hub_jbuf_close(out, '}');
    hub_jbuf_close(out, '}');
}

static int get_frame(void *ctx, const hub_route_req_t *rq, hub_jbuf_t *out, hub_error_t *err)
{
    hub_showdom_t *d = ctx;
    double t;

    if (arg_name(rq, err) != 0)
        return HUB_EINVAL;
    if (d->loaded && d->prog != NULL && strcmp(d->show.name, rq->args[0]) == 0) {
        if (query_t(rq->query, d->show.duration_ms, &t, err) != 0)
            return HUB_EINVAL;
        render_frame(d, d->prog, t, out);
        return 0;
    }
    show__cache_t *c = cached(d, rq->args[0], err);
    if (c == NULL || query_t(rq->query, c->show.duration_ms, &t, err) != 0)
        return HUB_EINVAL;
    if (c->prog == NULL) {
        hub_show_patch_t patch = show__patch(d);
        c->prog = hub_show_compile(&c->show, &patch, NULL);
    }
    render_frame(d, c->prog, t, out);
    return 0;
}

static const char *audio_type(const char *file)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".mp3", "audio/mpeg"}, {".ogg", "audio/ogg"}, {".oga", "audio/ogg"},
                 {".opus", "audio/ogg"}, {".wav", "audio/wav"}, {".flac", "audio/flac"},
                 {".m4a", "audio/mp4"},  {".aac", "audio/aac"}, {".webm", "audio/webm"}};
    const char *dot = strrchr(file, '.');
    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static const show__entry_t *listed(const hub_showdom_t *d, const char *name)
{
    for (size_t i = 0; i < d->nlist; i++)
        if (strcmp(d->list[i].name, name) == 0 && d->list[i].error == NULL)
            return &d->list[i];
    return NULL;
}

/* A media player asks again for every Range: answer from memory (the
 * loaded show, the list) and read the file only for a show not listed. */
static int get_audio(void *ctx, const hub_route_req_t *rq, char *path, size_t pathlen,
                     const char **ctype, hub_error_t *err)
{
    hub_showdom_t *d = ctx;
    const show__entry_t *e;
    char audio[HUB_SHOW_AUDIO_MAX + 1];

    if (arg_name(rq, err) != 0)
        return HUB_EINVAL;
    if (d->loaded && strcmp(d->show.name, rq->args[0]) == 0) {
        snprintf(audio, sizeof(audio), "%s", d->show.audio);
    } else if ((e = listed(d, rq->args[0])) != NULL) {
        snprintf(audio, sizeof(audio), "%s", e->audio);
    } else {
        const show__cache_t *c = cached(d, rq->args[0], err);
        if (c == NULL)
            return HUB_EINVAL;
        snprintf(audio, sizeof(audio), "%s", c->show.audio);
    }
    if (audio[0] == '\0')
        return hub_error_set(err, HUB_ERR_NOT_FOUND, "audio", "show %s has no audio file",
                             rq->args[0]);
    show__dir_file(d, audio, path, pathlen);
    *ctype = audio_type(audio);
    return 0;
}

const hub_route_def_t hub__show_routes[] = {
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/shows", .read = get_shows},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/shows/*", .read = get_show},
    {.method = HUB_HTTP_PUT,
     .pattern = "/api/v1/shows/*",
     .to_intent = put_show,
     .max_body = &show_max_bytes},
    {.method = HUB_HTTP_DELETE, .pattern = "/api/v1/shows/*", .to_intent = delete_show},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/shows/*/frame", .read = get_frame},
    {.method = HUB_HTTP_GET, .pattern = "/api/v1/shows/*/audio", .file = get_audio},
    {0},
};
