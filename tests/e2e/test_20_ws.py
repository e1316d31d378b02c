"""WebSocket /ws: first frame, broadcast, duplicates, bad messages, limits,
ping/pong, REST-to-WS fan-out. Raw-socket client (hubtest.WsClient) for byte
control, plus the `websockets` package for interoperability."""
import asyncio
import json
import struct
import time

import pytest
import websockets

from hubtest import (OP_BIN, OP_CONT, OP_PING, OP_PONG, OP_TEXT, T, WsClosed, ulid,
                     wait_until, ws_frame)

WS_STATE_KEYS = {"type", "r", "g", "b", "seq", "ts"}


def set_msg(r, g, b, cmd_id=None, **extra):
    m = {"type": "set", "cmdId": cmd_id or ulid(), "r": r, "g": g, "b": b}
    m.update(extra)
    return m


def next_state(c, timeout=None):
    msg = c.recv_json(timeout)
    assert msg.get("type") == "state", msg
    return msg


def test_first_frame_is_state(hub, closer):
    c = hub.ws()
    closer.append(c)
    st = c.recv_json()
    assert set(st) == WS_STATE_KEYS, st
    assert st["type"] == "state"
    assert (st["r"], st["g"], st["b"], st["seq"]) == (0, 0, 0, 0)
    assert isinstance(st["ts"], int)
    hub.post_rgb(7, 8, 9)
    c2 = hub.ws()
    closer.append(c2)
    st2 = c2.recv_json()
    rest = hub.rgb()
    assert st2 == {"type": "state", "r": 7, "g": 8, "b": 9, "seq": 1, "ts": rest["ts"]}


def test_set_broadcast_to_all_including_sender(hub, closer):
    a, b = hub.ws(), hub.ws()
    closer += [a, b]
    assert next_state(a)["seq"] == 0 and next_state(b)["seq"] == 0
    t0 = int(time.time() * 1000)
    cid = ulid()
    a.send_json(set_msg(10, 20.6, 300, cid))
    sa, sb = next_state(a), next_state(b)
    assert sa == sb
    assert set(sa) == WS_STATE_KEYS
    assert (sa["r"], sa["g"], sa["b"], sa["seq"]) == (10, 21, 255, 1)
    assert t0 - 1000 <= sa["ts"] <= int(time.time() * 1000) + 1000
    rest = hub.rgb()
    assert (rest["r"], rest["g"], rest["b"], rest["seq"], rest["ts"]) == \
        (10, 21, 255, 1, sa["ts"])
    log = hub.wait_log("apply", lambda l: l.get("cmdId") == cid)
    assert log["src"] == "ui", "WS src defaults to ui"
    # b sends too: a receives it
    b.send_json(set_msg(1, 2, 3, src="console"))
    assert state_tuple(next_state(a)) == (1, 2, 3, 2)
    assert state_tuple(next_state(b)) == (1, 2, 3, 2)


def state_tuple(s):
    return (s["r"], s["g"], s["b"], s["seq"])


def test_duplicate_acked_to_sender_only(hub, closer):
    a, b = hub.ws(), hub.ws()
    closer += [a, b]
    next_state(a), next_state(b)
    cid = ulid()
    a.send_json(set_msg(5, 5, 5, cid))
    next_state(a), next_state(b)
    a.send_json(set_msg(6, 6, 6, cid))
    ack = a.recv_json()
    assert ack == {"type": "ack", "status": "duplicate", "cmdId": cid, "seq": 1}, ack
    b.expect_silence(0.5)
    assert hub.rgb()["seq"] == 1
    # a REST duplicate of a WS command is a duplicate too
    r = hub.post_rgb(7, 7, 7, cmd_id=cid)
    assert r.json()["status"] == "duplicate"
    a.expect_silence(0.3)


BAD_WS = [
    ("not json", "this is not json", None, None),
    ("truncated json", '{"type":"set","cmdId":', None, None),
    ("array", "[1,2,3]", None, None),
    ("string", '"set"', None, None),
    ("state push", '{"type":"state","r":1,"g":2,"b":3,"seq":99,"ts":1}', None, None),
    ("unknown type", '{"type":"bogus","cmdId":"%s"}' % ulid(), None, None),
    ("no type", json.dumps({"cmdId": ulid(), "r": 1, "g": 2, "b": 3}), None, None),
    ("missing cmdId", '{"type":"set","r":1,"g":2,"b":3}', "cmdId", None),
    ("bad cmdId", '{"type":"set","cmdId":"nope","r":1,"g":2,"b":3}', "cmdId", None),
    ("r string", None, "r", "r"),
    ("g null", None, "g", "g"),
    ("missing b", None, "b", "b"),
    ("bad schema", None, "schema", "schema"),
    ("src too long", None, "src", "src"),
]


def _bad_set(kind):
    cid = ulid()
    m = set_msg(1, 2, 3, cid)
    if kind == "r":
        m["r"] = "64"
    elif kind == "g":
        m["g"] = None
    elif kind == "b":
        del m["b"]
    elif kind == "schema":
        m["schema"] = "demo.rgb.cmd.v9"
    elif kind == "src":
        m["src"] = "s" * 65
    return json.dumps(m), cid


@pytest.mark.parametrize("name,text,field,kind", BAD_WS, ids=[b[0] for b in BAD_WS])
def test_bad_message_error_to_sender_only(shared_hub, closer, name, text, field, kind):
    hub = shared_hub
    a, b = hub.ws(), hub.ws()
    closer += [a, b]
    next_state(a), next_state(b)
    hub.post_rgb(1, 1, 1)
    next_state(a), next_state(b)
    before = hub.rgb()
    cid = None
    if text is None:
        text, cid = _bad_set(kind)
    a.send_text(text)
    err = a.recv_json()
    assert err.get("type") == "error", err
    assert "cmdId" in err and (err["cmdId"] is None or isinstance(err["cmdId"], str)), err
    assert isinstance(err.get("error"), str) and err["error"], err
    if cid is not None:
        assert err["cmdId"] == cid, err
    if field is not None:
        assert err.get("field") == field, err
    b.expect_silence(0.3)
    assert hub.rgb() == before
    # the connection still works
    a.send_json(set_msg(9, 8, 7))
    assert state_tuple(next_state(a)) == (9, 8, 7, before["seq"] + 1)
    assert state_tuple(next_state(b)) == (9, 8, 7, before["seq"] + 1)


def test_binary_frame_gets_error(hub, closer):
    a = hub.ws()
    closer.append(a)
    next_state(a)
    a.send(OP_BIN, json.dumps(set_msg(1, 2, 3)).encode())
    err = a.recv_json()
    assert err.get("type") == "error" and err.get("error"), err
    assert hub.rgb()["seq"] == 0
    a.send_json(set_msg(3, 2, 1))
    assert state_tuple(next_state(a)) == (3, 2, 1, 1)


def test_fragmented_message_is_reassembled(hub, closer):
    a = hub.ws()
    closer.append(a)
    next_state(a)
    text = json.dumps(set_msg(11, 12, 13)).encode()
    a.send_raw(ws_frame(OP_TEXT, text[:10], fin=False) + ws_frame(OP_CONT, text[10:], fin=True))
    assert state_tuple(next_state(a)) == (11, 12, 13, 1)


def test_frame_of_16k_accepted(hub, closer):
    a = hub.ws()
    closer.append(a)
    next_state(a)
    m = set_msg(4, 5, 6, pad="")
    m["pad"] = "p" * (16384 - len(json.dumps(m, separators=(",", ":"))))
    data = json.dumps(m, separators=(",", ":"))
    assert len(data) == 16384
    a.send_text(data)
    assert state_tuple(next_state(a)) == (4, 5, 6, 1)


def test_oversize_frame_closed_1009(hub, closer):
    a, b = hub.ws(), hub.ws()
    closer += [a, b]
    next_state(a), next_state(b)
    m = set_msg(4, 5, 6, pad="")
    m["pad"] = "p" * (16385 - len(json.dumps(m, separators=(",", ":"))))
    data = json.dumps(m, separators=(",", ":"))
    assert len(data) == 16385
    a.send_text(data)
    with pytest.raises(WsClosed) as ei:
        for _ in range(5):
            a.recv_frame(T(5))
    assert ei.value.code == 1009, ei.value
    assert hub.rgb()["seq"] == 0
    # others unaffected
    b.send_json(set_msg(1, 1, 1))
    assert state_tuple(next_state(b)) == (1, 1, 1, 1)


def test_ping_pong(hub, closer):
    a = hub.ws()
    closer.append(a)
    next_state(a)
    a.send(OP_PING, b"hello-ping")
    op, payload = a.recv_frame()
    assert (op, payload) == (OP_PONG, b"hello-ping")
    a.send_json(set_msg(1, 2, 3))
    assert state_tuple(next_state(a)) == (1, 2, 3, 1)


def test_rest_post_broadcast_to_ws(hub, closer):
    a, b = hub.ws(), hub.ws()
    closer += [a, b]
    next_state(a), next_state(b)
    st = hub.post_rgb(64, 32, 128, src="ui").json()["state"]
    want = {"type": "state", "r": 64, "g": 32, "b": 128, "seq": 1, "ts": st["ts"]}
    assert next_state(a) == want
    assert next_state(b) == want


def test_ws_clients_gauge(hub):
    a, b = hub.ws(), hub.ws()
    next_state(a), next_state(b)
    wait_until(lambda: hub.metrics().value("dmx_ws_clients") == 2, T(3), what="2 ws clients")
    a.close()
    b.close()
    wait_until(lambda: hub.metrics().value("dmx_ws_clients") == 0, T(3), what="0 ws clients")


def test_client_close_handshake(hub):
    a = hub.ws()
    next_state(a)
    a.send(0x8, struct.pack("!H", 1000) + b"bye")
    with pytest.raises(WsClosed) as ei:
        a.recv_frame(T(3))
    assert ei.value.code in (1000, None), ei.value
    a.sock.close()
    assert hub.get("/healthz").status == 200


def test_websockets_library_interop(hub):
    async def run():
        async with websockets.connect(hub.ws_url) as a, websockets.connect(hub.ws_url) as b:
            fa = json.loads(await asyncio.wait_for(a.recv(), T(5)))
            fb = json.loads(await asyncio.wait_for(b.recv(), T(5)))
            assert fa == fb and fa["type"] == "state" and fa["seq"] == 0
            await a.send(json.dumps(set_msg(100, 150, 200)))
            sa = json.loads(await asyncio.wait_for(a.recv(), T(5)))
            sb = json.loads(await asyncio.wait_for(b.recv(), T(5)))
            assert sa == sb
            assert state_tuple(sa) == (100, 150, 200, 1)
            pong = await a.ping()
            await asyncio.wait_for(pong, T(5))
    asyncio.run(run())


def test_huge_integer_clamped_like_rest(hub, closer):
    """WS reads numbers as REST does: 100000000000000000000 clamps to 255."""
    c = hub.ws()
    closer.append(c)
    next_state(c)
    c.send_text('{"type":"set","cmdId":"%s","r":100000000000000000000,"g":0,"b":0}' % ulid())
    st = next_state(c)
    assert (st["r"], st["g"], st["b"]) == (255, 0, 0)


def test_burst_in_one_commit_arrives_frame_by_frame_in_order(hub, closer):
    """States of one group commit go to each client in one write: every state
    must still be its own well-formed frame, in seq order, none missing, and a
    duplicate's ack must not overtake the states announced before it."""
    n = 300
    a, b = hub.ws(), hub.ws()
    closer += [a, b]
    assert next_state(a)["seq"] == 0 and next_state(b)["seq"] == 0
    ids = [ulid() for _ in range(n)]
    burst = [ws_frame(OP_TEXT, json.dumps(set_msg(i % 256, 1, 2, ids[i]))) for i in range(n)]
    burst.insert(n // 2, ws_frame(OP_TEXT, json.dumps(set_msg(9, 9, 9, ids[0]))))  # duplicate
    a.send_raw(b"".join(burst))  # one TCP write: the hub reads them in a few turns
    seqs_b = [next_state(b)["seq"] for _ in range(n)]
    assert seqs_b == list(range(1, n + 1))
    seen, ack = 0, None
    while seen < n or ack is None:
        m = a.recv_json()
        if m["type"] == "state":
            assert m["seq"] == seen + 1, m
            seen = m["seq"]
        else:
            assert m["type"] == "ack" and m["cmdId"] == ids[0], m
            assert m["seq"] <= seen, f"ack for seq {m['seq']} before that state ({seen})"
            ack = m
    commits = hub.metrics().value("dmx_store_commits_total")
    assert commits < n, f"{commits} commits for {n} commands: the burst was not batched"
