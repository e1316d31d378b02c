/* output/udp.h - a UDP socket that sends a tick's packets in few syscalls.
 *
 * Art-Net and sACN send one packet per universe per target per tick: 256
 * universes to two targets is 512 packets, 44 times a second. Packets are
 * copied into a batch and sent with sendmmsg(2), up to 1024 per call.
 * Output thread only.
 */
#ifndef HUB_OUTPUT_UDP_H
#define HUB_OUTPUT_UDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hub_udp {
    int fd;
    unsigned char *pool; /* the batch's packet bytes */
    size_t used, cap;
    struct {
        struct sockaddr_in to;
        size_t off, len;
        int tag;
    } * pkts;
    size_t n, capn;
} hub_udp_t;

/* A socket for sending (broadcast allowed, multicast TTL 1 looped back,
 * a large send buffer). Returns 0 or -errno. */
int hub_udp_open(hub_udp_t *u);
/* Bind a socket of its own for receiving (ArtPoll), non-blocking. */
int hub_udp_listen(int *fd, const struct sockaddr_in *at);
void hub_udp_close(hub_udp_t *u);
/* Copy one packet for `to` into the batch; tag comes back on error. */
void hub_udp_add(hub_udp_t *u, const struct sockaddr_in *to, const void *pkt, size_t len, int tag);
/* Send the batch; calls on_error(ud, tag, errno) for each packet that
 * failed. Returns the packets sent. */
size_t hub_udp_flush(hub_udp_t *u, void (*on_error)(void *ud, int tag, int err), void *ud);

#endif
