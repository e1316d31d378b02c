"""Crashes, silence and broker outages, end to end with devsim devices and
HEARTBEAT_GRACE_SECONDS=10: seed 004's crash listing (process_crashed before heartbeat_stale),
the per-device alerts (in /api/v1/alerts, as patches in room "devices", as events in room
"system"), one broker_outage_suspected instead of per-device alerts when most of the fleet
goes silent together (cleared when heartbeats return), and crash auto-recovery: off by
default; with CRASH_RECOVERY_ENABLED one reboot_host (requested_by null, the seed's reason)
per device, then nothing more within CRASH_RECOVERY_LOCKOUT_MINUTES.
"""
import re
import time

import pytest

from fleettest import (ALERT_KEYS, CRASHED_KEYS, FAST, FLEET_ENV, GRACE_S, PAYLOAD_KEYS,
                       PY_NAIVE, Fleet, WsRecorder, check_camel, command_msgs, device_uuid,
                       parse_time)
from hubtest import Hub, T, wait_until

SEED = "t98"
N = 5
SILENCE_WAIT = GRACE_S + 5          # stale after the grace period, seen at the next pass


@pytest.fixture(scope="module")
def fleet():
    f = Fleet()
    try:
        f.sim = f.devsim("--count", str(N), "--seed", SEED, *FAST)
        f.ids = [device_uuid(SEED, i) for i in range(N)]
        for u in f.ids:
            f.wait_device(u, lambda v: v["alive"] and v["process_status"] == "running", "alive")
        f.ws = WsRecorder(f.hub, ["devices", "system"])
        yield f
        f.ws.close()
    finally:
        f.close()


def crashed(fleet):
    body = fleet.get_json("/api/clients/crashed")
    assert set(body) == {"crashed_count", "grace_period_seconds", "clients"}, body
    assert body["grace_period_seconds"] == GRACE_S
    assert body["crashed_count"] == len(body["clients"])
    for c in body["clients"]:
        assert set(c) == CRASHED_KEYS, sorted(c)
        assert c["last_alive"] is None or PY_NAIVE.match(c["last_alive"]), c
    return body


def crashed_by_uuid(fleet):
    return {c["uuid"]: c for c in crashed(fleet)["clients"]}


def alerts(fleet):
    body = fleet.alerts()
    assert set(body) == {"alerts", "broker_outage_suspected"}, body
    for a in body["alerts"]:
        assert set(a) == ALERT_KEYS, a
    return {a["id"]: a for a in body["alerts"]}


def alert_patches(fleet, start=0):
    return [(p[len("devices.alerts."):], v) for _, p, v in fleet.ws.patches("devices.alerts.")
            ][start:]


def wait_alert(fleet, alert_id, present=True, timeout=None):
    wait_until(lambda: (alert_id in alerts(fleet)) == present,
               T(SILENCE_WAIT) if timeout is None else timeout, interval=0.1,
               what=f"alert {alert_id} {'raised' if present else 'cleared'}")


# ---------------------------------------------------------------- crashes and silence

def test_crash_listing_and_per_device_alerts(fleet):
    u0, u1, u2 = fleet.ids[:3]
    assert crashed(fleet) == {"crashed_count": 0, "grace_period_seconds": GRACE_S,
                              "clients": []}
    assert alerts(fleet) == {}
    start = len(alert_patches(fleet))

    fleet.sim.send("crash 1")
    wait_until(lambda: u1 in crashed_by_uuid(fleet), T(5), what="device 1 listed as crashed")
    c1 = crashed_by_uuid(fleet)[u1]
    assert c1["crash_reason"] == "process_crashed" and c1["is_alive"] is True
    assert c1["process_status"] == "crashed" and c1["hostname"] == "devsim-1"
    assert c1["group_id"] is None and c1["screen_health_status"] in ("OK", "BLACK", "FROZEN",
                                                                      "UNKNOWN")
    wait_alert(fleet, f"process_crashed:{u1}", timeout=T(5))
    a = alerts(fleet)[f"process_crashed:{u1}"]
    assert a["kind"] == "process_crashed" and a["device"] == u1 and a["message"]

    # device 0 crashes and goes silent, device 2 only goes silent: 2 of 5, not an outage
    fleet.sim.send("crash 0")
    wait_until(lambda: u0 in crashed_by_uuid(fleet), T(5), what="device 0 listed as crashed")
    fleet.sim.send("silence 0")
    fleet.sim.send("silence 2")
    wait_until(lambda: {u0, u2} <= set(crashed_by_uuid(fleet)) and
               not crashed_by_uuid(fleet)[u2]["is_alive"], T(SILENCE_WAIT),
               what="devices 0 and 2 listed as not alive")
    body = crashed(fleet)
    by = {c["uuid"]: c for c in body["clients"]}
    assert set(by) == {u0, u1, u2} and body["crashed_count"] == 3, by
    assert by[u0]["crash_reason"] == "process_crashed", "process_crashed takes precedence"
    assert by[u0]["is_alive"] is False and by[u0]["process_status"] == "crashed"
    assert by[u2]["crash_reason"] == "heartbeat_stale" and by[u2]["is_alive"] is False
    assert by[u2]["process_status"] == "running"
    assert by[u1]["crash_reason"] == "process_crashed" and by[u1]["is_alive"] is True
    for u in (u0, u2):
        wait_alert(fleet, f"heartbeat_stale:{u}", timeout=T(14))
        a = alerts(fleet)[f"heartbeat_stale:{u}"]
        assert a["kind"] == "heartbeat_stale" and a["device"] == u
        v = fleet.device(u)
        assert v["alive"] is False
    body = fleet.alerts()
    assert body["broker_outage_suspected"] is False
    assert "broker_outage_suspected" not in alerts(fleet)
    assert set(alerts(fleet)) == {f"process_crashed:{u1}", f"process_crashed:{u0}",
                                  f"heartbeat_stale:{u0}", f"heartbeat_stale:{u2}"}
    m = fleet.metrics()
    assert fleet.metric("fleet_alerts_active", "", m) == 4
    assert fleet.metric("fleet_devices_alive", "", m) == 3
    assert fleet.metric("fleet_devices", "", m) == N
    assert fleet.metric("fleet_broker_outage_suspected", "", m) == 0
    # the same alerts as patches in room devices and as events in room system
    raised = {i for i, v in alert_patches(fleet, start) if v is not None}
    assert raised == set(alerts(fleet)), raised
    for i, v in alert_patches(fleet, start):
        if v is not None:
            assert set(v) == ALERT_KEYS and v["id"] == i
    warned = " ".join(e["message"] for e in fleet.ws.events("devices") if e["level"] == "warning")
    for i in alerts(fleet):
        assert i in warned, (i, warned)
    # the registry patches in room devices follow the liveness
    assert any(p == f"devices.registry.{u2}" and v and v["alive"] is False
               for _, p, v in fleet.ws.patches("devices.registry."))

    # back: every alert clears, with a null patch and an event
    for cmd in ("resume 0", "resume 2", "recover 0", "recover 1"):
        fleet.sim.send(cmd)
    wait_until(lambda: alerts(fleet) == {} and crashed(fleet)["crashed_count"] == 0, T(8),
               interval=0.1, what="every alert cleared")
    cleared = {i for i, v in alert_patches(fleet, start) if v is None}
    assert cleared == raised, (cleared, raised)
    infos = " ".join(e["message"] for e in fleet.ws.events("devices") if e["level"] == "info")
    for i in raised:
        assert f"alert cleared: {i}" in infos, (i, infos)


def test_crash_recovery_is_off_by_default(fleet):
    for u in fleet.ids:
        assert fleet.commands_of(u) == [], u
        assert not fleet.spy.on(f"infoscreen/{u}/commands")
    assert not fleet.sim.events("command_received")
    assert not [l for l in fleet.hub.logs() if str(l.get("event", "")).startswith(
        "crash_recovery_")]


# ---------------------------------------------------------------- auto-recovery

def test_crash_recovery_reboots_once_then_respects_the_lockout():
    f = Fleet(env={"CRASH_RECOVERY_ENABLED": "true", "CRASH_RECOVERY_GRACE_SECONDS": "10"})
    try:
        seed = SEED + "r"
        d = f.devsim("--count", "3", "--seed", seed, "--crash", "1", *FAST)
        u0, u1, u2 = (device_uuid(seed, i) for i in range(3))
        d.send("silence 2")
        # the crashed device gets one reboot_host from the scheduler
        ev = d.event("command_received", uuid=u0, timeout=T(5))
        p = ev["payload"]
        assert set(p) == PAYLOAD_KEYS and p["action"] == "reboot_host"
        assert p["requested_by"] is None and p["reason"] == "process_crashed"
        assert (parse_time(p["expires_at"]) - parse_time(p["issued_at"])).total_seconds() == 240
        cid = p["command_id"]
        issued = f.hub.wait_log("crash_recovery_command_issued",
                                lambda l: l.get("client_uuid") == u0)
        assert issued["reason"] == "process_crashed" and issued["command_id"] == cid
        scan = f.hub.wait_log("crash_recovery_scan", lambda l: l.get("candidates", 0) >= 1)
        assert scan["candidates"] >= 1
        c = check_camel(f.command(cid))
        assert c["requestedBy"] is None and c["reason"] == "process_crashed"
        assert c["action"] == "reboot_host"
        wait_until(lambda: command_msgs(f.spy, u0, cid, alias=True), T(3), what="alias topic")
        assert not f.spy.on(f"clients/{u0}/restart"), "recovery is not a legacy restart"
        # the device reboots (which heals the crash) and completes it
        f.wait_status(cid, "completed", timeout=T(10))
        f.wait_device(u0, lambda v: v["process_status"] == "running", "running after reboot")

        # it crashes again within the lockout: listed, but no second reboot
        d.send("crash 0")
        wait_until(lambda: u0 in {c["uuid"] for c in f.get_json("/api/clients/crashed")[
            "clients"]}, T(5), what="crashed again")
        again = time.monotonic()

        # the silent device: a reboot_host for heartbeat_stale after the recovery grace
        ev2 = d.event("command_received", uuid=u2, timeout=T(GRACE_S + 5))
        assert ev2["payload"]["reason"] == "heartbeat_stale"
        assert ev2["payload"]["requested_by"] is None
        assert f.hub.wait_log("crash_recovery_command_issued",
                              lambda l: l.get("client_uuid") == u2)["reason"] == "heartbeat_stale"
        time.sleep(max(0.0, 3.5 - (time.monotonic() - again)))   # >= 3 scans since the crash
        assert len(d.events("command_received", uuid=u0)) == 1
        rows = f.commands_of(u0)
        assert [(r["action"], r["requested_by"], r["reason"]) for r in rows] == [
            ("reboot_host", None, "process_crashed")], rows
        assert len(command_msgs(f.spy, u0, cid)) == 1
        assert len(f.spy.on(f"infoscreen/{u0}/commands")) == 1
        assert len([l for l in f.hub.logs("crash_recovery_command_issued")
                    if l.get("client_uuid") == u0]) == 1
        # the healthy device never got anything
        assert not d.events("command_received", uuid=u1)
        assert f.commands_of(u1) == []
    finally:
        f.close()


def test_crash_recovery_with_the_broker_down_fails_the_command_once():
    f = Fleet()
    first = f.hub
    try:
        u = f.discover()
        f.heartbeat(u, process_status="crashed")
        f.wait_device(u, lambda v: v["process_status"] == "crashed", "crashed")
        f.hub.kill9()
        f.broker.stop()
        # the same data, recovery on, no broker: the first pass finds the crashed device
        h = Hub(broker=f.broker, data_dir=f.hub.data_dir,
                env=dict(FLEET_ENV, CRASH_RECOVERY_ENABLED="true"))
        f.hub = h
        h.start()
        failed = h.wait_log("crash_recovery_publish_failed", lambda l: l.get("client_uuid") == u,
                            timeout=T(5))
        assert failed["reason"] == "process_crashed" and failed["error"], failed
        c = check_camel(f.command(failed["command_id"]))
        assert c["status"] == "failed" and c["errorCode"] == "mqtt_publish_failed"
        assert c["requestedBy"] is None and c["reason"] == "process_crashed"
        assert c["action"] == "reboot_host" and c["publishedAt"] is None
        assert not [l for l in h.logs("crash_recovery_command_issued")]
        time.sleep(3.5)                           # three more passes: the failed row counts
        assert [x["command_id"] for x in f.commands_of(u)] == [failed["command_id"]]
        assert len([l for l in h.logs("crash_recovery_publish_failed")]) == 1
    finally:
        try:
            f.close()
        finally:
            first.finish()                        # its temp dir holds the data dir


# ---------------------------------------------------------------- broker outage

def test_broker_outage_suspected_instead_of_per_device_alerts(fleet):
    wait_until(lambda: alerts(fleet) == {}, T(8), what="no alerts to begin with")
    start = len(alert_patches(fleet))
    events0 = len(fleet.ws.events("devices"))
    # the whole fleet goes silent within a second or so per device, as a real fleet does
    # when its broker dies (each device's last heartbeat lies somewhere in its interval):
    # well within one grace period
    for i in range(N):
        fleet.sim.send(f"silence {i}")
        time.sleep(0.8)
    wait_alert(fleet, "broker_outage_suspected")
    body = fleet.alerts()
    assert body["broker_outage_suspected"] is True
    a = alerts(fleet)["broker_outage_suspected"]
    assert a["kind"] == "broker_outage_suspected" and a["device"] is None
    m = re.search(r"(\d+) of (\d+)", a["message"])
    assert m and int(m.group(2)) == N and int(m.group(1)) >= 0.8 * N, a
    assert fleet.metric("fleet_broker_outage_suspected") == 1
    # every device is stale (the listing says so) but no per-device alert stands
    wait_until(lambda: len(crashed_by_uuid(fleet)) == N, T(4), what="all listed as stale")
    cl = crashed_by_uuid(fleet)
    assert set(cl) == set(fleet.ids) and all(not c["is_alive"] for c in cl.values())
    assert all(c["crash_reason"] == "heartbeat_stale" for c in cl.values())
    assert set(alerts(fleet)) == {"broker_outage_suspected"}, alerts(fleet)
    ev = [e for e in fleet.ws.events("devices")[events0:] if "broker_outage_suspected" in
          e["message"]]
    assert ev and ev[0]["level"] == "warning", ev

    fleet.sim.send("resume all")
    wait_alert(fleet, "broker_outage_suspected", present=False, timeout=T(6))
    assert fleet.alerts()["broker_outage_suspected"] is False
    assert fleet.metric("fleet_broker_outage_suspected") == 0
    wait_until(lambda: alerts(fleet) == {} and crashed(fleet)["crashed_count"] == 0, T(5),
               what="all alive again, no alerts")
    seen = alert_patches(fleet, start)
    assert [v is None for i, v in seen if i == "broker_outage_suspected"] == [False, True], seen
    assert any("alert cleared: broker_outage_suspected" in e["message"]
               for e in fleet.ws.events("devices")[events0:])
    # while the fleet went silent together, no per-device alert was raised, not even briefly
    stale = [(i, v) for i, v in seen if i.startswith("heartbeat_stale:")]
    assert not stale, f"per-device alerts during the outage: {stale}"
