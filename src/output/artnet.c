/* output/artnet.c - Art-Net output over output/udp.c (see artnet.h). */
#include "output/artnet.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "output/artnet_pkt.h"
#include "output/udp.h"

struct hub_artnet {
    hub_udp_t udp;
    hub_target_t *targets;
    size_t ntargets;
    int sync;
    int listen_fd; /* -1: not listening */
    char short_name[18], long_name[64];
    size_t queued;     /* universes in the batch (an ArtDmx to each target) */
    uint8_t *failed;   /* per target, this flush */
    size_t dmx_failed; /* ArtDmx packets that failed, this flush */
    hub_output_report_t report;
    hub_metric_t *m_polls;
};

int hub_artnet_new(hub_artnet_t **out, const hub_artnet_cfg_t *cfg, hub_metrics_t *metrics,
                   char *err, size_t errlen)
{
    hub_artnet_t *a = hub_calloc(1, sizeof(*a));
    int rc;

    a->listen_fd = -1;
    rc = hub_udp_open(&a->udp);
    if (rc < 0) {
        snprintf(err, errlen, "Art-Net output: cannot open a UDP socket: %s", strerror(-rc));
        hub_free(a);
        return rc;
    }
    if (cfg->listen != NULL) {
        rc = hub_udp_listen(&a->listen_fd, &cfg->listen->sin);
        if (rc < 0) {
            snprintf(err, errlen,
                     "DMX_ARTNET_LISTEN: cannot listen on %s: %s; is another Art-Net node (olad?) "
                     "using the port? Set DMX_ARTNET_LISTEN=false or another address",
                     cfg->listen->text, strerror(-rc));
            hub_udp_close(&a->udp);
            hub_free(a);
            return rc;
        }
    }
    a->ntargets = cfg->ntargets;
    a->targets = hub_calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*a->targets));
    a->failed = hub_calloc(cfg->ntargets ? cfg->ntargets : 1, 1);
    for (size_t i = 0; i < cfg->ntargets; i++)
        a->targets[i].addr = cfg->targets[i];
    a->sync = cfg->sync;
    snprintf(a->short_name, sizeof(a->short_name), "%s",
             cfg->short_name ? cfg->short_name : "showhub");
    snprintf(a->long_name, sizeof(a->long_name), "%s", cfg->long_name ? cfg->long_name : "showhub");
    a->report.proto = "artnet";
    a->report.m_errors = hub_metrics_counter_labeled(metrics, "dmx_output_errors_total",
                                                     "DMX output packets that could not be sent",
                                                     "proto=\"artnet\"");
    a->m_polls = hub_metrics_counter(metrics, "dmx_artnet_polls_total", "ArtPolls answered");
    *out = a;
    return 0;
}

void hub_artnet_set_events(hub_artnet_t *a, hub_output_event_fn fn, void *ud)
{
    a->report.event = fn;
    a->report.event_ud = ud;
}

void hub_artnet_add(hub_artnet_t *a, int universe, uint8_t sequence, const uint8_t slots[512])
{
    uint8_t pkt[HUB_ARTDMX_LEN];
    int pa = hub_artnet_port_address(universe);

    if (pa < 0)
        return;
    size_t n = hub_artnet_build_dmx(pkt, (uint16_t)pa, sequence, 0, slots);
    for (size_t i = 0; i < a->ntargets; i++)
        hub_udp_add(&a->udp, &a->targets[i].addr.sin, pkt, n, (int)i);
    a->queued++;
}

/* Tags: target i for its ArtDmx, ntargets + i for its ArtSync. */
static void on_error(void *ud, int tag, int err)
{
    hub_artnet_t *a = ud;
    if (tag < 0 || (size_t)tag >= 2 * a->ntargets)
        return;
    size_t t = (size_t)tag % a->ntargets;
    if ((size_t)tag < a->ntargets)
        a->dmx_failed++;
    a->failed[t] = 1;
    hub_output_error(&a->report, &a->targets[t], err);
}

size_t hub_artnet_flush(hub_artnet_t *a)
{
    size_t n = a->queued * a->ntargets;

    if (a->queued == 0)
        return 0;
    if (a->sync) {
        uint8_t pkt[HUB_ARTSYNC_LEN];
        size_t len = hub_artnet_build_sync(pkt);
        for (size_t i = 0; i < a->ntargets; i++)
            hub_udp_add(&a->udp, &a->targets[i].addr.sin, pkt, len, (int)(a->ntargets + i));
    }
    memset(a->failed, 0, a->ntargets);
    a->dmx_failed = 0;
    hub_udp_flush(&a->udp, on_error, a);
    for (size_t i = 0; i < a->ntargets; i++)
        if (!a->failed[i])
            hub_output_ok(&a->report, &a->targets[i]);
    a->queued = 0;
    return n - a->dmx_failed;
}

/* Our address as the poller sees it: the source address of a route to it. */
static void local_ip(const struct sockaddr_in *peer, uint8_t ip[4])
{
    struct sockaddr_in me;
    socklen_t len = sizeof(me);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    memset(ip, 0, 4);
    if (fd < 0)
        return;
    if (connect(fd, (const struct sockaddr *)peer, sizeof(*peer)) == 0 &&
        getsockname(fd, (struct sockaddr *)&me, &len) == 0)
        memcpy(ip, &me.sin_addr.s_addr, 4);
    close(fd);
}

void hub_artnet_poll(hub_artnet_t *a, const int *universes, size_t n)
{
    uint8_t in[1024], reply[HUB_ARTPOLLREPLY_LEN];
    struct sockaddr_in from;
    socklen_t flen;

    if (a->listen_fd < 0)
        return;
    for (int k = 0; k < 16; k++) { /* a few per tick: a poll storm cannot starve output */
        flen = sizeof(from);
        ssize_t got = recvfrom(a->listen_fd, in, sizeof(in), 0, (struct sockaddr *)&from, &flen);
        if (got < 0)
            return;
        if (!hub_artnet_is_poll(in, (size_t)got))
            continue;
        uint16_t lo = 0, hi = 0x7FFF;
        int targeted = hub_artnet_poll_target(in, (size_t)got, &lo, &hi);
        hub_artnet_node_t node;
        memset(&node, 0, sizeof(node));
        local_ip(&from, node.ip);
        node.short_name = a->short_name;
        node.long_name = a->long_name;
        node.node_report = "#0001 [0000] showhub ok";
        node.esta_man = HUB_ARTNET_ESTA_PROTOTYPE;
        uint8_t bind = 1;
        /* Art-Net 4: the reply goes to the poller (unicast), one per port. */
        for (size_t i = 0; i < n && bind != 0; i++) {
            int pa = hub_artnet_port_address(universes[i]);
            if (pa < 0)
                continue;
            uint8_t b = bind++; /* a port keeps its BindIndex in a targeted reply */
            if (targeted && (pa < lo || pa > hi))
                continue;
            size_t len = hub_artnet_build_poll_reply(reply, &node, (uint16_t)pa, b);
            if (len > 0)
                hub_udp_add(&a->udp, &from, reply, len, -1);
        }
        hub_udp_flush(&a->udp, NULL, NULL);
        hub_metric_inc(a->m_polls);
    }
}

void hub_artnet_free(hub_artnet_t *a)
{
    if (a == NULL)
        return;
    hub_udp_close(&a->udp);
    if (a->listen_fd >= 0)
        close(a->listen_fd);
    hub_free(a->targets);
    hub_free(a->failed);
    hub_free(a);
}
