/* domains/dmx/render.c - the JSON of the dmx entities and views.
 *
 * Written by hand (core/jbuf.h): a fixture is rendered on every change of
 * it, thousands of times a second under load.
 */
#include <inttypes.h>
#include <stdio.h>

#include "domains/dmx/dmx_int.h"

void dmx__path_fixture(char *out, size_t n, const char *name)
{
    snprintf(out, n, "dmx.fixtures.%s", name);
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
    hub_jbuf_open(b, '{');
    for (int c = 0; c < f->def.nch; c++) {
        hub_jbuf_key(b, hub_dmx_role_name(f->def.roles[c]));
        if (f->set[c])
            hub_jbuf_int(b, f->val[c]);
        else
            hub_jbuf_null(b);
    }
    hub_jbuf_close(b, '}');
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

void dmx__render_pois(hub_jbuf_t *b, const hub_patch_poi_t *p, size_t n)
{
    hub_jbuf_open(b, '{');
    for (size_t i = 0; i < n; i++) {
        hub_jbuf_key(b, p[i].name);
        hub_jbuf_open(b, '{');
        hub_jbuf_key(b, "pan");
        hub_jbuf_int(b, p[i].pan);
        hub_jbuf_key(b, "pan_fine");
        hub_jbuf_int(b, p[i].pan_fine);
        hub_jbuf_key(b, "tilt");
        hub_jbuf_int(b, p[i].tilt);
        hub_jbuf_key(b, "tilt_fine");
        hub_jbuf_int(b, p[i].tilt_fine);
        hub_jbuf_close(b, '}');
    }
    hub_jbuf_close(b, '}');
}

/* The demo fixture's red, green, blue (0 when released): seed 000's state.
 * Byte for byte what seed-000 clients have always read. */
void dmx__render_rgb(hub_jbuf_t *b, const dmx__fixture_t *demo, int ws_frame)
{
    static const int roles[3] = {HUB_ROLE_RED, HUB_ROLE_GREEN, HUB_ROLE_BLUE};
    unsigned v[3] = {0, 0, 0};
    char text[192];
    int n;

    for (int i = 0; demo != NULL && i < 3; i++) {
        int c = hub_patch_role_channel(&demo->def, roles[i]);
        if (c >= 0 && demo->set[c])
            v[i] = demo->val[c];
    }
    n = snprintf(text, sizeof(text),
                 ws_frame ? "{\"type\":\"state\",\"r\":%u,\"g\":%u,\"b\":%u,\"seq\":%" PRIu64
                            ",\"ts\":%" PRIu64 "}"
                          : "{\"schema\":\"demo.rgb.state.v1\",\"r\":%u,\"g\":%u,\"b\":%u,"
                            "\"seq\":%" PRIu64 ",\"ts\":%" PRIu64 "}",
                 v[0], v[1], v[2], demo ? demo->seq : 0, demo ? demo->ts_ms : 0);
    hub_jbuf_raw(b, text, (size_t)n);
}
