/* bench/lg.h - the load generator's options and scenarios.
 *
 * One process, one libuv loop: REST (lg_http), WebSocket (lg_ws, lws on
 * the same loop) and MQTT (lg_mqtt, libmosquitto's thread). Each scenario
 * prints one JSON object on stdout; diagnostics go to stderr.
 */
#ifndef LG_H
#define LG_H

#include <jansson.h>
#include <netinet/in.h>

typedef struct lg_opts {
    const char *host;       /* server address (127.0.0.1) */
    int port;               /* server HTTP port */
    int mqtt_port;          /* broker port; 0 = no MQTT */
    int pid;                /* server pid for /proc figures; 0 = none */
    double duration_s;      /* measured phase */
    double rate;            /* commands per second (open loop); 0 = closed loop */
    int conns;              /* HTTP connections */
    int readers;            /* WS readers */
    int src_ips;            /* spread clients over 127.0.0.1..N */
    double tail_s;          /* wait for late answers/states after sending */
    double connect_s;       /* bound on connecting readers */
    const char *writer;     /* fanout writer: "rest" or "ws" */
    double step_s;          /* sustain: seconds per ramp step */
    double start_rate;      /* sustain: first ramp step */
    double max_rate;        /* sustain: stop ramping here */
    double hold_s;          /* sustain: hold the found rate */
    double over_s;          /* sustain: overload phase */
    double over_mult;       /* sustain: overload = mult x found rate */
    double since_us;        /* wait-ready: epoch us when the server was started */
    int intents;            /* rest-write: POST /api/v1/intents instead of /rgb */
    int universes;          /* frames: subscribe to universes 1..N */
    int entries;            /* replay: journal entries to replay */
    int repeat;             /* replay: how many times */
    struct sockaddr_in dst; /* host:port, resolved */
    char src_tab[250][16];  /* "127.0.0.<i+1>" for i < src_ips */
} lg_opts_t;

/* Source address for client i when spreading over o->src_ips (NULL: any).
 * src_tab is filled by main. */
const char *lg_src_ip(const lg_opts_t *o, unsigned i);

int lg_scn_rest_write(const lg_opts_t *o, json_t *out);
int lg_scn_fanout(const lg_opts_t *o, json_t *out);
int lg_scn_mqtt(const lg_opts_t *o, json_t *out);
int lg_scn_sustain(const lg_opts_t *o, json_t *out);
int lg_scn_wait_ready(const lg_opts_t *o, json_t *out);
int lg_scn_frames(const lg_opts_t *o, json_t *out);
int lg_scn_replay(const lg_opts_t *o, json_t *out);

#endif
