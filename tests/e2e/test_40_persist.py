"""Durability: state, seq and the dedupe cache survive kill -9 and restart;
every command answered "applied" before a crash is still there afterwards."""
import http.client
import json
import signal
import threading
import time

from hubtest import (OP_TEXT, T, WsClosed, WsTimeout, request, retained, ulid, wait_until,
                     ws_frame)


def test_state_and_dedupe_survive_kill9(broker, closer, hubs):
    h1 = hubs(broker=broker)
    h1.wait_readyz()
    ids = []
    for i in range(5):
        cid = ulid()
        ids.append(cid)
        r = h1.post_rgb(10 * i, 20 + i, 250 - i, cmd_id=cid)
        assert r.status == 200 and r.json()["status"] == "applied"
    ws = h1.ws()
    closer.append(ws)
    ws.recv_json()
    ws.send_json({"type": "set", "cmdId": ulid(), "r": 77, "g": 88, "b": 99})
    assert ws.recv_json()["seq"] == 6
    before = h1.rgb()
    assert (before["r"], before["g"], before["b"], before["seq"]) == (77, 88, 99, 6)
    h1.kill9()

    h2 = hubs(broker=broker, data_dir=h1.data_dir, client_id=h1.client_id)
    assert h2.rgb() == before, "state, seq and ts restored exactly"
    for cid in ids:
        r = h2.post_rgb(1, 1, 1, cmd_id=cid)
        assert r.status == 200, r
        assert r.json() == {"status": "duplicate", "state": before}, r.json()
    r = h2.post_rgb(1, 2, 3)
    assert r.json()["state"]["seq"] == 7
    h2.wait_readyz()

    def retained_seq7():
        m = retained(broker.port, "v1/demo/rgb/state", timeout=0.5)
        return m if m and m.json()["seq"] == 7 else None
    m = wait_until(retained_seq7, T(5), what="retained state after restart")
    assert m.json() == h2.rgb()


def test_state_survives_sigterm_restart(hubs):
    h1 = hubs()
    st = h1.post_rgb(1, 2, 3).json()["state"]
    assert h1.stop() == 0
    h2 = hubs(data_dir=h1.data_dir)
    assert h2.rgb() == st


def test_no_applied_answer_lost_on_kill9_mid_burst(hubs):
    h1 = hubs()
    applied = {}                 # cmdId -> seq answered
    lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def worker(n):
        conn = http.client.HTTPConnection("127.0.0.1", h1.port, timeout=T(5))
        try:
            for i in range(100000):
                if stop.is_set():
                    return
                cid = ulid()
                body = {"cmdId": cid, "r": n * 10 % 256, "g": i % 256, "b": 7,
                        "src": "ui" if i % 2 else "api"}
                try:
                    r = request(h1.port, "POST", "/rgb", body, conn=conn)
                except (OSError, http.client.HTTPException):
                    return           # the hub died under us: expected
                if r.status != 200:
                    errors.append(r)
                    return
                b = r.json()
                if b["status"] != "applied":
                    errors.append(b)
                    return
                with lock:
                    applied[cid] = b["state"]["seq"]
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(8)]
    for t in threads:
        t.start()
    wait_until(lambda: len(applied) >= 200 or errors or not any(t.is_alive() for t in threads),
               T(30), what="200 applied answers")
    h1.kill9()
    stop.set()
    for t in threads:
        t.join(T(10))
    assert not errors, errors[:3]
    with lock:
        answered = dict(applied)
    assert len(answered) >= 200
    seqs = sorted(answered.values())
    assert len(set(seqs)) == len(seqs), "each applied command has its own seq"

    h2 = hubs(data_dir=h1.data_dir)
    st = h2.rgb()
    assert st["seq"] >= max(seqs) and st["seq"] >= len(answered), (st, max(seqs), len(answered))
    conn = http.client.HTTPConnection("127.0.0.1", h2.port, timeout=T(10))
    try:
        lost = []
        for cid in answered:
            r = request(h2.port, "POST", "/rgb", {"cmdId": cid, "r": 0, "g": 0, "b": 0}, conn=conn)
            assert r.status == 200, r
            if r.json()["status"] != "duplicate":
                lost.append(cid)
        assert not lost, f"{len(lost)} applied commands forgotten after kill -9"
    finally:
        conn.close()
    assert h2.rgb()["seq"] == st["seq"]


def test_sigterm_drains_and_persists_broadcast_states(hubs):
    h1 = hubs()
    ws = h1.ws()
    ws.recv_json()
    burst = b"".join(ws_frame(OP_TEXT, json.dumps(
        {"type": "set", "cmdId": ulid(), "src": "api", "r": i % 256, "g": 1, "b": 2}))
        for i in range(300))
    ws.send_raw(burst)
    # let some states arrive, then stop while the rest may still be queued
    first = ws.recv_json(T(5))
    assert first["type"] == "state"
    h1.signal(signal.SIGTERM)
    seen = [first]
    t0 = time.monotonic()
    while time.monotonic() - t0 < T(5):
        try:
            seen.append(ws.recv_json(T(3)))
        except (WsClosed, WsTimeout, OSError):
            break
    ws.sock.close()
    assert h1.wait_exit(T(5)) == 0
    states = [m for m in seen if m.get("type") == "state"]
    top = max(m["seq"] for m in states)
    h2 = hubs(data_dir=h1.data_dir)
    assert h2.rgb()["seq"] >= top, "a state broadcast before shutdown must be durable"
