/* bench/netrx_rx.c - the receiver: two UDP sockets, recvmmsg, per-universe counts.
 *
 * One thread. Both sockets are non-blocking with a large receive buffer
 * (SO_RCVBUFFORCE when root: one 44 Hz tick of 256 universes is a burst of
 * 512 datagrams) and SO_RXQ_OVFL, so datagrams the kernel dropped because
 * the buffer was full are counted apart from datagrams that never came.
 *
 * Per protocol and universe it keeps the last sequence number and slots.
 * A sequence number one step ahead is in order; a jump forward of d steps
 * is d packets lost; a step back is out of order (E1.31 6.7.2 counts up to
 * 20 back as such; everything behind is treated so here). Art-Net's
 * Sequence runs 1..255 (0 means "not sequenced"), E1.31's 0..255.
 */
#include "netrx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH      64
#define DGRAM_MAX  2048
#define RCVBUF     (32 << 20)
#define CMSG_BYTES 64

typedef struct uni {
    int seen;    /* a packet arrived (ever) */
    uint8_t seq; /* its sequence number */
    size_t nslots;
    uint8_t slots[NETRX_SLOTS];
    uint64_t first_ns; /* first and last packet in the window; 0: none */
    uint64_t last_ns;
    uint64_t count; /* packets in the window */
} uni_t;

typedef struct proto {
    const char *name;
    int fd, port;
    int rcvbuf;         /* effective, bytes */
    uint32_t drops_now; /* SO_RXQ_OVFL: the kernel's running count */
    uint32_t drops_at_start;
    uint64_t packets, dmx, other, malformed, unexpected;
    uint64_t lost, out_of_order, unchanged_slots, pkts_unchanged, short_pkts, terminated;
    uni_t *u; /* universes 1..n at [0..n-1] */
} proto_t;

struct netrx_rx {
    int n;
    double fps;
    int counting;
    uint64_t t_on, t_off;
    proto_t p[2];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    uint8_t bufs[BATCH][DGRAM_MAX];
    char ctl[BATCH][CMSG_BYTES];
};

uint64_t netrx_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int open_sock(proto_t *p)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    socklen_t al = sizeof(a);
    int one = 1, size = RCVBUF;
    socklen_t sl = sizeof(size);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        return -errno;
    /* Beyond net.core.rmem_max only with CAP_NET_ADMIN; else the capped size. */
    if (setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(p->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
    if (bind(p->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(p->fd, (struct sockaddr *)&a, &al) != 0) {
        int err = -errno;
        close(p->fd);
        p->fd = -1;
        return err;
    }
    p->port = ntohs(a.sin_port);
    getsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &p->rcvbuf, &sl);
    return 0;
}

netrx_rx_t *netrx_rx_new(int *artnet_port, int *sacn_port, int universes, double fps)
{
    netrx_rx_t *rx = calloc(1, sizeof(*rx));
    if (!rx)
        abort();
    rx->n = universes;
    rx->fps = fps;
    rx->p[NETRX_ARTNET].name = "artnet";
    rx->p[NETRX_ARTNET].port = *artnet_port;
    rx->p[NETRX_SACN].name = "sacn";
    rx->p[NETRX_SACN].port = *sacn_port;
    for (int k = 0; k < 2; k++) {
        rx->p[k].fd = -1;
        rx->p[k].u = calloc((size_t)universes, sizeof(uni_t));
        if (!rx->p[k].u)
            abort();
    }
    for (int k = 0; k < 2; k++) {
        proto_t *p = &rx->p[k];
        int rc = open_sock(p);
        if (rc < 0) {
            fprintf(stderr, "netrx: cannot bind 127.0.0.1:%d (%s): %s\n", p->port, p->name,
                    strerror(-rc));
            netrx_rx_free(rx);
            return NULL;
        }
    }
    *artnet_port = rx->p[NETRX_ARTNET].port;
    *sacn_port = rx->p[NETRX_SACN].port;
    return rx;
}

/* Steps from the expected sequence number to got, in a ring of `size`
 * values starting at `low`. */
static unsigned seq_steps(uint8_t expect, uint8_t got, unsigned low, unsigned size)
{
    return ((unsigned)got - low + size - ((unsigned)expect - low)) % size;
}

static void on_dmx(netrx_rx_t *rx, proto_t *p, int artnet, const netrx_dmx_t *d, uint64_t now)
{
    if (d->universe < 1 || d->universe > rx->n) {
        if (rx->counting)
            p->unexpected++;
        return;
    }
    uni_t *u = &p->u[d->universe - 1];
    int count = rx->counting;

    if (count) {
        p->dmx++;
        if (u->first_ns == 0)
            u->first_ns = now;
        u->last_ns = now;
        u->count++;
        if (d->nslots != NETRX_SLOTS)
            p->short_pkts++;
        if (d->options & 0x40)
            p->terminated++;
    }
    if (u->seen) {
        uint8_t expect = artnet ? (uint8_t)(u->seq == 255 ? 1 : u->seq + 1) : (uint8_t)(u->seq + 1);
        unsigned steps =
            artnet ? seq_steps(expect, d->seq, 1, 255) : seq_steps(expect, d->seq, 0, 256);
        if (steps >= 128) { /* behind: old or repeated; keep the newer state */
            if (count)
                p->out_of_order++;
            return;
        }
        if (count)
            p->lost += steps;
        if (count && u->nslots == d->nslots && !(d->options & 0x40)) {
            size_t same = 0;
            for (size_t s = 0; s < d->nslots; s++)
                same += u->slots[s] == d->slots[s];
            p->unchanged_slots += same;
            p->pkts_unchanged += same > 0;
        }
    }
    u->seen = 1;
    u->seq = d->seq;
    u->nslots = d->nslots;
    memcpy(u->slots, d->slots, d->nslots);
}

static void drain(netrx_rx_t *rx, int k)
{
    proto_t *p = &rx->p[k];

    for (int rounds = 0; rounds < 64; rounds++) {
        for (int i = 0; i < BATCH; i++) {
            rx->iov[i].iov_base = rx->bufs[i];
            rx->iov[i].iov_len = DGRAM_MAX;
            memset(&rx->msgs[i].msg_hdr, 0, sizeof(rx->msgs[i].msg_hdr));
            rx->msgs[i].msg_hdr.msg_iov = &rx->iov[i];
            rx->msgs[i].msg_hdr.msg_iovlen = 1;
            rx->msgs[i].msg_hdr.msg_control = rx->ctl[i];
            rx->msgs[i].msg_hdr.msg_controllen = CMSG_BYTES;
        }
        int got = recvmmsg(p->fd, rx->msgs, BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0)
            return;
        uint64_t now = netrx_now_ns();
        for (int i = 0; i < got; i++) {
            struct msghdr *h = &rx->msgs[i].msg_hdr;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
                    memcpy(&p->drops_now, CMSG_DATA(c), sizeof(uint32_t));
            netrx_dmx_t d;
            const uint8_t *b = rx->bufs[i];
            size_t len = rx->msgs[i].msg_len;
            netrx_kind_t kind =
                k == NETRX_ARTNET ? netrx_parse_artnet(b, len, &d) : netrx_parse_e131(b, len, &d);
            if (rx->counting) {
                p->packets++;
                p->other += kind == NETRX_PKT_OTHER;
                p->malformed += kind == NETRX_PKT_MALFORMED;
            }
            if (kind == NETRX_PKT_DMX)
                on_dmx(rx, p, k == NETRX_ARTNET, &d, now);
        }
        if (got < BATCH)
            return;
    }
}

void netrx_rx_run(netrx_rx_t *rx, uint64_t until_ns)
{
    struct pollfd pf[2] = {{.fd = rx->p[0].fd, .events = POLLIN},
                           {.fd = rx->p[1].fd, .events = POLLIN}};
    for (;;) {
        uint64_t now = netrx_now_ns();
        if (now >= until_ns)
            break;
        uint64_t left_ms = (until_ns - now) / 1000000u + 1;
        int rc = poll(pf, 2, (int)(left_ms < 50 ? left_ms : 50));
        if (rc < 0 && errno != EINTR)
            break;
        for (int k = 0; k < 2; k++)
            if (pf[k].revents & POLLIN)
                drain(rx, k);
    }
}

void netrx_rx_count(netrx_rx_t *rx, int on)
{
    /* What is already queued belongs to before the switch. */
    drain(rx, NETRX_ARTNET);
    drain(rx, NETRX_SACN);
    rx->counting = on;
    if (on) {
        rx->t_on = netrx_now_ns();
        for (int k = 0; k < 2; k++) {
            rx->p[k].drops_at_start = rx->p[k].drops_now;
            for (int i = 0; i < rx->n; i++) {
                rx->p[k].u[i].first_ns = rx->p[k].u[i].last_ns = 0;
                rx->p[k].u[i].count = 0;
            }
        }
    } else {
        rx->t_off = netrx_now_ns();
    }
}

/* Packets the clock should have produced for each universe between its
 * first and last packet in the window, and how many universes never came. */
static void clock_expect(const netrx_rx_t *rx, const proto_t *p, uint64_t *expect, int *seen)
{
    *expect = 0;
    *seen = 0;
    for (int i = 0; i < rx->n; i++) {
        const uni_t *u = &p->u[i];
        if (u->count == 0)
            continue;
        (*seen)++;
        *expect += (uint64_t)llround((double)(u->last_ns - u->first_ns) * rx->fps / 1e9) + 1;
    }
}

static uint64_t missing(const netrx_rx_t *rx, const proto_t *p)
{
    uint64_t expect;
    int seen;
    clock_expect(rx, p, &expect, &seen);
    double window_s = (double)(rx->t_off - rx->t_on) / 1e9;
    /* A universe that never came misses the whole window. */
    expect += (uint64_t)llround(window_s * rx->fps) * (uint64_t)(rx->n - seen);
    return expect > p->dmx ? expect - p->dmx : 0;
}

uint64_t netrx_rx_lost(const netrx_rx_t *rx)
{
    uint64_t n = 0;
    for (int k = 0; k < 2; k++)
        n += rx->p[k].lost + missing(rx, &rx->p[k]);
    return n;
}

json_t *netrx_rx_json(const netrx_rx_t *rx)
{
    json_t *j = json_object();
    double window_s = (double)(rx->t_off - rx->t_on) / 1e9;

    json_object_set_new(j, "window_s", json_real(window_s));
    for (int k = 0; k < 2; k++) {
        const proto_t *p = &rx->p[k];
        uint64_t expect;
        int seen;
        clock_expect(rx, p, &expect, &seen);
        uint64_t miss = missing(rx, p);
        json_t *o = json_object();
        json_object_set_new(o, "port", json_integer(p->port));
        json_object_set_new(o, "rcvbuf_bytes", json_integer(p->rcvbuf));
        json_object_set_new(o, "datagrams", json_integer((json_int_t)p->packets));
        json_object_set_new(o, "dmx_packets", json_integer((json_int_t)p->dmx));
        json_object_set_new(o, "dmx_per_s",
                            json_real(window_s > 0 ? (double)p->dmx / window_s : 0));
        json_object_set_new(o, "other", json_integer((json_int_t)p->other));
        json_object_set_new(o, "malformed", json_integer((json_int_t)p->malformed));
        json_object_set_new(o, "unexpected_universe", json_integer((json_int_t)p->unexpected));
        json_object_set_new(o, "universes_seen", json_integer(seen));
        json_object_set_new(o, "lost_seq", json_integer((json_int_t)p->lost));
        json_object_set_new(o, "out_of_order", json_integer((json_int_t)p->out_of_order));
        json_object_set_new(o, "expected_by_clock", json_integer((json_int_t)(p->dmx + miss)));
        json_object_set_new(o, "missing_vs_clock", json_integer((json_int_t)miss));
        json_object_set_new(o, "socket_drops",
                            json_integer((json_int_t)(uint32_t)(p->drops_now - p->drops_at_start)));
        json_object_set_new(o, "unchanged_slots", json_integer((json_int_t)p->unchanged_slots));
        json_object_set_new(o, "packets_with_unchanged_slots",
                            json_integer((json_int_t)p->pkts_unchanged));
        json_object_set_new(o, "short_packets", json_integer((json_int_t)p->short_pkts));
        json_object_set_new(o, "terminated", json_integer((json_int_t)p->terminated));
        json_object_set_new(j, p->name, o);
    }
    return j;
}

void netrx_rx_free(netrx_rx_t *rx)
{
    if (!rx)
        return;
    for (int k = 0; k < 2; k++) {
        if (rx->p[k].fd >= 0)
            close(rx->p[k].fd);
        free(rx->p[k].u);
    }
    free(rx);
}
