"""Overload policy with a tiny queue: every command gets a fate (applied,
duplicate, or 503/error naming why) and the metrics account for each one."""
import json
import time

from hubtest import OP_TEXT, T, RawHttp, WsTimeout, ulid, wait_until, ws_frame

QUEUE = "2"


def counters(hub):
    m = hub.metrics()
    return (m.value("dmx_engine_dropped_total"), m.value("dmx_engine_refused_total"),
            m.value("dmx_engine_processed_total"))


def set_frame(src, cid, i):
    return ws_frame(OP_TEXT, json.dumps({"type": "set", "cmdId": cid, "src": src,
                                         "r": i % 256, "g": (i * 7) % 256, "b": 1}))


def run_ws_burst(hub, ws, srcs):
    """Send one set per src in a single write; collect the sender's frames
    until every command has a fate. Returns (applied_count, errors by cmdId)."""
    seq0 = hub.rgb()["seq"]
    cids = [ulid() for _ in srcs]
    ws.send_raw(b"".join(set_frame(s, c, i) for i, (s, c) in enumerate(zip(srcs, cids))))
    errors, top = {}, seq0
    deadline = time.monotonic() + T(10)
    while time.monotonic() < deadline:
        seq_now = hub.rgb()["seq"]
        if (seq_now - seq0) + len(errors) >= len(srcs) and top == seq_now:
            break
        try:
            m = ws.recv_json(0.5)
        except WsTimeout:
            continue
        if m["type"] == "state":
            assert m["seq"] == top + 1, f"gap in states: {top} -> {m['seq']}"
            top = m["seq"]
        elif m["type"] == "error":
            assert m["cmdId"] in cids and m["cmdId"] not in errors, m
            errors[m["cmdId"]] = m
        else:
            raise AssertionError(f"unexpected frame {m}")
    applied = hub.rgb()["seq"] - seq0
    assert top - seq0 == applied, "every applied command was broadcast to its sender"
    assert applied + len(errors) == len(srcs), \
        f"silent loss: {len(srcs)} sent, {applied} applied, {len(errors)} errors"
    return applied, errors, dict(zip(cids, srcs))


def test_ws_ui_burst_drops_oldest_ui_with_error(hubs, closer):
    h = hubs(env={"DMX_QUEUE_SIZE": QUEUE})
    ws = h.ws()
    closer.append(ws)
    ws.recv_json()
    d0, r0, p0 = counters(h)
    total_err = total_dropped = 0
    for _ in range(5):
        applied, errors, src_of = run_ws_burst(h, ws, ["ui"] * 60)
        assert applied >= 1
        for e in errors.values():
            assert "dropped" in e["error"] or "overload" in e["error"].lower(), e
        total_err += len(errors)
        total_dropped += sum("dropped" in e["error"] for e in errors.values())
    d1, r1, p1 = counters(h)
    assert total_err > 0, "a 60-frame burst into a queue of 2 should overflow"
    assert (d1 - d0) + (r1 - r0) == total_err
    assert d1 - d0 == total_dropped, "each dropped set gets an error saying 'dropped'"
    assert d1 - d0 >= 1, "ui commands are dropped (oldest first), not only refused"
    assert p1 - p0 == h.rgb()["seq"]


def test_ws_infra_burst_refused_never_dropped(hubs, closer):
    h = hubs(env={"DMX_QUEUE_SIZE": QUEUE})
    ws = h.ws()
    closer.append(ws)
    ws.recv_json()
    d0, r0, _ = counters(h)
    applied, errors, _ = run_ws_burst(h, ws, ["console"] * 60)
    d1, r1, _ = counters(h)
    assert errors, "a 60-frame burst into a queue of 2 should be refused in part"
    for e in errors.values():
        assert "overload" in e["error"].lower() and "dropped" not in e["error"], e
    assert d1 == d0, "non-ui commands are never dropped"
    assert r1 - r0 == len(errors)


def test_ws_mixed_burst_drops_only_ui(hubs, closer):
    h = hubs(env={"DMX_QUEUE_SIZE": QUEUE})
    ws = h.ws()
    closer.append(ws)
    ws.recv_json()
    d0, r0, _ = counters(h)
    srcs = ["ui" if i % 3 else "esp" for i in range(90)]
    applied, errors, src_of = run_ws_burst(h, ws, srcs)
    d1, r1, _ = counters(h)
    dropped = [c for c, e in errors.items() if "dropped" in e["error"]]
    assert all(src_of[c] == "ui" for c in dropped), "only ui commands may be dropped"
    assert (d1 - d0) == len(dropped)
    assert (d1 - d0) + (r1 - r0) == len(errors)


def test_rest_burst_many_connections(hubs, closer):
    h = hubs(env={"DMX_QUEUE_SIZE": QUEUE})
    conns = [RawHttp(h.port) for _ in range(48)]
    closer.extend(conns)
    seq0 = h.rgb()["seq"]
    d0, r0, p0 = counters(h)
    statuses = {"applied": 0, "duplicate": 0, 503: 0}
    for rnd in range(15):
        reqs = []
        for i, c in enumerate(conns):
            body = {"cmdId": ulid(), "src": "ui" if i % 2 else "api",
                    "r": rnd, "g": i, "b": 3}
            reqs.append(RawHttp.build("POST", "/rgb", body))
        for c, data in zip(conns, reqs):
            c.send(data)
        for c in conns:
            r = c.read()
            if r.status == 200:
                statuses[r.json()["status"]] += 1
            else:
                assert r.status == 503, r
                assert r.header("retry-after") == "1", r
                assert "overload" in r.json()["error"].lower(), r
                statuses[503] += 1
    d1, r1, p1 = counters(h)
    applied = h.rgb()["seq"] - seq0
    assert statuses["duplicate"] == 0
    assert statuses["applied"] == applied, (statuses, applied)
    assert (d1 - d0) + (r1 - r0) == statuses[503], (statuses, d1 - d0, r1 - r0)
    assert p1 - p0 == applied
    assert statuses["applied"] + statuses[503] == 15 * 48
    assert statuses[503] > 0, "48 simultaneous POSTs into a queue of 2 should overflow"
    print(f"REST burst: {statuses}")
    wait_until(lambda: h.metrics().value("dmx_engine_queue_depth") == 0, T(3), what="drained")
