"""bench/peer_engine.py - the peer's per-command engine work, in process.

The same work bench_engine times in showhub: validate (parse the JSON body
and check it as the peer's POST /rgb does), dedupe, apply, serialise the
broadcast frame. The peer's file persistence and MQTT publish are left out,
as the store is left out on our side. Statements mirror the peer's engine()
and post_rgb() in ../shared/peers/seed000_py/app.py, using its own Dedupe.

usage: python3 peer_engine.py <app.py> <data-dir> [--quick]
"""
import importlib.util
import json
import os
import sys
import time


def load_peer(path, data_dir):
    os.environ["DMX_DATA_DIR"] = data_dir
    spec = importlib.util.spec_from_file_location("peer_app", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def one(app, body):
    cmd = json.loads(body)                       # post_rgb: await req.json()
    assert isinstance(cmd.get("cmdId"), str) and len(cmd["cmdId"]) == 26
    for k in ("r", "g", "b"):
        int(cmd[k])
    if app.dedupe.seen(cmd["cmdId"]):            # engine(): dedupe
        app.metrics["deduped"] += 1
        return
    clamp = lambda v: max(0, min(255, int(v)))
    st = app.state
    app.state = dict(st, r=clamp(cmd["r"]), g=clamp(cmd["g"]), b=clamp(cmd["b"]),
                     seq=st["seq"] + 1, ts=int(time.time() * 1000))
    app.metrics["processed"] += 1
    json.dumps({"type": "state", **{k: app.state[k] for k in ("r", "g", "b", "seq", "ts")}})


def pct(s, p):
    rank = max(1, min(len(s), int(p / 100.0 * len(s) + 0.999999)))
    return s[rank - 1] / 1000.0


def main():
    app = load_peer(sys.argv[1], sys.argv[2])
    n = 50000 if "--quick" in sys.argv else 200000
    lat = []
    t_start = time.perf_counter_ns()
    for i in range(n):
        k = i - 10 if i % 100 == 99 else i
        body = '{"cmdId":"01J%023d","src":"api","r":%d,"g":%d,"b":%d}' % (
            k, i & 255, (i >> 8) & 255, (i >> 16) & 255)
        a = time.perf_counter_ns()
        one(app, body)
        lat.append(time.perf_counter_ns() - a)
    total = (time.perf_counter_ns() - t_start) / 1e9
    lat.sort()
    print(json.dumps({
        "scenario": "engine", "commands": n,
        "validate_dedupe_apply": {"p50_us": pct(lat, 50), "p99_us": pct(lat, 99),
                                  "p999_us": pct(lat, 99.9), "max_us": lat[-1] / 1000.0},
        "timed_per_s": n / total, "applied": app.metrics["processed"],
        "duplicates": app.metrics["deduped"]}))


if __name__ == "__main__":
    main()
