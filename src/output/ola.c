/* out/ola.c - DMX output to OLA over its HTTP API (POST /set_dmx).
 *
 * Two threads meet here. The loop thread calls hub_ola_set_frame(), which
 * copies the frame into `pending` under `mu` and signals `cv`: a 512-byte
 * memcpy, never I/O. The output thread owns the CURL easy handle (one
 * keep-alive connection to olad) and everything below "output thread only".
 *
 * The output thread takes the newest pending frame of each universe, and
 * POSTs it when it differs from the last frame olad acknowledged for that
 * universe. A universe's POSTs start at least 1/fps apart, so a burst of
 * frames coalesces into the latest one. A failed POST is
 * counted, logged (rate-limited) and retried once a second until it succeeds
 * or the frame changes; state keeps flowing either way (fail-open). On
 * hub_ola_free the thread sends one blackout (all zeros) and exits.
 *
 * libcurl is not linked: hub_ola_new() loads it (out/curl_dl.h), so a
 * process with the output off never maps it and its ~30 dependencies.
 * curl_global_init() is not thread-safe, so hub_ola_new() loads the library
 * and calls it on the caller's thread: create outputs before other threads
 * use libcurl. curl_global_cleanup() is never called; it is process-wide, and
 * the process ends soon after the last output is freed.
 */
#include "output/ola.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "output/curl_dl.h"

#define SLOTS        512
#define RETRY_US     1000000u  /* resend a failed frame after 1 s */
#define LOG_EVERY_US 10000000u /* at most one error line per 10 s */
#define MAX_FPS      1000
/* "u=" + 10-digit universe + "&d=" + 512 x "255," */
#define BODY_MAX (2 + 10 + 3 + SLOTS * 4 + 1)

/* One universe's frames on their way to olad. pending and dirty are
 * guarded by mu; the rest is the output thread's. Heap-allocated and never
 * moved, so the thread may hold one across an unlocked POST. */
typedef struct ola_uni {
    int universe;
    uint8_t pending[SLOTS];
    bool dirty;          /* pending is newer than cur */
    hub_metric_t *m_out; /* dmx_output_frames_total{proto="ola",…}, or NULL */
    uint8_t cur[SLOTS];  /* newest frame taken from pending */
    bool have_cur;
    uint8_t sent[SLOTS]; /* last frame olad answered 200 to */
    bool sent_ok;        /* false after an error: olad state unknown */
    bool need;           /* cur must be sent */
    bool retrying;       /* cur failed; resend at retry_at */
    uint64_t next_at_us; /* earliest start of the next POST */
    uint64_t retry_at_us;
} ola_uni_t;

struct hub_ola {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on a new frame or stop */
    ola_uni_t **unis;  /* guarded by mu (the array; see ola_uni_t) */
    size_t nunis, capunis;
    bool stop; /* guarded by mu */

    hub_curl_api_t lib; /* read-only after hub_ola_new */

    /* Output thread only (after hub_ola_new returns). */
    CURL *curl;
    struct curl_slist *headers;
    char *url;
    int universe;         /* the one hub_ola_set_frame() feeds */
    uint64_t interval_us; /* 1e6 / fps, per universe */
    uint64_t log_at_us;   /* last error line; 0 = none yet */
    uint64_t suppressed;  /* errors not logged since log_at_us */
    uint64_t failed_run;  /* consecutive failed POSTs */
    char body[BODY_MAX];
    char errbuf[CURL_ERROR_SIZE];

    hub_metric_t *m_frames;
    hub_metric_t *m_errors;
    hub_metric_t *m_send;
};

static const double send_bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1};

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static size_t build_body(char *buf, int universe, const uint8_t *slots)
{
    int n = snprintf(buf, BODY_MAX, "u=%d&d=", universe);
    size_t len = (size_t)n;

    for (unsigned i = 0; i < SLOTS; i++) {
        unsigned v = slots[i];
        char digits[3];
        int nd = 0;

        do {
            digits[nd++] = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0);
        while (nd > 0)
            buf[len++] = digits[--nd];
        buf[len++] = i + 1 < SLOTS ? ',' : '\0';
    }
    return len - 1;
}

static void log_error(hub_ola_t *o, const char *what)
{
    uint64_t now = hub_mono_us();

    o->failed_run++;
    if (o->log_at_us != 0 && now - o->log_at_us < LOG_EVERY_US) {
        o->suppressed++;
        return;
    }
    hub_log(HUB_LOG_WARN, "ola", "{s:s,s:s,s:I}", "error", what, "url", o->url, "suppressed",
            (json_int_t)o->suppressed);
    o->log_at_us = now;
    o->suppressed = 0;
}

static void log_recovered(hub_ola_t *o)
{
    if (o->failed_run == 0)
        return;
    hub_log(HUB_LOG_INFO, "ola", "{s:s,s:s,s:I}", "state", "recovered", "url", o->url, "failed",
            (json_int_t)o->failed_run);
    o->failed_run = 0;
    o->suppressed = 0;
    o->log_at_us = 0;
}

/* One POST of slots to u's universe. Returns true when olad answered 200. */
static bool post_frame(hub_ola_t *o, ola_uni_t *u, const uint8_t *slots)
{
    size_t len = build_body(o->body, u->universe, slots);
    uint64_t t0 = hub_mono_us();
    long status = 0;
    char what[64];
    CURLcode cc;

    o->errbuf[0] = '\0';
    o->lib.easy_setopt(o->curl, CURLOPT_POSTFIELDS, o->body);
    o->lib.easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE, (long)len);
    cc = o->lib.easy_perform(o->curl);
    hub_metric_observe(o->m_send, (double)(hub_mono_us() - t0) / 1e6);
    if (cc == CURLE_OK)
        o->lib.easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_OK && status == 200) {
        hub_metric_inc(o->m_frames);
        if (u->m_out != NULL)
            hub_metric_inc(u->m_out);
        log_recovered(o);
        return true;
    }
    hub_metric_inc(o->m_errors);
    if (cc != CURLE_OK) {
        log_error(o, o->errbuf[0] != '\0' ? o->errbuf : o->lib.easy_strerror(cc));
    } else {
        snprintf(what, sizeof(what), "HTTP %ld", status);
        log_error(o, what);
    }
    return false;
}

static void send_cur(hub_ola_t *o, ola_uni_t *u)
{
    uint64_t now = hub_mono_us();

    u->next_at_us = now + o->interval_us;
    if (post_frame(o, u, u->cur)) {
        memcpy(u->sent, u->cur, SLOTS);
        u->sent_ok = true;
        u->need = false;
        u->retrying = false;
    } else {
        u->sent_ok = false;
        u->retrying = true;
        u->retry_at_us = now + RETRY_US;
    }
}

/* Called with mu held: move pending into cur and decide whether it is owed. */
static void take_pending(ola_uni_t *u)
{
    u->dirty = false;
    if (u->have_cur && memcmp(u->cur, u->pending, SLOTS) == 0)
        return; /* same content: keep the current schedule */
    memcpy(u->cur, u->pending, SLOTS);
    u->have_cur = true;
    u->retrying = false; /* a change is sent at the frame rate */
    u->need = !u->sent_ok || memcmp(u->cur, u->sent, SLOTS) != 0;
}

static void wait_until(hub_ola_t *o, uint64_t deadline_us)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(deadline_us / 1000000u);
    ts.tv_nsec = (long)(deadline_us % 1000000u) * 1000;
    pthread_cond_timedwait(&o->cv, &o->mu, &ts);
}

static uint64_t due_at(const ola_uni_t *u)
{
    uint64_t d = u->next_at_us;
    if (u->retrying && u->retry_at_us > d)
        d = u->retry_at_us;
    return d;
}

static void *run(void *arg)
{
    hub_ola_t *o = arg;
    static const uint8_t blackout[SLOTS];

    pthread_mutex_lock(&o->mu);
    while (!o->stop) {
        ola_uni_t *next = NULL;
        uint64_t now;

        /* The universe owed a POST soonest; every universe keeps its own
         * 1/fps spacing, so one busy universe cannot starve the others. */
        for (size_t i = 0; i < o->nunis; i++) {
            ola_uni_t *u = o->unis[i];
            if (u->dirty)
                take_pending(u);
            if (u->need && (next == NULL || due_at(u) < due_at(next)))
                next = u;
        }
        if (next == NULL) {
            pthread_cond_wait(&o->cv, &o->mu);
            continue;
        }
        now = hub_mono_us();
        if (now < due_at(next)) {
            wait_until(o, due_at(next));
            continue;
        }
        pthread_mutex_unlock(&o->mu);
        send_cur(o, next);
        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);

    /* Always, even if the last frame was already dark: the show is over. */
    for (size_t i = 0; i < o->nunis; i++)
        post_frame(o, o->unis[i], blackout);
    return NULL;
}

static ola_uni_t *uni_of(hub_ola_t *o, int universe);

static bool cfg_valid(const hub_ola_cfg_t *cfg)
{
    return cfg != NULL && cfg->url != NULL && cfg->url[0] != '\0' && cfg->universe >= 0 &&
           cfg->fps >= 1 && cfg->fps <= MAX_FPS && cfg->timeout_ms >= 0;
}

static int setup_curl(hub_ola_t *o, long timeout_ms)
{
    o->curl = o->lib.easy_init();
    if (o->curl == NULL)
        return -ENOMEM;
    o->headers = o->lib.slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    /* An empty Expect: stops curl from waiting on 100-continue for a body. */
    if (o->headers != NULL)
        o->headers = o->lib.slist_append(o->headers, "Expect:");
    if (o->headers == NULL) {
        o->lib.easy_cleanup(o->curl);
        return -ENOMEM;
    }
    o->lib.easy_setopt(o->curl, CURLOPT_URL, o->url);
    o->lib.easy_setopt(o->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    o->lib.easy_setopt(o->curl, CURLOPT_POST, 1L);
    o->lib.easy_setopt(o->curl, CURLOPT_HTTPHEADER, o->headers);
    o->lib.easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
    o->lib.easy_setopt(o->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    o->lib.easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    o->lib.easy_setopt(o->curl, CURLOPT_TCP_NODELAY, 1L);
    o->lib.easy_setopt(o->curl, CURLOPT_ERRORBUFFER, o->errbuf);
    o->lib.easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, discard_body);
    return 0;
}

static int init_sync(hub_ola_t *o)
{
    pthread_condattr_t ca;
    int err;

    err = pthread_mutex_init(&o->mu, NULL);
    if (err != 0)
        return -err;
    err = pthread_condattr_init(&ca);
    if (err == 0) {
        /* Deadlines come from hub_mono_us(): wait on the same clock. */
        err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (err == 0)
            err = pthread_cond_init(&o->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (err != 0) {
        pthread_mutex_destroy(&o->mu);
        return -err;
    }
    return 0;
}

int hub_ola_new(hub_ola_t **out, const hub_ola_cfg_t *cfg, hub_metrics_t *metrics, char *err,
                size_t errlen)
{
    hub_ola_t *o;
    int rc, e;

    if (!cfg_valid(cfg) || metrics == NULL) {
        snprintf(err, errlen, "OLA output: %s", hub_strerror(HUB_EINVAL));
        return HUB_EINVAL;
    }
    o = hub_calloc(1, sizeof(*o));
    rc = hub_curl_load(&o->lib, err, errlen);
    if (rc < 0)
        goto fail_load; /* err already says what to do */
    if (o->lib.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = -ENOMEM;
        goto fail_init;
    }
    o->url = hub_strdup(cfg->url);
    o->universe = cfg->universe;
    o->interval_us = 1000000u / (unsigned)cfg->fps;
    rc = setup_curl(o, cfg->timeout_ms > 0 ? cfg->timeout_ms : 1000);
    if (rc < 0)
        goto fail_curl;
    rc = init_sync(o);
    if (rc < 0)
        goto fail_sync;
    uni_of(o, cfg->universe); /* blacked out at the end even if never set */
    o->m_frames = hub_metrics_counter(metrics, "dmx_ola_frames_total", "DMX frames olad accepted");
    o->m_errors = hub_metrics_counter(metrics, "dmx_ola_errors_total",
                                      "OLA POSTs that failed (transport or HTTP status)");
    o->m_send =
        hub_metrics_histogram(metrics, "dmx_ola_send_seconds", "Duration of one OLA set_dmx POST",
                              send_bounds, sizeof(send_bounds) / sizeof(send_bounds[0]));
    e = pthread_create(&o->thread, NULL, run, o);
    if (e != 0) {
        rc = -e;
        goto fail_thread;
    }
    *out = o;
    return 0;

fail_thread:
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
fail_sync:
    o->lib.slist_free_all(o->headers);
    o->lib.easy_cleanup(o->curl);
fail_curl:
    hub_free(o->url);
fail_init:
    snprintf(err, errlen, "OLA output: %s", hub_strerror(rc));
fail_load:
    hub_free(o);
    return rc;
}

/* Called with mu held. */
static ola_uni_t *uni_of(hub_ola_t *o, int universe)
{
    for (size_t i = 0; i < o->nunis; i++)
        if (o->unis[i]->universe == universe)
            return o->unis[i];
    if (o->nunis == o->capunis) {
        o->capunis = o->capunis ? o->capunis * 2 : 8;
        o->unis = hub_realloc(o->unis, o->capunis * sizeof(*o->unis));
    }
    ola_uni_t *u = hub_calloc(1, sizeof(*u));
    u->universe = universe;
    o->unis[o->nunis++] = u;
    return u;
}

void hub_ola_set_universe_frame(hub_ola_t *o, int universe, const uint8_t *slots, unsigned nslots,
                                hub_metric_t *counter)
{
    if (nslots > SLOTS)
        nslots = SLOTS;
    pthread_mutex_lock(&o->mu);
    ola_uni_t *u = uni_of(o, universe);
    if (counter != NULL)
        u->m_out = counter;
    if (nslots > 0)
        memcpy(u->pending, slots, nslots);
    memset(u->pending + nslots, 0, SLOTS - nslots);
    u->dirty = true;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

void hub_ola_set_frame(hub_ola_t *o, const uint8_t *slots, unsigned nslots)
{
    hub_ola_set_universe_frame(o, o->universe, slots, nslots, NULL);
}

void hub_ola_free(hub_ola_t *o)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->mu);
    o->stop = true;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->thread, NULL);

    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
    o->lib.slist_free_all(o->headers);
    o->lib.easy_cleanup(o->curl);
    for (size_t i = 0; i < o->nunis; i++)
        hub_free(o->unis[i]);
    hub_free(o->unis);
    hub_free(o->url);
    hub_free(o);
}
