/* domains/dmx/render.c - the JSON of the dmx entities and views.
 *
 * Written by hand (core/jbuf.h): a fixture is rendered on every change of
 * it, thousands of times a second under load.
 */
#include <inttypes.h>
#include <stdio.h>

#include "core/str.h"
#include "domains/dmx/dmx_int.h"

void dmx__path_fixture(char *out, size_t n, const char *name)
{
    hub_str_join(out, n, "dmx.fixtures.", name, NULL);
}

void dmx__render_values(hub_jbuf_t *b, const dmx__fixture_t *f)
{
    hub_jbuf_open(b, '{');
    for (int c = 0; c < f->def.nch; c++) {
        hub_jbuf_key(b, hub_dmx_role_name(f->def.roles[c]));
        if (f->set[c])
            hub_jbuf_int(b, f->val[c]);
        else
            hub_jbuf_null(b);
    }
    hub_jbuf_close(b, '}');
}

/* {"universe":1,"address":1,"channels":[…],"armed":true,"values":{…}} */
void dmx__render_fixture(hub_jbuf_t *b, const dmx__fixture_t *f, int with_seq)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "universe");
    hub_jbuf_int(b, f->def.universe);
    hub_jbuf_key(b, "address");
    hub_jbuf_int(b, f->def.address);
    hub_jbuf_key(b, "channels");
    hub_jbuf_open(b, '[');
    for (int c = 0; c < f->def.nch; c++)
        hub_jbuf_str(b, hub_dmx_role_name(f->def.roles[c]));
    hub_jbuf_close(b, ']');
    hub_jbuf_key(b, "armed");
    hub_jbuf_bool(b, f->armed);
    hub_jbuf_key(b, "values");
    dmx__render_values(b, f);
    if (with_seq) {
        hub_jbuf_key(b, "seq");
        hub_jbuf_uint(b, f->seq);
    }
    hub_jbuf_close(b, '}');
}

void dmx__render_channels(hub_jbuf_t *b, const dmx__channels_t *c)
{
    char key[8];
    hub_jbuf_open(b, '{');
    for (int s = 0; s < HUB_DMX_SLOTS; s++) {
        if (!c->set[s])
            continue;
        snprintf(key, sizeof(key), "%d", s + 1);
        hub_jbuf_key(b, key);
        hub_jbuf_int(b, c->val[s]);
    }
    hub_jbuf_close(b, '}');
}

void dmx__render_universes(hub_jbuf_t *b, const int *u, size_t n)
{
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < n; i++)
        hub_jbuf_int(b, u[i]);
    hub_jbuf_close(b, ']');
}

static void poi_fields(hub_jbuf_t *b, const hub_patch_poi_t *p)
{
    hub_jbuf_key(b, "pan");
    hub_jbuf_int(b, p->pan);
    hub_jbuf_key(b, "pan_fine");
    hub_jbuf_int(b, p->pan_fine);
    hub_jbuf_key(b, "tilt");
    hub_jbuf_int(b, p->tilt);
    hub_jbuf_key(b, "tilt_fine");
    hub_jbuf_int(b, p->tilt_fine);
}

void dmx__render_pois(hub_jbuf_t *b, const hub_patch_poi_t *p, size_t n)
{
    hub_jbuf_open(b, '{');
    for (size_t i = 0; i < n; i++) {
        hub_jbuf_key(b, p[i].name);
        hub_jbuf_open(b, '{');
        poi_fields(b, &p[i]);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, '}');
}

/* The demo fixture's red, green, blue (0 when released): seed 000's state.
 * Byte for byte what seed-000 clients have always read. */
void dmx__render_rgb(hub_jbuf_t *b, const dmx__fixture_t *demo, int ws_frame)
{
    static const int roles[3] = {HUB_ROLE_RED, HUB_ROLE_GREEN, HUB_ROLE_BLUE};
    static const char *const keys[3] = {"r", "g", "b"};
    unsigned v[3] = {0, 0, 0};

    for (int i = 0; demo != NULL && i < 3; i++) {
        int c = hub_patch_role_channel(&demo->def, roles[i]);
        if (c >= 0 && demo->set[c])
            v[i] = demo->val[c];
    }
    hub_jbuf_open(b, '{');
    if (ws_frame) {
        hub_jbuf_key(b, "type");
        hub_jbuf_str(b, "state");
    } else {
        hub_jbuf_key(b, "schema");
        hub_jbuf_str(b, "demo.rgb.state.v1");
    }
    for (int i = 0; i < 3; i++) {
        hub_jbuf_key(b, keys[i]);
        hub_jbuf_uint(b, v[i]);
    }
    hub_jbuf_key(b, "seq");
    hub_jbuf_uint(b, demo ? demo->seq : 0);
    hub_jbuf_key(b, "ts");
    hub_jbuf_uint(b, demo ? demo->ts_ms : 0);
    hub_jbuf_close(b, '}');
}

void dmx__render_patch(hub_jbuf_t *b, const dmx__state_t *st, int demo_universe)
{
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "demo_universe");
    hub_jbuf_int(b, demo_universe);
    hub_jbuf_key(b, "patch");
    hub_jbuf_open(b, '{');
    hub_jbuf_key(b, "universes");
    dmx__render_universes(b, st->universes, st->nuniverses);
    hub_jbuf_key(b, "fixtures");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < st->nfixtures; i++) {
        const hub_patch_fixture_t *f = &st->fixtures[i].def;
        if (f->implicit)
            continue;
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "name");
        hub_jbuf_str(b, f->name);
        hub_jbuf_key(b, "universe");
        hub_jbuf_int(b, f->universe);
        hub_jbuf_key(b, "address");
        hub_jbuf_int(b, f->address);
        hub_jbuf_key(b, "channels");
        hub_jbuf_open(b, '[');
        for (int c = 0; c < f->nch; c++)
            hub_jbuf_str(b, hub_dmx_role_name(f->roles[c]));
        hub_jbuf_close(b, ']');
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
    hub_jbuf_key(b, "pois");
    hub_jbuf_open(b, '[');
    for (size_t i = 0; i < st->npois; i++) {
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "name");
        hub_jbuf_str(b, st->pois[i].name);
        poi_fields(b, &st->pois[i]);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, ']');
    hub_jbuf_close(b, '}');
    hub_jbuf_close(b, '}');
}
