"""tools/devsim itself against a real Mosquitto, with a paho client playing
the hub: discovery, heartbeat and health shapes, the seed-004 command intake
(ACK order on both topics, reboot, duplicates, stale and invalid commands,
ACKs queued over an outage), fault flags, ESP32 presence with its LWT and
scene feedback. No showhub binary involved. Every wait is bounded."""
import datetime
import json
import os
import re
import signal
import sys
import time
import uuid

import pytest

from hubtest import T, MqttClient, retained, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEVSIM_DIR = os.path.join(ROOT, "tools", "devsim")
DEVSIM = os.path.join(DEVSIM_DIR, "devsim.py")
sys.path.insert(0, DEVSIM_DIR)

from sim_infoscreen import device_uuid  # noqa: E402
import devsimctl  # noqa: E402

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
SEED = "t05"
FAST = ["--heartbeat", "0.5", "--health", "0.5", "--restart-app-delay", "0.2",
        "--reboot-delay", "0.5", "--reconnect-min", "0.2"]


class Devsim(devsimctl.Devsim):
    """Replies are checked by the tests themselves here."""

    def send(self, line, check=False):
        return super().send(line, check)


@pytest.fixture
def devsim(broker, closer):
    def start(*args):
        d = Devsim(broker.port, *args)
        closer.append(d)
        return d
    return start


@pytest.fixture
def hubc(broker, closer):
    """The test's hub: a paho client subscribed to everything devsim speaks."""
    c = MqttClient(broker.port).connect()
    closer.append(c)
    for t in ("infoscreen/#", "devices/#", "room1/#"):
        c.subscribe(t)
    return c


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def command(client_uuid, action="restart_app", expires_in=240, **extra):
    now = datetime.datetime.now(datetime.timezone.utc)
    c = {"schema_version": "1.0", "command_id": str(uuid.uuid4()), "client_uuid": client_uuid,
         "action": action, "issued_at": iso(now),
         "expires_at": iso(now + datetime.timedelta(seconds=expires_in)),
         "requested_by": 1, "reason": "devsim test"}
    c.update(extra)
    return c


def health_status(status):
    return lambda m: m.json()["actual_state"]["status"] == status


def acks(hub, u, cid, alias=False):
    topic = f"infoscreen/{u}/{'command' if alias else 'commands'}/ack"
    return [m.json() for m in hub.on(topic) if m.json().get("command_id") == cid]


def wait_acks(hub, u, cid, statuses, timeout=None):
    """Both ACK topics carry exactly `statuses` (in order) for cid."""
    for alias in (False, True):
        wait_until(lambda: len(acks(hub, u, cid, alias)) >= len(statuses), T(8) if timeout is None
                   else timeout, what=f"{len(statuses)} ACKs for {cid} (alias={alias}): "
                                      f"{acks(hub, u, cid, alias)}")
        got = acks(hub, u, cid, alias)
        assert [a["status"] for a in got] == statuses, got
        for a in got:
            assert set(a) == {"command_id", "status", "error_code", "error_message"}, a
    return acks(hub, u, cid)


# ---------------------------------------------------------------- telemetry

def test_discovery_heartbeat_health_shapes(devsim, hubc, tmp_path):
    ids = tmp_path / "ids.txt"
    d = devsim("--count", "3", "--seed", SEED, "--ids-file", str(ids), *FAST)
    d.ready()
    uuids = ids.read_text().split()
    assert uuids == [device_uuid(SEED, i) for i in range(3)]
    assert all(uuid.UUID(u).version == 4 for u in uuids)

    for i, u in enumerate(uuids):
        _, m = hubc.wait("infoscreen/discovery", pred=lambda m, u=u: m.json()["uuid"] == u)
        assert m.json() == {"uuid": u, "hostname": f"devsim-{i}", "ip": f"127.0.0.{i + 1}",
                            "hardware": "devsim", "version": "devsim-1"}
        # a few beats each: the interval really is short
        wait_until(lambda u=u: len(hubc.on(f"infoscreen/{u}/heartbeat")) >= 3, T(5),
                   what=f"3 heartbeats of {u}")
        hb = hubc.on(f"infoscreen/{u}/heartbeat")[-1].json()
        assert set(hb) == {"timestamp", "current_process", "process_pid", "process_status",
                           "current_event_id"}
        assert ISO_Z.match(hb["timestamp"]) and hb["current_process"] == "display_manager"
        assert isinstance(hb["process_pid"], int) and hb["process_status"] == "running"
        assert hb["current_event_id"] is None

        _, m = hubc.wait(f"infoscreen/{u}/health")
        assert m.qos == 0
        h = m.json()
        assert set(h) == {"timestamp", "expected_state", "actual_state", "health_metrics",
                          "broker_connection"}
        assert ISO_Z.match(h["timestamp"])
        assert h["expected_state"] == {"event_id": None}
        assert h["actual_state"] == {"process": "display_manager", "pid": hb["process_pid"],
                                     "status": "running"}
        assert set(h["health_metrics"]) == {"screen_health_status", "last_frame_update"}
        assert h["health_metrics"]["screen_health_status"] == "OK"
        assert ISO_Z.match(h["health_metrics"]["last_frame_update"])
        assert h["broker_connection"] == {"broker_reachable": True, "reconnect_count": 0,
                                          "last_disconnect_at": None}
    assert not hubc.on(f"infoscreen/{uuids[0]}/service_failed")


def test_fault_flags_and_controls(devsim, hubc):
    d = devsim("--count", "3", "--seed", SEED, "--crash", "2", "--silent", "1",
               "--service-failed", "1", *FAST)
    d.ready()
    u0, u1, u2 = (device_uuid(SEED, i) for i in range(3))
    hubc.wait("infoscreen/discovery", pred=lambda m: m.json()["uuid"] == u0)
    _, m = hubc.wait(f"infoscreen/{u0}/service_failed")
    sf = m.json()
    assert m.qos == 1 and set(sf) == {"event", "unit", "client_uuid", "failed_at"}
    assert sf["event"] == "service_failed" and sf["client_uuid"] == u0
    assert sf["unit"] == "infoscreen-simclient.service" and ISO_Z.match(sf["failed_at"])

    _, m = hubc.wait(f"infoscreen/{u1}/heartbeat")
    assert m.json()["process_status"] == "crashed"
    _, m = hubc.wait(f"infoscreen/{u1}/health")
    assert m.json()["actual_state"]["status"] == "crashed"
    _, m = hubc.wait(f"infoscreen/{u2}/heartbeat")
    assert m.json()["process_status"] == "running"
    time.sleep(1.0)                                      # two intervals: the silent one stays so
    assert not hubc.on(f"infoscreen/{u0}/heartbeat") and not hubc.on(f"infoscreen/{u0}/health")

    assert d.send("recover 1")["ok"]
    hubc.wait(f"infoscreen/{u1}/heartbeat", pred=lambda m: m.json()["process_status"] == "running")
    assert d.send("resume 0")["ok"]
    hubc.wait(f"infoscreen/{u0}/heartbeat")
    assert d.send(f"crash {u2}")["ok"]
    hubc.wait(f"infoscreen/{u2}/health", pred=health_status("crashed"))

    assert d.send("log 2 error disk on fire")["ok"]
    _, m = hubc.wait(f"infoscreen/{u2}/logs/error")
    log = m.json()
    assert m.qos == 1 and log["message"] == "disk on fire" and ISO_Z.match(log["timestamp"])
    assert isinstance(log["context"], dict)
    assert d.send("log 2 info all fine")["ok"]
    _, m = hubc.wait(f"infoscreen/{u2}/logs/info")
    assert m.qos == 0

    assert d.send("service_failed 2")["ok"]
    assert retained(hubc.port, f"infoscreen/{u2}/service_failed").json()["client_uuid"] == u2
    assert d.send("clear_service_failed 2")["ok"]
    assert retained(hubc.port, f"infoscreen/{u2}/service_failed", timeout=T(0.5)) is None

    bad = d.send("crash 7")
    assert bad["ok"] is False and "out of range" in bad["error"]
    assert d.send("nonsense")["ok"] is False
    st = d.send("status")
    assert st["count"] == 3 and st["online"] == 3


def test_group_id_and_discovery_ack_are_reported(devsim, hubc):
    d = devsim("--count", "1", "--seed", SEED, *FAST)
    d.ready()
    u = device_uuid(SEED, 0)
    hubc.publish(f"infoscreen/{u}/group_id", "3", retain=True)
    assert d.event("group_id", uuid=u)["group_id"] == 3
    hubc.publish(f"infoscreen/{u}/discovery_ack", json.dumps({"status": "ok", "uuid": u,
                                                              "group_id": 3}))
    assert d.event("discovery_ack", uuid=u)["payload"]["group_id"] == 3
    hubc.publish(f"infoscreen/{u}/group_id", "", retain=True)
    d.event("group_id", uuid=u, group_id=None)


# ---------------------------------------------------------------- commands

def test_restart_app_acks_in_order_on_both_topics(devsim, hubc):
    d = devsim("--count", "3", "--seed", SEED, *FAST)
    d.ready()
    u = device_uuid(SEED, 1)
    c = command(u, "restart_app")
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    got = wait_acks(hubc, u, c["command_id"], ["accepted", "execution_started", "completed"])
    assert all(a["error_code"] is None and a["error_message"] is None for a in got)
    ev = d.event("command_received", uuid=u)
    assert ev["payload"] == c and ev["topic"] == f"infoscreen/{u}/commands"
    d.event("executed", uuid=u, command_id=c["command_id"], action="restart_app")
    assert [e["status"] for e in d.events("ack_sent", uuid=u)] == \
        ["accepted", "execution_started", "completed"]
    ack_msgs = [m for m in hubc.on(f"infoscreen/{u}/commands/ack")]
    assert all(m.qos == 1 and not m.retain for m in ack_msgs)
    # the other devices saw nothing
    assert not d.events("command_received", uuid=device_uuid(SEED, 0))


def test_duplicate_command_id_is_not_executed_twice(devsim, hubc):
    d = devsim("--count", "1", "--seed", SEED, *FAST)
    d.ready()
    u = device_uuid(SEED, 0)
    c = command(u, "restart_app")
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    wait_acks(hubc, u, c["command_id"], ["accepted", "execution_started", "completed"])
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    dup = d.event("duplicate_ignored", command_id=c["command_id"])
    assert dup["last_status"] == "completed"
    time.sleep(0.6)                                   # > restart-app-delay: a rerun would show
    assert len(acks(hubc, u, c["command_id"])) == 3
    assert len(acks(hubc, u, c["command_id"], alias=True)) == 3
    assert len(d.events("executed", command_id=c["command_id"])) == 1


def test_listen_alias_dedupes_the_second_copy(devsim, hubc):
    d = devsim("--count", "1", "--seed", SEED, "--listen-alias", *FAST)
    d.ready()
    u = device_uuid(SEED, 0)
    c = command(u, "restart_app")
    for t in ("commands", "command"):                # what the hub does in compat mode
        hubc.publish(f"infoscreen/{u}/{t}", json.dumps(c))
    wait_acks(hubc, u, c["command_id"], ["accepted", "execution_started", "completed"])
    d.event("duplicate_ignored", command_id=c["command_id"])
    time.sleep(0.4)
    assert len(acks(hubc, u, c["command_id"])) == 3
    assert len(d.events("executed", command_id=c["command_id"])) == 1


def test_stale_command_fails_and_is_not_executed(devsim, hubc):
    d = devsim("--count", "1", "--seed", SEED, *FAST)
    d.ready()
    u = device_uuid(SEED, 0)
    c = command(u, "reboot_host", expires_in=-5)
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    (a,) = wait_acks(hubc, u, c["command_id"], ["failed"])
    assert a["error_code"] == "stale_command" and a["error_message"]
    d.event("stale_rejected", command_id=c["command_id"])
    time.sleep(0.5)
    assert not d.events("disconnected") and len(acks(hubc, u, c["command_id"])) == 1


@pytest.mark.parametrize("mutate,code", [
    (lambda c: c.update(extra="x"), "invalid_schema"),
    (lambda c: c.pop("reason"), "missing_field"),
    (lambda c: c.update(schema_version="2.0"), "invalid_schema"),
    (lambda c: c.update(action="restart_service"), "invalid_schema"),
    (lambda c: c.update(client_uuid=str(uuid.uuid4())), "invalid_schema"),
    (lambda c: c.update(expires_at="tomorrow"), "invalid_schema"),
    (lambda c: c.update(requested_by=0), "invalid_schema"),
])
def test_invalid_command_fails_with_a_code(devsim, hubc, mutate, code):
    d = devsim("--count", "1", "--seed", SEED, *FAST)
    d.ready()
    u = device_uuid(SEED, 0)
    c = command(u, "restart_app")
    mutate(c)
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    (a,) = wait_acks(hubc, u, c["command_id"], ["failed"])
    assert a["error_code"] == code and a["error_message"], a
    assert d.event("invalid_rejected", command_id=c["command_id"])["error_code"] == code
    # the rejected id is not burnt: the corrected command runs
    good = command(u, "restart_app", command_id=c["command_id"])
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(good))
    wait_acks(hubc, u, c["command_id"], ["failed", "accepted", "execution_started", "completed"])


def test_reboot_host_drops_reconnects_then_completes(devsim, hubc):
    d = devsim("--count", "2", "--seed", SEED, "--crash", "1", *FAST)
    d.ready()
    u = device_uuid(SEED, 0)
    hubc.wait(f"infoscreen/{u}/health", pred=health_status("crashed"))
    c = command(u, "reboot_host")
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    wait_until(lambda: len(acks(hubc, u, c["command_id"])) >= 2, T(5), what="two ACKs")
    dropped = d.event("disconnected", uuid=u)
    assert dropped["planned"] is True
    back = d.event("reconnected", uuid=u)
    assert back["reconnect_count"] == 1
    got = wait_acks(hubc, u, c["command_id"], ["accepted", "execution_started", "completed"])
    assert got[-1]["error_code"] is None
    d.event("executed", command_id=c["command_id"], action="reboot_host")
    # a heartbeat came between the drop and the completed ACK (the seed's acceptance test)
    hb_after = [m for m in hubc.on(f"infoscreen/{u}/heartbeat")]
    done = [m for m in hubc.on(f"infoscreen/{u}/commands/ack")
            if m.json()["status"] == "completed"][0]
    started = [m for m in hubc.on(f"infoscreen/{u}/commands/ack")
               if m.json()["status"] == "execution_started"][0]
    assert any(started.t < m.t <= done.t for m in hb_after), "no heartbeat before completed"
    # later health: reconnect counted, disconnect time set, the reboot healed the crash
    _, m = hubc.wait(f"infoscreen/{u}/health", start=hubc.msgs.index(done),
                     pred=lambda m: m.json()["broker_connection"]["reconnect_count"] == 1)
    h = m.json()
    assert ISO_Z.match(h["broker_connection"]["last_disconnect_at"])
    assert h["actual_state"]["status"] == "running"
    # the other device never dropped
    assert not d.events("disconnected", uuid=device_uuid(SEED, 1))


def test_shutdown_host_completes_then_stays_offline_until_resume(devsim, hubc):
    d = devsim("--count", "1", "--seed", SEED, *FAST)
    d.ready()
    u = device_uuid(SEED, 0)
    c = command(u, "shutdown_host")
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    wait_acks(hubc, u, c["command_id"], ["accepted", "execution_started", "completed"])
    d.event("disconnected", uuid=u)
    n = len(hubc.on(f"infoscreen/{u}/heartbeat"))
    time.sleep(1.2)
    assert len(hubc.on(f"infoscreen/{u}/heartbeat")) == n, "a shut-down device kept beating"
    assert d.send("resume 0")["ok"]
    d.event("reconnected", uuid=u)
    wait_until(lambda: len(hubc.on(f"infoscreen/{u}/heartbeat")) > n, T(5), what="heartbeat")


def test_ack_modes(devsim, hubc):
    d = devsim("--count", "3", "--seed", SEED, *FAST)
    d.ready()
    u0, u1, u2 = (device_uuid(SEED, i) for i in range(3))
    assert d.send("ack_mode 0 fail:execution_failed")["ok"]
    assert d.send("ack_mode 1 accept_only")["ok"]
    assert d.send("ack_mode 2 ignore")["ok"]
    assert d.send("ack_mode 2 sometimes")["ok"] is False
    cs = [command(u, "restart_app") for u in (u0, u1, u2)]
    for u, c in zip((u0, u1, u2), cs):
        hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    got = wait_acks(hubc, u0, cs[0]["command_id"], ["accepted", "execution_started", "failed"])
    assert got[-1]["error_code"] == "execution_failed" and got[-1]["error_message"]
    wait_acks(hubc, u1, cs[1]["command_id"], ["accepted"])
    d.event("command_ignored", uuid=u2)
    time.sleep(0.5)
    assert len(acks(hubc, u1, cs[1]["command_id"])) == 1
    assert not acks(hubc, u2, cs[2]["command_id"])


def test_acks_queued_over_an_outage_are_sent_after_reconnect(devsim, hubc):
    d = devsim("--count", "1", "--seed", SEED, *FAST)
    d.ready()
    u = device_uuid(SEED, 0)
    assert d.send("ack_mode 0 delay:0.3")["ok"]
    c = command(u, "restart_app")
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    d.event("command_received", uuid=u)
    assert d.send("disconnect 0 1.5")["ok"]                 # down when the ACKs fall due
    d.event("ack_queued", command_id=c["command_id"])
    assert not acks(hubc, u, c["command_id"])
    d.event("reconnected", uuid=u)
    wait_acks(hubc, u, c["command_id"], ["accepted", "execution_started", "completed"])
    assert len(d.events("executed", command_id=c["command_id"])) == 1


def test_dedupe_cache_survives_a_restart(broker, hubc, tmp_path, closer):
    state = tmp_path / "state"
    args = ("--count", "1", "--seed", SEED, "--state-dir", str(state), *FAST)
    u = device_uuid(SEED, 0)
    d = Devsim(broker.port, *args)
    closer.append(d)
    d.ready()
    c = command(u, "restart_app")
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    wait_acks(hubc, u, c["command_id"], ["accepted", "execution_started", "completed"])
    d.close()
    saved = json.loads((state / f"{u}.json").read_text())
    assert saved["commands"][c["command_id"]]["status"] == "completed"

    d2 = Devsim(broker.port, *args)
    closer.append(d2)
    d2.ready()
    hubc.publish(f"infoscreen/{u}/commands", json.dumps(c))
    d2.event("duplicate_ignored", command_id=c["command_id"])
    time.sleep(0.5)
    assert len(acks(hubc, u, c["command_id"])) == 3


def test_devices_come_back_after_a_broker_restart(broker, devsim, closer):
    d = devsim("--count", "3", "--seed", SEED, *FAST)
    d.ready()
    broker.stop()
    for i in range(3):
        d.event("disconnected", device=i)
    broker.start()
    for i in range(3):
        assert d.event("reconnected", device=i, timeout=T(8))["reconnect_count"] == 1
    hub = MqttClient(broker.port).connect()
    closer.append(hub)
    hub.subscribe("infoscreen/+/health")
    for i in range(3):
        _, m = hub.wait(f"infoscreen/{device_uuid(SEED, i)}/health")
        bc = m.json()["broker_connection"]
        assert bc["reconnect_count"] == 1 and ISO_Z.match(bc["last_disconnect_at"])


# ---------------------------------------------------------------- ESP32 (seed 002)

def test_esp32_online_then_lwt_offline_after_kill9(devsim, hubc):
    d = devsim("--count", "0", "--esp32", "2", *FAST)
    d.ready()
    for eid in ("esp32_01", "esp32_02"):
        hubc.wait(f"devices/{eid}/status", pred=lambda m: m.payload == b"online")
        m = retained(hubc.port, f"devices/{eid}/status")
        assert m is not None and m.retain and m.payload == b"online"
    start = len(hubc.msgs)
    d.kill9()
    for eid in ("esp32_01", "esp32_02"):
        hubc.wait(f"devices/{eid}/status", pred=lambda m: m.payload == b"offline", start=start)
        m = retained(hubc.port, f"devices/{eid}/status")
        assert m is not None and m.payload == b"offline"


@pytest.mark.parametrize("how", ["quit", "SIGTERM", "SIGINT"])
def test_esp32_clean_exit_says_offline(devsim, hubc, how):
    d = devsim("--count", "1", "--esp32", "1")
    d.ready()
    hubc.wait("devices/esp32_01/status", pred=lambda m: m.payload == b"online")
    if how == "quit":
        assert d.send("quit")["ok"]
    else:
        d.proc.send_signal(getattr(signal, how))
    d.event("stopped")
    assert d.proc.wait(T(5)) == 0
    _, m = hubc.wait("devices/esp32_01/status", pred=lambda m: m.payload == b"offline")
    assert d.events("disconnected", device=0)[0]["rc"] == 0      # clean DISCONNECT


def test_esp32_disconnect_fires_lwt_and_comes_back(devsim, hubc):
    d = devsim("--count", "0", "--esp32", "1", *FAST)
    d.ready()
    _, m = hubc.wait("devices/esp32_01/status", pred=lambda m: m.payload == b"online")
    assert d.send("disconnect esp32_01 0.5")["ok"]
    i, _ = hubc.wait("devices/esp32_01/status", pred=lambda m: m.payload == b"offline")
    hubc.wait("devices/esp32_01/status", pred=lambda m: m.payload == b"online", start=i)


def test_feedback_answers_room_commands(devsim, hubc):
    d = devsim("--count", "0", "--feedback-room", "room1", "--feedback-delay", "20")
    d.ready()
    hubc.wait("devices/esp32_01/status", pred=lambda m: m.payload == b"online")
    hubc.publish("room1/light", "ON")
    i, m = hubc.wait("room1/status")
    assert m.payload == b"OK"
    d.event("feedback_sent", topic="room1/status", payload="OK", cause="room1/light")

    assert d.send("feedback error")["ok"]
    hubc.publish("room1/motor", "START")
    hubc.wait("room1/status", pred=lambda m: m.payload == b"ERROR", start=i + 1)

    assert d.send("feedback none")["ok"]
    n = len(hubc.on("room1/status"))
    hubc.publish("room1/steam", "ON")
    d.event("feedback_received", topic="room1/steam")
    time.sleep(0.3)
    # no answer to the answer either: exactly one status per command so far
    assert len(hubc.on("room1/status")) == n == 2
