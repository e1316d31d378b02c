"""Seed 002's simulation mode and crash behaviour of scene runs, end to end.

- The broker dies (SIGKILL): while the hub retries (5 attempts 2 s apart) actions fired are
  refused, never queued; once it counts as unreachable /readyz says "simulation", room "system"
  gets the event, runs log their MQTT actions as simulated (run state simulation: true); the
  broker comes back on the same port: nothing simulated or refused is delivered late, the mode
  ends, later runs publish again (with devsim's feedback).
- MQTT disabled: runs simulate from the start and the first client intent still gets seq 1.
- kill -9 of the hub mid-run: restarted on the same data dir the run is "interrupted", its
  unfired actions "skipped", nothing of it fires later, and the scene can run again.

Real showhub, real Mosquitto, tools/devsim, all on 127.0.0.1; every wait is bounded.
"""
import time

from devsimctl import Devsim
from fleettest import WsRecorder
from hubtest import MqttClient, T, port_open, wait_until

FEEDBACK_DELAY_MS = 150
DEVSIM_FAST = ["--count", "0", "--esp32", "1", "--feedback-room", "room1",
               "--feedback-delay", str(FEEDBACK_DELAY_MS), "--reconnect-min", "0.2",
               "--reconnect-max", "1"]
SCENE_ENV = {"SCENE_FEEDBACK_TIMEOUT_MS": "1000"}


def put_ok(h, name, scene):
    r = h.request("PUT", f"/api/v1/scenes/{name}", scene)
    assert r.status == 200, r
    return r.json()


def run_ok(h, name, body=None):
    r = h.request("POST", f"/api/v1/scenes/{name}/run", body)
    assert r.status == 200, r
    b = r.json()
    assert b["ok"] is True and len(b["run_id"]) == 26, b
    return b


def get_run(h, rid):
    r = h.get(f"/api/v1/scenes/runs/{rid}")
    assert r.status == 200, (rid, r)
    return r.json()


def wait_run(h, rid, pred, what, timeout=None):
    seen = {}

    def check():
        seen["run"] = get_run(h, rid)
        return seen["run"] if pred(seen["run"]) else None
    try:
        return wait_until(check, T(6) if timeout is None else timeout, interval=0.05,
                          what=f"run {rid}: {what}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last {seen.get('run')}") from None


def finished(r):
    return r["status"] == "finished"


def kill_broker(b):
    """SIGKILL mosquitto (no clean goodbye) and wait until its port is closed."""
    b.proc.kill()
    b.proc.wait(T(5))
    b.proc = None
    b._log.close()
    wait_until(lambda: not port_open(b.port), T(5), what="broker port closed")


def readyz(h):
    r = h.get("/readyz")
    return r.status, r.json()


def scene_msgs(client, start=0):
    with client.cond:
        return [m for m in client.msgs[start:] if m.topic.startswith("room1/")]


SIM_SCENE = {"room": "room1", "actions": [
    {"t_ms": 0, "topic": "room1/light", "message": "SIM"},
    {"t_ms": 300, "topic": "room1/audio", "message": "bg.mp3"},
    {"t_ms": 400, "topic": "room1/motor", "message": "SIM"}]}


# ---------------------------------------------------------------- the broker goes away

def test_broker_down_simulation_mode_and_recovery(broker, hubs, closer):
    h = hubs(broker=broker, env=SCENE_ENV)
    h.wait_readyz()
    sim = Devsim(broker.port, *DEVSIM_FAST)
    closer.append(sim)
    sim.ready()
    put_ok(h, "room1_sim", SIM_SCENE)
    put_ok(h, "room1_down", {"room": "room1", "actions": [
        {"t_ms": 0, "topic": "room1/light", "message": "DOWN"}]})
    rec = WsRecorder(h, ["system", "scenes"])
    closer.append(rec)
    status, body = readyz(h)
    assert status == 200 and "simulation" not in body, body
    assert h.get("/api/v1/scenes").json()["simulation"] is False

    t_kill = time.monotonic()
    kill_broker(broker)

    # retrying, not yet unreachable: a fired action is refused, never queued
    wait_until(lambda: readyz(h)[0] == 503, T(5), interval=0.05, what="/readyz 503")
    rid_down = run_ok(h, "room1_down")["run_id"]
    down = wait_run(h, rid_down, finished, "finished")
    (a,) = down["actions"]
    assert a["status"] == "error" and a["error"].startswith("not sent"), down
    assert down["simulation"] is False, down
    # the first failures are retried, not yet simulation mode
    assert time.monotonic() - t_kill < 6
    assert "simulation" not in readyz(h)[1]
    assert h.get("/api/v1/scenes").json()["simulation"] is False

    # unreachable after 5 attempts 2 s apart: simulation mode
    _, body = wait_until(lambda: (lambda s: s if "simulation" in s[1] else None)(readyz(h)),
                         T(16), interval=0.1, what="/readyz saying simulation")
    took = time.monotonic() - t_kill
    assert took >= 8, f"simulation mode after {took:.1f}s: sooner than 5 attempts 2 s apart"
    assert body["status"] == "not ready" and "unreachable" in body["simulation"], body
    retries = [l for l in h.logs("mqtt_reconnect")]
    assert [(l["attempt"], l["delay_ms"]) for l in retries[:5]] == \
        [(i, 2000) for i in range(1, 6)], retries
    assert h.wait_log("mqtt_unreachable")["attempts"] == 5
    rec.wait(lambda: [e for e in rec.events("scenes") if "simulation mode" in e["message"]],
             T(3), "the simulation event in room system")
    (ev,) = rec.events("scenes")
    assert ev["level"] == "error" and "unreachable" in ev["message"], ev
    assert h.get("/api/v1/scenes").json()["simulation"] is True
    mode = h.state("scenes")["state"]["scenes"]["mode"]
    assert mode["simulation"] is True and mode["since"].endswith("Z"), mode
    assert [p for p in rec.patches("scenes.mode") if p[2]["simulation"] is True], rec.frames

    # a run now: every MQTT action simulated, logged, nothing published
    rid_sim = run_ok(h, "room1_sim")["run_id"]
    sim_run = wait_run(h, rid_sim, finished, "finished")
    assert sim_run["simulation"] is True, sim_run
    assert [x["status"] for x in sim_run["actions"]] == ["simulated"] * 3, sim_run
    assert sim_run["counts"]["simulated"] == 3, sim_run
    logs = wait_until(lambda: (lambda ls: ls if len(ls) >= 3 else None)(
        [l for l in h.logs("scene_simulated") if l.get("run") == rid_sim]), T(3),
        what="three scene_simulated lines")
    msgs = sorted(l["message"] for l in logs)
    assert msgs == sorted(["Simulated: room1/light -> SIM (the MQTT broker is unreachable)",
                           "Simulated: room1/audio -> bg.mp3 (SCENE_MEDIA_COMMAND is not set)",
                           "Simulated: room1/motor -> SIM (the MQTT broker is unreachable)"]), \
        msgs
    assert [l["logger"] for l in logs if "motor" in l["message"]] == ["mqtt"]
    assert not [l for l in h.logs("scene_publish") if l.get("run") == rid_sim]
    fail = h.wait_log("scene_action_failed", lambda l: l.get("run") == rid_down)
    assert "not sent" in fail["message"], fail
    assert get_run(h, rid_sim)["simulation"] is True

    # the broker comes back on the same port; a subscriber connected right away
    broker.start()
    spy = MqttClient(broker.port).connect()
    closer.append(spy)
    spy.subscribe("#")
    # (the hub retries only every few seconds now: it is not back yet, the spy sees it all)
    assert "simulation" in readyz(h)[1], "the hub reconnected before the spy subscribed"
    wait_until(lambda: (lambda s: s[0] == 200 and "simulation" not in s[1])(readyz(h)),
               T(20), interval=0.1, what="/readyz ready again, without simulation")
    rec.wait(lambda: [e for e in rec.events("scenes") if "ended" in e["message"]],
             T(3), "the end of simulation mode in room system")
    assert h.get("/api/v1/scenes").json()["simulation"] is False
    assert h.state("scenes")["state"]["scenes"]["mode"]["simulation"] is False
    # the hub is back for sure: its retained state reached the fresh subscriber
    spy.wait("v1/devices/server/state", pred=lambda m: m.payload == b"online", timeout=T(5))
    time.sleep(0.7)
    late = [m for m in scene_msgs(spy) if m.topic != "room1/status"]
    assert late == [], f"delivered late after the reconnect: {late}"
    # the runs that ended meanwhile did not change
    assert get_run(h, rid_sim) == sim_run
    assert get_run(h, rid_down) == down

    # later runs publish again, with feedback
    sim.event("reconnected", timeout=T(10))
    time.sleep(0.3)      # its subscription to room1/+ is in place
    n = len(spy.msgs)
    rid = run_ok(h, "room1_sim")["run_id"]
    live = wait_run(h, rid, finished, "finished", T(5))
    assert live["simulation"] is False, live
    assert [x["status"] for x in live["actions"]] == ["ok", "simulated", "ok"], live
    spy.wait("room1/motor", start=n, timeout=T(2))
    got = [(m.topic, m.payload) for m in scene_msgs(spy, n) if m.topic != "room1/status"]
    assert got == [("room1/light", b"SIM"), ("room1/motor", b"SIM")], got


# ---------------------------------------------------------------- no MQTT at all

def test_mqtt_disabled_simulates_from_the_start_without_spending_a_seq(hubs):
    h = hubs(broker=None, env=SCENE_ENV)
    lst = h.get("/api/v1/scenes").json()
    assert lst["simulation"] is True, lst
    mode = h.state("scenes")["state"]["scenes"]["mode"]
    assert mode["simulation"] is True, mode
    # no scene intent was spent on the mode before the first client intent
    b = put_ok(h, "room1_sim", SIM_SCENE)
    j = h.get("/api/v1/journal?since=0&limit=100").json()["entries"]
    assert not [e for e in j if e["name"].startswith("scene.") and e["seq"] < b["seq"]], j
    hidden = [(e["seq"], e["name"], e["src"]) for e in j if e["seq"] < b["seq"]]
    r = run_ok(h, "room1_sim")
    assert r["seq"] > b["seq"], r
    final = wait_run(h, r["run_id"], finished, "finished", T(3))
    assert final["simulation"] is True, final
    assert [x["status"] for x in final["actions"]] == ["simulated"] * 3, final
    wait_until(lambda: len([l for l in h.logs("scene_simulated")
                            if l.get("run") == r["run_id"]]) == 3, T(3),
               what="three scene_simulated lines")
    # it finished without waiting for any feedback
    assert final["ended_at"] is not None
    status, body = readyz(h)
    assert status == 200 and body["mqtt"].startswith("disabled"), body
    # the first client intent was seq 1: no hidden intent was spent at start-up (by anyone)
    assert b["seq"] == 1, f"seqs spent before the first client intent: {hidden}"


# ---------------------------------------------------------------- kill -9 mid-run

def test_kill9_mid_run_comes_back_interrupted(broker, hubs, closer):
    h1 = hubs(broker=broker, env=SCENE_ENV)
    h1.wait_readyz()
    data = h1.data_dir          # removed when h1 is torn down, after the later hubs
    sim = Devsim(broker.port, *DEVSIM_FAST)
    closer.append(sim)
    sim.ready()
    spy = MqttClient(broker.port).connect()
    closer.append(spy)
    spy.subscribe("room1/#")
    put_ok(h1, "room1_crash", {"room": "room1", "actions": [
        {"t_ms": 0, "topic": "room1/light", "message": "ON"},
        {"t_ms": 1500, "topic": "room1/steam", "message": "ON"},
        {"t_ms": 2500, "topic": "room1/motor", "message": "START"}]})
    t_run = time.monotonic()
    rid = run_ok(h1, "room1_crash")["run_id"]
    wait_run(h1, rid, lambda r: r["actions"][0]["status"] == "ok", "the first action ok",
             T(2))
    h1.kill9()
    assert time.monotonic() - t_run < 1.5, "too slow: the second action may have fired"

    h2 = hubs(broker=broker, env=SCENE_ENV, data_dir=data)
    h2.wait_readyz()
    run = get_run(h2, rid)
    assert run["status"] == "interrupted", run
    light, steam, motor = run["actions"]
    assert steam["status"] == "skipped" and motor["status"] == "skipped", run
    assert steam["fired_at"] is None and motor["fired_at"] is None, run
    # the first action was published and confirmed before the crash: not "skipped"
    assert light["fired_at"] is not None, run
    assert light["status"] == "ok", run
    assert run["counts"]["skipped"] == 2 and run["counts"]["ok"] == 1, run
    assert run["counts"]["pending"] == 0 and run["counts"]["sent"] == 0, run
    # listed among the runs, in the state (WS room scenes' snapshot) the same way
    assert rid in [r["id"] for r in h2.get("/api/v1/scenes/runs").json()["runs"]]
    rec = WsRecorder(h2, ["scenes"])
    try:
        snap = rec.snapshot["state"]["scenes"]["runs"][rid]
    finally:
        rec.close()
    assert snap == run, (snap, run)
    (e,) = h2.get("/api/v1/scenes").json()["scenes"]
    assert e["name"] == "room1_crash" and e["running"] is None, e

    # nothing of the interrupted run fires later
    left = t_run + 2.5 + 0.5 - time.monotonic()
    if left > 0:
        time.sleep(left)
    assert [(m.topic, m.payload) for m in spy.msgs if m.topic != "room1/status"] == \
        [("room1/light", b"ON")], spy.msgs

    # the scene runs again (the room is free)
    n = len(spy.msgs)
    rid2 = run_ok(h2, "room1_crash")["run_id"]
    assert rid2 != rid
    spy.wait("room1/light", start=n, timeout=T(2))
    assert get_run(h2, rid2)["status"] == "running"
    r = h2.request("POST", "/api/v1/scenes/room1_crash/stop")
    assert r.status == 200, r
    assert get_run(h2, rid2)["status"] == "stopped"
    # and a third start of the hub still has both, unchanged
    assert h2.stop() == 0
    h3 = hubs(broker=broker, env=SCENE_ENV, data_dir=data)
    assert get_run(h3, rid) == run
    assert get_run(h3, rid2)["status"] == "stopped"
