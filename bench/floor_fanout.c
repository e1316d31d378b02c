/* bench/floor_fanout.c - fan-out floor: one message to N loopback readers.
 *
 * The parent listens on 127.0.0.1 and forks the receiver, which opens the N
 * connections itself (so each process holds only its own side: 10,000
 * readers need 10,000 descriptors per process, not 20,000 in one). The
 * parent accepts them and is the sender: TCP_NODELAY and SO_SNDBUF 128 KiB
 * on every socket, as showhub sets them. T sender threads each own a slice
 * of the sockets; round k is due at t0 + k / rate (open loop, absolute
 * sleeps) and each thread sends the same 80-byte message, which carries k
 * and that due time, to every socket of its slice.
 *
 * The receiver reads all N sockets with ONE epoll loop and non-blocking
 * recv, as a single-loop client does, and stamps every (round, reader)
 * receipt against the round's due time. It writes its histograms into a
 * MAP_SHARED page and exits; the parent reports after waitpid().
 *
 * Threading: the parent runs T sender threads after the accept phase; the
 * receiver process is single-threaded.
 */
#include "floor.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "lg_hist.h"

#define MSG_BYTES    80
#define SNDBUF_BYTES (128 * 1024)
#define START_NS     100000000ull /* t0 = go + 100 ms: every sender is asleep by then */

/* What the receiver hands back (MAP_SHARED, read by the parent after it exits). */
typedef struct fan_result {
    lg_hist_t lat;            /* receipt - due time, every (round, reader) pair */
    lg_hist_t last;           /* per complete round: last receipt - due time */
    uint64_t received;        /* messages received */
    uint64_t bad;             /* messages with a round number out of range */
    uint32_t rounds_complete; /* rounds every reader got */
    uint32_t closed;          /* connections closed under the receiver */
    double connect_s;         /* time to open the N connections */
    double cpu_s;             /* receiver CPU during the rounds */
    char failed[200];
} fan_result_t;

typedef struct reader {
    int fd;
    uint32_t fill;                 /* bytes of a split message in part */
    unsigned char part[MSG_BYTES]; /* a message split over two recv()s */
} reader_t;

typedef struct sender {
    pthread_t th;
    const floor_opts_t *o;
    const int *fds; /* not owned: a slice of the parent's sockets */
    int n;
    uint64_t t0_ns;
    lg_hist_t lag;        /* start of a round's sends - its due time */
    lg_hist_t span;       /* time to send one round to the whole slice */
    uint64_t send_errors; /* send() that did not take the whole message */
} sender_t;

static uint64_t due_ns(uint64_t t0, double rate, uint64_t k)
{
    return t0 + (uint64_t)((double)k * 1e9 / rate);
}

static void sleep_until(uint64_t at_ns)
{
    struct timespec ts = {(time_t)(at_ns / 1000000000ull), (long)(at_ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* ---- receiver process ------------------------------------------------ */

typedef struct recv_state {
    const floor_opts_t *o;
    fan_result_t *res;
    uint32_t *count;   /* per round: readers that got it */
    uint64_t *last_ns; /* per round: latest receipt - due time */
} recv_state_t;

static void on_message(recv_state_t *s, const unsigned char *msg, uint64_t now)
{
    uint64_t k, due;
    memcpy(&k, msg, sizeof(k));
    memcpy(&due, msg + 8, sizeof(due));
    if (k >= (uint64_t)s->o->rounds) {
        s->res->bad++;
        return;
    }
    uint64_t lat = now > due ? now - due : 0;
    lg_hist_add(&s->res->lat, lat);
    s->res->received++;
    s->count[k]++;
    if (lat > s->last_ns[k])
        s->last_ns[k] = lat;
}

/* Cut what one recv() returned into messages; a split one waits in part. */
static void on_bytes(recv_state_t *s, reader_t *r, const unsigned char *buf, size_t len,
                     uint64_t now)
{
    size_t off = 0;
    while (off < len) {
        size_t take = MSG_BYTES - r->fill;
        if (take > len - off)
            take = len - off;
        memcpy(r->part + r->fill, buf + off, take);
        r->fill += (uint32_t)take;
        off += take;
        if (r->fill == MSG_BYTES) {
            on_message(s, r->part, now);
            r->fill = 0;
        }
    }
}

static int recv_fail(fan_result_t *res, const char *what, int err)
{
    snprintf(res->failed, sizeof(res->failed), "receiver: %s: %s", what, strerror(err));
    return 1;
}

/* Open the N connections into ep; fd -1 marks those never opened.
 * Returns 0, or 1 with res->failed set. */
static int connect_readers(const floor_opts_t *o, uint16_t port, int ep, reader_t *rd,
                           fan_result_t *res)
{
    /* RST on close: 10,000 client ports must not sit in TIME_WAIT afterwards. */
    struct linger lin = {1, 0};
    uint64_t c0 = floor_now_ns();
    for (int i = 0; i < o->readers; i++) {
        rd[i].fd = floor_connect(port);
        if (rd[i].fd < 0) {
            char what[64];
            snprintf(what, sizeof(what), "connect %d of %d", i + 1, o->readers);
            return recv_fail(res, what, -rd[i].fd);
        }
        setsockopt(rd[i].fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
        fcntl(rd[i].fd, F_SETFL, fcntl(rd[i].fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, rd[i].fd, &ev) != 0)
            return recv_fail(res, "epoll_ctl", errno);
    }
    res->connect_s = (double)(floor_now_ns() - c0) / 1e9;
    return 0;
}

/* The measured phase: read until every message is in or the tail after the
 * last round's due time has passed. */
static void read_rounds(recv_state_t *s, int ep, reader_t *rd, uint64_t t0)
{
    const floor_opts_t *o = s->o;
    fan_result_t *res = s->res;
    uint64_t want = (uint64_t)o->readers * (uint64_t)o->rounds;
    uint64_t end = due_ns(t0, o->rate, (uint64_t)o->rounds - 1) + (uint64_t)(o->tail_s * 1e9);
    double cpu0 = floor_cpu_s();
    struct epoll_event evs[1024];
    unsigned char buf[16384];
    while (res->received + res->bad < want) {
        uint64_t now = floor_now_ns();
        if (now >= end)
            break;
        uint64_t left_ms = (end - now) / 1000000 + 1;
        int got = epoll_wait(ep, evs, 1024, left_ms < 100 ? (int)left_ms : 100);
        for (int i = 0; i < got; i++) {
            reader_t *r = &rd[evs[i].data.u32];
            ssize_t len = recv(r->fd, buf, sizeof(buf), 0);
            now = floor_now_ns();
            if (len > 0) {
                on_bytes(s, r, buf, (size_t)len, now);
            } else if (len == 0 || (errno != EAGAIN && errno != EINTR)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, r->fd, NULL);
                res->closed++;
            }
        }
    }
    res->cpu_s = floor_cpu_s() - cpu0;
    for (int k = 0; k < o->rounds; k++) {
        if (s->count[k] == (uint32_t)o->readers) {
            lg_hist_add(&res->last, s->last_ns[k]);
            res->rounds_complete++;
        }
    }
}

/* The receiver process: connect, signal ready, wait for t0, read. Returns
 * its exit status; what it measured is in res. */
static int run_receiver(const floor_opts_t *o, uint16_t port, int ready_w, int go_r,
                        fan_result_t *res)
{
    reader_t *rd = calloc((size_t)o->readers, sizeof(*rd));
    recv_state_t s = {o, res, calloc((size_t)o->rounds, sizeof(uint32_t)),
                      calloc((size_t)o->rounds, sizeof(uint64_t))};
    if (!rd || !s.count || !s.last_ns)
        abort(); /* OOM: STYLE.md, abort */
    for (int i = 0; i < o->readers; i++)
        rd[i].fd = -1;
    uint64_t t0;
    int rc = 1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        recv_fail(res, "epoll_create1", errno);
    } else if (connect_readers(o, port, ep, rd, res) == 0) {
        if (write(ready_w, "r", 1) != 1 || read_full(go_r, &t0, sizeof(t0)) != 0) {
            recv_fail(res, "sync with the sender", EPIPE);
        } else {
            read_rounds(&s, ep, rd, t0);
            rc = 0;
        }
    }
    for (int i = 0; i < o->readers; i++)
        if (rd[i].fd >= 0)
            close(rd[i].fd);
    if (ep >= 0)
        close(ep);
    free(rd);
    free(s.count);
    free(s.last_ns);
    return rc;
}

/* ---- sender (parent) ------------------------------------------------- */

static void *sender_main(void *arg)
{
    sender_t *s = arg;
    unsigned char msg[MSG_BYTES];
    memset(msg, 'x', sizeof(msg));
    for (uint64_t k = 0; k < (uint64_t)s->o->rounds; k++) {
        uint64_t due = due_ns(s->t0_ns, s->o->rate, k);
        sleep_until(due);
        uint64_t start = floor_now_ns();
        lg_hist_add(&s->lag, start > due ? start - due : 0);
        memcpy(msg, &k, sizeof(k));
        memcpy(msg + 8, &due, sizeof(due));
        for (int i = 0; i < s->n; i++) {
            if (send(s->fds[i], msg, sizeof(msg), MSG_NOSIGNAL) != (ssize_t)sizeof(msg))
                s->send_errors++;
        }
        lg_hist_add(&s->span, floor_now_ns() - start);
    }
    return NULL;
}

/* Accept the receiver's N connections; note its "ready" byte when it comes
 * (it may come before the last accept: connects finish in the backlog).
 * Returns 0, or 1 with failed set in out. */
static int accept_all(const floor_opts_t *o, int lfd, int ready_r, int *fds, json_t *out)
{
    int n = 0, ready = 0;
    int sndbuf = SNDBUF_BYTES;
    while (n < o->readers || !ready) {
        struct pollfd p[2] = {{ready ? -1 : ready_r, POLLIN, 0}, {lfd, POLLIN, 0}};
        int np = n < o->readers ? 2 : 1;
        if (poll(p, (nfds_t)np, 1000) < 0 && errno != EINTR)
            return floor_fail(out, "fanout: poll: %s", strerror(errno));
        if (!ready && (p[0].revents & (POLLIN | POLLHUP))) {
            char c;
            if (read(ready_r, &c, 1) != 1)
                return floor_fail(out, "fanout: receiver exited after %d of %d connections", n,
                                  o->readers);
            ready = 1;
        }
        if (np == 2 && (p[1].revents & POLLIN)) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0)
                return floor_fail(out, "fanout: accept %d of %d: %s", n + 1, o->readers,
                                  strerror(errno));
            if (floor_nodelay(fd) != 0 ||
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) != 0) {
                int err = errno;
                close(fd);
                return floor_fail(out, "fanout: setsockopt: %s", strerror(err));
            }
            fds[n++] = fd;
        }
    }
    return 0;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* Run T senders over the accepted sockets from t0; fill out with their
 * figures. */
static void send_rounds(const floor_opts_t *o, const int *fds, uint64_t t0, json_t *out)
{
    sender_t *snd = calloc((size_t)o->threads, sizeof(*snd));
    if (!snd)
        abort(); /* OOM: STYLE.md, abort */
    lg_hist_t lag, span;
    lg_hist_init(&lag);
    lg_hist_init(&span);
    double cpu0 = floor_cpu_s();
    for (int i = 0; i < o->threads; i++) {
        int lo = (int)((long)i * o->readers / o->threads);
        int hi = (int)((long)(i + 1) * o->readers / o->threads);
        snd[i] = (sender_t){.o = o, .fds = fds + lo, .n = hi - lo, .t0_ns = t0};
        lg_hist_init(&snd[i].lag);
        lg_hist_init(&snd[i].span);
        if (pthread_create(&snd[i].th, NULL, sender_main, &snd[i]) != 0) {
            fprintf(stderr, "floor: fanout: pthread_create failed\n");
            abort(); /* like OOM: the run cannot mean anything */
        }
    }
    uint64_t errors = 0;
    for (int i = 0; i < o->threads; i++) {
        pthread_join(snd[i].th, NULL);
        lg_hist_merge(&lag, &snd[i].lag);
        lg_hist_merge(&span, &snd[i].span);
        errors += snd[i].send_errors;
    }
    json_object_set_new(out, "sender_cpu_s", json_real(floor_cpu_s() - cpu0));
    json_object_set_new(out, "sender_lag", lg_hist_json(&lag));
    json_object_set_new(out, "send_span", lg_hist_json(&span));
    json_object_set_new(out, "send_errors", json_integer((json_int_t)errors));
    free(snd);
}

static void put_result(const floor_opts_t *o, const fan_result_t *res, json_t *out)
{
    uint64_t pairs = (uint64_t)o->readers * (uint64_t)o->rounds;
    json_object_set_new(out, "connect_s", json_real(res->connect_s));
    json_object_set_new(out, "pairs", json_integer((json_int_t)pairs));
    json_object_set_new(out, "received", json_integer((json_int_t)res->received));
    json_object_set_new(out, "missed", json_integer((json_int_t)(pairs - res->received)));
    json_object_set_new(out, "closed", json_integer(res->closed));
    json_object_set_new(out, "bad", json_integer((json_int_t)res->bad));
    json_object_set_new(out, "rounds_complete", json_integer(res->rounds_complete));
    json_object_set_new(out, "latency", lg_hist_json(&res->lat));
    json_object_set_new(out, "round_last", lg_hist_json(&res->last));
    json_object_set_new(out, "receiver_cpu_s", json_real(res->cpu_s));
}

int floor_fanout(const floor_opts_t *o, json_t *out)
{
    json_object_set_new(out, "readers", json_integer(o->readers));
    json_object_set_new(out, "threads", json_integer(o->threads));
    json_object_set_new(out, "rounds", json_integer(o->rounds));
    json_object_set_new(out, "rate", json_real(o->rate));
    json_object_set_new(out, "msg_bytes", json_integer(MSG_BYTES));

    uint16_t port;
    int lfd = floor_listen(&port, 4096);
    if (lfd < 0)
        return floor_fail(out, "fanout: listen: %s", strerror(-lfd));
    fan_result_t *res =
        mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int ready[2], go[2];
    if (res == MAP_FAILED || pipe2(ready, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0)
        return floor_fail(out, "fanout: mmap/pipe: %s", strerror(errno));
    lg_hist_init(&res->lat);
    lg_hist_init(&res->last);

    pid_t pid = fork();
    if (pid < 0)
        return floor_fail(out, "fanout: fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(lfd);
        close(ready[0]);
        close(go[1]);
        _exit(run_receiver(o, port, ready[1], go[0], res));
    }
    close(ready[1]);
    close(go[0]);

    int *fds = malloc((size_t)o->readers * sizeof(*fds));
    if (!fds)
        abort(); /* OOM: STYLE.md, abort */
    for (int i = 0; i < o->readers; i++)
        fds[i] = -1;
    int rc = accept_all(o, lfd, ready[0], fds, out);
    close(lfd);
    if (rc == 0) {
        uint64_t t0 = floor_now_ns() + START_NS;
        if (write(go[1], &t0, sizeof(t0)) != (ssize_t)sizeof(t0))
            rc = floor_fail(out, "fanout: receiver gone before the first round");
        else
            send_rounds(o, fds, t0, out);
    }
    close(go[1]);
    close(ready[0]);
    int status = 0;
    if (rc != 0)
        kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close_all(fds, o->readers);
    free(fds);
    if (res->failed[0]) /* the receiver's own reason beats "it exited" */
        rc = floor_fail(out, "fanout: %s", res->failed);
    else if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        rc = floor_fail(out, "fanout: receiver died (status %d)", status);
    if (rc == 0)
        put_result(o, res, out);
    munmap(res, sizeof(*res));
    return rc;
}
