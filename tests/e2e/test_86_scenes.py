"""Seed 002's timed scenes, end to end, as a user's client sees them: the scene files over
REST (PUT/GET/DELETE, the listing, the file in DMX_SCENES_DIR, 400s naming the field for
hostile bodies, 404s, the 1 MiB limit), runs (POST …/run → run_id; MQTT actions published as
plain strings at their offsets, local /audio and /video never on the broker but handed to
SCENE_MEDIA_COMMAND without a shell; intents and device commands applied), feedback from
tools/devsim's ESP32 (ok with its latency, error, timeout after SCENE_FEEDBACK_TIMEOUT_MS, the
seed's log lines), the run as state (GET /api/v1/scenes/runs/<id>, WS room "scenes"), one scene
per room (409 conflict, restart, stop), scene.run over WS and the MQTT intent topic, and
DMX_API_KEY.

One hub, broker, devsim and spy (subscribed to '#') are shared by the module; the API-key test
starts its own hub. Every wait is bounded; all traffic stays on 127.0.0.1.
"""
import json
import os
import shutil
import stat
import tempfile
import time

import pytest

from fleettest import FAST, Fleet, WsRecorder, device_uuid
from hubtest import Hub, T, WsClient, recv_type, ulid, wait_until

SEED = "t40"
FEEDBACK_DELAY_MS = 200
TIMEOUT_MS = 1000
MEDIA_OK = "bg \"it's\" a.mp3"      # spaces and both quotes: one argument all the same
VIDEO_OK = "clip.mp4"
TOL_LATE = T(0.150)                   # an action arrives at most this late …
TOL_EARLY = 0.020                     # … and never this much before its offset
KEY = "scenes-k3y-0123456789abcdef"

RECORDER = r'''#!/usr/bin/python3
import json, sys
with open(%r, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
sys.exit(3 if "fail" in sys.argv[-1] else 0)
'''


# ---------------------------------------------------------------- the rig

@pytest.fixture(scope="module")
def rig():
    tmp = tempfile.mkdtemp(prefix="hubtest-scenes-")
    scenes_dir = os.path.join(tmp, "scenes")
    media_dir = os.path.join(tmp, "media")
    os.makedirs(media_dir)
    for name in (MEDIA_OK, VIDEO_OK, "fail.mp4"):
        with open(os.path.join(media_dir, name), "wb") as f:
            f.write(b"\0" * 16)
    argv_file = os.path.join(tmp, "argv.jsonl")
    script = os.path.join(tmp, "player.py")
    with open(script, "w") as f:
        f.write(RECORDER % argv_file)
    os.chmod(script, stat.S_IRWXU)
    env = {"DMX_SCENES_DIR": scenes_dir, "SCENE_MEDIA_DIR": media_dir,
           "SCENE_FEEDBACK_TIMEOUT_MS": str(TIMEOUT_MS),
           # no shell: $HOME and ; arrive as they are, the quotes group words
           "SCENE_MEDIA_COMMAND": f"{script} --literal $HOME;x \"two words\" {{file}}"}
    f = None
    try:
        f = Fleet(env=env)
        f.tmp, f.scenes_dir, f.media_dir, f.argv_file = tmp, scenes_dir, media_dir, argv_file
        f.sim = f.devsim("--count", "1", "--seed", SEED, "--esp32", "1",
                         "--feedback-room", "room1", "--feedback-delay", str(FEEDBACK_DELAY_MS),
                         *FAST)
        f.uid = device_uuid(SEED, 0)
        f.wait_device(f.uid, lambda v: v["alive"], "alive after discovery and a heartbeat")
        f.all = f.client()
        f.all.subscribe("#")
        yield f
    finally:
        if f is not None:
            f.close()
        shutil.rmtree(tmp, ignore_errors=True)


def put(h, name, scene, headers=None):
    return h.request("PUT", f"/api/v1/scenes/{name}", scene, headers)


def put_ok(rig, name, scene):
    r = put(rig.hub, name, scene)
    assert r.status == 200, r
    b = r.json()
    assert b["ok"] is True and isinstance(b["seq"], int), b
    return b


def run(h, name, body=None, headers=None):
    return h.request("POST", f"/api/v1/scenes/{name}/run", body, headers)


def run_ok(h, name, body=None):
    r = run(h, name, body)
    assert r.status == 200, r
    b = r.json()
    assert set(b) >= {"ok", "seq", "run_id"} and b["ok"] is True, b
    assert isinstance(b["seq"], int) and len(b["run_id"]) == 26, b
    return b


def get_run(h, rid):
    r = h.get(f"/api/v1/scenes/runs/{rid}")
    assert r.status == 200, (rid, r)
    return r.json()


def wait_run(h, rid, status, timeout=None):
    seen = {}

    def check():
        seen["run"] = get_run(h, rid)
        return seen["run"] if seen["run"]["status"] == status else None
    try:
        return wait_until(check, T(6) if timeout is None else timeout, interval=0.05,
                          what=f"run {rid} {status}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last {seen.get('run')}") from None


def listing(h):
    r = h.get("/api/v1/scenes")
    assert r.status == 200, r
    return r.json()


def names(h):
    return [s["name"] for s in listing(h)["scenes"]]


def scene_files(rig):
    return sorted(os.listdir(rig.scenes_dir)) if os.path.isdir(rig.scenes_dir) else []


def on_topics(client, prefix, start=0):
    with client.cond:
        return [m for m in client.msgs[start:] if m.topic.startswith(prefix)]


def mark(client):
    with client.cond:
        return len(client.msgs)


def argv_lines(rig):
    try:
        with open(rig.argv_file) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def set_feedback(rig, mode):
    rig.sim.send(f"feedback {mode}")


def example_scene(rig):
    """The issue's example, with an intent that applies here and the devsim screen's uuid."""
    return {"name": "room1_intro", "room": "room1", "actions": [
        {"t_ms": 0, "topic": "room1/light", "message": "ON"},
        {"t_ms": 400, "topic": "room1/audio", "message": MEDIA_OK},
        {"t_ms": 700, "topic": "room1/steam", "message": "ON"},
        {"t_ms": 800, "topic": "room1/video", "message": VIDEO_OK},
        {"t_ms": 1000, "intent": {"name": "fixture.set_values",
                                  "payload": {"fixture": "demo", "values": {"red": 255}}}},
        {"t_ms": 1100, "command": {"device": rig.uid, "action": "restart_app"}},
        {"t_ms": 1400, "topic": "room1/motor", "message": "START"}]}


MQTT_OFFSETS = [("room1/light", b"ON", 0), ("room1/steam", b"ON", 700),
                ("room1/motor", b"START", 1400)]


# ---------------------------------------------------------------- files

def test_put_get_list_and_the_file_on_disk(rig):
    h = rig.hub
    scene = example_scene(rig)
    b = put_ok(rig, "room1_intro", scene)
    # read back: the same scene (file order, the keys as written)
    r = h.get("/api/v1/scenes/room1_intro")
    assert r.status == 200, r
    got = r.json()
    assert got["name"] == "room1_intro" and got["room"] == "room1", got
    assert got["actions"] == scene["actions"], got
    # atomically written to DMX_SCENES_DIR as <name>.scene.json, no temp files left
    assert scene_files(rig) == ["room1_intro.scene.json"], scene_files(rig)
    with open(os.path.join(rig.scenes_dir, "room1_intro.scene.json")) as f:
        on_disk = json.load(f)
    assert on_disk["room"] == "room1" and on_disk["actions"] == scene["actions"], on_disk
    # listed, with its room, action count and length
    lst = listing(h)
    assert lst["dir"] == rig.scenes_dir and lst["simulation"] is False, lst
    (e,) = [s for s in lst["scenes"] if s["name"] == "room1_intro"]
    assert e["room"] == "room1" and e["actions"] == 7 and e["duration_ms"] == 1400, e
    assert e["running"] is None and e["error"] is None, e
    # the state has it too
    st = h.state("scenes")
    assert st["seq"] >= b["seq"]
    assert st["state"]["scenes"]["list"]["room1_intro"]["room"] == "room1", st


def test_put_replaces_and_delete_removes_file_and_listing(rig):
    h = rig.hub
    s1 = {"room": "room5", "actions": [{"t_ms": 0, "topic": "room5/light", "message": "ON"}]}
    put_ok(rig, "crud_scene", s1)
    assert "crud_scene" in names(h)
    assert "crud_scene.scene.json" in scene_files(rig)
    s2 = {"room": "room5", "actions": [{"t_ms": 10, "topic": "room5/light", "message": "OFF"},
                                       {"t_ms": 5, "topic": "room5/fan", "message": "ON"}]}
    put_ok(rig, "crud_scene", s2)
    got = h.get("/api/v1/scenes/crud_scene").json()
    assert got["actions"] == s2["actions"], got      # the file's order, not the firing order
    (e,) = [s for s in listing(h)["scenes"] if s["name"] == "crud_scene"]
    assert e["actions"] == 2 and e["duration_ms"] == 10, e
    r = h.request("DELETE", "/api/v1/scenes/crud_scene")
    assert r.status == 200 and r.json()["ok"] is True, r
    assert "crud_scene" not in names(h)
    assert "crud_scene.scene.json" not in scene_files(rig)
    assert "crud_scene" not in h.state("scenes")["state"]["scenes"].get("list", {})
    for method, path in (("GET", "/api/v1/scenes/crud_scene"),
                         ("DELETE", "/api/v1/scenes/crud_scene"),
                         ("POST", "/api/v1/scenes/crud_scene/run")):
        r = h.request(method, path)
        assert r.status == 404, (method, r)
        assert r.json()["error"]["code"] == "not_found", r
        assert r.json()["error"]["field"] == "name", r


def test_unknown_run_is_404(rig):
    r = rig.hub.get(f"/api/v1/scenes/runs/{ulid()}")
    assert r.status == 404, r
    assert r.json()["error"]["code"] == "not_found" and r.json()["error"]["field"] == "run", r


def test_a_hand_written_file_is_picked_up_by_rescan(rig):
    h = rig.hub
    good = {"room": "room6", "actions": [{"t_ms": 0, "topic": "room6/light", "message": "ON"}]}
    with open(os.path.join(rig.scenes_dir, "hand_good.scene.json"), "w") as f:
        json.dump(good, f)
    with open(os.path.join(rig.scenes_dir, "hand_bad.scene.json"), "w") as f:
        f.write('{"room": "room6", "actions": [{"t_ms": -5, "topic": "room6/x", '
                '"message": "ON"}]}')
    try:
        r = h.request("POST", "/api/v1/scenes/rescan")
        assert r.status == 200, r
        lst = {s["name"]: s for s in listing(h)["scenes"]}
        assert lst["hand_good"]["error"] is None and lst["hand_good"]["room"] == "room6", lst
        bad = lst["hand_bad"]
        assert "hand_bad.scene.json" in bad["error"] and "t_ms" in bad["error"], bad
        r = h.get("/api/v1/scenes/hand_bad")
        assert r.status == 400 and "t_ms" in r.json()["error"]["message"], r
        r = run(h, "hand_bad")
        assert r.status == 400 and r.json()["error"]["field"] == "name", r
    finally:
        for n in ("hand_good", "hand_bad"):
            os.unlink(os.path.join(rig.scenes_dir, f"{n}.scene.json"))
        assert h.request("POST", "/api/v1/scenes/rescan").status == 200
    assert not {"hand_good", "hand_bad"} & set(names(h))


# ---------------------------------------------------------------- hostile bodies

def A(**kw):
    a = {"t_ms": 0, "topic": "room1/light", "message": "ON"}
    a.update(kw)
    return a


def S(actions=None, **kw):
    s = {"room": "room1", "actions": [A()] if actions is None else actions}
    s.update(kw)
    return s


JSON = {"content-type": "application/json"}

# (id, body, status, field): body bytes are sent as they are
HOSTILE = [
    ("malformed", b'{"room": "room1", "actions": [', 400, None),
    ("array", b"[]", 400, None),
    ("string", b'"room1"', 400, None),
    ("number", b"42", 400, None),
    ("null", b"null", 400, None),
    ("t_ms_negative", S([A(t_ms=-1)]), 400, "actions[0].t_ms"),
    ("t_ms_fraction", S([A(t_ms=1.5)]), 400, "actions[0].t_ms"),
    ("t_ms_string", S([A(), A(t_ms="0")]), 400, "actions[1].t_ms"),
    ("t_ms_over_24h", S([A(t_ms=86400001)]), 400, "actions[0].t_ms"),
    ("t_ms_missing", S([{"topic": "room1/light", "message": "ON"}]), 400, "actions[0].t_ms"),
    ("topic_hash", S([A(topic="room1/#")]), 400, "actions[0].topic"),
    ("topic_plus", S([A(topic="room1/+/x")]), 400, "actions[0].topic"),
    ("topic_status", S([A(), A(topic="room1/status", message="OK")]), 400, "actions[1].topic"),
    ("topic_dollar", S([A(topic="$SYS/broker")]), 400, "actions[0].topic"),
    ("topic_one_level", S([A(topic="light")]), 400, "actions[0].topic"),
    ("media_dotdot", S([A(topic="room1/audio", message="../x")]), 400, "actions[0].message"),
    ("media_path", S([A(topic="room1/video", message="/etc/passwd")]), 400, "actions[0].message"),
    ("media_hidden", S([A(topic="room1/video", message=".x.mp4")]), 400, "actions[0].message"),
    ("unknown_root_key", S(colour="red"), 400, "colour"),
    ("unknown_action_key", S([A(shell="rm -rf /")]), 400, "actions[0].shell"),
    ("name_mismatch", S(name="other"), 400, "name"),
    ("room_missing", {"actions": [A()]}, 400, "room"),
    ("room_bad", S(room="room 1"), 400, "room"),
    ("two_kinds", S([A(intent={"name": "dmx.blackout"})]), 400, "actions[0]"),
    ("message_number", S([A(message=5)]), 400, "actions[0].message"),
    ("message_too_long", S([A(message="x" * 4097)]), 400, "actions[0].message"),
    ("too_many_actions", S([A(t_ms=i) for i in range(1001)]), 400, "actions"),
    ("actions_object", S({}), 400, "actions"),
    ("command_no_device", S([{"t_ms": 0, "command": {"action": "restart_app"}}]), 400,
     "actions[0].command.device"),
    ("intent_bad_name", S([{"t_ms": 0, "intent": {"name": "NO SUCH"}}]), 400,
     "actions[0].intent.name"),
    ("oversized", json.dumps(S([A(t_ms=i, message="x" * 4000) for i in range(300)])).encode(),
     413, None),
]


@pytest.fixture(scope="module")
def baseline(rig):
    """A saved scene the hostile bodies must leave alone."""
    put_ok(rig, "keep_me", {"room": "room7", "actions": [
        {"t_ms": 0, "topic": "room7/light", "message": "ON"}]})
    with open(os.path.join(rig.scenes_dir, "keep_me.scene.json"), "rb") as f:
        return f.read()


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_bodies_are_refused_naming_the_field(rig, baseline, case):
    _, body, status, field = case
    h = rig.hub
    before = (listing(h), scene_files(rig), h.state("scenes")["state"].get("scenes"))
    if isinstance(body, bytes):
        assert status != 413 or len(body) > 1024 * 1024
        r = h.request("PUT", "/api/v1/scenes/keep_me", body, JSON)
    else:
        r = put(h, "keep_me", body)
    assert r.status == status, r
    err = r.json()["error"]
    assert err["code"] == "invalid", r
    if field is not None:
        assert err.get("field") == field, r
    assert "\n" not in err["message"] and len(err["message"]) < 600, err
    # still answering, nothing changed
    assert h.get("/healthz").status == 200
    assert (listing(h), scene_files(rig), h.state("scenes")["state"].get("scenes")) == before
    with open(os.path.join(rig.scenes_dir, "keep_me.scene.json"), "rb") as f:
        assert f.read() == baseline


@pytest.mark.parametrize("name,status", [("bad.name", 400), ("x" * 65, 400), ("runs", 400),
                                         ("rescan", 400), ("..", 404), ("%2e%2e", 404)])
def test_bad_scene_names_are_refused(rig, name, status):
    h = rig.hub
    before = scene_files(rig)
    r = put(h, name, S())
    assert r.status == status, (name, r)
    if status == 400:
        assert r.json()["error"]["field"] == "name", r
    assert scene_files(rig) == before
    assert h.get("/healthz").status == 200


def test_a_large_scene_under_1_mib_is_accepted(rig):
    """The route takes up to 1 MiB (not the API's 16 KiB default)."""
    scene = S([A(t_ms=i, message="x" * 3000) for i in range(300)])
    body = json.dumps(scene).encode()
    assert 16 * 1024 < len(body) < 1024 * 1024
    r = rig.hub.request("PUT", "/api/v1/scenes/big_scene", body, JSON)
    assert r.status == 200, r
    try:
        got = rig.hub.get("/api/v1/scenes/big_scene").json()
        assert len(got["actions"]) == 300 and got["actions"][299]["message"] == "x" * 3000
    finally:
        assert rig.hub.request("DELETE", "/api/v1/scenes/big_scene").status == 200
    assert "big_scene.scene.json" not in scene_files(rig)


def test_the_hub_own_scene_intents_cannot_be_sent(rig):
    h = rig.hub
    for name, payload in (("scene.tick", {}), ("scene.mode", {"simulation": True, "link": 3}),
                          ("scene.feedback", {"room": "room1", "ok": True, "at_us": 1,
                                              "topic": "room1/status"}),
                          ("scene.outcome", {"run": ulid(), "k": 0, "ok": True})):
        r = h.intent(name, payload)
        assert r.status == 400, (name, r)
        assert r.json()["error"]["code"] == "invalid", r
    assert listing(h)["simulation"] is False


# ---------------------------------------------------------------- running

def test_run_publishes_at_offsets_and_tracks_feedback(rig):
    h = rig.hub
    put_ok(rig, "room1_intro", example_scene(rig))
    rec = WsRecorder(h, ["scenes"])
    try:
        m0 = mark(rig.all)
        argv0 = len(argv_lines(rig))
        t_post = time.monotonic()
        b = run_ok(h, "room1_intro")
        t_resp = time.monotonic()
        rid = b["run_id"]
        final = wait_run(h, rid, "finished", T(6))
        # wait for the last feedback to be on the broker too
        rig.all.wait("room1/status", start=m0, timeout=T(2))
        time.sleep(0.3)
        msgs = on_topics(rig.all, "room1/", m0)
    finally:
        rec.close()

    # -- the broker: plain strings, in order, at their offsets; nothing local
    cmds = [m for m in msgs if m.topic != "room1/status"]
    assert [(m.topic, m.payload) for m in cmds] == [(t, p) for t, p, _ in MQTT_OFFSETS], cmds
    assert not [m for m in msgs if m.topic in ("room1/audio", "room1/video")]
    with rig.all.cond:
        everything = list(rig.all.msgs[m0:])
    assert not [m for m in everything if m.topic.endswith("/audio") or
                m.topic.endswith("/video") or MEDIA_OK.encode() in m.payload], everything
    assert all(not m.retain for m in cmds), cmds
    t0 = cmds[0].t
    assert t_post - TOL_EARLY <= t0 <= t_resp + TOL_LATE, (t_post, t0, t_resp)
    for m, (_, _, off) in zip(cmds, MQTT_OFFSETS):
        dt = m.t - t0
        assert off / 1000 - TOL_EARLY <= dt <= off / 1000 + TOL_LATE, (m.topic, dt, off)
    # every command got devsim's OK
    oks = [m for m in msgs if m.topic == "room1/status"]
    assert [m.payload for m in oks] == [b"OK"] * 3, oks

    # -- the run as state
    assert final["id"] == rid and final["scene"] == "room1_intro" and final["room"] == "room1"
    assert final["src"] == "api" and final["simulation"] is False, final
    assert final["started_at"].endswith("Z") and final["ended_at"].endswith("Z"), final
    acts = final["actions"]
    assert [a["i"] for a in acts] == list(range(7))
    assert [a["kind"] for a in acts] == ["mqtt", "local", "mqtt", "local", "intent", "command",
                                         "mqtt"], acts
    assert [a["status"] for a in acts] == ["ok", "played", "ok", "played", "done", "done",
                                           "ok"], acts
    for a in acts:
        assert a["fired_at"] is not None and a["late_ms"] is not None, a
        assert 0 <= a["late_ms"] < TOL_LATE * 1000, a
        assert a["error"] is None, a
    for k in (0, 2, 6):
        lat = acts[k]["latency_ms"]
        assert FEEDBACK_DELAY_MS - 5 <= lat <= FEEDBACK_DELAY_MS + T(0.25) * 1000, acts[k]
    assert acts[1]["latency_ms"] is None and acts[4]["latency_ms"] is None
    assert final["counts"]["ok"] == 3 and final["counts"]["played"] == 2, final["counts"]
    assert final["counts"]["done"] == 2 and final["counts"]["error"] == 0, final["counts"]
    # the intent applied; the device command went to the screen
    assert h.fixture("demo")["values"]["red"] == 255
    cid = acts[5].get("command_id")
    assert cid, acts[5]
    cmd = h.get(f"/api/clients/commands/{cid}")
    assert cmd.status == 200 and cmd.json()["action"] == "restart_app", cmd

    # -- the listing no longer shows it running
    (e,) = [s for s in listing(h)["scenes"] if s["name"] == "room1_intro"]
    assert e["running"] is None, e

    # -- the media player: no shell, every word one argument
    lines = argv_lines(rig)[argv0:]
    assert sorted(lines, key=lambda l: l[-1]) == sorted([
        ["--literal", "$HOME;x", "two words", os.path.join(rig.media_dir, MEDIA_OK)],
        ["--literal", "$HOME;x", "two words", os.path.join(rig.media_dir, VIDEO_OK)]],
        key=lambda l: l[-1]), lines

    # -- the seed's log lines
    def logs_of(event):
        return [l for l in h.logs(event) if l.get("run") == rid]
    pub = [l["message"] for l in logs_of("scene_publish")]
    assert pub == ["Publishing to room1/light: ON", "Publishing to room1/steam: ON",
                   "Publishing to room1/motor: START"], pub
    fb = logs_of("scene_feedback")
    assert [l["logger"] for l in fb] == ["mqtt_feedback"] * 3, fb
    for l, topic in zip(fb, ("room1/light", "room1/steam", "room1/motor")):
        assert l["outcome"] == "ok" and l["topic"] == topic, l
        text = l["message"]
        assert text.startswith(f"Feedback OK: {topic} (0.") and text.endswith("s)"), text
        secs = float(text[len(f"Feedback OK: {topic} ("):-2])
        assert 0.195 <= secs <= 0.2 + T(0.25) and len(text.split("(")[1]) == len("0.201s)"), text
    assert not logs_of("scene_simulated")

    # -- the WS room "scenes": patches of scenes.runs.<id> up to the final one
    ps = rec.patches(f"scenes.runs.{rid}")
    assert len(ps) >= 3, ps
    seqs = [p[0] for p in ps]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert ps[0][2]["status"] == "running", ps[0]
    assert ps[-1][2] == final, (ps[-1], final)
    seen = {(k, v["actions"][k]["status"]) for _, _, v in ps for k in range(7)}
    assert (0, "sent") in seen or (0, "ok") in seen
    assert {(6, "pending"), (6, "ok")} <= seen, seen        # the motor action's life, live
    assert not [f for f in rec.frames if f.get("type") == "patch" and
                any(not p["path"].startswith("scenes.") for p in f["patches"])]
    # the feedback histogram counted them
    fbk = h.get("/api/v1/scenes/runs").json()["feedback"]
    assert fbk["ok"] >= 3 and sum(fbk["counts"]) >= 3, fbk


def one_action_scene(room="room1", topic="room1/light", message="ON"):
    return {"room": room, "actions": [{"t_ms": 0, "topic": topic, "message": message}]}


def test_feedback_error(rig):
    h = rig.hub
    put_ok(rig, "fb_error", one_action_scene())
    set_feedback(rig, "error")
    try:
        rid = run_ok(h, "fb_error")["run_id"]
        final = wait_run(h, rid, "finished")
    finally:
        set_feedback(rig, "ok")
    (a,) = final["actions"]
    assert a["status"] == "error" and "ERROR" in a["error"], a
    assert FEEDBACK_DELAY_MS - 5 <= a["latency_ms"] <= FEEDBACK_DELAY_MS + T(0.25) * 1000, a
    assert final["counts"]["error"] == 1, final
    l = h.wait_log("scene_action_failed", lambda l: l.get("run") == rid)
    assert len([l for l in h.logs("scene_action_failed") if l.get("run") == rid]) == 1
    assert l["logger"] == "mqtt_feedback" and l["outcome"] == "error", l
    assert l["message"].startswith("Feedback ERROR: room1/light (0."), l


def test_feedback_timeout(rig):
    h = rig.hub
    put_ok(rig, "fb_timeout", one_action_scene())
    set_feedback(rig, "none")
    try:
        t0 = time.monotonic()
        rid = run_ok(h, "fb_timeout")["run_id"]
        # still waiting well before the timeout
        time.sleep(0.6)
        mid = get_run(h, rid)
        assert mid["status"] == "running" and mid["actions"][0]["status"] == "sent", mid
        final = wait_run(h, rid, "finished", T(4))
        elapsed = time.monotonic() - t0
    finally:
        set_feedback(rig, "ok")
    (a,) = final["actions"]
    assert a["status"] == "timeout" and a["latency_ms"] is None, a
    assert elapsed >= TIMEOUT_MS / 1000 - 0.02, elapsed
    pub = h.wait_log("scene_publish", lambda l: l.get("run") == rid)
    l = h.wait_log("scene_feedback", lambda l: l.get("run") == rid)
    assert len([l for l in h.logs("scene_feedback") if l.get("run") == rid]) == 1
    assert l["message"] == "Feedback TIMEOUT: room1/light (>1.000s)", l
    assert l["logger"] == "mqtt_feedback" and l["outcome"] == "timeout" and l["level"] == "warn"
    assert TIMEOUT_MS - 5 <= l["ts"] - pub["ts"] <= TIMEOUT_MS + T(0.3) * 1000, (pub, l)


def test_one_scene_per_room_conflict_restart_and_stop(rig):
    h = rig.hub
    long_scene = {"room": "room1", "actions": [
        {"t_ms": 0, "topic": "room1/light", "message": "ON"},
        {"t_ms": 30000, "topic": "room1/motor", "message": "LATE"}]}
    put_ok(rig, "room1_long", long_scene)
    put_ok(rig, "room1_other", {"room": "room1", "actions": [
        {"t_ms": 0, "topic": "room1/light", "message": "DIM"},
        {"t_ms": 30000, "topic": "room1/steam", "message": "LATE"}]})
    put_ok(rig, "room2_long", {"room": "room2", "actions": [
        {"t_ms": 30000, "topic": "room2/light", "message": "LATE"}]})
    m0 = mark(rig.all)
    first = run_ok(h, "room1_long")["run_id"]
    try:
        (e,) = [s for s in listing(h)["scenes"] if s["name"] == "room1_long"]
        assert e["running"] == first, e
        # the same scene again, and another scene of the room: conflict, nothing started
        for name in ("room1_long", "room1_other"):
            r = run(h, name)
            assert r.status == 409, (name, r)
            err = r.json()["error"]
            assert err["code"] == "conflict" and err["field"] == "name", r
            assert first in err["message"] and "restart" in err["message"], err
        assert get_run(h, first)["status"] == "running"
        # another room is free
        other_room = run_ok(h, "room2_long")["run_id"]
        # bad run bodies
        for body, field in (({"restart": "yes"}, "restart"), ({"force": True}, "force")):
            r = run(h, "room1_other", body)
            assert r.status == 400 and r.json()["error"]["field"] == field, (body, r)
        # restart: the old run stops (its late action skipped), the new one runs
        b = run_ok(h, "room1_other", {"restart": True})
        second = b["run_id"]
        assert second != first
        old = get_run(h, first)
        assert old["status"] == "stopped" and old["ended_at"] is not None, old
        assert old["actions"][1]["status"] == "skipped", old
        assert old["actions"][0]["status"] in ("ok", "skipped"), old
        new = get_run(h, second)
        assert new["status"] == "running" and new["scene"] == "room1_other", new
        rig.all.wait("room1/light", pred=lambda m: m.payload == b"DIM", start=m0)
        # stop
        r = h.request("POST", "/api/v1/scenes/room1_other/stop")
        assert r.status == 200 and r.json()["ok"] is True, r
        stopped = get_run(h, second)
        assert stopped["status"] == "stopped", stopped
        assert stopped["actions"][1]["status"] == "skipped", stopped
        # the room is free again
        third = run_ok(h, "room1_long")["run_id"]
        assert h.request("POST", "/api/v1/scenes/room1_long/stop").status == 200
        assert get_run(h, third)["status"] == "stopped"
    finally:
        for n in ("room1_long", "room1_other", "room2_long"):
            h.request("POST", f"/api/v1/scenes/{n}/stop")
    assert get_run(h, other_room)["status"] == "stopped"
    assert all(s["running"] is None for s in listing(h)["scenes"])
    # the stopped runs' late actions never went out
    assert not [m for m in on_topics(rig.all, "room", m0) if m.payload == b"LATE"]
    runs = h.get("/api/v1/scenes/runs").json()["runs"]
    assert {first, second, third, other_room} <= {r["id"] for r in runs}


def test_scene_run_and_stop_intents_over_ws(rig):
    h = rig.hub
    put_ok(rig, "room1_ws", {"room": "room1", "actions": [
        {"t_ms": 0, "topic": "room1/light", "message": "WS"},
        {"t_ms": 300, "topic": "room1/motor", "message": "WS"}]})
    m0 = mark(rig.all)
    rec = WsRecorder(h, ["scenes"])
    try:
        def result(rid):
            rec.wait(lambda: [f for f in rec.frames if f.get("type") == "result" and
                              f.get("req_id") == rid], T(5), f"result {rid}")
            return [f for f in rec.frames if f.get("type") == "result" and
                    f.get("req_id") == rid][0]
        rec.ws.send_json({"type": "intent", "req_id": "ws-run-1", "name": "scene.run",
                          "payload": {"name": "room1_ws"}})
        res = result("ws-run-1")
        assert res["ok"] is True and isinstance(res["seq"], int), res
        rec.wait(lambda: [p for p in rec.patches("scenes.runs.") if p[0] == res["seq"]], T(5),
                 "the run's first patch")
        ps = [p for p in rec.patches("scenes.runs.") if p[0] == res["seq"]]
        (rid,) = {p[1][len("scenes.runs."):] for p in ps}
        # a second one in the same room: conflict
        rec.ws.send_json({"type": "intent", "req_id": "ws-run-2", "name": "scene.run",
                          "payload": {"name": "room1_ws"}})
        res2 = result("ws-run-2")
        assert res2["ok"] is False and res2["error"]["code"] == "conflict", res2
        final = wait_run(h, rid, "finished")
        rec.wait(lambda: [p for p in rec.patches(f"scenes.runs.{rid}")
                          if p[2]["status"] == "finished"], T(3), "the finished patch")
        # scene.stop of a run over WS
        put_ok(rig, "room1_ws_long", {"room": "room1", "actions": [
            {"t_ms": 30000, "topic": "room1/light", "message": "LATE"}]})
        rid2 = run_ok(h, "room1_ws_long")["run_id"]
        rec.ws.send_json({"type": "intent", "req_id": "ws-stop-1", "name": "scene.stop",
                          "payload": {"name": "room1_ws_long"}})
        assert result("ws-stop-1")["ok"] is True
        assert get_run(h, rid2)["status"] == "stopped"
    finally:
        rec.close()
    assert final["src"] == "ui", final
    assert [a["status"] for a in final["actions"]] == ["ok", "ok"], final
    cmds = [m for m in on_topics(rig.all, "room1/", m0) if m.topic != "room1/status"]
    assert [(m.topic, m.payload) for m in cmds] == [("room1/light", b"WS"),
                                                    ("room1/motor", b"WS")], cmds
    assert 0.3 - TOL_EARLY <= cmds[1].t - cmds[0].t <= 0.3 + TOL_LATE


def test_scene_run_intent_over_mqtt(rig):
    h = rig.hub
    put_ok(rig, "room1_mqtt", {"room": "room1", "actions": [
        {"t_ms": 0, "topic": "room1/light", "message": "MQTT"}]})
    c = rig.client()
    c.subscribe("replies/t40")
    m0 = mark(rig.all)
    rid = ulid()
    c.publish("v1/hub/intent", json.dumps({"req_id": rid, "name": "scene.run",
                                           "payload": {"name": "room1_mqtt"},
                                           "reply_to": "replies/t40"}))
    _, m = c.wait("replies/t40")
    b = m.json()
    assert b["ok"] is True and b["req_id"] == rid and isinstance(b["seq"], int), b
    runs = h.get("/api/v1/scenes/runs").json()["runs"]
    mine = [r for r in runs if r["scene"] == "room1_mqtt"]
    assert len(mine) == 1, runs
    final = wait_run(h, mine[0]["id"], "finished")
    assert final["src"] == "mqtt" and final["actions"][0]["status"] == "ok", final
    assert [m.payload for m in on_topics(rig.all, "room1/light", m0)] == [b"MQTT"]
    # the same req_id again: the first answer, no second run
    n = mark(c)
    c.publish("v1/hub/intent", json.dumps({"req_id": rid, "name": "scene.run",
                                           "payload": {"name": "room1_mqtt"},
                                           "reply_to": "replies/t40"}))
    _, m = c.wait("replies/t40", start=n)
    assert m.json().get("duplicate") is True, m
    time.sleep(0.3)
    assert len([r for r in h.get("/api/v1/scenes/runs").json()["runs"]
                if r["scene"] == "room1_mqtt"]) == 1
    assert [m.payload for m in on_topics(rig.all, "room1/light", m0)] == [b"MQTT"]


def test_local_media_missing_or_failing_is_an_error_and_never_published(rig):
    h = rig.hub
    put_ok(rig, "room3_media", {"room": "room3", "actions": [
        {"t_ms": 0, "topic": "room3/audio", "message": "missing.mp3"},
        {"t_ms": 100, "topic": "room3/video", "message": "fail.mp4"},
        {"t_ms": 1000, "topic": "room3/audio", "message": MEDIA_OK}]})
    m0 = mark(rig.all)
    argv0 = len(argv_lines(rig))
    rid = run_ok(h, "room3_media")["run_id"]

    def settled():
        r = get_run(h, rid)
        return r if r["actions"][1]["status"] == "error" and r["status"] == "finished" else None
    final = wait_until(settled, T(5), interval=0.05, what="the failing player's outcome")
    missing, failing, ok = final["actions"]
    assert missing["status"] == "error", missing
    assert "missing.mp3" in missing["error"] and "SCENE_MEDIA_DIR" in missing["error"], missing
    assert failing["status"] == "error" and "status 3" in failing["error"], failing
    assert ok["status"] == "played", ok
    # the player never saw the missing file; it saw the other two
    lines = wait_until(lambda: (lambda l: l if len(l) >= 2 else None)(argv_lines(rig)[argv0:]),
                       T(5), what="both players started")
    time.sleep(0.1)
    lines = argv_lines(rig)[argv0:]
    assert sorted(l[-1] for l in lines) == sorted(
        [os.path.join(rig.media_dir, "fail.mp4"), os.path.join(rig.media_dir, MEDIA_OK)]), lines
    assert not on_topics(rig.all, "room3/", m0)


def test_a_missing_media_file_as_the_last_action_is_still_an_error(rig):
    """The run's last action is local and its file is missing: the run must say so (the run
    ends at once; the error must not be lost because it is learnt after the end)."""
    h = rig.hub
    put_ok(rig, "room4_media", {"room": "room4", "actions": [
        {"t_ms": 0, "topic": "room4/video", "message": "missing.mp4"}]})
    rid = run_ok(h, "room4_media")["run_id"]
    wait_run(h, rid, "finished")
    try:
        final = wait_until(lambda: (lambda r: r if r["actions"][0]["status"] == "error" else None)(
            get_run(h, rid)), T(3), interval=0.05, what="the action's error")
    except AssertionError as e:
        raise AssertionError(f"{e}: {get_run(h, rid)}") from None
    assert final["counts"]["error"] == 1 and final["counts"]["played"] == 0, final
    assert "missing.mp4" in final["actions"][0]["error"], final


# ---------------------------------------------------------------- DMX_API_KEY

def test_api_key_guards_scene_mutations(rig):
    h = Hub(broker=rig.broker, env={"DMX_API_KEY": KEY})
    try:
        h.start()
        h.wait_readyz()
        scene = {"room": "room9", "actions": [
            {"t_ms": 0, "topic": "room9/audio", "message": "x.mp3"}]}
        good = {"x-api-key": KEY}
        for hdr in (None, {"x-api-key": "wrong"}, {"x-api-key": KEY[:-1]}):
            r = put(h, "room9_s", scene, hdr)
            assert r.status == 401, (hdr, r)
        assert h.get("/api/v1/scenes").json()["scenes"] == []
        assert put(h, "room9_s", scene, good).status == 200
        # reads stay open
        assert h.get("/api/v1/scenes/room9_s").status == 200
        assert h.get("/api/v1/scenes/runs").status == 200
        for method, path in (("POST", "/api/v1/scenes/room9_s/run"),
                             ("POST", "/api/v1/scenes/room9_s/stop"),
                             ("DELETE", "/api/v1/scenes/room9_s"),
                             ("POST", "/api/v1/scenes/rescan")):
            r = h.request(method, path)
            assert r.status == 401, (method, path, r)
        assert h.get("/api/v1/scenes/runs").json()["runs"] == []
        assert [s["name"] for s in h.get("/api/v1/scenes").json()["scenes"]] == ["room9_s"]
        # WS: no token, no socket; with it scene.run works
        for path in ("/ws", "/ws?token=wrong"):
            c = WsClient(h.port, path=path)
            try:
                assert c.status == 401, (path, c.status)
            finally:
                c.close()
        ws = WsClient(h.port, path=f"/ws?token={KEY}")
        try:
            assert ws.status == 101
            ws.recv_json()
            ws.send_json({"type": "intent", "req_id": "k-1", "name": "scene.run",
                          "payload": {"name": "room9_s"}})
            res = recv_type(ws, "result", skip=("state", "patch", "event"))
            assert res["ok"] is True, res
        finally:
            ws.close()
        # no SCENE_MEDIA_COMMAND here: the local action is simulated
        runs = wait_until(lambda: [r for r in h.get("/api/v1/scenes/runs").json()["runs"]
                                   if r["status"] == "finished"], T(5), what="the run finished")
        assert runs[0]["actions"][0]["status"] == "simulated", runs
        assert runs[0]["simulation"] is False, runs       # nothing of MQTT was simulated
        l = h.wait_log("scene_simulated", lambda l: l.get("run") == runs[0]["id"])
        assert l["message"] == "Simulated: room9/audio -> x.mp3 (SCENE_MEDIA_COMMAND is not set)"
        r = h.request("DELETE", "/api/v1/scenes/room9_s", headers=good)
        assert r.status == 200, r
    finally:
        h.finish()
