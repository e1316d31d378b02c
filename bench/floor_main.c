/* bench/floor_main.c - floor: the kernel/loopback floors of the benchmarks.
 *
 *   floor fanout --readers N --threads T --rounds R --rate HZ
 *   floor rtt --rate HZ --duration S --hops 0|1
 *
 * Parses and checks the options, raises RLIMIT_NOFILE to its hard limit,
 * asks for 1 ns timer slack (pacing precision), arms a wall-clock backstop
 * (SIGALRM) and prints the scenario's JSON line on stdout. Also holds the
 * few socket and clock helpers both scenarios use (floor.h).
 */
#include "cli.h"
#include "floor.h"
#include "nofile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: floor <scenario> [options]\n"
          "scenarios:\n"
          "  fanout   one 80-byte message per round on each of --readers loopback TCP\n"
          "           connections (--threads sender threads), read by ONE epoll loop in\n"
          "           another process; latency from each round's intended time\n"
          "  rtt      150-byte request/echo over one keep-alive connection, open loop at\n"
          "           --rate; --hops 1 passes each request loop -> thread -> loop\n"
          "options (defaults in brackets):\n"
          "  fanout: --readers N [1000]  --threads T [1]  --rounds R [440]  --rate HZ [44]\n"
          "  rtt:    --rate HZ [500]  --duration S [10]  --hops 0|1 [0]\n"
          "  both:   --tail S [2]  wait for stragglers after the last due time\n"
          "          --limit S     wall-clock bound [the run's length + 120 s]\n",
          f);
}

static int parse_int(const char *s, int lo, int hi, int *v)
{
    double x;
    if (bench_parse_num(s, lo, hi, &x) != 0 || x != (double)(int)x)
        return -1;
    *v = (int)x;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"readers", 1, 0, 'n'}, {"threads", 1, 0, 'T'},  {"rounds", 1, 0, 'R'},
        {"rate", 1, 0, 'r'},    {"duration", 1, 0, 'd'}, {"hops", 1, 0, 'H'},
        {"tail", 1, 0, 't'},    {"limit", 1, 0, 'l'},    {"help", 0, 0, '?'},
        {0, 0, 0, 0},
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *scn = argv[1];
    int fanout = !strcmp(scn, "fanout");
    if (!fanout && strcmp(scn, "rtt") != 0) {
        fprintf(stderr, "floor: unknown scenario '%s'\n", scn);
        usage(stderr);
        return 2;
    }
    floor_opts_t o = {.readers = 1000,
                      .threads = 1,
                      .rounds = 440,
                      .rate = fanout ? 44 : 500,
                      .duration_s = 10,
                      .hops = 0,
                      .tail_s = 2,
                      .limit_s = 0};
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        const char *bad = NULL;
        switch (ch) {
        case 'n':
            bad = parse_int(optarg, 1, 100000, &o.readers) ? "--readers: 1..100000" : NULL;
            break;
        case 'T': bad = parse_int(optarg, 1, 64, &o.threads) ? "--threads: 1..64" : NULL; break;
        case 'R':
            bad = parse_int(optarg, 1, 1000000, &o.rounds) ? "--rounds: 1..1000000" : NULL;
            break;
        case 'r':
            bad = bench_parse_num(optarg, 0.1, 100000, &o.rate) ? "--rate: 0.1..100000 /s" : NULL;
            break;
        case 'd':
            bad = bench_parse_num(optarg, 0.01, 3600, &o.duration_s) ? "--duration: 0.01..3600 s"
                                                                     : NULL;
            break;
        case 'H': bad = parse_int(optarg, 0, 1, &o.hops) ? "--hops: 0 or 1" : NULL; break;
        case 't':
            bad = bench_parse_num(optarg, 0, 600, &o.tail_s) ? "--tail: 0..600 s" : NULL;
            break;
        case 'l':
            bad = bench_parse_num(optarg, 1, 86400, &o.limit_s) ? "--limit: 1..86400 s" : NULL;
            break;
        default: usage(stderr); return 2;
        }
        if (bad) {
            fprintf(stderr, "floor: bad '%s': %s\n", optarg, bad);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "floor: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (fanout && o.threads > o.readers) {
        fprintf(stderr, "floor: --threads (%d) must not exceed --readers (%d)\n", o.threads,
                o.readers);
        return 2;
    }
    double run_s = fanout ? o.rounds / o.rate : o.duration_s;
    if (o.limit_s == 0)
        o.limit_s = run_s + o.tail_s + 120;

    signal(SIGPIPE, SIG_IGN);
    bench_wall_limit("floor", o.limit_s);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    int nofile = bench_raise_nofile();

    json_t *out = json_object();
    json_object_set_new(out, "scenario", json_string(scn));
    json_object_set_new(out, "nofile", json_integer(nofile));
    int rc = fanout ? floor_fanout(&o, out) : floor_rtt(&o, out);
    json_object_set_new(out, "ok", json_boolean(rc == 0));
    json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(7));
    fputc('\n', stdout);
    json_decref(out);
    return rc;
}

uint64_t floor_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int floor_listen(uint16_t *port, int backlog)
{
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int floor_connect(uint16_t port)
{
    struct sockaddr_in a = loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int floor_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ? -errno : 0;
}

int floor_fail(json_t *out, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "floor: %s\n", buf);
    json_object_set_new(out, "failed", json_string(buf));
    return 1;
}

double floor_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
