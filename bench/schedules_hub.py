#!/usr/bin/env python3
"""bench/schedules_hub.py - the schedules performance scenario (issue 10,
section 6: "one scheduler cycle over 1,000 groups with 50 recurring events
each <= 50 ms; power-intent publishing for 1,000 groups per cycle without
delaying a WS broadcast past the seed-000 SLO"), run by bench/run.sh
(BENCH_ONLY=schedules) or by hand.

  schedules_hub.py run --hub BIN --loadgen LG [--groups 1000] [--events 50]
                       [--procs 4] [--conns 4] [--fan-readers 1000]
                       [--fan-rate 44] [--fan-s 10] [--repeat 2] [--settle 3]
                       [--workdir DIR] [--env K=V,...]
  schedules_hub.py sub --mqtt-port P       (started by run: counts infoscreen/#)
  schedules_hub.py post --port P --file F --from A --to B --conns K
                                           (started by run: POSTs a slice)

run starts two fresh showhubs with the same settings, POLL_INTERVAL_SECONDS=1
and POWER_INTENT_PUBLISH_ENABLED=true (heartbeat on, its default;
DMX_LOG_LEVEL=warn), each with its own Mosquitto (run.sh's settings) and a
subscriber process (paho, QoS 1, infoscreen/#). Hub A never gets an event;
hub B gets them all:

 1. setup: --groups x --events events POSTed to B's /api/v1/events (there is
    no bulk form) by --procs processes x --conns keep-alive connections; the
    time it took, refusals and their first message, B's CPU and cycles.
 2. after --settle s, --repeat times: a window on A ("without": its
    scheduler cycles over nothing), then one on B ("with": it cycles every
    second over all the events and heartbeats every group's power intent),
    the other hub SIGSTOPped meanwhile so it costs nothing. A window is
    `loadgen fanout --readers 1000 --rate 44 --duration --fan-s` (run.sh's
    seed-000 fan-out scenario: REST /rgb writes, p99 over every (command,
    reader)) with the hub's schedules_cycle_seconds deltas (bucket bounds,
    mean), its CPU, and the messages its subscriber got, per cycle.
 3. a fresh subscriber on B's broker: the retained intents and event lists
    it is given.
The table's fan-out rows are the best (lowest) p99 of each kind's windows:
on a shared machine noise only adds; every window is in the JSON.

Events of group g (1..G), k (0..E-1): weekly, BYDAY=MO,TU,WE,TH,FR (on a
Saturday or Sunday that day is added, so the load is the same any day),
first occurrence on the Monday two weeks back at a second of the day spread
over 24 h ((g*7919 + k*1733) mod 86400), 1-60 min long ((g+k) mod 8 picks
1, 2, 5, 10, 15, 30, 45, 60): ~730 occurrences cover any moment (half to
two thirds of the groups ON) and active lists change about once a second.
Prints one JSON line.
"""
import datetime
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scenes_hub as S  # noqa: E402  (broker/hub start, helpers)

PY = S.PY
arg = S.arg
CHILDREN = S.CHILDREN


def log(*a):
    print("schedules_hub:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- events

DUR_MIN = [1, 2, 5, 10, 15, 30, 45, 60]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def fmt(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def make_events(groups, per_group, now):
    today = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    monday = (today - datetime.timedelta(days=today.weekday() + 14)).replace(
        hour=0, minute=0, second=0, microsecond=0).timestamp()
    days = "MO,TU,WE,TH,FR"
    if today.weekday() >= 5:
        days += "," + DAYS[today.weekday()]
    rrule = "FREQ=WEEKLY;BYDAY=" + days
    evs = []
    # Event k of every group before event k+1 of any: a hub that caps the
    # event count still has every group (and its power intent) in the cycle.
    for k in range(per_group):
        for g in range(1, groups + 1):
            s = monday + (g * 7919 + k * 1733) % 86400
            evs.append({"group_id": g, "title": "g%d e%d" % (g, k), "type": "presentation",
                        "start": fmt(s), "end": fmt(s + DUR_MIN[(g + k) % 8] * 60),
                        "rrule": rrule})
    return evs, rrule


def cmd_post():
    port = arg("--port", conv=int)
    with open(arg("--file")) as f:
        evs = json.load(f)
    a, b = arg("--from", conv=int), arg("--to", conv=int)
    conns = arg("--conns", 4, int)
    mine = evs[a:b]
    lock = threading.Lock()
    res = {"ok": 0, "codes": {}, "first_error": None, "lat": []}

    def worker(sl):
        c = None
        for ev in sl:
            for attempt in range(3):
                try:
                    if c is None:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    t = time.monotonic()
                    st, body = S.http_req(port, "POST", "/api/v1/events", json.dumps(ev), conn=c)
                    dt = time.monotonic() - t
                    break
                except (OSError, http.client.HTTPException):
                    c = None
                    st, body, dt = 0, b"connection failed", 0
            with lock:
                res["codes"][str(st)] = res["codes"].get(str(st), 0) + 1
                if st in (200, 201):
                    res["ok"] += 1
                    res["lat"].append(dt)
                elif res["first_error"] is None:
                    res["first_error"] = "%s %s" % (st, body[:300].decode(errors="replace"))
    ts = [threading.Thread(target=worker, args=(mine[i::conns],)) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps(res), flush=True)


# ---------------------------------------------------------------- subscriber

def cmd_sub():
    import paho.mqtt.client as mqtt
    port = arg("--mqtt-port", conv=int)
    root = arg("--root", "infoscreen")
    lock = threading.Lock()
    cnt = {"events": 0, "intent": 0, "other": 0, "retained": 0, "events_empty": 0,
           "intent_on": 0, "first": None, "last": None}
    c = mqtt.Client(client_id="sched-sub-%d" % os.getpid(), clean_session=True)

    def on_message(cl, ud, m):
        t = time.time()
        with lock:
            if m.topic.startswith(root + "/events/"):
                cnt["events"] += 1
                if m.payload in (b"[]", b""):
                    cnt["events_empty"] += 1
            elif m.topic.endswith("/power/intent"):
                cnt["intent"] += 1
                if b'"desired_state":"on"' in m.payload.replace(b" ", b""):
                    cnt["intent_on"] += 1
            else:
                cnt["other"] += 1
            cnt["retained"] += 1 if m.retain else 0
            cnt["first"] = cnt["first"] or t
            cnt["last"] = t

    c.on_message = on_message
    c.on_connect = lambda cl, u, f, rc: cl.subscribe(root + "/#", 1)
    c.on_subscribe = lambda cl, u, mid, q: print(json.dumps({"ready": True}), flush=True)

    def control():
        for line in sys.stdin:
            if line.strip() == "dump":
                with lock:
                    out = dict(cnt)
                    for k in cnt:
                        cnt[k] = None if k in ("first", "last") else 0
                print(json.dumps(out), flush=True)
        c.disconnect()
    threading.Thread(target=control, daemon=True).start()
    c.connect("127.0.0.1", port, 60)
    c.loop_forever()


class Sub:
    def __init__(self, mqtt_port, errlog):
        self.p = subprocess.Popen([PY, os.path.abspath(__file__), "sub", "--mqtt-port",
                                   str(mqtt_port)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=errlog, text=True, bufsize=1)
        CHILDREN.append(self.p)
        if '"ready"' not in self.p.stdout.readline():
            raise RuntimeError("the subscriber did not subscribe")

    def dump(self):
        self.p.stdin.write("dump\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            S.stop(self.p)


# ---------------------------------------------------------------- metrics

metrics = S.metrics


def hist(m0, m1, name):
    """Deltas of a histogram: n, mean, and the bucket bounds (ms) holding p50/p99/max."""
    b = []
    for key, v in m1.items():
        if key.startswith(name + "_bucket{"):
            le = key.split('le="', 1)[1].split('"', 1)[0]
            b.append([le, v - m0.get(key, 0.0)])
    n = m1.get(name + "_count", 0) - m0.get(name + "_count", 0)
    s = m1.get(name + "_sum", 0) - m0.get(name + "_sum", 0)
    return hist_summary(b, n, s)


def hist_summary(b, n, s):
    """b: [[le text, cumulative count]]; n: count; s: sum (s)."""
    b = sorted(b, key=lambda x: float("inf") if x[0] == "+Inf" else float(x[0]))
    out = {"n": int(n), "buckets": b, "sum_s": s}
    if n <= 0:
        return out
    out["mean_ms"] = s / n * 1e3
    for q, k in ((0.5, "p50_le_ms"), (0.99, "p99_le_ms"), (1.0, "max_le_ms")):
        for le, cum in b:
            if cum >= q * n - 1e-9:
                out[k] = None if le == "+Inf" else float(le) * 1e3
                break
    return out


def counters(m0, m1, prefix):
    return {k: m1[k] - m0.get(k, 0.0) for k in m1 if k.startswith(prefix)}


def fanout(lg, port, pid, readers, rate, secs, errlog):
    cmd = [lg, "fanout", "--port", str(port), "--pid", str(pid), "--readers", str(readers),
           "--rate", str(rate), "--duration", str(secs), "--tail", "5", "--connect", "20"]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=errlog, text=True,
                           timeout=secs + 90)
    except subprocess.TimeoutExpired:
        return {"failed": "loadgen fanout timed out"}
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    if not lines:
        return {"failed": "loadgen fanout: exit %s, no result" % p.returncode}
    return json.loads(lines[-1])


def fresh_retained(mqtt_port, root="infoscreen", wait=3.0):
    """A new subscriber: the retained intents and event lists it is given."""
    import paho.mqtt.client as mqtt
    cnt = {"intent": 0, "events": 0, "retained": 0}
    c = mqtt.Client(client_id="sched-fresh-%d" % os.getpid(), clean_session=True)

    def on_message(cl, ud, m):
        if not m.retain:
            return
        cnt["retained"] += 1
        if m.topic.endswith("/power/intent"):
            cnt["intent"] += 1
        elif m.topic.startswith(root + "/events/"):
            cnt["events"] += 1
    c.on_message = on_message
    c.on_connect = lambda cl, u, f, rc: cl.subscribe(root + "/#", 1)
    c.connect("127.0.0.1", mqtt_port, 60)
    c.loop_start()
    time.sleep(wait)
    c.disconnect()
    c.loop_stop()
    return cnt


# ---------------------------------------------------------------- the scenario

def window(ctx, label, m_before=None):
    """One fan-out run with the cycle metrics and the subscriber's counts over it."""
    port, pid = ctx["port"], ctx["hub"].pid
    ctx["sub"].dump()
    m0 = m_before or metrics(port)
    c0, w0 = S.cpu_ticks(pid), time.time()
    la0 = os.getloadavg()[0]
    fo = fanout(ctx["lg"], port, pid, ctx["readers"], ctx["rate"], ctx["secs"], ctx["errlog"])
    c1, w1 = S.cpu_ticks(pid), time.time()
    m1 = metrics(port)
    cnt = ctx["sub"].dump()
    cyc = hist(m0, m1, "schedules_cycle_seconds")
    out = {"fanout": fo, "cycle": cyc, "sub": cnt, "window_s": w1 - w0,
           "loadavg_start": la0, "loadavg_end": os.getloadavg()[0],
           "power": counters(m0, m1, "power_intent_"),
           "hub_cpu_pct": 100.0 * (c1 - c0) / S.HZ / (w1 - w0) if None not in (c0, c1) else None}
    if cyc.get("n"):
        out["per_cycle"] = {"intents": cnt["intent"] / cyc["n"], "events": cnt["events"] / cyc["n"]}
    log("%s: fan-out p99 %s us, missed %s, cycles %s %s, sub %s" % (
        label, S.dig(fo, "latency.p99_us"), fo.get("missed"), cyc.get("n"),
        cyc.get("p99_le_ms"), cnt))
    return out


def merge_cycles(cs):
    """The windows' cycle histograms added up."""
    cs = [c for c in cs if c.get("n")]
    if not cs:
        return {"n": 0}
    tot = {}
    for c in cs:
        for le, cum in c["buckets"]:
            tot[le] = tot.get(le, 0) + cum
    return hist_summary([[k, v] for k, v in tot.items()], sum(c["n"] for c in cs),
                        sum(c["sum_s"] for c in cs))


def pause(p, on):
    """SIGSTOP / SIGCONT a hub: the one not measured does nothing meanwhile."""
    try:
        os.kill(p.pid, signal.SIGSTOP if on else signal.SIGCONT)
    except OSError:
        pass


def post_events(port, evs, path, procs, conns, errlog):
    with open(path, "w") as f:
        json.dump(evs, f)
    n = len(evs)
    ps = []
    for i in range(procs):
        a, b = n * i // procs, n * (i + 1) // procs
        p = subprocess.Popen([PY, os.path.abspath(__file__), "post", "--port", str(port),
                              "--file", path, "--from", str(a), "--to", str(b),
                              "--conns", str(conns)], stdout=subprocess.PIPE,
                             stderr=errlog, text=True)
        CHILDREN.append(p)
        ps.append(p)
    codes, ok, first, lat = {}, 0, None, []
    for p in ps:
        try:
            r = json.loads(p.communicate(timeout=1500)[0] or "{}")
        except (subprocess.TimeoutExpired, ValueError):
            S.stop(p)
            r = {}
        ok += r.get("ok", 0)
        lat += r.get("lat", [])
        for k, v in (r.get("codes") or {}).items():
            codes[k] = codes.get(k, 0) + v
        first = first or r.get("first_error")
    return ok, codes, first, lat


def cmd_run():
    hub_bin = os.path.abspath(arg("--hub", os.path.join(S.ROOT, "build-release", "showhub")))
    lg = os.path.abspath(arg("--loadgen", os.path.join(S.ROOT, "build-release", "bench",
                                                        "loadgen")))
    groups = arg("--groups", 1000, int)
    per = arg("--events", 50, int)
    procs = arg("--procs", 4, int)
    conns = arg("--conns", 4, int)
    settle = arg("--settle", 3.0, float)
    reps = arg("--repeat", 2, int)
    workdir = arg("--workdir", "")
    extra = {}
    for kv in arg("--env", "").split(","):
        if "=" in kv:
            k, v = kv.split("=", 1)
            extra[k] = v
    if not workdir:
        import tempfile
        workdir = tempfile.mkdtemp(prefix="schedules-bench.")
    dir_a, dir_b = os.path.join(workdir, "idle"), os.path.join(workdir, "load")
    os.makedirs(dir_a, exist_ok=True)
    os.makedirs(dir_b, exist_ok=True)
    errlog = open(os.path.join(workdir, "schedules_driver.log"), "a")
    t_begin = time.monotonic()
    env = {"POLL_INTERVAL_SECONDS": "1", "POWER_INTENT_PUBLISH_ENABLED": "true"}
    env.update(extra)
    out = {"groups": groups, "events_per_group": per, "env": env, "repeat": reps,
           "loadavg_start": list(os.getloadavg()), "nproc": os.cpu_count()}
    # Two hubs, the same settings, each with its own broker: A never gets an
    # event (the scheduler cycles over nothing), B gets them all.
    broker_a, mqtt_a = S.start_broker(dir_a)
    hub_a, port_a = S.start_hub(hub_bin, dir_a, mqtt_a, env)
    broker_b, mqtt_b = S.start_broker(dir_b)
    hub_b, port_b = S.start_hub(hub_bin, dir_b, mqtt_b, env)
    sub_a, sub_b = Sub(mqtt_a, errlog), Sub(mqtt_b, errlog)
    base = {"lg": lg, "errlog": errlog, "readers": arg("--fan-readers", 1000, int),
            "rate": arg("--fan-rate", 44, int), "secs": arg("--fan-s", 10, int)}
    ctx_a = dict(base, port=port_a, hub=hub_a, sub=sub_a)
    ctx_b = dict(base, port=port_b, hub=hub_b, sub=sub_b)
    out.update({"fan_readers": base["readers"], "fan_rate": base["rate"],
                "fan_s": base["secs"]})
    try:
        # ---- setup (B)
        evs, rrule = make_events(groups, per, time.time())
        out["rrule"] = rrule
        m0 = metrics(port_b)
        c0 = S.cpu_ticks(hub_b.pid)
        t0 = time.time()
        ok, codes, first, lat = post_events(port_b, evs, os.path.join(workdir, "events.json"),
                                            procs, conns, errlog)
        setup_s = time.time() - t0
        c1 = S.cpu_ticks(hub_b.pid)
        m1 = metrics(port_b)
        out["setup"] = {"events": len(evs), "accepted": ok, "codes": codes, "first_error": first,
                        "seconds": setup_s, "per_s": ok / setup_s if setup_s else None,
                        "post_latency": S.summary_ms(lat), "procs": procs, "conns": conns,
                        "hub_cpu_pct": 100.0 * (c1 - c0) / S.HZ / setup_s
                        if None not in (c0, c1) else None,
                        "cycle": hist(m0, m1, "schedules_cycle_seconds")}
        log("setup: %s" % json.dumps(out["setup"])[:400])
        try:
            st, body = S.http_req(port_b, "GET", "/api/v1/power", timeout=30)
            items = (json.loads(body) if st == 200 else {}).get("groups") or []
            out["power_groups"] = len(items)
            out["power_on"] = sum(1 for x in items
                                  if (x.get("intent") or {}).get("desired_state") == "on")
        except (OSError, ValueError, http.client.HTTPException) as e:
            out["power_groups"] = "GET /api/v1/power: %s" % e
        time.sleep(settle)
        # ---- the windows, interleaved: A (B stopped), B (A stopped), ...
        for r in range(reps):
            for name, ctx, other in (("without", ctx_a, hub_b), ("with", ctx_b, hub_a)):
                pause(other, True)
                time.sleep(1.0)
                try:
                    out["%s_%d" % (name, r + 1)] = window(ctx, "%s %d" % (name, r + 1))
                finally:
                    pause(other, False)
                time.sleep(1.5)
        out["fresh_subscriber"] = fresh_retained(mqtt_b)
        out["server_alive_end"] = hub_a.poll() is None and hub_b.poll() is None
        out["rss_kb"] = S.rss_kb(hub_b.pid, "VmHWM")
        # The table's values at the top level.
        ws = [out["with_%d" % (r + 1)] for r in range(reps)]
        wo = [out["without_%d" % (r + 1)] for r in range(reps)]
        out["cycle"] = merge_cycles([w["cycle"] for w in ws])
        out["per_cycle"] = {k: sum((w.get("per_cycle") or {}).get(k, 0) for w in ws) / len(ws)
                            for k in ("intents", "events")}
        for name, lst in (("with", ws), ("without", wo)):
            p99 = [S.dig(w, "fanout.latency.p99_us") for w in lst]
            p99 = [x for x in p99 if x is not None]
            # best of the windows: on a shared machine noise only adds
            out["fanout_%s_p99_us" % name] = min(p99) if p99 else None
            out["fanout_%s_p99_each_us" % name] = p99
            out["fanout_%s_missed" % name] = sum(S.dig(w, "fanout.missed") or 0 for w in lst)
            cpu = [w["hub_cpu_pct"] for w in lst if w.get("hub_cpu_pct") is not None]
            out["hub_cpu_%s_pct" % name] = sum(cpu) / len(cpu) if cpu else None
        if out["fanout_with_p99_us"] and out["fanout_without_p99_us"]:
            out["fanout_ratio"] = out["fanout_with_p99_us"] / out["fanout_without_p99_us"]
        out["events_accepted"] = out["setup"]["accepted"]
        out["events_refused"] = out["setup"]["events"] - out["setup"]["accepted"]
        # the table's cpu/peak column: hub B over its windows
        out["proc"] = {"cpu_s": sum((w.get("hub_cpu_pct") or 0) / 100.0 * w["window_s"]
                                    for w in ws), "peak_rss_kb": out["rss_kb"] or 0}
    finally:
        pause(hub_a, False)
        pause(hub_b, False)
        sub_a.close()
        sub_b.close()
        for p in (hub_a, hub_b, broker_a, broker_b):
            S.stop(p)
    out["loadavg_end"] = list(os.getloadavg())
    out["duration_s"] = time.monotonic() - t_begin
    print(json.dumps(out))


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "sub", "post"):
        sys.exit(__doc__)
    rc = 1
    try:
        rc = {"run": cmd_run, "sub": cmd_sub, "post": cmd_post}[sys.argv[1]]()
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
