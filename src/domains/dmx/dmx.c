/* domains/dmx/dmx.c - the dmx domain's registration: what it publishes when
 * its changes are announced, and what it hands the outputs.
 *
 * Published per change: the fixture's retained MQTT state
 * (v1/dmx/fixtures/<name>/state, the fixture object + seq; only the last of
 * a group commit per fixture), and for the fixture "demo" the seed-000
 * views: GET /rgb's body (view "rgb"), the WS "state" frame (room "demo",
 * and view "ws_state" for a new connection's first frame) and the retained
 * v1/demo/rgb/state, on every change of it, as seed 000 always did.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "domains/dmx/dmx_int.h"

#define TOPIC_RGB_STATE "v1/demo/rgb/state"

static const char *const roots[] = {"dmx", NULL};
static const char *const frame_rooms[] = {"demo", NULL};

/* ---- publishing ------------------------------------------------------------ */

static void publish_demo(hub_dmx_t *d, const dmx__fixture_t *demo, hub_outbox_t *out, int frame)
{
    static const char state_head[] = "{\"schema\":\"demo.rgb.state.v1\",";
    static const char ws_head[] = "{\"type\":\"state\",";
    char ws[256];
    size_t tail, n;

    hub_jbuf_reset(&d->jb);
    dmx__render_rgb(&d->jb, demo, 0);
    hub_outbox_view(out, "rgb", d->jb.p, d->jb.len);
    hub_outbox_mqtt(out, TOPIC_RGB_STATE, d->jb.p, d->jb.len, 1, 1, 0);
    /* The WS frame is the same object under another head: no second render. */
    tail = d->jb.len - (sizeof(state_head) - 1);
    n = sizeof(ws_head) - 1 + tail;
    if (n > sizeof(ws)) {
        hub_jbuf_reset(&d->jb);
        dmx__render_rgb(&d->jb, demo, 1);
        hub_outbox_view(out, "ws_state", d->jb.p, d->jb.len);
        if (frame)
            hub_outbox_frame(out, "demo", d->jb.p, d->jb.len);
        return;
    }
    memcpy(ws, ws_head, sizeof(ws_head) - 1);
    memcpy(ws + sizeof(ws_head) - 1, d->jb.p + sizeof(state_head) - 1, tail);
    hub_outbox_view(out, "ws_state", ws, n);
    if (frame)
        hub_outbox_frame(out, "demo", ws, n);
}

/* The fixture object + seq. value: the fixture as its change rendered it
 * (dmx__render_fixture without seq), reused rather than rendered again. */
static void publish_fixture(hub_dmx_t *d, const dmx__fixture_t *f, const char *value, size_t len,
                            hub_outbox_t *out)
{
    char topic[128];
    hub_str_join(topic, sizeof(topic), "v1/dmx/fixtures/", f->def.name, "/state");
    hub_jbuf_reset(&d->jb);
    if (value != NULL && len > 1 && value[len - 1] == '}') {
        hub_jbuf_raw(&d->jb, value, len - 1);
        hub_jbuf_lit(&d->jb, ",\"seq\":");
        hub_jbuf_uint(&d->jb, f->seq);
        hub_jbuf_lit(&d->jb, "}");
    } else {
        dmx__render_fixture(&d->jb, f, 1);
    }
    hub_outbox_mqtt(out, topic, d->jb.p, d->jb.len, 1, 1, HUB_OUT_CONFLATE);
}

static void publish_gone(const char *name, hub_outbox_t *out)
{
    char topic[128];
    hub_str_join(topic, sizeof(topic), "v1/dmx/fixtures/", name, "/state");
    hub_outbox_mqtt(out, topic, "", 0, 1, 1, 0); /* clears the retained state */
}

static void note_gone_universes(hub_dmx_t *d, const int *now, size_t n)
{
    const dmx__state_t *p = &d->pub;
    for (size_t i = 0; i < p->nuniverses; i++) {
        int keep = 0;
        for (size_t k = 0; k < n && !keep; k++)
            keep = now[k] == p->universes[i];
        if (!keep) {
            d->gone = hub_realloc(d->gone, (d->ngone + 1) * sizeof(int));
            d->gone[d->ngone++] = p->universes[i];
        }
    }
}

/* The changes of one announced intent, into pub, and out as publications. */
static void announce(void *ctx, const hub_announce_t *ann, const hub_change_t *ch, size_t n,
                     hub_outbox_t *out)
{
    hub_dmx_t *d = ctx;
    static const char fx[] = "dmx.fixtures.";
    int reload = strcmp(ann->intent->name, "dmx.reload_fixtures") == 0;

    for (size_t i = 0; i < n; i++) {
        const hub_change_t *c = &ch[i];
        int gone = c->value_len == 4 && memcmp(c->value, "null", 4) == 0;
        if (strncmp(c->path, fx, sizeof(fx) - 1) == 0) {
            const char *name = c->path + sizeof(fx) - 1;
            if (gone) {
                dmx__state_del_fixture(&d->pub, name);
                publish_gone(name, out);
                continue;
            }
            const dmx__fixture_t *f = c->native;
            dmx__state_put_fixture(&d->pub, f);
            publish_fixture(d, f, c->value, c->value_len, out);
            if (strcmp(name, HUB_DMX_DEMO_NAME) == 0)
                publish_demo(d, f, out, 1);
        } else if (strncmp(c->path, "dmx.channels.", 13) == 0) {
            dmx__state_put_channels(&d->pub, c->native);
        } else if (strcmp(c->path, "dmx.blackout") == 0) {
            dmx__state_put_blackout(&d->pub, *(const int *)c->native);
        } else if (strcmp(c->path, "dmx.universes") == 0) {
            const dmx__universes_native_t *u = c->native;
            note_gone_universes(d, u->universes, u->n);
            dmx__state_put_universes(&d->pub, u->universes, u->n);
        } else if (strcmp(c->path, "dmx.pois") == 0) {
            dmx__state_put_pois(&d->pub, c->native, c->native_len / sizeof(hub_patch_poi_t));
        }
    }
    if (reload) {
        hub_outbox_event(out, HUB_EVENT_INFO, "dmx",
                         "fixtures reloaded from %s: %zu fixtures on %zu universes (seq %llu)",
                         d->file, d->pub.nfixtures, d->pub.nuniverses,
                         (unsigned long long)ann->seq);
        if (d->on_patch != NULL)
            d->on_patch(d->on_patch_ud, out);
    }
}

/* After a group commit: the layers of every universe whose output moved. */
static void announced(void *ctx)
{
    hub_dmx_t *d = ctx;
    hub_dmx_layers_t layers;

    if (d->sink == NULL) {
        d->ngone = 0;
        return;
    }
    for (size_t i = 0; i < d->ngone; i++)
        d->sink(d->sink_ud, d->gone[i], NULL);
    d->ngone = 0;
    for (size_t ui = 0; ui < d->pub.nuniverses; ui++) {
        if (!d->pub.dirty[ui])
            continue;
        d->pub.dirty[ui] = 0;
        dmx__state_layers(&d->pub, ui, &layers);
        d->sink(d->sink_ud, d->pub.universes[ui], &layers);
    }
}

static void publish_all(void *ctx, hub_outbox_t *out)
{
    hub_dmx_t *d = ctx;
    publish_demo(d, dmx__state_fixture(&d->pub, HUB_DMX_DEMO_NAME), out, 0);
    for (size_t i = 0; i < d->pub.nfixtures; i++)
        publish_fixture(d, &d->pub.fixtures[i], NULL, 0, out);
}

static void entities(void *ctx, hub_entity_fn emit, void *ud)
{
    hub_dmx_t *d = ctx;
    const dmx__state_t *p = &d->pub;
    char path[96];

    emit(ud, "dmx.blackout", p->blackout ? "true" : "false", p->blackout ? 4 : 5);
    hub_jbuf_reset(&d->jb);
    dmx__render_universes(&d->jb, p->universes, p->nuniverses);
    emit(ud, "dmx.universes", d->jb.p, d->jb.len);
    for (size_t i = 0; i < p->nfixtures; i++) {
        hub_jbuf_reset(&d->jb);
        dmx__render_fixture(&d->jb, &p->fixtures[i], 0);
        dmx__path_fixture(path, sizeof(path), p->fixtures[i].def.name);
        emit(ud, path, d->jb.p, d->jb.len);
    }
    emit(ud, "dmx.channels", "{}", 2);
    for (size_t ui = 0; ui < p->nuniverses; ui++) {
        int any = 0;
        for (int s = 0; s < HUB_DMX_SLOTS && !any; s++)
            any = p->chans[ui].set[s];
        if (!any)
            continue;
        hub_jbuf_reset(&d->jb);
        dmx__render_channels(&d->jb, &p->chans[ui]);
        snprintf(path, sizeof(path), "dmx.channels.%d", p->universes[ui]);
        emit(ud, path, d->jb.p, d->jb.len);
    }
    hub_jbuf_reset(&d->jb);
    dmx__render_pois(&d->jb, p->pois, p->npois);
    emit(ud, "dmx.pois", d->jb.p, d->jb.len);
}

static const hub_domain_def_t def = {
    .name = "dmx",
    .roots = roots,
    .frame_rooms = frame_rooms,
    .intents = hub__dmx_intents,
    .migrations = hub__dmx_migrations,
    .nmigrations = 1,
    .load = dmx__load,
    .entities = entities,
    .announce = announce,
    .announced = announced,
    .publish_all = publish_all,
    .routes = hub__dmx_routes,
    .topics = hub__dmx_topics,
};

const hub_domain_def_t *hub_dmx_domain(void)
{
    return &def;
}

/* ---- lifecycle --------------------------------------------------------------------- */

static int read_file(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *buf;

    if (f == NULL)
        return -errno;
    buf = hub_malloc(cap);
    for (;;) {
        if (n == cap)
            buf = hub_realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        hub_free(buf);
        return -EIO;
    }
    *text = buf;
    *len = n;
    return 0;
}

int hub_dmx_new(hub_dmx_t **out, const hub_dmx_cfg_t *cfg, char *err, size_t errlen)
{
    hub_patch_t patch;
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(cfg->fixtures_file, &text, &len);

    if (rc == -ENOENT && !cfg->file_explicit) {
        hub_patch_default(cfg->demo_universe, &patch);
    } else if (rc < 0) {
        snprintf(err, errlen, "%s: cannot read the patch file (DMX_FIXTURES_FILE): %s",
                 cfg->fixtures_file, strerror(-rc));
        return HUB_EINVAL;
    } else {
        rc =
            hub_patch_parse(text, len, cfg->fixtures_file, cfg->demo_universe, &patch, err, errlen);
        hub_free(text);
        if (rc != 0)
            return HUB_EINVAL;
    }
    hub_dmx_t *d = hub_calloc(1, sizeof(*d));
    d->cfg = *cfg;
    d->file = hub_strdup(cfg->fixtures_file);
    d->file_explicit = cfg->file_explicit;
    d->cfg.fixtures_file = d->file;
    dmx__state_init(&d->work);
    dmx__state_init(&d->pub);
    dmx__state_set_patch(&d->work, &patch);
    hub_patch_free(&patch);
    dmx__state_copy(&d->pub, &d->work);
    hub_jbuf_init(&d->jb);
    *out = d;
    return 0;
}

void hub_dmx_free(hub_dmx_t *d)
{
    if (d == NULL)
        return;
    dmx__state_free(&d->work);
    dmx__state_free(&d->pub);
    hub_jbuf_free(&d->jb);
    hub_free(d->gone);
    hub_free(d->file);
    hub_free(d);
}

void hub_dmx_set_sink(hub_dmx_t *d, hub_dmx_sink_fn sink, void *ud)
{
    d->sink = sink;
    d->sink_ud = ud;
}

void hub_dmx_sink_all(hub_dmx_t *d)
{
    dmx__state_dirty_all(&d->pub);
    d->ngone = 0;
    announced(d);
}

const int *hub_dmx_universes(const hub_dmx_t *d, size_t *n)
{
    *n = d->pub.nuniverses;
    return d->pub.universes;
}

const hub_patch_fixture_t *hub_dmx_fixture_def(const hub_dmx_t *d, const char *name)
{
    const dmx__fixture_t *f = dmx__state_fixture(&d->work, name);
    return f != NULL ? &f->def : NULL;
}

const hub_patch_poi_t *hub_dmx_poi(const hub_dmx_t *d, const char *name)
{
    for (size_t i = 0; i < d->work.npois; i++)
        if (strcmp(d->work.pois[i].name, name) == 0)
            return &d->work.pois[i];
    return NULL;
}

void hub_dmx_on_patch(hub_dmx_t *d, hub_dmx_patch_fn fn, void *ud)
{
    d->on_patch = fn;
    d->on_patch_ud = ud;
}

int hub_dmx_patch_changed(const hub_dmx_t *d)
{
    return d->patch_changed;
}
