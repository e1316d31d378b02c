/* bench/lg_main.c - loadgen: the load generator's entry point.
 *
 *   loadgen <scenario> [options]     (loadgen --help lists them)
 *
 * Raises RLIMIT_NOFILE to its hard limit (10,000 WebSocket clients need as
 * many descriptors), asks for 1 ns timer slack (pacing precision), ignores
 * SIGPIPE, runs the scenario and prints its JSON result on stdout.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "lg.h"
#include "nofile.h"

static void usage(FILE *f)
{
    fputs("usage: loadgen <scenario> [options]\n"
          "scenarios:\n"
          "  rest-write   POST /rgb: closed loop (--rate 0) or open loop at --rate\n"
          "  fanout       one writer at --rate, --readers WS clients time every state\n"
          "  mqtt         publish QoS 1 commands at --rate; time states at a WS reader\n"
          "               and an MQTT subscriber\n"
          "  sustain      ramp REST rate until the backlog grows, hold the best rate,\n"
          "               then overload (REST+WS+MQTT) and account for every command\n"
          "  wait-ready   poll GET /readyz until 200 (prints the time it took)\n"
          "  frames       --readers WS clients in room frames for universes 1..--universes:\n"
          "               frame age (receipt - ts), intervals, frames/s\n"
          "  replay       hello{since} replaying the last --entries journal entries,\n"
          "               --repeat times: time to the first and the last patch\n"
          "options (defaults in brackets):\n"
          "  --host A [127.0.0.1]  --port P [8080]  --mqtt-port P [0: none]\n"
          "  --pid N      server pid, for CPU seconds and RSS from /proc\n"
          "  --duration S [10]  --rate R [0]  --conns N [64]  --readers N [1]\n"
          "  --writer rest|ws [rest]  --src-ips N [1]  --tail S [5]  --connect S [60]\n"
          "  --step S [2]  --start-rate R [500]  --max-rate R [200000]\n"
          "  --hold S [30]  --over S [10]  --over-mult X [10]\n"
          "  --since-us T   wait-ready: epoch microseconds when the server was exec'd\n"
          "  --intents      rest-write: POST /api/v1/intents (fixture.set_values)\n"
          "  --universes N [4]  --entries N [10000]  --repeat N [5]\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"host", 1, 0, 'h'},
        {"port", 1, 0, 'p'},
        {"mqtt-port", 1, 0, 'm'},
        {"pid", 1, 0, 'P'},
        {"duration", 1, 0, 'd'},
        {"rate", 1, 0, 'r'},
        {"conns", 1, 0, 'c'},
        {"readers", 1, 0, 'n'},
        {"writer", 1, 0, 'w'},
        {"src-ips", 1, 0, 'i'},
        {"tail", 1, 0, 't'},
        {"connect", 1, 0, 'C'},
        {"step", 1, 0, 's'},
        {"start-rate", 1, 0, 'S'},
        {"max-rate", 1, 0, 'M'},
        {"hold", 1, 0, 'H'},
        {"over", 1, 0, 'o'},
        {"over-mult", 1, 0, 'x'},
        {"since-us", 1, 0, 'u'},
        {"intents", 0, 0, 'I'},
        {"universes", 1, 0, 'U'},
        {"entries", 1, 0, 'E'},
        {"repeat", 1, 0, 'R'},
        {"help", 0, 0, '?'},
        {0, 0, 0, 0},
    };
    lg_opts_t o = {
        .host = "127.0.0.1",
        .port = 8080,
        .duration_s = 10,
        .conns = 64,
        .readers = 1,
        .src_ips = 1,
        .tail_s = 5,
        .connect_s = 60,
        .writer = "rest",
        .step_s = 2,
        .start_rate = 500,
        .max_rate = 200000,
        .hold_s = 30,
        .over_s = 10,
        .over_mult = 10,
        .universes = 4,
        .entries = 10000,
        .repeat = 5,
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *scn = argv[1];
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'h': o.host = optarg; break;
        case 'p': o.port = atoi(optarg); break;
        case 'm': o.mqtt_port = atoi(optarg); break;
        case 'P': o.pid = atoi(optarg); break;
        case 'd': o.duration_s = atof(optarg); break;
        case 'r': o.rate = atof(optarg); break;
        case 'c': o.conns = atoi(optarg); break;
        case 'n': o.readers = atoi(optarg); break;
        case 'w': o.writer = optarg; break;
        case 'i': o.src_ips = atoi(optarg); break;
        case 't': o.tail_s = atof(optarg); break;
        case 'C': o.connect_s = atof(optarg); break;
        case 's': o.step_s = atof(optarg); break;
        case 'S': o.start_rate = atof(optarg); break;
        case 'M': o.max_rate = atof(optarg); break;
        case 'H': o.hold_s = atof(optarg); break;
        case 'o': o.over_s = atof(optarg); break;
        case 'x': o.over_mult = atof(optarg); break;
        case 'u': o.since_us = atof(optarg); break;
        case 'I': o.intents = 1; break;
        case 'U': o.universes = atoi(optarg); break;
        case 'E': o.entries = atoi(optarg); break;
        case 'R': o.repeat = atoi(optarg); break;
        default: usage(stderr); return 2;
        }
    }
    if (o.conns < 1 || o.readers < 0 || o.duration_s <= 0 || o.port <= 0 || o.src_ips < 1 ||
        o.src_ips > 250 || o.universes < 1 || o.universes > 1024 || o.entries < 1 || o.repeat < 1) {
        usage(stderr);
        return 2;
    }
    o.dst.sin_family = AF_INET;
    o.dst.sin_port = htons((uint16_t)o.port);
    if (inet_pton(AF_INET, o.host, &o.dst.sin_addr) != 1) {
        fprintf(stderr, "loadgen: --host must be an IPv4 address\n");
        return 2;
    }
    for (int i = 0; i < o.src_ips; i++)
        snprintf(o.src_tab[i], sizeof(o.src_tab[i]), "127.0.0.%u", (unsigned)(i + 1) & 255u);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    int nofile = bench_raise_nofile();
    mosquitto_lib_init();

    json_t *out = json_object();
    json_object_set_new(out, "scenario", json_string(scn));
    json_object_set_new(out, "nofile", json_integer(nofile));
    int rc;
    if (!strcmp(scn, "rest-write"))
        rc = lg_scn_rest_write(&o, out);
    else if (!strcmp(scn, "fanout"))
        rc = lg_scn_fanout(&o, out);
    else if (!strcmp(scn, "mqtt"))
        rc = lg_scn_mqtt(&o, out);
    else if (!strcmp(scn, "sustain"))
        rc = lg_scn_sustain(&o, out);
    else if (!strcmp(scn, "wait-ready"))
        rc = lg_scn_wait_ready(&o, out);
    else if (!strcmp(scn, "frames"))
        rc = lg_scn_frames(&o, out);
    else if (!strcmp(scn, "replay"))
        rc = lg_scn_replay(&o, out);
    else {
        usage(stderr);
        rc = 2;
    }
    if (rc == 0 || json_object_size(out) > 2) {
        json_object_set_new(out, "ok", json_boolean(rc == 0));
        json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(7));
        fputc('\n', stdout);
    }
    json_decref(out);
    mosquitto_lib_cleanup();
    return rc;
}
