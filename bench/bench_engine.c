/* bench/bench_engine.c - in-process engine benchmark: validate+dedupe+apply.
 *
 *   bench_engine [--quick] [--n N]
 *
 * Drives the real engine with the real dmx domain registered (no store:
 * batches complete at once) one command at a time: parse the seed-000 JSON
 * body into a fixture.set_values intent (validation), submit, drain (dedupe,
 * the domain's apply, patches, views and topics rendered, seq+1, answer,
 * announce to one subscriber). Each command is timed with
 * clock_gettime around exactly that work; the median cost of an empty pair of
 * clock reads is subtracted. 1 % of the commands repeat a recent cmdId, so
 * the duplicate path is exercised too. A second, untimed pass submits
 * batches of 1,000 and drains once per batch: the engine's throughput
 * without per-command clock reads. Prints one JSON object on stdout and
 * exits non-zero if the engine's counts disagree with what was sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/ulid.h"
#include "domains/dmx/dmx.h"
#include "engine/engine.h"
#include "engine/intent.h"

#define DUP_EVERY 100
#define BATCH     1000

typedef struct tally {
    uint64_t applied, duplicate, other, states;
} tally_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_done(hub_intent_t *in, const hub_announce_t *ann, void *ud)
{
    tally_t *t = ud;
    (void)ann;
    if (in->outcome == HUB_INTENT_APPLIED)
        t->applied++;
    else if (in->outcome == HUB_INTENT_DUPLICATE)
        t->duplicate++;
    else
        t->other++;
}

static void on_state(void *ud, const hub_announce_t *ann)
{
    tally_t *t = ud;
    (void)ann;
    t->states++;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Median cost of two back-to-back clock reads. */
static uint64_t clock_overhead(void)
{
    enum { N = 100001 };
    static uint32_t d[N];
    for (int i = 0; i < N; i++) {
        uint64_t a = now_ns();
        uint64_t b = now_ns();
        d[i] = (uint32_t)(b - a);
    }
    qsort(d, N, sizeof(d[0]), cmp_u32);
    return d[N / 2];
}

/* Body of command i: a unique ULID, or (every DUP_EVERY-th) the id of a
 * command 10 back, which the dedupe cache still holds. */
static size_t body_of(uint64_t i, uint64_t ms, char *buf, size_t n)
{
    char id[HUB_ULID_LEN + 1];
    uint8_t rnd[10] = {0};
    uint64_t k = (i % DUP_EVERY == DUP_EVERY - 1) ? i - 10 : i;
    for (int b = 0; b < 8; b++)
        rnd[2 + b] = (uint8_t)(k >> (8 * b));
    rnd[0] = 0xB3;
    hub_ulid_encode(id, ms, rnd);
    return (size_t)snprintf(buf, n, "{\"cmdId\":\"%s\",\"src\":\"api\",\"r\":%u,\"g\":%u,\"b\":%u}",
                            id, (unsigned)(i & 255), (unsigned)((i >> 8) & 255),
                            (unsigned)((i >> 16) & 255));
}

static hub_intent_t *parse(const char *body, size_t len, tally_t *t)
{
    hub_intent_t *in;
    hub_error_t err;
    char cmd_id[HUB_REQ_ID_MAX + 1];
    if (hub_intent_parse_rgb(body, len, "api", &in, &err, cmd_id) != 0) {
        fprintf(stderr, "bench_engine: parse failed: %s\n", err.msg);
        exit(1);
    }
    in->done = on_done;
    in->ud = t;
    return in;
}

static double pct(const uint32_t *s, uint64_t n, double p)
{
    uint64_t rank = (uint64_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)s[rank - 1] / 1000.0;
}

int main(int argc, char **argv)
{
    uint64_t n = 1000000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            n = 200000;
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_engine [--quick] [--n N]\n");
            return 2;
        }
    }
    if (n < 1000)
        n = 1000;
    hub_log_set_level(HUB_LOG_WARN);

    uv_loop_t loop;
    uv_loop_init(&loop);
    hub_metrics_t *metrics = hub_metrics_new();
    hub_engine_cfg_t cfg = {
        .queue_size = 10000, .dedupe_capacity = 4096, .dedupe_ttl_ms = 900000, .batch_max = 0};
    hub_dmx_cfg_t dcfg = {.fixtures_file = "/nonexistent/fixtures.json", .demo_universe = 1};
    char errbuf[256];
    hub_dmx_t *dmx;
    hub_engine_t *e;
    if (hub_dmx_new(&dmx, &dcfg, errbuf, sizeof errbuf) != 0 ||
        hub_engine_new(&e, &loop, &cfg, metrics) != 0 ||
        hub_engine_register(e, hub_dmx_domain(), dmx) != 0 ||
        hub_engine_start(e, NULL, NULL) != 0) {
        fprintf(stderr, "bench_engine: cannot start the engine\n");
        return 1;
    }
    tally_t t = {0};
    hub_subscriber_t sub = {.on_state = on_state, .ud = &t};
    hub_engine_subscribe(e, &sub);
    uint32_t *lat = malloc(n * sizeof(uint32_t));
    uint32_t *lat_apply = malloc(n * sizeof(uint32_t));
    if (!lat || !lat_apply)
        return 1;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t ms = (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000;
    uint64_t ovh = clock_overhead();
    char body[256];

    /* Timed pass: one command at a time. */
    uint64_t t_start = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        size_t len = body_of(i, ms, body, sizeof(body));
        uint64_t a = now_ns();
        hub_intent_t *in = parse(body, len, &t);
        uint64_t b = now_ns();
        if (hub_engine_submit(e, in) != 0) {
            fprintf(stderr, "bench_engine: submit refused\n");
            return 1;
        }
        hub_engine_drain_now(e);
        uint64_t c = now_ns();
        uint64_t full = c - a, apply = c - b;
        lat[i] = (uint32_t)(full > ovh ? full - ovh : 0);
        lat_apply[i] = (uint32_t)(apply > ovh ? apply - ovh : 0);
    }
    double timed_s = (double)(now_ns() - t_start) / 1e9;
    tally_t t1 = t;

    /* Untimed pass: batches of BATCH commands, one drain each. */
    uint64_t n2 = n, t2_start = now_ns();
    for (uint64_t i = 0; i < n2; i += BATCH) {
        for (uint64_t j = i; j < i + BATCH && j < n2; j++) {
            size_t len = body_of(n + j, ms, body, sizeof(body));
            if (hub_engine_submit(e, parse(body, len, &t)) != 0) {
                fprintf(stderr, "bench_engine: submit refused (batch)\n");
                return 1;
            }
        }
        hub_engine_drain_now(e);
    }
    double batch_s = (double)(now_ns() - t2_start) / 1e9;

    qsort(lat, n, sizeof(uint32_t), cmp_u32);
    qsort(lat_apply, n, sizeof(uint32_t), cmp_u32);
    uint64_t dups = n / DUP_EVERY;
    /* The batch pass repeats ids of its own; ids 10 back are still cached. */
    int ok = t1.applied == n - dups && t1.duplicate == dups && t1.other == 0 &&
             t.applied + t.duplicate == 2 * n && t.states == t.applied &&
             hub_engine_seq(e) == t.applied;
    printf("{\"scenario\":\"engine\",\"commands\":%llu,\"clock_overhead_ns\":%llu,"
           "\"validate_dedupe_apply\":{\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,"
           "\"max_us\":%.3f},"
           "\"dedupe_apply\":{\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f},"
           "\"timed_per_s\":%.0f,\"batched_per_s\":%.0f,\"applied\":%llu,\"duplicates\":%llu,"
           "\"seq\":%llu,\"counts_ok\":%s}\n",
           (unsigned long long)n, (unsigned long long)ovh, pct(lat, n, 50), pct(lat, n, 99),
           pct(lat, n, 99.9), (double)lat[n - 1] / 1000.0, pct(lat_apply, n, 50),
           pct(lat_apply, n, 99), pct(lat_apply, n, 99.9), (double)lat_apply[n - 1] / 1000.0,
           (double)n / timed_s, (double)n2 / batch_s, (unsigned long long)t.applied,
           (unsigned long long)t.duplicate, (unsigned long long)hub_engine_seq(e),
           ok ? "true" : "false");
    free(lat);
    free(lat_apply);
    hub_engine_free(e);
    hub_dmx_free(dmx);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    hub_metrics_free(metrics);
    return ok ? 0 : 1;
}
