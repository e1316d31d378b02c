/* bench/netrx.h - netrx: counts showhub's Art-Net and sACN output on loopback.
 *
 *   netrx hub   --artnet-port A --sacn-port S --port H --pid N [--universes U] ...
 *   netrx floor [--universes U] [--fps F] [--duration S]
 *
 * `hub` binds two UDP sockets on 127.0.0.1 (the hub's DMX_ARTNET_TARGETS and
 * DMX_SACN_TARGETS point at them), lets a warm-up pass, then for --duration
 * seconds counts every ArtDmx and E1.31 data packet per universe: sequence
 * gaps, packets against the frame clock, slots that did not change from
 * that universe's previous packet (the chase test pattern moves every slot
 * every tick), malformed packets. Around the window it reads the hub's
 * /metrics (tick lateness histogram, frames and errors counters) and the
 * CPU time of the hub's output thread ("hub-output") from /proc.
 *
 * `floor` is the same receiver fed by a sender thread of its own that does
 * what the hub's output thread does at the wire (one sendmmsg per protocol
 * per tick, same packet sizes, a moving pattern on every slot) with nothing
 * else: the kernel's loss, lateness and CPU floor for that traffic.
 *
 * Each run prints one JSON line. See docs/benchmarks.md.
 */
#ifndef NETRX_H
#define NETRX_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define NETRX_SLOTS        512
#define NETRX_ARTDMX_LEN   (18 + NETRX_SLOTS)  /* ArtDmx header + 512 slots */
#define NETRX_E131_LEN     (126 + NETRX_SLOTS) /* E1.31 data packet, 512 slots */
#define NETRX_MAX_UNIVERSE 63999

typedef struct netrx_opts {
    int artnet_port, sacn_port; /* hub: where the hub sends (0 in floor: any free) */
    int http_port;              /* hub: its HTTP port, for /metrics */
    int pid;                    /* hub: its pid, for /proc */
    int universes;              /* universes 1..U expected */
    double fps;                 /* the frame clock */
    double warmup_s;            /* received but not counted */
    double duration_s;          /* the counted window */
    double limit_s;             /* wall-clock bound on the whole run */
} netrx_opts_t;

/* ---- packets (netrx_pkt.c) ---------------------------------------------------------- */

enum { NETRX_ARTNET = 0, NETRX_SACN = 1 };

/* What one datagram is. */
typedef enum {
    NETRX_PKT_DMX = 0,  /* a DMX data packet: universe, seq, slots filled */
    NETRX_PKT_OTHER,    /* valid, not DMX data (E1.31 discovery, ArtSync, ArtPoll...) */
    NETRX_PKT_MALFORMED /* not a packet of the protocol, or a field out of range */
} netrx_kind_t;

typedef struct netrx_dmx {
    int universe;         /* hub numbering: Art-Net port-address + 1; sACN universe */
    uint8_t seq;          /* Art-Net Sequence / E1.31 sequence number */
    uint8_t options;      /* E1.31 options (0x40 terminated, 0x80 preview); 0 for Art-Net */
    size_t nslots;        /* DMX slots carried (start code excluded) */
    const uint8_t *slots; /* into the datagram */
} netrx_dmx_t;

netrx_kind_t netrx_parse_artnet(const uint8_t *buf, size_t len, netrx_dmx_t *out);
netrx_kind_t netrx_parse_e131(const uint8_t *buf, size_t len, netrx_dmx_t *out);
/* Build a full 512-slot packet (for the floor sender). Return the length. */
size_t netrx_build_artdmx(uint8_t buf[NETRX_ARTDMX_LEN], int universe, uint8_t seq,
                          const uint8_t slots[NETRX_SLOTS]);
size_t netrx_build_e131(uint8_t buf[NETRX_E131_LEN], const uint8_t cid[16], int universe,
                        uint8_t seq, const uint8_t slots[NETRX_SLOTS]);

/* ---- the receiver (netrx_rx.c) ------------------------------------------------------ */

typedef struct netrx_rx netrx_rx_t;

/* Bind both sockets on 127.0.0.1 (port 0: a free one; *_port updated).
 * Returns NULL (and says why on stderr) on failure. */
netrx_rx_t *netrx_rx_new(int *artnet_port, int *sacn_port, int universes, double fps);
/* Receive until mono_ns >= until_ns; packets count only while counting is on. */
void netrx_rx_run(netrx_rx_t *rx, uint64_t until_ns);
void netrx_rx_count(netrx_rx_t *rx, int on);
/* {"artnet":{...},"sacn":{...},"rcvbuf_bytes":...}; new reference. */
json_t *netrx_rx_json(const netrx_rx_t *rx);
/* Packets lost (sequence gaps) and missing against the clock, both protocols. */
uint64_t netrx_rx_lost(const netrx_rx_t *rx);
void netrx_rx_free(netrx_rx_t *rx);

/* ---- the hub's side (netrx_hub.c) --------------------------------------------------- */

#define NETRX_LATE_MAX 32

/* What /metrics and /proc say at one moment. */
typedef struct netrx_hub_snap {
    int ok;                         /* /metrics answered */
    size_t nlate;                   /* histogram buckets (le bounds, cumulative counts) */
    double late_le[NETRX_LATE_MAX]; /* seconds; +Inf last */
    double late_cum[NETRX_LATE_MAX];
    double late_sum;
    double frames_artnet, frames_sacn; /* dmx_output_frames_total, summed over universes */
    double errors, skipped;            /* dmx_output_errors_total (all), ticks skipped */
    uint64_t out_cpu_ns;               /* the hub-output thread: run time */
    uint64_t proc_cpu_ns;              /* the whole process: utime + stime */
    int out_tid;                       /* 0: no thread named hub-output */
    uint64_t mono_ns;                  /* when sampled */
} netrx_hub_snap_t;

void netrx_hub_snap(const netrx_opts_t *o, netrx_hub_snap_t *s);
/* Deltas b - a: lateness percentiles (bucket bounds), CPU shares; new ref. */
json_t *netrx_hub_json(const netrx_hub_snap_t *a, const netrx_hub_snap_t *b);

/* ---- the floor sender (netrx_tx.c) -------------------------------------------------- */

typedef struct netrx_tx netrx_tx_t;

/* Start a thread sending U universes of ArtDmx to artnet_port and E1.31 to
 * sacn_port at fps, from now until stop. */
netrx_tx_t *netrx_tx_start(int artnet_port, int sacn_port, int universes, double fps);
/* Begin/end the measured window of the sender's own figures. */
void netrx_tx_mark(netrx_tx_t *tx, int on);
/* Stop and join; then its figures as JSON (new reference) and free. */
json_t *netrx_tx_stop(netrx_tx_t *tx);

uint64_t netrx_now_ns(void); /* CLOCK_MONOTONIC */

#endif
