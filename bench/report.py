"""bench/report.py - one table from a bench run's JSON files.

usage: python3 report.py <results-dir> <out.json>

<results-dir> holds machine.json and hub/, peer/ (and base/, the baseline
build, when run.sh had BENCH_BASELINE_BIN) with one JSON file per scenario
(written by run.sh from loadgen, bench_engine, wrk, peer_engine, netrx,
bench_show and show_hub.py), and
floor_*.json from bench/floor and bench/netrx floor (the kernel/loopback
floors, no server). A scenario file may be {"failed": "<why>"}. Prints the
table and writes every raw result plus the table rows to <out.json>.
"""
import json
import math
import os
import sys

MS = 1000.0


def load(d, name):
    try:
        with open(os.path.join(d, name + ".json")) as f:
            txt = f.read().strip()
        return json.loads(txt.splitlines()[-1]) if txt else {"failed": "no output"}
    except FileNotFoundError:
        return None
    except (ValueError, IndexError) as e:
        return {"failed": "unreadable result: %s" % e}


def dig(obj, path):
    for p in path.split("."):
        if not isinstance(obj, dict) or p not in obj:
            return None
        obj = obj[p]
    return obj


# label, file, value path, scale, unit, better, target text, target check(hub, peer)
ROWS = [
    ("engine apply p50", "engine", "validate_dedupe_apply.p50_us", 1, "us", "low", "", None),
    ("engine apply p99.9", "engine", "validate_dedupe_apply.p999_us", 1, "us", "low", "< 20 us",
     lambda h, p: h < 20),
    ("engine commands/s (timed loop)", "engine", "timed_per_s", 1, "/s", "high", "", None),
    ("REST read GET /rgb", "rest_read", "rps", 1, "req/s", "high", ">= 50,000/s, >= 10x",
     lambda h, p: h >= 50000 and (p is None or h >= 10 * p)),
    ("REST read p99", "rest_read", "p99_us", MS, "ms", "low", ">= 20x lower",
     lambda h, p: p is None or p >= 20 * h),
    ("REST write, applied (durable)", "rest_write", "applied_per_s", 1, "/s", "high",
     ">= 20,000/s, >= 20x", lambda h, p: h >= 20000 and (p is None or h >= 20 * p)),
    ("REST write p99", "rest_write", "latency.p99_us", MS, "ms", "low", "< 5 ms, >= 20x lower",
     lambda h, p: h < 5 and (p is None or p >= 20 * h)),
    ("fan-out 1 reader p99", "fanout_1", "latency.p99_us", MS, "ms", "low", ">= 20x lower",
     lambda h, p: p is None or p >= 20 * h),
    ("fan-out 100 readers p99", "fanout_100", "latency.p99_us", MS, "ms", "low",
     ">= 20x lower", lambda h, p: p is None or p >= 20 * h),
    ("fan-out 1,000 readers p99", "fanout_1000", "latency.p99_us", MS, "ms", "low",
     "< 5 ms, >= 20x lower", lambda h, p: h < 5 and (p is None or p >= 20 * h)),
    ("fan-out 1,000 missed states", "fanout_1000", "missed", 1, "", None, "0",
     lambda h, p: h == 0),
    ("fan-out 10,000 readers p99", "fanout_10000", "latency.p99_us", MS, "ms", "low",
     "< 50 ms, >= 20x lower", lambda h, p: h < 50 and (p is None or p >= 20 * h)),
    ("fan-out 10,000 missed states", "fanout_10000", "missed", 1, "", None, "0",
     lambda h, p: h == 0),
    ("MQTT cmd -> WS reader p99", "mqtt_low", "ws_reader.latency.p99_us", MS, "ms", "low",
     "< 3 ms, >= 20x lower", lambda h, p: h < 3 and (p is None or p >= 20 * h)),
    ("MQTT cmd -> MQTT state p99", "mqtt_low", "mqtt_sub.latency.p99_us", MS, "ms", "low",
     ">= 20x lower", lambda h, p: p is None or p >= 20 * h),
    ("MQTT QoS 1 sustained, applied", "mqtt_high", "applied_per_s", 1, "/s", "high",
     ">= 10,000/s", lambda h, p: h >= 10000),
    ("MQTT sustained, states missed (WS)", "mqtt_high", "ws_reader.missed", 1, "", None, "0",
     lambda h, p: h == 0),
    ("REST write p99, open loop 500/s", "rest_open", "latency.p99_us", MS, "ms", "low",
     ">= 20x lower", lambda h, p: p is None or p >= 20 * h),
    ("sustained rate (held), all sinks", "sustain", "hold.applied_per_s", 1, "/s", "high",
     ">= 20,000/s", lambda h, p: h >= 20000),
    ("sustained: held, no backlog growth", "sustain", "hold.pass", 1, "", None, "yes",
     lambda h, p: h is True),
    ("sustained p99 (each at its own rate)", "sustain", "hold.latency.p99_us", MS, "ms", None,
     "", None),
    ("overload 10x: accepted, not applied", "sustain", "audit.acked_not_applied", 1, "", None,
     "0", lambda h, p: h == 0),
    ("overload 10x: accepted, unverifiable", "sustain", "audit.acked_unverified", 1, "", None,
     "", None),
    ("overload 10x: no answer at all", "sustain", "audit.silent_total", 1, "", None, "0",
     lambda h, p: h == 0),
    ("overload 10x: answered 503/error", "sustain", "audit.overload_answers", 1, "", None, "",
     None),
    ("loadgen's own lag p99, fan-out 1,000", "fanout_1000", "sender_lag.p99_us", MS, "ms",
     None, "", None),
    ("idle RSS", "footprint", "idle_rss_kb", 1024, "MB", "low", "< 8 MB", lambda h, p: h < 8),
    ("RSS with 1,000 WS clients", "fanout_1000", "rss_connected_kb", 1024, "MB", "low", "",
     None),
    ("RSS with 10,000 WS clients", "fanout_10000", "rss_connected_kb", 1024, "MB", "low",
     "< 64 MB", lambda h, p: h < 64),
    ("exec -> /readyz 200", "ready", "ready_ms", 1, "ms", "low", "< 200 ms",
     lambda h, p: h < 200),
]
# The rows above are seed 000's: the baseline column compares them with an
# older build (BENCH_BASELINE_BIN), target within 10 %.
SEED_ROWS = len(ROWS)

# Issue 7, section 9: showhub only (the peer has no DMX output, no
# /api/v1/intents, no rooms, no journal), in the same row format.
NET = "DMX out 256u Art-Net+sACN 44 Hz: "
ROWS += [
    (NET + "lost (sequence gaps)", "net", "lost_seq_total", 1, "", None, "0",
     lambda h, p: h == 0),
    (NET + "missing vs 44 Hz x 256 x s", "net", "missing_total", 1, "", None, "0",
     lambda h, p: h == 0),
    (NET + "slots unchanged from prev packet", "net", "unchanged_total", 1, "", None, "0",
     lambda h, p: h == 0),
    (NET + "tick lateness p99 (bucket)", "net", "hub.lateness.p99_le_us", 1, "us", "low",
     "<= 300 us", lambda h, p: h <= 300),
    (NET + "tick lateness p99.9 (bucket)", "net", "hub.lateness.p999_le_us", 1, "us", "low",
     "<= 1 ms", lambda h, p: h <= 1000),
    (NET + "ticks <= 300 us late", "net", "hub.lateness.pct_le_300us", 1, "%", "high", "", None),
    (NET + "ticks <= 1 ms late", "net", "hub.lateness.pct_le_1ms", 1, "%", "high", "", None),
    (NET + "output thread CPU", "net", "hub.output_thread_cpu_pct", 1, "% core", "low",
     "<= 15 %", lambda h, p: h <= 15),
    (NET + "whole process CPU", "net", "hub.process_cpu_pct", 1, "% core", "low", "", None),
    (NET + "packets received", "net", "rx_per_s", 1, "/s", "high", "", None),
    ("intents POST /api/v1/intents, applied", "rest_intents", "applied_per_s", 1, "/s", "high",
     "", None),
    ("intents/s vs durable POST /rgb, same run", "rest_intents", "ratio_to_rgb", 1, "x", "high",
     ">= 0.8x", lambda h, p: h >= 0.8),
    ("intents p99 (closed loop, 64 conns)", "rest_intents", "latency.p99_us", MS, "ms", "low",
     "", None),
    ("WS frames, 100 clients x 4 univ: age p99", "frames", "age.p99_us", MS, "ms", "low",
     "<= 10 ms", lambda h, p: h <= 10),
    ("WS frames: age p50 (ts has 1 ms steps)", "frames", "age.p50_us", MS, "ms", "low", "",
     None),
    ("WS frames: per client (4 universes)", "frames", "frames_per_s_per_client.mean", 1, "/s",
     "high", "(at most 4 x 30)", None),
    ("WS frames: interval p99 (one universe)", "frames", "interval.p99_us", MS, "ms", "low", "",
     None),
    ("WS frames: clients disconnected", "frames", "disconnected", 1, "", None, "0",
     lambda h, p: h == 0),
    ("hello{since} 10,000: last patch, median", "replay", "last_patch.median_ms", 1, "ms", "low",
     "<= 50 ms", lambda h, p: h <= 50),
    ("hello{since} 10,000: last patch, max of 5", "replay", "last_patch.max_ms", 1, "ms", "low",
     "<= 50 ms", lambda h, p: h <= 50),
    ("hello{since} 10,000: first patch, median", "replay", "first_patch.median_ms", 1, "ms",
     "low", "", None),
    ("hello{since}: every seq once, in order", "replay", "all_ok", 1, "", None, "yes",
     lambda h, p: h is True),
]

# The show issue's performance section: showhub only, run last. SHOW_ROWS is
# where its rule goes in the table.
SHOW_ROWS = len(ROWS)
RND = "show render 64u x 512ch per frame, "
PLAY = "show play 60 fps + WS frames: "
PLAY_RT = "playback 60 fps, DMX_OUTPUT_PRIORITY=10: "
DET = "show determinism, 3 fresh hubs: "
ROWS += [
    ("show compile 2,000 cues + 200 fx, 64u", "show_render", "compile.median_ms", 1, "ms", "low",
     "", None),
    (RND + "playback p50", "show_render", "playback.p50_us", 1, "us", "low", "", None),
    (RND + "playback p99", "show_render", "playback.p99_us", 1, "us", "low", "<= 500 us",
     lambda h, p: h <= 500),
    (RND + "playback p99.9", "show_render", "playback.p999_us", 1, "us", "low", "", None),
    (RND + "playback max", "show_render", "playback.max_us", 1, "us", "low", "", None),
    (RND + "playback first (cold cursor)", "show_render", "playback.first_us", 1, "us", "low",
     "", None),
    (RND + "cursor != no-cursor render", "show_render", "playback.mismatches", 1, "", None, "0",
     lambda h, p: h == 0),
    (RND + "random access p50", "show_render", "random.p50_us", 1, "us", "low", "", None),
    (RND + "random access p99", "show_render", "random.p99_us", 1, "us", "low", "", None),
    (RND + "random access max", "show_render", "random.max_us", 1, "us", "low", "", None),
    ("show load 3 min 16u: parse+check+compile", "show_render", "load_3min.median_ms", 1, "ms",
     "low", "< 1 s", lambda h, p: h < 1000),
    ("show load 3 min: max of runs", "show_render", "load_3min.max_ms", 1, "ms", "low", "< 1 s",
     lambda h, p: h < 1000),
    ("show 10 min 16u: compiled program", "show_render", "memory_10min_16u.program_kb", 1024,
     "MB", "low", "", None),
    ("show 10 min 16u: player (cursor, buffers)", "show_render", "memory_10min_16u.player_kb",
     1024, "MB", "low", "", None),
    ("show 10 min 16u: parsed show file", "show_render", "memory_10min_16u.show_kb", 1024, "MB",
     "low", "", None),
    ("show.load 10 min 15u in the hub (REST)", "show_play", "load_ms", 1, "ms", "low", "", None),
    (PLAY + "tick lateness p99 (bucket)", "show_play", "lateness.p99_le_us", 1, "us", "low", "",
     None),
    (PLAY + "tick lateness p99.9 (bucket)", "show_play", "lateness.p999_le_us", 1, "us", "low",
     "<= 1 ms", lambda h, p: h <= 1000),
    (PLAY + "ticks <= 1 ms late", "show_play", "lateness.pct_le_1ms", 1, "%", "high", "", None),
    (PLAY + "DMX output tick lateness p99.9, same window", "show_play",
     "dmx_lateness.p999_le_us", 1, "us", "low", "", None),
    (PLAY + "ticks missed", "show_play", "missed", 1, "", None, "0", lambda h, p: h == 0),
    (PLAY + "ticks rendered", "show_play", "ticks", 1, "", None, "", None),
    (PLAY + "ticks rendered, % of window x 60", "show_play", "ticks_pct", 1, "%", "high", "",
     None),
    (PLAY + "hub RSS, peak (whole process)", "show_play", "rss_peak_kb", 1024, "MB", "low",
     "< 64 MB", lambda h, p: h < 64),
    (PLAY + "output thread CPU", "show_play", "output_thread_cpu_pct", 1, "% core", "low", "",
     None),
    (PLAY + "whole process CPU", "show_play", "process_cpu_pct", 1, "% core", "low", "", None),
    (PLAY + "WS frame age p99", "show_play", "frames.age.p99_us", MS, "ms", "low", "", None),
    (PLAY + "WS frames per client", "show_play", "frames_per_s_per_client", 1, "/s", "high", "",
     None),
    (PLAY + "WS clients disconnected", "show_play", "frames.disconnected", 1, "", None, "0",
     lambda h, p: h == 0),
    (PLAY_RT + "tick lateness p99 (bucket)", "show_play_rt", "lateness.p99_le_us", 1, "us", "low",
     "", None),
    (PLAY_RT + "tick lateness p99.9 (bucket)", "show_play_rt", "lateness.p999_le_us", 1, "us",
     "low", "<= 1 ms", lambda h, p: h <= 1000),
    (PLAY_RT + "ticks <= 1 ms late", "show_play_rt", "lateness.pct_le_1ms", 1, "%", "high", "",
     None),
    (PLAY_RT + "ticks missed", "show_play_rt", "missed", 1, "", None, "0", lambda h, p: h == 0),
    (PLAY_RT + "hub RSS, peak (whole process)", "show_play_rt", "rss_peak_kb", 1024, "MB", "low",
     "< 64 MB", lambda h, p: h < 64),
    (PLAY_RT + "WS frame age p99", "show_play_rt", "frames.age.p99_us", MS, "ms", "low", "",
     None),
    (DET + "runs without missed ticks", "show_det", "clean_runs", 1, "", None, "", None),
    (DET + "equal stream hashes (those runs)", "show_det_eq", "equal", 1, "", None, "yes",
     lambda h, p: h is True),
    (DET + "runs whose stream starts at t = 0", "show_det", "tick0_runs", 1, "", None,
     "every run", lambda h, p: h == 3),
    (DET + "stream = model hash at every sample", "show_det_model", "match", 1, "", None, "yes",
     lambda h, p: h is True),
]

# The fleet issue's performance section (issue 9, section 8): showhub against
# seed 004's design (bench/fleet_peer.py), run after the show rows. FLEET_ROWS
# is where its rule goes; "{scale}" in a label becomes the scale row's device
# count (10,000; quick 3,000).
FLEET_ROWS = len(ROWS)
F1 = "fleet 1,000 devices: "
FS = "fleet {scale} devices (scale): "
ROWS += [
    (F1 + "health ingest p50", "fleet_1k", "health.p50_ms", 1, "ms", "low", "", None),
    (F1 + "health ingest p99", "fleet_1k", "health.p99_ms", 1, "ms", "low", "<= 5 ms",
     lambda h, p: h <= 5),
    (F1 + "health ingest p99.9", "fleet_1k", "health.p999_ms", 1, "ms", "low", "", None),
    (F1 + "health ingest p99 beyond the floor", "fleet_1k", "health_beyond_floor.p99_ms", 1,
     "ms", "low", "", None),
    (F1 + "health messages measured", "fleet_1k", "health.pct_of_expected", 1, "%", "high",
     "", None),
    (F1 + "cmd published -> accepted p99", "fleet_1k", "commands.published_to_accepted.p99_ms",
     1, "ms", "low", "<= 10 ms", lambda h, p: h <= 10),
    (F1 + "cmd published -> accepted p99 (histogram)", "fleet_1k",
     "commands.accept_hist.p99_le_ms", 1, "ms", "low", "<= 10 ms", lambda h, p: h <= 10),
    (F1 + "cmd device got it -> accepted durable p99", "fleet_1k",
     "commands.device_to_accepted.p99_ms", 1, "ms", "low", "", None),
    (F1 + "cmd POST -> answer p99 (from due)", "fleet_1k", "commands.rest_from_due.p99_ms", 1,
     "ms", "low", "", None),
    (F1 + "cmd answered 202 (20/s due)", "fleet_1k", "commands.rest_per_s", 1, "cmd/s",
     "high", "20/s", lambda h, p: h >= 19.5),
    (F1 + "server CPU", "fleet_1k", "cpu_pct.server", 1, "% core", "low", "", None),
    (F1 + "server CPU, telemetry only (warm-up)", "fleet_1k", "cpu_telemetry_pct", 1, "% core",
     "low", "", None),
    (F1 + "broker CPU", "fleet_1k", "cpu_pct.broker", 1, "% core", "low", "", None),
    (F1 + "server disk writes", "fleet_1k", "disk_write_mb_s", 1, "MB/s", "low", "", None),
    (F1 + "server RSS growth", "fleet_1k", "rss_growth_kb", 1024, "MB", "low", "<= 20 MB",
     lambda h, p: h <= 20),
    (F1 + "WS client closed by the hub as slow", "fleet_1k", "ws.dropped", 1, "", None, "",
     None),
    (FS + "health ingest p50", "fleet_scale", "health.p50_ms", 1, "ms", "low", "", None),
    (FS + "health ingest p99", "fleet_scale", "health.p99_ms", 1, "ms", "low", "", None),
    (FS + "health ingest p99.9", "fleet_scale", "health.p999_ms", 1, "ms", "low", "", None),
    (FS + "health ingest p99 beyond the floor", "fleet_scale", "health_beyond_floor.p99_ms", 1,
     "ms", "low", "", None),
    (FS + "health messages measured", "fleet_scale", "health.pct_of_expected", 1, "%", "high",
     "", None),
    (FS + "cmd device got it -> accepted durable p99", "fleet_scale",
     "commands.device_to_accepted.p99_ms", 1, "ms", "low", "", None),
    (FS + "cmd POST -> answer p99 (from due)", "fleet_scale", "commands.rest_from_due.p99_ms",
     1, "ms", "low", "", None),
    (FS + "server CPU", "fleet_scale", "cpu_pct.server", 1, "% core", "low", "", None),
    (FS + "server CPU, telemetry only (warm-up)", "fleet_scale", "cpu_telemetry_pct", 1,
     "% core", "low", "", None),
    (FS + "broker CPU", "fleet_scale", "cpu_pct.broker", 1, "% core", "low", "", None),
    (FS + "server disk writes", "fleet_scale", "disk_write_mb_s", 1, "MB/s", "low", "", None),
    (FS + "server RSS growth", "fleet_scale", "rss_growth_kb", 1024, "MB", "low", "", None),
    (FS + "WS client closed by the hub as slow", "fleet_scale", "ws.dropped", 1, "", None, "",
     None),
]

# Issue 10, section 6: scenes (showhub against a bare publisher, the floor,
# and seed 002's design, bench/scenes_peer.py; bench/scenes_hub.py) and the
# scheduler (showhub alone, the seed-000 fan-out without and with its load;
# bench/schedules_hub.py).
SCENES_ROWS = len(ROWS)
SC = "scenes 50 x 42 actions at once: "
SCF = "scenes feedback round (devsim, OK after 50 ms): "
ROWS += [
    (SC + "receipt - offset p50", "scenes", "lateness.p50_ms", 1, "ms", "low", "", None),
    (SC + "receipt - offset p99", "scenes", "lateness.p99_ms", 1, "ms", "low", "<= 5 ms",
     lambda h, p: h <= 5),
    (SC + "receipt - offset p99, median round", "scenes", "round_median.p99_ms", 1, "ms",
     "low", "", None),
    (SC + "receipt - offset p99.9", "scenes", "lateness.p999_ms", 1, "ms", "low", "", None),
    (SC + "receipt - offset max", "scenes", "lateness.max_ms", 1, "ms", "low", "", None),
    (SC + "fired late p99 (before the publish)", "scenes", "late_call.p99_ms", 1, "ms", "low",
     "", None),
    (SC + "actions missing", "scenes", "missing", 1, "", None, "0", lambda h, p: h == 0),
    (SC + "run starts spread (max of rounds)", "scenes", "start_spread_max_ms", 1, "ms", None,
     "", None),
    (SC + "publisher CPU (hub / floor / peer)", "scenes", "target_cpu_pct", 1, "% core", "low",
     "", None),
    (SCF + "every action ok", "scenes", "feedback.feedback.all_ok", 1, "", None, "yes",
     lambda h, p: h is True),
    (SCF + "latency p50", "scenes", "feedback.feedback.latency.p50_ms", 1, "ms", "low", "",
     None),
    (SCF + "latency p99", "scenes", "feedback.feedback.latency.p99_ms", 1, "ms", "low", "",
     None),
    (SCF + "latency p99 (histogram bucket)", "scenes", "feedback.feedback.p99_le_ms", 1, "ms",
     "low", "", None),
    (SCF + "receipt - offset p99", "scenes", "feedback.lateness.p99_ms", 1, "ms", "low", "",
     None),
]
SCHED_ROWS = len(ROWS)
SCH = "schedules {groups} groups x {events} events, poll 1 s: "
ROWS += [
    (SCH + "events refused", "schedules", "events_refused", 1, "", None, "0",
     lambda h, p: h == 0),
    (SCH + "POST setup time", "schedules", "setup.seconds", 1, "s", "low", "", None),
    (SCH + "cycle p50 (bucket)", "schedules", "cycle.p50_le_ms", 1, "ms", "low", "", None),
    (SCH + "cycle p99 (bucket)", "schedules", "cycle.p99_le_ms", 1, "ms", "low", "<= 50 ms",
     lambda h, p: h <= 50),
    (SCH + "cycle mean", "schedules", "cycle.mean_ms", 1, "ms", "low", "", None),
    (SCH + "power intents per cycle (subscriber)", "schedules", "per_cycle.intents", 1,
     "/cycle", None, "", None),
    (SCH + "event lists per cycle (subscriber)", "schedules", "per_cycle.events", 1, "/cycle",
     None, "", None),
    ("fan-out 1,000 readers p99, no events (best window)", "schedules",
     "fanout_without_p99_us", MS, "ms", "low", "< 5 ms (seed 000)", lambda h, p: h < 5),
    ("fan-out 1,000 readers p99, scheduler load (best window)", "schedules",
     "fanout_with_p99_us", MS, "ms", "low", "< 5 ms (seed 000)", lambda h, p: h < 5),
    ("fan-out p99 with / without the scheduler", "schedules", "fanout_ratio", 1, "x", None, "",
     None),
    ("fan-out missed states, scheduler load", "schedules", "fanout_with_missed", 1, "", None,
     "0", lambda h, p: h == 0),
    ("hub CPU in the fan-out, no events", "schedules", "hub_cpu_without_pct", 1, "% core",
     "low", "", None),
    ("hub CPU in the fan-out, scheduler load", "schedules", "hub_cpu_with_pct", 1, "% core",
     "low", "", None),
]

# The floor column: row label -> (floor files, value path). The row shows the
# lowest value among the files that ran (e.g. best of 1 and 2 sender threads).
FLOOR_FILES = ["fanout_1000_t1", "fanout_1000_t2", "fanout_10000_t1", "fanout_10000_t2",
               "rtt_h0", "rtt_h1", "net", "fleet_1k", "fleet_scale", "scenes"]
RTT_HOP = (["rtt_h1"], "latency.p99_us")
FLOORS = {
    "fan-out 1,000 readers p99": (["fanout_1000_t1", "fanout_1000_t2"], "latency.p99_us"),
    "fan-out 10,000 readers p99": (["fanout_10000_t1", "fanout_10000_t2"], "latency.p99_us"),
    "REST write p99, open loop 500/s": RTT_HOP,
    "fan-out 1 reader p99": RTT_HOP,
    "MQTT cmd -> WS reader p99": RTT_HOP,
    "MQTT cmd -> MQTT state p99": RTT_HOP,
    "loadgen's own lag p99, fan-out 1,000": (["rtt_h0", "rtt_h1"], "sender_lag.p99_us"),
    NET + "lost (sequence gaps)": (["net"], "lost_seq_total"),
    NET + "missing vs 44 Hz x 256 x s": (["net"], "missing_total"),
    NET + "tick lateness p99 (bucket)": (["net"], "sender.lateness.p99_us"),
    NET + "tick lateness p99.9 (bucket)": (["net"], "sender.lateness.p999_us"),
    NET + "ticks <= 300 us late": (["net"], "sender.lateness.pct_le_300us"),
    NET + "ticks <= 1 ms late": (["net"], "sender.lateness.pct_le_1ms"),
    NET + "output thread CPU": (["net"], "sender.thread_cpu_pct"),
    NET + "packets received": (["net"], "rx_per_s"),
    F1 + "health ingest p50": (["fleet_1k"], "latency.p50_ms"),
    F1 + "health ingest p99": (["fleet_1k"], "latency.p99_ms"),
    F1 + "health ingest p99.9": (["fleet_1k"], "latency.p999_ms"),
    F1 + "health messages measured": (["fleet_1k"], "latency.pct_of_expected"),
    FS + "health ingest p50": (["fleet_scale"], "latency.p50_ms"),
    FS + "health ingest p99": (["fleet_scale"], "latency.p99_ms"),
    FS + "health ingest p99.9": (["fleet_scale"], "latency.p999_ms"),
    FS + "health messages measured": (["fleet_scale"], "latency.pct_of_expected"),
    "fan-out 1,000 readers p99, no events (best window)": (
        ["fanout_1000_t1", "fanout_1000_t2"], "latency.p99_us"),
    "fan-out 1,000 readers p99, scheduler load (best window)": (
        ["fanout_1000_t1", "fanout_1000_t2"], "latency.p99_us"),
}
# The scenes rows' floor: the bare publisher's figures at the same paths.
for _r in ROWS[SCENES_ROWS:SCHED_ROWS]:
    if not _r[2].startswith("feedback."):
        FLOORS[_r[0]] = (["scenes"], _r[2])
FLOORS[SCF + "latency p50"] = (["scenes"], "feedback_answer.p50_ms")
FLOORS[SCF + "latency p99"] = (["scenes"], "feedback_answer.p99_ms")


def floor_name(f):
    """fanout_1000_t2 -> "fanout N=1,000 T=2"; rtt_h1 -> "rtt hops 1"."""
    part = f.split("_")
    if f == "net":
        return "netrx floor"
    if f.startswith("fleet"):
        return "fleet delivery floor (%s)" % f[6:]
    if f == "scenes":
        return "scenes bare publisher"
    if part[0] == "fanout":
        return "fanout N={:,} T={}".format(int(part[1]), part[2][1:])
    return "rtt hops " + part[1][1:]


def floor_cell(floors, label, scale, unit):
    """(value, text, source) of the row's floor; (None, "", "") if none applies."""
    if label not in FLOORS:
        return None, "", ""
    names, path = FLOORS[label]
    best, why = None, "n/a: not run"
    for f in names:
        r = floors.get(f)
        w = why_failed(r, path)
        if w:
            if r is not None:
                why = w
            continue
        if best is None or dig(r, path) < dig(floors[best], path):
            best = f
    if best is None:
        return None, why, ""
    v = scaled(dig(floors[best], path), scale)
    threads = floors[best].get("threads") if best.startswith("fanout") else None
    return v, fmt(v, unit) + (" (T=%s)" % threads if threads else ""), floor_name(best)


def floor_notes(floors):
    """The floor column's explanation, then one line per floor scenario."""
    out = ["floor: what this machine's kernel alone does on loopback, measured in this run by "
           "bench/floor (plain sockets + epoll, no server); a measurement, not a target.",
           "floor: fan-out rows <- one 80-byte message per round to N TCP readers, read by ONE "
           "epoll loop in another process, p99 over all (round, reader) pairs, best of 1 and 2 "
           "sender threads.",
           "floor: REST open loop, fan-out 1 reader and MQTT rows <- 150-byte request/echo, one "
           "keep-alive connection, open loop 500/s, echo server with one thread hop "
           "(loop -> thread -> loop, like showhub's durable path); a lower bound only: those "
           "paths cross more hops (MQTT: client -> broker -> showhub -> reader).",
           "floor: loadgen lag row <- the floor client's own timerfd lateness (bare epoll "
           "loop).",
           "floor: DMX out rows <- bench/netrx floor: one thread sends the same packets "
           "(256 ArtDmx + 256 E1.31, one sendmmsg each, every 1/44 s on absolute deadlines) "
           "into the same receiver; its exact lateness percentiles and its thread's CPU."]
    if any(f.startswith("fleet") and floors.get(f) for f in FLOOR_FILES):
        out.append("floor: fleet health rows <- in the same hub run, a bare paho subscriber "
                   "(its own process, no database) to <root>/+/health on the same broker: "
                   "arrival - the payload's timestamp. What devsim + Mosquitto + a Python "
                   "receiver cost; no server can be faster.")
    if floors.get("scenes"):
        out.append("floor: scenes rows <- in the same run, between the hub's and the peer's "
                   "rounds, one bare Python process (paho, no loop thread, QoS 0) publishing the "
                   "same schedule on the monotonic clock to the same broker, received by the same "
                   "subscribers: what Mosquitto + the Python subscribers add. Feedback latency "
                   "rows <- devsim's own answer time seen by the subscribers (its <room>/status "
                   "receipt - the action's receipt, FIFO per room), 50 ms of it asked for.")
    for f in FLOOR_FILES:
        r = floors.get(f)
        if r is None:
            continue
        if f == "scenes":
            w = why_failed(r, "lateness.p99_ms")
            if w:
                out.append("floor scenes: " + w)
                continue
            lat = r["lateness"]
            out.append("floor scenes: %s actions over %s rounds, receipt - offset p50 %s, p99 %s, "
                       "p99.9 %s, max %s; per round p99 %s; the publisher used %s of a core" % (
                           "{:,}".format(lat["n"]), len(r.get("rounds") or []),
                           fmt(lat["p50_ms"], "ms"), fmt(lat["p99_ms"], "ms"),
                           fmt(lat["p999_ms"], "ms"), fmt(lat["max_ms"], "ms"),
                           ", ".join(fmt(x, "ms") for x in r.get("round_p99_ms") or []
                                     if x is not None),
                           fmt(r.get("target_cpu_pct") or 0, "%")))
            continue
        if f.startswith("fleet"):
            w = why_failed(r, "latency.p99_ms")
            if w:
                out.append("floor %s: %s" % (floor_name(f), w))
                continue
            lat = r["latency"]
            out.append("floor %s: %s devices, %.0f s: %s messages, p50 %s, p99 %s, p99.9 %s, "
                       "max %s; the subscriber used %s of a core" % (
                           floor_name(f), "{:,}".format(r["devices"]), r["window_s"], lat["n"],
                           fmt(lat["p50_ms"], "ms"), fmt(lat["p99_ms"], "ms"),
                           fmt(lat["p999_ms"], "ms"), fmt(lat["max_ms"], "ms"),
                           fmt(r.get("cpu_pct") or 0, "%")))
            continue
        if f == "net":
            w = why_failed(r, "sender.lateness.p99_us")
            if w:
                out.append("floor netrx: " + w)
                continue
            late = r["sender"]["lateness"]
            out.append("floor netrx: %d universes x 2 protocols at %g Hz for %g s: lost %s, "
                       "missing vs clock %s, ticks skipped %s; lateness p50 %s, p99 %s, "
                       "p99.9 %s, max %s; sender thread %s of a core, receiver %s" % (
                           r["universes"], r["fps"], r["duration_s"], r["lost_seq_total"],
                           r["missing_total"], r["sender"]["ticks_skipped"],
                           fmt(late["p50_us"], "us"), fmt(late["p99_us"], "us"),
                           fmt(late["p999_us"], "us"), fmt(late["max_us"], "us"),
                           fmt(r["sender"]["thread_cpu_pct"], "%"),
                           fmt(r["receiver_cpu_pct"], "%")))
            continue
        w = why_failed(r, "latency.p99_us")
        if w:
            out.append("floor %s: %s" % (floor_name(f), w))
            continue
        unit, scale = ("ms", MS) if f.startswith("fanout") else ("us", 1)
        lat = lambda path: fmt(dig(r, path) / scale, unit)
        txt = "p50 %s, p99 %s, max %s" % (lat("latency.p50_us"), lat("latency.p99_us"),
                                         lat("latency.max_us"))
        if f.startswith("fanout"):
            txt += "; last receipt per round mean %s, max %s; missed %s" % (
                lat("round_last.mean_us"), lat("round_last.max_us"), r.get("missed"))
        else:
            txt += "; sender lag p50 %s, p99 %s; missed %s" % (
                lat("sender_lag.p50_us"), lat("sender_lag.p99_us"), r.get("missed"))
        out.append("floor %s: %s" % (floor_name(f), txt))
    return out


def derive_net(n):
    """Totals over both protocols of a netrx result (hub or floor)."""
    rx = n.get("rx") if isinstance(n, dict) else None
    if not rx or "artnet" not in rx:
        return
    both = [rx["artnet"], rx["sacn"]]
    n["lost_seq_total"] = sum(p["lost_seq"] for p in both)
    n["missing_total"] = sum(p["missing_vs_clock"] for p in both)
    n["unchanged_total"] = sum(p["unchanged_slots"] for p in both)
    n["rx_per_s"] = sum(p["dmx_per_s"] for p in both)
    for late in (dig(n, "hub.lateness"), dig(n, "sender.lateness")):
        for k in ("300us", "1ms"):
            if isinstance(late, dict) and late.get("frac_le_" + k) is not None:
                late["pct_le_" + k] = 100.0 * late["frac_le_" + k]


def derive(res):
    """Fields the rows need that the raw files do not hold directly."""
    rr = res.get("rest_read")
    if rr and "requests" in rr and rr.get("duration_us"):
        rr["rps"] = rr["requests"] / (rr["duration_us"] / 1e6)
    ri, rw = res.get("rest_intents"), res.get("rest_write")
    if (ri and rw and ri.get("applied_per_s") is not None and rw.get("applied_per_s")
            and not why_failed(rw, "applied_per_s")):
        ri["ratio_to_rgb"] = ri["applied_per_s"] / rw["applied_per_s"]
    rp = res.get("replay")
    if rp and "all_complete" in rp:
        rp["all_ok"] = bool(rp["all_complete"] and rp.get("in_order_once"))
    derive_net(res.get("net"))
    su = res.get("sustain")
    if su and "audit" in su:
        a = su["audit"]
        a["silent_total"] = a.get("silent", 0) + a.get("rest_unanswered", 0)


def derive_show(res):
    """The show rows' derived fields, and the determinism verdict of the
    three show_det_<i> runs (res["show_det"], ["show_det_eq"],
    ["show_det_model"])."""
    sp = res.get("show_play")
    if sp and not sp.get("failed"):
        if sp.get("ticks") is not None and sp.get("ticks_expected"):
            sp["ticks_pct"] = 100.0 * sp["ticks"] / sp["ticks_expected"]
        # Beyond the last finite bucket (50 ms): report it as such, not as n/a.
        for late in (sp.get("lateness") or {}, sp.get("dmx_lateness") or {}):
            for k in ("p99_le_us", "p999_le_us"):
                if late.get("ticks") and late.get(k, 0) is None:
                    late[k] = math.inf
    runs = [res.get("show_det_%d" % i) for i in (1, 2, 3)]
    if all(r is None for r in runs):
        return
    ok = [r for r in runs if r is not None and not r.get("failed") and r.get("samples")]
    clean = [r for r in ok if r.get("missed_while_playing") == 0]
    det = {"runs": len(ok), "clean_runs": len(clean)}
    if len(ok) < len(runs):
        det["failed_runs"] = len(runs) - len(ok)
    # A hand-over later than one playback period starts the stream at tick
    # 1 or 2: t = 0 never rendered, and not counted as missed either.
    det["tick0_runs"] = sum(1 for r in ok if r.get("first_tick") == 0)
    res["show_det"] = det if ok else {"failed": "no run finished"}
    # Equal hashes: the runs without missed ticks, at the largest stream tick
    # count every one of them was sampled at (the end's pause starts a new
    # stream, so the hash is read while the show plays).
    wholes = [r.get("whole") for r in clean]
    if len(clean) < 2:
        res["show_det_eq"] = {"failed": "n/a: %d run(s) without missed ticks" % len(clean)}
    elif all(w and w.get("ticks") for w in wholes):
        # Each run's whole stream (first tick to the end), kept by the hub.
        hashes = [w["hash"] for w in wholes]
        ticks = [w["ticks"] for w in wholes]
        res["show_det_eq"] = {"equal": len(set(hashes)) == 1 and len(set(ticks)) == 1,
                              "ticks": ticks[0], "hashes": hashes, "whole": True,
                              "end_tick": clean[0].get("end_tick")}
    else:
        common = set.intersection(*[set((r.get("tail") or {}).keys()) for r in clean])
        if not common:
            res["show_det_eq"] = {"failed": "no common sampled tick count"}
        else:
            n = max(common, key=int)
            hashes = [r["tail"][n] for r in clean]
            res["show_det_eq"] = {"equal": len(set(hashes)) == 1, "ticks": int(n),
                                  "hashes": hashes,
                                  "end_tick": clean[0].get("end_tick")}
    # The model (bench_show hash, the hub's fold replicated) for the first
    # tick each run started at, over every sample before its first missed
    # tick: the frames are a pure function of the show time.
    judged = [r for r in ok if r.get("prefix_matches_model") is not None]
    if not judged:
        res["show_det_model"] = {"failed": "n/a: no run had samples before a missed tick"}
    else:
        res["show_det_model"] = {"match": all(r["prefix_matches_model"] for r in judged),
                                 "runs": len(judged)}

def why_failed(r, path):
    """None if r has a usable value at path, else a short reason."""
    if r is None:
        return "n/a: not run"
    if "failed" in r:
        return r["failed"] if r["failed"].startswith("n/a") else "failed: " + r["failed"]
    if r.get("ok") is False:
        return "failed"
    if path.startswith("hold.") and isinstance(r.get("hold"), dict):
        if r["hold"].get("server_alive") is False:
            return "failed: server died"
    elif r.get("server_alive_end") is False or (
            isinstance(r.get("proc"), dict) and r["proc"].get("alive") is False):
        return "failed: server died"
    if r.get("all_connected") is False:
        return "failed: %s/%s readers connected" % (r.get("connected"), r.get("readers"))
    if dig(r, path) is None:
        return "n/a"
    return None


def scaled(v, scale):
    return v if isinstance(v, bool) else v / scale


def fmt(v, unit):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and math.isinf(v):
        return "> 50 ms (last bucket)"
    if abs(v) >= 100 or unit in ("", "/s", "req/s"):
        s = "{:,.0f}".format(v)
    elif abs(v) >= 10:
        s = "{:.1f}".format(v)
    else:
        s = "{:.2f}".format(v)
    return s + (" " + unit if unit else "")


def base_cells(b, path, scale, unit, better, hv, seed_row):
    """The baseline column of one row: its value and the within-10 % verdict."""
    if not seed_row:
        return {"baseline": None, "base_text": "", "base_verdict": ""}
    bf = why_failed(b, path)
    bv = None if bf else scaled(dig(b, path), scale)
    out = {"baseline": bv, "base_text": bf or fmt(bv, unit), "base_verdict": ""}
    if bv is None or hv is None:
        return out
    if isinstance(hv, bool) or isinstance(bv, bool):
        out["base_verdict"] = "PASS" if hv == bv or hv is True else "MISS"
    elif better in ("high", "low"):
        if bv == 0:
            out["base_verdict"] = "PASS" if hv == 0 or better == "high" else "MISS"
        else:
            d = (hv - bv) / bv  # showhub's change against the baseline
            ok = d >= -0.10 if better == "high" else d <= 0.10
            out["base_verdict"] = "%+.0f %% %s" % (100 * d, "PASS" if ok else "MISS")
    elif unit == "":  # counts where fewer is better (missed, lost, silent)
        out["base_verdict"] = "PASS" if hv <= bv or hv == 0 else "MISS"
    return out


def proc_cell(r):
    p = r.get("proc") if isinstance(r, dict) else None
    if not p or "cpu_s" not in p:
        return ""
    return "%.1f s / %.0f MB" % (p["cpu_s"], p["peak_rss_kb"] / 1024.0)


def show_notes(h):
    """The show rows' note lines: what ran, and the determinism hashes."""
    out = []
    r = h.get("show_render")
    if r and not r.get("failed"):
        out.append("show render: bench_show in process, seed %s: patch %s universes x 32 "
                   "fixtures x 16 channels, show %s cues + %s effects over %s min (%s "
                   "keyframes); playback = hub_player ticks at 60 fps over %g s of show time "
                   "from %g s with its cursor, random = cursor-less renders at random times; "
                   "exact percentiles of %s frames each." % (
                       r.get("seed"), dig(r, "patch.universes"), dig(r, "show.cues"),
                       dig(r, "show.effects"), (dig(r, "show.duration_ms") or 0) / 60000,
                       dig(r, "show.keyframes"), dig(r, "playback.window_s") or 0,
                       dig(r, "playback.from_s") or 0, dig(r, "playback.n")))
        m = r.get("memory_10min_16u") or {}
        ld = r.get("load_3min") or {}
        out.append("show load: %s-byte show file text (%s cues, %s effects), median of %s: "
                   "parse %s, check %s, compile %s. Memory (mallinfo2 deltas) of a %s-cue "
                   "10-minute show over 16 universes: %s keyframes, program %s, player %s, "
                   "parsed show %s." % (
                       ld.get("json_bytes"), ld.get("cues"), ld.get("effects"), ld.get("runs"),
                       fmt(ld.get("parse_ms", 0), "ms"), fmt(ld.get("check_ms", 0), "ms"),
                       fmt(ld.get("compile_ms", 0), "ms"), m.get("cues"), m.get("keyframes"),
                       fmt(m.get("program_kb", 0), "KB"), fmt(m.get("player_kb", 0), "KB"),
                       fmt(m.get("show_kb", 0), "KB")))
    sp = h.get("show_play")
    if sp and not sp.get("failed"):
        ho = sp.get("handover") or {}
        out.append("show play: hub with 16 universes (fixtures on 2-16), 10-minute show, "
                   "DMX_PLAYBACK_FPS=60, Art-Net into a sink, MQTT off; loadgen frames with %s "
                   "readers x %s universes for %g s while it plays; window %.1f s; "
                   "lateness from the hub's show_playback_tick_lateness_seconds deltas "
                   "(bucket bounds); transport hand-over %s; DMX output ticks skipped %s." % (
                       sp.get("readers"), sp.get("universes"), sp.get("duration_s") or 0,
                       sp.get("window_s") or 0,
                       "<= %s" % fmt(ho["max_le_us"], "us") if ho.get("max_le_us") else "n/a",
                       sp.get("dmx_output_ticks_skipped")))
    for i in (1, 2, 3):
        d = h.get("show_det_%d" % i)
        if d is None:
            continue
        if d.get("failed"):
            out.append("show determinism run %d: failed: %s" % (i, d["failed"]))
            continue
        lp = d.get("last_playing") or {}
        out.append("show determinism run %d: missed %s; last sample while playing: %s ticks, "
                   "hash %s; first rendered tick %s; %s samples (%s torn reads left out), %s "
                   "before the first miss (up to tick %s), those = model: %s; end at tick %s "
                   "(model hash after it, from tick 0: %s); after the end's pause: %s "
                   "tick(s), hash %s." % (
                       i, d.get("missed_while_playing"), lp.get("ticks"), lp.get("hash"),
                       d.get("first_tick"), d.get("samples"), d.get("torn_reads"),
                       "all" if d.get("missed_while_playing") == 0 else "some",
                       d.get("clean_prefix_ticks"), d.get("prefix_matches_model"),
                       d.get("end_tick"), d.get("model_hash_at_end"),
                       dig(d, "after_end.stream_ticks"), dig(d, "after_end.stream_hash")))
    eq = h.get("show_det_eq")
    if eq and not eq.get("failed"):
        end = eq.get("end_tick")
        out.append("show determinism: hashes after %s stream ticks (the show's end is tick "
                   "index %s, so %s ticks from tick 0: %s): %s" % (
                       eq["ticks"], end, end + 1 if end is not None else "?",
                       "covered" if end is not None and eq["ticks"] >= end + 1 else
                       "not covered by every run's samples",
                       ", ".join(str(x) for x in eq["hashes"])))
    return out


def ws_note(ws):
    """showhub's WS client: frames, whether the hub closed it (and it came back)."""
    if not ws:
        return ""
    txt = "; WS client: %s frames, at most %s bytes unread in its socket" % (
        "{:,}".format(ws.get("frames") or 0), "{:,}".format(ws.get("pending_max_bytes") or 0))
    if ws.get("dropped"):
        txt += ", closed by the hub %s time(s) (%s; s from the window's start), reconnected" % (
            ws["dropped"], ", ".join("%s at %s" % (why, t) for t, why in ws.get("drops", [])))
    if ws.get("error"):
        txt += ", error: %s" % ws["error"]
    return txt


def fleet_notes(res):
    """The fleet rows' note lines: the set-up, each run's load, the peer's commands."""
    out = []
    h1, hs = res["hub"].get("fleet_1k"), res["hub"].get("fleet_scale")
    if h1 is None and hs is None:
        return out
    out.append("fleet rows: showhub vs seed 004's design re-created (bench/fleet_peer.py: a "
               "paho listener, one SQLite session and COMMIT per message, WAL + "
               "synchronous=NORMAL like showhub's default; a one-worker command API as the "
               "seed's gunicorn), each with a fresh Mosquitto, the same devsim fleet (one "
               "process, seed 'bench'), 1,000 then the scale count, hub and peer in turn. "
               "Health ingest: device publish -> showhub's WS patch of devices.registry.<uuid> "
               "(after its commit) / the peer's COMMIT (no WS leg); 'beyond the floor' = the "
               "same message's time at the server minus at the floor subscriber. Commands: "
               "restart_app open loop at 20/s over the devices; published -> accepted: "
               "showhub's acked_at - published_at (its PUBACK applied; ms steps) and the "
               "fleet_command_accept_seconds bucket; the peer's listener COMMIT of "
               "ack_received - its api's publish() return. Ratio = how many times better "
               "showhub is (peer/showhub).")
    for name in ("fleet_1k", "fleet_scale"):
        for t in ("hub", "peer"):
            r = res[t].get(name)
            if r is None:
                continue
            if r.get("failed"):
                out.append("%s %s: failed: %s" % (name, t, r["failed"]))
                continue
            c = r.get("commands") or {}
            cpu = r.get("cpu_pct") or {}
            out.append(
                "%s %s: %s devices (registered %s in %.1f s), window %.0f s, health every %g s "
                "(%s messages measured of %.0f expected), heartbeat %g s, %g logs/min each; "
                "CPU %% of a core: server %s (idle before devices %s), broker %s, devsim %s, "
                "floor subscriber %s, driver %s; RSS before %s, registered %s, after %s MB; "
                "load avg %.2f -> %.2f%s" % (
                    name, t, "{:,}".format(r.get("devices", 0)), r.get("registered"),
                    r.get("registered_s") or 0, r.get("window_measured_s") or 0,
                    r.get("health_s"), dig(r, "health.n"), dig(r, "health.expected") or 0,
                    r.get("heartbeat_s"), r.get("logs_per_min"),
                    *["%.1f" % cpu[k] if cpu.get(k) is not None else "?" for k in
                      ("server",)], "%.1f" % (r.get("cpu_idle_pct") or 0),
                    *["%.1f" % cpu[k] if cpu.get(k) is not None else "?" for k in
                      ("broker", "devsim", "floor", "driver")],
                    *["%.1f" % (r[k] / 1024) if r.get(k) else "?" for k in
                      ("rss_before_kb", "rss_registered_kb", "rss_after_kb")],
                    r.get("loadavg_start") or 0, r.get("loadavg_end") or 0,
                    ws_note(r.get("ws"))))
            if c:
                out.append(
                    "%s %s commands: %s due, %s sent, %s unsent (all %s connections "
                    "waiting), answers %s, %s still waiting at the end; POST -> answer p50 "
                    "%s / p99 %s (from send); accepted seen for %s: published -> accepted "
                    "p50 %s, p99 %s; device got it -> accepted durable p50 %s, p99 %s; POST "
                    "sent -> accepted p99 %s" % (
                        name, t, c.get("due"), c.get("sent"), c.get("unsent_busy"),
                        r.get("conns"), c.get("answered"), c.get("unanswered_at_end"),
                        *[fmt(dig(c, k), "ms") if dig(c, k) is not None else "n/a" for k in
                          ("rest_from_send.p50_ms", "rest_from_send.p99_ms")],
                        c.get("accepted"),
                        *[fmt(dig(c, k), "ms") if dig(c, k) is not None else "n/a" for k in
                          ("published_to_accepted.p50_ms", "published_to_accepted.p99_ms",
                           "device_to_accepted.p50_ms", "device_to_accepted.p99_ms",
                           "post_to_accepted.p99_ms")]))
    p1 = res["peer"].get("fleet_1k") or {}
    if dig(p1, "commands.rest_from_send.p50_ms"):
        out.append("fleet peer commands: the seed's _publish_client_command calls "
                   "wait_for_publish(timeout=5.0) twice on a paho client whose network loop "
                   "never runs, so paho never reads the PUBACK and each wait ends at its "
                   "timeout: every command request takes ~10 s (the device gets the command "
                   "at once), and one gunicorn sync worker serves ~0.1 commands/s.")
    return out


def lat_txt(x):
    """"p50 a, p99 b, max c" of a summary_ms dict."""
    if not isinstance(x, dict) or not x.get("n"):
        return "n/a"
    return "p50 %s, p99 %s, max %s" % (fmt(x["p50_ms"], "ms"), fmt(x["p99_ms"], "ms"),
                                       fmt(x["max_ms"], "ms"))


def scenes_notes(res):
    """The scenes rows' note lines: the set-up, each round, the feedback round."""
    h = res["hub"].get("scenes")
    if h is None:
        return []
    if h.get("failed"):
        return ["scenes: failed: %s" % h["failed"]]
    out = ["scenes rows: bench/scenes_hub.py: its own Mosquitto and a fresh showhub (defaults, "
           "DMX_LOG_LEVEL=warn), %s scenes (rooms r01..) of %s MQTT actions (every %s ms from "
           "t_ms 0, plus 2 at offsets that already have one), PUT over REST in %.2f s; %s rounds, "
           "each: the hub (POST .../run for all at once: one socket each, written back to back), "
           "the floor (one bare publisher), the peer (seed 002's design re-created: a paho client "
           "+ network thread and a scene thread per room, time.sleep of the offset deltas, QoS "
           "0, its loggers to a file). Receipts: %s subscriber processes (paho, time.time() in "
           "on_message), rooms split between them. Lateness = receipt - (run start + t_ms): "
           "showhub's start is its run's started_at, whole ms (its figures read 0-1 ms high); "
           "the floor's and the peer's are exact. 'fired late' = the hub's late_ms (its tick "
           "against the due time, before the commit and the publish) / the publish() call "
           "against the due time. Ratio = peer/showhub." % (
               h.get("scenes"), h.get("actions_per_scene"), h.get("step_ms"), h.get("put_s") or 0,
               len(h.get("rounds") or []), h.get("subs"))]
    for t in ("hub", "floor", "peer"):
        r = h if t == "hub" else (res["peer"].get("scenes") if t == "peer" else h.get("floor"))
        if not isinstance(r, dict):
            continue
        for k, rr in enumerate(r.get("rounds") or []):
            if rr.get("failed"):
                out.append("scenes %s round %d: failed: %s" % (t, k + 1, rr["failed"]))
                continue
            cpu = rr.get("cpu_pct") or {}
            e = rr.get("engine") or {}
            eng = ""
            if e.get("intents"):
                eng = ("; hub engine: %s intents, apply CPU mean %s (latency %s), %s commits "
                       "(mean %s), %s WAL checkpoints (mean %s), journal +%.1f MB" % (
                           e["intents"], fmt(e.get("apply_cpu_mean_ms") or 0, "ms"),
                           fmt(e.get("apply_latency_mean_ms") or 0, "ms"), e.get("commits"),
                           fmt(e.get("commit_mean_ms") or 0, "ms"), e.get("checkpoints"),
                           fmt(e.get("checkpoint_mean_ms") or 0, "ms"),
                           (e.get("journal_bytes") or 0) / 1e6))
            out.append("scenes %s round %d: receipt - offset %s; fired late %s; missing %s, dup %s"
                       "; start spread %s; CPU %% of a core: %s; load avg %.2f -> %.2f%s" % (
                           t, k + 1, lat_txt(rr.get("lateness")), lat_txt(rr.get("late_call")),
                           rr.get("missing"), rr.get("duplicates"),
                           fmt(rr.get("start_spread_ms") or 0, "ms"),
                           ", ".join("%s %.1f" % (a, b) for a, b in sorted(cpu.items())),
                           rr.get("loadavg_start") or 0, rr.get("loadavg_end") or 0, eng))
    fb = h.get("feedback")
    if isinstance(fb, dict) and fb.get("failed"):
        out.append("scenes feedback round: failed: %s" % fb["failed"])
    elif isinstance(fb, dict):
        f = fb.get("feedback") or {}
        out.append("scenes feedback round: devsim (--count 0 --feedback-room r01,...; one paho "
                   "node answers <room>/status OK after 50 ms); outcomes ok %s, error %s, timeout "
                   "%s of %s actions (statuses %s); hub latency_ms (its feedback receipt - its "
                   "publish) %s; histogram counts %s over bounds %s ms; devsim's own answer time "
                   "at the subscribers %s; receipt - offset %s, missing %s" % (
                       f.get("ok"), f.get("error"), f.get("timeout"), f.get("actions"),
                       fb.get("statuses"), lat_txt(f.get("latency")), f.get("counts"),
                       f.get("buckets_ms"), lat_txt(f.get("devsim_answer")),
                       lat_txt(fb.get("lateness")), fb.get("missing")))
    out.append("scenes: machine load avg %s at the start, %s at the end; %.0f s" % (
        " ".join("%.2f" % x for x in h.get("loadavg_start") or []),
        " ".join("%.2f" % x for x in h.get("loadavg_end") or []), h.get("duration_s") or 0))
    return out


def schedules_notes(res):
    h = res["hub"].get("schedules")
    if h is None:
        return []
    if h.get("failed"):
        return ["schedules: failed: %s" % h["failed"]]
    st = h.get("setup") or {}
    sc = st.get("cycle") or {}
    out = ["schedules rows: bench/schedules_hub.py: two fresh showhubs with %s, each with its "
           "own Mosquitto; hub B got %s groups x %s events (%s, 1-60 min each, spread over the "
           "day), POSTed to /api/v1/events by %s processes x %s keep-alive connections (no bulk "
           "form): %s accepted of %s in %.1f s (%s/s; POST p50 %s, p99 %s; hub CPU %s; %s cycles "
           "meanwhile, mean %s, max <= %s ms)%s. %s groups had an intent after the setup, %s of "
           "them on. Cycle = B's schedules_cycle_seconds histogram deltas over its fan-out "
           "windows (bucket bounds; mean from its sum). Per cycle = the messages a QoS 1 "
           "subscriber to infoscreen/# got over those windows / cycles. A fresh subscriber at "
           "the end was given %s retained intents and %s retained event lists." % (
               ", ".join("%s=%s" % kv for kv in sorted((h.get("env") or {}).items())),
               h.get("groups"), h.get("events_per_group"), h.get("rrule"), st.get("procs"),
               st.get("conns"), st.get("accepted"), st.get("events"), st.get("seconds") or 0,
               "{:,.0f}".format(st.get("per_s") or 0),
               fmt(dig(st, "post_latency.p50_ms") or 0, "ms"),
               fmt(dig(st, "post_latency.p99_ms") or 0, "ms"),
               fmt(st.get("hub_cpu_pct") or 0, "%"), sc.get("n"),
               fmt(sc.get("mean_ms") or 0, "ms"), sc.get("max_le_ms"),
               ("; refused: " + st["first_error"]) if st.get("first_error") else "",
               h.get("power_groups"), h.get("power_on"),
               dig(h, "fresh_subscriber.intent"), dig(h, "fresh_subscriber.events"))]
    out.append("schedules fan-out: run.sh's seed-000 scenario (loadgen fanout, %s readers, REST "
               "/rgb writes at %s/s, %s s) alternately on hub A (no event: 'no events') and hub B "
               "('scheduler load'), %s times each, the other hub SIGSTOPped meanwhile; each row "
               "is the best (lowest) p99 of its windows (each window below)." % (
                   h.get("fan_readers"), h.get("fan_rate"), h.get("fan_s"), h.get("repeat")))
    keys = sorted((k for k in h if k.startswith(("with_", "without_")) and
                   isinstance(h[k], dict)),
                  key=lambda k: (int(k.rsplit("_", 1)[1]), k.startswith("with_")))
    for k in keys:
        w = h.get(k)
        if not isinstance(w, dict):
            continue
        fo = w.get("fanout") or {}
        cyc = w.get("cycle") or {}
        out.append("schedules %s: fan-out p50 %s, p99 %s, p99.9 %s, max %s, missed %s, frames "
                   "%s (other rooms' %s); cycles %s (mean %s, p99 <= %s); subscriber: %s intents, "
                   "%s event lists; hub CPU %s; load avg %.2f -> %.2f" % (
                       k, *[fmt((dig(fo, "latency." + q) or 0) / MS, "ms") for q in
                            ("p50_us", "p99_us", "p999_us", "max_us")],
                       fo.get("missed"), fo.get("frames"), fo.get("stray_frames"), cyc.get("n"),
                       fmt(cyc.get("mean_ms") or 0, "ms"), cyc.get("p99_le_ms"),
                       dig(w, "sub.intent"), dig(w, "sub.events"),
                       fmt(w.get("hub_cpu_pct") or 0, "%"), w.get("loadavg_start") or 0,
                       w.get("loadavg_end") or 0))
    out.append("schedules: machine load avg %s at the start, %s at the end; %.0f s" % (
        " ".join("%.2f" % x for x in h.get("loadavg_start") or []),
        " ".join("%.2f" % x for x in h.get("loadavg_end") or []), h.get("duration_s") or 0))
    return out


def main():
    d, out_path = sys.argv[1], sys.argv[2]
    machine = json.load(open(os.path.join(d, "machine.json")))
    files = ["engine", "ready", "footprint", "rest_read", "rest_write", "rest_open", "fanout_1",
             "fanout_100",
             "fanout_1000", "fanout_10000", "mqtt_low", "mqtt_high", "sustain",
             "rest_intents", "replay", "net", "frames", "show_render", "show_play", "show_play_rt",
             "show_det_1", "show_det_2", "show_det_3", "fleet_1k", "fleet_scale", "scenes",
             "schedules"]
    res = {t: {f: load(os.path.join(d, t), f) for f in files} for t in ("hub", "peer", "base")}
    for t in res:
        res[t] = {k: v for k, v in res[t].items() if v is not None}
        derive(res[t])
        derive_show(res[t])
    base_info = load(os.path.join(d, "base"), "info")
    has_base = base_info is not None
    floors = {f: load(d, "floor_" + f) for f in FLOOR_FILES}
    floors = {k: v for k, v in floors.items() if v is not None}
    derive_net(floors.get("net"))
    rows = []
    scale_n = dig(res["hub"].get("fleet_scale") or {}, "devices") or (
        3000 if machine.get("quick") else 10000)
    sch = res["hub"].get("schedules") or {}
    for i, (label, f, path, scale, unit, better, target, check) in enumerate(ROWS):
        raw_label, label = label, label.replace("{scale}", "{:,}".format(scale_n))
        label = label.replace("{groups}", "{:,}".format(sch.get("groups") or 1000)).replace(
            "{events}", "{:,}".format(sch.get("events_per_group") or 50))
        h, p = res["hub"].get(f), res["peer"].get(f)
        hf, pf = why_failed(h, path), why_failed(p, path)
        if SEED_ROWS <= i < FLEET_ROWS and p is None:
            pf = "n/a: no such feature"
        if i >= SCHED_ROWS:
            pf = "n/a: no peer"
        hv = None if hf else scaled(dig(h, path), scale)
        pv = None if pf else scaled(dig(p, path), scale)
        ratio = ""
        if (hv is not None and pv is not None and better and not isinstance(hv, bool)
                and hv > 0 and pv > 0):
            x = pv / hv if better == "low" else hv / pv
            ratio = ("{:,.0f}x".format(x) if x >= 100 else "{:.1f}x".format(x))
        ok = ""
        if check and hv is not None:
            ok = "PASS" if check(hv, pv) else "MISS"
        fv, ftext, fsrc = floor_cell(floors, raw_label, scale, unit)
        row = {"scenario": label, "showhub": hv, "peer": pv, "unit": unit,
               "showhub_text": hf or fmt(hv, unit), "peer_text": pf or fmt(pv, unit),
               "ratio": ratio, "target": target, "verdict": ok,
               "hub_res": proc_cell(h), "peer_res": proc_cell(p),
               "floor": fv, "floor_text": ftext, "floor_src": fsrc}
        if has_base:
            row.update(base_cells(res["base"].get(f), path, scale, unit, better, hv,
                                  i < SEED_ROWS))
        rows.append(row)
    head = ["scenario", "showhub", "floor", "peer", "ratio", "target", "", "hub cpu/peak",
            "peer cpu/peak"]
    cells = [[r["scenario"], r["showhub_text"], r["floor_text"], r["peer_text"], r["ratio"],
              r["target"], r["verdict"], r["hub_res"], r["peer_res"]] for r in rows]
    if has_base:
        head[4:4] = ["baseline", "vs baseline"]
        for c, r in zip(cells, rows):
            c[4:4] = [r["base_text"], r["base_verdict"]]
    # Rules between seed 000's rows, issue 7's, the show issue's, the fleet's
    # and issue 10's; BENCH_ONLY=<key>: that section's rows alone.
    sections = [(SEED_ROWS, "-- issue 7 (section 9) --", None),
                (SHOW_ROWS, "-- show issue (performance) --", "show"),
                (FLEET_ROWS, "-- fleet issue (section 8; peer: seed 004's design) --", "fleet"),
                (SCENES_ROWS, "-- scenes (issue 10, section 6; floor: a bare publisher; peer: "
                              "seed 002's design) --", "scenes"),
                (SCHED_ROWS, "-- schedules (issue 10, section 6; no peer) --", "schedules")]
    only = machine.get("only")
    rule = lambda title: [title] + [""] * (len(head) - 1)  # noqa: E731
    if only:
        for j, (start, title, key) in enumerate(sections):
            if key == only:
                end = sections[j + 1][0] if j + 1 < len(sections) else len(cells)
                cells = [rule(title)] + cells[start:end]
    else:
        for start, title, key in reversed(sections):
            cells.insert(start, rule(title))
    w = [max(len(str(x[i])) for x in cells + [head]) for i in range(len(head))]
    line = lambda c: "| " + " | ".join(str(c[i]).ljust(w[i]) for i in range(len(c))) + " |"
    print("showhub vs %s - %s - %d cores, %s - %s%s" % (
        {"fleet": "seed 004's design (bench/fleet_peer.py)",
         "scenes": "seed 002's design (bench/scenes_peer.py)",
         "schedules": "itself without the scheduler's load"}.get(only, "seed-000 peer"),
        machine["date"], machine["nproc"], machine["cpu"], "quick" if machine["quick"] else "full",
        (" - load avg at start %s" % machine["loadavg"]) if machine.get("loadavg") else ""))
    print("ratio: how many times better showhub is (peer/showhub for latency and memory, "
          "showhub/peer for rates)")
    print(line(head))
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for c in cells:
        print(line(c))
    notes = []
    for t in ("hub", "peer"):
        rw = res[t].get("rest_write") or {}
        if rw.get("accepted_202"):
            notes.append("%s answers POST /rgb 202 before applying: its REST write latency is "
                         "not durable and its applied rate is from its seq." % t)
    if has_base:
        notes.append("baseline: %s (bench_engine: %s), seed-000 rows only, %s phases, same "
                     "loadgen; vs baseline: showhub's change against it; PASS when "
                     "at most 10 %% worse (lower rate, higher latency or memory)." % (
                         base_info.get("bin"), base_info.get("engine") or "not run",
                         base_info.get("phases")))
    notes.append("issue 7 rows: showhub only (the peer has no DMX output, /api/v1/intents, "
                 "rooms or journal). DMX out: a hub with 256 universes, chase test pattern, "
                 "Art-Net and sACN unicast to bench/netrx; lateness is the bucket bound of the "
                 "hub's dmx_output_tick_lateness_seconds histogram that holds the percentile. "
                 "WS frames: a hub with universes 1-4, chase; age = receipt - ts (ts in whole "
                 "ms, so ages read up to 1 ms high).")
    notes += show_notes(res["hub"])
    notes += fleet_notes(res)
    notes += scenes_notes(res)
    notes += schedules_notes(res)
    fnotes = floor_notes(floors)
    if only == "fleet":   # only what the fleet rows need
        notes = fleet_notes(res)
        fnotes = [n for n in fnotes if n.startswith(("floor: fleet", "floor fleet"))]
    elif only == "scenes":
        notes = scenes_notes(res)
        fnotes = [n for n in fnotes if n.startswith(("floor: scenes", "floor scenes"))]
    elif only == "schedules":
        notes = schedules_notes(res)
        fnotes = [n for n in fnotes if n.startswith(("floor: fan-out", "floor fanout N=1,000"))]
    for n in notes:
        print("note: " + n)
    for n in fnotes:
        print("note: " + n)
    res["floor"] = floors
    with open(out_path, "w") as f:
        json.dump({"machine": machine, "rows": rows, "results": res}, f, indent=1)
    print("results: " + out_path)


if __name__ == "__main__":
    main()
