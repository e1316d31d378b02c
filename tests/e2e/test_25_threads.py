"""Several network contexts (DMX_HTTP_THREADS): connections are spread over
threads, yet every client sees one state stream, reads its own writes, and
the hub shuts down cleanly with clients on every context."""
import http.client
import json
import threading
import time

import pytest

from hubtest import OP_TEXT, T, ulid, wait_until, ws_frame

THREADS = "3"  # more contexts than this machine's cores: they must still work


@pytest.fixture
def mhub(broker, hubs):
    h = hubs(broker=broker, env={"DMX_HTTP_THREADS": THREADS})
    h.wait_readyz()
    return h


def test_contexts_logged_and_every_route_served_on_each(mhub):
    started = mhub.logs("http_contexts")
    assert started and started[0]["threads"] == int(THREADS), started
    # Connections go round-robin: 9 fresh connections hit every context 3 times,
    # and each must serve the routes that read the loop thread's state.
    for i in range(9):
        assert mhub.get("/readyz").status == 200
        m = mhub.metrics()
        assert m.value("dmx_http_requests_total") >= 1
        assert mhub.get("/devices").status == 200
        assert mhub.get("/healthz").status == 200


def test_read_your_writes_across_connections(mhub):
    """An answered POST is visible to a GET on any other connection (context)."""
    for i in range(30):
        r = mhub.post_rgb(i, 1, 2)
        assert r.status == 200, r
        answered = r.json()["state"]["seq"]
        seen = mhub.rgb()["seq"]  # a new connection: maybe another context
        assert seen >= answered, f"answered seq {answered}, then read {seen}"


def test_ws_clients_on_every_context_get_every_state_in_order(mhub, closer):
    clients = [mhub.ws() for _ in range(int(THREADS) * 2)]
    closer += clients
    for c in clients:
        assert c.recv_json()["type"] == "state"
    n = 120
    writer = clients[0]
    writer.send_raw(b"".join(
        ws_frame(OP_TEXT, json.dumps({"type": "set", "cmdId": ulid(), "r": i % 256, "g": 0,
                                      "b": 0})) for i in range(n)))
    for c in clients:
        seqs = []
        while len(seqs) < n:
            m = c.recv_json()
            assert m["type"] == "state", m
            seqs.append(m["seq"])
        assert seqs == list(range(1, n + 1)), seqs[:10]
    assert mhub.metrics().value("dmx_ws_clients") == len(clients)


def test_client_connecting_during_a_burst_has_no_gap_or_repeat(mhub, closer):
    """A new session starts at the snapshot; broadcasts it already has are cut."""
    writer = mhub.ws()
    closer.append(writer)
    writer.recv_json()
    stop = threading.Event()

    def flood():
        i = 0
        while not stop.is_set() and i < 3000:
            writer.send_json({"type": "set", "cmdId": ulid(), "r": i % 256, "g": 1, "b": 2})
            i += 1

    t = threading.Thread(target=flood)
    t.start()
    try:
        late = []
        for _ in range(15):
            time.sleep(0.01)
            c = mhub.ws()
            closer.append(c)
            late.append(c)
    finally:
        stop.set()
        t.join()
    final = wait_until(lambda: (lambda s: s if mhub.rgb()["seq"] == s else None)(
        mhub.rgb()["seq"]), timeout=T(5))
    for c in late:
        first = c.recv_json()
        assert first["type"] == "state"
        last = first["seq"]
        while last < final:
            m = c.recv_json()
            if m["type"] != "state":
                continue
            assert m["seq"] == last + 1, f"after {last} got {m['seq']}"
            last = m["seq"]


def test_pipelined_and_concurrent_posts_all_answered(mhub):
    """Many connections at once, spread over the contexts: every POST answered
    exactly once, and the hub applied exactly as many."""
    seq0 = mhub.rgb()["seq"]
    results, lock = [], threading.Lock()

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", mhub.port, timeout=T(10))
        try:
            for i in range(40):
                r = mhub.post_rgb(k, i, 0, conn=conn)
                with lock:
                    results.append(r.status)
        finally:
            conn.close()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results.count(200) == len(results) == 12 * 40
    assert mhub.rgb()["seq"] - seq0 == 12 * 40


def test_sigterm_with_clients_on_every_context_exits_fast(mhub, closer):
    ws = [mhub.ws() for _ in range(int(THREADS))]
    closer += ws
    conns = [http.client.HTTPConnection("127.0.0.1", mhub.port, timeout=T(10))
             for _ in range(int(THREADS))]
    for c in conns:
        assert mhub.post_rgb(1, 2, 3, conn=c).status == 200  # keep-alive, left open
    t0 = time.monotonic()
    assert mhub.stop(timeout=T(5)) == 0, mhub.stderr()
    took = time.monotonic() - t0
    assert took < T(1), f"exit took {took:.2f}s"
    assert mhub.logs("stopped")
    for c in conns:
        c.close()
