/* bench/netrx_main.c - netrx: options, the two modes, the JSON line (see netrx.h). */
#include "netrx.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fputs("usage: netrx hub|floor [options]\n"
          "  hub    receive the hub's Art-Net and sACN on 127.0.0.1:--artnet-port and\n"
          "         --sacn-port; read its /metrics (--port) and /proc (--pid)\n"
          "  floor  the same receiver, fed by a sender thread of our own\n"
          "options (defaults in brackets):\n"
          "  --artnet-port P  --sacn-port P  (hub: required; floor: free ports)\n"
          "  --port P  --pid N               (hub: required)\n"
          "  --universes U [256]  --fps F [44]  --warmup S [2]  --duration S [10]\n"
          "  --limit S   wall-clock bound [warmup + duration + 60]\n",
          f);
}

static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int run_hub(const netrx_opts_t *o, json_t *out)
{
    int a = o->artnet_port, s = o->sacn_port;
    netrx_rx_t *rx = netrx_rx_new(&a, &s, o->universes, o->fps);
    netrx_hub_snap_t h0, h1;
    if (!rx) {
        json_object_set_new(out, "failed", json_string("cannot bind the receive sockets"));
        return 1;
    }
    netrx_rx_run(rx, netrx_now_ns() + (uint64_t)(o->warmup_s * 1e9));
    netrx_hub_snap(o, &h0);
    double c0 = cpu_self_s();
    netrx_rx_count(rx, 1);
    netrx_rx_run(rx, netrx_now_ns() + (uint64_t)(o->duration_s * 1e9));
    netrx_rx_count(rx, 0);
    double c1 = cpu_self_s();
    netrx_hub_snap(o, &h1);

    json_object_set_new(out, "rx", netrx_rx_json(rx));
    json_object_set_new(out, "hub", netrx_hub_json(&h0, &h1));
    json_object_set_new(out, "lost_total", json_integer((json_int_t)netrx_rx_lost(rx)));
    json_object_set_new(out, "receiver_cpu_pct", json_real((c1 - c0) * 100.0 / o->duration_s));
    int alive = h1.ok && h1.proc_cpu_ns > 0;
    json_object_set_new(out, "server_alive_end", json_boolean(alive));
    netrx_rx_free(rx);
    if (!h0.ok || !h1.ok) {
        json_object_set_new(out, "failed", json_string("GET /metrics failed"));
        return 1;
    }
    return 0;
}

static int run_floor(const netrx_opts_t *o, json_t *out)
{
    int a = 0, s = 0;
    netrx_rx_t *rx = netrx_rx_new(&a, &s, o->universes, o->fps);
    if (!rx) {
        json_object_set_new(out, "failed", json_string("cannot bind the receive sockets"));
        return 1;
    }
    netrx_tx_t *tx = netrx_tx_start(a, s, o->universes, o->fps);
    netrx_rx_run(rx, netrx_now_ns() + (uint64_t)(o->warmup_s * 1e9));
    double c0 = cpu_self_s();
    netrx_tx_mark(tx, 1);
    netrx_rx_count(rx, 1);
    netrx_rx_run(rx, netrx_now_ns() + (uint64_t)(o->duration_s * 1e9));
    netrx_rx_count(rx, 0);
    netrx_tx_mark(tx, 0);
    double c1 = cpu_self_s();
    json_t *sender = netrx_tx_stop(tx);
    double sender_pct = json_real_value(json_object_get(sender, "thread_cpu_pct"));
    json_object_set_new(out, "rx", netrx_rx_json(rx));
    json_object_set_new(out, "sender", sender);
    json_object_set_new(out, "lost_total", json_integer((json_int_t)netrx_rx_lost(rx)));
    /* The process is the sender and the receiver: the receiver is the rest. */
    json_object_set_new(out, "receiver_cpu_pct",
                        json_real((c1 - c0) * 100.0 / o->duration_s - sender_pct));
    netrx_rx_free(rx);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"artnet-port", 1, 0, 'a'},
        {"sacn-port", 1, 0, 's'},
        {"port", 1, 0, 'p'},
        {"pid", 1, 0, 'P'},
        {"universes", 1, 0, 'u'},
        {"fps", 1, 0, 'f'},
        {"warmup", 1, 0, 'w'},
        {"duration", 1, 0, 'd'},
        {"limit", 1, 0, 'l'},
        {"help", 0, 0, '?'},
        {0, 0, 0, 0},
    };
    netrx_opts_t o = {.universes = 256, .fps = 44, .warmup_s = 2, .duration_s = 10};
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *mode = argv[1];
    int hub = !strcmp(mode, "hub");
    if (!hub && strcmp(mode, "floor") != 0) {
        usage(stderr);
        return 2;
    }
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        double v = 0;
        const char *bad = NULL;
        switch (ch) {
        case 'a':
        case 's':
        case 'p':
            if (bench_parse_num(optarg, 1, 65535, &v))
                bad = "a port, 1..65535";
            else if (ch == 'a')
                o.artnet_port = (int)v;
            else if (ch == 's')
                o.sacn_port = (int)v;
            else
                o.http_port = (int)v;
            break;
        case 'P':
            bad = bench_parse_num(optarg, 1, 1 << 30, &v) ? "a pid" : NULL;
            o.pid = (int)v;
            break;
        case 'u':
            bad = bench_parse_num(optarg, 1, 1024, &v) ? "1..1024 universes" : NULL;
            o.universes = (int)v;
            break;
        case 'f': bad = bench_parse_num(optarg, 1, 100, &o.fps) ? "1..100 fps" : NULL; break;
        case 'w': bad = bench_parse_num(optarg, 0, 60, &o.warmup_s) ? "0..60 s" : NULL; break;
        case 'd':
            bad = bench_parse_num(optarg, 0.5, 3600, &o.duration_s) ? "0.5..3600 s" : NULL;
            break;
        case 'l': bad = bench_parse_num(optarg, 1, 86400, &o.limit_s) ? "1..86400 s" : NULL; break;
        default: usage(stderr); return 2;
        }
        if (bad) {
            fprintf(stderr, "netrx: bad '%s': %s\n", optarg, bad);
            return 2;
        }
    }
    if (hub && (!o.artnet_port || !o.sacn_port || !o.http_port || !o.pid)) {
        fprintf(stderr, "netrx hub: --artnet-port, --sacn-port, --port and --pid are required\n");
        return 2;
    }
    if (o.limit_s == 0)
        o.limit_s = o.warmup_s + o.duration_s + 60;
    bench_wall_limit("netrx", o.limit_s);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    json_t *out = json_object();
    json_object_set_new(out, "scenario", json_string(hub ? "net" : "net_floor"));
    json_object_set_new(out, "universes", json_integer(o.universes));
    json_object_set_new(out, "fps", json_real(o.fps));
    json_object_set_new(out, "duration_s", json_real(o.duration_s));
    int rc = hub ? run_hub(&o, out) : run_floor(&o, out);
    json_object_set_new(out, "ok", json_boolean(rc == 0));
    json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(7));
    fputc('\n', stdout);
    json_decref(out);
    return rc;
}
