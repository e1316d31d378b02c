"""WebSocket /ws, seed 001's protocol beside seed 000's: hello (snapshot or
replay since a seq), intent -> exactly one result, patch frames per room in
seq order, subscribe/unsubscribe, events in room system, live output in
room frames."""
import base64
import json
import threading
import time

import pytest

from hubtest import T, WsTimeout, recv_type, ulid, wait_until, write_patch

PATCH = {
    "universes": [1, 2],
    "fixtures": [
        {"name": "demo", "universe": 1, "address": 1, "channels": ["red", "green", "blue"]},
        {"name": "par1", "universe": 2, "address": 1, "channels": ["red", "green", "blue", "dimmer"]},
    ],
}


@pytest.fixture
def rig(hubs, tmp_path):
    return hubs(env={"DMX_FIXTURES_FILE": write_patch(str(tmp_path), PATCH)})


def intent(ws, name, payload, req_id=None):
    rid = req_id or ulid()
    ws.send_json({"type": "intent", "req_id": rid, "name": name, "payload": payload})
    return rid


def connect(hub, closer, hello=True, **fields):
    ws = hub.ws()
    closer.append(ws)
    first = ws.recv_json()
    assert first["type"] == "state", first
    if hello:
        msg = {"type": "hello"}
        msg.update(fields)
        ws.send_json(msg)
    return ws


def test_hello_snapshot_default_rooms(rig, closer):
    ws = connect(rig, closer)
    snap = ws.recv_json()
    assert snap["type"] == "snapshot" and snap["seq"] == 0
    assert set(snap["state"]) == {"dmx", "show", "devices", "scenes", "schedules"}  # every domain root
    assert snap["state"] == rig.state()["state"]
    assert snap["state"]["dmx"]["fixtures"]["par1"]["armed"] is True


def test_intent_result_then_patch_to_every_room_member(rig, closer):
    a = connect(rig, closer)
    b = connect(rig, closer)
    assert a.recv_json()["type"] == "snapshot" and b.recv_json()["type"] == "snapshot"
    rid = intent(a, "fixture.set_values", {"fixture": "par1", "values": {"red": 200}})
    res = a.recv_json()
    assert res == {"type": "result", "req_id": rid, "ok": True, "seq": 1}, res
    pa = a.recv_json()
    assert pa["type"] == "patch" and pa["seq"] == 1
    assert pa["patches"] == [{"path": "dmx.fixtures.par1",
                              "value": rig.fixture("par1")}]
    pb = recv_type(b, "patch")
    assert pb == pa
    b.expect_silence(0.2)  # no result for b


def test_errors_are_results(rig, closer):
    ws = connect(rig, closer)
    ws.recv_json()
    cases = [
        ({"name": "fixture.set_values", "payload": {"fixture": "nope", "values": {}}}, "not_found"),
        ({"name": "fixture.set_values", "payload": {"fixture": "par1", "values": {"pan": 1}}}, "invalid"),
        ({"name": "no.such", "payload": {}}, "unknown_intent"),
        ({"name": "dmx.blackout", "payload": []}, "invalid"),
    ]
    for body, code in cases:
        rid = ulid()
        ws.send_json(dict(body, type="intent", req_id=rid))
        res = ws.recv_json()
        assert res["type"] == "result" and res["req_id"] == rid and res["ok"] is False, res
        assert res["error"]["code"] == code and res["error"]["message"], res
    ws.send_json({"type": "intent", "name": "dmx.blackout", "payload": {"on": True}})
    res = ws.recv_json()
    assert res["ok"] is False and res["req_id"] is None and res["error"]["field"] == "req_id"
    ws.expect_silence(0.2)
    assert rig.state()["seq"] == 0, "nothing was applied"


def test_duplicate_req_id(rig, closer):
    ws = connect(rig, closer)
    ws.recv_json()
    rid = intent(ws, "dmx.blackout", {"on": True})
    assert recv_type(ws, "result")["seq"] == 1
    recv_type(ws, "patch")
    intent(ws, "dmx.blackout", {"on": False})
    recv_type(ws, "result")
    recv_type(ws, "patch")
    intent(ws, "dmx.blackout", {"on": False}, req_id=rid)
    res = ws.recv_json()
    assert res == {"type": "result", "req_id": rid, "ok": True, "seq": 1, "duplicate": True}, res
    ws.expect_silence(0.3)


def test_rooms_choose_frames(rig, closer):
    only_dmx = connect(rig, closer, rooms=["dmx"])
    assert only_dmx.recv_json()["type"] == "snapshot"
    only_demo = connect(rig, closer, hello=False)  # seed 000 client: demo room only
    rig.post_rgb(1, 2, 3)
    p = only_dmx.recv_json()
    assert p["type"] == "patch" and p["patches"][0]["path"] == "dmx.fixtures.demo"
    s = only_demo.recv_json()
    assert s["type"] == "state" and (s["r"], s["g"], s["b"]) == (1, 2, 3)
    rig.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 1}})
    assert only_dmx.recv_json()["type"] == "patch"
    only_demo.expect_silence(0.3)  # par1 is not the demo fixture: no state frame
    only_dmx.expect_silence(0.1)


def test_subscribe_unsubscribe(rig, closer):
    ws = connect(rig, closer, hello=False)
    ws.send_json({"type": "subscribe", "rooms": ["dmx"], "req_id": "s1"})
    assert ws.recv_json() == {"type": "result", "req_id": "s1", "ok": True}
    snap = ws.recv_json()
    assert snap["type"] == "snapshot" and set(snap["state"]) == {"dmx"}
    rig.intent_ok("dmx.blackout", {"on": True})
    assert ws.recv_json()["type"] == "patch"
    ws.send_json({"type": "unsubscribe", "rooms": ["dmx", "demo"]})
    time.sleep(0.1)
    rig.post_rgb(4, 5, 6)
    ws.expect_silence(0.3)
    ws.send_json({"type": "subscribe", "rooms": ["nope"], "req_id": "s2"})
    res = ws.recv_json()
    assert res["type"] == "result" and res["ok"] is False and res["req_id"] == "s2"
    assert res["error"]["code"] == "invalid" and "nope" in res["error"]["message"]
    ws.send_json({"type": "subscribe", "rooms": "dmx"})
    assert ws.recv_json()["ok"] is False


def test_hello_since_replays_missed_patches(rig, closer):
    for i in range(6):
        rig.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": i}})
    ws = connect(rig, closer, since=2)
    got = [ws.recv_json() for _ in range(4)]
    assert [m["type"] for m in got] == ["patch"] * 4
    assert [m["seq"] for m in got] == [3, 4, 5, 6]
    assert got[-1]["patches"][0]["value"]["values"]["red"] == 5
    ws.expect_silence(0.2)
    rig.intent_ok("dmx.blackout", {"on": True})
    assert ws.recv_json()["seq"] == 7
    # since = now: nothing to send
    ws2 = connect(rig, closer, since=7)
    ws2.expect_silence(0.3)
    rig.intent_ok("dmx.blackout", {"on": False})
    assert ws2.recv_json()["seq"] == 8


def test_hello_since_filters_rooms(rig, closer):
    rig.intent_ok("dmx.blackout", {"on": True})
    ws = connect(rig, closer, since=0, rooms=["system"])
    ws.expect_silence(0.3)  # the missed patch is in room dmx, not asked


def test_hello_since_pruned_falls_back_to_snapshot(hubs, closer, tmp_path):
    h = hubs(env={"DMX_FIXTURES_FILE": write_patch(str(tmp_path), PATCH),
                  "DMX_JOURNAL_RETENTION": "3", "DMX_CMD_DEDUPE_CAPACITY": "3"})
    for i in range(12):
        h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": i}})
    ws = connect(h, closer, since=1)
    snap = ws.recv_json()
    assert snap["type"] == "snapshot" and snap["seq"] == 12
    assert snap["state"] == h.state()["state"]
    # since from the future (a restored backup): a snapshot too
    ws2 = connect(h, closer, since=999)
    assert ws2.recv_json()["type"] == "snapshot"


def test_hello_since_under_load_no_gap_no_repeat(rig, closer):
    stop = threading.Event()
    errors = []

    def writer():
        conn = None
        i = 0
        while not stop.is_set() and i < 3000:
            r = rig.intent("fixture.set_values", {"fixture": "par1", "values": {"red": i % 256}})
            if r.status != 200:
                errors.append(r)
                return
            i += 1

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        wait_until(lambda: rig.state()["seq"] >= 50, T(10))
        since = rig.state()["seq"] - 20
        ws = connect(rig, closer, since=since)
        seqs = []
        deadline = time.monotonic() + T(3)
        while time.monotonic() < deadline and len(seqs) < 300:
            m = ws.recv_json()
            assert m["type"] == "patch", m
            seqs.append(m["seq"])
    finally:
        stop.set()
        t.join(T(10))
    assert not errors, errors[:2]
    assert seqs[0] == since + 1, seqs[:5]
    assert seqs == list(range(since + 1, since + 1 + len(seqs))), "a gap or a repeat"


def test_reload_event_in_room_system(rig, closer):
    ws = connect(rig, closer, rooms=["system"])
    assert ws.recv_json()["type"] == "snapshot"
    r = rig.request("POST", "/api/v1/fixtures/reload")
    assert r.status == 200
    ev = recv_type(ws, "event", skip=("patch",))
    assert ev["level"] == "info" and ev["source"] == "dmx" and "reloaded" in ev["message"]


def test_frames_room(hubs, closer, tmp_path):
    h = hubs(env={"DMX_FIXTURES_FILE": write_patch(str(tmp_path), PATCH)})
    ws = connect(h, closer, hello=False)
    ws.send_json({"type": "subscribe", "rooms": ["frames"], "universes": [2]})
    h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 9, "dimmer": 250}})

    def frame_with(val):
        while True:
            m = ws.recv_json()
            if m["type"] != "frame":
                continue
            assert m["universe"] == 2, "the universes filter lets only universe 2 through"
            data = base64.b64decode(m["data"])
            assert len(data) == 512 and isinstance(m["ts"], int)
            if data[0] == val:
                return data
    data = frame_with(9)
    assert list(data) == h.output(2)
    h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 10}})
    frame_with(10)


def test_frames_rate_limited(hubs, closer):
    h = hubs(env={"DMX_OUTPUT_TEST_PATTERN": "chase", "DMX_WS_FRAME_HZ": "10", "DMX_OUTPUT_FPS": "44"})
    ws = connect(h, closer, hello=False)
    ws.send_json({"type": "subscribe", "rooms": ["frames"]})
    first = recv_type(ws, "frame")
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.0:
        try:
            m = ws.recv_json(0.5)
        except WsTimeout:
            continue
        if m["type"] == "frame":
            n += 1
    assert first["universe"] == 1
    assert 10 <= n <= 23, f"{n} frames in 2 s at DMX_WS_FRAME_HZ=10 while every tick changes"


def test_frames_every_subscriber_starts_from_the_current_output(hubs, closer, tmp_path):
    """A session joining room frames gets every universe's current output,
    not only the first session (the output does not change here)."""
    h = hubs(env={"DMX_FIXTURES_FILE": write_patch(str(tmp_path), PATCH)})
    h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 33, "dimmer": 200}})
    wait_until(lambda: h.output(2)[0] == 33, T(3))
    for _ in range(3):  # the third would miss it too before the fix
        ws = connect(h, closer, hello=False)
        ws.send_json({"type": "subscribe", "rooms": ["frames"]})
        got = {}
        deadline = time.monotonic() + T(2)
        while len(got) < 2 and time.monotonic() < deadline:
            m = ws.recv_json(T(2))
            if m["type"] == "frame":
                got[m["universe"]] = base64.b64decode(m["data"])
        assert set(got) == {1, 2}, f"frames for universes {sorted(got)} only"
        assert list(got[2]) == h.output(2)
        # hello asking for room frames starts from the whole picture too
        ws2 = connect(h, closer, rooms=["frames"])
        m = recv_type(ws2, "frame", skip=("snapshot",))
        assert m["universe"] in (1, 2)


def test_hello_req_id_answers_when_in_sync(rig, closer):
    for i in range(3):
        rig.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": i}})
    # a replay: the patches, then the result at the seq they end on
    ws = connect(rig, closer, since=1, req_id="sync-1")
    got = [ws.recv_json() for _ in range(3)]
    assert [m["type"] for m in got] == ["patch", "patch", "result"], got
    assert [m["seq"] for m in got[:2]] == [2, 3]
    assert got[2] == {"type": "result", "req_id": "sync-1", "ok": True, "seq": 3}
    # nothing missed: the result alone
    ws2 = connect(rig, closer, since=3, req_id="sync-2")
    assert ws2.recv_json() == {"type": "result", "req_id": "sync-2", "ok": True, "seq": 3}
    # a snapshot: then the result
    ws3 = connect(rig, closer, req_id="sync-3")
    assert ws3.recv_json()["type"] == "snapshot"
    assert ws3.recv_json() == {"type": "result", "req_id": "sync-3", "ok": True, "seq": 3}
    # without a req_id, no result (seed-001 clients see what they always did)
    ws4 = connect(rig, closer, since=3)
    ws4.expect_silence(0.3)


def test_frames_keep_up_with_the_asked_rate(hubs, closer):
    """DMX_WS_FRAME_HZ=30 with the output at 44 Hz and every tick changing:
    about 29 frames a second per universe (not every other tick: 22), and
    never more than 30 in any one-second window. Counted against the output
    ticks seen by Art-Net in the same window, so a slow machine does not
    matter."""
    from dmxnet import UdpReceiver
    with UdpReceiver() as art:
        h = hubs(env={"DMX_OUTPUT_TEST_PATTERN": "chase", "DMX_OUTPUT_FPS": "44",
                      "DMX_ARTNET_ENABLED": "true",
                      "DMX_ARTNET_TARGETS": f"127.0.0.1:{art.port}"})
        ws = connect(h, closer, hello=False)
        ws.send_json({"type": "subscribe", "rooms": ["frames"]})
        recv_type(ws, "frame")
        label = '{proto="artnet",universe="1"}'
        ticks0 = h.metrics().value("dmx_output_frames_total", label)
        times = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0:
            try:
                m = ws.recv_json(0.5)
            except WsTimeout:
                continue
            if m["type"] == "frame" and m["universe"] == 1:
                times.append(time.monotonic())
        ticks = h.metrics().value("dmx_output_frames_total", label) - ticks0
    assert ticks > 0
    ratio = len(times) / ticks
    assert 0.6 <= ratio <= 30 / 44 + 0.03, \
        f"{len(times)} frames for {ticks:.0f} output ticks (want about 29.3/44)"
    most = max(sum(1 for t in times if a <= t < a + 1.0) for a in times)
    assert most <= 30 + 1, f"{most} frames in one second"  # +1: receive-time jitter


def test_set_still_works_beside_intents(rig, closer):
    ws = connect(rig, closer)
    ws.recv_json()
    ws.send_json({"type": "set", "cmdId": ulid(), "r": 7, "g": 8, "b": 9})
    frames = [ws.recv_json(), ws.recv_json()]
    types = sorted(f["type"] for f in frames)
    assert types == ["patch", "state"], frames
    st = [f for f in frames if f["type"] == "state"][0]
    assert (st["r"], st["g"], st["b"], st["seq"]) == (7, 8, 9, 1)
