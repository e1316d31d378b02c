/* bench/floor_rtt.c - request/response floor over one keep-alive connection.
 *
 * A forked echo server runs ONE epoll loop on the accepted connection and
 * answers every 150-byte request with the same 150 bytes. With --hops 1 the
 * loop does not answer itself: it hands each request to a second thread over
 * a mutex+condvar queue, and that thread hands the reply back through a
 * second queue and an eventfd the loop watches, as showhub's durable path
 * goes loop -> store thread -> loop. The thread does no work of its own, so
 * what is measured is the hop.
 *
 * The client (the parent) sends open loop: request k is due at
 * t0 + k / rate; a timerfd armed at absolute due times wakes its epoll loop
 * and everything due is sent. Latency runs from the due time to the reply;
 * the client's own lateness (send time - due time) is reported apart as
 * sender_lag. Each request carries k and its due time, echoed back.
 *
 * Threading: client single-threaded; server one loop (+ the hop thread).
 */
#include "floor.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lg_hist.h"

#define MSG_BYTES 150
#define WARMUP    20 /* unmeasured round trips before the paced phase */

/* Cuts a byte stream into MSG_BYTES messages. */
typedef struct framer {
    size_t fill;                   /* bytes of a split message in part */
    unsigned char part[MSG_BYTES]; /* a message split over two recv()s */
} framer_t;

typedef void (*msg_fn)(void *ud, const unsigned char *msg);

static void frames(framer_t *f, const unsigned char *buf, size_t len, msg_fn fn, void *ud)
{
    size_t off = 0;
    while (off < len) {
        size_t take = MSG_BYTES - f->fill;
        if (take > len - off)
            take = len - off;
        memcpy(f->part + f->fill, buf + off, take);
        f->fill += take;
        off += take;
        if (f->fill == MSG_BYTES) {
            fn(ud, f->part);
            f->fill = 0;
        }
    }
}

/* ---- server: loop, and the optional hop thread ----------------------- */

typedef struct node {
    struct node *next; /* owned by the queue while queued */
    unsigned char msg[MSG_BYTES];
} node_t;

typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on push and on close */
    node_t *head, *tail;
    int closed;
} queue_t;

typedef struct server {
    int conn;
    int efd;        /* hop thread -> loop: replies are waiting in out */
    queue_t in;     /* loop -> hop thread */
    queue_t out;    /* hop thread -> loop */
    int hops;       /* 0: answer on the loop */
    int send_error; /* errno of the first failed send */
} server_t;

static void queue_init(queue_t *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->head = q->tail = NULL;
    q->closed = 0;
}

/* Takes ownership of n. */
static void queue_push(queue_t *q, node_t *n)
{
    n->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Everything queued (caller owns the list), or NULL; waits if wait is set,
 * until something is queued or the queue is closed. */
static node_t *queue_take(queue_t *q, int wait)
{
    pthread_mutex_lock(&q->mu);
    while (wait && !q->head && !q->closed)
        pthread_cond_wait(&q->cv, &q->mu);
    node_t *n = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    return n;
}

static void queue_close(queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void *hop_main(void *arg)
{
    server_t *s = arg;
    node_t *n;
    while ((n = queue_take(&s->in, 1)) != NULL) {
        while (n) {
            node_t *next = n->next;
            queue_push(&s->out, n);
            n = next;
        }
        uint64_t one = 1;
        if (write(s->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
            break;
    }
    return NULL;
}

static void reply(server_t *s, const unsigned char *msg)
{
    if (send(s->conn, msg, MSG_BYTES, MSG_NOSIGNAL) != MSG_BYTES && !s->send_error)
        s->send_error = errno ? errno : EIO;
}

static void on_request(void *ud, const unsigned char *msg)
{
    server_t *s = ud;
    if (!s->hops) {
        reply(s, msg);
        return;
    }
    node_t *n = malloc(sizeof(*n));
    if (!n)
        abort(); /* OOM: STYLE.md, abort */
    memcpy(n->msg, msg, MSG_BYTES);
    queue_push(&s->in, n);
}

static void on_replies(server_t *s)
{
    uint64_t count;
    if (read(s->efd, &count, sizeof(count)) < 0) {
        /* EAGAIN: another wake-up took them; the queue says what is left. */
    }
    node_t *n = queue_take(&s->out, 0);
    while (n) {
        node_t *next = n->next;
        reply(s, n->msg);
        free(n);
        n = next;
    }
}

/* Serve one connection until the client closes it. Returns the exit status. */
static int run_server(int lfd, int hops)
{
    server_t s = {.hops = hops, .efd = -1};
    s.conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    close(lfd);
    if (s.conn < 0 || floor_nodelay(s.conn) != 0)
        return 1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s.conn, &ev) != 0)
        return 1;
    pthread_t th;
    if (hops) {
        queue_init(&s.in);
        queue_init(&s.out);
        s.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        ev.data.u32 = 1;
        if (s.efd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s.efd, &ev) != 0 ||
            pthread_create(&th, NULL, hop_main, &s) != 0)
            return 1;
    }
    framer_t f = {0};
    unsigned char buf[16384];
    int open = 1;
    while (open && !s.send_error) {
        struct epoll_event evs[2];
        int n = epoll_wait(ep, evs, 2, 1000);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == 1) {
                on_replies(&s);
                continue;
            }
            ssize_t len = recv(s.conn, buf, sizeof(buf), MSG_DONTWAIT);
            if (len > 0)
                frames(&f, buf, (size_t)len, on_request, &s);
            else if (len == 0 || (errno != EAGAIN && errno != EINTR))
                open = 0;
        }
    }
    if (hops) {
        queue_close(&s.in);
        pthread_join(th, NULL);
    }
    return s.send_error ? 1 : 0;
}

/* ---- client (parent) ------------------------------------------------- */

typedef struct client {
    lg_hist_t lat; /* reply - due time */
    lg_hist_t lag; /* send - due time: the client's own lateness */
    uint64_t now_ns;
    uint64_t received;
} client_t;

static void on_reply(void *ud, const unsigned char *msg)
{
    client_t *c = ud;
    uint64_t due;
    memcpy(&due, msg + 8, sizeof(due));
    lg_hist_add(&c->lat, c->now_ns > due ? c->now_ns - due : 0);
    c->received++;
}

static void arm(int tfd, uint64_t at_ns)
{
    struct itimerspec its = {{0, 0},
                             {(time_t)(at_ns / 1000000000ull), (long)(at_ns % 1000000000ull)}};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int send_msg(int fd, uint64_t k, uint64_t due)
{
    unsigned char msg[MSG_BYTES];
    memset(msg, 'x', sizeof(msg));
    memcpy(msg, &k, sizeof(k));
    memcpy(msg + 8, &due, sizeof(due));
    return send(fd, msg, sizeof(msg), MSG_NOSIGNAL) == (ssize_t)sizeof(msg) ? 0 : -1;
}

/* Round trips not measured: the server is past accept() and warm. */
static int warm_up(int fd)
{
    unsigned char msg[MSG_BYTES];
    for (int i = 0; i < WARMUP; i++) {
        if (send_msg(fd, 0, 0) != 0 || recv(fd, msg, sizeof(msg), MSG_WAITALL) != MSG_BYTES)
            return -1;
    }
    return 0;
}

/* The paced phase. Returns 0, or 1 with failed set in out. */
static int run_client(const floor_opts_t *o, int fd, client_t *c, json_t *out)
{
    uint64_t count = (uint64_t)(o->duration_s * o->rate);
    if (count < 1)
        count = 1;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
    if (tfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0)
        return floor_fail(out, "rtt: timerfd/epoll: %s", strerror(errno));
    ev.data.u32 = 1;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        return floor_fail(out, "rtt: epoll_ctl: %s", strerror(errno));
    uint64_t t0 = floor_now_ns() + 10000000ull, sent = 0;
    uint64_t end =
        t0 + (uint64_t)((double)(count - 1) * 1e9 / o->rate) + (uint64_t)(o->tail_s * 1e9);
    framer_t f = {0};
    unsigned char buf[16384];
    int rc = 0;
    arm(tfd, t0);
    while (c->received < count && rc == 0) {
        uint64_t now = floor_now_ns();
        if (now >= end)
            break;
        uint64_t left_ms = (end - now) / 1000000 + 1;
        struct epoll_event evs[2];
        int n = epoll_wait(ep, evs, 2, left_ms < 100 ? (int)left_ms : 100);
        for (int i = 0; i < n && rc == 0; i++) {
            if (evs[i].data.u32 == 0) {
                uint64_t exp;
                if (read(tfd, &exp, sizeof(exp)) < 0) {
                    /* EAGAIN: spurious wake-up; the clock decides below. */
                }
                uint64_t due = t0 + (uint64_t)((double)sent * 1e9 / o->rate);
                while (sent < count && due <= (now = floor_now_ns())) {
                    lg_hist_add(&c->lag, now - due);
                    if (send_msg(fd, sent, due) != 0)
                        rc = floor_fail(out, "rtt: send: %s", strerror(errno));
                    sent++;
                    due = t0 + (uint64_t)((double)sent * 1e9 / o->rate);
                }
                if (sent < count)
                    arm(tfd, due);
                continue;
            }
            ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            c->now_ns = floor_now_ns();
            if (len > 0)
                frames(&f, buf, (size_t)len, on_reply, c);
            else if (len == 0 || (errno != EAGAIN && errno != EINTR))
                rc = floor_fail(out, "rtt: server closed the connection");
        }
    }
    close(tfd);
    close(ep);
    json_object_set_new(out, "sent", json_integer((json_int_t)sent));
    json_object_set_new(out, "received", json_integer((json_int_t)c->received));
    json_object_set_new(out, "missed", json_integer((json_int_t)(count - c->received)));
    return rc;
}

int floor_rtt(const floor_opts_t *o, json_t *out)
{
    json_object_set_new(out, "hops", json_integer(o->hops));
    json_object_set_new(out, "rate", json_real(o->rate));
    json_object_set_new(out, "duration_s", json_real(o->duration_s));
    json_object_set_new(out, "msg_bytes", json_integer(MSG_BYTES));
    uint16_t port;
    int lfd = floor_listen(&port, 16);
    if (lfd < 0)
        return floor_fail(out, "rtt: listen: %s", strerror(-lfd));
    pid_t pid = fork();
    if (pid < 0)
        return floor_fail(out, "rtt: fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(run_server(lfd, o->hops));
    }
    close(lfd);
    int fd = floor_connect(port), rc;
    if (fd < 0) {
        rc = floor_fail(out, "rtt: connect: %s", strerror(-fd));
        kill(pid, SIGKILL); /* it would wait in accept() */
    } else if (floor_nodelay(fd) != 0 || warm_up(fd) != 0) {
        rc = floor_fail(out, "rtt: warm-up exchange failed: %s", strerror(errno));
    } else {
        client_t c = {.received = 0};
        lg_hist_init(&c.lat);
        lg_hist_init(&c.lag);
        rc = run_client(o, fd, &c, out);
        json_object_set_new(out, "latency", lg_hist_json(&c.lat));
        json_object_set_new(out, "sender_lag", lg_hist_json(&c.lag));
    }
    if (fd >= 0)
        close(fd); /* EOF: the server exits */
    int status = 0;
    waitpid(pid, &status, 0);
    if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        rc = floor_fail(out, "rtt: echo server failed (status %d)", status);
    return rc;
}
