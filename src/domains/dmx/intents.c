/* domains/dmx/intents.c - the dmx intents: validate, change, report.
 *
 * Every handler validates the whole payload against the working state
 * before it changes anything, so a refused intent leaves no trace. Errors
 * name the field ("values.red", "channels.513"): unknown fixture or POI is
 * not_found; anything else wrong is invalid. Payload members a handler does
 * not know are refused too, so a typo ("valeus") is not silently ignored.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "domains/dmx/dmx_int.h"

/* ---- emitting changes -------------------------------------------------------- */

void dmx__emit_fixture(hub_dmx_t *d, hub_apply_t *ap, const dmx__fixture_t *f)
{
    char path[96];
    hub_jbuf_t *b = hub_apply_scratch(ap);

    (void)d;
    dmx__render_fixture(b, f, 0);
    dmx__path_fixture(path, sizeof(path), f->def.name);
    hub_apply_change(ap, path, b->p, b->len, f, sizeof(*f));
    dmx__row_fixture(ap, f);
}

static void emit_fixture_gone(hub_apply_t *ap, const char *name)
{
    char path[96];
    dmx__path_fixture(path, sizeof(path), name);
    hub_apply_change(ap, path, "null", 4, name, strlen(name) + 1);
    dmx__row_fixture_delete(ap, name);
}

static int channels_empty(const dmx__channels_t *c)
{
    for (int s = 0; s < HUB_DMX_SLOTS; s++)
        if (c->set[s])
            return 0;
    return 1;
}

/* dmx.channels.<u>: present while it holds a value, "null" once empty. */
static void emit_channels(hub_apply_t *ap, const dmx__channels_t *c)
{
    char path[48];
    snprintf(path, sizeof(path), "dmx.channels.%d", c->universe);
    if (channels_empty(c)) {
        hub_apply_change(ap, path, "null", 4, c, sizeof(*c));
        dmx__row_channels_delete(ap, c->universe);
        return;
    }
    hub_jbuf_t *b = hub_apply_scratch(ap);
    dmx__render_channels(b, c);
    hub_apply_change(ap, path, b->p, b->len, c, sizeof(*c));
    dmx__row_channels(ap, c);
}

/* ---- payload helpers ----------------------------------------------------------------- */

static dmx__fixture_t *get_fixture(hub_dmx_t *d, hub_apply_t *ap, const json_t *payload)
{
    const json_t *v = json_object_get(payload, "fixture");
    dmx__fixture_t *f;

    if (v == NULL) {
        hub_apply_fail(ap, HUB_ERR_INVALID, "fixture", "fixture is required (a fixture name)");
        return NULL;
    }
    if (!json_is_string(v)) {
        hub_apply_fail(ap, HUB_ERR_INVALID, "fixture", "fixture must be a string (a fixture name)");
        return NULL;
    }
    f = dmx__state_fixture(&d->work, json_string_value(v));
    if (f == NULL)
        hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "fixture",
                       "no fixture named \"%.64s\" (see GET /api/v1/fixtures)",
                       json_string_value(v));
    return f;
}

/* The channel of role name `key` in f, or fail naming field. */
static int role_channel(hub_apply_t *ap, const dmx__fixture_t *f, const char *key,
                        const char *field)
{
    int role = hub_dmx_role_parse(key, strlen(key));
    int c;
    if (role < 0) {
        hub_apply_fail(ap, HUB_ERR_INVALID, field, "unknown role \"%.40s\": roles are %s", key,
                       hub_dmx_role_list());
        return -1;
    }
    c = hub_patch_role_channel(&f->def, role);
    if (c < 0)
        hub_apply_fail(ap, HUB_ERR_INVALID, field, "fixture \"%s\" has no %s channel", f->def.name,
                       key);
    return c;
}

/* A DMX value: a number (rounded, clamped to 0..255) or null (released). */
static int dmx_value(hub_apply_t *ap, const json_t *v, const char *field, int *set, uint8_t *val)
{
    if (json_is_null(v)) {
        *set = 0;
        *val = 0;
        return 0;
    }
    if (!json_is_number(v) || isnan(json_number_value(v)))
        return hub_apply_fail(ap, HUB_ERR_INVALID, field,
                              "%s must be a number 0-255 or null (released)", field);
    *set = 1;
    *val = hub_clamp_byte(json_number_value(v));
    return 0;
}

/* Apply "values" to a copy of f (nf); nothing changes on failure. */
static int take_values(hub_apply_t *ap, const json_t *values, dmx__fixture_t *nf)
{
    const char *key;
    json_t *v;
    char field[HUB_FIELD_MAX + 1];

    if (!json_is_object(values))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "values",
                              "values must be an object of role: 0-255 or null");
    json_object_foreach((json_t *)values, key, v)
    {
        int set = 0;
        uint8_t val = 0;
        hub_str_join(field, sizeof(field), "values.", key, NULL);
        int c = role_channel(ap, nf, key, field);
        if (c < 0)
            return HUB_EINVAL;
        if (dmx_value(ap, v, field, &set, &val) != 0)
            return HUB_EINVAL;
        nf->set[c] = (uint8_t)set;
        nf->val[c] = val;
    }
    return 0;
}

static void commit_fixture(hub_dmx_t *d, hub_apply_t *ap, dmx__fixture_t *nf)
{
    nf->seq = hub_apply_seq(ap);
    nf->ts_ms = hub_apply_ts_ms(ap);
    dmx__state_put_fixture(&d->work, nf);
    dmx__emit_fixture(d, ap, nf);
}

/* ---- fixture intents ------------------------------------------------------------------------ */

/* A seed-000 RGB command (engine/intent.h): red, green, blue of "demo",
 * carried natively, with the same checks as the JSON form. */
static int apply_rgb(hub_dmx_t *d, hub_apply_t *ap, const uint8_t rgb[3])
{
    static const char *const roles[3] = {"red", "green", "blue"};
    static const char *const fields[3] = {"values.red", "values.green", "values.blue"};
    dmx__fixture_t *f = dmx__state_fixture(&d->work, HUB_DMX_DEMO_NAME), nf;

    if (f == NULL)
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "fixture",
                              "no fixture named \"demo\" (see GET /api/v1/fixtures)");
    nf = *f;
    for (int i = 0; i < 3; i++) {
        int c = role_channel(ap, &nf, roles[i], fields[i]);
        if (c < 0)
            return HUB_EINVAL;
        nf.set[c] = 1;
        nf.val[c] = rgb[i];
    }
    commit_fixture(d, ap, &nf);
    return 0;
}

static int apply_set_values(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"fixture", "values", NULL};
    hub_dmx_t *d = ctx;
    dmx__fixture_t *f, nf;

    if (p == NULL && hub_apply_intent(ap)->legacy)
        return apply_rgb(d, ap, hub_apply_intent(ap)->rgb);
    if (hub_apply_check_keys(ap, p, keys) != 0 || (f = get_fixture(d, ap, p)) == NULL)
        return HUB_EINVAL;
    const json_t *values = json_object_get(p, "values");
    if (values == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "values",
                              "values is required: {\"red\":255,\"dimmer\":null,…}");
    nf = *f;
    if (take_values(ap, values, &nf) != 0)
        return HUB_EINVAL;
    commit_fixture(d, ap, &nf);
    return 0;
}

static int take_armed(hub_apply_t *ap, const json_t *v, int *armed)
{
    if (!json_is_boolean(v))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "armed", "armed must be true or false");
    *armed = json_is_true(v);
    return 0;
}

static int apply_set_arm(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"fixture", "armed", NULL};
    hub_dmx_t *d = ctx;
    dmx__fixture_t *f, nf;
    const json_t *v;

    if (hub_apply_check_keys(ap, p, keys) != 0 || (f = get_fixture(d, ap, p)) == NULL)
        return HUB_EINVAL;
    v = json_object_get(p, "armed");
    if (v == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "armed", "armed is required (true or false)");
    nf = *f;
    if (take_armed(ap, v, &nf.armed) != 0)
        return HUB_EINVAL;
    commit_fixture(d, ap, &nf);
    return 0;
}

/* fixture.update {fixture, values?, armed?}: PATCH /api/v1/fixtures/{name}
 * and v1/dmx/fixtures/<name>/set, both in one intent. */
static int apply_update(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"fixture", "values", "armed", NULL};
    hub_dmx_t *d = ctx;
    dmx__fixture_t *f, nf;
    const json_t *values, *armed;

    if (hub_apply_check_keys(ap, p, keys) != 0 || (f = get_fixture(d, ap, p)) == NULL)
        return HUB_EINVAL;
    values = json_object_get(p, "values");
    armed = json_object_get(p, "armed");
    if (values == NULL && armed == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "",
                              "nothing to change: send \"values\" and/or \"armed\"");
    nf = *f;
    if (values != NULL && take_values(ap, values, &nf) != 0)
        return HUB_EINVAL;
    if (armed != NULL && take_armed(ap, armed, &nf.armed) != 0)
        return HUB_EINVAL;
    commit_fixture(d, ap, &nf);
    return 0;
}

static int apply_release(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"fixture", "roles", NULL};
    hub_dmx_t *d = ctx;
    dmx__fixture_t *f, nf;
    const json_t *roles, *v;
    size_t i;
    char field[HUB_FIELD_MAX + 1];

    if (hub_apply_check_keys(ap, p, keys) != 0 || (f = get_fixture(d, ap, p)) == NULL)
        return HUB_EINVAL;
    nf = *f;
    roles = json_object_get(p, "roles");
    if (roles == NULL) {
        memset(nf.set, 0, sizeof(nf.set));
        memset(nf.val, 0, sizeof(nf.val));
    } else {
        if (!json_is_array(roles))
            return hub_apply_fail(ap, HUB_ERR_INVALID, "roles",
                                  "roles must be an array of role names (omit it for all)");
        json_array_foreach(roles, i, v)
        {
            snprintf(field, sizeof(field), "roles[%zu]", i);
            if (!json_is_string(v))
                return hub_apply_fail(ap, HUB_ERR_INVALID, field, "%s must be a role name", field);
            int c = role_channel(ap, &nf, json_string_value(v), field);
            if (c < 0)
                return HUB_EINVAL;
            nf.set[c] = nf.val[c] = 0;
        }
    }
    commit_fixture(d, ap, &nf);
    return 0;
}

static int apply_go_to_poi(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"fixture", "poi", NULL};
    hub_dmx_t *d = ctx;
    dmx__fixture_t *f, nf;
    const hub_patch_poi_t *poi = NULL;
    const json_t *v;

    if (hub_apply_check_keys(ap, p, keys) != 0 || (f = get_fixture(d, ap, p)) == NULL)
        return HUB_EINVAL;
    v = json_object_get(p, "poi");
    if (!json_is_string(v))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "poi", "poi is required (a POI name)");
    for (size_t i = 0; i < d->work.npois && poi == NULL; i++)
        if (strcmp(d->work.pois[i].name, json_string_value(v)) == 0)
            poi = &d->work.pois[i];
    if (poi == NULL)
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "poi", "no POI named \"%.64s\"",
                              json_string_value(v));
    int pan = hub_patch_role_channel(&f->def, HUB_ROLE_PAN);
    int tilt = hub_patch_role_channel(&f->def, HUB_ROLE_TILT);
    if (pan < 0 || tilt < 0)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "fixture",
                              "fixture \"%s\" has no pan and tilt channels to point", f->def.name);
    nf = *f;
    const struct {
        int role, value;
    } set[4] = {{HUB_ROLE_PAN, poi->pan},
                {HUB_ROLE_PAN_FINE, poi->pan_fine},
                {HUB_ROLE_TILT, poi->tilt},
                {HUB_ROLE_TILT_FINE, poi->tilt_fine}};
    for (int i = 0; i < 4; i++) {
        int c = hub_patch_role_channel(&nf.def, set[i].role);
        if (c >= 0) {
            nf.val[c] = (uint8_t)set[i].value;
            nf.set[c] = 1;
        }
    }
    commit_fixture(d, ap, &nf);
    return 0;
}

/* ---- universe-wide intents ---------------------------------------------------------------- */

static int get_universe(hub_dmx_t *d, hub_apply_t *ap, const json_t *v, long *ui)
{
    double n;
    if (v == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "universe", "universe is required");
    n = json_is_number(v) ? json_number_value(v) : -1;
    if (!json_is_number(v) || n != floor(n) || n < 0 || n > 2147483647.0)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "universe",
                              "universe must be an integer (a universe of the patch)");
    *ui = dmx__state_universe_index(&d->work, (int)n);
    if (*ui < 0)
        return hub_apply_fail(ap, HUB_ERR_NOT_FOUND, "universe",
                              "universe %d is not in the patch (see GET /api/v1/universes)",
                              (int)n);
    return 0;
}

/* "1".."512" exactly (no sign, no leading zero, no blanks). */
static int channel_key(const char *k)
{
    int n = 0;
    if (k[0] < '1' || k[0] > '9' || strlen(k) > 3)
        return 0;
    for (const char *c = k; *c; c++) {
        if (*c < '0' || *c > '9')
            return 0;
        n = n * 10 + (*c - '0');
    }
    return n <= HUB_DMX_SLOTS ? n : 0;
}

static int apply_set_channels(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"universe", "channels", NULL};
    hub_dmx_t *d = ctx;
    const json_t *chans, *v;
    const char *key;
    char field[HUB_FIELD_MAX + 1];
    dmx__channels_t nc;
    long ui = -1;

    if (hub_apply_check_keys(ap, p, keys) != 0 ||
        get_universe(d, ap, json_object_get(p, "universe"), &ui) != 0)
        return HUB_EINVAL;
    chans = json_object_get(p, "channels");
    if (!json_is_object(chans))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "channels",
                              "channels must be an object: {\"<channel 1-512>\": 0-255 or null}");
    nc = d->work.chans[ui];
    json_object_foreach((json_t *)chans, key, v)
    {
        int set = 0;
        uint8_t val = 0;
        int ch = channel_key(key);
        snprintf(field, sizeof(field), "channels.%.40s", key);
        if (ch == 0)
            return hub_apply_fail(ap, HUB_ERR_INVALID, field,
                                  "channel \"%.40s\" is not a channel number 1-512", key);
        const dmx__fixture_t *owner = dmx__state_owner(&d->work, (size_t)ui, ch);
        if (owner != NULL)
            return hub_apply_fail(ap, HUB_ERR_INVALID, field,
                                  "channel %d of universe %d belongs to fixture \"%s\": use "
                                  "fixture.set_values",
                                  ch, nc.universe, owner->def.name);
        if (dmx_value(ap, v, field, &set, &val) != 0)
            return HUB_EINVAL;
        nc.set[ch - 1] = (uint8_t)set;
        nc.val[ch - 1] = val;
    }
    dmx__state_put_channels(&d->work, &nc);
    emit_channels(ap, &nc);
    return 0;
}

static void emit_blackout(hub_apply_t *ap, int on)
{
    hub_apply_change(ap, "dmx.blackout", on ? "true" : "false", on ? 4 : 5, &on, sizeof(on));
    dmx__row_blackout(ap, on);
}

static int apply_blackout(void *ctx, hub_apply_t *ap, const json_t *p)
{
    static const char *const keys[] = {"on", NULL};
    hub_dmx_t *d = ctx;
    const json_t *v;

    if (hub_apply_check_keys(ap, p, keys) != 0)
        return HUB_EINVAL;
    v = json_object_get(p, "on");
    if (!json_is_boolean(v))
        return hub_apply_fail(ap, HUB_ERR_INVALID, "on", "on is required: true or false");
    dmx__state_put_blackout(&d->work, json_is_true(v));
    emit_blackout(ap, json_is_true(v));
    return 0;
}

/* ---- reload -------------------------------------------------------------------------------------
 */

/* Prepare (any thread): read the patch file into the payload, so apply is
 * pure and the journal holds the patch that was applied. */
static int prepare_reload(void *ctx, hub_intent_t *in, hub_error_t *err)
{
    hub_dmx_t *d = ctx;
    json_error_t jerr;
    json_t *patch;
    FILE *f = fopen(d->file, "rb");

    if (f == NULL) {
        if (!d->file_explicit) { /* no file: only the demo fixture */
            hub_intent_set_payload(in, json_pack("{s:s,s:n}", "file", d->file, "patch"));
            return 0;
        }
        return hub_error_set(err, HUB_ERR_INVALID, "file",
                             "cannot read %s (DMX_FIXTURES_FILE): %s; the running patch is kept",
                             d->file, strerror(errno));
    }
    patch = json_loadf(f, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    fclose(f);
    if (patch == NULL)
        return hub_error_set(err, HUB_ERR_INVALID, "file",
                             "%s: not valid JSON at line %d column %d: %.120s; the running patch "
                             "is kept",
                             d->file, jerr.line, jerr.column, jerr.text);
    hub_intent_set_payload(in, json_pack("{s:s,s:o}", "file", d->file, "patch", patch));
    return 0;
}

static int same_fixture(const dmx__fixture_t *a, const dmx__fixture_t *b)
{
    return memcmp(&a->def, &b->def, sizeof(a->def)) == 0 && a->armed == b->armed &&
           memcmp(a->set, b->set, sizeof(a->set)) == 0 &&
           memcmp(a->val, b->val, sizeof(a->val)) == 0;
}

static int apply_reload(void *ctx, hub_apply_t *ap, const json_t *p)
{
    hub_dmx_t *d = ctx;
    const json_t *patch = json_object_get(p, "patch");
    const json_t *file = json_object_get(p, "file");
    const char *path = json_is_string(file) ? json_string_value(file) : d->file;
    hub_patch_t np;
    char err[HUB_ERRMSG_MAX + 1];
    dmx__state_t *w = &d->work;

    if (patch == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "patch",
                              "the reload carries no patch: send dmx.reload_fixtures {} and the "
                              "hub reads the file");
    if (json_is_null(patch))
        hub_patch_default(d->cfg.demo_universe, &np);
    else if (hub_patch_from_json(patch, path, d->cfg.demo_universe, &np, err, sizeof(err)) != 0)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "patch", "%s; the running patch is kept", err);

    /* Keep the old state to tell what changed. */
    size_t onf = w->nfixtures, onu = w->nuniverses, onp = w->npois;
    dmx__fixture_t *of = hub_malloc((onf ? onf : 1) * sizeof(*of));
    memcpy(of, w->fixtures, onf * sizeof(*of));
    int *ou = hub_malloc((onu ? onu : 1) * sizeof(*ou));
    memcpy(ou, w->universes, onu * sizeof(*ou));
    dmx__channels_t *oc = hub_malloc((onu ? onu : 1) * sizeof(*oc));
    memcpy(oc, w->chans, onu * sizeof(*oc));
    hub_patch_poi_t *op = hub_malloc((onp ? onp : 1) * sizeof(*op));
    if (onp)
        memcpy(op, w->pois, onp * sizeof(*op));

    dmx__state_set_patch(w, &np);
    hub_patch_free(&np);

    if (onu != w->nuniverses || memcmp(ou, w->universes, onu * sizeof(int)) != 0) {
        hub_jbuf_t *b = hub_apply_scratch(ap);
        size_t sz = sizeof(dmx__universes_native_t) + w->nuniverses * sizeof(int);
        dmx__universes_native_t *un = hub_malloc(sz);
        un->n = w->nuniverses;
        memcpy(un->universes, w->universes, w->nuniverses * sizeof(int));
        dmx__render_universes(b, w->universes, w->nuniverses);
        hub_apply_change(ap, "dmx.universes", b->p, b->len, un, sz);
        hub_free(un);
    }
    for (size_t i = 0; i < onf; i++)
        if (dmx__state_fixture(w, of[i].def.name) == NULL)
            emit_fixture_gone(ap, of[i].def.name);
    for (size_t i = 0; i < w->nfixtures; i++) {
        dmx__fixture_t *nf = &w->fixtures[i];
        const dmx__fixture_t *old = NULL;
        for (size_t k = 0; k < onf && old == NULL; k++)
            if (strcmp(of[k].def.name, nf->def.name) == 0)
                old = &of[k];
        if (old != NULL && same_fixture(old, nf))
            continue;
        nf->seq = hub_apply_seq(ap);
        nf->ts_ms = hub_apply_ts_ms(ap);
        dmx__emit_fixture(d, ap, nf);
    }
    /* Raw channels: of universes that went, and where slots became patched. */
    for (size_t i = 0; i < onu; i++) {
        long ni = dmx__state_universe_index(w, ou[i]);
        const dmx__channels_t *now = ni >= 0 ? &w->chans[ni] : NULL;
        if (channels_empty(&oc[i]))
            continue;
        if (now == NULL) {
            dmx__channels_t gone;
            memset(&gone, 0, sizeof(gone));
            gone.universe = ou[i];
            emit_channels(ap, &gone);
        } else if (memcmp(now->set, oc[i].set, sizeof(now->set)) != 0 ||
                   memcmp(now->val, oc[i].val, sizeof(now->val)) != 0) {
            emit_channels(ap, now);
        }
    }
    dmx__row_patch(ap, w, d->cfg.demo_universe);
    if (onp != w->npois || (onp && memcmp(op, w->pois, onp * sizeof(*op)) != 0)) {
        hub_jbuf_t *b = hub_apply_scratch(ap);
        dmx__render_pois(b, w->pois, w->npois);
        hub_apply_change(ap, "dmx.pois", b->p, b->len, w->pois,
                         w->npois ? w->npois * sizeof(*w->pois) : 1);
    }
    hub_free(of);
    hub_free(ou);
    hub_free(oc);
    hub_free(op);
    return 0;
}

const hub_intent_def_t hub__dmx_intents[] = {
    {"fixture.set_values", apply_set_values, NULL},
    {"fixture.set_arm", apply_set_arm, NULL},
    {"fixture.release", apply_release, NULL},
    {"fixture.go_to_poi", apply_go_to_poi, NULL},
    {"fixture.update", apply_update, NULL},
    {"dmx.set_channels", apply_set_channels, NULL},
    {"dmx.blackout", apply_blackout, NULL},
    {"dmx.reload_fixtures", apply_reload, prepare_reload},
    {NULL, NULL, NULL},
};
