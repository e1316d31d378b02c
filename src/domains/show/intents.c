/* domains/show/intents.c - the show intents: validate, change, report.
 *
 * Like the dmx intents: the whole payload is validated against the working
 * state before anything changes; unknown payload members are refused; a
 * missing show or cue is not_found, a state that does not allow the intent
 * (editing while playing, loading over a playing show) is conflict, bad
 * input is invalid, with the field named.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/mem.h"
#include "domains/show/show_int.h"

/* ---- emitting changes ------------------------------------------------------------ */

void show__emit_loaded(hub_showdom_t *d, hub_apply_t *ap)
{
    hub_jbuf_t *b = hub_apply_scratch(ap);
    show__render_loaded(b, d);
    hub_apply_change(ap, "show.loaded", b->p, b->len, NULL, 0);
    show__stage(d, ap, 0);
}

void show__emit_transport(hub_showdom_t *d, hub_apply_t *ap)
{
    hub_jbuf_t *b = hub_apply_scratch(ap);
    show__render_transport(b, d);
    hub_apply_change(ap, "show.transport", b->p, b->len, &d->tr, sizeof(d->tr));
    show__row_transport(ap, d);
}

void show__emit_previews(hub_showdom_t *d, hub_apply_t *ap)
{
    hub_jbuf_t *b = hub_apply_scratch(ap);
    show__render_previews(b, d);
    hub_apply_change(ap, "show.previews", b->p, b->len, NULL, 0);
    show__stage(d, ap, 1);
}

void show__emit_list(hub_showdom_t *d, hub_apply_t *ap)
{
    hub_jbuf_t *b = hub_apply_scratch(ap);
    show__render_list(b, d);
    hub_apply_change(ap, "show.list", b->p, b->len, NULL, 0);
}

/* ---- checks ----------------------------------------------------------------------------- */

int show__need_loaded(hub_showdom_t *d, hub_apply_t *ap)
{
    if (!d->loaded)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "",
                              "no show is loaded: send show.load {\"name\":…} first");
    return 0;
}

int show__not_playing(hub_showdom_t *d, hub_apply_t *ap, const char *what)
{
    if (d->loaded && d->tr.state == HUB_TRANSPORT_PLAYING)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "",
                              "the show is playing: pause or stop it to %s (edits are refused "
                              "while playing)",
                              what);
    return 0;
}

static const char *show_name(hub_apply_t *ap, const json_t *payload)
{
    const json_t *v = json_object_get(payload, "name");
    if (!json_is_string(v)) {
        hub_apply_fail(ap, HUB_ERR_INVALID, "name", "name is required: a show name");
        return NULL;
    }
    if (!hub_show_name_valid(json_string_value(v), json_string_length(v))) {
        hub_apply_fail(ap, HUB_ERR_INVALID, "name",
                       "name must be 1-64 of A-Z a-z 0-9 _ . - (the file <name>.cue.json)");
        return NULL;
    }
    return json_string_value(v);
}

/* A show parsed and checked against the patch; file names it in errors. */
static int parse_show(hub_showdom_t *d, hub_apply_t *ap, const json_t *root, const char *name,
                      hub_show_t *out)
{
    char file[HUB_SHOW_NAME_MAX + 16], msg[HUB_ERRMSG_MAX + 1], field[HUB_FIELD_MAX + 1] = "";
    hub_show_patch_t patch = show__patch(d);

    snprintf(file, sizeof(file), "%s%s", name, HUB_SHOW_FILE_SUFFIX);
    if (hub_show_from_json(root, file, out, msg, sizeof(msg), field, sizeof(field)) != 0)
        return hub_apply_fail(ap, HUB_ERR_INVALID, field, "%s", msg);
    if (strcmp(out->name, name) != 0) {
        hub_apply_fail(ap, HUB_ERR_INVALID, "name",
                       "%s: \"name\" is \"%s\": it must be the file's name, \"%s\"", file,
                       out->name, name);
        hub_show_free(out);
        return HUB_EINVAL;
    }
    if (hub_show_check(out, file, &patch, msg, sizeof(msg), field, sizeof(field)) != 0) {
        hub_apply_fail(ap, HUB_ERR_INVALID, field, "%s", msg);
        hub_show_free(out);
        return HUB_EINVAL;
    }
    return 0;
}

/* The loaded show changed: its file, its program, its list entry. */
void show__loaded_changed(hub_showdom_t *d, hub_apply_t *ap)
{
    show__entry_t e;
    show__row_file(d, ap, &d->show);
    show__recompile(d);
    show__emit_loaded(d, ap);
    show__entry_of(&e, &d->show);
    show__list_put(d, &e);
    show__emit_list(d, ap);
}

void show__set_transport(hub_showdom_t *d, hub_apply_t *ap, int state, int64_t t_us, int rate_pm)
{
    d->tr.state = state;
    d->tr.t_us = t_us;
    d->tr.mono_us = hub_mono_us();
    d->tr.rate_pm = rate_pm;
    d->tr_at = hub_apply_ts_ms(ap);
    show__emit_transport(d, ap);
}

/* The show time now, to the millisecond below (where pause holds). */
int64_t show__position_us(const hub_showdom_t *d)
{
    if (d->tr.state != HUB_TRANSPORT_PLAYING)
        return d->tr.t_us;
    int64_t t = hub_transport_time_at(&d->tr, hub_mono_us(), show__duration_us(d));
    return t / 1000 * 1000;
}

/* ---- show.load / unload / save / delete / rescan ----------------------------------------- */

/* Prepare (any thread): the file's JSON joins the payload, so apply does
 * no I/O and the journal holds what was loaded. */
static int prepare_load(void *ctx, hub_intent_t *in, hub_error_t *err)
{
    hub_showdom_t *d = ctx;
    const json_t *v = json_object_get(in->payload, "name");
    json_t *root;

    if (!json_is_string(v) || !hub_show_name_valid(json_string_value(v), json_string_length(v)))
        return hub_error_set(err, HUB_ERR_INVALID, "name",
                             "name is required: 1-64 of A-Z a-z 0-9 _ . - (see GET "
                             "/api/v1/shows)");
    if (json_object_get(in->payload, "show") != NULL)
        return hub_error_set(err, HUB_ERR_INVALID, "show",
                             "show.load reads the file itself: send only {\"name\"}");
    if (show__read_json(d->dir, json_string_value(v), d->max_bytes, &root, err) != 0)
        return HUB_EINVAL;
    json_t *p = json_deep_copy(in->payload);
    json_object_set_new(p, "show", root);
    hub_intent_set_payload(in, p);
    return 0;
}

static int apply_load(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"name", "show", NULL};
    hub_showdom_t *d = ctx;
    hub_show_t s;
    const char *name;

    if (hub_apply_check_keys(ap, p, keys) != 0 || (name = show_name(ap, p)) == NULL)
        return HUB_EINVAL;
    if (show__not_playing(d, ap, "load another show") != 0)
        return HUB_EINVAL;
    if (json_object_get(p, "show") == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "show", "the show's file was not read");
    if (parse_show(d, ap, json_object_get(p, "show"), name, &s) != 0)
        return HUB_EINVAL;
    hub_show_free(&d->show);
    d->show = s;
    d->loaded = 1;
    show__recompile(d);
    show__emit_loaded(d, ap);
    show__row_loaded(ap, d);
    show__set_transport(d, ap, HUB_TRANSPORT_STOPPED, 0, HUB_RATE_ONE);
    show__entry_t e;
    show__entry_of(&e, &d->show);
    show__list_put(d, &e);
    show__emit_list(d, ap);
    return 0;
}

static int apply_unload(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {NULL};
    hub_showdom_t *d = ctx;

    if (hub_apply_check_keys(ap, p, keys) != 0 || show__not_playing(d, ap, "unload it") != 0)
        return HUB_EINVAL;
    if (!d->loaded)
        return 0;
    hub_show_free(&d->show);
    d->loaded = 0;
    show__recompile(d);
    show__emit_loaded(d, ap);
    show__row_loaded(ap, d);
    show__set_transport(d, ap, HUB_TRANSPORT_STOPPED, 0, HUB_RATE_ONE);
    return 0;
}

static int apply_save(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"name", "show", NULL};
    hub_showdom_t *d = ctx;
    hub_show_t s;
    const char *name;

    if (hub_apply_check_keys(ap, p, keys) != 0 || (name = show_name(ap, p)) == NULL)
        return HUB_EINVAL;
    if (!json_is_object(json_object_get(p, "show")))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "show", "show is required: the show file");
    int is_loaded = d->loaded && strcmp(d->show.name, name) == 0;
    if (is_loaded && show__not_playing(d, ap, "replace its file") != 0)
        return HUB_EINVAL;
    if (parse_show(d, ap, json_object_get(p, "show"), name, &s) != 0)
        return HUB_EINVAL;
    if (is_loaded) {
        hub_show_free(&d->show);
        d->show = s;
        show__loaded_changed(d, ap);
        /* A shorter show: the held position must stay inside it. */
        if (d->tr.t_us > show__duration_us(d))
            show__set_transport(d, ap, d->tr.state, show__duration_us(d), d->tr.rate_pm);
        return 0;
    }
    show__row_file(d, ap, &s);
    show__entry_t e;
    show__entry_of(&e, &s);
    show__list_put(d, &e);
    show__emit_list(d, ap);
    hub_show_free(&s);
    return 0;
}

/* Prepare (any thread): the file must exist now, listed or not (a file
 * copied in by hand is deletable before a rescan lists it). */
static int prepare_delete(void *ctx, hub_intent_t *in, hub_error_t *err)
{
    hub_showdom_t *d = ctx;
    const json_t *v = json_object_get(in->payload, "name");
    char path[4096];

    if (!json_is_string(v) || !hub_show_name_valid(json_string_value(v), json_string_length(v)))
        return 0; /* apply names what is wrong */
    show__path(d, json_string_value(v), path, sizeof(path));
    if (access(path, F_OK) != 0)
        return hub_error_set(err, HUB_ERR_NOT_FOUND, "name",
                             "no show named \"%s\" (see GET /api/v1/shows)", json_string_value(v));
    return 0;
}

static int apply_delete(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"name", NULL};
    hub_showdom_t *d = ctx;
    const char *name;

    if (hub_apply_check_keys(ap, p, keys) != 0 || (name = show_name(ap, p)) == NULL)
        return HUB_EINVAL;
    if (d->loaded && strcmp(d->show.name, name) == 0)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "name",
                              "show %s is loaded: send show.unload first", name);
    show__row_file_delete(d, ap, name);
    show__list_del(d, name);
    show__emit_list(d, ap);
    return 0;
}

static int prepare_rescan(void *ctx, hub_intent_t *in, hub_error_t *err)
{
    hub_showdom_t *d = ctx;
    const char *key;
    json_t *v;
    json_object_foreach(in->payload, key, v)
    {
        return hub_error_set(err, HUB_ERR_INVALID, key,
                             "unknown field \"%.40s\" in the payload: show.rescan takes {}", key);
    }
    json_t *p = json_pack("{s:o}", "entries", show__scan_json(d->dir, d->max_bytes));
    hub_intent_set_payload(in, p);
    return 0;
}

/* The references a scan found, checked against the patch (roles are
 * checked when the show is loaded). NULL when they all exist. */
static char *refs_error(hub_showdom_t *d, const char *name, const json_t *refs)
{
    char msg[256];
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(refs, "fixtures"), i, v)
    {
        if (json_is_string(v) && hub_dmx_fixture_def(d->dmx, json_string_value(v)) == NULL) {
            snprintf(msg, sizeof(msg), "%s%s: fixture \"%.64s\" is not in the patch", name,
                     HUB_SHOW_FILE_SUFFIX, json_string_value(v));
            return hub_strdup(msg);
        }
    }
    json_array_foreach(json_object_get(refs, "pois"), i, v)
    {
        if (json_is_string(v) && hub_dmx_poi(d->dmx, json_string_value(v)) == NULL) {
            snprintf(msg, sizeof(msg), "%s%s: POI \"%.64s\" is not in the patch", name,
                     HUB_SHOW_FILE_SUFFIX, json_string_value(v));
            return hub_strdup(msg);
        }
    }
    return NULL;
}

static int entry_from_json(hub_showdom_t *d, const json_t *o, show__entry_t *e)
{
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *error = json_string_value(json_object_get(o, "error"));
    const char *audio = json_string_value(json_object_get(o, "audio"));

    memset(e, 0, sizeof(*e));
    if (name == NULL || !hub_show_name_valid(name, strlen(name)))
        return -1;
    snprintf(e->name, sizeof(e->name), "%s", name);
    if (error != NULL) {
        e->error = hub_strdup(error);
        return 0;
    }
    e->duration_ms = (int64_t)json_number_value(json_object_get(o, "duration_ms"));
    e->ncues = (size_t)json_number_value(json_object_get(o, "cues"));
    e->neffects = (size_t)json_number_value(json_object_get(o, "effects"));
    snprintf(e->audio, sizeof(e->audio), "%s", audio ? audio : "");
    e->error = refs_error(d, name, json_object_get(o, "refs"));
    return 0;
}

static int apply_rescan(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"entries", NULL};
    hub_showdom_t *d = ctx;
    const json_t *arr = json_object_get(p, "entries");
    size_t i;
    json_t *o;

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    if (!json_is_array(arr))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "entries", "the directory was not read");
    hub_jbuf_t before;
    hub_jbuf_init(&before);
    show__render_list(&before, d);
    show__entry_t *old = d->list;
    size_t nold = d->nlist;
    d->list = NULL;
    d->nlist = 0;
    json_array_foreach(arr, i, o)
    {
        show__entry_t e;
        if (entry_from_json(d, o, &e) != 0)
            continue;
        if (!show__pending(d, e.name))
            show__list_put(d, &e);
        hub_free(e.error);
    }
    /* A save or delete not yet on disk: the scan saw the file before it. */
    for (size_t k = 0; k < nold; k++)
        if (show__pending(d, old[k].name))
            show__list_put(d, &old[k]);
    show__list_free(old, nold);
    /* The loaded show is what memory holds, whatever its file says now. */
    if (d->loaded) {
        show__entry_t e;
        show__entry_of(&e, &d->show);
        show__list_put(d, &e);
    }
    hub_jbuf_t *b = hub_apply_scratch(ap);
    show__render_list(b, d);
    int same = b->len == before.len && memcmp(b->p, before.p, b->len) == 0;
    hub_jbuf_free(&before);
    /* Nothing new: no seq, no journal entry (SIGHUP rescans every time). */
    if (same)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "",
                              "the shows directory is as show.list says: nothing to change");
    hub_apply_change(ap, "show.list", b->p, b->len, NULL, 0);
    return 0;
}

const hub_intent_def_t hub__show_intents[] = {
    {"show.load", apply_load, prepare_load},
    {"show.unload", apply_unload, NULL},
    {"show.save", apply_save, NULL},
    {"show.delete", apply_delete, prepare_delete},
    {"show.rescan", apply_rescan, prepare_rescan},
    {"transport.play", show__apply_play, NULL},
    {"transport.pause", show__apply_pause, NULL},
    {"transport.stop", show__apply_stop, NULL},
    {"transport.jump_to_time", show__apply_jump, NULL},
    {"transport.end", show__apply_end, NULL},
    {"cue.add", show__apply_cue_add, NULL},
    {"cue.update", show__apply_cue_update, NULL},
    {"cue.delete", show__apply_cue_delete, NULL},
    {"effect.add", show__apply_effect_add, NULL},
    {"effect.update", show__apply_effect_update, NULL},
    {"effect.delete", show__apply_effect_delete, NULL},
    {"fixture.preview_effect", show__apply_preview, NULL},
    {"fixture.preview_stop", show__apply_preview_stop, NULL},
    {"fixture.preview_expire", show__apply_preview_expire, NULL},
    {NULL, NULL, NULL},
};
