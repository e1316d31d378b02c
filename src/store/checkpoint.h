/* store/checkpoint.h - WAL checkpoints on their own thread (store-private).
 *
 * The writer connection runs with automatic checkpoints off and tells the
 * checkpointer, from its WAL hook, how many frames the WAL holds after each
 * commit. Past `frames` the checkpointer copies the WAL back into the
 * database with a PASSIVE checkpoint on its own connection, so the fsyncs a
 * checkpoint needs never sit inside a commit that someone is waiting for.
 * Past `hard_frames` (the checkpointer cannot catch up) it runs a RESTART
 * checkpoint, which makes the writer wait once and bounds the WAL file.
 *
 * Threading: new/poke/stop from the store thread (new and stop may also run
 * on the thread that opens and closes the store); the checkpointer's
 * connection is used only by its own thread.
 */
#ifndef HUB_STORE_CHECKPOINT_H
#define HUB_STORE_CHECKPOINT_H

#include <stddef.h>

#include "core/metrics.h"

typedef struct hub__ckpt hub__ckpt_t;

typedef struct hub__ckpt_cfg {
    const char *path; /* the database file (already in WAL mode) */
    int sync_full;    /* synchronous=FULL, else NORMAL */
    int frames;       /* checkpoint once the WAL holds this many frames, > 0 */
    int hard_frames;  /* then make the writer wait (RESTART), > frames */
} hub__ckpt_cfg_t;

/* Open the checkpointer's connection and start its thread. On failure returns
 * HUB_ESTORE (or -errno) with a line in err; nothing is left open. metrics
 * may be NULL. */
int hub__ckpt_new(hub__ckpt_t **out, const hub__ckpt_cfg_t *cfg, hub_metrics_t *metrics, char *err,
                  size_t errlen);
/* The WAL holds nframes frames after a commit: checkpoint if over the limit.
 * Cheap: a mutex and at most one condvar signal. */
void hub__ckpt_poke(hub__ckpt_t *c, int nframes);
/* Finish the checkpoint in progress, stop the thread, close, free. */
void hub__ckpt_free(hub__ckpt_t *c);

#endif
