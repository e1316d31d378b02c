"""MQTT: the intent envelope on v1/hub/intent (results on reply_to or, for
failures without one, on v1/hub/error), per-fixture set/state topics as
Zigbee2MQTT/Tasmota users expect, retained states at start-up and on
reconnect, malformed input counted and harmless."""
import json
import time

import pytest

from hubtest import MqttClient, T, retained, ulid, wait_until, write_patch

PATCH = {
    "universes": [1],
    "fixtures": [
        {"name": "demo", "universe": 1, "address": 1, "channels": ["red", "green", "blue"]},
        {"name": "par1", "universe": 1, "address": 10, "channels": ["red", "dimmer"]},
    ],
}


@pytest.fixture
def rig(broker, hubs, tmp_path):
    h = hubs(broker=broker, env={"DMX_FIXTURES_FILE": write_patch(str(tmp_path), PATCH)})
    h.wait_readyz()
    return h


def client(broker, closer, *topics):
    c = MqttClient(broker.port).connect()
    closer.append(c)
    for t in topics:
        c.subscribe(t)
    return c


def test_intent_with_reply_to(rig, broker, closer):
    c = client(broker, closer, "replies/me", "v1/dmx/fixtures/par1/state")
    rid = ulid()
    c.publish("v1/hub/intent", json.dumps({
        "req_id": rid, "name": "fixture.set_values", "reply_to": "replies/me",
        "payload": {"fixture": "par1", "values": {"red": 12}}}))
    _, m = c.wait("replies/me")
    assert m.json() == {"ok": True, "seq": 1, "req_id": rid}
    assert not m.retain and m.qos == 1
    assert rig.fixture("par1")["values"]["red"] == 12
    log = rig.wait_log("apply", lambda l: l.get("req_id") == rid)
    assert log["src"] == "mqtt" and log["name"] == "fixture.set_values"
    # the duplicate gets the first answer
    n = len(c.msgs)
    c.publish("v1/hub/intent", json.dumps({
        "req_id": rid, "name": "fixture.set_values", "reply_to": "replies/me",
        "payload": {"fixture": "par1", "values": {"red": 99}}}))
    _, m = c.wait("replies/me", start=n)
    assert m.json() == {"ok": True, "seq": 1, "req_id": rid, "duplicate": True}
    assert rig.fixture("par1")["values"]["red"] == 12


def test_failures_go_to_reply_to_or_hub_error(rig, broker, closer):
    c = client(broker, closer, "replies/x", "v1/hub/error")
    rid = ulid()
    c.publish("v1/hub/intent", json.dumps({"req_id": rid, "name": "fixture.set_values",
                                           "reply_to": "replies/x",
                                           "payload": {"fixture": "nope", "values": {}}}))
    _, m = c.wait("replies/x")
    b = m.json()
    assert b["ok"] is False and b["req_id"] == rid and b["error"]["code"] == "not_found"
    rid2 = ulid()
    c.publish("v1/hub/intent", json.dumps({"req_id": rid2, "name": "no.such", "payload": {}}))
    _, m = c.wait("v1/hub/error")
    b = m.json()
    assert b["ok"] is False and b["req_id"] == rid2 and b["error"]["code"] == "unknown_intent"
    # successes without reply_to are silent (the state topics say it)
    n = len(c.msgs)
    c.publish("v1/hub/intent", json.dumps({"req_id": ulid(), "name": "dmx.blackout",
                                           "payload": {"on": True}}))
    wait_until(lambda: rig.state()["seq"] == 1, T(5))
    time.sleep(0.2)
    assert [m for m in c.msgs[n:] if m.topic == "v1/hub/error"] == []


BAD = [
    b"not json",
    b"[1,2]",
    b'{"name":"dmx.blackout","payload":{"on":true}}',          # req_id required on MQTT
    b'{"req_id":"","name":"dmx.blackout","payload":{}}',
    b'{"req_id":"r","name":5,"payload":{}}',
    b'{"req_id":"r","name":"dmx.blackout","payload":[]}',
    b'{"req_id":"r","name":"dmx.blackout","payload":{},"reply_to":"a/+/b"}',
    b"\xff\xfe\x00",
    b"",
    b'{"x":"' + b"a" * 20000 + b'"}',
]


def test_malformed_intents_counted_and_harmless(rig, broker, closer):
    c = client(broker, closer, "v1/hub/error")
    m0 = rig.metrics().value("dmx_mqtt_malformed_total")
    for payload in BAD:
        c.publish("v1/hub/intent", payload)
    wait_until(lambda: rig.metrics().value("dmx_mqtt_malformed_total") == m0 + len(BAD), T(5),
               what="every bad message counted")
    assert rig.state()["seq"] == 0
    assert rig.get("/readyz").status == 200
    logs = rig.logs("mqtt_malformed")
    assert all(l["topic"] == "v1/hub/intent" for l in logs[-len(BAD):])
    # the client still works
    c.publish("v1/hub/intent", json.dumps({"req_id": "ok-1", "name": "dmx.blackout",
                                           "payload": {"on": True}}))
    wait_until(lambda: rig.state()["seq"] == 1, T(5))


def test_fixture_set_and_state_topics(rig, broker, closer):
    c = client(broker, closer, "v1/dmx/fixtures/+/state")
    # retained at start-up, one per fixture, the fixture object + seq
    _, m = c.wait("v1/dmx/fixtures/par1/state")
    assert m.retain
    st = m.json()
    assert st["seq"] == 0 and st["armed"] is True and st["values"] == {"red": None, "dimmer": None}
    n = len(c.msgs)
    c.publish("v1/dmx/fixtures/par1/set", json.dumps({"values": {"red": 5}, "armed": False}))
    _, m = c.wait("v1/dmx/fixtures/par1/state", lambda m: m.json()["seq"] == 1, start=n)
    st = m.json()
    assert st["values"]["red"] == 5 and st["armed"] is False
    assert st == dict(rig.fixture("par1"), seq=1)
    fresh = retained(broker.port, "v1/dmx/fixtures/par1/state")
    assert fresh is not None and fresh.json() == st
    # with a req_id: deduped; with reply_to: answered
    c.subscribe("r/par1")
    c.publish("v1/dmx/fixtures/par1/set",
              json.dumps({"req_id": "p1", "values": {"dimmer": 3}, "reply_to": "r/par1"}))
    _, r = c.wait("r/par1")
    assert r.json() == {"ok": True, "seq": 2, "req_id": "p1"}
    c.publish("v1/dmx/fixtures/par1/set",
              json.dumps({"req_id": "p1", "values": {"dimmer": 9}, "reply_to": "r/par1"}))
    _, r = c.wait("r/par1", lambda m: m.json().get("duplicate"))
    assert rig.fixture("par1")["values"]["dimmer"] == 3


def test_fixture_set_errors(rig, broker, closer):
    c = client(broker, closer, "v1/hub/error")
    m0 = rig.metrics().value("dmx_mqtt_malformed_total")
    c.publish("v1/dmx/fixtures/nope/set", json.dumps({"values": {"red": 1}}))
    _, m = c.wait("v1/hub/error")
    assert m.json()["error"]["code"] == "not_found"
    c.publish("v1/dmx/fixtures/par1/set", b"{bad")
    wait_until(lambda: rig.metrics().value("dmx_mqtt_malformed_total") == m0 + 1, T(5))
    c.publish("v1/dmx/fixtures/par1/set", json.dumps({"values": {"pan": 1}}))
    _, m = c.wait("v1/hub/error", lambda m: m.json()["error"]["code"] == "invalid")
    assert rig.state()["seq"] == 0


def test_one_state_per_fixture_per_commit_but_every_rgb_state(rig, broker, closer):
    """v1/demo/rgb/state keeps seed 000's one state per change; the fixture
    topics only need their last value per group commit."""
    c = client(broker, closer, "v1/demo/rgb/state", "v1/dmx/fixtures/demo/state")
    c.wait("v1/demo/rgb/state")
    n = len(c.msgs)
    for i in range(50):
        rig.post_rgb(i, 0, 0)
    _, last = c.wait("v1/dmx/fixtures/demo/state", lambda m: m.json()["seq"] == 50, start=n)
    wait_until(lambda: len([m for m in c.msgs[n:] if m.topic == "v1/demo/rgb/state"]) == 50, T(5))
    assert last.json()["values"]["red"] == 49


def test_retained_states_republished_on_reconnect(closer, hubs, tmp_path):
    from hubtest import Mosquitto
    b = Mosquitto().start()
    closer.append(b)
    h = hubs(broker=b, env={"DMX_FIXTURES_FILE": write_patch(str(tmp_path), PATCH)})
    h.wait_readyz()
    h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 77}})
    b.stop()           # no persistence: the broker forgets every retained message
    b.start()
    def back():
        m = retained(b.port, "v1/dmx/fixtures/par1/state", timeout=0.5)
        return m if m and m.json()["values"]["red"] == 77 else None
    m = wait_until(back, T(20), what="fixture state republished after the broker came back")
    assert m.json()["seq"] == 1
    assert retained(b.port, "v1/demo/rgb/state") is not None
