/* bench/netrx_tx.c - the floor sender: the hub's wire pattern, nothing else.
 *
 * One thread wakes on absolute CLOCK_MONOTONIC deadlines every 1/fps s
 * (clock_nanosleep, as the hub's output thread does), writes a moving
 * pattern into every slot of every universe, builds one ArtDmx and one
 * E1.31 packet per universe and sends each protocol's batch with sendmmsg
 * from its own socket (4 MiB SO_SNDBUF, as the hub). A tick a whole period
 * late is skipped, as the hub does. Its lateness (exact, every tick) and
 * its CPU time over the window are the floor for the hub's figures.
 */
#include "netrx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SNDBUF   (4 << 20)
#define MMSG_MAX 1024

struct netrx_tx {
    pthread_t thread;
    int fds[2];
    struct sockaddr_in to[2];
    int n;
    uint64_t period_ns;
    atomic_int stop, measuring;
    /* Sender thread, read after join. */
    uint64_t *late_ns; /* per measured tick */
    size_t nlate, caplate;
    uint64_t ticks, skipped, send_errors;
    /* Main thread: the sender's CPU clock around the window. */
    clockid_t cpu_clock;
    uint64_t cpu_on_ns, cpu_off_ns, mono_on_ns, mono_off_ns;
    uint8_t *pool[2]; /* n packets per protocol */
    struct mmsghdr *msgs;
    struct iovec *iov;
};

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void send_all(netrx_tx_t *tx, int k, size_t len)
{
    for (int i = 0; i < tx->n;) {
        int m = tx->n - i > MMSG_MAX ? MMSG_MAX : tx->n - i;
        for (int j = 0; j < m; j++) {
            tx->iov[j].iov_base = tx->pool[k] + (size_t)(i + j) * len;
            tx->iov[j].iov_len = len;
            memset(&tx->msgs[j], 0, sizeof(tx->msgs[j]));
            tx->msgs[j].msg_hdr.msg_name = &tx->to[k];
            tx->msgs[j].msg_hdr.msg_namelen = sizeof(tx->to[k]);
            tx->msgs[j].msg_hdr.msg_iov = &tx->iov[j];
            tx->msgs[j].msg_hdr.msg_iovlen = 1;
        }
        int r = sendmmsg(tx->fds[k], tx->msgs, (unsigned)m, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            tx->send_errors++;
            i++;
            continue;
        }
        i += r;
    }
}

static void *run(void *arg)
{
    netrx_tx_t *tx = arg;
    static const uint8_t cid[16] = {0x6e, 0x65, 0x74, 0x72, 0x78, 0x2d, 0x66, 0x6c,
                                    0x6f, 0x6f, 0x72, 0x00, 0x00, 0x00, 0x00, 0x01};
    uint8_t slots[NETRX_SLOTS];
    uint8_t art_seq = 0, sacn_seq = 0;
    uint64_t deadline = clock_ns(CLOCK_MONOTONIC);

    while (!atomic_load(&tx->stop)) {
        /* Same sequence for every universe: they all move together. */
        art_seq = art_seq == 255 ? 1 : (uint8_t)(art_seq + 1);
        sacn_seq++;
        for (int u = 1; u <= tx->n; u++) {
            for (int s = 0; s < NETRX_SLOTS; s++)
                slots[s] = (uint8_t)(tx->ticks * 3 + (uint64_t)s + (uint64_t)u * 7);
            netrx_build_artdmx(tx->pool[NETRX_ARTNET] + (size_t)(u - 1) * NETRX_ARTDMX_LEN, u,
                               art_seq, slots);
            netrx_build_e131(tx->pool[NETRX_SACN] + (size_t)(u - 1) * NETRX_E131_LEN, cid, u,
                             sacn_seq, slots);
        }
        send_all(tx, NETRX_ARTNET, NETRX_ARTDMX_LEN);
        send_all(tx, NETRX_SACN, NETRX_E131_LEN);
        tx->ticks++;
        deadline += tx->period_ns;
        uint64_t now = clock_ns(CLOCK_MONOTONIC);
        if (now > deadline + tx->period_ns) {
            tx->skipped += (now - deadline) / tx->period_ns;
            deadline = now;
            continue;
        }
        struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        now = clock_ns(CLOCK_MONOTONIC);
        if (atomic_load(&tx->measuring) && tx->nlate < tx->caplate)
            tx->late_ns[tx->nlate++] = now > deadline ? now - deadline : 0;
    }
    return NULL;
}

netrx_tx_t *netrx_tx_start(int artnet_port, int sacn_port, int universes, double fps)
{
    netrx_tx_t *tx = calloc(1, sizeof(*tx));
    if (!tx)
        abort();
    int ports[2] = {artnet_port, sacn_port}, size = SNDBUF;
    tx->n = universes;
    tx->period_ns = (uint64_t)(1e9 / fps);
    tx->caplate = (size_t)(fps * 7200) + 16;
    tx->late_ns = calloc(tx->caplate, sizeof(uint64_t));
    tx->pool[NETRX_ARTNET] = malloc((size_t)universes * NETRX_ARTDMX_LEN);
    tx->pool[NETRX_SACN] = malloc((size_t)universes * NETRX_E131_LEN);
    tx->msgs = calloc(MMSG_MAX, sizeof(*tx->msgs));
    tx->iov = calloc(MMSG_MAX, sizeof(*tx->iov));
    if (!tx->late_ns || !tx->pool[0] || !tx->pool[1] || !tx->msgs || !tx->iov)
        abort();
    for (int k = 0; k < 2; k++) {
        tx->fds[k] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (tx->fds[k] < 0) {
            fprintf(stderr, "netrx: socket: %s\n", strerror(errno));
            exit(1);
        }
        setsockopt(tx->fds[k], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        tx->to[k].sin_family = AF_INET;
        tx->to[k].sin_port = htons((uint16_t)ports[k]);
        tx->to[k].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    if (pthread_create(&tx->thread, NULL, run, tx) != 0 ||
        pthread_getcpuclockid(tx->thread, &tx->cpu_clock) != 0) {
        fprintf(stderr, "netrx: cannot start the sender thread\n");
        exit(1);
    }
    return tx;
}

void netrx_tx_mark(netrx_tx_t *tx, int on)
{
    if (on) {
        tx->cpu_on_ns = clock_ns(tx->cpu_clock);
        tx->mono_on_ns = clock_ns(CLOCK_MONOTONIC);
    } else {
        tx->cpu_off_ns = clock_ns(tx->cpu_clock);
        tx->mono_off_ns = clock_ns(CLOCK_MONOTONIC);
    }
    atomic_store(&tx->measuring, on);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

json_t *netrx_tx_stop(netrx_tx_t *tx)
{
    atomic_store(&tx->stop, 1);
    pthread_join(tx->thread, NULL);
    qsort(tx->late_ns, tx->nlate, sizeof(uint64_t), cmp_u64);
    size_t le300 = 0, le1ms = 0;
    for (size_t i = 0; i < tx->nlate; i++) {
        le300 += tx->late_ns[i] <= 300000;
        le1ms += tx->late_ns[i] <= 1000000;
    }
    double wall_s = (double)(tx->mono_off_ns - tx->mono_on_ns) / 1e9;
    double n = tx->nlate ? (double)tx->nlate : 1;
    json_t *j = json_pack(
        "{s:I,s:I,s:I,s:f,s:{s:I,s:f,s:f,s:f,s:f,s:f,s:f}}", "ticks", (json_int_t)tx->ticks,
        "ticks_skipped", (json_int_t)tx->skipped, "send_errors", (json_int_t)tx->send_errors,
        "thread_cpu_pct",
        wall_s > 0 ? (double)(tx->cpu_off_ns - tx->cpu_on_ns) / 1e7 / wall_s : 0.0, "lateness",
        "ticks", (json_int_t)tx->nlate, "p50_us", pct_us(tx->late_ns, tx->nlate, 50), "p99_us",
        pct_us(tx->late_ns, tx->nlate, 99), "p999_us", pct_us(tx->late_ns, tx->nlate, 99.9),
        "max_us", tx->nlate ? (double)tx->late_ns[tx->nlate - 1] / 1000.0 : 0.0, "frac_le_300us",
        (double)le300 / n, "frac_le_1ms", (double)le1ms / n);
    for (int k = 0; k < 2; k++) {
        close(tx->fds[k]);
        free(tx->pool[k]);
    }
    free(tx->late_ns);
    free(tx->msgs);
    free(tx->iov);
    free(tx);
    return j;
}
