/* bench/lg_scn_ready.c - scenario "wait-ready": time from exec to /readyz 200.
 *
 * The caller records the wall time just before it execs the server (bash
 * $EPOCHREALTIME, no fork) and passes it as --since-us; we poll every 2 ms
 * for at most --duration seconds.
 */
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

#include "lg.h"
#include "lg_sync.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int lg_scn_wait_ready(const lg_opts_t *o, json_t *out)
{
    double start = o->since_us > 0 ? o->since_us : now_us();
    double deadline = now_us() + o->duration_s * 1e6;
    int polls = 0, status = -1;
    while (now_us() < deadline) {
        char *body = NULL;
        status = lg_sync_get(o->host, o->port, "/readyz", 1000, &body, NULL);
        free(body);
        polls++;
        if (status == 200)
            break;
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    double t = now_us();
    json_object_set_new(out, "ready", json_boolean(status == 200));
    json_object_set_new(out, "last_status", json_integer(status));
    json_object_set_new(out, "ready_ms", json_real((t - start) / 1000.0));
    json_object_set_new(out, "polls", json_integer(polls));
    return status == 200 ? 0 : 1;
}
