/* domains/show/show.c - the show domain's registration, what it publishes,
 * its timers and its life cycle.
 *
 * Published per announced change: the retained v1/show/state (show name,
 * transport, seq) whenever the loaded show or the transport changed; the
 * program, transport and previews to the sink (the output clock).
 * Timers (loop thread) submit intents like any adapter: transport.end when
 * a playing show reaches its end, fixture.preview_expire when a preview's
 * time is up; both re-arm from the state after each announcement.
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/ulid.h"
#include "domains/show/show_int.h"

#define TOPIC_STATE "v1/show/state"

static const char *const roots[] = {"show", NULL};

/* ---- helpers -------------------------------------------------------------------- */

void show__path(const hub_showdom_t *d, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s%s", d->dir, name, HUB_SHOW_FILE_SUFFIX);
}

void show__dir_file(const hub_showdom_t *d, const char *file, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", d->dir, file);
}

static const hub_patch_fixture_t *patch_fixture(void *ud, const char *name)
{
    return hub_dmx_fixture_def(ud, name);
}

static const hub_patch_poi_t *patch_poi(void *ud, const char *name)
{
    return hub_dmx_poi(ud, name);
}

hub_show_patch_t show__patch(hub_showdom_t *d)
{
    hub_show_patch_t p = {patch_fixture, patch_poi, d->dmx};
    return p;
}

void show__recompile(hub_showdom_t *d)
{
    hub_show_patch_t patch = show__patch(d);
    size_t skipped = 0;

    hub_show_prog_unref(d->prog);
    d->prog = d->loaded ? hub_show_compile(&d->show, &patch, &skipped) : NULL;
    if (skipped > 0)
        hub_log(HUB_LOG_WARN, "show_refs_skipped", "{s:s,s:I}", "show", d->show.name, "skipped",
                (json_int_t)skipped);
}

int64_t show__duration_us(const hub_showdom_t *d)
{
    return d->loaded ? d->show.duration_ms * 1000 : 0;
}

/* ---- timers ------------------------------------------------------------------------ */

static void on_own_done(hub_intent_t *in, const hub_announce_t *ann, void *ud);

int show__submit(hub_showdom_t *d, const char *src, const char *name, json_t *payload)
{
    char id[HUB_REQ_ID_MAX + 1];
    hub_error_t err;
    hub_intent_t *in;

    if (d->engine == NULL) {
        json_decref(payload);
        return -1;
    }
    hub_ulid_new(id);
    in = hub_intent_new(id, src, name);
    if (payload != NULL)
        hub_intent_set_payload(in, payload);
    in->recv_us = hub_mono_us();
    in->done = on_own_done;
    in->ud = d;
    if (hub_engine_prepare(d->engine, in, &err) != 0) {
        hub_engine_event(d->engine, HUB_EVENT_ERROR, "show", "%s refused: %s", name, err.msg);
        hub_intent_free(in);
        return -1;
    }
    if (hub_engine_submit(d->engine, in) != 0) {
        hub_log(HUB_LOG_WARN, "show_submit_refused", "{s:s,s:s}", "intent", name, "why",
                "the queue is full or the hub is stopping");
        hub_intent_free(in);
        return -1;
    }
    return 0;
}

static void arm_timers(hub_showdom_t *d);

static void on_own_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    hub_showdom_t *d = ud;
    (void)ann;
    if (in->outcome != HUB_INTENT_APPLIED && in->outcome != HUB_INTENT_DUPLICATE &&
        strcmp(in->name, "transport.end") != 0 && strcmp(in->name, "fixture.preview_expire") != 0 &&
        strcmp(in->name, "show.rescan") != 0 && strcmp(in->src, "shutdown") != 0)
        hub_engine_event(d->engine, HUB_EVENT_ERROR, "show", "%s (%s) refused: %s", in->name,
                         in->src, in->err.msg);
    arm_timers(d); /* a timer intent that found nothing to do re-arms from the state */
}

#define RETRY_MS 100 /* a timer's intent refused (queue full): try again */

static void on_end_timer(uv_timer_t *t)
{
    hub_showdom_t *d = t->data;
    if (show__submit(d, "timer", "transport.end", NULL) != 0 && d->timers)
        uv_timer_start(t, on_end_timer, RETRY_MS, 0);
}

static void on_pv_timer(uv_timer_t *t)
{
    hub_showdom_t *d = t->data;
    if (show__submit(d, "timer", "fixture.preview_expire", NULL) != 0 && d->timers)
        uv_timer_start(t, on_pv_timer, RETRY_MS, 0);
}

static uint64_t ms_until(uint64_t at_us, uint64_t now_us)
{
    return at_us > now_us ? (at_us - now_us + 999) / 1000 : 0;
}

static void arm_timers(hub_showdom_t *d)
{
    uint64_t now = hub_mono_us();

    if (!d->timers)
        return;
    uv_timer_stop(&d->end_timer);
    if (d->loaded && d->tr.state == HUB_TRANSPORT_PLAYING) {
        int64_t left_us = show__duration_us(d) - d->tr.t_us;
        uint64_t end = d->tr.mono_us + (uint64_t)(left_us > 0 ? left_us : 0) * HUB_RATE_ONE /
                                           (uint64_t)d->tr.rate_pm;
        uv_timer_start(&d->end_timer, on_end_timer, ms_until(end, now) + 1, 0);
    }
    uv_timer_stop(&d->pv_timer);
    if (d->npv > 0) {
        uint64_t first = UINT64_MAX;
        for (size_t i = 0; i < d->npv; i++) {
            uint64_t until = d->pv[i].start_mono_us + (uint64_t)d->pv[i].fx.dur_ms * 1000;
            if (until < first)
                first = until;
        }
        uv_timer_start(&d->pv_timer, on_pv_timer, ms_until(first, now) + 1, 0);
    }
}

/* ---- hand-over to the output, in announce order --------------------------------------- */

void show__stage(hub_showdom_t *d, hub_apply_t *ap, int is_previews)
{
    d->staged = hub_realloc(d->staged, (d->nstaged + 1) * sizeof(*d->staged));
    show__staged_t *st = &d->staged[d->nstaged++];
    memset(st, 0, sizeof(*st));
    st->seq = hub_apply_seq(ap);
    st->is_previews = is_previews;
    if (is_previews)
        st->pv = show__previews_compile(d);
    else
        st->prog = d->prog != NULL ? hub_show_prog_ref(d->prog) : NULL;
}

void show__pending_add(hub_showdom_t *d, hub_apply_t *ap, const char *name)
{
    d->pending = hub_realloc(d->pending, (d->npending + 1) * sizeof(*d->pending));
    d->pending[d->npending].seq = hub_apply_seq(ap);
    snprintf(d->pending[d->npending].name, sizeof(d->pending[0].name), "%s", name);
    d->npending++;
}

int show__pending(const hub_showdom_t *d, const char *name)
{
    for (size_t i = 0; i < d->npending; i++)
        if (strcmp(d->pending[i].name, name) == 0)
            return 1;
    return 0;
}

/* Files of intents up to seq are on disk (a failed commit's rows are
 * written before any later intent is announced). */
static void pending_done(hub_showdom_t *d, uint64_t seq)
{
    size_t keep = 0;
    for (size_t i = 0; i < d->npending; i++)
        if (d->pending[i].seq > seq)
            d->pending[keep++] = d->pending[i];
    d->npending = keep;
}

static void staged_drop(show__staged_t *st)
{
    hub_show_prog_unref(st->prog);
    hub_show_previews_unref(st->pv);
}

/* What intent seq staged: previews go to the sink, the program (if any)
 * to *prog for the playback call. Entries of earlier seqs were never
 * announced (their commit failed): superseded, dropped. */
static int hand_over(hub_showdom_t *d, uint64_t seq, hub_show_prog_t **prog)
{
    size_t used = 0;
    int has_prog = 0;
    for (; used < d->nstaged && d->staged[used].seq <= seq; used++) {
        show__staged_t *st = &d->staged[used];
        if (st->seq < seq) {
            staged_drop(st);
        } else if (st->is_previews) {
            if (d->sink.previews != NULL)
                d->sink.previews(d->sink.ud, st->pv);
            else
                hub_show_previews_unref(st->pv);
        } else {
            if (has_prog)
                hub_show_prog_unref(*prog);
            *prog = st->prog;
            has_prog = 1;
        }
    }
    if (used > 0) {
        memmove(d->staged, d->staged + used, (d->nstaged - used) * sizeof(*d->staged));
        d->nstaged -= used;
    }
    return has_prog;
}

/* ---- announce ------------------------------------------------------------------------ */

static void publish_state(hub_showdom_t *d, uint64_t seq, hub_outbox_t *out)
{
    hub_jbuf_reset(&d->jb);
    show__render_mqtt_state(&d->jb, d, seq);
    hub_outbox_mqtt(out, TOPIC_STATE, d->jb.p, d->jb.len, 1, 1, HUB_OUT_CONFLATE);
}

static void announce(void *ctx, const hub_announce_t *ann, const hub_change_t *ch, size_t n,
                     hub_outbox_t *out)
{
    hub_showdom_t *d = ctx;
    hub_show_prog_t *prog = NULL;
    const hub_transport_t *tr = NULL;
    int state = 0;

    int has_prog = hand_over(d, ann->seq, &prog);
    pending_done(d, ann->seq);
    for (size_t i = 0; i < n; i++) {
        const hub_change_t *c = &ch[i];
        if (strcmp(c->path, "show.loaded") == 0) {
            state = 1;
        } else if (strcmp(c->path, "show.transport") == 0) {
            state = 1;
            tr = c->native;
        }
    }
    if (d->sink.playback != NULL && (has_prog || tr != NULL))
        d->sink.playback(d->sink.ud, has_prog, prog, tr);
    else if (has_prog)
        hub_show_prog_unref(prog);
    if (state)
        publish_state(d, ann->seq, out);
    if (strcmp(ann->intent->name, "show.load") == 0 && d->loaded)
        hub_outbox_event(out, HUB_EVENT_INFO, "show", "show %s loaded: %zu cues, %zu effects",
                         d->show.name, d->show.ncues, d->show.neffects);
    arm_timers(d);
}

static void publish_all(void *ctx, hub_outbox_t *out)
{
    hub_showdom_t *d = ctx;
    publish_state(d, d->engine != NULL ? hub_engine_seq(d->engine) : 0, out);
}

static void entities(void *ctx, hub_entity_fn emit, void *ud)
{
    hub_showdom_t *d = ctx;

    hub_jbuf_reset(&d->jb);
    show__render_loaded(&d->jb, d);
    emit(ud, "show.loaded", d->jb.p, d->jb.len);
    hub_jbuf_reset(&d->jb);
    show__render_transport(&d->jb, d);
    emit(ud, "show.transport", d->jb.p, d->jb.len);
    hub_jbuf_reset(&d->jb);
    show__render_previews(&d->jb, d);
    emit(ud, "show.previews", d->jb.p, d->jb.len);
    hub_jbuf_reset(&d->jb);
    show__render_list(&d->jb, d);
    emit(ud, "show.list", d->jb.p, d->jb.len);
}

static const hub_domain_def_t def = {
    .name = "show",
    .roots = roots,
    .intents = hub__show_intents,
    .migrations = hub__show_migrations,
    .nmigrations = 1,
    .load = show__load,
    .entities = entities,
    .announce = announce,
    .publish_all = publish_all,
    .routes = hub__show_routes,
};

const hub_domain_def_t *hub_showdom_domain(void)
{
    return &def;
}

/* ---- the patch changed ------------------------------------------------------------------ */

static void on_patch(void *ud, hub_outbox_t *out)
{
    hub_showdom_t *d = ud;
    d->patch_gen++;   /* the route cache's checks and programs are stale */
    if (!d->loaded) { /* the list's verdicts depend on the patch all the same */
        show__submit(d, "patch", "show.rescan", NULL);
        return;
    }
    show__recompile(d);
    if (d->sink.playback != NULL)
        d->sink.playback(d->sink.ud, 1, d->prog ? hub_show_prog_ref(d->prog) : NULL, NULL);
    if (d->npv > 0 && d->sink.previews != NULL) /* previews address slots too */
        d->sink.previews(d->sink.ud, show__previews_compile(d));
    hub_outbox_event(out, HUB_EVENT_INFO, "show", "show %s follows the new patch", d->show.name);
    /* The list's verdicts depend on the patch: read the directory again. */
    show__submit(d, "patch", "show.rescan", NULL);
}

/* ---- life cycle ------------------------------------------------------------------------------ */

int hub_showdom_new(hub_showdom_t **out, const hub_showdom_cfg_t *cfg, char *err, size_t errlen)
{
    if (hub_mkdir_p(cfg->shows_dir, err, errlen) != 0) {
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, " (DMX_SHOWS_DIR: the directory of the show files)");
        return HUB_EINVAL;
    }
    hub_showdom_t *d = hub_calloc(1, sizeof(*d));
    d->dir = hub_strdup(cfg->shows_dir);
    d->default_show = cfg->default_show ? hub_strdup(cfg->default_show) : NULL;
    d->max_bytes = cfg->max_bytes;
    d->dmx = cfg->dmx;
    d->tr.state = HUB_TRANSPORT_STOPPED;
    d->tr.rate_pm = HUB_RATE_ONE;
    d->tr_at = 0; /* never changed: restored from the store when it was */
    hub_jbuf_init(&d->jb);
    hub_dmx_on_patch(d->dmx, on_patch, d);
    show__routes_configure(cfg->max_bytes);
    *out = d;
    return 0;
}

void hub_showdom_free(hub_showdom_t *d)
{
    if (d == NULL)
        return;
    hub_show_free(&d->show);
    hub_show_prog_unref(d->prog);
    hub_show_free(&d->cache.show);
    hub_show_prog_unref(d->cache.prog);
    show__previews_free(d);
    show__list_free(d->list, d->nlist);
    for (size_t i = 0; i < d->nstaged; i++)
        staged_drop(&d->staged[i]);
    hub_free(d->staged);
    hub_free(d->pending);
    hub_jbuf_free(&d->jb);
    hub_free(d->load_warning);
    hub_free(d->default_show);
    hub_free(d->dir);
    hub_free(d);
}

void hub_showdom_set_sink(hub_showdom_t *d, const hub_show_sink_t *sink)
{
    d->sink = *sink;
}

void hub_showdom_bind(hub_showdom_t *d, hub_engine_t *engine)
{
    d->engine = engine;
}

void hub_showdom_start(hub_showdom_t *d, hub_engine_t *engine, uv_loop_t *loop)
{
    char path[4096];

    d->engine = engine;
    d->loop = loop;
    uv_timer_init(loop, &d->end_timer);
    uv_timer_init(loop, &d->pv_timer);
    d->end_timer.data = d;
    d->pv_timer.data = d;
    d->timers = 1;
    if (d->sink.playback != NULL)
        d->sink.playback(d->sink.ud, d->prog != NULL, d->prog ? hub_show_prog_ref(d->prog) : NULL,
                         &d->tr);
    if (d->load_warning != NULL)
        hub_engine_event(engine, HUB_EVENT_WARNING, "show",
                         "the show loaded before the restart could not be loaded again: %s",
                         d->load_warning);
    if (d->tr.state == HUB_TRANSPORT_PAUSED)
        hub_log(HUB_LOG_INFO, "show_restored", "{s:s,s:s,s:I}", "show", d->show.name, "state",
                "paused", "t_ms", (json_int_t)(d->tr.t_us / 1000));
    /* A stored show that failed to load is the operator's to see, not
     * replaced by the default behind their back. */
    if (!d->loaded && d->default_show != NULL && d->load_warning == NULL) {
        show__path(d, d->default_show, path, sizeof(path));
        if (access(path, R_OK) == 0)
            show__submit(d, "startup", "show.load", json_pack("{s:s}", "name", d->default_show));
        else
            hub_log(HUB_LOG_INFO, "show_default_absent", "{s:s,s:s}", "show", d->default_show,
                    "path", path);
    }
}

void hub_showdom_shutdown(hub_showdom_t *d)
{
    /* Always: a transport.play still queued applies before it. Not
     * playing by then, it is refused and costs no seq. */
    if (d->loaded)
        (void)show__submit(d, "shutdown", "transport.pause", NULL);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

void hub_showdom_stop(hub_showdom_t *d)
{
    if (!d->timers)
        return;
    d->timers = 0;
    uv_close((uv_handle_t *)&d->end_timer, on_closed);
    uv_close((uv_handle_t *)&d->pv_timer, on_closed);
}

void hub_showdom_rescan(hub_showdom_t *d)
{
    show__submit(d, "signal", "show.rescan", NULL);
}
