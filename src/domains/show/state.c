/* domains/show/state.c - the show domain's entities as JSON, and the
 * directory list and previews it keeps. */
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "domains/show/show_int.h"

static const char *const state_names[] = {"stopped", "playing", "paused"};

void show__render_loaded(hub_jbuf_t *b, const hub_showdom_t *d)
{
    if (!d->loaded) {
        /* show.loaded always exists and reads null with no show. The bare
         * text "null" would mean "entity gone" to the engine (its published
         * tree drops the key); "null " is the same JSON value, kept. */
        hub_jbuf_json(b, "null ", 5);
        return;
    }
    hub_show_render(b, &d->show);
}

static void render_rate(hub_jbuf_t *b, int rate_pm)
{
    char num[32];
    if (rate_pm % HUB_RATE_ONE == 0) {
        hub_jbuf_int(b, rate_pm / HUB_RATE_ONE);
        return;
    }
    snprintf(num, sizeof(num), "%d.%03d", rate_pm / HUB_RATE_ONE, rate_pm % HUB_RATE_ONE);
    size_t n = strlen(num);
    while (num[n - 1] == '0') /* 1.500 -> 1.5 */
        n--;
    hub_jbuf_json(b, num, n);
}

void show__render_transport(hub_jbuf_t *b, const hub_showdom_t *d)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "state");
    hub_jbuf_str(b, state_names[d->tr.state]);
    hub_jbuf_key(b, "t_ms");
    hub_jbuf_int(b, d->tr.t_us / 1000);
    hub_jbuf_key(b, "at");
    hub_jbuf_uint(b, d->tr_at);
    hub_jbuf_key(b, "rate");
    render_rate(b, d->tr.rate_pm);
    hub_jbuf_close(b, '}');
}

void show__render_previews(hub_jbuf_t *b, const hub_showdom_t *d)
{
    hub_jbuf_t one;

    hub_jbuf_init(&one);
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < d->npv; i++) {
        const show__preview_t *p = &d->pv[i];
        /* The effect's own object, with when it runs added. */
        hub_jbuf_reset(&one);
        hub_show_render_effect(&one, &p->fx);
        hub_jbuf_json(b, one.p, one.len - 1);
        char num[80];
        int n = snprintf(num, sizeof(num), ",\"started_at\":%llu,\"until\":%llu}",
                         (unsigned long long)p->started_at, (unsigned long long)p->until);
        hub_jbuf_raw(b, num, (size_t)n);
    }
    hub_jbuf_close(b, ']');
    hub_jbuf_free(&one);
}

static void render_entry(hub_jbuf_t *b, const show__entry_t *e)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "name");
    hub_jbuf_str(b, e->name);
    if (e->error != NULL) {
        hub_jbuf_key(b, "error");
        hub_jbuf_str(b, e->error);
        hub_jbuf_close(b, '}');
        return;
    }
    hub_jbuf_key(b, "duration_ms");
    hub_jbuf_int(b, e->duration_ms);
    hub_jbuf_key(b, "cues");
    hub_jbuf_uint(b, e->ncues);
    hub_jbuf_key(b, "effects");
    hub_jbuf_uint(b, e->neffects);
    hub_jbuf_key(b, "audio");
    if (e->audio[0] != '\0')
        hub_jbuf_str(b, e->audio);
    else
        hub_jbuf_null(b);
    hub_jbuf_close(b, '}');
}

void show__render_list(hub_jbuf_t *b, const hub_showdom_t *d)
{
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < d->nlist; i++)
        render_entry(b, &d->list[i]);
    hub_jbuf_close(b, ']');
}

void show__render_mqtt_state(hub_jbuf_t *b, const hub_showdom_t *d, uint64_t seq)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "show");
    if (d->loaded)
        hub_jbuf_str(b, d->show.name);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "transport");
    show__render_transport(b, d);
    hub_jbuf_key(b, "seq");
    hub_jbuf_uint(b, seq);
    hub_jbuf_close(b, '}');
}

/* ---- the directory list ------------------------------------------------------------ */

void show__entry_of(show__entry_t *e, const hub_show_t *s)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", s->name);
    e->duration_ms = s->duration_ms;
    e->ncues = s->ncues;
    e->neffects = s->neffects;
    snprintf(e->audio, sizeof(e->audio), "%s", s->audio);
}

static size_t list_find(const hub_showdom_t *d, const char *name, int *found)
{
    size_t lo = 0, hi = d->nlist;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(d->list[mid].name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

void show__list_put(hub_showdom_t *d, const show__entry_t *e)
{
    int found;
    size_t at = list_find(d, e->name, &found);
    if (found) {
        hub_free(d->list[at].error);
        json_decref(d->list[at].refs);
    } else {
        d->list = hub_realloc(d->list, (d->nlist + 1) * sizeof(*d->list));
        memmove(&d->list[at + 1], &d->list[at], (d->nlist - at) * sizeof(*d->list));
        d->nlist++;
    }
    d->list[at] = *e;
    d->list[at].error = e->error ? hub_strdup(e->error) : NULL;
    d->list[at].refs = NULL; /* the domain's list never keeps them */
}

void show__list_del(hub_showdom_t *d, const char *name)
{
    int found;
    size_t at = list_find(d, name, &found);
    if (!found)
        return;
    hub_free(d->list[at].error);
    json_decref(d->list[at].refs);
    memmove(&d->list[at], &d->list[at + 1], (d->nlist - at - 1) * sizeof(*d->list));
    d->nlist--;
}

void show__list_free(show__entry_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hub_free(list[i].error);
        json_decref(list[i].refs);
    }
    hub_free(list);
}

/* ---- previews -------------------------------------------------------------------------- */

void show__previews_free(hub_showdom_t *d)
{
    for (size_t i = 0; i < d->npv; i++)
        hub_show_effect_free(&d->pv[i].fx);
    hub_free(d->pv);
    d->pv = NULL;
    d->npv = 0;
}

hub_show_previews_t *show__previews_compile(hub_showdom_t *d)
{
    hub_show_preview_def_t defs[SHOW__MAX_PREVIEWS];
    hub_show_patch_t patch = show__patch(d);

    if (d->npv == 0)
        return NULL;
    for (size_t i = 0; i < d->npv; i++) {
        defs[i].effect = &d->pv[i].fx;
        defs[i].start_mono_us = d->pv[i].start_mono_us;
    }
    return hub_show_previews_compile(defs, d->npv, &patch);
}
