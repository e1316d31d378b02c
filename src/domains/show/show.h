/* domains/show/show.h - the show domain: show files, the loaded show, the
 * transport, preview effects (seed 001).
 *
 * State root "show" (a WS room): show.loaded (the loaded show's file, or
 * null), show.transport ({"state","t_ms","at","rate"}: a client computes
 * the position from it; there are no position patches), show.previews,
 * show.list (the shows directory). Show files live in DMX_SHOWS_DIR as
 * <name>.cue.json (domains/show/showfile.h); edits are written atomically
 * in the group commit (engine/rows.h, hub_stmt_file) and checked against
 * the dmx domain's patch. The loaded show is compiled into a program
 * (domains/show/render.h) that the output clock plays
 * (domains/show/player.h): the domain hands programs, transports and
 * previews to a sink when their changes are announced.
 *
 * Intents (docs/shows.md): show.load, show.unload, show.save, show.delete,
 * show.rescan, transport.play, transport.pause, transport.stop,
 * transport.jump_to_time, cue.add, cue.update, cue.delete, effect.add,
 * effect.update, effect.delete, fixture.preview_effect,
 * fixture.preview_stop; and from its own timers transport.end and
 * fixture.preview_expire.
 *
 * Threading: the loop thread, except the prepare steps (file reads, on the
 * submitter's thread) and hub_showdom_new/free.
 */
#ifndef HUB_SHOW_SHOW_H
#define HUB_SHOW_SHOW_H

#include <stddef.h>

#include <uv.h>

#include "domains/dmx/dmx.h"
#include "domains/show/player.h"
#include "domains/show/render.h"
#include "engine/domain.h"
#include "engine/engine.h"

typedef struct hub_showdom hub_showdom_t;

typedef struct hub_showdom_cfg {
    const char *shows_dir;    /* created if missing */
    const char *default_show; /* NULL: none */
    int max_bytes;            /* DMX_SHOW_MAX_BYTES */
    hub_dmx_t *dmx;           /* the patch shows refer to */
} hub_showdom_cfg_t;

/* Where playback goes (the output clock). playback hands over a new
 * program when has_prog (a reference the sink now owns; NULL: none) and a
 * new transport when tr is not NULL, together, so the output never plays
 * a new show at the old show's position; previews hands over a reference
 * (NULL: none). */
typedef struct hub_show_sink {
    void (*playback)(void *ud, int has_prog, hub_show_prog_t *prog, const hub_transport_t *tr);
    void (*previews)(void *ud, hub_show_previews_t *pv);
    void *ud;
} hub_show_sink_t;

int hub_showdom_new(hub_showdom_t **out, const hub_showdom_cfg_t *cfg, char *err, size_t errlen);
void hub_showdom_free(hub_showdom_t *d);
const hub_domain_def_t *hub_showdom_domain(void);
void hub_showdom_set_sink(hub_showdom_t *d, const hub_show_sink_t *sink);
/* The engine it was registered with (before the engine starts: the
 * start-up publication of v1/show/state carries the restored seq). */
void hub_showdom_bind(hub_showdom_t *d, hub_engine_t *engine);
/* After the engine started: hand the restored state to the sink, arm the
 * timers, and load DMX_DEFAULT_SHOW when no show is loaded and its file
 * exists (show.load, src "startup"). */
void hub_showdom_start(hub_showdom_t *d, hub_engine_t *engine, uv_loop_t *loop);
/* Shutdown (before the engine stops taking intents): a playing transport
 * is paused where it is (src "shutdown"), so a restart resumes there. */
void hub_showdom_shutdown(hub_showdom_t *d);
/* Close the timers (before the loop closes). */
void hub_showdom_stop(hub_showdom_t *d);
/* SIGHUP: read the shows directory again (show.rescan). */
void hub_showdom_rescan(hub_showdom_t *d);

#endif
