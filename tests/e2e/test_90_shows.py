"""Shows as a user's client sees them: the show files in <data>/shows, the
REST routes (/api/v1/shows…), the show intents over REST, WS and MQTT,
validation that names the file, the cue or effect and the field, delta
edits that reach the file on disk and room "show", previews that never
touch a file, the output's precedence on the wire (Art-Net on 127.0.0.1),
DMX_DEFAULT_SHOW, the retained v1/show/state, the audio route, SIGHUP and
hostile input.

The patch puts every show fixture on universe 2: the implicit "demo"
fixture holds channels 1-3 of universe 1.
"""
import http.client
import json
import os
import signal
import time

import pytest

from dmxnet import UdpReceiver
from hubtest import (Hub, MqttClient, T, recv_type, retained, ulid, wait_until)
from showtest import (PAR1, PAR2, MOVER1, PATCH, UNIVERSE, Frames, artdmx_of, basic_show, error_of, file_bytes,
                      load, loaded_name, make_data_dir, moving_show, net_env, read_show_file,
                      refused, show_path, show_state, slot, subset, transport, wait_universe,
                      write_show)

ZEROS = bytes(512)


def steady_show(name="steady", duration_ms=60000):
    """Values that hold (no fades past 0, no effects) for a minute."""
    return {"name": name, "duration_ms": duration_ms, "cues": [
        {"id": "a", "t_ms": 0, "fixtures": ["par1"],
         "values": {"red": 200, "green": 20, "blue": 2, "dimmer": 150}},
        {"id": "b", "t_ms": 0, "fixtures": ["par2"], "values": {"blue": 100, "dimmer": 90}},
        {"id": "c", "t_ms": 0, "fixtures": ["mover1"], "poi": "stage_center",
         "values": {"dimmer": 40}},
    ]}


def ws_show_room(h, closer):
    """A WS session in room "show" (after its snapshot)."""
    ws = h.ws()
    closer.append(ws)
    assert ws.recv_json()["type"] == "state"
    ws.send_json({"type": "hello", "rooms": ["show"]})
    snap = recv_type(ws, "snapshot")
    assert set(snap["state"]) == {"show"}, snap
    return ws


def patch_of(ws, seq, timeout=None):
    """The patch frame of seq (patches of earlier seqs are skipped)."""
    deadline = time.monotonic() + (T(5) if timeout is None else timeout)
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no patch for seq {seq} in time"
        m = ws.recv_json(left)
        if m.get("type") == "patch":
            if m["seq"] == seq:
                return {p["path"]: p["value"] for p in m["patches"]}
            assert m["seq"] < seq, f"patch {m['seq']} came before the one of seq {seq}: {m}"
        else:
            assert m.get("type") in ("state", "result"), m


def list_entry(h, name):
    for e in h.get("/api/v1/shows").json()["shows"]:
        if e["name"] == name:
            return e
    return None


# ---------------------------------------------------------------- files and REST

def test_list_get_and_invalid_files(hubs, tmp_path):
    bad_ref = basic_show("badref")
    bad_ref["cues"][0]["fixtures"] = ["par1", "ghost"]
    data = make_data_dir(tmp_path, [basic_show(audio="song.mp3"), moving_show(), bad_ref],
                         raw={"broken.cue.json": "{\"name\": \"broken\", ",
                              "other.cue.json": json.dumps(basic_show("not_other")),
                              "notes.txt": "not a show", ".hidden.cue.json": "{}"})
    h = hubs(data_dir=data)
    r = h.get("/api/v1/shows")
    assert r.status == 200, r
    b = r.json()
    assert b["loaded"] is None
    by = {e["name"]: e for e in b["shows"]}
    assert [e["name"] for e in b["shows"]] == sorted(by), "the list is sorted by name"
    assert set(by) == {"opening", "moving", "badref", "broken", "other"}, by
    assert by["opening"] == {"name": "opening", "duration_ms": 10000, "cues": 3, "effects": 1,
                             "audio": "song.mp3"}
    assert by["moving"] == {"name": "moving", "duration_ms": 8000, "cues": 4, "effects": 2,
                            "audio": None}
    for name, words in (("badref", ["badref.cue.json", '"c1"', "fixtures[1]", "ghost"]),
                        ("broken", ["broken.cue.json", "line 1"]),
                        ("other", ["other.cue.json", "not_other"])):
        assert set(by[name]) == {"name", "error"}, by[name]
        for w in words:
            assert w in by[name]["error"], (name, w, by[name]["error"])
    # the same list in the state, room "show"; nothing loaded is null
    st = show_state(h)
    assert st["list"] == b["shows"]
    assert "loaded" in st and st["loaded"] is None, st

    r = h.get("/api/v1/shows/opening")
    assert r.status == 200, r
    got = r.json()
    subset(basic_show(audio="song.mp3"), got)
    # defaults written out: fade_ms, curve, the effect's params
    assert got["cues"][1]["fade_ms"] == 0 and got["cues"][1]["curve"] == "linear"
    assert got["effects"][0]["params"] == {"period_ms": 500, "role": "dimmer", "min": 0,
                                           "max": 255}
    r = h.get("/api/v1/shows/nosuch")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found", r
    r = h.get("/api/v1/shows/badref")
    assert r.status == 400, r
    err = r.json()["error"]
    assert err["code"] == "invalid" and err["field"] == "cues[0].fixtures[1]", err


def test_put_writes_the_file_and_refuses_bad_ones(hubs, tmp_path):
    data = make_data_dir(tmp_path, [basic_show()])
    h = hubs(data_dir=data)
    seq0 = h.state()["seq"]

    # a new show
    fresh = basic_show("fresh", duration_ms=20000)
    r = h.request("PUT", "/api/v1/shows/fresh", fresh)
    assert r.status == 200, r
    b = r.json()
    assert b["ok"] is True and b["seq"] == seq0 + 1 and b["req_id"], b
    on_disk = read_show_file(data, "fresh")
    subset(fresh, on_disk)
    assert on_disk == h.get("/api/v1/shows/fresh").json(), "the file is the canonical show"
    assert list_entry(h, "fresh") == {"name": "fresh", "duration_ms": 20000, "cues": 3,
                                      "effects": 1, "audio": None}
    assert not [f for f in os.listdir(os.path.join(data, "shows")) if f.endswith(".tmp")]

    # a whole-file replace of an existing show
    newer = basic_show("opening", duration_ms=12000)
    newer["cues"].append({"id": "late", "t_ms": 11000, "fixtures": ["par2"],
                          "values": {"red": 7}})
    r = h.request("PUT", "/api/v1/shows/opening", newer)
    assert r.status == 200, r
    subset(newer, read_show_file(data, "opening"))
    assert list_entry(h, "opening")["duration_ms"] == 12000

    # refused: the file on disk stays as it was
    before = file_bytes(show_path(data, "opening"))
    r = h.request("PUT", "/api/v1/shows/opening", basic_show("something_else"))
    st, err = error_of(r)
    assert st == 400 and err["code"] == "invalid" and err["field"] == "name", err
    assert "something_else" in err["message"] and "opening" in err["message"], err
    bad = basic_show("opening")
    bad["effects"][0]["params"]["period_ms"] = 0
    r = h.request("PUT", "/api/v1/shows/opening", bad)
    st, err = error_of(r)
    assert st == 400 and err["field"] == "effects[0].params.period_ms", err
    assert '"e1"' in err["message"] and "opening.cue.json" in err["message"], err
    for body in ([basic_show("opening")], "null", {"name": "opening"}):
        r = h.request("PUT", "/api/v1/shows/opening", body,
                      headers={"content-type": "application/json"})
        st, err = error_of(r)
        assert st == 400 and err["code"] == "invalid", (body, err)
    r = h.request("PUT", "/api/v1/shows/bad%20name", basic_show("bad name"))
    assert 400 <= r.status < 500, r
    assert file_bytes(show_path(data, "opening")) == before
    assert not os.path.exists(show_path(data, "something_else"))
    assert h.state()["seq"] == seq0 + 2, "refused PUTs change nothing"

    # persistence: a restart reads the files as they were written
    h.stop()
    h.start()
    subset(newer, h.get("/api/v1/shows/opening").json())
    subset(fresh, h.get("/api/v1/shows/fresh").json())


def test_put_while_loaded_follows_the_transport_rules(hubs, tmp_path):
    data = make_data_dir(tmp_path, [basic_show()])
    h = hubs(data_dir=data)
    load(h, "opening")
    h.intent_ok("transport.play")
    before = file_bytes(show_path(data, "opening"))
    shorter = basic_show("opening", duration_ms=6000)
    refused_put = h.request("PUT", "/api/v1/shows/opening", shorter)
    st, err = error_of(refused_put)
    assert st == 409 and err["code"] == "conflict", err
    assert file_bytes(show_path(data, "opening")) == before
    h.intent_ok("transport.jump_to_time", {"t_ms": 9000})
    h.intent_ok("transport.pause")
    tr = transport(h)
    assert tr["state"] == "paused"
    # a shorter file replaces the loaded show; the held position moves inside it
    r = h.request("PUT", "/api/v1/shows/opening", shorter)
    assert r.status == 200, r
    st = show_state(h)
    assert st["loaded"]["duration_ms"] == 6000
    assert st["transport"]["state"] == "paused" and st["transport"]["t_ms"] == 6000, st
    subset(shorter, read_show_file(data, "opening"))


def test_body_limit_is_dmx_show_max_bytes(hubs, tmp_path):
    big = basic_show("big")
    big["cues"] += [{"id": f"x{i}", "t_ms": i, "fixtures": ["par1"], "values": {"red": i % 256}}
                    for i in range(60)]
    assert len(json.dumps(big)) > 3000
    huge = basic_show("huge")
    huge["cues"] += [{"id": f"x{i}", "t_ms": i, "fixtures": ["par1"], "values": {"red": i % 256}}
                     for i in range(200)]
    assert len(json.dumps(huge)) > 4 * 2048  # files on disk may be 4 x the body limit
    data = make_data_dir(tmp_path, [basic_show()],
                         raw={"huge.cue.json": json.dumps(huge)})
    h = hubs(data_dir=data, env={"DMX_SHOW_MAX_BYTES": "2048"})
    r = h.request("PUT", "/api/v1/shows/big", big)
    assert r.status == 413, r
    assert r.json()["ok"] is False and "2048" in r.json()["error"]["message"]
    assert not os.path.exists(show_path(data, "big"))
    small = basic_show("small")
    assert len(json.dumps(small)) < 2048
    assert h.request("PUT", "/api/v1/shows/small", small).status == 200
    # a file over the limit on disk (4 x: saved files are indented) is listed with an
    # error and cannot be loaded
    e = list_entry(h, "huge")
    assert e is not None and "error" in e and "8192" in e["error"], e
    err = refused(h, "show.load", {"name": "huge"}, "invalid", 400)
    assert "8192" in err["message"]
    assert h.get("/healthz").status == 200


def test_delete(hubs, tmp_path):
    data = make_data_dir(tmp_path, [basic_show(), moving_show()])
    h = hubs(data_dir=data)
    r = h.request("DELETE", "/api/v1/shows/nosuch")
    st, err = error_of(r)
    assert st == 404 and err["code"] == "not_found" and err["field"] == "name", err
    load(h, "opening")
    r = h.request("DELETE", "/api/v1/shows/opening")
    st, err = error_of(r)
    assert st == 409 and err["code"] == "conflict", err
    assert os.path.exists(show_path(data, "opening"))
    r = h.request("DELETE", "/api/v1/shows/moving")
    assert r.status == 200 and r.json()["ok"] is True, r
    assert not os.path.exists(show_path(data, "moving"))
    assert list_entry(h, "moving") is None
    assert h.get("/api/v1/shows/moving").status == 404
    assert h.request("DELETE", "/api/v1/shows/moving").status == 404
    h.intent_ok("show.unload")
    assert h.request("DELETE", "/api/v1/shows/opening").status == 200
    assert not os.path.exists(show_path(data, "opening"))
    assert h.get("/api/v1/shows").json() == {"shows": [], "loaded": None}


# ---------------------------------------------------------------- load / unload over every adapter

def via_rest(h, broker, closer, name, payload):
    rid = ulid()
    r = h.intent(name, payload, req_id=rid)
    b = r.json()
    return r.status, b


def via_ws(h, broker, closer, name, payload):
    ws = h.ws()
    closer.append(ws)
    assert ws.recv_json()["type"] == "state"
    rid = ulid()
    ws.send_json({"type": "intent", "req_id": rid, "name": name, "payload": payload})
    res = recv_type(ws, "result", skip=("state", "patch"))
    assert res["req_id"] == rid
    return None, res


def via_mqtt(h, broker, closer, name, payload):
    c = MqttClient(broker.port).connect()
    closer.append(c)
    topic = f"replies/{ulid()}"
    c.subscribe(topic)
    rid = ulid()
    c.publish("v1/hub/intent", json.dumps({"req_id": rid, "name": name, "payload": payload,
                                           "reply_to": topic}))
    _, m = c.wait(topic, timeout=T(5))
    b = m.json()
    assert b["req_id"] == rid
    return None, b


ADAPTERS = {"rest": via_rest, "ws": via_ws, "mqtt": via_mqtt}


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_load_and_unload_over_every_adapter(adapter, broker, hubs, tmp_path, closer):
    bad = basic_show("bad")
    bad["cues"][2]["values"]["pan"] = 9            # par2 has no pan
    data = make_data_dir(tmp_path, [basic_show(), moving_show(), bad],
                         raw={"broken.cue.json": "[1, 2"})
    h = hubs(data_dir=data, broker=broker)
    h.wait_readyz()
    send = ADAPTERS[adapter]

    st, b = send(h, broker, closer, "show.load", {"name": "opening"})
    assert b["ok"] is True, b
    assert loaded_name(h) == "opening"
    assert show_state(h)["transport"]["state"] == "stopped"
    h.intent_ok("transport.jump_to_time", {"t_ms": 1234})
    before = h.state("show")
    for name, code, field in (("bad", "invalid", "cues[2].values.pan"),
                              ("broken", "invalid", "name"),
                              ("nosuch", "not_found", "name")):
        st, b = send(h, broker, closer, "show.load", {"name": name})
        assert b["ok"] is False and b["error"]["code"] == code, (name, b)
        assert b["error"].get("field") == field, (name, b)
        assert f"{name}.cue.json" in b["error"]["message"], b
        if st is not None:
            assert st == {"invalid": 400, "not_found": 404}[code]
    assert h.state("show") == before, "a refused load changes nothing"
    assert transport(h)["t_ms"] == 1234 and transport(h)["state"] == "paused"

    # another show replaces it (paused or stopped, not while playing)
    h.intent_ok("transport.play")
    st, b = send(h, broker, closer, "show.load", {"name": "moving"})
    assert b["ok"] is False and b["error"]["code"] == "conflict", b
    st, b = send(h, broker, closer, "show.unload", {})
    assert b["ok"] is False and b["error"]["code"] == "conflict", b
    assert loaded_name(h) == "opening"
    h.intent_ok("transport.stop")
    st, b = send(h, broker, closer, "show.load", {"name": "moving"})
    assert b["ok"] is True, b
    assert loaded_name(h) == "moving"
    assert transport(h)["state"] == "stopped" and transport(h)["t_ms"] == 0
    st, b = send(h, broker, closer, "show.unload", {})
    assert b["ok"] is True, b
    assert show_state(h).get("loaded") is None
    assert h.get("/api/v1/shows").json()["loaded"] is None
    # with nothing loaded the transport refuses
    st, b = send(h, broker, closer, "transport.play", {})
    assert b["ok"] is False and b["error"]["code"] == "conflict", b


# ---------------------------------------------------------------- validation, one kind at a time

def _set(path, value):
    def f(s):
        node = s
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return f


# (kind, change to basic_show("v"), field, the item's id, words the message holds)
KINDS = [
    ("unknown fixture", _set(["cues", 0, "fixtures"], ["par1", "ghost"]),
     "cues[0].fixtures[1]", "c1", ["ghost", "not a fixture"]),
    ("unknown role", _set(["cues", 0, "values", "sparkle"], 3),
     "cues[0].values.sparkle", "c1", ["sparkle", "not a role"]),
    ("role none of the fixtures has", _set(["cues", 2, "values", "pan"], 3),
     "cues[2].values.pan", "c3", ["pan", "par2"]),
    ("effect role none of the fixtures has", _set(["effects", 0, "params", "role"], "tilt"),
     "effects[0].params.role", "e1", ["tilt", "par1"]),
    ("unknown POI", _set(["cues", 1, "poi"], "backstage"), "cues[1].poi", "c2", ["backstage"]),
    ("cue t_ms past duration", _set(["cues", 1, "t_ms"], 10001),
     "cues[1].t_ms", "c2", ["10001", "10000"]),
    ("effect past duration", _set(["effects", 0, "dur_ms"], 6000),
     "effects[0].dur_ms", "e1", ["6000", "10000"]),
    ("duplicate id", _set(["effects", 0, "id"], "c2"), "effects[0].id", "c2", ["cues[1]"]),
    ("bad curve", _set(["cues", 2, "curve"], "bouncy"), "cues[2].curve", "c3",
     ["bouncy", "ease_in_out"]),
    ("unknown effect", _set(["effects", 0, "effect"], "laser"), "effects[0].effect", "e1",
     ["laser", "strobe"]),
    ("effect param that does not apply", _set(["effects", 0, "params", "duty"], 0.5),
     "effects[0].params.duty", "e1", ["duty", "chase"]),
    ("effect param out of range", _set(["effects", 0, "params", "period_ms"], 0),
     "effects[0].params.period_ms", "e1", ["period_ms", "0"]),
    ("effect min above max", _set(["effects", 0, "params"], {"min": 200, "max": 100}),
     "effects[0].params.min", "e1", ["200", "100"]),
    ("unknown member", _set(["cues", 0, "fade"], 100), "cues[0].fade", "c1", ["fade", "fade_ms"]),
    ("fade_ms not a number", _set(["cues", 0, "fade_ms"], "2s"), "cues[0].fade_ms", "c1",
     ["fade_ms"]),
]


@pytest.fixture(scope="module")
def vhub(tmp_path_factory):
    """One hub for the validation table: "opening" loaded and paused at 1234."""
    data = make_data_dir(tmp_path_factory.mktemp("v"), [basic_show()])
    h = Hub(data_dir=data)
    try:
        h.start()
        load(h, "opening")
        h.intent_ok("transport.jump_to_time", {"t_ms": 1234})
        yield h
        h.finish()
    finally:
        if h.running():
            h.kill9()


@pytest.mark.parametrize("kind,change,field,item,words", KINDS, ids=[k[0] for k in KINDS])
def test_validation_names_file_item_and_field(vhub, kind, change, field, item, words):
    h = vhub
    show = basic_show("v")
    change(show)
    before = h.state("show")
    path = show_path(h.data_dir, "v")

    def check(err, how):
        assert err["code"] == "invalid", (how, err)
        assert err["field"] == field, f"{kind} by {how}: field {err['field']!r}, want {field!r}"
        msg = err["message"]
        for w in ["v.cue.json", f'"{item}"', field.split(".")[-1].split("[")[0]] + words:
            assert w in msg, f"{kind} by {how}: {w!r} not in {msg!r}"
        assert msg.isprintable() and "\n" not in msg

    try:
        r = h.request("PUT", "/api/v1/shows/v", show)
        st, err = error_of(r)
        assert st == 400
        check(err, "PUT")
        assert not os.path.exists(path), "a refused PUT writes no file"
        # the same file on disk: show.load, GET and the list say the same
        write_show(h.data_dir, show)
        check(refused(h, "show.load", {"name": "v"}, "invalid", 400), "show.load")
        r = h.get("/api/v1/shows/v")
        assert r.status == 400, r
        check(r.json()["error"], "GET")
        # the loaded show and its transport did not move
        assert h.state("show") == before
    finally:
        if os.path.exists(path):
            os.remove(path)


# ---------------------------------------------------------------- delta edits

CUE = {"id": "n1", "t_ms": 2500, "fixtures": ["par2"], "values": {"green": 77}, "fade_ms": 300,
       "curve": "step"}
CUE2 = {"t_ms": 2600, "fixtures": ["par1", "par2"], "values": {"green": 66}}
EFFECT = {"id": "fx1", "t_ms": 1000, "dur_ms": 2000, "fixtures": ["par1"], "effect": "strobe",
          "params": {"period_ms": 250, "duty": 0.25}}
EFFECT2 = {"t_ms": 1500, "dur_ms": 1000, "fixtures": ["par1", "par2"], "effect": "pulse",
           "params": {"period_ms": 400, "min": 5}}

EDITS = [("cue.add", {"cue": CUE}),
         ("cue.update", {"id": "n1", "cue": CUE2}),
         ("effect.add", {"effect": EFFECT}),
         ("effect.update", {"id": "fx1", "effect": EFFECT2}),
         ("cue.delete", {"id": "n1"}),
         ("effect.delete", {"id": "fx1"})]


def item(show, kind, id_):
    items = [x for x in show["cues" if kind == "cue" else "effects"] if x["id"] == id_]
    return items[0] if items else None


def test_delta_edits(hubs, tmp_path, closer):
    data = make_data_dir(tmp_path, [basic_show()])
    h = hubs(data_dir=data)
    path = show_path(data, "opening")
    for name, payload in EDITS:            # nothing loaded
        refused(h, name, payload, "conflict", 409)
    load(h, "opening")
    ws = ws_show_room(h, closer)

    # playing: every edit is refused and the file does not change
    h.intent_ok("transport.play")
    before = file_bytes(path)
    for name, payload in EDITS:
        err = refused(h, name, payload, "conflict", 409)
        assert "playing" in err["message"]
    assert file_bytes(path) == before

    def edit(name, payload, check):
        b = h.intent_ok(name, payload)
        disk = read_show_file(data, "opening")
        check(disk)
        patches = patch_of(ws, b["seq"])
        assert "show.loaded" in patches, patches
        assert patches["show.loaded"] == disk, "the patch is the show as written"
        assert show_state(h)["loaded"] == disk
        return disk

    # paused: accepted, written, announced
    h.intent_ok("transport.pause")
    t_paused = transport(h)["t_ms"]
    edit("cue.add", {"cue": CUE}, lambda d: subset(CUE, item(d, "cue", "n1")))
    edit("cue.update", {"id": "n1", "cue": CUE2},
         lambda d: subset(dict(CUE2, id="n1", fade_ms=0, curve="linear"), item(d, "cue", "n1")))
    edit("effect.add", {"effect": EFFECT}, lambda d: subset(EFFECT, item(d, "effect", "fx1")))
    tr = transport(h)
    assert tr["state"] == "paused" and tr["t_ms"] == t_paused, "an edit moved the transport"
    # refusals while paused: taken ids, unknown ids, bad items
    for name, payload, code in (
            ("cue.add", {"cue": dict(CUE, id="c1")}, "conflict"),
            ("cue.add", {"cue": dict(CUE, id="fx1")}, "conflict"),   # ids shared with effects
            ("effect.add", {"effect": dict(EFFECT, id="n1")}, "conflict"),
            ("cue.update", {"id": "n1", "cue": dict(CUE2, id="c2")}, "conflict"),
            ("effect.update", {"id": "fx1", "effect": dict(EFFECT2, id="e1")}, "conflict"),
            ("cue.update", {"id": "zz", "cue": CUE2}, "not_found"),
            ("cue.delete", {"id": "zz"}, "not_found"),
            ("effect.update", {"id": "zz", "effect": EFFECT2}, "not_found"),
            ("effect.delete", {"id": "e9"}, "not_found"),
            ("cue.delete", {"id": "e1"}, "not_found"),               # an effect, not a cue
    ):
        disk = file_bytes(path)
        err = refused(h, name, payload, code, {"conflict": 409, "not_found": 404}[code])
        assert err.get("field") == "id", err
        assert file_bytes(path) == disk
    err = refused(h, "cue.add", {"cue": dict(CUE, id="n2", t_ms=10001)}, "invalid", 400,
                  field="cue.t_ms")
    assert '"n2"' in err["message"] and "10001" in err["message"], err
    err = refused(h, "effect.add", {"effect": dict(EFFECT, id="fx2", params={"spread": 1})},
                  "invalid", 400, field="effect.params.spread")
    assert '"fx2"' in err["message"] and "strobe" in err["message"], err
    err = refused(h, "cue.add", {"cue": dict(CUE, id="n3", fixtures=["ghost"])}, "invalid", 400)
    assert err["field"].startswith("cue") and '"n3"' in err["message"] \
        and "ghost" in err["message"], err
    err = refused(h, "cue.add", {"cue": dict(CUE, id="n4", curve="wobble")}, "invalid", 400,
                  field="cue.curve")
    err = refused(h, "cue.add", {"cue": CUE, "extra": 1}, "invalid", 400, field="extra")

    # stopped: accepted too
    h.intent_ok("transport.stop")
    edit("effect.update", {"id": "fx1", "effect": EFFECT2},
         lambda d: subset(dict(EFFECT2, id="fx1"), item(d, "effect", "fx1")))
    edit("cue.delete", {"id": "n1"}, lambda d: item(d, "cue", "n1") is None or pytest.fail(d))
    keep = {"id": "keep", "t_ms": 7000, "fixtures": ["mover1"], "poi": "stage_center"}
    edit("cue.add", {"cue": keep}, lambda d: subset(keep, item(d, "cue", "keep")))
    final = edit("effect.delete", {"id": "fx1"},
                 lambda d: item(d, "effect", "fx1") is None or pytest.fail(d))
    assert [c["id"] for c in final["cues"]] == ["c1", "c2", "c3", "keep"]
    assert [e["id"] for e in final["effects"]] == ["e1"]
    assert {e["name"]: e for e in show_state(h)["list"]}["opening"]["cues"] == 4

    # the edits outlive the hub: the restarted hub loads the file as written
    h.stop()
    h.start()
    assert show_state(h)["loaded"] == final
    assert read_show_file(data, "opening") == final


# ---------------------------------------------------------------- previews

def test_preview_is_on_top_expires_and_never_touches_a_file(hubs, tmp_path):
    data = make_data_dir(tmp_path, [basic_show(), moving_show()])
    files = {n: show_path(data, n) for n in ("opening", "moving")}
    with UdpReceiver() as art:
        h = hubs(data_dir=data, env=net_env(art=art, DMX_OUTPUT_KEEPALIVE_MS=100))
        load(h, "opening")
        h.intent_ok("transport.jump_to_time", {"t_ms": 3500})       # a held look
        h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"dimmer": 77}})
        wait_universe(artdmx_of, art, lambda d: slot(d, PAR1["dimmer"]) == 77, T(3),
                      what="the manual dimmer 77 on par1")
        stat0 = {n: (os.stat(p).st_mtime_ns, file_bytes(p)) for n, p in files.items()}

        dur = 1500
        mark = art.mark()
        t_sent = time.monotonic()
        b = h.intent_ok("fixture.preview_effect",
                        {"fixtures": ["par1"], "effect": "strobe", "dur_ms": dur,
                         "params": {"period_ms": 200, "duty": 0.5, "min": 3, "max": 250}})
        pv = show_state(h)["previews"]
        assert len(pv) == 1, pv
        assert pv[0]["fixtures"] == ["par1"] and pv[0]["effect"] == "strobe"
        assert pv[0]["until"] - pv[0]["started_at"] == dur
        # on the wire: the strobe beats the manual 77 on par1's dimmer, and
        # leaves the rest (par1 red from the show, par2) alone
        seen = set()
        wait_until(lambda: seen.update(slot(d, PAR1["dimmer"]) for _, d in
                                       artdmx_of(art, mark)) or {3, 250} <= seen,
                   T(2), what="the strobe's min and max on par1's dimmer")
        frame = Frames(h, "opening").at_ms(3500)
        for _, d in artdmx_of(art, mark):
            assert slot(d, PAR1["dimmer"]) in (3, 250, 77), d[:8]
            assert d[:3] == frame[:3] and d[4:] == frame[4:], "the preview touched other slots"
        # it ends by itself after dur_ms (a timer intent), not before
        wait_until(lambda: show_state(h)["previews"] == [], dur / 1000 + T(3),
                   what="the preview to expire")
        assert time.monotonic() - t_sent >= dur / 1000 - 0.05, "the preview ended early"
        entry = h.get(f"/api/v1/journal?since={b['seq']}").json()["entries"][0]
        assert entry["name"] == "fixture.preview_expire" and entry["src"] == "timer", entry
        mark = art.mark()
        wait_universe(artdmx_of, art, lambda d: slot(d, PAR1["dimmer"]) == 77, T(2), start=mark,
                      what="the manual value back after the preview")

        # preview_stop ends a long one at once
        h.intent_ok("fixture.preview_effect", {"fixtures": ["par1", "par2"], "effect": "chase",
                                               "dur_ms": 600000})
        assert len(show_state(h)["previews"]) == 1
        mark = art.mark()
        wait_universe(artdmx_of, art, lambda d: slot(d, PAR1["dimmer"]) in (0, 255), T(2),
                      start=mark, what="the chase on par1's dimmer")
        h.intent_ok("fixture.preview_stop", {"fixtures": ["par2"]})
        assert show_state(h)["previews"] == []
        mark = art.mark()
        wait_universe(artdmx_of, art, lambda d: slot(d, PAR1["dimmer"]) == 77, T(2), start=mark,
                      what="the manual value back after preview_stop")
        refused(h, "fixture.preview_effect", {"fixtures": ["ghost"], "effect": "strobe"},
                "invalid", 400)
        refused(h, "fixture.preview_effect", {"fixtures": ["par1"], "effect": "strobe",
                                              "dur_ms": 0}, "invalid", 400, field="dur_ms")
        refused(h, "fixture.preview_stop", {"fixtures": "par1"}, "invalid", 400,
                field="fixtures")

        # also while playing: previews run, the files stay as they were
        h.intent_ok("transport.play")
        h.intent_ok("fixture.preview_effect", {"fixtures": ["mover1"], "effect": "sine",
                                               "dur_ms": 300})
        wait_until(lambda: show_state(h)["previews"] == [], T(3), what="the preview to expire")
        h.intent_ok("transport.stop")
        stat1 = {n: (os.stat(p).st_mtime_ns, file_bytes(p)) for n, p in files.items()}
        assert stat1 == stat0, "a preview changed a show file"
        assert sorted(os.listdir(os.path.join(data, "shows"))) == \
            ["moving.cue.json", "opening.cue.json"]


# ---------------------------------------------------------------- precedence on the wire

def test_precedence_blackout_disarm_manual_over_playback(hubs, tmp_path):
    data = make_data_dir(tmp_path, [steady_show()])
    with UdpReceiver() as art:
        h = hubs(data_dir=data, env=net_env(art=art, DMX_OUTPUT_KEEPALIVE_MS=100))
        load(h, "steady")
        h.intent_ok("transport.play")
        look = Frames(h, "steady").at_ms(1000)
        assert slot(look, PAR1["red"]) == 200 and slot(look, PAR2["dimmer"]) == 90
        assert slot(look, MOVER1["pan"]) == 128 and slot(look, MOVER1["tilt"]) == 60
        wait_universe(artdmx_of, art, lambda d: d == look, T(3), what="the playing look")

        def settle(pred, what):
            mark = art.mark()
            wait_universe(artdmx_of, art, pred, T(2), start=mark, what=what)
            # and it holds: the next packets say the same (keep-alive 100 ms)
            mark = art.mark()
            pk = wait_until(lambda: (lambda p: p if len(p) >= 3 else None)(artdmx_of(art, mark)),
                            T(2), what="three more packets")
            assert all(pred(d) for _, d in pk), what
            assert transport(h)["state"] == "playing"

        h.intent_ok("dmx.blackout", {"on": True})
        settle(lambda d: d == ZEROS, "blackout: all zeros while playing")
        h.intent_ok("dmx.blackout", {"on": False})
        settle(lambda d: d == look, "the look back after the blackout")

        h.intent_ok("fixture.set_arm", {"fixture": "par1", "armed": False})
        no_par1 = bytes(4) + look[4:]
        settle(lambda d: d == no_par1, "disarmed par1: its channels 0, the rest playing")
        h.intent_ok("fixture.set_arm", {"fixture": "par1", "armed": True})
        settle(lambda d: d == look, "par1 re-armed")

        h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 10}})
        h.intent_ok("fixture.set_values", {"fixture": "par2", "values": {"dimmer": 0}})
        manual = bytearray(look)
        manual[PAR1["red"] - 1] = 10
        manual[PAR2["dimmer"] - 1] = 0                   # a manual 0 beats playback too
        settle(lambda d: d == bytes(manual), "manual values over playback")
        # a blackout still beats the manual values; disarm beats them too
        h.intent_ok("fixture.set_arm", {"fixture": "par2", "armed": False})
        off = bytearray(manual)
        off[4:8] = bytes(4)
        settle(lambda d: d == bytes(off), "disarm beats manual")
        h.intent_ok("fixture.set_arm", {"fixture": "par2", "armed": True})
        h.intent_ok("fixture.release", {"fixture": "par1"})
        h.intent_ok("fixture.release", {"fixture": "par2"})
        settle(lambda d: d == look, "released: playback again")


# ---------------------------------------------------------------- start-up, MQTT, audio, SIGHUP

def test_default_show_is_loaded_at_startup(hubs, tmp_path):
    data = make_data_dir(tmp_path, [basic_show(), moving_show()])
    h = hubs(data_dir=data, env={"DMX_DEFAULT_SHOW": "moving"})
    wait_until(lambda: loaded_name(h) == "moving", T(5), what="the default show loaded")
    assert transport(h)["state"] == "stopped"
    entries = h.get("/api/v1/journal?since=0").json()["entries"]
    assert [(e["name"], e["src"]) for e in entries][:1] == [("show.load", "startup")], entries
    # once another show is loaded, a restart keeps that one (the default is for an empty hub)
    h.intent_ok("show.load", {"name": "opening"})
    h.stop()
    h.start()
    assert loaded_name(h) == "opening"


def test_default_show_absent_file(hubs, tmp_path):
    data = make_data_dir(tmp_path, [basic_show()])
    h = hubs(data_dir=data, env={"DMX_DEFAULT_SHOW": "missing"})
    h.wait_log("show_default_absent")
    assert show_state(h).get("loaded") is None
    assert h.get("/healthz").status == 200
    assert h.state()["seq"] == 0


def test_default_show_bad_name_refused_at_start(hubs, tmp_path):
    data = make_data_dir(tmp_path, [basic_show()])
    h = hubs(data_dir=data, env={"DMX_DEFAULT_SHOW": "../etc/passwd"}, start=False)
    h.spawn()
    assert h.wait_exit(T(10)) == 2
    assert "DMX_DEFAULT_SHOW" in h.stderr() + h.stdout()


def test_mqtt_retained_show_state(broker, hubs, tmp_path):
    data = make_data_dir(tmp_path, [basic_show()])
    h = hubs(data_dir=data, broker=broker)
    h.wait_readyz()
    m = retained(broker.port, "v1/show/state")
    assert m is not None and m.retain, "no retained v1/show/state at start-up"
    assert m.json()["show"] is None and m.json()["transport"]["state"] == "stopped"
    b = h.intent_ok("show.load", {"name": "opening"})

    def fresh_state(pred):
        def get():
            m = retained(broker.port, "v1/show/state", timeout=T(1))
            return m if m is not None and m.retain and pred(m.json()) else None
        return wait_until(get, T(5), interval=0.05, what="the retained v1/show/state").json()

    st = fresh_state(lambda j: j["show"] == "opening")
    assert set(st) == {"show", "transport", "seq"}
    assert st["seq"] == b["seq"] and st["transport"] == transport(h)
    b = h.intent_ok("transport.play", {"rate": 1.5})
    st = fresh_state(lambda j: j["transport"]["state"] == "playing")
    assert st["seq"] == b["seq"] and st["transport"] == transport(h)
    assert st["transport"]["rate"] == 1.5
    b = h.intent_ok("transport.stop")
    h.intent_ok("show.unload")
    st = fresh_state(lambda j: j["show"] is None)
    assert st["transport"]["state"] == "stopped" and st["seq"] == b["seq"] + 1

    # at start-up the hub publishes it again (the broker's copy cleared meanwhile)
    h.intent_ok("show.load", {"name": "opening"})
    h.intent_ok("transport.jump_to_time", {"t_ms": 700})
    h.stop()
    c = MqttClient(broker.port).connect()
    try:
        c.publish("v1/show/state", b"", retain=True)
    finally:
        c.close()
    assert retained(broker.port, "v1/show/state", timeout=T(0.5)) is None
    h.start()
    h.wait_readyz()
    st = fresh_state(lambda j: j["show"] == "opening")
    assert st["transport"]["state"] == "paused" and st["transport"]["t_ms"] == 700, st
    assert st["seq"] == h.state()["seq"] and st["transport"] == transport(h), st


def test_audio_route(hubs, tmp_path):
    blob = os.urandom(50000)
    data = make_data_dir(tmp_path, [basic_show(audio="song.mp3"), moving_show()],
                         raw={"song.mp3": blob})
    h = hubs(data_dir=data)
    r = h.get("/api/v1/shows/opening/audio")
    assert r.status == 200 and r.body == blob, r.status
    assert r.header("content-type") == "audio/mpeg"
    r = h.get("/api/v1/shows/opening/audio", headers={"Range": "bytes=100-199"})
    assert r.status == 206 and r.body == blob[100:200], r.status
    assert r.header("content-range") == f"bytes 100-199/{len(blob)}"
    load(h, "opening")                                   # the loaded show, from memory
    r = h.get("/api/v1/shows/opening/audio", headers={"Range": "bytes=-10"})
    assert r.status == 206 and r.body == blob[-10:]
    r = h.get("/api/v1/shows/moving/audio")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"
    assert h.get("/api/v1/shows/nosuch/audio").status == 404


def test_sighup_rescans_the_shows_dir(hubs, tmp_path):
    data = make_data_dir(tmp_path, [basic_show()])
    h = hubs(data_dir=data)
    assert [e["name"] for e in show_state(h)["list"]] == ["opening"]
    write_show(data, moving_show())
    bad = basic_show("late_bad")
    bad["cues"][0]["fixtures"] = ["ghost"]
    write_show(data, bad)
    os.remove(show_path(data, "opening"))
    h.proc.send_signal(signal.SIGHUP)

    def listed():
        lst = show_state(h)["list"]
        return lst if [e["name"] for e in lst] == ["late_bad", "moving"] else None
    lst = wait_until(listed, T(5), what="the rescan after SIGHUP")
    assert "ghost" in lst[0]["error"] and lst[1]["cues"] == 4, lst
    assert h.get("/api/v1/shows").json()["shows"] == lst
    assert h.running()
    # show.rescan as an intent does the same
    write_show(data, basic_show("third"))
    h.intent_ok("show.rescan")
    assert "third" in [e["name"] for e in show_state(h)["list"]]
    load(h, "third")


# ---------------------------------------------------------------- hostile input

def test_hostile_input_leaves_the_hub_up_and_the_state_unchanged(hubs, tmp_path):
    data = make_data_dir(tmp_path, [basic_show()])
    h = hubs(data_dir=data)
    load(h, "opening")
    h.intent_ok("transport.jump_to_time", {"t_ms": 4321})
    before = h.state()
    disk = {f: file_bytes(os.path.join(data, "shows", f))
            for f in os.listdir(os.path.join(data, "shows"))}
    long = "n" * 10240

    def http_refused(method, path, body=None, headers=None):
        try:
            r = h.request(method, path, body, headers)
        except (http.client.HTTPException, ConnectionError) as e:
            return f"closed ({type(e).__name__})"
        assert 400 <= r.status < 500, (method, path[:60], r)
        return r.status

    # 10 KB names, in the path and in payloads
    for method in ("GET", "PUT", "DELETE"):
        http_refused(method, "/api/v1/shows/" + long, basic_show(long) if method == "PUT" else None)
    http_refused("GET", "/api/v1/shows/" + long + "/frame?t_ms=1")
    http_refused("GET", "/api/v1/shows/" + long[:2000] + "/audio")
    refused(h, "show.load", {"name": long}, "invalid", 400, field="name")
    refused(h, "show.delete", {"name": long}, "invalid", 400, field="name")
    refused(h, "cue.delete", {"id": long}, "invalid", 400, field="id")
    refused(h, "cue.add", {"cue": dict(CUE, id=long)}, "invalid", 400)
    http_refused("PUT", "/api/v1/shows/opening", basic_show(long))
    for name in ("..", ".", "a/b", "a b", "ä", "x" * 65, ""):
        refused(h, "show.load", {"name": name}, "invalid", 400, field="name")
    # non-UTF-8 bytes, broken and deeply nested JSON in a PUT body
    jh = {"content-type": "application/json"}
    for body in (b'{"name":"opening\xff\xfe","duration_ms":1000}',
                 json.dumps(basic_show()).encode().replace(b'"par1"', b'"par\xc3\x281"'),
                 b'{"name":"opening","duration_ms":1000,"cues":' + b"[" * 100000 + b"]" * 100000
                 + b"}",
                 b'{"name":"opening","duration_ms":1000,"cues":[' + b'{"a":' * 50000
                 + b"1" + b"}" * 50000 + b"]}",
                 b"\x00\x01\x02", b"", b"{" * 3000):
        assert http_refused("PUT", "/api/v1/shows/opening", body, jh) == 400, body[:40]
    http_refused("POST", "/api/v1/intents",
                 b'{"name":"show.load","payload":{"name":' + b"[" * 5000 + b"]" * 5000 + b"}}",
                 jh)
    # the transport: not clamped, refused
    for t in ("100", 100.5, -1, -0.5, 10001, 1e300, 2 ** 62, None, True, [100], {"t": 1}):
        refused(h, "transport.jump_to_time", {"t_ms": t}, "invalid", 400, field="t_ms")
    for raw in (b"1e400", b"9223372036854775808", b"-9223372036854775809", b"NaN"):
        r = h.request("POST", "/api/v1/intents",
                      b'{"name":"transport.jump_to_time","payload":{"t_ms":' + raw + b"}}", jh)
        assert r.status == 400, (raw, r)
    for rate in (0.24, 4.01, 0, -1, 100, "2", None, 1e308):
        refused(h, "transport.play", {"rate": rate}, "invalid", 400, field="rate")
    refused(h, "transport.play", {"speed": 2}, "invalid", 400)
    refused(h, "transport.jump_to_time", {}, "invalid", 400, field="t_ms")
    refused(h, "fixture.preview_effect", {"fixtures": ["par1"], "effect": "strobe",
                                          "dur_ms": 3600001}, "invalid", 400, field="dur_ms")
    refused(h, "fixture.preview_effect", {"fixtures": ["par1", "par1"], "effect": "strobe"},
            "invalid", 400)
    for f in ("/frame?t_ms=-1", "/frame?t_ms=10001", "/frame?t_ms=abc", "/frame", "/frame?t_ms=nan",
              "/frame?t_ms=1e999", "/frame?t_ms=0x10", "/frame?t_ms=1e3", "/frame?t_ms=%2B5",
              "/frame?t_ms=1.2345", "/frame?t_ms=.", "/frame?t_ms=5.", "/frame?t_ms=" + "9" * 40):
        assert h.get("/api/v1/shows/opening" + f).status == 400, f
    # the 60 fps tick times have three decimals: accepted, echoed
    r = h.get("/api/v1/shows/opening/frame?t_ms=16.667")
    assert r.status == 200 and r.json()["t_ms"] == 16.667, r

    assert h.get("/healthz").status == 200
    assert h.running()
    assert h.state() == before, "hostile input changed the state"
    assert {f: file_bytes(os.path.join(data, "shows", f))
            for f in os.listdir(os.path.join(data, "shows"))} == disk


def test_reads_of_a_show_not_loaded_follow_its_file_and_the_patch(hubs, tmp_path):
    """GET /api/v1/shows/<name>/frame of a show that is not loaded reads its
    file once and keeps it (one show is cached on the loop thread): a new
    version of the file, or a reload of the patch, is seen at the next read."""
    show = basic_show("other")
    data = make_data_dir(tmp_path, [basic_show(), show])
    h = hubs(data_dir=data)
    load(h, "opening")  # another show is loaded: "other" is read from its file

    def red_at(t_ms, address=PAR1["red"]):
        r = h.get("/api/v1/shows/other/frame?t_ms=%d" % t_ms)
        assert r.status == 200, r
        return slot(r.json()["universes"][str(UNIVERSE)], address)

    assert red_at(2000) == 255
    assert red_at(2000) == 255  # the cached copy
    show["cues"][0]["values"]["red"] = 100
    show["cues"][0]["fade_ms"] = 0
    write_show(data, show)  # new bytes, new size: read again
    assert red_at(2000) == 100
    assert h.get("/api/v1/shows/other").json()["cues"][0]["values"]["red"] == 100

    # the patch moves par1 to address 100: the cached program is stale
    patch = json.loads(json.dumps(PATCH))
    patch["fixtures"][0]["address"] = 100
    with open(os.path.join(data, "fixtures.json"), "w") as f:
        json.dump(patch, f)
    h.intent_ok("dmx.reload_fixtures")
    assert red_at(2000, address=100) == 100
    assert red_at(2000) == 0

    # a file gone: 404, and the cache does not answer for it
    os.unlink(show_path(data, "other"))
    assert h.get("/api/v1/shows/other/frame?t_ms=1").status == 404
