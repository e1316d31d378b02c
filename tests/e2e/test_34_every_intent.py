"""Every dmx intent through every adapter: REST POST /api/v1/intents, WS
{"type":"intent"} and MQTT v1/hub/intent with reply_to. Each must be
answered once with its seq, change the state as the intent says, and show
the same patches to a WS client in room dmx and in the journal."""
import json

import pytest

from hubtest import MqttClient, T, recv_type, ulid, wait_until, write_patch

PATCH = {
    "universes": [1, 2],
    "fixtures": [
        {"name": "demo", "universe": 1, "address": 1, "channels": ["red", "green", "blue"]},
        {"name": "par1", "universe": 1, "address": 10, "channels": ["red", "green", "blue", "dimmer"]},
        {"name": "mover", "universe": 2, "address": 1,
         "channels": ["pan", "pan_fine", "tilt", "tilt_fine", "dimmer"]},
    ],
    "pois": [{"name": "center", "pan": 128, "tilt": 60, "pan_fine": 7}],
}

# (name, payload, the paths its patches touch, a check of the state after)
INTENTS = [
    ("fixture.set_values", {"fixture": "par1", "values": {"red": 200, "dimmer": 100}},
     {"dmx.fixtures.par1"},
     lambda d: d["fixtures"]["par1"]["values"] == {"red": 200, "green": None, "blue": None,
                                                   "dimmer": 100}),
    ("fixture.set_arm", {"fixture": "par1", "armed": False}, {"dmx.fixtures.par1"},
     lambda d: d["fixtures"]["par1"]["armed"] is False),
    ("fixture.update", {"fixture": "par1", "armed": True, "values": {"green": 5}},
     {"dmx.fixtures.par1"},
     lambda d: d["fixtures"]["par1"]["armed"] is True
     and d["fixtures"]["par1"]["values"]["green"] == 5),
    ("fixture.release", {"fixture": "par1", "roles": ["red"]}, {"dmx.fixtures.par1"},
     lambda d: d["fixtures"]["par1"]["values"]["red"] is None
     and d["fixtures"]["par1"]["values"]["green"] == 5),
    ("fixture.go_to_poi", {"fixture": "mover", "poi": "center"}, {"dmx.fixtures.mover"},
     lambda d: d["fixtures"]["mover"]["values"]["pan"] == 128
     and d["fixtures"]["mover"]["values"]["pan_fine"] == 7
     and d["fixtures"]["mover"]["values"]["tilt"] == 60),
    ("dmx.set_channels", {"universe": 1, "channels": {"40": 255, "512": 1}}, {"dmx.channels.1"},
     lambda d: d["channels"]["1"] == {"40": 255, "512": 1}),
    ("dmx.blackout", {"on": True}, {"dmx.blackout"}, lambda d: d["blackout"] is True),
    ("dmx.blackout", {"on": False}, {"dmx.blackout"}, lambda d: d["blackout"] is False),
    ("dmx.reload_fixtures", {}, set(), lambda d: set(d["fixtures"]) == {"demo", "par1", "mover"}),
]


@pytest.fixture
def rig(broker, hubs, tmp_path):
    h = hubs(broker=broker, env={"DMX_FIXTURES_FILE": write_patch(str(tmp_path), PATCH)})
    h.wait_readyz()
    return h


def watcher(rig, closer):
    ws = rig.ws()
    closer.append(ws)
    assert ws.recv_json()["type"] == "state"
    ws.send_json({"type": "hello", "rooms": ["dmx"]})
    assert ws.recv_json()["type"] == "snapshot"
    return ws


def via_rest(rig, closer, name, payload):
    rid = ulid()
    r = rig.intent(name, payload, req_id=rid)
    assert r.status == 200, r
    b = r.json()
    assert b == {"ok": True, "seq": b["seq"], "req_id": rid}
    return b["seq"]


def via_ws(rig, closer, name, payload):
    ws = rig.ws()
    closer.append(ws)
    assert ws.recv_json()["type"] == "state"
    rid = ulid()
    ws.send_json({"type": "intent", "req_id": rid, "name": name, "payload": payload})
    res = recv_type(ws, "result", skip=("state", "patch"))
    assert res["ok"] is True and res["req_id"] == rid, res
    return res["seq"]


def via_mqtt(rig, closer, name, payload, broker):
    c = MqttClient(broker.port).connect()
    closer.append(c)
    c.subscribe("replies/every")
    rid = ulid()
    c.publish("v1/hub/intent", json.dumps({"req_id": rid, "name": name, "payload": payload,
                                           "reply_to": "replies/every"}))
    _, m = c.wait("replies/every")
    b = m.json()
    assert b == {"ok": True, "seq": b["seq"], "req_id": rid}
    return b["seq"]


@pytest.mark.parametrize("adapter", ["rest", "ws", "mqtt"])
def test_every_intent(adapter, rig, broker, closer):
    ws = watcher(rig, closer)
    seq = rig.state()["seq"]
    for name, payload, paths, check in INTENTS:
        if adapter == "rest":
            got = via_rest(rig, closer, name, payload)
        elif adapter == "ws":
            got = via_ws(rig, closer, name, payload)
        else:
            got = via_mqtt(rig, closer, name, payload, broker)
        assert got == seq + 1, f"{name} over {adapter}: seq {got}, want {seq + 1}"
        seq = got
        dmx = rig.state()["state"]["dmx"]
        assert check(dmx), f"{name} over {adapter}: state is {dmx}"
        entry = rig.get(f"/api/v1/journal?since={seq - 1}&limit=1").json()["entries"][0]
        assert entry["seq"] == seq and entry["name"] == name
        assert entry["src"] == {"rest": "api", "ws": "ui", "mqtt": "mqtt"}[adapter]
        assert {p["path"] for p in entry["patches"]} == paths, entry
        if paths:  # the watcher sees the same patches (a reload of the same file has none)
            m = recv_type(ws, "patch")
            assert m["seq"] == seq and m["patches"] == entry["patches"]
        for p in entry["patches"]:
            assert p["value"] == lookup(dmx, p["path"]), p
    ws.expect_silence(0.2)


def lookup(dmx, path):
    node = {"dmx": dmx}
    for seg in path.split("."):
        node = node[seg]
    return node
