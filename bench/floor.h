/* bench/floor.h - what the machine itself can do on loopback.
 *
 * `floor` measures the kernel/loopback floors the benchmark table shows next
 * to showhub's figures: plain sockets and epoll, no libwebsockets and no
 * showhub code, so nothing a server adds is in them. Each scenario prints one
 * JSON object on stdout; diagnostics go to stderr. See docs/benchmarks.md.
 */
#ifndef FLOOR_H
#define FLOOR_H

#include <stdint.h>

#include <jansson.h>

typedef struct floor_opts {
    int readers;       /* fanout: TCP connections, one reader each */
    int threads;       /* fanout: sender threads */
    int rounds;        /* fanout: broadcast rounds */
    double rate;       /* rounds (fanout) or requests (rtt) per second */
    double duration_s; /* rtt: paced phase */
    int hops;          /* rtt: 0 = echo on the loop, 1 = loop -> thread -> loop */
    double tail_s;     /* wait this long after the last due time for stragglers */
    double limit_s;    /* wall-clock bound on the whole run */
} floor_opts_t;

/* Both fill out with their figures and return 0, or set "failed" in out (and
 * say what failed on stderr) and return 1. */
int floor_fanout(const floor_opts_t *o, json_t *out);
int floor_rtt(const floor_opts_t *o, json_t *out);

/* CLOCK_MONOTONIC in ns: the one clock every figure is stamped with. */
uint64_t floor_now_ns(void);
/* A TCP listener on 127.0.0.1, on a free port stored in *port. Returns the fd
 * or -errno. */
int floor_listen(uint16_t *port, int backlog);
/* A TCP connection to 127.0.0.1:port (blocking). Returns the fd or -errno. */
int floor_connect(uint16_t port);
/* TCP_NODELAY on fd. Returns 0 or -errno. */
int floor_nodelay(int fd);
/* Record what failed: "failed" in out and a line on stderr. Returns 1. */
int floor_fail(json_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* CPU seconds (user + system) this process has used so far. */
double floor_cpu_s(void);

#endif
