/* domains/dmx/dmx_int.h - shared by the dmx domain's sources only.
 *
 * The domain keeps its state twice, in the same shape: `work`, which apply
 * changes at once, and `pub`, which follows the announced (durable) changes
 * and feeds what the domain publishes: outputs, reads, views. Apply computes
 * each changed entity whole, puts it into work and records it as a change
 * whose native form is that entity; announce puts the same entity into pub.
 * So both go through the same dmx__state_put_* functions, and pub never
 * holds anything the announced patches did not say.
 */
#ifndef HUB_DMX_INT_H
#define HUB_DMX_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/jbuf.h"
#include "domains/dmx/dmx.h"
#include "domains/dmx/merge.h"
#include "domains/dmx/patchfile.h"
#include "domains/dmx/roles.h"
#include "engine/domain.h"

/* A fixture as the domain keeps it: its patch entry and its manual layer. */
typedef struct dmx__fixture {
    hub_patch_fixture_t def;
    int armed;
    uint8_t val[HUB_DMX_FIXTURE_CH_MAX]; /* per channel */
    uint8_t set[HUB_DMX_FIXTURE_CH_MAX]; /* 1: val holds a value; 0: released (null) */
    uint64_t seq, ts_ms;                 /* the intent that last changed it (0: never) */
} dmx__fixture_t;

/* The raw (unpatched) channels of one universe. */
typedef struct dmx__channels {
    int universe;
    uint8_t val[HUB_DMX_SLOTS];
    uint8_t set[HUB_DMX_SLOTS];
} dmx__channels_t;

/* Native forms of the changes (hub_change_t.native). */
typedef struct dmx__universes_native {
    size_t n;
    int universes[]; /* ascending */
} dmx__universes_native_t;

typedef struct dmx__state {
    int *universes; /* ascending */
    size_t nuniverses;
    dmx__fixture_t *fixtures; /* patch order */
    size_t nfixtures, capfixtures;
    size_t *fidx; /* name index: fixture index + 1, 0 empty */
    size_t fidxcap;
    dmx__channels_t *chans; /* one per universe, same order as universes */
    hub_patch_poi_t *pois;
    size_t npois;
    int blackout;
    uint16_t *owner; /* nuniverses x 512: fixture index + 1 of each slot, 0 unpatched */
    uint8_t *dirty;  /* per universe: output changed since the last sink call */
} dmx__state_t;

struct hub_dmx {
    hub_dmx_cfg_t cfg;
    char *file;        /* the patch file's path */
    int file_explicit; /* DMX_FIXTURES_FILE was set: it must exist */
    dmx__state_t work, pub;
    int *gone; /* universes dropped from pub since the last sink call */
    size_t ngone;
    hub_dmx_sink_fn sink;
    void *sink_ud;
    hub_jbuf_t jb; /* rendering scratch (loop thread) */
    /* The store held another patch than the file's: the state was loaded
     * with the stored one, and the file's is applied as an intent at start. */
    int patch_changed;
    hub_dmx_patch_fn on_patch; /* a reload was announced */
    void *on_patch_ud;
};

/* ---- state.c ---------------------------------------------------------------- */

void dmx__state_init(dmx__state_t *st);
void dmx__state_free(dmx__state_t *st);
/* Replace the whole patch: universes, fixture definitions (values of the
 * same name and role carried over, new fixtures armed and released), POIs;
 * raw channels of vanished universes and of slots now patched are dropped. */
void dmx__state_set_patch(dmx__state_t *st, const hub_patch_t *p);
dmx__fixture_t *dmx__state_fixture(const dmx__state_t *st, const char *name);
long dmx__state_universe_index(const dmx__state_t *st, int universe);
/* Put one entity (work: from apply; pub: from the change's native form). */
void dmx__state_put_fixture(dmx__state_t *st, const dmx__fixture_t *f);
void dmx__state_del_fixture(dmx__state_t *st, const char *name);
void dmx__state_put_universes(dmx__state_t *st, const int *u, size_t n);
void dmx__state_put_channels(dmx__state_t *st, const dmx__channels_t *c);
void dmx__state_put_pois(dmx__state_t *st, const hub_patch_poi_t *p, size_t n);
void dmx__state_put_blackout(dmx__state_t *st, int on);
/* The fixture owning channel ch (1-based) of universe index ui, or NULL. */
const dmx__fixture_t *dmx__state_owner(const dmx__state_t *st, size_t ui, int ch);
/* The layers of universe index ui. */
void dmx__state_layers(const dmx__state_t *st, size_t ui, hub_dmx_layers_t *out);
/* Mark every universe dirty / the universes of fixture f dirty. */
void dmx__state_dirty_all(dmx__state_t *st);
/* dst = a deep copy of src (dst must be initialised). */
void dmx__state_copy(dmx__state_t *dst, const dmx__state_t *src);

/* ---- render.c: the JSON of entities and views -------------------------------- */

void dmx__render_fixture(hub_jbuf_t *b, const dmx__fixture_t *f, int with_seq);
/* {"red":255,"dimmer":null,…}: f's manual layer, by role. */
void dmx__render_values(hub_jbuf_t *b, const dmx__fixture_t *f);
/* {"40":255,…}: the set raw channels of c (1-based keys). */
void dmx__render_channels(hub_jbuf_t *b, const dmx__channels_t *c);
void dmx__render_universes(hub_jbuf_t *b, const int *u, size_t n);
void dmx__render_pois(hub_jbuf_t *b, const hub_patch_poi_t *p, size_t n);
/* The seed-000 views of the demo fixture: GET /rgb, and the WS state frame. */
void dmx__render_rgb(hub_jbuf_t *b, const dmx__fixture_t *demo, int ws_frame);
/* The patch the state holds, as its dmx_meta row keeps it:
 * {"demo_universe":N,"patch":{"universes":[…],"fixtures":[…],"pois":[…]}}
 * in the patch file's form (the implicit demo left out). Two patches are
 * the same when these texts are. */
void dmx__render_patch(hub_jbuf_t *b, const dmx__state_t *st, int demo_universe);
/* The change path of an entity, e.g. "dmx.fixtures.par1". */
void dmx__path_fixture(char *out, size_t n, const char *name);

/* ---- intents.c ------------------------------------------------------------------ */

extern const hub_intent_def_t hub__dmx_intents[];
/* Record fixture f (already in work) as a change, with its row. */
void dmx__emit_fixture(hub_dmx_t *d, hub_apply_t *ap, const dmx__fixture_t *f);

/* ---- store.c --------------------------------------------------------------------- */

extern const hub_migration_t hub__dmx_migrations[];
extern const int hub__dmx_nmigrations;
int dmx__load(void *ctx, hub_db_t *db, char *err, size_t errlen);
void dmx__row_fixture(hub_apply_t *ap, const dmx__fixture_t *f);
void dmx__row_fixture_delete(hub_apply_t *ap, const char *name);
void dmx__row_channels(hub_apply_t *ap, const dmx__channels_t *c);
void dmx__row_channels_delete(hub_apply_t *ap, int universe);
void dmx__row_blackout(hub_apply_t *ap, int on);
/* The patch now in work (dmx__render_patch), after a reload. */
void dmx__row_patch(hub_apply_t *ap, const dmx__state_t *work, int demo_universe);

/* ---- routes.c -------------------------------------------------------------------- */

extern const hub_route_def_t hub__dmx_routes[];
extern const hub_topic_def_t hub__dmx_topics[];

#endif
