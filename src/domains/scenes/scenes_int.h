/* domains/scenes/scenes_int.h - shared by the files of the scenes domain. */
#ifndef HUB_DOMAINS_SCENES_INT_H
#define HUB_DOMAINS_SCENES_INT_H

#include <stdint.h>

#include <uv.h>

#include "core/err.h"
#include "core/metrics.h"
#include "domains/scenes/model.h"
#include "domains/scenes/scenes.h"
#include "engine/domain.h"
#include "engine/engine.h"

#define SCN_FILE_MAX    (1024 * 1024) /* a scene file or PUT body */
#define SCN_RUNS_MAX    256           /* running at once */
#define SCN_ENDED_KEEP  100           /* ended runs kept in the state */
#define SCN_RUN_ROWS    1000          /* run rows kept in SQLite */
#define SCN_LABEL_MAX   160
#define SCN_SCENES_MAX  10000 /* files listed */
#define SCN_RUN_ID_LEN  26    /* a ULID */
#define SCN_LAT_BUCKETS 10
#define SCN_SLACK_US    1000 /* fire what is due within 1 ms instead of sleeping for it */
#define SCN_DEPTH_MAX   3    /* scenes started by scenes' actions, nested */

/* An action's outcome (docs/scenes.md). */
enum {
    SCN_ST_PENDING = 0, /* not due yet */
    SCN_ST_SENT,        /* published / submitted, outcome awaited */
    SCN_ST_OK,          /* feedback OK */
    SCN_ST_ERROR,       /* feedback ERROR, a failed publish, refused intent, failed player */
    SCN_ST_TIMEOUT,     /* no feedback in time */
    SCN_ST_SIMULATED,   /* simulation mode, or no SCENE_MEDIA_COMMAND */
    SCN_ST_PLAYED,      /* the local player started */
    SCN_ST_DONE,        /* an intent or device command applied */
    SCN_ST_SKIPPED,     /* the run was stopped first */
    SCN_ST_COUNT
};
extern const char *const scn_status_names[SCN_ST_COUNT];

enum { SCN_RUN_RUNNING = 0, SCN_RUN_FINISHED, SCN_RUN_STOPPED, SCN_RUN_INTERRUPTED };
extern const char *const scn_run_status_names[4];

typedef struct scn_act {
    int status;
    uint64_t fired_ms;  /* wall */
    uint64_t due_us;    /* mono */
    uint64_t sent_us;   /* mono, set when handed to MQTT or the player (announce); 0 before */
    double late_ms;     /* fired this long after its offset */
    double latency_ms;  /* feedback */
    char *error;        /* heap or NULL */
    char *ref;          /* a device command's id, heap or NULL */
    uint64_t token;     /* its tracked publish */
    uint64_t early_us;  /* published by the timer before its tick applied (mono) */
    char *early_error;  /* that publish was refused at once: why */
    uint64_t fired_seq; /* the intent that fired it; 0 not fired */
    int dispatched;     /* sent out by announce (published, submitted, played) */
    int logged;         /* its outcome was logged and counted */
} scn_act_t;

typedef struct scn_run {
    char id[SCN_RUN_ID_LEN + 1];
    char label[SCN_LABEL_MAX + 1]; /* scene name, or what an inline run is */
    char src[HUB_SRC_MAX + 1];
    int status;
    int simulation; /* an action was simulated */
    uint64_t started_ms, ended_ms;
    uint64_t start_us; /* mono */
    scn_scene_t def;   /* as it ran (a copy) */
    scn_act_t *acts;   /* def.actions[k] */
    size_t next;       /* the next action to fire, in firing order */
    int dirty;         /* changed by the intent being applied */
    int start_logged;
    int depth;            /* 0: started by a client or a schedule; n: by a depth n-1 run's action */
    uint64_t retired_seq; /* ended: the intent that ended it (freed once announced) */
} scn_run_t;

/* An action of a stopped run that was published and not yet confirmed: its
 * late feedback must not be taken for a newer run's action in that room. */
typedef struct scn_ghost {
    char room[SCN_NAME_MAX + 1];
    char device[SCN_NAME_MAX + 1]; /* "" when it named none */
    uint64_t sent_us;
} scn_ghost_t;
#define SCN_GHOSTS_MAX 4096

/* A listed scene file: the parsed scene or why it does not parse. */
typedef struct scn_file {
    char name[SCN_NAME_MAX + 1];
    scn_scene_t scene;
    int ok;
    char *error;
} scn_file_t;

/* A run that ended: only its text is kept. */
typedef struct scn_ended {
    char id[SCN_RUN_ID_LEN + 1];
    char *text;
    size_t len;
} scn_ended_t;

struct hub_scndom {
    hub_domain_def_t def;
    hub_engine_t *engine;
    uv_loop_t *loop;
    hub_metrics_t *metrics;
    hub_scndom_cfg_t cfg;
    char *dir, *media_dir, *media_command;

    scn_file_t **files; /* sorted by name */
    size_t nfiles;
    scn_run_t **runs; /* running, in start order */
    size_t nruns;
    scn_run_t **retired; /* ended, until the intent that ended them is announced */
    size_t nretired;
    scn_ended_t *ended; /* oldest first */
    size_t nended;
    scn_ghost_t *ghosts; /* oldest first */
    size_t nghosts;

    int simulation;        /* the broker is unreachable (or MQTT disabled) */
    uint64_t sim_since_ms; /* wall */
    int link;              /* last HUB_LINK_* seen */
    int mode_wanted;       /* simulation as last submitted */

    /* feedback latency histogram (ms), also a state entity */
    uint64_t fb_ok, fb_error, fb_timeout;
    uint64_t lat_counts[SCN_LAT_BUCKETS + 1];
    double lat_sum_ms;

    uv_timer_t tick_timer;
    int timers_open;
    int tick_pending; /* a scene.tick is queued */
    uint64_t next_token;
    int stopping;
    struct scn_child *children; /* media players running */

    hub_topic_def_t topics[3];

    hub_metric_t *m_actions[4][SCN_ST_COUNT];
    hub_metric_t *m_latency, *m_fb[3], *m_sim, *m_running;
};

/* scenes.c */
hub_intent_t *scn__intent_new(const char *name, const char *src);
int scn__own_only(hub_apply_t *ap);
int scn__submit(hub_scndom_t *d, const char *name, json_t *payload, const char *src);
scn_run_t *scn__run(const hub_scndom_t *d, const char *id);
scn_file_t *scn__file(const hub_scndom_t *d, const char *name);
void scn__arm(hub_scndom_t *d);

/* files.c: the directory */
void scn__path(const hub_scndom_t *d, const char *name, char *out, size_t n);
/* Scan the directory: [{"name":…,"scene":{…}} | {"name":…,"error":"…"}] (any thread). */
json_t *scn__scan_json(const char *dir);
void scn__files_replace(hub_scndom_t *d, const json_t *entries);
void scn__file_put(hub_scndom_t *d, const char *name, scn_scene_t *s); /* takes s */
void scn__file_del(hub_scndom_t *d, const char *name);
void scn__files_free(hub_scndom_t *d);
void scn__row_file(hub_apply_t *ap, const hub_scndom_t *d, const scn_scene_t *s);
void scn__row_file_delete(hub_apply_t *ap, const hub_scndom_t *d, const char *name);

/* run.c: the intents */
extern const hub_intent_def_t scn__intents[];
void scn__run_free(scn_run_t *r);
void scn__ended_push(hub_scndom_t *d, const char *id, const char *text, size_t len,
                     hub_apply_t *ap);

/* render.c */
void scn__render_run(hub_jbuf_t *b, const scn_run_t *r);
void scn__render_file(hub_jbuf_t *b, const scn_file_t *f);
void scn__render_feedback(hub_jbuf_t *b, const hub_scndom_t *d);
void scn__render_mode(hub_jbuf_t *b, const hub_scndom_t *d);
void scn__change_run(hub_apply_t *ap, const scn_run_t *r);
void scn__change_file(hub_apply_t *ap, const scn_file_t *f, const char *name);
void scn__change_feedback(hub_apply_t *ap, const hub_scndom_t *d);
void scn__change_mode(hub_apply_t *ap, const hub_scndom_t *d);
void scn__time(hub_jbuf_t *b, uint64_t ms);
extern const double scn_lat_bounds_ms[SCN_LAT_BUCKETS];

/* announce.c: what goes out once a change is durable */
void scn__announce(void *ctx, const hub_announce_t *ann, const hub_change_t *mine, size_t nmine,
                   hub_outbox_t *out);

/* media.c: the local player */
void scn__media_play(hub_scndom_t *d, const char *run_id, size_t k, const char *file);
void scn__media_stop(hub_scndom_t *d);                         /* SIGTERM every player (shutdown) */
void scn__media_kill_run(hub_scndom_t *d, const char *run_id); /* a stopped run's */

/* An action's outcome learnt later (publish refused, intent applied, player
 * exited): submitted as scene.outcome. */
void scn__outcome(hub_scndom_t *d, const char *run_id, size_t k, int ok, const char *error,
                  const char *ref);
/* The fate of an action's tracked publish (hub_sent_fn). */
void scn__on_sent(void *ctx, uint64_t token, int ok, const char *why);
/* The timer: publish the MQTT actions due now, before their tick applies. */
void scn__publish_due(hub_scndom_t *d);

/* topics.c: feedback */
void scn__topics_init(hub_scndom_t *d);

/* routes.c */
extern const hub_route_def_t scn__routes[];

/* store.c */
extern const hub_migration_t scn__migrations[];
extern const int scn__nmigrations;
int scn__load(void *ctx, hub_db_t *db, char *err, size_t errlen);
void scn__row_run(hub_apply_t *ap, const scn_run_t *r, const char *text, size_t len);

#endif
