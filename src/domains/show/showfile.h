/* domains/show/showfile.h - show files: a cue sheet and its effects.
 *
 * One file per show, <DMX_SHOWS_DIR>/<name>.cue.json (seed 001's
 * cues/{song}.cue.json):
 *
 *   {"name":"opening","duration_ms":180000,"audio":"opening.mp3",
 *    "cues":[{"id":"c1","t_ms":0,"fixtures":["par1"],"values":{"red":255},
 *             "fade_ms":2000,"curve":"linear"},
 *            {"id":"c2","t_ms":5000,"fixtures":["mover1"],"poi":"stage_center"}],
 *    "effects":[{"id":"e1","t_ms":10000,"dur_ms":8000,"fixtures":["par1"],
 *                "effect":"chase","params":{"period_ms":500,"role":"dimmer"}}]}
 *
 * Parsing is pure and thread-agnostic, in two steps: the structure
 * (hub_show_from_json: types, ranges, ids, curves, effect names and params;
 * no patch needed) and the references (hub_show_check: fixtures, roles and
 * POIs against the patch). Error messages name the file, the cue or effect
 * id (or index when it has none), the field and what is accepted, in one
 * printable-ASCII line. A bad file is refused as a whole.
 *
 * Rules (docs/shows.md): unknown members are refused (a typo such as
 * "fade" must not be silently ignored); ids are [A-Za-z0-9_.-]{1,64},
 * unique across cues and effects; 0 <= t_ms <= duration_ms; a cue has
 * values, a poi or both, but a poi excludes pan/tilt values; every role of
 * a cue's values must exist on at least one of its fixtures (fixtures
 * without it are left alone).
 */
#ifndef HUB_SHOW_SHOWFILE_H
#define HUB_SHOW_SHOWFILE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/jbuf.h"
#include "domains/dmx/patchfile.h"

#define HUB_SHOW_NAME_MAX     64       /* show names: [A-Za-z0-9_.-]{1,64}, no leading '.' */
#define HUB_SHOW_ID_MAX       64       /* cue and effect ids */
#define HUB_SHOW_AUDIO_MAX    255      /* the audio file name */
#define HUB_SHOW_DURATION_MAX 86400000 /* 24 h */
#define HUB_SHOW_MAX_ITEMS    100000   /* cues + effects */
#define HUB_SHOW_MAX_FIXTURES 4096     /* fixtures named by one cue or effect */
#define HUB_SHOW_FILE_SUFFIX  ".cue.json"

enum { HUB_CURVE_STEP = 0, HUB_CURVE_LINEAR, HUB_CURVE_EASE_IN_OUT, HUB_CURVE_COUNT };
enum { HUB_FX_PULSE = 0, HUB_FX_CHASE, HUB_FX_RAINBOW, HUB_FX_STROBE, HUB_FX_SINE, HUB_FX_COUNT };

typedef char hub_show_ident_t[HUB_SHOW_ID_MAX + 1];

/* A role and the value a cue gives it. */
typedef struct hub_show_value {
    int role;  /* HUB_ROLE_* */
    int value; /* 0..255 */
} hub_show_value_t;

typedef struct hub_show_cue {
    hub_show_ident_t id;
    int64_t t_ms;
    int64_t fade_ms; /* 0..duration_ms; default 0 */
    int curve;       /* HUB_CURVE_*; default linear */
    hub_show_ident_t *fixtures;
    size_t nfixtures;
    hub_show_value_t *values; /* in file order, one per role */
    size_t nvalues;
    char poi[HUB_DMX_NAME_MAX + 1]; /* "" when none */
} hub_show_cue_t;

/* Effect parameters, every one with its default filled in (docs/shows.md):
 *           period_ms  role     min max  duty  spread
 *   pulse   1000       dimmer   0   255  -     0
 *   chase   500        dimmer   0   255  -     -
 *   rainbow 3000       (r,g,b)  -   255  -     1
 *   strobe  100        dimmer   0   255  0.5   -
 *   sine    2000       dimmer   0   255  -     0
 * Parameters that do not apply to an effect are refused. */
typedef struct hub_show_params {
    int64_t period_ms; /* 1..3600000 */
    int role;          /* HUB_ROLE_*; rainbow: -1 (it drives red, green, blue) */
    int min, max;      /* 0..255, min <= max */
    double duty;       /* 0..1 */
    double spread;     /* 0..1: phase spread across the effect's fixtures */
} hub_show_params_t;

typedef struct hub_show_effect {
    hub_show_ident_t id;
    int64_t t_ms;
    int64_t dur_ms; /* >= 1 */
    hub_show_ident_t *fixtures;
    size_t nfixtures;
    int effect; /* HUB_FX_* */
    hub_show_params_t params;
} hub_show_effect_t;

typedef struct hub_show {
    char name[HUB_SHOW_NAME_MAX + 1];
    int64_t duration_ms;                /* 1..HUB_SHOW_DURATION_MAX */
    char audio[HUB_SHOW_AUDIO_MAX + 1]; /* "" when none; a plain file name */
    hub_show_cue_t *cues;               /* in file order */
    size_t ncues;
    hub_show_effect_t *effects; /* in file order */
    size_t neffects;
} hub_show_t;

/* Names. */
int hub_show_name_valid(const char *s, size_t len); /* [A-Za-z0-9_.-]{1,64}, no leading '.' */
int hub_show_id_valid(const char *s, size_t len);   /* [A-Za-z0-9_.-]{1,64} */
const char *hub_show_curve_name(int curve);
int hub_show_curve_parse(const char *s); /* -1 when unknown */
const char *hub_show_effect_name(int effect);
int hub_show_effect_parse(const char *s); /* -1 when unknown */
/* The defaults of effect (the table above). */
void hub_show_params_default(int effect, hub_show_params_t *out);

/* Structure: root is only read. file names the file in messages ("" or
 * NULL for a body that has none: they start "show: "). On success fills *out (free with
 * hub_show_free) and returns 0; on failure returns HUB_EINVAL with one line in err and leaves *out
 * zeroed. field (may be NULL) gets the JSON path of the bad member, e.g. "cues[2].fade_ms", for
 * intent errors. */
int hub_show_from_json(const json_t *root, const char *file, hub_show_t *out, char *err,
                       size_t errlen, char *field, size_t fieldlen);
/* Text (len bytes, not necessarily NUL-terminated), parsed with
 * HUB_JSON_FLAGS, then hub_show_from_json. */
int hub_show_parse(const char *text, size_t len, const char *file, hub_show_t *out, char *err,
                   size_t errlen);

/* One cue or effect on its own (the delta edits cue.add / cue.update …),
 * with the same rules; duration_ms (clamped to 0..HUB_SHOW_DURATION_MAX)
 * bounds t_ms. Messages start "cue \"c1\": ", field is relative
 * ("fade_ms"), no uniqueness check. Returns 0 or HUB_EINVAL; on failure
 * *out is zeroed. */
int hub_show_cue_from_json(const json_t *obj, int64_t duration_ms, hub_show_cue_t *out, char *err,
                           size_t errlen, char *field, size_t fieldlen);
int hub_show_effect_from_json(const json_t *obj, int64_t duration_ms, hub_show_effect_t *out,
                              char *err, size_t errlen, char *field, size_t fieldlen);

/* How hub_show_check sees the patch. */
typedef struct hub_show_patch {
    const hub_patch_fixture_t *(*fixture)(void *ud, const char *name);
    const hub_patch_poi_t *(*poi)(void *ud, const char *name);
    void *ud;
} hub_show_patch_t;

/* References: every fixture exists, every role of a cue's values is on at
 * least one of its fixtures, an effect's role (or red/green/blue for
 * rainbow) is on at least one of its fixtures, every poi exists and at
 * least one of its cue's fixtures has pan or tilt. 0 or HUB_EINVAL. */
int hub_show_check(const hub_show_t *s, const char *file, const hub_show_patch_t *patch, char *err,
                   size_t errlen, char *field, size_t fieldlen);
/* A duplicate of id among s's cues and effects (skip: index of a cue
 * (is_effect 0) or effect (1) not to compare with, -1 none): 1 if taken. */
int hub_show_id_taken(const hub_show_t *s, const char *id, int skip_is_effect, long skip);

/* The canonical JSON of a show, a cue, an effect (members in the order of
 * the example above, defaults written out). Parsing it gives the same show. */
void hub_show_render(hub_jbuf_t *b, const hub_show_t *s);
void hub_show_render_cue(hub_jbuf_t *b, const hub_show_cue_t *c);
void hub_show_render_effect(hub_jbuf_t *b, const hub_show_effect_t *e);

/* Deep copies and frees. dst is overwritten (not freed first). */
void hub_show_copy(hub_show_t *dst, const hub_show_t *src);
void hub_show_cue_copy(hub_show_cue_t *dst, const hub_show_cue_t *src);
void hub_show_effect_copy(hub_show_effect_t *dst, const hub_show_effect_t *src);
void hub_show_cue_free(hub_show_cue_t *c);
void hub_show_effect_free(hub_show_effect_t *e);
void hub_show_free(hub_show_t *s); /* s may be NULL or zeroed */

#endif
