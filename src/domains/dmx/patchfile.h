/* domains/dmx/patchfile.h - the DMX patch file: universes, fixtures, POIs.
 *
 * The patch file (DMX_FIXTURES_FILE, default <data_dir>/fixtures.json) says
 * which universes exist, where each fixture sits and what its channels do,
 * and names pan/tilt points of interest:
 *
 *   {"universes":[1,2],
 *    "fixtures":[{"name":"par1","universe":1,"address":1,
 *                 "channels":["red","green","blue","dimmer"]}],
 *    "pois":[{"name":"stage_center","pan":128,"tilt":60}]}
 *
 * Parsing is pure and thread-agnostic. It is used at start-up (a bad file
 * stops start-up) and on reload (a bad file is refused, the running patch
 * kept). Error messages are for lighting technicians: one printable-ASCII
 * line naming the file, the entity (name and index), the field, the bad value
 * and what is accepted. Echoed input is truncated and escaped.
 *
 * The fixture named "demo" backs the /rgb API. When the file has none, an
 * implicit one (universe demo_universe, address 1, red green blue) is
 * appended; file fixtures may not overlap it.
 */
#ifndef HUB_DMX_PATCHFILE_H
#define HUB_DMX_PATCHFILE_H

#include <stddef.h>

#include <jansson.h>

#define HUB_DMX_NAME_MAX       64   /* fixture and POI names: [A-Za-z0-9_-]{1,64} */
#define HUB_DMX_FIXTURE_CH_MAX 64   /* channels per fixture */
#define HUB_DMX_MAX_FIXTURES   4096 /* fixtures in the file (the implicit demo is extra) */
#define HUB_DMX_MAX_UNIVERSES  1024 /* universes in the union (see hub_patch_t) */
#define HUB_DMX_MAX_POIS       1024
#define HUB_DMX_UNIVERSE_MIN   1
#define HUB_DMX_UNIVERSE_MAX   63999
#define HUB_DMX_SLOTS          512 /* channels per universe, 1-based addresses */
#define HUB_DMX_DEMO_NAME      "demo"

typedef struct hub_patch_fixture {
    char name[HUB_DMX_NAME_MAX + 1];
    int universe; /* 1..63999, or demo_universe for the implicit demo */
    int address;  /* first channel, 1-based */
    int nch;      /* number of channels, 1..HUB_DMX_FIXTURE_CH_MAX */
    unsigned char roles[HUB_DMX_FIXTURE_CH_MAX]; /* role of channel address+i (HUB_ROLE_*) */
    int implicit;                                /* 1 for the implicit "demo" fixture */
} hub_patch_fixture_t;

typedef struct hub_patch_poi {
    char name[HUB_DMX_NAME_MAX + 1];
    int pan, pan_fine, tilt, tilt_fine; /* 0..255; the *_fine default to 0 */
} hub_patch_poi_t;

typedef struct hub_patch {
    /* Ascending, unique: declared ∪ every fixture's universe. That includes the
     * implicit demo's (demo_universe) when there is one; a file-defined demo
     * brings only its own. */
    int *universes;
    size_t nuniverses;
    hub_patch_fixture_t *fixtures; /* in file order; the implicit demo appended last */
    size_t nfixtures;
    hub_patch_poi_t *pois; /* in file order; NULL when there are none */
    size_t npois;
} hub_patch_t;

/* Parse and validate text (len bytes, need not be NUL-terminated) read from
 * the file `path` (used only in messages). demo_universe is DMX_OLA_UNIVERSE;
 * it may lie outside 1..63999 and is only used for the implicit demo.
 * On success fills *out (free with hub_patch_free) and returns 0. On failure
 * returns HUB_EINVAL, writes one line to err (when errlen > 0; always
 * NUL-terminated, truncated to errlen) and leaves *out zeroed: nothing to free. */
int hub_patch_parse(const char *text, size_t len, const char *path, int demo_universe,
                    hub_patch_t *out, char *err, size_t errlen);

/* Same as hub_patch_parse() from an already-parsed JSON value (the reload
 * intent carries the file's JSON in its payload). root is only read; NULL is
 * refused. Strings holding NUL bytes are refused as names and roles. */
int hub_patch_from_json(const json_t *root, const char *path, int demo_universe, hub_patch_t *out,
                        char *err, size_t errlen);

/* The patch used when there is no file: only the implicit demo, and its
 * universe. Free with hub_patch_free. */
void hub_patch_default(int demo_universe, hub_patch_t *out);

/* Free what p holds and zero it. p may be NULL or already zeroed. */
void hub_patch_free(hub_patch_t *p);

/* The fixture named name (exact, case-sensitive), or NULL. Linear. */
const hub_patch_fixture_t *hub_patch_fixture(const hub_patch_t *p, const char *name);

/* The 0-based channel index of role (HUB_ROLE_*) in f, or -1 when f has no
 * such channel or f is NULL. The DMX address is f->address + the index. */
int hub_patch_role_channel(const hub_patch_fixture_t *f, int role);

#endif
