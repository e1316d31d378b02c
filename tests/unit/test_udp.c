/* tests/unit/test_udp.c - output/udp: batched sends over sendmmsg(2).
 *
 * Every datagram goes to a receiver on 127.0.0.1 (loopback_rx.h). Payloads
 * carry their index so a test can tell lost, repeated and reordered
 * datagrams apart. Failures are made without traffic leaving the host:
 * destination port 0 (EINVAL), a datagram over 65535 bytes (EMSGSIZE), a
 * descriptor that is not open (EBADF) and RLIMIT_NOFILE 0 (EMFILE).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback_rx.h"
#include "output/udp.h"

#define MMSG_BATCH 1024 /* udp.h: "up to 1024 per call" */

/* Payload of datagram i of a run: 4-byte index, run marker, then bytes that
 * depend on both; the length varies too (12..75). */
static size_t payload(uint8_t *buf, uint32_t i, uint8_t run)
{
    size_t len = 12 + i % 64;
    buf[0] = (uint8_t)(i >> 24);
    buf[1] = (uint8_t)(i >> 16);
    buf[2] = (uint8_t)(i >> 8);
    buf[3] = (uint8_t)i;
    buf[4] = run;
    for (size_t k = 5; k < len; k++)
        buf[k] = (uint8_t)(i * 31 + k * 7 + run);
    return len;
}

/* Assert that r received exactly the datagrams `want[0..n)` of run, in order. */
static void assert_received(rx_t *r, const uint32_t *want, size_t n, uint8_t run)
{
    uint8_t exp[128];

    assert_true(rx_wait(r, n, 3000));
    assert_int_equal(rx_settle(r, 100), n); /* and nothing more */
    for (size_t k = 0; k < n; k++) {
        size_t len = payload(exp, want[k], run);
        if (r->pkts[k].len != len || memcmp(r->pkts[k].data, exp, len) != 0)
            fail_msg("datagram %zu: want index %u (len %zu), got len %zu index %u", k, want[k], len,
                     r->pkts[k].len,
                     r->pkts[k].len >= 4
                         ? (unsigned)(r->pkts[k].data[0] << 24 | r->pkts[k].data[1] << 16 |
                                      r->pkts[k].data[2] << 8 | r->pkts[k].data[3])
                         : 0u);
    }
}

#define MAX_ERRS 4096

struct errs {
    size_t n;
    int tag[MAX_ERRS];
    int err[MAX_ERRS];
};

static struct errs *errs_new(void)
{
    struct errs *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    return e;
}

static void on_error(void *ud, int tag, int err)
{
    struct errs *e = ud;
    if (e->n < MAX_ERRS) {
        e->tag[e->n] = tag;
        e->err[e->n] = err;
    }
    e->n++;
}

/* ---- open / close ------------------------------------------------------- */

static void test_open_socket_options(void **state)
{
    hub_udp_t u;
    int v;
    socklen_t vl;
    unsigned char c;
    long wmem_max = 0;
    FILE *f;

    (void)state;
    assert_int_equal(hub_udp_open(&u), 0);
    assert_true(u.fd >= 0);
    assert_int_equal(u.n, 0);

    vl = sizeof(v);
    assert_int_equal(getsockopt(u.fd, SOL_SOCKET, SO_TYPE, &v, &vl), 0);
    assert_int_equal(v, SOCK_DGRAM);
    vl = sizeof(v);
    assert_int_equal(getsockopt(u.fd, SOL_SOCKET, SO_BROADCAST, &v, &vl), 0);
    assert_int_equal(v, 1); /* "broadcast allowed" */
    vl = sizeof(v);
    assert_int_equal(getsockopt(u.fd, IPPROTO_IP, IP_MULTICAST_TTL, &v, &vl), 0);
    assert_int_equal(vl == 1 ? (int)*(unsigned char *)&v : v, 1); /* "multicast TTL 1" */
    vl = sizeof(c);
    assert_int_equal(getsockopt(u.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &c, &vl), 0);
    assert_int_equal(c, 1); /* "looped back" */

    /* "A large send buffer": at least 1 MB, or all that net.core.wmem_max
     * allows (the kernel doubles the request for bookkeeping). */
    f = fopen("/proc/sys/net/core/wmem_max", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &wmem_max) != 1)
            wmem_max = 0;
        fclose(f);
    }
    vl = sizeof(v);
    assert_int_equal(getsockopt(u.fd, SOL_SOCKET, SO_SNDBUF, &v, &vl), 0);
    if (wmem_max > 0 && wmem_max < (1 << 20))
        assert_true(v >= 2 * wmem_max);
    else
        assert_true(v >= 2 * (1 << 20));

    hub_udp_close(&u);
    assert_int_equal(u.fd, -1);
    assert_null(u.pool);
    assert_null(u.pkts);
    hub_udp_close(&u); /* twice is harmless */
}

static void test_open_fails_with_errno(void **state)
{
    struct rlimit old, none = {.rlim_cur = 0, .rlim_max = 0};
    hub_udp_t u;
    int fd = 4242, rc_open, rc_listen;
    struct sockaddr_in at = rx_loopback_addr(0).sin;

    (void)state;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    none.rlim_max = old.rlim_max;
    /* No descriptor can be made for the next two calls: socket() fails with EMFILE. */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
    rc_open = hub_udp_open(&u);
    rc_listen = hub_udp_listen(&fd, &at);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);

    assert_int_equal(rc_open, -EMFILE);
    assert_int_equal(u.fd, -1);
    hub_udp_close(&u); /* safe after a failed open */
    assert_int_equal(rc_listen, -EMFILE);
    assert_int_equal(fd, 4242); /* untouched on failure */
}

/* ---- batches ------------------------------------------------------------- */

/* n datagrams queued arrive exactly once and in order; the batch is empty after. */
static void send_run(size_t n, uint8_t run)
{
    hub_udp_t u;
    rx_t r;
    struct errs *e = errs_new();
    uint8_t buf[128];
    uint32_t *want = malloc(n * sizeof(*want));

    assert_non_null(want);
    rx_open(&r);
    assert_int_equal(hub_udp_open(&u), 0);
    for (uint32_t i = 0; i < n; i++) {
        size_t len = payload(buf, i, run);
        hub_udp_add(&u, &r.addr.sin, buf, len, (int)i);
        want[i] = i;
    }
    assert_int_equal(u.n, n);
    assert_int_equal(hub_udp_flush(&u, on_error, e), n);
    assert_int_equal(e->n, 0);
    assert_int_equal(u.n, 0);
    assert_int_equal(u.used, 0);
    assert_received(&r, want, n, run);

    /* The emptied batch sends nothing more. */
    assert_int_equal(hub_udp_flush(&u, on_error, e), 0);
    assert_int_equal(rx_settle(&r, 50), n);
    hub_udp_close(&u);
    rx_close(&r);
    free(want);
    free(e);
}

static void test_flush_empty_batch(void **state)
{
    hub_udp_t u;
    struct errs *e = errs_new();

    (void)state;
    assert_int_equal(hub_udp_open(&u), 0);
    assert_int_equal(hub_udp_flush(&u, on_error, e), 0);
    assert_int_equal(hub_udp_flush(&u, NULL, NULL), 0);
    assert_int_equal(e->n, 0);
    hub_udp_close(&u);
    free(e);
}

static void test_one_datagram(void **state)
{
    (void)state;
    send_run(1, 1);
}

static void test_batch_boundaries(void **state)
{
    /* Just under, at and just over one sendmmsg call, two calls exactly,
     * two calls and one, and three calls. */
    static const size_t sizes[] = {MMSG_BATCH - 1, MMSG_BATCH,         MMSG_BATCH + 1,
                                   2 * MMSG_BATCH, 2 * MMSG_BATCH + 1, 3000};
    (void)state;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
        send_run(sizes[k], (uint8_t)(10 + k));
}

static void test_batch_reused_after_flush(void **state)
{
    hub_udp_t u;
    rx_t r;
    uint8_t buf[128];
    uint32_t want[300];

    (void)state;
    rx_open(&r);
    assert_int_equal(hub_udp_open(&u), 0);
    for (int round = 0; round < 3; round++) {
        size_t n = (size_t)(100 * (round + 1));
        for (uint32_t i = 0; i < n; i++) {
            hub_udp_add(&u, &r.addr.sin, buf, payload(buf, i, (uint8_t)(50 + round)), 0);
            want[i] = i;
        }
        assert_int_equal(hub_udp_flush(&u, NULL, NULL), n);
        assert_received(&r, want, n, (uint8_t)(50 + round));
        rx_clear(&r);
    }
    hub_udp_close(&u);
    rx_close(&r);
}

/* Big datagrams make the byte pool grow past its first size, twice over. */
static void test_pool_growth_keeps_bytes(void **state)
{
    enum { BIG = 60000, SMALL = 1400, NSMALL = 100 };
    hub_udp_t u;
    rx_t r;
    uint8_t *big = malloc(BIG), small[SMALL];

    (void)state;
    assert_non_null(big);
    for (size_t k = 0; k < BIG; k++)
        big[k] = (uint8_t)(k * 13 + k / 256);
    rx_open(&r);
    assert_int_equal(hub_udp_open(&u), 0);
    hub_udp_add(&u, &r.addr.sin, big, BIG, 0);
    for (int i = 0; i < NSMALL; i++) {
        memset(small, i, SMALL);
        hub_udp_add(&u, &r.addr.sin, small, SMALL, i + 1);
    }
    hub_udp_add(&u, &r.addr.sin, big, BIG, NSMALL + 1);
    assert_int_equal(hub_udp_flush(&u, NULL, NULL), NSMALL + 2);
    assert_true(rx_wait(&r, NSMALL + 2, 3000));
    assert_int_equal(rx_settle(&r, 100), NSMALL + 2);
    assert_int_equal(r.pkts[0].len, BIG);
    assert_memory_equal(r.pkts[0].data, big, BIG);
    for (int i = 0; i < NSMALL; i++) {
        memset(small, i, SMALL);
        assert_int_equal(r.pkts[i + 1].len, SMALL);
        assert_memory_equal(r.pkts[i + 1].data, small, SMALL);
    }
    assert_int_equal(r.pkts[NSMALL + 1].len, BIG);
    assert_memory_equal(r.pkts[NSMALL + 1].data, big, BIG);
    hub_udp_close(&u);
    rx_close(&r);
    free(big);
}

/* One batch to two receivers, interleaved: each gets its own, in order. */
static void test_batch_to_two_destinations(void **state)
{
    hub_udp_t u;
    rx_t a, b;
    uint8_t buf[128];
    uint32_t wa[700], wb[700];
    size_t na = 0, nb = 0;

    (void)state;
    rx_open(&a);
    rx_open(&b);
    assert_int_equal(hub_udp_open(&u), 0);
    for (uint32_t i = 0; i < 1400; i++) {
        rx_t *to = (i % 3 == 0) ? &a : &b; /* uneven, so the batch boundary splits them */
        hub_udp_add(&u, &to->addr.sin, buf, payload(buf, i, 77), (int)i);
        if (to == &a)
            wa[na++] = i;
        else if (nb < 700)
            wb[nb++] = i;
    }
    assert_int_equal(na, 467);
    assert_int_equal(hub_udp_flush(&u, NULL, NULL), 1400);
    assert_received(&a, wa, na, 77);
    /* b got 933; compare the first 700 and the count. */
    assert_true(rx_wait(&b, 933, 3000));
    assert_int_equal(rx_settle(&b, 100), 933);
    for (size_t k = 0; k < nb; k++) {
        size_t len = payload(buf, wb[k], 77);
        assert_int_equal(b.pkts[k].len, len);
        assert_memory_equal(b.pkts[k].data, buf, len);
    }
    hub_udp_close(&u);
    rx_close(&a);
    rx_close(&b);
}

/* ---- errors ------------------------------------------------------------- */

/* A datagram that cannot be sent is reported with its tag and errno; the
 * others in the batch, before and after it, still go out. */
static void test_failed_datagrams_reported_rest_sent(void **state)
{
    hub_udp_t u;
    rx_t r;
    struct errs *e = errs_new();
    uint8_t buf[128];
    struct sockaddr_in port0 = rx_loopback_addr(0).sin;
    uint8_t *huge = calloc(1, 70000);
    static const uint32_t want[] = {0, 1, 3, 5};

    (void)state;
    assert_non_null(huge);
    rx_open(&r);
    assert_int_equal(hub_udp_open(&u), 0);
    for (uint32_t i = 0; i < 6; i++) {
        size_t len = payload(buf, i, 5);
        if (i == 2)
            hub_udp_add(&u, &port0, buf, len, 102); /* port 0: EINVAL */
        else if (i == 4)
            hub_udp_add(&u, &r.addr.sin, huge, 70000, 104); /* > 65535: EMSGSIZE */
        else
            hub_udp_add(&u, &r.addr.sin, buf, len, 100 + (int)i);
    }
    assert_int_equal(hub_udp_flush(&u, on_error, e), 4);
    assert_int_equal(e->n, 2);
    assert_int_equal(e->tag[0], 102);
    assert_int_equal(e->err[0], EINVAL);
    assert_int_equal(e->tag[1], 104);
    assert_int_equal(e->err[1], EMSGSIZE);
    assert_received(&r, want, 4, 5);

    /* Without an error callback: the same sends, nothing to report to. */
    rx_clear(&r);
    for (uint32_t i = 0; i < 6; i++) {
        size_t len = payload(buf, i, 5);
        hub_udp_add(&u, i == 2 ? &port0 : &r.addr.sin, i == 4 ? huge : buf, i == 4 ? 70000 : len,
                    0);
    }
    assert_int_equal(hub_udp_flush(&u, NULL, NULL), 4);
    assert_received(&r, want, 4, 5);
    hub_udp_close(&u);
    rx_close(&r);
    free(huge);
    free(e);
}

/* Failures on both sides of a sendmmsg boundary and as the last datagram. */
static void test_failures_at_batch_boundaries(void **state)
{
    enum { N = 2 * MMSG_BATCH + 2 }; /* 2050 */
    static const uint32_t bad[] = {MMSG_BATCH - 1, MMSG_BATCH, N - 1};
    hub_udp_t u;
    rx_t r;
    struct errs *e = errs_new();
    uint8_t buf[128];
    struct sockaddr_in port0 = rx_loopback_addr(0).sin;
    uint32_t *want = malloc(N * sizeof(*want));
    size_t nw = 0;

    (void)state;
    assert_non_null(want);
    rx_open(&r);
    assert_int_equal(hub_udp_open(&u), 0);
    for (uint32_t i = 0; i < N; i++) {
        int fail = i == bad[0] || i == bad[1] || i == bad[2];
        hub_udp_add(&u, fail ? &port0 : &r.addr.sin, buf, payload(buf, i, 9), (int)i);
        if (!fail)
            want[nw++] = i;
    }
    assert_int_equal(hub_udp_flush(&u, on_error, e), N - 3);
    assert_int_equal(e->n, 3);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(e->tag[k], (int)bad[k]);
        assert_int_equal(e->err[k], EINVAL);
    }
    assert_int_equal(u.n, 0);
    assert_received(&r, want, nw, 9);
    hub_udp_close(&u);
    rx_close(&r);
    free(want);
    free(e);
}

/* The socket itself fails: every datagram is reported once, in order, none
 * counted as sent, and the batch is emptied. */
static void test_socket_failure_reports_every_datagram(void **state)
{
    enum { N = MMSG_BATCH + 3 };
    hub_udp_t u;
    struct errs *e = errs_new();
    uint8_t buf[128];
    struct sockaddr_in to = rx_loopback_addr(9).sin; /* never reached */
    int saved;

    (void)state;
    assert_int_equal(hub_udp_open(&u), 0);
    for (uint32_t i = 0; i < N; i++)
        hub_udp_add(&u, &to, buf, payload(buf, i, 1), 1000 + (int)i);
    saved = u.fd;
    u.fd = -1; /* not a descriptor: EBADF */
    assert_int_equal(hub_udp_flush(&u, on_error, e), 0);
    assert_int_equal(e->n, N);
    for (int k = 0; k < N; k++) {
        assert_int_equal(e->tag[k], 1000 + k);
        assert_int_equal(e->err[k], EBADF);
    }
    assert_int_equal(u.n, 0);
    u.fd = saved;
    hub_udp_close(&u);
    free(e);
}

/* ---- listen -------------------------------------------------------------- */

static void test_listen_binds_nonblocking(void **state)
{
    struct sockaddr_in at = rx_loopback_addr(0).sin, me;
    socklen_t ml = sizeof(me);
    int fd = -1, flags;
    uint8_t buf[64];
    hub_udp_t u;

    (void)state;
    assert_int_equal(hub_udp_listen(&fd, &at), 0);
    assert_true(fd >= 0);
    flags = fcntl(fd, F_GETFL);
    assert_true(flags & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
    assert_int_equal(me.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    assert_true(ntohs(me.sin_port) != 0);

    /* Nothing queued: recv returns at once. */
    assert_int_equal(recv(fd, buf, sizeof(buf), 0), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);

    /* A datagram sent to it through the batch arrives intact. */
    assert_int_equal(hub_udp_open(&u), 0);
    hub_udp_add(&u, &me, "ArtPoll?", 8, 0);
    assert_int_equal(hub_udp_flush(&u, NULL, NULL), 1);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    assert_int_equal(recv(fd, buf, sizeof(buf), 0), 8);
    assert_memory_equal(buf, "ArtPoll?", 8);
    hub_udp_close(&u);
    close(fd);
}

static void test_listen_errors(void **state)
{
    struct sockaddr_in at;
    uint16_t port;
    int fd = 4242;
    int holder = rx_socket(&port, 0); /* bound without SO_REUSEADDR */

    (void)state;
    at = rx_loopback_addr(port).sin;
    assert_int_equal(hub_udp_listen(&fd, &at), -EADDRINUSE);
    assert_int_equal(fd, 4242);
    close(holder);

    /* An address this host does not have (TEST-NET-1): nothing is sent. */
    at.sin_addr.s_addr = htonl(0xC0000201); /* 192.0.2.1 */
    at.sin_port = 0;
    assert_int_equal(hub_udp_listen(&fd, &at), -EADDRNOTAVAIL);
    assert_int_equal(fd, 4242);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_socket_options),
        cmocka_unit_test(test_open_fails_with_errno),
        cmocka_unit_test(test_flush_empty_batch),
        cmocka_unit_test(test_one_datagram),
        cmocka_unit_test(test_batch_boundaries),
        cmocka_unit_test(test_batch_reused_after_flush),
        cmocka_unit_test(test_pool_growth_keeps_bytes),
        cmocka_unit_test(test_batch_to_two_destinations),
        cmocka_unit_test(test_failed_datagrams_reported_rest_sent),
        cmocka_unit_test(test_failures_at_batch_boundaries),
        cmocka_unit_test(test_socket_failure_reports_every_datagram),
        cmocka_unit_test(test_listen_binds_nonblocking),
        cmocka_unit_test(test_listen_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
