/* output/sacn.c - sACN output over output/udp.c (see sacn.h). */
#include "output/sacn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/uuid.h"
#include "output/sacn_pkt.h"
#include "output/udp.h"

#define CID_FILE "sacn.cid"

struct hub_sacn {
    hub_udp_t udp;
    hub_target_t *targets;
    size_t ntargets; /* 0: multicast */
    uint8_t cid[16];
    char cid_text[HUB_UUID_LEN + 1];
    char name[256]; /* the packet builder cuts it at 63 bytes, on a character boundary */
    int priority;
    uint8_t *failed;
    size_t queued;
    hub_output_report_t report;
    hub_target_t mcast; /* the multicast "target", for error reports */
};

/* Read <dir>/sacn.cid, or make a new CID and write it (temp file, fsync,
 * rename) so a crash never leaves half a file. */
static int load_cid(const char *dir, uint8_t cid[16], char *err, size_t errlen)
{
    char path[1024], tmp[1040], text[64];
    FILE *f;

    snprintf(path, sizeof(path), "%s/" CID_FILE, dir);
    f = fopen(path, "r");
    if (f != NULL) {
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
            n--;
        if (hub_uuid_parse(text, n, cid) == 0)
            return 0;
        snprintf(err, errlen,
                 "%s does not hold a UUID; delete it to make a new sACN CID (receivers will see a "
                 "new source)",
                 path);
        return HUB_EINVAL;
    }
    if (errno != ENOENT) { /* there, but unreadable: replacing it would be a new source */
        snprintf(err, errlen,
                 "cannot read the sACN CID in %s: %s; fix its permissions (it must stay the "
                 "same: receivers know the source by it)",
                 path, strerror(errno));
        return HUB_EINVAL;
    }
    hub_uuid_v4(cid);
    hub_uuid_format(cid, text);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
        write(fd, "\n", 1) != 1 || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write the sACN CID to %s: %s; check DMX_DATA_DIR", path,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return HUB_EINVAL;
    }
    hub_log(HUB_LOG_INFO, "sacn_cid_created", "{s:s,s:s}", "cid", text, "path", path);
    return 0;
}

int hub_sacn_new(hub_sacn_t **out, const hub_sacn_cfg_t *cfg, hub_metrics_t *metrics, char *err,
                 size_t errlen)
{
    hub_sacn_t *s = hub_calloc(1, sizeof(*s));
    int rc;

    rc = load_cid(cfg->data_dir, s->cid, err, errlen);
    if (rc < 0) {
        hub_free(s);
        return rc;
    }
    hub_uuid_format(s->cid, s->cid_text);
    rc = hub_udp_open(&s->udp);
    if (rc < 0) {
        snprintf(err, errlen, "sACN output: cannot open a UDP socket: %s", strerror(-rc));
        hub_free(s);
        return rc;
    }
    s->ntargets = cfg->ntargets;
    s->targets = hub_calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*s->targets));
    s->failed = hub_calloc(cfg->ntargets ? cfg->ntargets : 1, 1);
    for (size_t i = 0; i < cfg->ntargets; i++)
        s->targets[i].addr = cfg->targets[i];
    snprintf(s->mcast.addr.text, sizeof(s->mcast.addr.text), "multicast 239.255.x.x:5568");
    snprintf(s->name, sizeof(s->name), "%s", cfg->source_name ? cfg->source_name : "showhub");
    s->priority = cfg->priority;
    s->report.proto = "sacn";
    s->report.m_errors =
        hub_metrics_counter_labeled(metrics, "dmx_output_errors_total",
                                    "DMX output packets that could not be sent", "proto=\"sacn\"");
    *out = s;
    return 0;
}

void hub_sacn_set_events(hub_sacn_t *s, hub_output_event_fn fn, void *ud)
{
    s->report.event = fn;
    s->report.event_ud = ud;
}

const char *hub_sacn_cid(const hub_sacn_t *s)
{
    return s->cid_text;
}

static void dest_group(uint16_t universe, struct sockaddr_in *to)
{
    uint8_t ip[4];
    memset(to, 0, sizeof(*to));
    to->sin_family = AF_INET;
    to->sin_port = htons(HUB_SACN_PORT);
    hub_sacn_multicast_addr(universe, ip);
    memcpy(&to->sin_addr.s_addr, ip, 4);
}

static void queue(hub_sacn_t *s, uint16_t universe, const uint8_t *pkt, size_t len)
{
    if (s->ntargets == 0) {
        struct sockaddr_in to;
        dest_group(universe, &to);
        hub_udp_add(&s->udp, &to, pkt, len, -2);
        return;
    }
    for (size_t i = 0; i < s->ntargets; i++)
        hub_udp_add(&s->udp, &s->targets[i].addr.sin, pkt, len, (int)i);
}

void hub_sacn_add(hub_sacn_t *s, int universe, uint8_t sequence, uint8_t options,
                  const uint8_t slots[512])
{
    uint8_t pkt[HUB_SACN_DATA_LEN];

    if (universe < 1 || universe > HUB_SACN_MAX_UNIVERSE)
        return;
    size_t n = hub_sacn_build_data(pkt, s->cid, s->name, (uint8_t)s->priority, 0, sequence, options,
                                   (uint16_t)universe, slots);
    if (n == 0)
        return;
    queue(s, (uint16_t)universe, pkt, n);
    s->queued++;
}

static void on_error(void *ud, int tag, int err)
{
    hub_sacn_t *s = ud;
    if (tag == -2) {
        hub_output_error(&s->report, &s->mcast, err);
    } else if (tag >= 0 && (size_t)tag < s->ntargets) {
        s->failed[tag] = 1;
        hub_output_error(&s->report, &s->targets[tag], err);
    }
}

size_t hub_sacn_flush(hub_sacn_t *s)
{
    size_t n = s->queued;
    if (s->udp.n == 0)
        return 0;
    memset(s->failed, 0, s->ntargets ? s->ntargets : 1);
    hub_udp_flush(&s->udp, on_error, s);
    for (size_t i = 0; i < s->ntargets; i++)
        if (!s->failed[i])
            hub_output_ok(&s->report, &s->targets[i]);
    s->queued = 0;
    return n;
}

void hub_sacn_discovery(hub_sacn_t *s, const int *universes, size_t n)
{
    uint16_t list[512];
    uint8_t pkt[HUB_SACN_DISCOVERY_MAX_LEN];
    size_t valid = 0, pages;

    for (size_t i = 0; i < n; i++)
        if (universes[i] >= 1 && universes[i] <= HUB_SACN_MAX_UNIVERSE)
            valid++;
    pages = valid == 0 ? 1 : (valid + 511) / 512;
    size_t k = 0;
    for (size_t page = 0; page < pages && page < 256; page++) {
        size_t m = 0;
        while (k < n && m < 512) {
            if (universes[k] >= 1 && universes[k] <= HUB_SACN_MAX_UNIVERSE)
                list[m++] = (uint16_t)universes[k];
            k++;
        }
        size_t len = hub_sacn_build_discovery(pkt, sizeof(pkt), s->cid, s->name, (uint8_t)page,
                                              (uint8_t)(pages - 1), list, m);
        if (len == 0)
            continue;
        queue(s, HUB_SACN_DISCOVERY_UNIVERSE, pkt, len);
    }
    hub_sacn_flush(s);
}

void hub_sacn_free(hub_sacn_t *s)
{
    if (s == NULL)
        return;
    hub_udp_close(&s->udp);
    hub_free(s->targets);
    hub_free(s->failed);
    hub_free(s);
}
