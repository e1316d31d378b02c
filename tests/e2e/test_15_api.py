"""REST /api/v1: the state snapshot, intents (every dmx intent, every error),
idempotency, the dmx routes, the journal, the output merge as seen on
GET /api/v1/universes/{u}."""
import json
import os

import pytest

from hubtest import T, request, ulid, wait_until, write_patch

PATCH = {
    "universes": [1, 2],
    "fixtures": [
        {"name": "demo", "universe": 1, "address": 1, "channels": ["red", "green", "blue"]},
        {"name": "par1", "universe": 1, "address": 10, "channels": ["red", "green", "blue", "dimmer"]},
        {"name": "mover1", "universe": 2, "address": 1,
         "channels": ["pan", "pan_fine", "tilt", "tilt_fine", "dimmer"]},
    ],
    "pois": [{"name": "stage_center", "pan": 128, "tilt": 60, "tilt_fine": 7}],
}


@pytest.fixture
def rig(hubs, tmp_path):
    """A hub with PATCH loaded (no MQTT)."""
    path = write_patch(str(tmp_path), PATCH)
    return hubs(env={"DMX_FIXTURES_FILE": path})


def err_of(r):
    b = r.json()
    assert b["ok"] is False, b
    return b["error"]


# ---------------------------------------------------------------- the snapshot

def test_state_snapshot_shape(rig):
    r = rig.get("/api/v1/state")
    assert r.status == 200
    body = r.json()
    assert body["seq"] == 0
    assert r.header("etag") == '"0"'
    dmx = body["state"]["dmx"]
    assert dmx["blackout"] is False
    assert dmx["universes"] == [1, 2]
    assert list(dmx["fixtures"]) == ["demo", "par1", "mover1"]
    assert dmx["fixtures"]["par1"] == {
        "universe": 1, "address": 10, "channels": ["red", "green", "blue", "dimmer"],
        "armed": True, "values": {"red": None, "green": None, "blue": None, "dimmer": None}}
    assert dmx["channels"] == {}
    assert dmx["pois"] == {"stage_center": {"pan": 128, "pan_fine": 0, "tilt": 60, "tilt_fine": 7}}


def test_state_etag_and_304(rig):
    r = rig.get("/api/v1/state")
    etag = r.header("etag")
    r2 = rig.get("/api/v1/state", headers={"If-None-Match": etag})
    assert r2.status == 304 and r2.body == b""
    assert r2.header("etag") == etag
    rig.intent_ok("dmx.blackout", {"on": True})
    r3 = rig.get("/api/v1/state", headers={"If-None-Match": etag})
    assert r3.status == 200
    assert r3.header("etag") == '"1"' and r3.json()["seq"] == 1


def test_state_rooms_filter(rig):
    assert rig.state("dmx")["state"].keys() == {"dmx"}
    assert rig.state("system")["state"] == {}   # not a state room: nothing in it
    r = rig.get("/api/v1/state?rooms=nope")
    assert r.status == 400 and err_of(r)["code"] == "invalid"


# ---------------------------------------------------------------- intents

def test_set_values_partial_rounds_clamps(rig):
    b = rig.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 254.5, "dimmer": 999}})
    assert b["seq"] == 1 and isinstance(b["req_id"], str) and b["req_id"]
    rig.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"green": -4, "red": None}})
    f = rig.fixture("par1")
    assert f["values"] == {"red": None, "green": 0, "blue": None, "dimmer": 255}
    out = rig.output(1)
    assert out[9:13] == [0, 0, 0, 255]


def test_set_arm_and_merge(rig):
    rig.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 10, "dimmer": 20}})
    rig.intent_ok("fixture.set_arm", {"fixture": "par1", "armed": False})
    assert rig.fixture("par1")["armed"] is False
    assert rig.output(1)[9:13] == [0, 0, 0, 0], "a disarmed fixture outputs 0"
    assert rig.fixture("par1")["values"]["red"] == 10, "values are kept while disarmed"
    rig.intent_ok("fixture.set_arm", {"fixture": "par1", "armed": True})
    assert rig.output(1)[9:13] == [10, 0, 0, 20]


def test_blackout_zeroes_everything_and_keeps_values(rig):
    rig.intent_ok("fixture.set_values", {"fixture": "demo", "values": {"red": 1, "green": 2, "blue": 3}})
    rig.intent_ok("dmx.set_channels", {"universe": 2, "channels": {"40": 99}})
    rig.intent_ok("dmx.blackout", {"on": True})
    assert rig.state()["state"]["dmx"]["blackout"] is True
    assert rig.output(1) == [0] * 512 and rig.output(2) == [0] * 512
    assert rig.get("/rgb").json()["r"] == 1, "/rgb shows the demo fixture's values, not the output"
    rig.intent_ok("dmx.blackout", {"on": False})
    assert rig.output(1)[:3] == [1, 2, 3] and rig.output(2)[39] == 99


def test_release_roles_and_all(rig):
    rig.intent_ok("fixture.set_values", {"fixture": "par1",
                                         "values": {"red": 1, "green": 2, "blue": 3, "dimmer": 4}})
    rig.intent_ok("fixture.release", {"fixture": "par1", "roles": ["green", "dimmer"]})
    assert rig.fixture("par1")["values"] == {"red": 1, "green": None, "blue": 3, "dimmer": None}
    rig.intent_ok("fixture.release", {"fixture": "par1"})
    assert set(rig.fixture("par1")["values"].values()) == {None}
    assert rig.output(1)[9:13] == [0, 0, 0, 0]


def test_go_to_poi(rig):
    rig.intent_ok("fixture.go_to_poi", {"fixture": "mover1", "poi": "stage_center"})
    v = rig.fixture("mover1")["values"]
    assert (v["pan"], v["pan_fine"], v["tilt"], v["tilt_fine"], v["dimmer"]) == (128, 0, 60, 7, None)
    assert rig.output(2)[:5] == [128, 0, 60, 7, 0]


def test_set_channels_raw(rig):
    rig.intent_ok("dmx.set_channels", {"universe": 2, "channels": {"40": 255, "512": 7.4}})
    assert rig.state()["state"]["dmx"]["channels"] == {"2": {"40": 255, "512": 7}}
    out = rig.output(2)
    assert out[39] == 255 and out[511] == 7
    rig.intent_ok("dmx.set_channels", {"universe": 2, "channels": {"40": None, "512": None}})
    assert rig.state()["state"]["dmx"]["channels"] == {}
    assert rig.output(2)[39] == 0


def test_fixture_update(rig):
    rig.intent_ok("fixture.update", {"fixture": "par1", "values": {"red": 5}, "armed": False})
    f = rig.fixture("par1")
    assert f["values"]["red"] == 5 and f["armed"] is False


BAD = [
    # name, payload, status, code, field
    ("fixture.set_values", {"fixture": "nope", "values": {"red": 1}}, 404, "not_found", "fixture"),
    ("fixture.set_values", {"values": {"red": 1}}, 400, "invalid", "fixture"),
    ("fixture.set_values", {"fixture": 7, "values": {"red": 1}}, 400, "invalid", "fixture"),
    ("fixture.set_values", {"fixture": "par1"}, 400, "invalid", "values"),
    ("fixture.set_values", {"fixture": "par1", "values": [1]}, 400, "invalid", "values"),
    ("fixture.set_values", {"fixture": "par1", "values": {"pan": 1}}, 400, "invalid", "values.pan"),
    ("fixture.set_values", {"fixture": "par1", "values": {"bogus": 1}}, 400, "invalid", "values.bogus"),
    ("fixture.set_values", {"fixture": "par1", "values": {"red": "1"}}, 400, "invalid", "values.red"),
    ("fixture.set_values", {"fixture": "par1", "values": {"red": True}}, 400, "invalid", "values.red"),
    ("fixture.set_values", {"fixture": "par1", "values": {"red": 1}, "valeus": {}}, 400, "invalid", "valeus"),
    ("fixture.set_arm", {"fixture": "par1", "armed": "yes"}, 400, "invalid", "armed"),
    ("fixture.set_arm", {"fixture": "par1"}, 400, "invalid", "armed"),
    ("fixture.release", {"fixture": "par1", "roles": "red"}, 400, "invalid", "roles"),
    ("fixture.release", {"fixture": "par1", "roles": ["tilt"]}, 400, "invalid", "roles[0]"),
    ("fixture.go_to_poi", {"fixture": "par1", "poi": "stage_center"}, 400, "invalid", "fixture"),
    ("fixture.go_to_poi", {"fixture": "mover1", "poi": "nowhere"}, 404, "not_found", "poi"),
    ("fixture.update", {"fixture": "par1"}, 400, "invalid", ""),
    ("dmx.set_channels", {"universe": 2, "channels": {"0": 1}}, 400, "invalid", "channels.0"),
    ("dmx.set_channels", {"universe": 2, "channels": {"513": 1}}, 400, "invalid", "channels.513"),
    ("dmx.set_channels", {"universe": 2, "channels": {"01": 1}}, 400, "invalid", "channels.01"),
    ("dmx.set_channels", {"universe": 2, "channels": {"x": 1}}, 400, "invalid", "channels.x"),
    ("dmx.set_channels", {"universe": 2, "channels": {"1": 5}}, 400, "invalid", "channels.1"),
    ("dmx.set_channels", {"universe": 2, "channels": {"40": [1]}}, 400, "invalid", "channels.40"),
    ("dmx.set_channels", {"universe": 9, "channels": {"40": 1}}, 404, "not_found", "universe"),
    ("dmx.set_channels", {"universe": 1.5, "channels": {"40": 1}}, 400, "invalid", "universe"),
    ("dmx.set_channels", {"universe": 2}, 400, "invalid", "channels"),
    ("dmx.blackout", {}, 400, "invalid", "on"),
    ("dmx.blackout", {"on": 1}, 400, "invalid", "on"),
    ("bogus.intent", {}, 400, "unknown_intent", "name"),
]


@pytest.mark.parametrize("name,payload,status,code,field", BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_intents_change_nothing(rig, name, payload, status, code, field):
    before = rig.state()
    r = rig.intent(name, payload)
    assert r.status == status, r
    err = err_of(r)
    assert err["code"] == code, err
    assert err.get("field", "") == field, err
    assert err["message"], err
    assert rig.state() == before, "a refused intent changed the state"
    # the same req_id is free again: refusals are not remembered
    assert rig.intent_ok("dmx.blackout", {"on": False})["seq"] == before["seq"] + 1


ENVELOPE_BAD = [
    (b'{"name":"dmx.blackout","payload":[]}', 400, "payload"),
    (b'{"payload":{}}', 400, "name"),
    (b'{"name":"","payload":{}}', 400, "name"),
    (b'{"name":"dmx.blackout","payload":{},"req_id":""}', 400, "req_id"),
    (b'{"name":"dmx.blackout","payload":{},"req_id":"' + b"x" * 65 + b'"}', 400, "req_id"),
    (b'{"name":"dmx.blackout","payload":{},"req_id":"caf\\u00e9"}', 400, "req_id"),
    (b'{"name":"dmx.blackout","name":"x"}', 400, ""),
    (b'[1,2]', 400, ""),
    (b'{"name":', 400, ""),
    (b'', 400, ""),
]


@pytest.mark.parametrize("body,status,field", ENVELOPE_BAD, ids=[str(i) for i in range(len(ENVELOPE_BAD))])
def test_bad_envelopes(shared_hub, body, status, field):
    r = shared_hub.request("POST", "/api/v1/intents", body, {"content-type": "application/json"})
    assert r.status == status, r
    err = err_of(r)
    assert err["code"] == "invalid" and err.get("field", "") == field, err


def test_content_type_and_size(shared_hub):
    r = shared_hub.request("POST", "/api/v1/intents", b'{"name":"dmx.blackout","payload":{"on":true}}',
                           {"content-type": "text/plain"})
    assert r.status == 415 and err_of(r)["code"] == "invalid"
    r = shared_hub.request("POST", "/api/v1/intents", b'{"x":"' + b"a" * 20000 + b'"}',
                           {"content-type": "application/json"})
    assert r.status == 413
    r = shared_hub.request("GET", "/api/v1/intents")
    assert r.status == 405 and "POST" in r.header("allow")


# ---------------------------------------------------------------- idempotency

def test_duplicate_answered_with_the_first_answer(rig):
    first = rig.intent("dmx.blackout", {"on": True}, req_id="fader-42")
    assert first.status == 200
    a = first.json()
    assert a == {"ok": True, "seq": 1, "req_id": "fader-42"}
    rig.intent_ok("dmx.blackout", {"on": False})
    again = rig.intent("dmx.blackout", {"on": True}, req_id="fader-42")
    assert again.status == 200
    assert again.json() == dict(a, duplicate=True)
    assert rig.state()["state"]["dmx"]["blackout"] is False, "a duplicate changes nothing"
    assert rig.state()["seq"] == 2


def test_idempotency_key_header(rig):
    h = {"Idempotency-Key": "ik-1"}
    a = rig.intent("dmx.blackout", {"on": True}, headers=h).json()
    assert a["req_id"] == "ik-1" and a["seq"] == 1
    b = rig.intent("dmx.blackout", {"on": True}, headers=h).json()
    assert b == dict(a, duplicate=True)
    # the same key on a dmx route: the same cache
    r = rig.request("POST", "/api/v1/blackout", {"on": False}, headers=h)
    assert r.json() == dict(a, duplicate=True)
    # body and header disagree: refused
    r = rig.intent("dmx.blackout", {"on": True}, req_id="other", headers=h)
    assert r.status == 400 and err_of(r)["field"] == "req_id"
    r = rig.intent("dmx.blackout", {"on": True}, headers={"Idempotency-Key": "bad\x01"})
    assert r.status in (400,)


def test_generated_req_ids_are_ulids(rig):
    ids = {rig.intent_ok("dmx.blackout", {"on": bool(i % 2)})["req_id"] for i in range(5)}
    assert len(ids) == 5
    from hubtest import ulid_valid
    assert all(ulid_valid(i) for i in ids), ids


def test_cmd_ids_and_req_ids_share_the_cache(rig):
    cid = ulid()
    r = rig.post_rgb(1, 2, 3, cmd_id=cid)
    seq = r.json()["state"]["seq"]
    dup = rig.intent("dmx.blackout", {"on": True}, req_id=cid)
    assert dup.json() == {"ok": True, "seq": seq, "req_id": cid, "duplicate": True}
    rid = "not-a-ulid-but-fine"
    rig.intent_ok("dmx.blackout", {"on": False}, req_id=rid)


# ---------------------------------------------------------------- dmx routes

def test_dmx_routes(rig):
    assert rig.get("/api/v1/universes").json() == {"universes": [1, 2]}
    u = rig.get("/api/v1/universes/2").json()
    assert u["universe"] == 2 and len(u["channels"]) == 512
    r = rig.get("/api/v1/universes/9")
    assert r.status == 404 and err_of(r)["code"] == "not_found"
    assert rig.get("/api/v1/universes/abc").status == 400
    r = rig.request("PATCH", "/api/v1/universes/2", {"channels": {"40": 255}})
    assert r.status == 200 and r.json()["ok"] is True
    assert rig.output(2)[39] == 255
    fx = rig.get("/api/v1/fixtures").json()["fixtures"]
    assert set(fx) == {"demo", "par1", "mover1"}
    assert rig.get("/api/v1/fixtures/par1").json()["address"] == 10
    assert rig.get("/api/v1/fixtures/nope").status == 404
    r = rig.request("PATCH", "/api/v1/fixtures/par1", {"armed": False, "values": {"red": 9}})
    assert r.status == 200
    assert rig.fixture("par1")["armed"] is False and rig.fixture("par1")["values"]["red"] == 9
    r = rig.request("PATCH", "/api/v1/fixtures/nope", {"armed": False})
    assert r.status == 404
    r = rig.request("POST", "/api/v1/blackout", {"on": True})
    assert r.status == 200 and rig.state()["state"]["dmx"]["blackout"] is True
    r = rig.request("POST", "/api/v1/fixtures/par1", {"armed": False})
    assert r.status == 405 and set(r.header("allow").split(", ")) >= {"GET", "PATCH"}
    r = rig.request("PATCH", "/api/v1/fixtures/par1", b"[]", {"content-type": "application/json"})
    assert r.status == 400


def test_reload_route_applies_the_file(rig, tmp_path):
    patch = dict(PATCH)
    patch["fixtures"] = PATCH["fixtures"][:2] + [
        {"name": "wash", "universe": 3, "address": 100, "channels": ["dimmer"]}]
    patch["universes"] = [1, 3]
    rig.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 77}})
    write_patch(str(tmp_path), patch)
    r = rig.request("POST", "/api/v1/fixtures/reload")
    assert r.status == 200, r
    dmx = rig.state()["state"]["dmx"]
    assert dmx["universes"] == [1, 3]
    assert set(dmx["fixtures"]) == {"demo", "par1", "wash"}
    assert dmx["fixtures"]["par1"]["values"]["red"] == 77, "values survive a reload"
    # a bad file is refused and the running patch kept
    write_patch(str(tmp_path), '{"fixtures":[{"name":"x","universe":1,"address":512,"channels":["red","green"]}]}')
    r = rig.request("POST", "/api/v1/fixtures/reload")
    assert r.status == 400, r
    assert "does not fit" in err_of(r)["message"]
    assert rig.state()["state"]["dmx"]["universes"] == [1, 3]


# ---------------------------------------------------------------- the journal

def test_journal_paging(rig):
    for i in range(5):
        rig.intent_ok("dmx.blackout", {"on": bool(i % 2)}, req_id=f"j{i}")
    r = rig.get("/api/v1/journal?since=0&limit=2")
    assert r.status == 200
    page = r.json()
    assert [e["seq"] for e in page["entries"]] == [1, 2]
    assert page["next"] == 2
    e = page["entries"][0]
    assert e["req_id"] == "j0" and e["name"] == "dmx.blackout" and e["src"] == "api"
    assert e["payload"] == {"on": False}
    assert e["patches"] == [{"path": "dmx.blackout", "value": False}]
    assert isinstance(e["ts"], int) and e["ts"] > 0
    page = rig.get(f"/api/v1/journal?since={page['next']}&limit=1000").json()
    assert [e["seq"] for e in page["entries"]] == [3, 4, 5] and page["next"] == 5
    page = rig.get("/api/v1/journal?since=5").json()
    assert page["entries"] == [] and page["next"] == 5
    for q in ("limit=0", "limit=1001", "limit=x", "since=-1", "since=abc"):
        r = rig.get(f"/api/v1/journal?{q}")
        assert r.status == 400, (q, r)


def test_ws_status_endpoints(rig):
    for path in ("/api/v1/ws/status", "/api/websocket/status"):
        r = rig.get(path)
        assert r.status == 200
        b = r.json()
        assert b["clients"] == 0 and b["slow_dropped_total"] == 0
        assert {"demo", "dmx", "system", "frames"} <= set(b["rooms"])
    ws = rig.ws()
    try:
        ws.recv_json()
        b = wait_until(lambda: (lambda j: j if j["clients"] == 1 else None)(
            rig.get("/api/v1/ws/status").json()), T(3))
        assert b["rooms"]["demo"] == 1 and b["rooms"]["dmx"] == 0
    finally:
        ws.close()


def test_api_key_guards_mutations(hubs):
    h = hubs(env={"DMX_API_KEY": "s3cret-key-value"})
    r = h.intent("dmx.blackout", {"on": True})
    assert r.status == 401 and err_of(r)["code"] == "unauthorized"
    r = h.request("POST", "/api/v1/blackout", {"on": True})
    assert r.status == 401
    r = h.intent("dmx.blackout", {"on": True}, headers={"x-api-key": "s3cret-key-value"})
    assert r.status == 200
    assert h.get("/api/v1/state").status == 200, "reads stay open for dashboards"
