/* domains/show/showfile.c - show file names, rendering, copies and frees.
 *
 * Parsing and checking are in showfile_parse.c.
 */
#include "domains/show/showfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "domains/dmx/roles.h"
#include "domains/show/showfile_int.h"

const char *const showfile__param_names[P_COUNT] = {"period_ms", "role", "min",
                                                    "max",       "duty", "spread"};
const char *const showfile__curve_names[HUB_CURVE_COUNT] = {"step", "linear", "ease_in_out"};
const char *const showfile__effect_names[HUB_FX_COUNT] = {"pulse", "chase", "rainbow", "strobe",
                                                          "sine"};

/* The parameters each effect takes (the table in showfile.h). */
const unsigned showfile__fx_params[HUB_FX_COUNT] = {
    [HUB_FX_PULSE] = BIT(P_PERIOD) | BIT(P_ROLE) | BIT(P_MIN) | BIT(P_MAX) | BIT(P_SPREAD),
    [HUB_FX_CHASE] = BIT(P_PERIOD) | BIT(P_ROLE) | BIT(P_MIN) | BIT(P_MAX),
    [HUB_FX_RAINBOW] = BIT(P_PERIOD) | BIT(P_MAX) | BIT(P_SPREAD),
    [HUB_FX_STROBE] = BIT(P_PERIOD) | BIT(P_ROLE) | BIT(P_MIN) | BIT(P_MAX) | BIT(P_DUTY),
    [HUB_FX_SINE] = BIT(P_PERIOD) | BIT(P_ROLE) | BIT(P_MIN) | BIT(P_MAX) | BIT(P_SPREAD),
};

/* The shortest %.Ng (N = 15..17) that reads back as d: for messages and for
 * rendering duty and spread, which must survive a round trip exactly. */
void showfile__shortest(char *t, size_t size, double d)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(t, size, "%.*g", prec, d);
        if (strtod(t, NULL) == d)
            return;
    }
}

const char *showfile__role_name(int role)
{
    const char *n = hub_dmx_role_name(role);
    return n ? n : "?";
}

/* ---- names ---- */

static int lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

const char *hub_show_curve_name(int curve)
{
    return curve >= 0 && curve < HUB_CURVE_COUNT ? showfile__curve_names[curve] : NULL;
}

int hub_show_curve_parse(const char *s)
{
    return lookup(showfile__curve_names, HUB_CURVE_COUNT, s);
}

const char *hub_show_effect_name(int effect)
{
    return effect >= 0 && effect < HUB_FX_COUNT ? showfile__effect_names[effect] : NULL;
}

int hub_show_effect_parse(const char *s)
{
    return lookup(showfile__effect_names, HUB_FX_COUNT, s);
}

void hub_show_params_default(int effect, hub_show_params_t *out)
{
    static const hub_show_params_t d[HUB_FX_COUNT] = {
        [HUB_FX_PULSE] = {1000, HUB_ROLE_DIMMER, 0, 255, 0, 0},
        [HUB_FX_CHASE] = {500, HUB_ROLE_DIMMER, 0, 255, 0, 0},
        [HUB_FX_RAINBOW] = {3000, -1, 0, 255, 0, 1},
        [HUB_FX_STROBE] = {100, HUB_ROLE_DIMMER, 0, 255, 0.5, 0},
        [HUB_FX_SINE] = {2000, HUB_ROLE_DIMMER, 0, 255, 0, 0},
    };

    if (effect >= 0 && effect < HUB_FX_COUNT) {
        *out = d[effect];
        return;
    }
    memset(out, 0, sizeof(*out));
    out->role = -1;
}

int hub_show_id_taken(const hub_show_t *s, const char *id, int skip_is_effect, long skip)
{
    if (id == NULL)
        return 0;
    for (size_t i = 0; i < s->ncues; i++)
        if (!(skip_is_effect == 0 && (long)i == skip) && strcmp(s->cues[i].id, id) == 0)
            return 1;
    for (size_t i = 0; i < s->neffects; i++)
        if (!(skip_is_effect == 1 && (long)i == skip) && strcmp(s->effects[i].id, id) == 0)
            return 1;
    return 0;
}

/* ---- rendering ---- */

static void put_int(hub_jbuf_t *b, const char *key, int64_t v)
{
    hub_jbuf_key(b, key);
    hub_jbuf_int(b, v);
}

static void put_str(hub_jbuf_t *b, const char *key, const char *v)
{
    hub_jbuf_key(b, key);
    hub_jbuf_str(b, v);
}

static void put_double(hub_jbuf_t *b, const char *key, double v)
{
    char t[40];

    showfile__shortest(t, sizeof(t), v);
    hub_jbuf_key(b, key);
    hub_jbuf_json(b, t, strlen(t));
}

static void put_fixtures(hub_jbuf_t *b, const hub_show_ident_t *fx, size_t n)
{
    hub_jbuf_key(b, "fixtures");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < n; i++)
        hub_jbuf_str(b, fx[i]);
    hub_jbuf_close(b, ']');
}

void hub_show_render_cue(hub_jbuf_t *b, const hub_show_cue_t *q)
{
    const char *curve = hub_show_curve_name(q->curve);

    hub_jbuf_open(b, '{');
    put_str(b, "id", q->id);
    put_int(b, "t_ms", q->t_ms);
    put_fixtures(b, q->fixtures, q->nfixtures);
    if (q->nvalues) {
        hub_jbuf_key(b, "values");
        hub_jbuf_open(b, '{');
        for (size_t i = 0; i < q->nvalues; i++)
            put_int(b, showfile__role_name(q->values[i].role), q->values[i].value);
        hub_jbuf_close(b, '}');
    }
    if (q->poi[0])
        put_str(b, "poi", q->poi);
    put_int(b, "fade_ms", q->fade_ms);
    put_str(b, "curve", curve ? curve : "?");
    hub_jbuf_close(b, '}');
}

static void put_params(hub_jbuf_t *b, int effect, const hub_show_params_t *p)
{
    unsigned take = effect >= 0 && effect < HUB_FX_COUNT ? showfile__fx_params[effect] : 0;

    hub_jbuf_key(b, "params");
    hub_jbuf_open(b, '{');
    if (take & BIT(P_PERIOD))
        put_int(b, "period_ms", p->period_ms);
    if (take & BIT(P_ROLE))
        put_str(b, "role", showfile__role_name(p->role));
    if (take & BIT(P_MIN))
        put_int(b, "min", p->min);
    if (take & BIT(P_MAX))
        put_int(b, "max", p->max);
    if (take & BIT(P_DUTY))
        put_double(b, "duty", p->duty);
    if (take & BIT(P_SPREAD))
        put_double(b, "spread", p->spread);
    hub_jbuf_close(b, '}');
}

void hub_show_render_effect(hub_jbuf_t *b, const hub_show_effect_t *e)
{
    const char *name = hub_show_effect_name(e->effect);

    hub_jbuf_open(b, '{');
    put_str(b, "id", e->id);
    put_int(b, "t_ms", e->t_ms);
    put_int(b, "dur_ms", e->dur_ms);
    put_fixtures(b, e->fixtures, e->nfixtures);
    put_str(b, "effect", name ? name : "?");
    put_params(b, e->effect, &e->params);
    hub_jbuf_close(b, '}');
}

void hub_show_render(hub_jbuf_t *b, const hub_show_t *s)
{
    hub_jbuf_open(b, '{');
    put_str(b, "name", s->name);
    put_int(b, "duration_ms", s->duration_ms);
    hub_jbuf_key(b, "audio");
    if (s->audio[0])
        hub_jbuf_str(b, s->audio);
    else
        hub_jbuf_null(b);
    hub_jbuf_key(b, "cues");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < s->ncues; i++)
        hub_show_render_cue(b, &s->cues[i]);
    hub_jbuf_close(b, ']');
    hub_jbuf_key(b, "effects");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < s->neffects; i++)
        hub_show_render_effect(b, &s->effects[i]);
    hub_jbuf_close(b, ']');
    hub_jbuf_close(b, '}');
}

/* ---- copies and frees ---- */

/* A copy of n elements of size each, NULL when n is 0. */
static void *dup_array(const void *src, size_t n, size_t size)
{
    void *p;

    if (n == 0 || src == NULL)
        return NULL;
    p = hub_malloc(n * size);
    memcpy(p, src, n * size);
    return p;
}

void hub_show_cue_copy(hub_show_cue_t *dst, const hub_show_cue_t *src)
{
    *dst = *src;
    dst->fixtures = dup_array(src->fixtures, src->nfixtures, sizeof(*src->fixtures));
    dst->values = dup_array(src->values, src->nvalues, sizeof(*src->values));
}

void hub_show_effect_copy(hub_show_effect_t *dst, const hub_show_effect_t *src)
{
    *dst = *src;
    dst->fixtures = dup_array(src->fixtures, src->nfixtures, sizeof(*src->fixtures));
}

void hub_show_copy(hub_show_t *dst, const hub_show_t *src)
{
    *dst = *src;
    dst->cues = src->ncues ? hub_calloc(src->ncues, sizeof(*dst->cues)) : NULL;
    dst->effects = src->neffects ? hub_calloc(src->neffects, sizeof(*dst->effects)) : NULL;
    for (size_t i = 0; i < src->ncues; i++)
        hub_show_cue_copy(&dst->cues[i], &src->cues[i]);
    for (size_t i = 0; i < src->neffects; i++)
        hub_show_effect_copy(&dst->effects[i], &src->effects[i]);
}

void hub_show_cue_free(hub_show_cue_t *c)
{
    if (c == NULL)
        return;
    hub_free(c->fixtures);
    hub_free(c->values);
    memset(c, 0, sizeof(*c));
}

void hub_show_effect_free(hub_show_effect_t *e)
{
    if (e == NULL)
        return;
    hub_free(e->fixtures);
    memset(e, 0, sizeof(*e));
}

void hub_show_free(hub_show_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ncues; i++)
        hub_show_cue_free(&s->cues[i]);
    for (size_t i = 0; i < s->neffects; i++)
        hub_show_effect_free(&s->effects[i]);
    hub_free(s->cues);
    hub_free(s->effects);
    memset(s, 0, sizeof(*s));
}
