/* tests/unit/loopback_rx.h - a UDP receiver on 127.0.0.1 for the output tests.
 *
 * rx_open() binds a socket to 127.0.0.1 port 0 (the kernel picks a free
 * port) with a receive buffer large enough for a few thousand datagrams, and
 * fills in a hub_addr_t the sender can be pointed at. rx_start() runs a
 * thread that records every datagram with its arrival time; the test thread
 * waits on the count with a bound (rx_wait) and reads packets by copy
 * (rx_get) or, after rx_stop(), directly from r->pkts. Every wait here is
 * bounded. Included by test_udp.c, test_artnet.c, test_sacn.c and
 * test_frameclock.c; everything is static inline so a test that uses only
 * part of it still builds with -Werror.
 */
#ifndef HUB_TEST_LOOPBACK_RX_H
#define HUB_TEST_LOOPBACK_RX_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/clock.h"
#include "core/mem.h"
#include "core/metrics.h"

#define RX_MAX_DGRAM 65536

typedef struct rx_pkt {
    uint64_t at_us; /* hub_mono_us() when received */
    struct sockaddr_in from;
    size_t len;
    uint8_t *data; /* malloc'd copy */
} rx_pkt_t;

typedef struct rx {
    int fd;
    uint16_t port;
    hub_addr_t addr; /* 127.0.0.1:port, as a target list entry */
    pthread_t thread;
    int running;
    atomic_bool stop;
    pthread_mutex_t mu;
    rx_pkt_t *pkts; /* mu while running */
    size_t n, cap;  /* mu while running */
} rx_t;

static inline void rx_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A socket on 127.0.0.1 port 0; aborts the test on failure. */
static inline int rx_socket(uint16_t *port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        abort();
    if (rcvbuf > 0) {
        /* FORCE passes rmem_max when we are root; otherwise take what we get. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        abort();
    *port = ntohs(sa.sin_port);
    return fd;
}

static inline void rx_open(rx_t *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = rx_socket(&r->port, 32 << 20);
    r->addr.sin.sin_family = AF_INET;
    r->addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->addr.sin.sin_port = htons(r->port);
    snprintf(r->addr.text, sizeof(r->addr.text), "127.0.0.1:%u", (unsigned)r->port);
    pthread_mutex_init(&r->mu, NULL);
}

static inline void rx_push(rx_t *r, const uint8_t *buf, size_t len, const struct sockaddr_in *from)
{
    rx_pkt_t p = {.at_us = hub_mono_us(), .from = *from, .len = len, .data = malloc(len ? len : 1)};

    if (p.data == NULL)
        abort(); /* cmocka asserts belong to the test thread */
    memcpy(p.data, buf, len);
    pthread_mutex_lock(&r->mu);
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->pkts = realloc(r->pkts, r->cap * sizeof(*r->pkts));
        if (r->pkts == NULL)
            abort();
    }
    r->pkts[r->n++] = p;
    pthread_mutex_unlock(&r->mu);
}

/* Receive what is queued, waiting at most wait_ms for the first datagram. */
static inline size_t rx_pump(rx_t *r, int wait_ms)
{
    static _Thread_local uint8_t buf[RX_MAX_DGRAM];
    struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
    size_t got = 0;

    while (poll(&pfd, 1, got ? 0 : wait_ms) > 0) {
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(r->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0)
            break;
        rx_push(r, buf, (size_t)n, &from);
        got++;
    }
    return got;
}

static inline void *rx_run(void *arg)
{
    rx_t *r = arg;
    while (!atomic_load(&r->stop))
        rx_pump(r, 10);
    rx_pump(r, 0);
    return NULL;
}

static inline void rx_start(rx_t *r)
{
    atomic_store(&r->stop, false);
    if (pthread_create(&r->thread, NULL, rx_run, r) != 0)
        abort();
    r->running = 1;
}

/* Join the thread (after taking what is already queued). */
static inline void rx_stop(rx_t *r)
{
    if (!r->running)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    r->running = 0;
}

static inline size_t rx_count(rx_t *r)
{
    size_t n;
    pthread_mutex_lock(&r->mu);
    n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Wait until n datagrams arrived or max_ms passed; true if they did. Works
 * with or without the thread. */
static inline bool rx_wait(rx_t *r, size_t n, unsigned max_ms)
{
    uint64_t end = hub_mono_us() + (uint64_t)max_ms * 1000;
    for (;;) {
        if (rx_count(r) >= n)
            return true;
        if (hub_mono_us() >= end)
            return false;
        if (r->running)
            rx_sleep_ms(2);
        else
            rx_pump(r, 5);
    }
}

/* Wait quiet_ms more (taking anything that still comes); the count after. */
static inline size_t rx_settle(rx_t *r, unsigned quiet_ms)
{
    uint64_t end = hub_mono_us() + (uint64_t)quiet_ms * 1000;
    while (hub_mono_us() < end) {
        if (r->running)
            rx_sleep_ms(2);
        else
            rx_pump(r, 5);
    }
    return rx_count(r);
}

/* Copy packet i (i < rx_count) into buf; returns its length. */
static inline size_t rx_get(rx_t *r, size_t i, uint8_t *buf, size_t cap, uint64_t *at_us)
{
    size_t len;
    pthread_mutex_lock(&r->mu);
    if (i >= r->n)
        abort();
    len = r->pkts[i].len < cap ? r->pkts[i].len : cap;
    memcpy(buf, r->pkts[i].data, len);
    if (at_us != NULL)
        *at_us = r->pkts[i].at_us;
    pthread_mutex_unlock(&r->mu);
    return len;
}

/* Forget what was received so far. */
static inline void rx_clear(rx_t *r)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        free(r->pkts[i].data);
    r->n = 0;
    pthread_mutex_unlock(&r->mu);
}

static inline void rx_close(rx_t *r)
{
    rx_stop(r);
    rx_clear(r);
    free(r->pkts);
    r->pkts = NULL;
    r->cap = 0;
    close(r->fd);
    r->fd = -1;
    pthread_mutex_destroy(&r->mu);
}

/* A loopback port that was free a moment ago (for addresses the code under
 * test binds itself). */
static inline uint16_t rx_free_port(void)
{
    uint16_t port;
    int fd = rx_socket(&port, 0);
    close(fd);
    return port;
}

/* 127.0.0.1:port as the output modules take it; port 0 is accepted here
 * (hub_addr_parse_list refuses it) to make every send fail with EINVAL
 * without a packet leaving the host. */
static inline hub_addr_t rx_loopback_addr(uint16_t port)
{
    hub_addr_t a;
    memset(&a, 0, sizeof(a));
    a.sin.sin_family = AF_INET;
    a.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin.sin_port = htons(port);
    snprintf(a.text, sizeof(a.text), "127.0.0.1:%u", (unsigned)port);
    return a;
}

/* A metric as GET /metrics shows it: `name` or `name{labels}`; -1 if the
 * series is not there. */
static inline double rx_metric(hub_metrics_t *m, const char *series)
{
    size_t len;
    char *text = hub_metrics_render(m, &len);
    char key[256];
    const char *p;
    double v = -1;

    snprintf(key, sizeof(key), "\n%s ", series);
    p = strstr(text, key);
    if (p != NULL)
        v = strtod(p + strlen(key), NULL);
    hub_free(text);
    return v;
}

#endif
