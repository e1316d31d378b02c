#!/usr/bin/env python3
"""bench/scenes_hub.py - the scenes performance scenario (issue 10, section 6:
"scene actions published within 5 ms of their offset (p99) with 50 scenes
running at once"), run by bench/run.sh (BENCH_ONLY=scenes) or by hand.

  scenes_hub.py run --hub BIN [--devsim PATH] [--workdir DIR] [--scenes 50]
                    [--actions 40] [--step-ms 100] [--extra 2] [--rounds 3]
                    [--subs 5] [--peer PATH] [--limit S]
  scenes_hub.py sub --mqtt-port P --rooms r01,r02,...   (started by run)
  scenes_hub.py floor --mqtt-port P --schedule FILE     (started by run)

run starts its own Mosquitto (run.sh's settings) and a fresh showhub (BIN,
DMX_LOG_LEVEL=warn, defaults otherwise) on free 127.0.0.1 ports with a temp
data dir, PUTs --scenes scenes (rooms r01..r50), each --actions MQTT actions
every --step-ms (t_ms 0, 100, ... 3900) plus --extra more at offsets that
already have one (1000, 2000, ...), payload "<room>:<i>" (i: the action's
index in the file) on <room>/d<i mod 5>. Then --rounds rounds of three
targets in turn, the same schedule each time, the same broker and the same
subscribers:

  hub    POST /api/v1/scenes/<name>/run for all scenes at once (one
         pre-connected socket each, the 50 requests written back to back);
         lateness = receipt - (the run's started_at (ms) + t_ms); the hub's
         own late_ms per action from its run state (how late the tick fired
         it, before the commit and the publish).
  floor  one bare Python process (paho, no loop thread, QoS 0): every action
         of every scene in due order, sleep until due on the monotonic clock,
         publish; lateness = receipt - (its start (wall, exact) + t_ms).
         What the broker and the subscribers add with no hub.
  peer   bench/scenes_peer.py: seed 002's design (one paho client + network
         thread per room controller, one scene thread per room sleeping the
         offset deltas); lateness = receipt - (that scene thread's start +
         t_ms).

Receipts: --subs subscriber processes (paho, loop_forever), the rooms split
between them (<room>/# each), each stamping time.time() in on_message.
Then one feedback round (hub only): devsim (--count 0 --feedback-room
r01,...,r50, OK after 50 ms) answers every action; every action must end
"ok"; the hub's feedback histogram (GET /api/v1/scenes/runs, "feedback") and
each action's latency_ms.
Prints one JSON line.
"""
import datetime
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHILDREN = []
HZ = os.sysconf("SC_CLK_TCK")


def arg(name, default=None, conv=str):
    a = sys.argv
    if name in a:
        i = a.index(name)
        if i + 1 < len(a):
            return conv(a[i + 1])
    if default is None:
        sys.exit("scenes_hub.py: %s is required" % name)
    return default


def log(*a):
    print("scenes_hub:", *a, file=sys.stderr, flush=True)


def parse_ts(s):
    if not isinstance(s, str):
        return None
    try:
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(q * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def summary_ms(vals, scale=1e3):
    """Exact percentiles in ms (vals in s; scale=1 when already ms)."""
    v = sorted(vals)
    if not v:
        return {"n": 0}
    return {"n": len(v), "p50_ms": pct(v, 0.5) * scale, "p99_ms": pct(v, 0.99) * scale,
            "p999_ms": pct(v, 0.999) * scale, "max_ms": v[-1] * scale, "min_ms": v[0] * scale,
            "mean_ms": sum(v) / len(v) * scale}


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def stop(p, timeout=5):
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


# ---------------------------------------------------------------- broker and hub

def start_broker(workdir):
    port = free_port()
    conf = os.path.join(workdir, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
                "max_queued_messages 1000000\nmax_inflight_messages 0\npersistence false\n"
                "log_dest file %s\nlog_type error\nlog_type warning\n" % (
                    port, os.path.join(workdir, "mosquitto.log")))
    p = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    CHILDREN.append(p)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("mosquitto did not start")


def start_hub(binary, workdir, mqtt_port, extra_env=None):
    port = free_port()
    data = os.path.join(workdir, "data")
    os.makedirs(data, exist_ok=True)
    env = dict(os.environ, DMX_HTTP_HOST="127.0.0.1", DMX_HTTP_PORT=str(port),
               DMX_MQTT_HOST="127.0.0.1", DMX_MQTT_PORT=str(mqtt_port), DMX_DATA_DIR=data,
               DMX_LOG_LEVEL="warn")
    env.update(extra_env or {})
    out = open(os.path.join(workdir, "server.log"), "a")
    p = subprocess.Popen([binary], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    CHILDREN.append(p)
    t0 = time.time()
    while time.time() - t0 < 30:
        if p.poll() is not None:
            raise RuntimeError("showhub exited with %s (see %s/server.log)" % (p.returncode,
                                                                               workdir))
        try:
            st, body = http_req(port, "GET", "/readyz", timeout=1)
            if st == 200 and b'"mqtt":"connected"' in body:
                return p, port
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)
    raise RuntimeError("showhub not ready with MQTT connected within 30 s")


def http_req(port, method, path, body=None, timeout=10, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdr = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, body=body, headers=hdr)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r.status, data


def metrics(port):
    """/metrics as {"name{labels}": value}; {} when it cannot be read."""
    try:
        st, body = http_req(port, "GET", "/metrics", timeout=10)
    except (OSError, http.client.HTTPException):
        return {}
    m = {}
    for line in body.decode().splitlines():
        if not line or line[0] == "#":
            continue
        try:
            key, val = line.rsplit(" ", 1)
            m[key] = float(val)
        except ValueError:
            continue
    return m


def engine_costs(m0, m1):
    """What the hub's engine and store did between two /metrics reads."""
    d = lambda k: m1.get(k, 0.0) - m0.get(k, 0.0)  # noqa: E731
    n = d("dmx_engine_apply_cpu_seconds_count")
    c = d("dmx_store_commit_seconds_count")
    k = d("dmx_store_checkpoint_seconds_count")
    return {"intents": int(d("dmx_engine_processed_total")),
            "apply_cpu_mean_ms": d("dmx_engine_apply_cpu_seconds_sum") / n * 1e3 if n else None,
            "apply_latency_mean_ms": d("dmx_engine_apply_latency_seconds_sum") / n * 1e3
            if n else None,
            "commits": int(c),
            "commit_mean_ms": d("dmx_store_commit_seconds_sum") / c * 1e3 if c else None,
            "checkpoints": int(k),
            "checkpoint_mean_ms": d("dmx_store_checkpoint_seconds_sum") / k * 1e3 if k else None,
            "journal_bytes": int(d("dmx_store_journal_bytes"))}


# ---------------------------------------------------------------- the schedule

def make_schedule(n, actions, step_ms, extra):
    scenes = []
    for j in range(1, n + 1):
        room = "r%02d" % j
        acts = [{"t_ms": k * step_ms} for k in range(actions)]
        for e in range(extra):   # more at offsets that already have one
            acts.append({"t_ms": ((e + 1) * 10 % actions) * step_ms})
        acts.sort(key=lambda a: a["t_ms"])   # the file in time order (stable)
        for i, a in enumerate(acts):
            a["topic"] = "%s/d%d" % (room, i % 5)
            a["message"] = "%s:%d" % (room, i)
        scenes.append({"name": room, "room": room, "actions": acts})
    return scenes


# ---------------------------------------------------------------- subscribers

def cmd_sub():
    import paho.mqtt.client as mqtt
    port = arg("--mqtt-port", conv=int)
    rooms = arg("--rooms").split(",")
    lock = threading.Lock()
    recs = []
    c = mqtt.Client(client_id="scenes-sub-%d" % os.getpid(), clean_session=True)

    def on_message(cl, ud, m):
        t = time.time()
        with lock:
            recs.append((m.topic, m.payload.decode(errors="replace"), t))

    def on_connect(cl, ud, fl, rc):
        cl.subscribe([("%s/#" % r, 0) for r in rooms])

    def on_subscribe(cl, ud, mid, q):
        print(json.dumps({"ready": True}), flush=True)

    c.on_message = on_message
    c.on_connect = on_connect
    c.on_subscribe = on_subscribe

    def control():
        for line in sys.stdin:
            if line.strip() == "dump":
                with lock:
                    out = recs[:]
                    del recs[:]
                print(json.dumps({"recs": out}), flush=True)
        c.disconnect()
    threading.Thread(target=control, daemon=True).start()
    c.connect("127.0.0.1", port, 60)
    c.loop_forever()


class Subs:
    def __init__(self, mqtt_port, rooms, n, errlog):
        self.ps = []
        groups = [rooms[i::n] for i in range(n)]
        for g in groups:
            p = subprocess.Popen([PY, os.path.abspath(__file__), "sub", "--mqtt-port",
                                  str(mqtt_port), "--rooms", ",".join(g)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog,
                                 text=True, bufsize=1)
            CHILDREN.append(p)
            self.ps.append(p)
        for p in self.ps:
            line = p.stdout.readline()
            if '"ready"' not in line:
                raise RuntimeError("a subscriber did not subscribe: %r" % line)

    def pids(self):
        return [p.pid for p in self.ps]

    def dump(self):
        out = []
        for p in self.ps:
            p.stdin.write("dump\n")
            p.stdin.flush()
        for p in self.ps:
            line = p.stdout.readline()
            out += json.loads(line)["recs"]
        return out

    def close(self):
        for p in self.ps:
            try:
                p.stdin.close()
            except OSError:
                pass
        for p in self.ps:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


# ---------------------------------------------------------------- the floor publisher

def cmd_floor():
    import paho.mqtt.client as mqtt
    port = arg("--mqtt-port", conv=int)
    with open(arg("--schedule")) as f:
        scenes = json.load(f)
    flat = sorted((a["t_ms"], a["topic"], a["message"]) for s in scenes for a in s["actions"])
    c = mqtt.Client(client_id="scenes-floor-%d" % os.getpid(), clean_session=True)
    ok = []
    c.on_connect = lambda cl, u, f, rc: ok.append(rc)
    c.connect("127.0.0.1", port, 60)
    lim = time.monotonic() + 10
    while not ok and time.monotonic() < lim:
        c.loop(0.05)
    if ok != [0]:
        print(json.dumps({"failed": "floor publisher did not connect"}), flush=True)
        return 1
    print(json.dumps({"ready": True}), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    cpu0 = os.times()
    t0_wall, t0 = time.time(), time.monotonic()
    late = []
    for t_ms, topic, msg in flat:
        due = t0 + t_ms / 1000.0
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
            now = time.monotonic()
        late.append(now - due)
        c.publish(topic, msg, qos=0)   # no loop thread: written at once
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        c.loop(0.05)
    cpu1 = os.times()
    c.disconnect()
    print(json.dumps({"start": t0_wall, "late_call": late, "published": len(late),
                      "cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)}),
          flush=True)
    return 0


# ---------------------------------------------------------------- one round

def post_runs(port, names):
    """POST .../run for every scene at once: one pre-connected socket per
    request, all written back to back, answers read as they come."""
    socks = []
    for n in names:
        s = socket.create_connection(("127.0.0.1", port), 5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    reqs = [("POST /api/v1/scenes/%s/run HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Content-Type: application/json\r\nContent-Length: 2\r\n"
             "Connection: close\r\n\r\n{}" % n).encode() for n in names]
    t_first = time.time()
    for s, r in zip(socks, reqs):
        s.sendall(r)
    t_last = time.time()
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    done = {}
    lim = time.time() + 15
    while len(done) < len(socks) and time.time() < lim:
        for key, _ in sel.select(0.5):
            s = key.fileobj
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            if d:
                bufs[s] += d
                continue
            sel.unregister(s)
            done[s] = time.time()
    out = []
    for n, s in zip(names, socks):
        raw = bufs[s]
        head, _, body = raw.partition(b"\r\n\r\n")
        st = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        try:
            j = json.loads(body)
        except ValueError:
            j = {}
        out.append({"name": n, "status": st, "run_id": j.get("run_id"),
                    "answer_ms": (done[s] - t_first) * 1e3 if s in done else None,
                    "error": j.get("error")})
        s.close()
    sel.close()
    return out, (t_last - t_first) * 1e3


def get_runs(port):
    st, body = http_req(port, "GET", "/api/v1/scenes/runs", timeout=30)
    if st != 200:
        raise RuntimeError("GET /api/v1/scenes/runs: %s" % st)
    return json.loads(body)


def match(recs, scenes, start_of):
    """Lateness (s) of every expected action received; missing/dup/stray."""
    want = {}
    for s in scenes:
        for i, a in enumerate(s["actions"]):
            want[a["message"]] = (s["room"], a["t_ms"])
    seen = {}
    dups = stray = status = 0
    for topic, payload, t in recs:
        if topic.endswith("/status"):
            status += 1
            continue
        if payload not in want:
            stray += 1
            continue
        if payload in seen:
            dups += 1
            continue
        seen[payload] = t
    late = []
    for msg, t in seen.items():
        room, t_ms = want[msg]
        st = start_of.get(room)
        if st is not None:
            late.append(t - (st + t_ms / 1000.0))
    return {"expected": len(want), "received": len(seen), "missing": len(want) - len(seen),
            "duplicates": dups, "stray": stray, "status_msgs": status}, late


def cpu_snap(pids):
    return {k: [cpu_ticks(p) for p in v] for k, v in pids.items()}


def cpu_delta(a, b, wall):
    out = {}
    for k in a:
        if all(x is not None for x in a[k] + b[k]):
            out[k] = 100.0 * (sum(b[k]) - sum(a[k])) / HZ / wall
    return out


def hub_round(ctx, feedback=False):
    scenes, port = ctx["scenes"], ctx["port"]
    ctx["subs"].dump()
    names = [s["name"] for s in scenes]
    dur = max(a["t_ms"] for s in scenes for a in s["actions"]) / 1000.0
    c0, w0 = cpu_snap(ctx["pids"]), time.time()
    load0 = os.getloadavg()[0]
    fb0 = get_runs(port).get("feedback") if feedback else None
    m0 = metrics(port)
    answers, write_ms = post_runs(port, names)
    ids = {a["run_id"]: a["name"] for a in answers if a["run_id"]}
    res = {"posted": len(answers), "started": len(ids), "post_write_ms": write_ms,
           "answer_ms": summary_ms([a["answer_ms"] / 1e3 for a in answers
                                    if a["answer_ms"] is not None]),
           "refused": [a for a in answers if not a["run_id"]][:3]}
    time.sleep(dur + 0.3)
    c1, w1 = cpu_snap(ctx["pids"]), time.time()
    res["engine"] = engine_costs(m0, metrics(port))
    # Wait for every run to end (feedback or its 1 s timeout), bounded.
    lim = time.time() + 10
    runs = {}
    while time.time() < lim:
        time.sleep(0.5)
        got = get_runs(port)
        runs = {r["id"]: r for r in got.get("runs", []) if r["id"] in ids}
        if len(runs) == len(ids) and all(r["status"] != "running" for r in runs.values()):
            break
    res["ended"] = sum(1 for r in runs.values() if r["status"] != "running")
    recs = ctx["subs"].dump()
    starts, hub_late, statuses = {}, [], {}
    for r in runs.values():
        st = parse_ts(r.get("started_at"))
        if st is not None:
            starts[r["room"]] = st
        for a in r.get("actions", []):
            if a.get("late_ms") is not None:
                hub_late.append(a["late_ms"])
            statuses[a["status"]] = statuses.get(a["status"], 0) + 1
    counts, late = match(recs, scenes, starts)
    res.update(counts)
    res["statuses"] = statuses
    res["lateness"] = summary_ms(late)
    res["late_call"] = summary_ms(hub_late, scale=1)
    if starts:
        res["start_spread_ms"] = (max(starts.values()) - min(starts.values())) * 1e3
    res["cpu_pct"] = cpu_delta(c0, c1, w1 - w0)
    if c0["hub"][0] is not None and c1["hub"][0] is not None:
        res["hub_cpu_s"] = (c1["hub"][0] - c0["hub"][0]) / HZ
    res["loadavg_start"], res["loadavg_end"] = load0, os.getloadavg()[0]
    if feedback:
        fb1 = got.get("feedback") or {}
        lat = [a["latency_ms"] for r in runs.values() for a in r.get("actions", [])
               if a.get("latency_ms") is not None]
        res["feedback"] = {
            "ok": fb1.get("ok", 0) - fb0.get("ok", 0),
            "error": fb1.get("error", 0) - fb0.get("error", 0),
            "timeout": fb1.get("timeout", 0) - fb0.get("timeout", 0),
            "buckets_ms": fb1.get("buckets_ms"),
            "counts": [b - a for a, b in zip(fb0.get("counts", []), fb1.get("counts", []))],
            "latency": summary_ms(lat, scale=1),
            "all_ok": bool(runs) and all(a["status"] == "ok" for r in runs.values()
                                         for a in r.get("actions", [])),
            "actions": sum(len(r.get("actions", [])) for r in runs.values())}
        # devsim's own answer time, seen by the subscribers: the k-th status
        # of a room after the k-th action of that room (the hub's FIFO rule).
        acts, sts = {}, {}
        for topic, payload, t in recs:
            room = topic.split("/", 1)[0]
            (sts if topic.endswith("/status") else acts).setdefault(room, []).append(t)
        ans = []
        for room, ts in acts.items():
            for a, b in zip(sorted(ts), sorted(sts.get(room, []))):
                ans.append(b - a)
        res["feedback"]["devsim_answer"] = summary_ms(ans)
        h = res["feedback"]
        n = sum(h["counts"])
        if n:
            for q, key in ((0.5, "p50_le_ms"), (0.99, "p99_le_ms"), (1.0, "max_le_ms")):
                cum = 0
                for i, k in enumerate(h["counts"]):
                    cum += k
                    if cum >= q * n:
                        b = h["buckets_ms"]
                        h[key] = b[i] if i < len(b) else None   # None: above the last bound
                        break
    return res, late, hub_late


def child_round(ctx, cmd, name):
    """floor or peer: a process publishing the schedule on "go"."""
    scenes = ctx["scenes"]
    ctx["subs"].dump()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=ctx["errlog"], text=True, bufsize=1)
    CHILDREN.append(p)
    line = p.stdout.readline()
    if '"ready"' not in line:
        stop(p)
        return {"failed": "%s: %s" % (name, line.strip()[:200] or "no ready")}, [], []
    pids = dict(ctx["pids"], **{name: [p.pid]})
    c0, w0 = cpu_snap(pids), time.time()
    load0 = os.getloadavg()[0]
    p.stdin.write("go\n")
    p.stdin.flush()
    try:
        out = json.loads(p.stdout.readline() or "{}")
    except ValueError:
        out = {}
    c1, w1 = cpu_snap(pids), time.time()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        stop(p)
    time.sleep(0.3)
    recs = ctx["subs"].dump()
    if "start" in out:
        starts = {s["room"]: out["start"] for s in scenes}
    else:
        starts = out.get("starts") or {}
    counts, late = match(recs, scenes, starts)
    res = dict(counts)
    res["lateness"] = summary_ms(late)
    res["late_call"] = summary_ms(out.get("late_call") or [])
    if starts:
        res["start_spread_ms"] = (max(starts.values()) - min(starts.values())) * 1e3
    c = cpu_delta(c0, c1, w1 - w0)
    c.pop(name, None)    # the child's own, from os.times() (it exits before /proc is read)
    if out.get("cpu_s") is not None:
        c[name] = 100.0 * out["cpu_s"] / (w1 - w0)
    res["cpu_pct"] = c
    res["loadavg_start"], res["loadavg_end"] = load0, os.getloadavg()[0]
    if out.get("failed"):
        res["failed"] = out["failed"]
    return res, late, out.get("late_call") or []


class Devsim:
    def __init__(self, path, mqtt_port, rooms, delay_ms, errlog):
        cmd = [PY, path, "--port", str(mqtt_port), "--count", "0", "--feedback-room",
               ",".join(rooms), "--feedback-delay", str(delay_ms), "--quiet",
               "--control", "stdin"]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=errlog, bufsize=1, text=True)
        CHILDREN.append(self.p)
        self.ready = threading.Event()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.p.stdout:
            if '"event":"ready"' in line.replace(" ", ""):
                self.ready.set()

    def stop(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            stop(self.p)


# ---------------------------------------------------------------- the scenario

def pooled(rounds, key):
    return [x for r in rounds for x in r[key]]


def cmd_run():
    hub_bin = os.path.abspath(arg("--hub", os.path.join(ROOT, "build-release", "showhub")))
    devsim = arg("--devsim", os.path.join(ROOT, "tools", "devsim", "devsim.py"))
    peer = arg("--peer", os.path.join(HERE, "scenes_peer.py"))
    nscenes = arg("--scenes", 50, int)
    nact = arg("--actions", 40, int)
    step = arg("--step-ms", 100, int)
    extra = arg("--extra", 2, int)
    rounds = arg("--rounds", 3, int)
    nsubs = arg("--subs", 5, int)
    limit = arg("--limit", 300.0, float)
    workdir = arg("--workdir", "")
    tmp = None
    if not workdir:
        tmp = tempfile.mkdtemp(prefix="scenes-bench.")
        workdir = tmp
    os.makedirs(workdir, exist_ok=True)
    t_begin = time.monotonic()
    deadline = t_begin + limit
    errlog = open(os.path.join(workdir, "scenes_driver.log"), "a")
    out = {"scenes": nscenes, "actions_per_scene": nact + extra, "step_ms": step,
           "rounds": rounds, "subs": nsubs, "loadavg_start": list(os.getloadavg()),
           "nproc": os.cpu_count()}
    scenes = make_schedule(nscenes, nact, step, extra)
    sched = os.path.join(workdir, "schedule.json")
    with open(sched, "w") as f:
        json.dump(scenes, f)
    broker, mqtt_port = start_broker(workdir)
    hub, port = start_hub(hub_bin, workdir, mqtt_port)
    subs = Subs(mqtt_port, [s["room"] for s in scenes], nsubs, errlog)
    ctx = {"scenes": scenes, "port": port, "subs": subs, "errlog": errlog,
           "pids": {"hub": [hub.pid], "broker": [broker.pid], "subs": subs.pids()}}
    try:
        t = time.time()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for s in scenes:
            st, body = http_req(port, "PUT", "/api/v1/scenes/" + s["name"],
                                json.dumps({"room": s["room"], "actions": s["actions"]}),
                                conn=conn)
            if st != 200:
                raise RuntimeError("PUT scene %s: %s %s" % (s["name"], st, body[:200]))
        conn.close()
        out["put_s"] = time.time() - t
        res = {"hub": [], "floor": [], "peer": []}
        late = {"hub": [], "floor": [], "peer": []}
        call = {"hub": [], "floor": [], "peer": []}
        for r in range(rounds):
            if time.monotonic() > deadline - 30:
                out["stopped_early"] = "limit reached after %d rounds" % r
                break
            for tgt in ("hub", "floor", "peer"):
                if tgt == "hub":
                    rr, lt, lc = hub_round(ctx)
                    lc = [x / 1e3 for x in lc]
                elif tgt == "floor":
                    rr, lt, lc = child_round(ctx, [PY, os.path.abspath(__file__), "floor",
                                                   "--mqtt-port", str(mqtt_port), "--schedule",
                                                   sched], "floor")
                else:
                    rr, lt, lc = child_round(ctx, [PY, peer, "--mqtt-port", str(mqtt_port),
                                                   "--schedule", sched, "--log",
                                                   os.path.join(workdir, "peer.log")], "peer")
                log("round %d %s: %s" % (r + 1, tgt, json.dumps(
                    {k: rr.get(k) for k in ("missing", "lateness", "late_call")})[:300]))
                res[tgt].append(rr)
                late[tgt] += lt
                call[tgt] += lc
                time.sleep(0.5)
        for tgt in res:
            o = {"rounds": res[tgt], "lateness": summary_ms(late[tgt]),
                 "late_call": summary_ms(call[tgt]),
                 "missing": sum(x.get("missing", 0) for x in res[tgt]),
                 "expected": sum(x.get("expected", 0) for x in res[tgt]),
                 "duplicates": sum(x.get("duplicates", 0) for x in res[tgt]),
                 "round_p99_ms": [dig(x, "lateness.p99_ms") for x in res[tgt]]}
            for q in ("p50_ms", "p99_ms"):   # the median round: robust to one bad round
                v = sorted(x for x in (dig(r, "lateness." + q) for r in res[tgt])
                           if x is not None)
                o.setdefault("round_median", {})[q] = v[len(v) // 2] if v else None
            fails = [x["failed"] for x in res[tgt] if x.get("failed")]
            if fails:
                o["failed"] = fails[0]
            sp = [x["start_spread_ms"] for x in res[tgt] if x.get("start_spread_ms") is not None]
            if sp:
                o["start_spread_max_ms"] = max(sp)
            cpus = {}
            for x in res[tgt]:
                for k, v in (x.get("cpu_pct") or {}).items():
                    cpus.setdefault(k, []).append(v)
            o["cpu_pct"] = {k: sum(v) / len(v) for k, v in cpus.items()}
            out[tgt] = o
        # The feedback round: devsim answers every action OK after 50 ms.
        if time.monotonic() < deadline - 20:
            dev = Devsim(devsim, mqtt_port, [s["room"] for s in scenes], 50, errlog)
            if dev.ready.wait(20):
                time.sleep(0.5)   # its subscriptions
                rr, lt, lc = hub_round(ctx, feedback=True)
                out["feedback"] = rr
            else:
                out["feedback"] = {"failed": "devsim not ready"}
            dev.stop()
        h = out.get("hub") or {}
        out["server_alive_end"] = hub.poll() is None
        if h.get("rounds"):   # the table's cpu/peak column: the hub over its rounds
            out["proc"] = {"cpu_s": sum(x.get("hub_cpu_s", 0) for x in h["rounds"]),
                           "peak_rss_kb": rss_kb(hub.pid, "VmHWM") or 0}
    finally:
        subs.close()
        stop(hub)
        stop(broker)
    out["loadavg_end"] = list(os.getloadavg())
    out["duration_s"] = time.monotonic() - t_begin
    # The table's three columns: the hub's figures at the top level, the
    # floor's and the peer's also in their own files (--floor-out, --peer-out).
    hub_o = out.pop("hub", None) or {"failed": "no hub round ran"}
    for tgt, path in (("floor", arg("--floor-out", "")), ("peer", arg("--peer-out", ""))):
        o = out.get(tgt)
        if o is not None:
            o["target_cpu_pct"] = (o.get("cpu_pct") or {}).get(tgt)
            if tgt == "floor" and isinstance(out.get("feedback"), dict):
                o["feedback_answer"] = dig(out, "feedback.feedback.devsim_answer")
            for k in ("scenes", "actions_per_scene", "step_ms", "subs"):
                o[k] = out[k]
        if path and o is not None:
            with open(path, "w") as f:
                json.dump(o, f)
                f.write("\n")
    hub_o["target_cpu_pct"] = (hub_o.get("cpu_pct") or {}).get("hub")
    out.update(hub_o)
    print(json.dumps(out))


def rss_kb(pid, key="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def dig(obj, path):
    for p in path.split("."):
        if not isinstance(obj, dict) or p not in obj:
            return None
        obj = obj[p]
    return obj


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "sub", "floor"):
        sys.exit(__doc__)
    rc = 1
    try:
        rc = {"run": cmd_run, "sub": cmd_sub, "floor": cmd_floor}[sys.argv[1]]()
    except (OSError, RuntimeError, ValueError, KeyError, http.client.HTTPException) as e:
        if sys.argv[1] != "run":
            raise
        print(json.dumps({"failed": "%s: %s" % (type(e).__name__, e)}), flush=True)
    finally:
        for p in CHILDREN:
            if p.poll() is None:
                p.kill()
                p.wait()
    sys.exit(rc or 0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    main()
