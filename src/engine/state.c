/* engine/state.c - universes, fixtures, the demo RGB view, JSON rendering. */
#include "engine/state.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "engine/batch.h"

void hub_state_init(hub_state_t *st, int demo_universe)
{
    memset(st, 0, sizeof(*st));
    st->universes[0].id = demo_universe;
    st->nuniverses = 1;
    hub_fixture_t *f = &st->fixtures[0];
    snprintf(f->name, sizeof(f->name), "demo");
    f->universe = demo_universe;
    f->channel = 1;
    f->nchannels = 3;
    st->nfixtures = 1;
}

hub_universe_t *hub_state_universe(hub_state_t *st, int id)
{
    for (size_t i = 0; i < st->nuniverses; i++)
        if (st->universes[i].id == id)
            return &st->universes[i];
    return NULL;
}

const hub_fixture_t *hub_state_fixture(const hub_state_t *st, const char *name)
{
    for (size_t i = 0; i < st->nfixtures; i++)
        if (strcmp(st->fixtures[i].name, name) == 0)
            return &st->fixtures[i];
    return NULL;
}

/* The demo fixture's first slot; init guarantees fixture and universe exist. */
static uint8_t *demo_slots(hub_state_t *st)
{
    const hub_fixture_t *f = hub_state_fixture(st, "demo");
    hub_universe_t *u = f ? hub_state_universe(st, f->universe) : NULL;
    if (u == NULL || f->channel < 1 || f->channel + 2 > HUB_DMX_SLOTS)
        return NULL;
    return &u->slots[f->channel - 1];
}

void hub_state_get_rgb(const hub_state_t *st, uint8_t rgb[3])
{
    const uint8_t *s = demo_slots((hub_state_t *)st);
    if (s == NULL) {
        memset(rgb, 0, 3);
        return;
    }
    memcpy(rgb, s, 3);
}

void hub_state_set_rgb(hub_state_t *st, const uint8_t rgb[3])
{
    uint8_t *s = demo_slots(st);
    if (s != NULL)
        memcpy(s, rgb, 3);
}

size_t hub_state_render_rgb(const hub_state_t *st, char *buf, size_t n)
{
    uint8_t c[3];
    hub_state_get_rgb(st, c);
    int len = snprintf(buf, n,
                       "{\"schema\":\"demo.rgb.state.v1\",\"r\":%u,\"g\":%u,\"b\":%u,"
                       "\"seq\":%" PRIu64 ",\"ts\":%" PRIu64 "}",
                       c[0], c[1], c[2], st->seq, st->ts_ms);
    return len < 0 ? 0 : ((size_t)len < n ? (size_t)len : n - 1);
}

size_t hub_state_render_ws(const hub_state_t *st, char *buf, size_t n)
{
    uint8_t c[3];
    hub_state_get_rgb(st, c);
    int len = snprintf(buf, n,
                       "{\"type\":\"state\",\"r\":%u,\"g\":%u,\"b\":%u,"
                       "\"seq\":%" PRIu64 ",\"ts\":%" PRIu64 "}",
                       c[0], c[1], c[2], st->seq, st->ts_ms);
    return len < 0 ? 0 : ((size_t)len < n ? (size_t)len : n - 1);
}

void hub_restore_free(hub_restore_t *r)
{
    hub_free(r->ids);
    hub_free(r->id_ts_ms);
    r->ids = NULL;
    r->id_ts_ms = NULL;
    r->nids = 0;
}

void hub_state_copy(hub_state_t *dst, const hub_state_t *src)
{
    dst->nuniverses = src->nuniverses;
    memcpy(dst->universes, src->universes, src->nuniverses * sizeof(hub_universe_t));
    dst->nfixtures = src->nfixtures;
    memcpy(dst->fixtures, src->fixtures, src->nfixtures * sizeof(hub_fixture_t));
    dst->seq = src->seq;
    dst->ts_ms = src->ts_ms;
}
