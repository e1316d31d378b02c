/* tests/unit/test_artnet.c - output/artnet: the Art-Net sender on 127.0.0.1.
 *
 * Targets come from a "host:port,…" list (core/addr.h) naming receivers
 * bound to 127.0.0.1 (loopback_rx.h). Expected ArtDmx and ArtSync packets
 * are written out here from the Art-Net 4 packet tables, not produced by
 * output/artnet_pkt.c. ArtPolls are sent from a loopback socket to the
 * sender's listen address and the ArtPollReplies read back there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/addr.h"
#include "core/metrics.h"
#include "engine/domain.h"
#include "loopback_rx.h"
#include "output/artnet.h"

#define ARTDMX_LEN  530
#define ARTSYNC_LEN 14
#define REPLY_LEN   239

static void fill(uint8_t slots[512], unsigned seed)
{
    for (unsigned i = 0; i < 512; i++)
        slots[i] = (uint8_t)(i * 7 + seed * 31 + 1);
}

/* ArtDmx: ID "Art-Net\0", OpCode 0x5000 low byte first, ProtVer 0 14,
 * Sequence, Physical 0, SubUni (port-address low byte), Net (bits 14..8),
 * Length 512 high byte first, Data. */
static void want_artdmx(uint8_t p[ARTDMX_LEN], uint16_t port_address, uint8_t seq,
                        const uint8_t slots[512])
{
    static const uint8_t head[12] = {'A', 'r', 't', '-', 'N', 'e', 't', 0, 0x00, 0x50, 0x00, 14};
    memcpy(p, head, 12);
    p[12] = seq;
    p[13] = 0;
    p[14] = (uint8_t)(port_address & 0xFF);
    p[15] = (uint8_t)(port_address >> 8);
    p[16] = 0x02;
    p[17] = 0x00;
    memcpy(p + 18, slots, 512);
}

static const uint8_t artsync[ARTSYNC_LEN] = {'A', 'r',  't',  '-',  'N', 'e',  't',
                                             0,   0x00, 0x52, 0x00, 14,  0x00, 0x00};

static void assert_pkt(const rx_pkt_t *got, const uint8_t *want, size_t len, const char *what)
{
    if (got->len != len)
        fail_msg("%s: length %zu, want %zu", what, got->len, len);
    for (size_t i = 0; i < len; i++)
        if (got->data[i] != want[i])
            fail_msg("%s: first difference at offset %zu: got 0x%02x, want 0x%02x", what, i,
                     got->data[i], want[i]);
}

struct events {
    int n;
    int level[8];
    char source[8][32];
    char msg[8][256];
};

static void on_event(void *ud, int level, const char *source, const char *msg)
{
    struct events *e = ud;
    if (e->n < 8) {
        e->level[e->n] = level;
        snprintf(e->source[e->n], sizeof(e->source[0]), "%s", source);
        snprintf(e->msg[e->n], sizeof(e->msg[0]), "%s", msg);
    }
    e->n++;
}

/* ---- fixture: n receivers, an Art-Net sender aimed at them ---------------- */

#define MAXRX 3

struct fix {
    hub_metrics_t *metrics;
    rx_t rx[MAXRX];
    int nrx;
    hub_artnet_t *a;
};

/* Targets are parsed from a list like "127.0.0.1:p1, 127.0.0.1:p2" and freed
 * right after hub_artnet_new: the sender must keep its own copy. */
static void fix_open(struct fix *f, int nrx, int sync, const hub_addr_t *listen)
{
    char list[256] = "", err[256] = "";
    hub_addr_t *targets = NULL;
    size_t n = 0;

    memset(f, 0, sizeof(*f));
    f->metrics = hub_metrics_new();
    f->nrx = nrx;
    for (int i = 0; i < nrx; i++) {
        rx_open(&f->rx[i]);
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s127.0.0.1:%u", i ? " , " : "",
                 (unsigned)f->rx[i].port);
    }
    assert_int_equal(hub_addr_parse_list(list, 6454, &targets, &n, err, sizeof(err)), 0);
    assert_int_equal(n, (size_t)nrx);
    hub_artnet_cfg_t cfg = {.targets = targets,
                            .ntargets = n,
                            .sync = sync,
                            .listen = listen,
                            .short_name = "Showhub Test Node Long", /* 22: cut to 17 */
                            .long_name = "showhub unit test"};
    assert_int_equal(hub_artnet_new(&f->a, &cfg, f->metrics, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    memset(targets, 0xAB, n * sizeof(*targets)); /* a sender still reading these would break */
    hub_free(targets);
}

static void fix_close(struct fix *f)
{
    hub_artnet_free(f->a);
    for (int i = 0; i < f->nrx; i++)
        rx_close(&f->rx[i]);
    hub_metrics_free(f->metrics);
}

/* ---- ArtDmx ------------------------------------------------------------- */

static void test_one_artdmx_per_universe_per_flush(void **state)
{
    static const struct {
        int universe;
        uint16_t pa;
        uint8_t seq;
    } cases[] = {
        {1, 0x0000, 1}, {2, 0x0001, 2}, {17, 0x0010, 200}, {257, 0x0100, 255}, {32768, 0x7FFF, 9}};
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    struct fix f;
    uint8_t slots[512], want[ARTDMX_LEN];
    char what[64];

    (void)state;
    fix_open(&f, 1, 0, NULL);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            fill(slots, (unsigned)(i + 10 * round));
            hub_artnet_add(f.a, cases[i].universe, (uint8_t)(cases[i].seq + round), slots);
        }
        assert_int_equal(hub_artnet_flush(f.a), N);
    }
    assert_true(rx_wait(&f.rx[0], 2 * N, 3000));
    assert_int_equal(rx_settle(&f.rx[0], 100), 2 * N); /* no ArtSync: sync is off */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            fill(slots, (unsigned)(i + 10 * round));
            want_artdmx(want, cases[i].pa, (uint8_t)(cases[i].seq + round), slots);
            snprintf(what, sizeof(what), "round %d universe %d", round, cases[i].universe);
            assert_pkt(&f.rx[0].pkts[round * N + i], want, ARTDMX_LEN, what);
        }
    }
    /* Nothing queued: nothing sent. */
    assert_int_equal(hub_artnet_flush(f.a), 0);
    assert_int_equal(rx_settle(&f.rx[0], 50), 2 * N);
    fix_close(&f);
}

/* Universes without a port-address (0, negative, above 32768) are not sent. */
static void test_universes_without_port_address_not_sent(void **state)
{
    struct fix f;
    uint8_t slots[512], want[ARTDMX_LEN];

    (void)state;
    fill(slots, 3);
    fix_open(&f, 1, 1, NULL);
    hub_artnet_add(f.a, 0, 1, slots);
    hub_artnet_add(f.a, -1, 1, slots);
    hub_artnet_add(f.a, 32769, 1, slots);
    hub_artnet_add(f.a, 65536, 1, slots);
    assert_int_equal(hub_artnet_flush(f.a), 0);
    assert_int_equal(rx_settle(&f.rx[0], 100), 0); /* not even an ArtSync */

    hub_artnet_add(f.a, 32769, 1, slots);
    hub_artnet_add(f.a, 5, 4, slots);
    hub_artnet_add(f.a, 0, 1, slots);
    assert_int_equal(hub_artnet_flush(f.a), 1);
    assert_true(rx_wait(&f.rx[0], 2, 3000));
    assert_int_equal(rx_settle(&f.rx[0], 100), 2);
    want_artdmx(want, 4, 4, slots);
    assert_pkt(&f.rx[0].pkts[0], want, ARTDMX_LEN, "universe 5");
    assert_pkt(&f.rx[0].pkts[1], artsync, ARTSYNC_LEN, "ArtSync");
    fix_close(&f);
}

/* ---- ArtSync ------------------------------------------------------------ */

static void test_artsync_after_each_frame_when_on(void **state)
{
    struct fix f;
    uint8_t slots[512], want[ARTDMX_LEN];

    (void)state;
    fix_open(&f, 1, 1, NULL);
    for (int tick = 0; tick < 3; tick++) {
        for (int u = 1; u <= 3; u++) {
            fill(slots, (unsigned)(tick * 3 + u));
            hub_artnet_add(f.a, u, (uint8_t)(tick + 1), slots);
        }
        assert_int_equal(hub_artnet_flush(f.a), 3);
    }
    /* An empty flush sends no ArtSync of its own. */
    assert_int_equal(hub_artnet_flush(f.a), 0);
    assert_true(rx_wait(&f.rx[0], 12, 3000));
    assert_int_equal(rx_settle(&f.rx[0], 100), 12);
    for (int tick = 0; tick < 3; tick++) {
        for (int u = 1; u <= 3; u++) {
            fill(slots, (unsigned)(tick * 3 + u));
            want_artdmx(want, (uint16_t)(u - 1), (uint8_t)(tick + 1), slots);
            assert_pkt(&f.rx[0].pkts[tick * 4 + u - 1], want, ARTDMX_LEN, "ArtDmx");
        }
        assert_pkt(&f.rx[0].pkts[tick * 4 + 3], artsync, ARTSYNC_LEN, "ArtSync after the frame");
    }
    fix_close(&f);
}

static void test_several_targets_each_get_every_packet(void **state)
{
    struct fix f;
    uint8_t slots[512], want[ARTDMX_LEN];
    static const int unis[] = {1, 16, 17, 512};

    (void)state;
    fix_open(&f, 3, 1, NULL);
    for (int i = 0; i < 4; i++) {
        fill(slots, (unsigned)i);
        hub_artnet_add(f.a, unis[i], (uint8_t)(40 + i), slots);
    }
    assert_int_equal(hub_artnet_flush(f.a), 12); /* 4 ArtDmx to each of 3 targets */
    for (int t = 0; t < 3; t++) {
        assert_true(rx_wait(&f.rx[t], 5, 3000));
        assert_int_equal(rx_settle(&f.rx[t], 100), 5);
        for (int i = 0; i < 4; i++) {
            fill(slots, (unsigned)i);
            want_artdmx(want, (uint16_t)(unis[i] - 1), (uint8_t)(40 + i), slots);
            assert_pkt(&f.rx[t].pkts[i], want, ARTDMX_LEN, "ArtDmx to every target");
        }
        assert_pkt(&f.rx[t].pkts[4], artsync, ARTSYNC_LEN, "ArtSync to every target");
    }
    assert_int_equal(rx_metric(f.metrics, "dmx_output_errors_total{proto=\"artnet\"}"), 0);
    fix_close(&f);
}

/* ---- errors: fail-open ---------------------------------------------------- */

/* A target every send to fails (port 0: EINVAL, nothing leaves the host):
 * counted per packet, one operator event a second, and the other target
 * still gets everything. */
static void test_failing_target_reported_others_served(void **state)
{
    hub_metrics_t *m = hub_metrics_new();
    rx_t good;
    hub_addr_t targets[2];
    hub_artnet_t *a;
    struct events ev = {0};
    char err[256] = "";
    uint8_t slots[512];

    (void)state;
    rx_open(&good);
    targets[0] = rx_loopback_addr(0);
    targets[1] = good.addr;
    hub_artnet_cfg_t cfg = {.targets = targets, .ntargets = 2, .sync = 1};
    assert_int_equal(hub_artnet_new(&a, &cfg, m, err, sizeof(err)), 0);
    hub_artnet_set_events(a, on_event, &ev);
    fill(slots, 1);
    hub_artnet_add(a, 1, 1, slots);
    hub_artnet_add(a, 2, 1, slots);
    hub_artnet_flush(a);
    /* 2 ArtDmx + 1 ArtSync to the bad target. */
    assert_int_equal(rx_metric(m, "dmx_output_errors_total{proto=\"artnet\"}"), 3);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.level[0], HUB_EVENT_WARNING);
    assert_string_equal(ev.source[0], "artnet");
    assert_non_null(strstr(ev.msg[0], "127.0.0.1:0"));
    assert_non_null(strstr(ev.msg[0], strerror(EINVAL)));

    /* Within the second: counted, not reported again. */
    hub_artnet_add(a, 1, 2, slots);
    hub_artnet_flush(a);
    assert_int_equal(rx_metric(m, "dmx_output_errors_total{proto=\"artnet\"}"), 5);
    assert_int_equal(ev.n, 1);

    assert_true(rx_wait(&good, 5, 3000));
    assert_int_equal(rx_settle(&good, 100), 5);
    assert_pkt(&good.pkts[2], artsync, ARTSYNC_LEN, "ArtSync, first tick");
    assert_pkt(&good.pkts[4], artsync, ARTSYNC_LEN, "ArtSync, second tick");
    hub_artnet_free(a);
    rx_close(&good);
    hub_metrics_free(m);
}

/* Regression, fixed (header disagreement): artnet.h says hub_artnet_flush "returns the
 * ArtDmx packets sent"; artnet.c:100-118 returns the number of
 * hub_artnet_add calls (universes queued) whatever the number of targets
 * and whether the sends worked. Expected 6 for 3 universes to 2 targets
 * and 0 when the only target fails; actual 3 and 3. */
static void test_flush_returns_packets_sent(void **state)
{
    struct fix f;
    hub_artnet_t *bad;
    hub_addr_t port0 = rx_loopback_addr(0);
    char err[256] = "";
    uint8_t slots[512];
    size_t sent_two, sent_bad;

    (void)state;
    fill(slots, 2);
    fix_open(&f, 2, 0, NULL);
    for (int u = 1; u <= 3; u++)
        hub_artnet_add(f.a, u, 1, slots);
    sent_two = hub_artnet_flush(f.a);
    assert_true(rx_wait(&f.rx[0], 3, 3000) && rx_wait(&f.rx[1], 3, 3000));

    hub_artnet_cfg_t cfg = {.targets = &port0, .ntargets = 1};
    assert_int_equal(hub_artnet_new(&bad, &cfg, f.metrics, err, sizeof(err)), 0);
    for (int u = 1; u <= 3; u++)
        hub_artnet_add(bad, u, 1, slots);
    sent_bad = hub_artnet_flush(bad);
    hub_artnet_free(bad);
    fix_close(&f);

    /* Six ArtDmx went out (three to each receiver, checked above). */
    assert_int_equal(sent_two, 6);
    /* None went out: every send failed with EINVAL. */
    assert_int_equal(sent_bad, 0);
}

/* ---- ArtPoll ------------------------------------------------------------- */

static void send_to(int fd, const struct sockaddr_in *to, const void *buf, size_t len)
{
    assert_int_equal(sendto(fd, buf, len, 0, (const struct sockaddr *)to, sizeof(*to)),
                     (ssize_t)len);
}

/* ArtPoll: ID, OpCode 0x2000 low byte first, ProtVer 14, Flags, DiagPriority. */
static const uint8_t artpoll[14] = {'A', 'r',  't',  '-',  'N', 'e',  't',
                                    0,   0x00, 0x20, 0x00, 14,  0x00, 0x10};

/* Call hub_artnet_poll until `client` holds n datagrams (bounded). */
static bool poll_until(hub_artnet_t *a, const int *unis, size_t nunis, rx_t *client, size_t n)
{
    for (int i = 0; i < 400; i++) {
        hub_artnet_poll(a, unis, nunis);
        if (rx_wait(client, n, 5))
            return true;
    }
    return false;
}

static void check_reply(const rx_pkt_t *p, uint16_t pa, uint8_t bind)
{
    static const uint8_t head[10] = {'A', 'r', 't', '-', 'N', 'e', 't', 0, 0x00, 0x21};
    static const uint8_t lo[4] = {127, 0, 0, 1};
    char what[64];

    snprintf(what, sizeof(what), "ArtPollReply for port-address %u", (unsigned)pa);
    if (p->len != REPLY_LEN)
        fail_msg("%s: length %zu, want %d", what, p->len, REPLY_LEN);
    assert_memory_equal(p->data, head, 10);          /* ID, OpPollReply 0x2100 */
    assert_memory_equal(p->data + 10, lo, 4);        /* IpAddress: as the poller sees us */
    assert_int_equal(p->data[14], 0x36);             /* Port 6454 = 0x1936, */
    assert_int_equal(p->data[15], 0x19);             /* low byte first */
    assert_int_equal(p->data[18], (pa >> 8) & 0x7F); /* NetSwitch */
    assert_int_equal(p->data[19], (pa >> 4) & 0x0F); /* SubSwitch */
    assert_memory_equal(p->data + 26, "Showhub Test Node\0", 18);         /* ShortName, cut to 17 */
    assert_string_equal((const char *)p->data + 44, "showhub unit test"); /* LongName */
    assert_int_equal(p->data[172], 0);                                    /* NumPorts 1 */
    assert_int_equal(p->data[173], 1);
    assert_int_equal(p->data[174], 0x40);      /* PortTypes[0]: DMX onto the network */
    assert_int_equal(p->data[186], pa & 0x0F); /* SwIn[0] */
    assert_memory_equal(p->data + 207, lo, 4); /* BindIp */
    assert_int_equal(p->data[211], bind);      /* BindIndex 1..n */
}

static void test_artpoll_answered_one_reply_per_universe(void **state)
{
    uint16_t lport = rx_free_port();
    hub_addr_t listen = rx_loopback_addr(lport);
    static const int unis[] = {1, 40000, 18, 32768}; /* 40000 has no port-address */
    struct fix f;
    rx_t client;
    uint8_t slots[512] = {0}, dmx[ARTDMX_LEN], junk[] = "not an ArtPoll at all";

    (void)state;
    fix_open(&f, 1, 0, &listen);
    rx_open(&client);

    /* Not ArtPolls: an ArtDmx, a datagram of junk, an ArtPoll cut to 12 bytes. */
    want_artdmx(dmx, 0, 1, slots);
    send_to(client.fd, &listen.sin, dmx, sizeof(dmx));
    send_to(client.fd, &listen.sin, junk, sizeof(junk));
    send_to(client.fd, &listen.sin, artpoll, 12);
    for (int i = 0; i < 20; i++) {
        hub_artnet_poll(f.a, unis, 4);
        rx_sleep_ms(5);
    }
    assert_int_equal(rx_settle(&client, 50), 0);
    assert_int_equal(rx_metric(f.metrics, "dmx_artnet_polls_total"), 0);

    /* A real ArtPoll: one reply per universe with a port-address, to the poller. */
    send_to(client.fd, &listen.sin, artpoll, sizeof(artpoll));
    assert_true(poll_until(f.a, unis, 4, &client, 3));
    assert_int_equal(rx_settle(&client, 100), 3);
    check_reply(&client.pkts[0], 0, 1);
    check_reply(&client.pkts[1], 17, 2);
    check_reply(&client.pkts[2], 0x7FFF, 3);
    assert_int_equal(rx_metric(f.metrics, "dmx_artnet_polls_total"), 1);

    /* Asked again: answered again. */
    rx_clear(&client);
    send_to(client.fd, &listen.sin, artpoll, sizeof(artpoll));
    assert_true(poll_until(f.a, unis, 2, &client, 1));
    assert_int_equal(rx_settle(&client, 100), 1);
    check_reply(&client.pkts[0], 0, 1);
    assert_int_equal(rx_metric(f.metrics, "dmx_artnet_polls_total"), 2);
    rx_close(&client);
    fix_close(&f);
}

/* A targeted ArtPoll (Art-Net 4: Flags bit 5, TargetPortAddressTop and
 * Bottom at 14-17, high byte first) is answered only for the ports in
 * range (artnet_pkt.h); an 18-byte ArtPoll without the flag by all. */
static void test_targeted_artpoll_answered_in_range(void **state)
{
    uint16_t lport = rx_free_port();
    hub_addr_t listen = rx_loopback_addr(lport);
    static const int unis[] = {1, 17, 18, 40};
    static const uint8_t targeted[18] = {'A',  'r', 't',  '-',  'N',  'e', 't',  0, 0x00, 0x20,
                                         0x00, 14,  0x20, 0x10, 0x00, 17,  0x00, 16}; /* 16..17 */
    uint8_t untargeted[18];
    struct fix f;
    rx_t client;

    (void)state;
    memcpy(untargeted, targeted, sizeof(untargeted));
    untargeted[12] = 0x00;
    fix_open(&f, 1, 0, &listen);
    rx_open(&client);

    send_to(client.fd, &listen.sin, targeted, sizeof(targeted));
    assert_true(poll_until(f.a, unis, 4, &client, 2));
    assert_int_equal(rx_settle(&client, 100), 2);
    for (int i = 0; i < 2; i++) {
        const rx_pkt_t *p = &client.pkts[i];
        assert_int_equal(p->len, REPLY_LEN);
        assert_int_equal(p->data[18], 0);               /* NetSwitch */
        assert_int_equal(p->data[19], 1);               /* SubSwitch: 16..31 */
        assert_int_equal(p->data[186], i == 0 ? 0 : 1); /* SwIn: 16, then 17 */
        assert_true(p->data[211] >= 1);
    }

    rx_clear(&client);
    send_to(client.fd, &listen.sin, untargeted, sizeof(untargeted));
    assert_true(poll_until(f.a, unis, 4, &client, 4));
    assert_int_equal(rx_settle(&client, 100), 4);
    check_reply(&client.pkts[3], 39, 4);
    assert_int_equal(rx_metric(f.metrics, "dmx_artnet_polls_total"), 2);
    rx_close(&client);
    fix_close(&f);
}

static void test_no_listen_no_poll_answers(void **state)
{
    struct fix f;
    static const int unis[] = {1};

    (void)state;
    fix_open(&f, 1, 0, NULL);
    hub_artnet_poll(f.a, unis, 1); /* not listening: a no-op */
    assert_int_equal(rx_settle(&f.rx[0], 50), 0);
    assert_int_equal(rx_metric(f.metrics, "dmx_artnet_polls_total"), 0);
    fix_close(&f);
}

/* ---- construction errors ------------------------------------------------- */

static void test_listen_address_in_use(void **state)
{
    uint16_t port;
    int holder = rx_socket(&port, 0); /* bound without SO_REUSEADDR */
    hub_addr_t listen = rx_loopback_addr(port), target = rx_loopback_addr(9);
    hub_metrics_t *m = hub_metrics_new();
    hub_artnet_t *a = (hub_artnet_t *)(uintptr_t)0x1234;
    char err[512] = "";

    (void)state;
    hub_artnet_cfg_t cfg = {.targets = &target, .ntargets = 1, .listen = &listen};
    assert_int_equal(hub_artnet_new(&a, &cfg, m, err, sizeof(err)), -EADDRINUSE);
    assert_ptr_equal(a, (hub_artnet_t *)(uintptr_t)0x1234);
    assert_non_null(strstr(err, "DMX_ARTNET_LISTEN"));
    assert_non_null(strstr(err, listen.text));
    assert_null(strchr(err, '\n'));
    close(holder);
    hub_metrics_free(m);
}

static void test_no_socket(void **state)
{
    struct rlimit old, none = {0, 0};
    hub_addr_t target = rx_loopback_addr(9);
    hub_metrics_t *m = hub_metrics_new();
    hub_artnet_t *a = NULL;
    char err[512] = "";
    int rc;

    (void)state;
    hub_artnet_cfg_t cfg = {.targets = &target, .ntargets = 1};
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    none.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
    rc = hub_artnet_new(&a, &cfg, m, err, sizeof(err));
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(rc, -EMFILE);
    assert_null(a);
    assert_non_null(strstr(err, "Art-Net"));
    hub_artnet_free(NULL);
    hub_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_artdmx_per_universe_per_flush),
        cmocka_unit_test(test_universes_without_port_address_not_sent),
        cmocka_unit_test(test_artsync_after_each_frame_when_on),
        cmocka_unit_test(test_several_targets_each_get_every_packet),
        cmocka_unit_test(test_failing_target_reported_others_served),
        cmocka_unit_test(test_flush_returns_packets_sent),
        cmocka_unit_test(test_artpoll_answered_one_reply_per_universe),
        cmocka_unit_test(test_targeted_artpoll_answered_in_range),
        cmocka_unit_test(test_no_listen_no_poll_answers),
        cmocka_unit_test(test_listen_address_in_use),
        cmocka_unit_test(test_no_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
