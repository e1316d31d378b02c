/* store/checkpoint.c - WAL checkpoints off the commit path.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses the
 * threshold and fsyncs the WAL and the database there: on the VMs and SD
 * cards we run on that is milliseconds added to one group commit every few
 * hundred, which is the p99 of every answer. Here a second connection
 * copies the WAL back from its own thread while the writer goes on
 * committing (WAL lets one checkpointer and one writer work at once).
 */
#include "store/checkpoint.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#define BUSY_TIMEOUT_MS 5000

struct hub__ckpt {
    sqlite3 *db; /* checkpoints only; this thread only */
    hub__ckpt_cfg_t cfg;
    char *path;
    pthread_t thread;
    pthread_mutex_t lock; /* guards frames, pending, stopping */
    pthread_cond_t cond;
    int frames;  /* WAL frames at the last poke */
    int pending; /* a checkpoint is due */
    int stopping;
    int failing; /* the last checkpoint failed (logged once) */
    hub_metric_t *m_runs, *m_errors, *m_seconds, *m_frames;
};

static void run_one(hub__ckpt_t *c, int frames)
{
    int mode = frames >= c->cfg.hard_frames ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE;
    int nlog = 0, nckpt = 0;
    uint64_t t0 = hub_mono_us();
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, mode, &nlog, &nckpt);

    /* BUSY: a reader or the writer held what RESTART waits for past the
     * timeout; the frames are still copied, the next poke tries again. */
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        if (c->m_errors != NULL)
            hub_metric_inc(c->m_errors);
        if (!c->failing)
            hub_log(HUB_LOG_WARN, "store_checkpoint_failed", "{s:s,s:s,s:s}", "path", c->path,
                    "error", sqlite3_errmsg(c->db), "hint",
                    "commits go on; the WAL file grows until this succeeds: check disk space "
                    "of DMX_DATA_DIR");
        c->failing = 1;
        return;
    }
    if (c->failing)
        hub_log(HUB_LOG_INFO, "store_checkpoint_ok", "{s:s}", "path", c->path);
    c->failing = 0;
    if (mode == SQLITE_CHECKPOINT_RESTART)
        hub_log(HUB_LOG_WARN, "store_checkpoint_restart", "{s:i,s:i,s:s}", "wal_frames", frames,
                "limit", c->cfg.hard_frames, "note",
                "the WAL outgrew background checkpoints; commits waited for one");
    if (c->m_runs != NULL) {
        hub_metric_inc(c->m_runs);
        hub_metric_observe(c->m_seconds, (double)(hub_mono_us() - t0) / 1e6);
    }
}

static void *ckpt_main(void *arg)
{
    hub__ckpt_t *c = arg;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->pending && !c->stopping)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->stopping)
            break;
        int frames = c->frames;
        c->pending = 0;
        pthread_mutex_unlock(&c->lock);
        run_one(c, frames);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

void hub__ckpt_poke(hub__ckpt_t *c, int nframes)
{
    if (c->m_frames != NULL)
        hub_metric_set(c->m_frames, (double)nframes);
    if (nframes < c->cfg.frames)
        return;
    pthread_mutex_lock(&c->lock);
    c->frames = nframes;
    if (!c->pending) {
        c->pending = 1;
        pthread_cond_signal(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
}

static void register_metrics(hub__ckpt_t *c, hub_metrics_t *m)
{
    static const double bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
    if (m == NULL)
        return;
    c->m_runs = hub_metrics_counter(m, "dmx_store_checkpoints_total",
                                    "WAL checkpoints run by the background checkpointer");
    c->m_errors = hub_metrics_counter(m, "dmx_store_checkpoint_errors_total",
                                      "WAL checkpoints that failed (commits are unaffected)");
    c->m_seconds = hub_metrics_histogram(m, "dmx_store_checkpoint_seconds",
                                         "Time to copy the WAL back into the database", bounds,
                                         sizeof(bounds) / sizeof(bounds[0]));
    c->m_frames = hub_metrics_gauge(m, "dmx_store_wal_frames",
                                    "Frames in the SQLite WAL after the last commit");
}

int hub__ckpt_new(hub__ckpt_t **out, const hub__ckpt_cfg_t *cfg, hub_metrics_t *metrics, char *err,
                  size_t errlen)
{
    hub__ckpt_t *c = hub_calloc(1, sizeof(*c));
    int rc;

    c->cfg = *cfg;
    c->path = hub_strdup(cfg->path);
    c->cfg.path = c->path;
    rc = sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
        rc = sqlite3_exec(c->db,
                          cfg->sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                          NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s for checkpoints: %s; check DMX_DATA_DIR", c->path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        hub_free(c->path);
        hub_free(c);
        return HUB_ESTORE;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    rc = pthread_create(&c->thread, NULL, ckpt_main, c);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the checkpoint thread: %s", strerror(rc));
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        sqlite3_close(c->db);
        hub_free(c->path);
        hub_free(c);
        return -rc;
    }
    register_metrics(c, metrics);
    *out = c;
    return 0;
}

void hub__ckpt_free(hub__ckpt_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    if (sqlite3_close(c->db) != SQLITE_OK)
        hub_log(HUB_LOG_WARN, "store_close_failed", "{s:s,s:s}", "path", c->path, "error",
                sqlite3_errmsg(c->db));
    hub_free(c->path);
    hub_free(c);
}
