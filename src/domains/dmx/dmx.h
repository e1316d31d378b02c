/* domains/dmx/dmx.h - the dmx domain: universes, fixtures, blackout, raw
 * channels and POIs (seeds 000 and 001).
 *
 * State root "dmx" (a WS room), frame room "demo" (the seed-000 "state"
 * frames). The patch (universes, fixtures, POIs) comes from the patch file
 * (DMX_FIXTURES_FILE, domains/dmx/patchfile.h); the manual layer (a value or
 * null per fixture role, arm state), raw channels of unpatched slots and
 * blackout are state, persisted in the domain's own tables. The fixture
 * "demo" backs the seed-000 API: GET /rgb, WS set/state and the v1/demo/rgb/ topics
 * are views of it.
 *
 * Intents: fixture.set_values, fixture.set_arm, fixture.release,
 * fixture.go_to_poi, fixture.update, dmx.set_channels, dmx.blackout,
 * dmx.reload_fixtures (docs/api-ws.md). Outputs: after every group commit
 * that changed a universe's output, the sink gets that universe's layers
 * (domains/dmx/merge.h), from the announced state.
 *
 * Threading: everything on the loop thread, except hub_dmx_new/free (before
 * and after the loop) and the reload intent's prepare step (any thread: it
 * only reads the file).
 */
#ifndef HUB_DMX_DMX_H
#define HUB_DMX_DMX_H

#include <stddef.h>

#include "domains/dmx/merge.h"
#include "domains/dmx/patchfile.h"
#include "engine/domain.h"

typedef struct hub_dmx hub_dmx_t;

typedef struct hub_dmx_cfg {
    const char *fixtures_file; /* the patch file */
    int file_explicit;         /* 1: DMX_FIXTURES_FILE was set, so the file must exist */
    int demo_universe;         /* DMX_OLA_UNIVERSE */
} hub_dmx_cfg_t;

/* Read and validate the patch file. On failure returns HUB_EINVAL with one
 * line naming the file, the fixture and what is wrong in err (start-up exits
 * with code 2), and leaves *out unchanged. */
int hub_dmx_new(hub_dmx_t **out, const hub_dmx_cfg_t *cfg, char *err, size_t errlen);
void hub_dmx_free(hub_dmx_t *d);
/* The definition to register with the engine (ctx: the hub_dmx_t). */
const hub_domain_def_t *hub_dmx_domain(void);

/* Where the output layers go: sink(ud, universe, layers) per universe whose
 * output changed, after each group commit; layers NULL: the universe is no
 * longer in the patch. */
typedef void (*hub_dmx_sink_fn)(void *ud, int universe, const hub_dmx_layers_t *layers);
void hub_dmx_set_sink(hub_dmx_t *d, hub_dmx_sink_fn sink, void *ud);
/* Hand every universe's layers to the sink now (start-up). */
void hub_dmx_sink_all(hub_dmx_t *d);
/* 1 when the patch file differs from the patch the stored state was saved
 * with (known once the store has loaded the domain): the state holds the
 * stored one until the caller submits dmx.reload_fixtures (src "startup"). */
int hub_dmx_patch_changed(const hub_dmx_t *d);
/* For the show domain: a fixture's definition and a POI in the working
 * state (what apply validates against), or NULL. */
const hub_patch_fixture_t *hub_dmx_fixture_def(const hub_dmx_t *d, const char *name);
const hub_patch_poi_t *hub_dmx_poi(const hub_dmx_t *d, const char *name);
/* fn(ud, out) runs when a reload of the patch is announced (loop thread),
 * so a domain built on the patch can rebuild what it derived from it. */
typedef void (*hub_dmx_patch_fn)(void *ud, hub_outbox_t *out);
void hub_dmx_on_patch(hub_dmx_t *d, hub_dmx_patch_fn fn, void *ud);
/* The universes of the published patch, ascending. */
const int *hub_dmx_universes(const hub_dmx_t *d, size_t *n);

#endif
