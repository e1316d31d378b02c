/* engine/state.h - the state model: universes, fixtures, seq.
 *
 * Universes hold 512 slots, 0-based inside; channels are 1-based at every
 * external interface. A fixture is a named run of channels on a universe.
 * The seed-000 RGB state is the fixture "demo" on channels 1-3 of the demo
 * universe; /rgb is a view of it. Loop thread only.
 */
#ifndef HUB_ENGINE_STATE_H
#define HUB_ENGINE_STATE_H

#include <stddef.h>
#include <stdint.h>

#define HUB_DMX_SLOTS        512
#define HUB_MAX_UNIVERSES    64
#define HUB_MAX_FIXTURES     256
#define HUB_FIXTURE_NAME_MAX 31

typedef struct hub_universe {
    int id;                       /* external universe number (OLA's) */
    uint8_t slots[HUB_DMX_SLOTS]; /* slot i is channel i + 1 */
} hub_universe_t;

typedef struct hub_fixture {
    char name[HUB_FIXTURE_NAME_MAX + 1];
    int universe; /* external universe number */
    int channel;  /* first channel, 1-based */
    int nchannels;
} hub_fixture_t;

typedef struct hub_state {
    hub_universe_t universes[HUB_MAX_UNIVERSES];
    size_t nuniverses;
    hub_fixture_t fixtures[HUB_MAX_FIXTURES];
    size_t nfixtures;
    uint64_t seq;   /* +1 per applied change; 0 = nothing applied yet */
    uint64_t ts_ms; /* wall time of the last change, epoch ms */
} hub_state_t;

/* Empty state with the demo universe and the "demo" RGB fixture on it. */
void hub_state_init(hub_state_t *st, int demo_universe);
hub_universe_t *hub_state_universe(hub_state_t *st, int id);
const hub_fixture_t *hub_state_fixture(const hub_state_t *st, const char *name);
/* The demo fixture's channels 1..3. */
void hub_state_get_rgb(const hub_state_t *st, uint8_t rgb[3]);
void hub_state_set_rgb(hub_state_t *st, const uint8_t rgb[3]);

/* Copy the used part of src (not the whole arrays). */
void hub_state_copy(hub_state_t *dst, const hub_state_t *src);

/* `{"schema":"demo.rgb.state.v1","r":…,"g":…,"b":…,"seq":…,"ts":…}`, the body
 * of GET /rgb and the MQTT state payload. Returns the length (< n, NUL-ended). */
size_t hub_state_render_rgb(const hub_state_t *st, char *buf, size_t n);
/* `{"type":"state","r":…,"g":…,"b":…,"seq":…,"ts":…}`, the WebSocket frame. */
size_t hub_state_render_ws(const hub_state_t *st, char *buf, size_t n);

#endif
