"""The dmx domain across restarts: kill -9 keeps manual values, arm state,
blackout, raw channels and seq; a seed-000 database is upgraded in place; a
bad patch file stops start-up with one line (exit 2); SIGHUP reloads."""
import json
import os
import signal
import sqlite3
import time

import pytest

from hubtest import T, retained, ulid, wait_until, write_patch

PATCH = {
    "universes": [1, 2],
    "fixtures": [
        {"name": "demo", "universe": 1, "address": 1, "channels": ["red", "green", "blue"]},
        {"name": "par1", "universe": 1, "address": 10, "channels": ["red", "green", "blue", "dimmer"]},
        {"name": "spot", "universe": 2, "address": 100, "channels": ["dimmer", "pan", "tilt"]},
    ],
}


def test_kill9_keeps_the_dmx_state(hubs, tmp_path):
    env = {"DMX_FIXTURES_FILE": write_patch(str(tmp_path), PATCH)}
    h1 = hubs(env=env)
    h1.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 11, "dimmer": 22}})
    h1.intent_ok("fixture.set_arm", {"fixture": "spot", "armed": False})
    h1.intent_ok("fixture.set_values", {"fixture": "spot", "values": {"pan": 5}})
    h1.intent_ok("dmx.set_channels", {"universe": 2, "channels": {"7": 70, "512": 1}})
    h1.intent_ok("dmx.blackout", {"on": True})
    h1.post_rgb(1, 2, 3)
    before = h1.state()
    rgb = h1.rgb()
    j1 = h1.get("/api/v1/journal").json()
    h1.kill9()

    h2 = hubs(env=env, data_dir=h1.data_dir)
    assert h2.state() == before, "values, arm state, blackout, raw channels and seq restored"
    assert h2.rgb() == rgb
    assert h2.get("/api/v1/journal").json() == j1
    # the output follows the restored state: blackout still on
    assert h2.output(1) == [0] * 512
    h2.intent_ok("dmx.blackout", {"on": False})
    assert h2.output(1)[9:13] == [11, 0, 0, 22]
    assert h2.output(2)[6] == 70 and h2.output(2)[99] == 0, "spot is still disarmed"
    assert h2.state()["seq"] == before["seq"] + 1


def test_patch_change_between_restarts(hubs, tmp_path):
    env = {"DMX_FIXTURES_FILE": write_patch(str(tmp_path), PATCH)}
    h1 = hubs(env=env)
    h1.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 9, "dimmer": 8}})
    h1.intent_ok("fixture.set_values", {"fixture": "spot", "values": {"dimmer": 7}})
    assert h1.stop() == 0
    patch = json.loads(json.dumps(PATCH))
    patch["fixtures"][1]["channels"] = ["dimmer", "red"]      # re-patched, same roles
    del patch["fixtures"][2]                                 # spot removed
    patch["universes"] = [1]
    write_patch(str(tmp_path), patch)
    h2 = hubs(env=env, data_dir=h1.data_dir)
    h2.wait_readyz()  # ready once the changed file is applied
    dmx = h2.state()["state"]["dmx"]
    assert set(dmx["fixtures"]) == {"demo", "par1"}
    assert dmx["fixtures"]["par1"]["values"] == {"dimmer": 8, "red": 9}, "values follow the roles"
    assert h2.output(1)[9:11] == [8, 9]


def test_patch_file_changed_while_stopped_is_a_journaled_reload(hubs, tmp_path, closer):
    """A file edited while the hub was down arrives as one dmx.reload_fixtures
    (src "startup"): a new seq, its patches in the journal, and a client that
    resyncs with hello{since} sees the change instead of keeping the old patch."""
    env = {"DMX_FIXTURES_FILE": write_patch(str(tmp_path), PATCH)}
    h1 = hubs(env=env)
    h1.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 9}})
    seq = h1.state()["seq"]
    assert h1.stop() == 0
    # restarting with the same file changes nothing: no reload, same seq
    h2 = hubs(env=env, data_dir=h1.data_dir)
    h2.wait_readyz()
    assert h2.state()["seq"] == seq
    assert h2.stop() == 0

    patch = json.loads(json.dumps(PATCH))
    patch["fixtures"][1]["address"] = 20                      # par1 moves
    patch["fixtures"].append({"name": "wash", "universe": 2, "address": 1, "channels": ["uv"]})
    write_patch(str(tmp_path), patch)
    h3 = hubs(env=env, data_dir=h1.data_dir)
    h3.wait_readyz()
    st = h3.state()
    assert st["seq"] == seq + 1
    fx = st["state"]["dmx"]["fixtures"]
    assert fx["par1"]["address"] == 20 and fx["par1"]["values"]["red"] == 9
    assert "wash" in fx
    last = h3.get(f"/api/v1/journal?since={seq}").json()["entries"]
    assert [(e["seq"], e["name"], e["src"]) for e in last] == \
        [(seq + 1, "dmx.reload_fixtures", "startup")]
    paths = {p["path"] for p in last[0]["patches"]}
    assert {"dmx.fixtures.par1", "dmx.fixtures.wash"} <= paths
    assert h3.output(1)[19] == 9 and h3.output(1)[9] == 0, "the output follows the new address"
    ws = h3.ws()
    closer.append(ws)
    assert ws.recv_json()["type"] == "state"
    ws.send_json({"type": "hello", "since": seq})
    m = ws.recv_json()
    assert m["type"] == "patch" and m["seq"] == seq + 1
    assert {p["path"] for p in m["patches"]} == paths
    h3.wait_log("fixtures_reloaded")
    # and once more with the same file: nothing new
    assert h3.stop() == 0
    h4 = hubs(env=env, data_dir=h1.data_dir)
    h4.wait_readyz()
    assert h4.state() == st


def test_seed000_database_is_upgraded(hubs, tmp_path):
    data = str(tmp_path / "data")
    os.makedirs(data)
    db = sqlite3.connect(os.path.join(data, "showhub.db"))
    slots = bytearray(512)
    slots[0:3] = bytes([64, 32, 128])
    cid = ulid()
    db.executescript(
        "CREATE TABLE state(id INTEGER PRIMARY KEY CHECK(id = 1), seq INTEGER, ts_ms INTEGER);"
        "CREATE TABLE universe(id INTEGER PRIMARY KEY, slots BLOB NOT NULL);"
        "CREATE TABLE fixture(name TEXT PRIMARY KEY, universe INTEGER, channel INTEGER,"
        " nchannels INTEGER);"
        "CREATE TABLE journal(seq INTEGER PRIMARY KEY, cmd_id TEXT NOT NULL, src TEXT NOT NULL,"
        " r INTEGER, g INTEGER, b INTEGER, ts_ms INTEGER NOT NULL);")
    now = int(time.time() * 1000)
    db.execute("INSERT INTO state VALUES(1, 41, ?)", (now,))
    db.execute("INSERT INTO universe VALUES(1, ?)", (bytes(slots),))
    db.execute("INSERT INTO fixture VALUES('demo', 1, 1, 3)")
    db.execute("INSERT INTO journal VALUES(41, ?, 'ui', 64, 32, 128, ?)", (cid, now))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()

    h = hubs(data_dir=data)
    assert h.rgb() == {"schema": "demo.rgb.state.v1", "r": 64, "g": 32, "b": 128, "seq": 41, "ts": now}
    assert h.state()["seq"] == 41
    dup = h.post_rgb(1, 1, 1, cmd_id=cid)
    assert dup.json()["status"] == "duplicate", "the old journal still dedupes"
    assert h.post_rgb(5, 6, 7).json()["state"]["seq"] == 42
    e = h.get("/api/v1/journal?since=40").json()["entries"]
    assert e[0]["seq"] == 41 and e[0]["req_id"] == cid and e[0]["name"] == "fixture.set_values"
    assert e[0]["payload"] == {"fixture": "demo", "values": {"red": 64, "green": 32, "blue": 128}}


BAD_FILES = [
    ('{"fixtures":[{"name":"a","universe":1,"address":510,"channels":["red","green","blue","dimmer"]}]}',
     ["fixture \"a\"", "does not fit"]),
    ('{"fixtures":[{"name":"demo","universe":1,"address":1,"channels":["red","green","blue"]},'
     '{"name":"b","universe":1,"address":3,"channels":["dimmer"]}]}', ["\"b\"", "demo", "overlap"]),
    ('{"fixtures":[{"name":"a","universe":1,"address":20,"channels":["red","glitter"]}]}',
     ["\"a\"", "glitter"]),
    ('{"fixtures":[{"name":"a","universe":2,"address":1,"channels":["red"]},'
     '{"name":"a","universe":3,"address":1,"channels":["red"]}]}', ["\"a\"", "unique"]),
    ('{"universes":[64000]}', ["64000"]),
    ('{"fixtures":[', ["not valid JSON"]),
]


@pytest.mark.parametrize("text,words", BAD_FILES, ids=[str(i) for i in range(len(BAD_FILES))])
def test_bad_patch_file_stops_startup(hubs, tmp_path, text, words):
    path = write_patch(str(tmp_path), text)
    h = hubs(env={"DMX_FIXTURES_FILE": path}, start=False)
    h.spawn()
    assert h.wait_exit(T(10)) == 2
    err = h.stderr().strip()
    assert "\n" not in err, f"one line, got: {err!r}"
    assert path in err, err
    for w in words:
        assert w.lower() in err.lower(), (w, err)


def test_missing_explicit_patch_file_stops_startup(hubs, tmp_path):
    h = hubs(env={"DMX_FIXTURES_FILE": str(tmp_path / "nope.json")}, start=False)
    h.spawn()
    assert h.wait_exit(T(10)) == 2
    assert "nope.json" in h.stderr()


def test_default_patch_file_in_data_dir(hubs, tmp_path):
    data = str(tmp_path / "d")
    os.makedirs(data)
    write_patch(data, {"fixtures": [{"name": "wash", "universe": 4, "address": 1,
                                     "channels": ["dimmer"]}]})
    h = hubs(data_dir=data)
    assert set(h.state()["state"]["dmx"]["fixtures"]) == {"wash", "demo"}
    assert h.state()["state"]["dmx"]["universes"] == [1, 4]


def test_sighup_reloads(hubs, tmp_path):
    path = write_patch(str(tmp_path), PATCH)
    h = hubs(env={"DMX_FIXTURES_FILE": path})
    h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 3}})
    patch = json.loads(json.dumps(PATCH))
    patch["fixtures"].append({"name": "extra", "universe": 2, "address": 1, "channels": ["uv"]})
    write_patch(str(tmp_path), patch)
    h.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "extra" in h.state()["state"]["dmx"]["fixtures"], T(5), what="reload")
    h.wait_log("fixtures_reloaded")
    seq = h.state()["seq"]
    write_patch(str(tmp_path), '{"fixtures": 5}')
    h.proc.send_signal(signal.SIGHUP)
    ev = h.wait_log("event", lambda l: "reload refused" in l.get("message", ""))
    assert ev["level"] == "error"
    assert h.state()["seq"] == seq, "a refused reload changes nothing"
    assert "extra" in h.state()["state"]["dmx"]["fixtures"]
    assert h.fixture("par1")["values"]["red"] == 3
