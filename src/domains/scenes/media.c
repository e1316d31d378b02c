/* domains/scenes/media.c - local /audio and /video actions: the player
 * SCENE_MEDIA_COMMAND names, run without a shell on a file from
 * SCENE_MEDIA_DIR (seed 002 plays them on the room's Pi, never over MQTT).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "domains/scenes/scenes_int.h"

typedef struct scn_child {
    uv_process_t proc;
    hub_scndom_t *d;
    char run[SCN_RUN_ID_LEN + 1];
    size_t k;
    char file[256];
    struct scn_child *next;
} scn_child_t;

static void unlink_child(hub_scndom_t *d, scn_child_t *c)
{
    for (scn_child_t **pp = &d->children; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            return;
        }
}

static void on_closed(uv_handle_t *h)
{
    hub_free(h->data);
}

static void on_player_exit(uv_process_t *p, int64_t status, int sig)
{
    scn_child_t *c = p->data;
    hub_scndom_t *d = c->d;
    char msg[320];

    unlink_child(d, c);
    hub_log(status == 0 ? HUB_LOG_INFO : HUB_LOG_WARN, "scene_media_exit", "{s:s,s:s,s:I,s:i}",
            "run", c->run, "file", c->file, "status", (json_int_t)status, "signal", sig);
    if ((status != 0 || sig != 0) && !d->stopping) {
        if (sig != 0)
            snprintf(msg, sizeof(msg), "the player was killed by signal %d", sig);
        else
            snprintf(msg, sizeof(msg), "the player exited with status %lld", (long long)status);
        scn__outcome(d, c->run, c->k, 0, msg, NULL);
    }
    uv_close((uv_handle_t *)p, on_closed);
}

void scn__media_play(hub_scndom_t *d, const char *run_id, size_t k, const char *file)
{
    char path[4096], msg[600];
    char **argv = NULL;
    hub_error_t err;
    uv_process_options_t o;
    uv_stdio_container_t io[3];

    snprintf(path, sizeof(path), "%s/%s", d->media_dir, file);
    if (!scn_media_file_valid(file) || access(path, R_OK) != 0) {
        snprintf(msg, sizeof(msg), "media file %s cannot be read: put it in SCENE_MEDIA_DIR (%s)",
                 file, d->media_dir);
        scn__outcome(d, run_id, k, 0, msg, NULL);
        return;
    }
    if (scn_media_argv(d->media_command, d->media_dir, file, &argv, &err) != 0) {
        scn__outcome(d, run_id, k, 0, err.msg, NULL);
        return;
    }
    scn_child_t *c = hub_calloc(1, sizeof(*c));
    c->d = d;
    snprintf(c->run, sizeof(c->run), "%s", run_id);
    c->k = k;
    snprintf(c->file, sizeof(c->file), "%s", file);
    memset(&o, 0, sizeof(o));
    for (int i = 0; i < 3; i++)
        io[i].flags = UV_IGNORE;
    o.file = argv[0];
    o.args = argv;
    o.exit_cb = on_player_exit;
    o.stdio = io;
    o.stdio_count = 3;
    o.flags = UV_PROCESS_WINDOWS_HIDE;
    c->proc.data = c;
    int rc = uv_spawn(d->loop, &c->proc, &o);
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "SCENE_MEDIA_COMMAND %s could not start: %s", argv[0],
                 uv_strerror(rc));
        scn_argv_free(argv);
        /* uv_spawn initialised the handle even on failure: close it */
        uv_close((uv_handle_t *)&c->proc, on_closed);
        scn__outcome(d, run_id, k, 0, msg, NULL);
        return;
    }
    hub_log(HUB_LOG_INFO, "scene_media_play", "{s:s,s:s,s:s,s:i}", "logger", "media", "run", run_id,
            "file", file, "pid", c->proc.pid);
    scn_argv_free(argv);
    c->next = d->children;
    d->children = c;
}

void scn__media_kill_run(hub_scndom_t *d, const char *run_id)
{
    for (scn_child_t *c = d->children; c; c = c->next)
        if (strcmp(c->run, run_id) == 0)
            uv_process_kill(&c->proc, SIGTERM);
}

/* Shutdown: SIGTERM every player and close its handle now (the loop's
 * close walk would otherwise close it without freeing it); a player that
 * ignores SIGTERM is left to its fate, as after any parent's exit. */
void scn__media_stop(hub_scndom_t *d)
{
    while (d->children != NULL) {
        scn_child_t *c = d->children;
        d->children = c->next;
        uv_process_kill(&c->proc, SIGTERM);
        uv_close((uv_handle_t *)&c->proc, on_closed);
    }
}
