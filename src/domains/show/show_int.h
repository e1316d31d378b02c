/* domains/show/show_int.h - shared by the show domain's sources only.
 *
 * One state, `d->*`, changed by apply; what the outputs play follows the
 * announced changes (the transport travels in its change's native form,
 * programs and previews are handed over when their change is announced).
 */
#ifndef HUB_SHOW_INT_H
#define HUB_SHOW_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/jbuf.h"
#include "domains/show/show.h"
#include "domains/show/showfile.h"

#define SHOW__MAX_PREVIEWS       64
#define SHOW__PREVIEW_MAX_MS     3600000 /* 1 h */
#define SHOW__PREVIEW_DEFAULT_MS 10000
#define SHOW__FILE_FACTOR        4 /* files on disk: up to 4 x DMX_SHOW_MAX_BYTES (indented) */

/* One file of the shows directory, as show.list shows it. */
typedef struct show__entry {
    char name[HUB_SHOW_NAME_MAX + 1];
    int64_t duration_ms;
    size_t ncues, neffects;
    char audio[HUB_SHOW_AUDIO_MAX + 1];
    char *error;  /* NULL: valid */
    json_t *refs; /* scans without a patch: {"fixtures":[…],"pois":[…]} it names */
} show__entry_t;

typedef struct show__preview {
    char id[24];
    hub_show_effect_t fx;       /* t_ms 0 */
    uint64_t started_at, until; /* epoch ms */
    uint64_t start_mono_us;
} show__preview_t;

/* What a change hands the output once it is announced (not before: the
 * output follows durable state), kept from apply to announce by seq. */
typedef struct show__staged {
    uint64_t seq;
    int is_previews;
    hub_show_prog_t *prog;   /* a reference; NULL: no program */
    hub_show_previews_t *pv; /* a reference; NULL: none */
} show__staged_t;

/* The last show read for a route while not loaded (GET, /frame): a media
 * player or an oracle client asks again and again; the loop thread reads
 * and parses the file once per change of it (or of the patch). */
typedef struct show__cache {
    int valid;
    char name[HUB_SHOW_NAME_MAX + 1];
    int64_t mtime_ns, size;
    uint64_t patch_gen;
    hub_show_t show;
    hub_show_prog_t *prog; /* compiled on first use */
} show__cache_t;

struct hub_showdom {
    char *dir;
    char *default_show;
    int max_bytes;
    hub_dmx_t *dmx;
    int loaded;
    hub_show_t show;       /* the loaded show (loaded = 1) */
    hub_show_prog_t *prog; /* its program, NULL when none */
    hub_transport_t tr;
    uint64_t tr_at; /* epoch ms when tr.t_us was true */
    show__preview_t *pv;
    size_t npv;
    show__entry_t *list; /* ascending name */
    size_t nlist;
    hub_show_sink_t sink;
    hub_engine_t *engine;
    uv_loop_t *loop;
    uv_timer_t end_timer, pv_timer;
    int timers;         /* the timers are initialised */
    char *load_warning; /* start-up: why the stored show did not load */
    show__cache_t cache;
    uint64_t patch_gen;     /* reloads of the patch seen */
    show__staged_t *staged; /* ascending seq */
    size_t nstaged;
    struct show__pending_file {
        uint64_t seq;
        char name[HUB_SHOW_NAME_MAX + 1];
    } * pending; /* show files written by intents not yet announced */
    size_t npending;
    hub_jbuf_t jb;
};

/* ---- show.c --------------------------------------------------------------------- */

/* The path of show name's file / of a file in the shows directory. */
void show__path(const hub_showdom_t *d, const char *name, char *out, size_t n);
void show__dir_file(const hub_showdom_t *d, const char *file, char *out, size_t n);
/* The dmx patch as hub_show_check and hub_show_compile see it. */
hub_show_patch_t show__patch(hub_showdom_t *d);
/* Compile the loaded show again (after an edit, a load or a reload of the
 * patch); NULL program when nothing is loaded. */
void show__recompile(hub_showdom_t *d);
int64_t show__duration_us(const hub_showdom_t *d);
/* Keep the current program / the current previews (compiled) for the
 * announcement of the intent being applied. */
void show__stage(hub_showdom_t *d, hub_apply_t *ap, int is_previews);
/* Show files an applied intent writes: until it is announced the file on
 * disk is the old one, so a prepare step may have read a stale file. */
void show__pending_add(hub_showdom_t *d, hub_apply_t *ap, const char *name);
int show__pending(const hub_showdom_t *d, const char *name);
/* Submit an intent of the domain's own (timers, start-up, shutdown). */
/* 0 when queued, -1 when refused (logged). */
int show__submit(hub_showdom_t *d, const char *src, const char *name, json_t *payload);

/* ---- render (state.c) ------------------------------------------------------------- */

void show__render_loaded(hub_jbuf_t *b, const hub_showdom_t *d);
void show__render_transport(hub_jbuf_t *b, const hub_showdom_t *d);
void show__render_previews(hub_jbuf_t *b, const hub_showdom_t *d);
void show__render_list(hub_jbuf_t *b, const hub_showdom_t *d);
/* The retained v1/show/state payload. */
void show__render_mqtt_state(hub_jbuf_t *b, const hub_showdom_t *d, uint64_t seq);
/* The list entry of a valid show; replaces or inserts by name. */
void show__list_put(hub_showdom_t *d, const show__entry_t *e);
void show__list_del(hub_showdom_t *d, const char *name);
void show__list_free(show__entry_t *list, size_t n);
void show__entry_of(show__entry_t *e, const hub_show_t *s);
void show__previews_free(hub_showdom_t *d);
/* Compile the current previews for the output. */
hub_show_previews_t *show__previews_compile(hub_showdom_t *d);

/* ---- dir.c -------------------------------------------------------------------------- */

/* Read the shows directory: every <name>.cue.json, checked for structure
 * (and, when patch is not NULL, references). clean (start-up only, before
 * the store writes anything): remove the temp files of an interrupted save.
 * Sorted by name. */
void show__scan(const char *dir, int max_bytes, const hub_show_patch_t *patch, int clean,
                show__entry_t **out, size_t *n);
/* The same scan without the patch (any thread), as show.rescan's payload:
 * [{"name","duration_ms","cues","effects","audio","refs"} | {"name","error"}]. */
json_t *show__scan_json(const char *dir, int max_bytes);
/* Read and parse (structure only) the file of show name. 0, or HUB_EINVAL
 * with err (code not_found when there is no such file). */
int show__read_json(const char *dir, const char *name, int max_bytes, json_t **out,
                    hub_error_t *err);

/* ---- intents.c: the table, the file intents, and what every intent shares ---- */

extern const hub_intent_def_t hub__show_intents[];
/* Record an entity as a change (the transport also as its row). */
void show__emit_loaded(hub_showdom_t *d, hub_apply_t *ap);
void show__emit_transport(hub_showdom_t *d, hub_apply_t *ap);
void show__emit_previews(hub_showdom_t *d, hub_apply_t *ap);
void show__emit_list(hub_showdom_t *d, hub_apply_t *ap);
/* Refusals (conflict) with the reason; 0 when allowed. */
int show__need_loaded(hub_showdom_t *d, hub_apply_t *ap);
int show__not_playing(hub_showdom_t *d, hub_apply_t *ap, const char *what);
/* The loaded show was edited: its file row, program, change, list entry. */
void show__loaded_changed(hub_showdom_t *d, hub_apply_t *ap);
/* A new transport, anchored now (monotonic and wall clock). */
void show__set_transport(hub_showdom_t *d, hub_apply_t *ap, int state, int64_t t_us, int rate_pm);
/* The show time now, to the millisecond below (where pause holds). */
int64_t show__position_us(const hub_showdom_t *d);

/* ---- transport.c, edits.c, previews.c: the apply steps ------------------------ */

/* The effect object obj (its id filled from keep_id when absent), checked
 * alone (t_ms + dur_ms within duration_ms) and against the patch; refuses
 * naming "<member>.<field>" ("effect.params.duty"; member "": a preview,
 * whose payload is the effect). Used by effect edits and previews. */
int show__parse_effect(hub_showdom_t *d, hub_apply_t *ap, const json_t *obj, const char *member,
                       const char *keep_id, int64_t duration_ms, hub_show_effect_t *out);

int show__apply_play(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_pause(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_stop(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_jump(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_end(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_cue_add(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_cue_update(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_cue_delete(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_effect_add(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_effect_update(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_effect_delete(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_preview(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_preview_stop(void *ctx, hub_apply_t *ap, const json_t *p);
int show__apply_preview_expire(void *ctx, hub_apply_t *ap, const json_t *p);

/* ---- store.c ---------------------------------------------------------------------------- */

extern const hub_migration_t hub__show_migrations[];
extern const int hub__show_nmigrations;
int show__load(void *ctx, hub_db_t *db, char *err, size_t errlen);
void show__row_loaded(hub_apply_t *ap, const hub_showdom_t *d);
void show__row_transport(hub_apply_t *ap, const hub_showdom_t *d);
/* The loaded show's file, written in the group commit. */
void show__row_file(hub_showdom_t *d, hub_apply_t *ap, const hub_show_t *s);
void show__row_file_delete(hub_showdom_t *d, hub_apply_t *ap, const char *name);

/* ---- routes.c ----------------------------------------------------------------------------- */

extern const hub_route_def_t hub__show_routes[];
void show__routes_configure(int max_bytes);

#endif
