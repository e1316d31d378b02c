/* domains/show/edits.c - delta edits of the loaded show: cue.add/update/
 * delete and effect.add/update/delete, refused while playing, each saved
 * as the whole file in the group commit. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/mem.h"
#include "domains/show/show_int.h"

/* A one-item show checked against the patch; a refusal names the payload
 * member's field ("cue.fixtures[0]") and reads like the structure errors
 * ("cue \"n1\": …"), without the file and list position a whole file's
 * check puts first. */
static int check_one(hub_showdom_t *d, hub_apply_t *ap, const hub_show_t *one, const char *member)
{
    char msg[HUB_ERRMSG_MAX + 1], field[HUB_FIELD_MAX + 1] = "", full[HUB_FIELD_MAX + 1];
    hub_show_patch_t patch = show__patch(d);
    static const char *const cut[] = {"show: ", " (cues[0])", " (effects[0])"};

    if (hub_show_check(one, "", &patch, msg, sizeof(msg), field, sizeof(field)) == 0)
        return 0;
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        char *at = strstr(msg, cut[i]);
        if (at != NULL)
            memmove(at, at + strlen(cut[i]), strlen(at + strlen(cut[i])) + 1);
    }
    const char *rest = strchr(field, ']'); /* "cues[0].fixtures[0]" -> ".fixtures[0]" */
    rest = rest != NULL ? rest + 1 : "";
    if (member[0] == '\0' && rest[0] == '.') /* a preview: the payload's own fields */
        rest++;
    snprintf(full, sizeof(full), "%s%.50s", member, rest);
    return hub_apply_fail(ap, HUB_ERR_INVALID, full, "%s", msg);
}

static int edit_allowed(hub_showdom_t *d, hub_apply_t *ap)
{
    if (show__need_loaded(d, ap) != 0 || show__not_playing(d, ap, "edit cues and effects") != 0)
        return HUB_EINVAL;
    return 0;
}

static const char *item_id(hub_apply_t *ap, const json_t *p)
{
    const json_t *v = json_object_get(p, "id");
    if (!json_is_string(v) || !hub_show_id_valid(json_string_value(v), json_string_length(v))) {
        hub_apply_fail(ap, HUB_ERR_INVALID, "id",
                       "id is required: 1-64 of A-Z a-z 0-9 _ . - (a cue or effect id)");
        return NULL;
    }
    return json_string_value(v);
}

/* The cue or effect object of p[member], validated alone and against the
 * patch. keep_id: an update whose object has no id keeps the old one. */
static int parse_cue(hub_showdom_t *d, hub_apply_t *ap, const json_t *obj, const char *keep_id,
                     hub_show_cue_t *out)
{
    char msg[HUB_ERRMSG_MAX + 1], field[HUB_FIELD_MAX + 1] = "", full[HUB_FIELD_MAX + 1];
    json_t *o = json_is_object(obj) ? json_deep_copy(obj) : NULL;

    if (o == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "cue", "cue is required: a cue object");
    if (keep_id != NULL && json_object_get(o, "id") == NULL)
        json_object_set_new(o, "id", json_string(keep_id));
    int rc =
        hub_show_cue_from_json(o, d->show.duration_ms, out, msg, sizeof(msg), field, sizeof(field));
    json_decref(o);
    if (rc != 0) {
        snprintf(full, sizeof(full), "cue.%.59s", field);
        return hub_apply_fail(ap, HUB_ERR_INVALID, full, "%s", msg);
    }
    hub_show_t one = {.duration_ms = d->show.duration_ms, .cues = out, .ncues = 1};
    if (check_one(d, ap, &one, "cue") != 0) {
        hub_show_cue_free(out);
        return HUB_EINVAL;
    }
    return 0;
}

int show__parse_effect(hub_showdom_t *d, hub_apply_t *ap, const json_t *obj, const char *member,
                       const char *keep_id, int64_t duration_ms, hub_show_effect_t *out)
{
    char msg[HUB_ERRMSG_MAX + 1], field[HUB_FIELD_MAX + 1] = "", full[HUB_FIELD_MAX + 1];
    json_t *o = json_is_object(obj) ? json_deep_copy(obj) : NULL;

    if (o == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "effect", "effect is required: an object");
    if (keep_id != NULL && json_object_get(o, "id") == NULL)
        json_object_set_new(o, "id", json_string(keep_id));
    int rc = hub_show_effect_from_json(o, duration_ms, out, msg, sizeof(msg), field, sizeof(field));
    json_decref(o);
    if (rc != 0) {
        snprintf(full, sizeof(full), "%s%s%.56s", member, member[0] ? "." : "", field);
        return hub_apply_fail(ap, HUB_ERR_INVALID, full, "%s", msg);
    }
    hub_show_t one = {.duration_ms = duration_ms, .effects = out, .neffects = 1};
    if (check_one(d, ap, &one, member) != 0) {
        hub_show_effect_free(out);
        return HUB_EINVAL;
    }
    return 0;
}

/* Cues and effects are edited the same way: an item kind says which list. */
typedef struct item_kind {
    const char *member; /* "cue", "effect": the payload member and the noun */
    int is_effect;
} item_kind_t;

static const item_kind_t CUE = {"cue", 0}, EFFECT = {"effect", 1};

typedef union item {
    hub_show_cue_t cue;
    hub_show_effect_t effect;
} item_t;

static size_t item_count(const hub_showdom_t *d, const item_kind_t *k)
{
    return k->is_effect ? d->show.neffects : d->show.ncues;
}

static const char *item_id_at(const hub_showdom_t *d, const item_kind_t *k, size_t i)
{
    return k->is_effect ? d->show.effects[i].id : d->show.cues[i].id;
}

static long find_item(const hub_showdom_t *d, const item_kind_t *k, const char *id)
{
    for (size_t i = 0; i < item_count(d, k); i++)
        if (strcmp(item_id_at(d, k, i), id) == 0)
            return (long)i;
    return -1;
}

static void item_free(const item_kind_t *k, item_t *it)
{
    if (k->is_effect)
        hub_show_effect_free(&it->effect);
    else
        hub_show_cue_free(&it->cue);
}

static int item_parse(hub_showdom_t *d, hub_apply_t *ap, const item_kind_t *k, const json_t *p,
                      const char *keep_id, item_t *out)
{
    const json_t *obj = json_object_get(p, k->member);
    if (k->is_effect)
        return show__parse_effect(d, ap, obj, "effect", keep_id, d->show.duration_ms, &out->effect);
    return parse_cue(d, ap, obj, keep_id, &out->cue);
}

/* Put it at index at (== count: append), taking what it holds. */
static void item_put(hub_showdom_t *d, const item_kind_t *k, size_t at, item_t *it)
{
    hub_show_t *s = &d->show;
    if (k->is_effect) {
        if (at == s->neffects)
            s->effects = hub_realloc(s->effects, ++s->neffects * sizeof(*s->effects));
        else
            hub_show_effect_free(&s->effects[at]);
        s->effects[at] = it->effect;
    } else {
        if (at == s->ncues)
            s->cues = hub_realloc(s->cues, ++s->ncues * sizeof(*s->cues));
        else
            hub_show_cue_free(&s->cues[at]);
        s->cues[at] = it->cue;
    }
}

static void item_remove(hub_showdom_t *d, const item_kind_t *k, size_t at)
{
    hub_show_t *s = &d->show;
    if (k->is_effect) {
        hub_show_effect_free(&s->effects[at]);
        memmove(&s->effects[at], &s->effects[at + 1], (--s->neffects - at) * sizeof(*s->effects));
    } else {
        hub_show_cue_free(&s->cues[at]);
        memmove(&s->cues[at], &s->cues[at + 1], (--s->ncues - at) * sizeof(*s->cues));
    }
}

/* The id of it taken by another item (skip: its own index, -1 none)? */
static int item_taken(hub_showdom_t *d, hub_apply_t *ap, const item_kind_t *k, item_t *it,
                      long skip)
{
    const char *id = k->is_effect ? it->effect.id : it->cue.id;
    if (!hub_show_id_taken(&d->show, id, k->is_effect, skip))
        return 0;
    hub_apply_fail(ap, HUB_ERR_CONFLICT, "id",
                   "id \"%s\" is taken by another cue or effect of the show", id);
    item_free(k, it);
    return HUB_EINVAL;
}

static long existing(hub_showdom_t *d, hub_apply_t *ap, const item_kind_t *k, const char *id)
{
    long at = find_item(d, k, id);
    if (at < 0)
        hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "id", "no %s \"%s\" in show %s", k->member, id,
                       d->show.name);
    return at;
}

static int item_add(hub_showdom_t *d, hub_apply_t *ap, const json_t *p, const item_kind_t *k)
{
    const char *const keys[] = {k->member, NULL};
    item_t it;

    if (hub_apply_check_keys(ap, p, keys) != 0 || edit_allowed(d, ap) != 0)
        return HUB_EINVAL;
    if (d->show.ncues + d->show.neffects >= HUB_SHOW_MAX_ITEMS)
        return hub_apply_fail(ap, HUB_ERR_CONFLICT, "",
                              "show %s has %d cues and effects, the most a show may have",
                              d->show.name, HUB_SHOW_MAX_ITEMS);
    if (item_parse(d, ap, k, p, NULL, &it) != 0 || item_taken(d, ap, k, &it, -1) != 0)
        return HUB_EINVAL;
    item_put(d, k, item_count(d, k), &it);
    show__loaded_changed(d, ap);
    return 0;
}

static int item_update(hub_showdom_t *d, hub_apply_t *ap, const json_t *p, const item_kind_t *k)
{
    const char *const keys[] = {"id", k->member, NULL};
    const char *id;
    item_t it;
    long at;

    if (hub_apply_check_keys(ap, p, keys) != 0 || edit_allowed(d, ap) != 0 ||
        (id = item_id(ap, p)) == NULL || (at = existing(d, ap, k, id)) < 0 ||
        item_parse(d, ap, k, p, id, &it) != 0 || item_taken(d, ap, k, &it, at) != 0)
        return HUB_EINVAL;
    item_put(d, k, (size_t)at, &it);
    show__loaded_changed(d, ap);
    return 0;
}

static int item_delete(hub_showdom_t *d, hub_apply_t *ap, const json_t *p, const item_kind_t *k)
{
    static const char *const keys[] = {"id", NULL};
    const char *id;
    long at;

    if (hub_apply_check_keys(ap, p, keys) != 0 || edit_allowed(d, ap) != 0 ||
        (id = item_id(ap, p)) == NULL || (at = existing(d, ap, k, id)) < 0)
        return HUB_EINVAL;
    item_remove(d, k, (size_t)at);
    show__loaded_changed(d, ap);
    return 0;
}

int show__apply_cue_add(void *ctx, hub_apply_t *ap, const json_t *p)
{
    return item_add(ctx, ap, p, &CUE);
}

int show__apply_cue_update(void *ctx, hub_apply_t *ap, const json_t *p)
{
    return item_update(ctx, ap, p, &CUE);
}

int show__apply_cue_delete(void *ctx, hub_apply_t *ap, const json_t *p)
{
    return item_delete(ctx, ap, p, &CUE);
}

int show__apply_effect_add(void *ctx, hub_apply_t *ap, const json_t *p)
{
    return item_add(ctx, ap, p, &EFFECT);
}

int show__apply_effect_update(void *ctx, hub_apply_t *ap, const json_t *p)
{
    return item_update(ctx, ap, p, &EFFECT);
}

int show__apply_effect_delete(void *ctx, hub_apply_t *ap, const json_t *p)
{
    return item_delete(ctx, ap, p, &EFFECT);
}
