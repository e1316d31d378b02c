/* output/udp.c - batched UDP sends (see udp.h). */
#include "output/udp.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/mem.h"

#define SNDBUF_BYTES (4 << 20)
#define MMSG_MAX     1024

int hub_udp_open(hub_udp_t *u)
{
    int one = 1, ttl = 1, sndbuf = SNDBUF_BYTES;

    memset(u, 0, sizeof(*u));
    u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (u->fd < 0)
        return -errno;
    /* 255.255.255.255 is Art-Net's default target; multicast is sACN's. */
    setsockopt(u->fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
    setsockopt(u->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
    setsockopt(u->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one));
    setsockopt(u->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    return 0;
}

int hub_udp_listen(int *fd, const struct sockaddr_in *at)
{
    int one = 1;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -errno;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
    if (bind(s, (const struct sockaddr *)at, sizeof(*at)) != 0) {
        int e = -errno;
        close(s);
        return e;
    }
    *fd = s;
    return 0;
}

void hub_udp_close(hub_udp_t *u)
{
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    hub_free(u->pool);
    hub_free(u->pkts);
    u->pool = NULL;
    u->pkts = NULL;
    u->n = u->capn = u->used = u->cap = 0;
}

void hub_udp_add(hub_udp_t *u, const struct sockaddr_in *to, const void *pkt, size_t len, int tag)
{
    if (u->used + len > u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 64 * 1024;
        while (cap < u->used + len)
            cap *= 2;
        u->pool = hub_realloc(u->pool, cap);
        u->cap = cap;
    }
    if (u->n == u->capn) {
        u->capn = u->capn ? u->capn * 2 : 128;
        u->pkts = hub_realloc(u->pkts, u->capn * sizeof(*u->pkts));
    }
    memcpy(u->pool + u->used, pkt, len);
    u->pkts[u->n].to = *to;
    u->pkts[u->n].off = u->used;
    u->pkts[u->n].len = len;
    u->pkts[u->n].tag = tag;
    u->n++;
    u->used += len;
}

size_t hub_udp_flush(hub_udp_t *u, void (*on_error)(void *ud, int tag, int err), void *ud)
{
    struct mmsghdr msgs[MMSG_MAX];
    struct iovec iov[MMSG_MAX];
    size_t i = 0, sent = 0;

    while (i < u->n) {
        size_t k = u->n - i > MMSG_MAX ? MMSG_MAX : u->n - i;
        for (size_t j = 0; j < k; j++) {
            iov[j].iov_base = u->pool + u->pkts[i + j].off;
            iov[j].iov_len = u->pkts[i + j].len;
            memset(&msgs[j], 0, sizeof(msgs[j]));
            msgs[j].msg_hdr.msg_name = &u->pkts[i + j].to;
            msgs[j].msg_hdr.msg_namelen = sizeof(u->pkts[i + j].to);
            msgs[j].msg_hdr.msg_iov = &iov[j];
            msgs[j].msg_hdr.msg_iovlen = 1;
        }
        int r = sendmmsg(u->fd, msgs, (unsigned)k, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* The first packet failed: report it and go on with the rest. */
            if (on_error != NULL)
                on_error(ud, u->pkts[i].tag, errno);
            i++;
            continue;
        }
        sent += (size_t)r;
        i += (size_t)r;
    }
    u->n = 0;
    u->used = 0;
    return sent;
}
