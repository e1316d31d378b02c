"""A WS client that never reads is disconnected; a fast one next to it gets
every state of a burst, in order, with no gap."""
import json
import socket
import threading
import time

from hubtest import OP_TEXT, T, WsClosed, WsTimeout, ulid, wait_until, ws_frame

BURST = 3000
BATCHES = 30          # BURST / BATCHES frames every ~66 ms: ~2 s in all


class Reader(threading.Thread):
    def __init__(self, ws):
        super().__init__(daemon=True)
        self.ws = ws
        self.seqs = []
        self.other = []
        self.closed = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                m = self.ws.recv_json(0.5)
            except WsTimeout:
                continue
            except (WsClosed, OSError) as e:
                self.closed = e
                return
            if m.get("type") == "state":
                self.seqs.append(m["seq"])
            else:
                self.other.append(m)


def test_slow_reader_dropped_fast_reader_gets_everything(hubs, closer):
    h = hubs(env={"DMX_WS_SLOW_MS": "200", "DMX_WS_BACKLOG": "1024"})
    slow = h.ws(rcvbuf=1024)
    closer.append(slow)
    fast = h.ws()
    closer.append(fast)
    first = fast.recv_json()
    seq0 = first["seq"]
    wait_until(lambda: h.metrics().value("dmx_ws_clients") == 2, T(3), what="2 clients")
    rd = Reader(fast)
    rd.start()
    t0 = time.monotonic()
    per = BURST // BATCHES
    for b in range(BATCHES):
        fast.send_raw(b"".join(ws_frame(OP_TEXT, json.dumps(
            {"type": "set", "cmdId": ulid(), "src": "bench", "r": i % 256, "g": b, "b": 9}))
            for i in range(per)))
        time.sleep(max(0.0, t0 + (b + 1) * 2.0 / BATCHES - time.monotonic()))
    try:
        wait_until(lambda: rd.closed or (rd.seqs and rd.seqs[-1] >= seq0 + BURST),
                   T(20), what=f"fast reader reaching seq {seq0 + BURST}")
    finally:
        rd.stop.set()
        rd.join(T(5))
    assert rd.closed is None, f"the fast reader was disconnected: {rd.closed}"
    assert not rd.other, rd.other[:5]
    assert rd.seqs == list(range(seq0 + 1, seq0 + BURST + 1)), \
        f"gaps/reorder: got {len(rd.seqs)} states, first {rd.seqs[:3]} last {rd.seqs[-3:]}"
    assert h.rgb()["seq"] == seq0 + BURST

    wait_until(lambda: h.metrics().value("dmx_ws_slow_dropped_total") >= 1, T(5),
               what="slow client counted as dropped")
    wait_until(lambda: h.metrics().value("dmx_ws_clients") == 1, T(5), what="slow client gone")
    # The slow socket: whatever it buffered, then a close 1008 or the end of the stream.
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    end = None
    deadline = time.monotonic() + T(10)
    n = 0
    while time.monotonic() < deadline:
        try:
            slow.recv_frame(T(2))
            n += 1
        except WsClosed as e:
            end = e
            break
        except WsTimeout:
            break
    assert end is not None, f"slow client still open after {n} frames"
    assert end.code in (1008, None), f"close code {end.code} {end.reason!r}"
    assert n < BURST, "the slow client should not have received the whole burst"
