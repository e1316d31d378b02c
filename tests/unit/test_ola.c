/* test_ola.c - out/ola.c against a tiny HTTP/1.1 server on 127.0.0.1.
 *
 * The server thread accepts keep-alive connections, reads each request by
 * Content-Length, records request line, Content-Type and body, and answers
 * 200 (or 500 while `fail` is set). Every wait polls with short sleeps and
 * gives up after a bound. The last tests cover out/curl_dl.c, the loader
 * hub_ola_new() uses, including what it says when libcurl is missing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "output/curl_dl.h"
#include "output/ola.h"

#define MAX_REQS  256
#define MAX_CONNS 8
#define CONN_BUF  16384
#define SLOTS     512

struct req {
    char line[128];  /* request line, e.g. "POST /set_dmx HTTP/1.1" */
    char ctype[128]; /* Content-Type header value */
    char *body;      /* NUL-terminated copy */
    int status;      /* what the server answered */
    uint64_t at_us;  /* hub_mono_us() when the body was complete */
};

struct conn {
    int fd;
    size_t len;
    char buf[CONN_BUF];
};

struct srv {
    int lfd;
    uint16_t port;
    char url[64];
    pthread_t thread;
    atomic_bool stop;
    atomic_bool fail; /* answer 500 while set */
    pthread_mutex_t mu;
    struct req reqs[MAX_REQS];    /* guarded by mu */
    int nreqs;                    /* guarded by mu */
    struct conn conns[MAX_CONNS]; /* server thread only */
};

/* ---- the server ---------------------------------------------------------- */

static void header_value(const char *hdrs, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = hdrs, *end = hdrs + n;

    out[0] = '\0';
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t len;
            while (v < eol && *v == ' ')
                v++;
            len = (size_t)(eol - v) < cap - 1 ? (size_t)(eol - v) : cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return;
        }
        p = eol + 2;
    }
}

static void write_all(int fd, const char *s)
{
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t w = write(fd, s + off, len - off);
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/* Handle every complete request in c->buf. Returns false to drop the connection. */
static bool serve_requests(struct srv *s, struct conn *c)
{
    for (;;) {
        char *hend = memmem(c->buf, c->len, "\r\n\r\n", 4);
        char clen[32];
        size_t hlen, blen, total;
        struct req *r;
        bool fail;

        if (hend == NULL)
            return c->len < CONN_BUF;
        hlen = (size_t)(hend - c->buf) + 4;
        header_value(c->buf, hlen, "Content-Length", clen, sizeof(clen));
        blen = (size_t)strtoul(clen, NULL, 10);
        total = hlen + blen;
        if (total > CONN_BUF)
            return false;
        if (c->len < total)
            return true;

        fail = atomic_load(&s->fail);
        pthread_mutex_lock(&s->mu);
        if (s->nreqs < MAX_REQS) {
            r = &s->reqs[s->nreqs++];
            char *eol = memmem(c->buf, hlen, "\r\n", 2);
            size_t ll = (size_t)(eol - c->buf) < sizeof(r->line) - 1 ? (size_t)(eol - c->buf)
                                                                     : sizeof(r->line) - 1;
            memcpy(r->line, c->buf, ll);
            r->line[ll] = '\0';
            header_value(c->buf, hlen, "Content-Type", r->ctype, sizeof(r->ctype));
            r->body = malloc(blen + 1);
            if (r->body == NULL)
                abort(); /* cmocka asserts belong to the test thread */
            memcpy(r->body, c->buf + hlen, blen);
            r->body[blen] = '\0';
            r->status = fail ? 500 : 200;
            r->at_us = hub_mono_us();
        }
        pthread_mutex_unlock(&s->mu);
        write_all(c->fd, fail ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
                              : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;
    }
}

static void *srv_run(void *arg)
{
    struct srv *s = arg;

    while (!atomic_load(&s->stop)) {
        struct pollfd pfd[MAX_CONNS + 1];
        int map[MAX_CONNS + 1];
        nfds_t n = 0;

        pfd[n].fd = s->lfd;
        pfd[n].events = POLLIN;
        map[n++] = -1;
        for (int i = 0; i < MAX_CONNS; i++) {
            if (s->conns[i].fd < 0)
                continue;
            pfd[n].fd = s->conns[i].fd;
            pfd[n].events = POLLIN;
            map[n++] = i;
        }
        if (poll(pfd, n, 20) <= 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            int fd = accept(s->lfd, NULL, NULL);
            for (int i = 0; fd >= 0 && i < MAX_CONNS; i++) {
                if (s->conns[i].fd < 0) {
                    s->conns[i].fd = fd;
                    s->conns[i].len = 0;
                    fd = -1;
                }
            }
            if (fd >= 0)
                close(fd);
        }
        for (nfds_t k = 1; k < n; k++) {
            struct conn *c = &s->conns[map[k]];
            ssize_t r;

            if (pfd[k].revents == 0)
                continue;
            r = read(c->fd, c->buf + c->len, CONN_BUF - c->len);
            if (r <= 0 || (c->len += (size_t)r, !serve_requests(s, c))) {
                close(c->fd);
                c->fd = -1;
            }
        }
    }
    return NULL;
}

static int srv_setup(void **state)
{
    struct srv *s = calloc(1, sizeof(*s));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);

    assert_non_null(s);
    for (int i = 0; i < MAX_CONNS; i++)
        s->conns[i].fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/set_dmx", (unsigned)s->port);
    assert_int_equal(pthread_create(&s->thread, NULL, srv_run, s), 0);
    *state = s;
    return 0;
}

static int srv_teardown(void **state)
{
    struct srv *s = *state;

    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < MAX_CONNS; i++)
        if (s->conns[i].fd >= 0)
            close(s->conns[i].fd);
    close(s->lfd);
    for (int i = 0; i < s->nreqs; i++)
        free(s->reqs[i].body);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int srv_count(struct srv *s)
{
    int n;
    pthread_mutex_lock(&s->mu);
    n = s->nreqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Copy of request i (body is a heap copy the caller frees). */
static struct req srv_req(struct srv *s, int i)
{
    struct req r;
    pthread_mutex_lock(&s->mu);
    assert_true(i < s->nreqs);
    r = s->reqs[i];
    r.body = strdup(r.body);
    pthread_mutex_unlock(&s->mu);
    assert_non_null(r.body);
    return r;
}

static bool wait_count(struct srv *s, int n, unsigned max_ms)
{
    for (unsigned t = 0; t < max_ms; t += 5) {
        if (srv_count(s) >= n)
            return true;
        sleep_ms(5);
    }
    return srv_count(s) >= n;
}

/* The body ola.c must send: u=<universe>&d=<512 comma-separated values>. */
static char *expect_body(int universe, const uint8_t *slots, unsigned n)
{
    char *b = malloc(16 + SLOTS * 4);
    size_t len;

    assert_non_null(b);
    len = (size_t)sprintf(b, "u=%d&d=", universe);
    for (unsigned i = 0; i < SLOTS; i++)
        len += (size_t)sprintf(b + len, i == 0 ? "%u" : ",%u", i < n ? slots[i] : 0u);
    return b;
}

static void assert_body(struct srv *s, int i, int universe, const uint8_t *slots, unsigned n)
{
    struct req r = srv_req(s, i);
    char *want = expect_body(universe, slots, n);
    assert_string_equal(r.body, want);
    free(want);
    free(r.body);
}

struct ola_fixture {
    hub_metrics_t *metrics;
    hub_ola_t *ola;
};

static void ola_start(struct ola_fixture *f, const char *url, int universe, int fps, long tmo)
{
    hub_ola_cfg_t cfg = {.url = url, .universe = universe, .fps = fps, .timeout_ms = tmo};
    char err[256] = "";

    f->metrics = hub_metrics_new();
    assert_int_equal(hub_ola_new(&f->ola, &cfg, f->metrics, err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

static void ola_stop(struct ola_fixture *f)
{
    hub_ola_free(f->ola);
    hub_metrics_free(f->metrics);
}

/* The output keeps its metric handles private; read them as GET /metrics would. */
static uint64_t metric(hub_metrics_t *m, const char *name)
{
    size_t len;
    char *text = hub_metrics_render(m, &len);
    char key[96];
    const char *p;
    uint64_t v;

    snprintf(key, sizeof(key), "\n%s ", name);
    p = strstr(text, key);
    assert_non_null(p);
    v = strtoull(p + strlen(key), NULL, 10);
    hub_free(text);
    return v;
}

static bool wait_metric(hub_metrics_t *m, const char *name, uint64_t n, unsigned max_ms)
{
    for (unsigned t = 0; t < max_ms; t += 5) {
        if (metric(m, name) >= n)
            return true;
        sleep_ms(5);
    }
    return metric(m, name) >= n;
}

/* Wait until the newest request carries want and was answered status. */
static bool wait_last_body(struct srv *s, const char *want, int status, unsigned max_ms)
{
    for (unsigned t = 0; t <= max_ms; t += 5) {
        bool ok;
        pthread_mutex_lock(&s->mu);
        ok = s->nreqs > 0 && s->reqs[s->nreqs - 1].status == status &&
             strcmp(s->reqs[s->nreqs - 1].body, want) == 0;
        pthread_mutex_unlock(&s->mu);
        if (ok)
            return true;
        sleep_ms(5);
    }
    return false;
}

/* ---- tests --------------------------------------------------------------- */

static void test_one_frame_one_post(void **state)
{
    struct srv *s = *state;
    struct ola_fixture f;
    const uint8_t slots[] = {1, 2, 3};
    struct req r;

    ola_start(&f, s->url, 7, 44, 1000);
    hub_ola_set_frame(f.ola, slots, 3);
    assert_true(wait_count(s, 1, 2000));
    sleep_ms(150);
    assert_int_equal(srv_count(s), 1);

    r = srv_req(s, 0);
    assert_string_equal(r.line, "POST /set_dmx HTTP/1.1");
    assert_string_equal(r.ctype, "application/x-www-form-urlencoded");
    assert_int_equal(strncmp(r.body, "u=7&d=1,2,3,0,0,", 16), 0);
    free(r.body);
    assert_body(s, 0, 7, slots, 3);

    assert_int_equal(metric(f.metrics, "dmx_ola_frames_total"), 1);
    assert_int_equal(metric(f.metrics, "dmx_ola_errors_total"), 0);
    assert_int_equal(metric(f.metrics, "dmx_ola_send_seconds_count"), 1);
    ola_stop(&f);
}

static void test_burst_coalesces_to_latest(void **state)
{
    struct srv *s = *state;
    struct ola_fixture f;
    uint8_t slots[SLOTS] = {0};
    uint64_t t0;
    char *want;
    int n;

    ola_start(&f, s->url, 1, 10, 1000);
    t0 = hub_mono_us();
    /* 100 frames over ~150 ms, so the output thread sees the burst as it comes. */
    for (int i = 0; i < 100; i++) {
        slots[0] = (uint8_t)i;
        slots[511] = (uint8_t)(255 - i);
        hub_ola_set_frame(f.ola, slots, SLOTS);
        if (i % 10 == 9)
            sleep_ms(15);
    }
    while (hub_mono_us() - t0 < 200000)
        sleep_ms(5);
    assert_true(srv_count(s) <= 3);

    want = expect_body(1, slots, SLOTS);
    assert_true(wait_last_body(s, want, 200, 2000));
    free(want);
    n = srv_count(s);
    assert_true(n >= 1 && n <= 3);

    /* fps=10: POSTs start at least 100 ms apart (80 allows for connect time). */
    for (int i = 1; i < n; i++) {
        struct req a = srv_req(s, i - 1), b = srv_req(s, i);
        assert_true(b.at_us - a.at_us >= 80000);
        free(a.body);
        free(b.body);
    }
    sleep_ms(300);
    assert_int_equal(srv_count(s), n);
    ola_stop(&f);
}

static void test_duplicate_suppressed(void **state)
{
    struct srv *s = *state;
    struct ola_fixture f;
    uint8_t a[SLOTS] = {10, 20, 30}, b[SLOTS] = {10, 20, 31};

    ola_start(&f, s->url, 1, 44, 1000);
    hub_ola_set_frame(f.ola, a, SLOTS);
    assert_true(wait_count(s, 1, 2000));
    hub_ola_set_frame(f.ola, a, SLOTS);
    hub_ola_set_frame(f.ola, a, 3); /* same content, shorter: still a duplicate */
    sleep_ms(200);
    assert_int_equal(srv_count(s), 1);

    hub_ola_set_frame(f.ola, b, SLOTS);
    assert_true(wait_count(s, 2, 2000));
    assert_body(s, 1, 1, b, SLOTS);
    assert_int_equal(metric(f.metrics, "dmx_ola_frames_total"), 2);
    ola_stop(&f);
}

static void test_change_and_back_within_interval_is_no_change(void **state)
{
    struct srv *s = *state;
    struct ola_fixture f;
    uint8_t a[SLOTS] = {5}, b[SLOTS] = {6};

    ola_start(&f, s->url, 1, 10, 1000);
    hub_ola_set_frame(f.ola, a, SLOTS);
    assert_true(wait_count(s, 1, 2000));
    /* B then back to A before the next frame slot: olad already shows A. */
    hub_ola_set_frame(f.ola, b, SLOTS);
    sleep_ms(10);
    hub_ola_set_frame(f.ola, a, SLOTS);
    sleep_ms(300);
    assert_int_equal(srv_count(s), 1);
    ola_stop(&f);
}

static void test_unchanged_frame_does_not_hammer_failing_olad(void **state)
{
    struct srv *s = *state;
    struct ola_fixture f;
    uint8_t a[SLOTS] = {42};

    atomic_store(&s->fail, true);
    ola_start(&f, s->url, 1, 44, 1000);
    /* A frame clock re-offering the same frame every 20 ms for 500 ms. */
    for (int i = 0; i < 25; i++) {
        hub_ola_set_frame(f.ola, a, SLOTS);
        sleep_ms(20);
    }
    /* One attempt, the retry is a second away; not one POST per offer. */
    assert_int_equal(metric(f.metrics, "dmx_ola_errors_total"), 1);
    assert_int_equal(srv_count(s), 1);
    ola_stop(&f);
}

static void test_after_error_last_good_frame_is_sent_again(void **state)
{
    struct srv *s = *state;
    struct ola_fixture f;
    uint8_t a[SLOTS] = {1, 1}, b[SLOTS] = {2, 2};
    char *want = expect_body(1, a, SLOTS);

    ola_start(&f, s->url, 1, 44, 1000);
    hub_ola_set_frame(f.ola, a, SLOTS);
    assert_true(wait_count(s, 1, 2000));
    atomic_store(&s->fail, true);
    hub_ola_set_frame(f.ola, b, SLOTS);
    assert_true(wait_metric(f.metrics, "dmx_ola_errors_total", 1, 2000));
    atomic_store(&s->fail, false);
    /* olad's state is unknown after an error, so A is not a duplicate any more;
     * it must go out at the frame rate, well before the 1 s retry of B. */
    hub_ola_set_frame(f.ola, a, SLOTS);
    assert_true(wait_last_body(s, want, 200, 500));
    free(want);
    ola_stop(&f);
}

static void test_http_500_counted_then_recovers(void **state)
{
    struct srv *s = *state;
    struct ola_fixture f;
    uint8_t a[SLOTS] = {1}, b[SLOTS] = {2};
    struct req r;
    char *want;

    atomic_store(&s->fail, true);
    ola_start(&f, s->url, 1, 44, 1000);
    hub_ola_set_frame(f.ola, a, SLOTS);
    assert_true(wait_metric(f.metrics, "dmx_ola_errors_total", 1, 2000));
    assert_int_equal(metric(f.metrics, "dmx_ola_frames_total"), 0);
    r = srv_req(s, 0);
    assert_int_equal(r.status, 500);
    free(r.body);

    atomic_store(&s->fail, false);
    hub_ola_set_frame(f.ola, b, SLOTS);
    want = expect_body(1, b, SLOTS);
    assert_true(wait_last_body(s, want, 200, 2000));
    free(want);
    assert_true(metric(f.metrics, "dmx_ola_frames_total") >= 1);
    ola_stop(&f);
}

static void test_failed_frame_is_retried(void **state)
{
    struct srv *s = *state;
    struct ola_fixture f;
    uint8_t a[SLOTS] = {9, 8, 7};
    char *want = expect_body(1, a, SLOTS);
    int n;

    atomic_store(&s->fail, true);
    ola_start(&f, s->url, 1, 44, 1000);
    hub_ola_set_frame(f.ola, a, SLOTS);
    assert_true(wait_metric(f.metrics, "dmx_ola_errors_total", 1, 2000));
    atomic_store(&s->fail, false);
    /* No new frame: the output resends on its own about a second later. */
    assert_true(wait_last_body(s, want, 200, 2500));
    n = srv_count(s);
    sleep_ms(300);
    assert_int_equal(srv_count(s), n);
    assert_int_equal(metric(f.metrics, "dmx_ola_frames_total"), 1);
    free(want);
    ola_stop(&f);
}

static void test_unreachable_is_fail_open(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    struct ola_fixture f;
    uint8_t a[SLOTS] = {255};
    char url[64];
    uint64_t t0, set_us;
    int fd;

    (void)state;
    /* A port that was free a moment ago and has no listener: connect is refused. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/set_dmx", (unsigned)ntohs(sa.sin_port));

    ola_start(&f, url, 1, 44, 500);
    t0 = hub_mono_us();
    for (int i = 0; i < 50; i++) {
        a[1] = (uint8_t)i;
        hub_ola_set_frame(f.ola, a, SLOTS);
    }
    set_us = hub_mono_us() - t0;
    assert_true(set_us < 50000); /* the caller never waits on the network */
    assert_true(wait_metric(f.metrics, "dmx_ola_errors_total", 1, 2000));
    assert_int_equal(metric(f.metrics, "dmx_ola_frames_total"), 0);

    t0 = hub_mono_us();
    ola_stop(&f);
    assert_true(hub_mono_us() - t0 < 1500000);
}

static void test_free_sends_blackout(void **state)
{
    struct srv *s = *state;
    struct ola_fixture f;
    static const uint8_t zeros[SLOTS];
    uint8_t a[SLOTS];

    memset(a, 200, sizeof(a));
    ola_start(&f, s->url, 3, 44, 1000);
    hub_ola_set_frame(f.ola, a, SLOTS);
    assert_true(wait_count(s, 1, 2000));
    ola_stop(&f);
    assert_int_equal(srv_count(s), 2);
    assert_body(s, 0, 3, a, SLOTS);
    assert_body(s, 1, 3, zeros, SLOTS);

    /* Even when the last frame was already dark, and when none was ever set. */
    ola_start(&f, s->url, 3, 44, 1000);
    hub_ola_set_frame(f.ola, zeros, SLOTS);
    assert_true(wait_count(s, 3, 2000));
    ola_stop(&f);
    assert_int_equal(srv_count(s), 4);
    assert_body(s, 3, 3, zeros, SLOTS);

    ola_start(&f, s->url, 4, 44, 1000);
    ola_stop(&f);
    assert_int_equal(srv_count(s), 5);
    assert_body(s, 4, 4, zeros, SLOTS);
}

static void test_invalid_cfg(void **state)
{
    hub_metrics_t *m = hub_metrics_new();
    hub_ola_t *sentinel = (hub_ola_t *)&m, *o = sentinel;
    hub_ola_cfg_t good = {.url = "http://127.0.0.1:9/set_dmx", .universe = 1, .fps = 44};
    hub_ola_cfg_t c;
    char err[128];

    (void)state;
    c = good;
    c.url = NULL;
    assert_int_equal(hub_ola_new(&o, &c, m, NULL, 0), HUB_EINVAL);
    c = good;
    c.url = "";
    assert_int_equal(hub_ola_new(&o, &c, m, NULL, 0), HUB_EINVAL);
    c = good;
    c.fps = 0;
    assert_int_equal(hub_ola_new(&o, &c, m, NULL, 0), HUB_EINVAL);
    c = good;
    c.universe = -1;
    assert_int_equal(hub_ola_new(&o, &c, m, NULL, 0), HUB_EINVAL);
    c = good;
    c.timeout_ms = -5;
    assert_int_equal(hub_ola_new(&o, &c, m, err, sizeof(err)), HUB_EINVAL);
    assert_string_equal(err, "OLA output: invalid input");
    assert_ptr_equal(o, sentinel);
    hub_metrics_free(m);
}

/* The message startup prints when libcurl is missing: it names the library
 * and says what to do. The sentinel shows the table is untouched. */
static void test_curl_missing_library(void **state)
{
    hub_curl_api_t api, sentinel;
    char err[512];

    (void)state;
    memset(&sentinel, 0xa5, sizeof(sentinel));
    api = sentinel;
    assert_int_equal(
        hub__curl_load_from(&api, "libcurl-showhub-test-missing.so.4", err, sizeof(err)),
        HUB_ENOTFOUND);
    assert_memory_equal(&api, &sentinel, sizeof(api));
    assert_non_null(strstr(err, "DMX_OLA_ENABLED=true needs libcurl: dlopen "
                                "libcurl-showhub-test-missing.so.4 failed: "));
    assert_non_null(strstr(err, "cannot open shared object file"));
    assert_non_null(strstr(err, "; install the libcurl4 package or set DMX_OLA_ENABLED=false"));
}

/* A library that loads but is not libcurl: the first missing symbol is named. */
static void test_curl_missing_symbol(void **state)
{
    hub_curl_api_t api, sentinel;
    char err[512];

    (void)state;
    memset(&sentinel, 0xa5, sizeof(sentinel));
    api = sentinel;
    assert_int_equal(hub__curl_load_from(&api, "libm.so.6", err, sizeof(err)), HUB_ENOTFOUND);
    assert_memory_equal(&api, &sentinel, sizeof(api));
    assert_non_null(strstr(err, "DMX_OLA_ENABLED=true needs libcurl: libm.so.6 has no "
                                "curl_global_init: "));
    assert_non_null(strstr(err, "; install the libcurl4 package or set DMX_OLA_ENABLED=false"));
}

/* The real library: every slot is filled, and loading twice gives the same
 * functions (one mapping, which hub_ola_new relies on). */
static void test_curl_load(void **state)
{
    hub_curl_api_t a, b;
    char err[512] = "";

    (void)state;
    assert_int_equal(hub_curl_load(&a, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(hub_curl_load(&b, err, sizeof(err)), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_non_null(a.global_init);
    assert_non_null(a.slist_free_all);
    assert_string_equal(a.easy_strerror(CURLE_OK), "No error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_frame_one_post, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_burst_coalesces_to_latest, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_suppressed, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_change_and_back_within_interval_is_no_change,
                                        srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_frame_does_not_hammer_failing_olad,
                                        srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_after_error_last_good_frame_is_sent_again, srv_setup,
                                        srv_teardown),
        cmocka_unit_test_setup_teardown(test_http_500_counted_then_recovers, srv_setup,
                                        srv_teardown),
        cmocka_unit_test_setup_teardown(test_failed_frame_is_retried, srv_setup, srv_teardown),
        cmocka_unit_test(test_unreachable_is_fail_open),
        cmocka_unit_test_setup_teardown(test_free_sends_blackout, srv_setup, srv_teardown),
        cmocka_unit_test(test_invalid_cfg),
        cmocka_unit_test(test_curl_missing_library),
        cmocka_unit_test(test_curl_missing_symbol),
        cmocka_unit_test(test_curl_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
