#!/usr/bin/env python3
"""bench/show_hub.py - the show issue's hub scenarios (run by bench/run.sh).

  show_hub.py sink --port P                   bind UDP 127.0.0.1:P and never read
  show_hub.py play --port P --pid N --show NAME --loadgen BIN [--readers N]
                   [--universes U] [--duration S] [--connect S]
  show_hub.py det  --port P --pid N --show NAME --bench-show BIN --patch F
                   --show-file F [--poll-ms MS] [--timeout S]

play: on a running hub whose shows dir holds NAME, POST show.load (timed:
the hub reads, parses, checks and compiles the file, then commits), read
/metrics, POST transport.play, run `loadgen frames` (N WS clients in room
frames for universes 1..U) while the show plays, read /metrics again.
Reports, over the window from play to loadgen's end: the deltas of
show_playback_tick_lateness_seconds (p99 / p99.9 as the bound of the bucket
holding them, the share of ticks <= 1 ms late), show_playback_ticks_total,
show_playback_ticks_missed_total, ticks expected from the window's length,
the hub's RSS (sampled every 0.25 s; max, and VmHWM), the CPU of the
thread named hub-output and of the whole process, and loadgen's result.

det: POST show.load and transport.play (from 0), then poll /metrics (one
keep-alive connection, every --poll-ms, every 4 ms from 0.4 s before the
expected end to 0.3 s after) and the show state until the
transport is paused at duration_ms. Every sample taken while the show
plays is a pair (show_playback_stream_ticks, show_playback_stream_hash);
the transport.end pause starts a new stream (1 tick), so the samples are
kept up to the last one before it. `bench_show hash` gives the hash the
model predicts after each tick count (a transport from show time 0, first
rendered tick 0, 1 or 2); the run matches the model when every sample
equals the prediction for one first tick (a sample holding the hash of the
neighbouring tick is a torn read of the two gauges: counted apart and left
out). Reports the samples near the
end, the last playing sample, missed ticks, the first rendered tick the
samples match and the transport hand-over time.

sink: the Art-Net target of the play hub (the hub's datagrams are dropped
in the socket's queue; no ICMP port-unreachable work). Runs until killed.

Each of play and det prints one JSON line.
"""
import http.client
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time


def arg(name, default=None, conv=str):
    a = sys.argv
    if name in a:
        i = a.index(name)
        if i + 1 < len(a):
            return conv(a[i + 1])
    if default is None:
        sys.exit("show_hub.py: %s is required" % name)
    return default


class Hub:
    def __init__(self, port):
        self.port = port
        self.c = None

    def req(self, method, path, body=None, timeout=10):
        for attempt in (0, 1):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                hdr = {"Content-Type": "application/json"} if body is not None else {}
                self.c.request(method, path, body=None if body is None else json.dumps(body),
                               headers=hdr)
                r = self.c.getresponse()
                data = r.read()
                return r.status, data
            except (OSError, http.client.HTTPException):
                self.c = None
                if attempt:
                    raise

    def intent(self, name, payload):
        st, data = self.req("POST", "/api/v1/intents", {"name": name, "payload": payload},
                            timeout=60)
        try:
            j = json.loads(data)
        except ValueError:
            j = {"raw": data[:200].decode("utf-8", "replace")}
        if st != 200 or not j.get("ok"):
            raise RuntimeError("%s: HTTP %s %s" % (name, st, json.dumps(j)[:300]))
        return j

    def metrics(self):
        st, data = self.req("GET", "/metrics")
        if st != 200:
            raise RuntimeError("/metrics: HTTP %s" % st)
        return parse_metrics(data.decode())

    def transport(self):
        st, data = self.req("GET", "/api/v1/state?rooms=show")
        if st != 200:
            raise RuntimeError("/api/v1/state: HTTP %s" % st)
        return json.loads(data)["state"]["show"]["transport"]


def parse_metrics(text):
    """{name: value} for plain samples, {name: [(le, cum), ...]} for buckets."""
    m = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        try:
            key, val = line.rsplit(" ", 1)
            v = float(val)
        except ValueError:
            continue
        if "_bucket{le=\"" in key:
            name, le = key.split("_bucket{le=\"", 1)
            le = le.split("\"", 1)[0]
            m.setdefault(name + "_bucket", []).append((math.inf if le == "+Inf" else float(le), v))
        else:
            m[key] = v
    return m


def hist_delta(m0, m1, name):
    a = dict(m0.get(name + "_bucket", []))
    b = m1.get(name + "_bucket", [])
    return [(le, cum - a.get(le, 0.0)) for le, cum in b]


def hist_summary(m0, m1, name):
    d = hist_delta(m0, m1, name)
    if not d:
        return {"ticks": 0}
    n = d[-1][1]
    out = {"ticks": int(n)}

    def bound(q):
        for le, cum in d:
            if cum >= q * n:
                return None if math.isinf(le) else le * 1e6
        return None
    if n > 0:
        out["p50_le_us"] = bound(0.5)
        out["p99_le_us"] = bound(0.99)
        out["p999_le_us"] = bound(0.999)
        out["max_le_us"] = bound(1.0)
        for le, cum in d:
            if abs(le - 0.001) < 1e-9:
                out["pct_le_1ms"] = 100.0 * cum / n
            if abs(le - 0.0003) < 1e-9:
                out["pct_le_300us"] = 100.0 * cum / n
        s = m1.get(name + "_sum", 0.0) - m0.get(name + "_sum", 0.0)
        out["mean_us"] = s / n * 1e6
    out["buckets"] = {("+Inf" if math.isinf(le) else "%g" % le): int(c) for le, c in d}
    return out


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_cpu_ns(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) * 1e9 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def output_thread_ns(pid):
    """Run time (ns) of the thread named hub-output, and its tid."""
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            base = "/proc/%d/task/%s/" % (pid, tid)
            try:
                with open(base + "comm") as f:
                    if f.read().strip() != "hub-output":
                        continue
                with open(base + "schedstat") as f:
                    return int(f.read().split()[0]), int(tid)
            except OSError:
                continue
    except OSError:
        pass
    return None, None


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def emit(obj):
    print(json.dumps(obj, separators=(",", ":")))
    sys.stdout.flush()


def cmd_sink():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.0.1", arg("--port", conv=int)))
    while True:
        time.sleep(3600)


def cmd_play():
    port, pid = arg("--port", conv=int), arg("--pid", conv=int)
    show, lg = arg("--show"), arg("--loadgen")
    readers, unis = arg("--readers", 1000, int), arg("--universes", 4, int)
    duration, connect = arg("--duration", 60.0, float), arg("--connect", 30.0, float)
    hub = Hub(port)
    out = {"show": show, "readers": readers, "universes": unis, "duration_s": duration}
    t0 = time.monotonic()
    hub.intent("show.load", {"name": show})
    out["load_ms"] = (time.monotonic() - t0) * 1000
    time.sleep(0.5)
    out["rss_loaded_kb"] = status_kb(pid, "VmRSS")
    # VmHWM from here: the start-up and load peaks are not the playback's.
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
    except OSError:
        pass
    m0 = hub.metrics()
    cpu0, (th0, tid0) = proc_cpu_ns(pid), output_thread_ns(pid)
    w0 = time.monotonic()
    hub.intent("transport.play", {})
    proc = CHILD[0] = subprocess.Popen([lg, "frames", "--port", str(port), "--pid", str(pid), "--readers",
                             str(readers), "--universes", str(unis), "--duration", str(duration),
                             "--connect", str(connect)],
                            stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    rss_max = 0
    limit = time.monotonic() + duration + connect + 60
    while proc.poll() is None and time.monotonic() < limit:
        r = status_kb(pid, "VmRSS")
        rss_max = max(rss_max, r or 0)
        time.sleep(0.25)
    if proc.poll() is None:
        proc.kill()
        out["failed"] = "loadgen frames did not finish"
    lg_out = proc.communicate()[0].strip().splitlines()
    w1 = time.monotonic()
    wall = w1 - w0
    cpu1, (th1, tid1) = proc_cpu_ns(pid), output_thread_ns(pid)
    if not alive(pid):
        out["server_alive_end"] = False
        emit(out)
        return 1
    # The hub folds lateness samples into the histogram once a second.
    time.sleep(1.2)
    m1 = hub.metrics()
    wall_m = time.monotonic() - w0
    tr = hub.transport()
    try:
        out["frames"] = json.loads(lg_out[-1]) if lg_out else {"failed": "no output"}
    except ValueError:
        out["frames"] = {"failed": "unreadable loadgen output"}
    f = out["frames"]
    out["readers_connected"] = f.get("connected")
    out["frames_per_s_per_client"] = (f.get("frames_per_s_per_client") or {}).get("mean")
    out["window_s"] = wall
    late = hist_summary(m0, m1, "show_playback_tick_lateness_seconds")
    out["lateness"] = late
    d = lambda k: m1.get(k, 0.0) - m0.get(k, 0.0)
    out["ticks"] = int(d("show_playback_ticks_total"))
    out["ticks_expected"] = int(wall_m * 60)
    out["missed"] = int(d("show_playback_ticks_missed_total"))
    out["dmx_output_ticks_skipped"] = int(d("dmx_output_ticks_skipped_total"))
    out["handover"] = hist_summary(m0, m1, "show_transport_handover_seconds")
    out["dmx_lateness"] = hist_summary(m0, m1, "dmx_output_tick_lateness_seconds")
    out["rss_max_kb"] = rss_max
    out["rss_end_kb"] = status_kb(pid, "VmRSS")
    out["hwm_kb"] = status_kb(pid, "VmHWM")
    out["rss_peak_kb"] = max(rss_max, out["hwm_kb"] or 0)
    if th0 is not None and th1 is not None and tid0 == tid1:
        out["output_thread_cpu_pct"] = (th1 - th0) / 1e7 / wall
    if cpu0 is not None and cpu1 is not None:
        out["process_cpu_pct"] = (cpu1 - cpu0) / 1e7 / wall
    out["transport_end"] = tr
    out["server_alive_end"] = True
    out["ok"] = "failed" not in out and "failed" not in f
    emit(out)
    return 0


def model_hashes(bench_show, patch, show_file, ticks):
    """{first tick: [hash after 1, 2, ... ticks]} from bench_show hash."""
    p = subprocess.run([bench_show, "hash", "--patch", patch, "--show", show_file, "--ticks",
                        str(ticks), "--all"], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("bench_show hash: exit %s: %s" % (p.returncode, p.stderr[-300:]))
    return json.loads(p.stdout.strip().splitlines()[-1])


def cmd_det():
    port, pid = arg("--port", conv=int), arg("--pid", conv=int)
    show, bs = arg("--show"), arg("--bench-show")
    patch, show_file = arg("--patch"), arg("--show-file")
    poll = arg("--poll-ms", 20.0, float) / 1000.0
    timeout = arg("--timeout", 120.0, float)
    hub = Hub(port)
    out = {"show": show}
    hub.intent("show.load", {"name": show})
    st, data = hub.req("GET", "/api/v1/state?rooms=show")
    dur_ms = json.loads(data)["state"]["show"]["loaded"]["duration_ms"]
    m0 = hub.metrics()
    hub.intent("transport.play", {})
    t_play = time.monotonic()
    # Around the end, poll faster: the last ticks before the end's pause are
    # the ones that cover the whole show.
    fast_from, fast_to = t_play + dur_ms / 1000.0 - 0.4, t_play + dur_ms / 1000.0 + 0.3
    t_end = t_play + timeout
    samples = {}          # stream ticks -> hash, while playing
    clean = 0             # the last sample before the first missed tick
    last_ticks = 0
    missed_playing = None
    ended = False
    polls = 0
    next_state = 0.0
    while time.monotonic() < t_end:
        m = hub.metrics()
        polls += 1
        n = int(m.get("show_playback_stream_ticks", 0))
        h = int(m.get("show_playback_stream_hash", 0))
        if n >= last_ticks and not ended:
            missed_playing = m.get("show_playback_ticks_missed_total", 0.0)
            samples[n] = h
            if missed_playing == m0.get("show_playback_ticks_missed_total", 0.0):
                clean = n  # no tick missed up to here
            last_ticks = n
        elif n < last_ticks:
            ended = True  # a new stream: the transport changed (the end's pause)
        now = time.monotonic()
        if now >= next_state or ended:
            tr = hub.transport()
            next_state = now + 0.25
            if tr.get("state") == "paused" and tr.get("t_ms") == dur_ms:
                ended = True
                break
            if tr.get("state") != "playing":
                out["failed"] = "transport %s before the end" % tr.get("state")
                break
        time.sleep(poll if not fast_from <= time.monotonic() <= fast_to else min(poll, 0.004))
    else:
        out["failed"] = "the show did not reach its end in %gs" % timeout
    if not alive(pid):
        out["server_alive_end"] = False
        emit(out)
        return 1
    time.sleep(1.2)
    m1 = hub.metrics()
    out["duration_ms"] = dur_ms
    out["polls"] = polls
    out["missed"] = int(m1.get("show_playback_ticks_missed_total", 0) -
                        m0.get("show_playback_ticks_missed_total", 0))
    out["missed_while_playing"] = int((missed_playing or 0) -
                                      m0.get("show_playback_ticks_missed_total", 0))
    out["ticks_total"] = int(m1.get("show_playback_ticks_total", 0) -
                             m0.get("show_playback_ticks_total", 0))
    out["after_end"] = {"stream_ticks": int(m1.get("show_playback_stream_ticks", 0)),
                        "stream_hash": int(m1.get("show_playback_stream_hash", 0))}
    # The whole played stream, from its first tick to the end: the hub keeps
    # it once the end's pause starts a new stream (written once: no torn read).
    out["whole"] = {"ticks": int(m1.get("show_playback_last_stream_ticks", 0)),
                    "hash": int(m1.get("show_playback_last_stream_hash", 0))}
    out["handover"] = hist_summary(m0, m1, "show_transport_handover_seconds")
    out["lateness"] = hist_summary(m0, m1, "show_playback_tick_lateness_seconds")
    keys = sorted(k for k in samples if k > 0)
    out["samples"] = len(keys)
    try:
        # Far enough to cover the end (the tick that first shows duration_ms)
        # and every sample.
        want = max((keys[-1] if keys else 1) + 2, int((dur_ms or 0) * 60 / 1000) + 4)
        model = model_hashes(bs, patch, show_file, want)
        out["end_tick"] = model["end_tick"]
        pre = [k for k in keys if k <= clean]  # before the first missed tick

        def fit(first, ks):
            """(matches, torn, bad) of samples ks against the stream from
            tick `first`. Torn: the hash of the tick before or after (the
            two gauges are separate: a /metrics read between the output
            thread's two stores pairs a tick count with its neighbour's
            hash)."""
            seq = model["all"][first]
            res = {"ok": [], "torn": [], "bad": []}
            for k in ks:
                h = samples[k]
                if k <= len(seq) and seq[k - 1] == h:
                    res["ok"].append(k)
                elif (2 <= k <= len(seq) + 1 and seq[k - 2] == h) or (k < len(seq) and seq[k] == h):
                    res["torn"].append(k)
                else:
                    res["bad"].append(k)
            return res

        def first_tick(ks):
            for first in ("0", "1", "2"):
                r = fit(first, ks)
                if ks and not r["bad"] and r["ok"]:
                    return int(first), r
            return None, fit("0", ks)

        out["model_first_tick"], whole = first_tick(keys)
        out["model_match"] = out["model_first_tick"] == 0
        out["covers_end"] = bool(keys) and keys[-1] >= model["end_tick"] + 1
        out["torn_reads"] = len(whole["torn"])
        out["model_mismatched_samples"] = len(whole["bad"])
        out["model_mismatches"] = [[k, samples[k]] for k in whole["bad"][:5]]
        for k in whole["torn"]:  # not a stream: left out of the comparison
            del samples[k]
        keys = [k for k in keys if k in samples]
        pre = [k for k in pre if k in samples]
        seq0 = model["all"]["0"]
        out["model_hash_at_end"] = seq0[model["end_tick"]] \
            if len(seq0) > model["end_tick"] else None
        # Before the first missed tick the stream must follow the model even
        # in a run that missed ticks later.
        out["clean_prefix_ticks"] = clean
        out["clean_prefix_first_tick"], _ = first_tick(pre)
        # The first tick the hub rendered for this transport (None: no
        # sample before a miss, or no model stream matches).
        out["first_tick"] = out["model_first_tick"] if out["model_first_tick"] is not None \
            else out["clean_prefix_first_tick"]
        out["prefix_matches_model"] = None if not pre else \
            out["clean_prefix_first_tick"] is not None
    except (RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        out["model_error"] = str(e)[:300]
    if keys:
        out["last_playing"] = {"ticks": keys[-1], "hash": samples[keys[-1]]}
        # The tail (the report compares the runs at a tick count they share).
        out["tail"] = {str(k): samples[k] for k in keys[-60:]}
    out["server_alive_end"] = True
    out["ok"] = "failed" not in out
    emit(out)
    return 0


CHILD = [None]


def on_term(signum, frame):
    """timeout(1) in run.sh ends this script: take loadgen along."""
    if CHILD[0] is not None and CHILD[0].poll() is None:
        CHILD[0].kill()
    sys.exit(128 + signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    try:
        if cmd == "sink":
            return cmd_sink()
        if cmd == "play":
            return cmd_play()
        if cmd == "det":
            return cmd_det()
    except (RuntimeError, OSError, http.client.HTTPException, ValueError) as e:
        emit({"failed": str(e)[:300]})
        return 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
