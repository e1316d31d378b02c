"""The fleet's ingest and registry, end to end: seed 004's discovery (registered, answered on
discovery_ack), heartbeats and health (the seed's field mapping, invalid values ignored), device
logs (persisted, read back with their filters, the summary, recent errors and the monitoring
overview, bounded by FLEET_LOG_RETENTION), groups (the retained <root>/<uuid>/group_id, bulk
assignment all or nothing), deleting a device (its logs, commands and retained topics go),
service_failed (ingest, the seed's list and clear answers, the broker's retained message gone),
seed 002's ESP32 presence and seed 000's v1 presence (GET /devices keeps its old contract), and
every kind of malformed input: logged, counted per reason, nothing changed, the hub alive.

One hub and broker are shared by the module (hand-made devices get fresh uuids per test); the
service_failed list, whose counts are global, gets its own.
"""
import datetime
import json
import os
import sqlite3
import time

import pytest

from fleettest import (ALERT_KEYS, ALIVE_KEYS, ENTITY_KEYS, FAST, ISO_MS_Z, PY_NAIVE, SF_KEYS,
                       Fleet, delta, device_uuid, iso_z, new_uuid, parse_time)
from hubtest import T, retained, wait_until

SEED = "t97"
RETENTION = 10


@pytest.fixture(scope="module")
def fleet():
    f = Fleet(env={"FLEET_LOG_RETENTION": str(RETENTION)})
    try:
        yield f
    finally:
        f.close()


def intent_ok(fleet, name, payload):
    r = fleet.hub.request("POST", "/api/v1/intents", {"name": name, "payload": payload})
    assert r.status == 200, r
    return r.json()


def processed(fleet, u):
    """Send a heartbeat for the registered device u and wait until the hub applied it: the
    hub takes one publisher's messages in order, so everything sent before is handled."""
    before = fleet.device(u)["last_alive"]
    time.sleep(0.002)
    fleet.heartbeat(u)
    fleet.wait_device(u, lambda v: v["last_alive"] != before, "the marker heartbeat")


def logs_of(fleet, u, query="", seed=True):
    path = f"/api/client-logs/{u}/logs" if seed else f"/api/v1/devices/{u}/logs"
    return fleet.get_json(path + (f"?{query}" if query else ""))


def rows(fleet, sql, *args):
    """A read of the running hub's SQLite (WAL: a reader sees every committed batch)."""
    db = sqlite3.connect(f"file:{os.path.join(fleet.hub.data_dir, 'showhub.db')}?mode=ro",
                         uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


# ---------------------------------------------------------------- discovery, heartbeat, health

def test_discovery_registers_and_answers_discovery_ack(fleet):
    t0 = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    d = fleet.devsim("--count", "2", "--seed", SEED, *FAST)
    ids = [device_uuid(SEED, i) for i in range(2)]
    for i, u in enumerate(ids):
        ack = d.event("discovery_ack", uuid=u)
        assert ack["payload"] == {"status": "ok", "uuid": u, "group_id": None}, ack
        msgs = fleet.spy.on(f"infoscreen/{u}/discovery_ack")
        assert msgs and all(m.qos == 1 and not m.retain for m in msgs), msgs
        v = fleet.wait_device(u, lambda v: v["alive"] and v["process_pid"] is not None,
                              "alive with a heartbeat")
        assert set(v) == ENTITY_KEYS, sorted(v)
        assert v["id"] == u and v["kind"] == "infoscreen" and v["presence"] == "online"
        assert v["hostname"] == f"devsim-{i}" and v["ip"] == f"127.0.0.{i + 1}"
        assert v["is_active"] is True and v["group_id"] is None and v["description"] is None
        for k in ("first_seen", "last_seen", "last_alive"):
            assert ISO_MS_Z.match(v[k]) and parse_time(v[k]) >= t0, (k, v[k])
        assert v["current_process"] == "display_manager" and v["process_status"] == "running"
        assert v["service_failed_at"] is None and v["service_failed_unit"] is None
    for u in ids:
        fleet.hub.wait_log("device_registered", lambda l, u=u: l.get("id") == u)

    listed = [v["id"] for v in fleet.get_json("/api/v1/devices")["devices"]]
    assert set(ids) <= set(listed) and listed == sorted(listed)
    alive = {c["uuid"]: c for c in fleet.get_json("/api/clients/with_alive_status")}
    for i, u in enumerate(ids):
        c = alive[u]
        assert set(c) == ALIVE_KEYS, sorted(c)
        assert c["hostname"] == f"devsim-{i}" and c["ip"] == f"127.0.0.{i + 1}"
        assert c["description"] is None and c["group_id"] is None
        assert c["is_active"] is True and c["is_alive"] is True
        assert PY_NAIVE.match(c["last_alive"]), c["last_alive"]
    d.close()


def test_heartbeat_sets_last_alive_and_the_enhanced_fields(fleet):
    u = fleet.discover()
    v = fleet.device(u)
    assert v["last_alive"] is None and v["alive"] is False
    assert {c["uuid"]: c for c in fleet.get_json("/api/clients/with_alive_status")}[u][
        "is_alive"] is False, "never seen alive is not alive"
    fleet.heartbeat(u, timestamp=iso_z(), current_process="display_manager", process_pid=4242,
                    process_status="running", current_event_id=17)
    v = fleet.wait_device(u, lambda v: v["alive"], "alive")
    assert v["current_process"] == "display_manager" and v["process_pid"] == 4242
    assert v["process_status"] == "running" and v["current_event_id"] == 17
    assert ISO_MS_Z.match(v["last_alive"])
    # invalid values are ignored one by one; the valid ones and last_alive still apply
    first = v["last_alive"]
    time.sleep(0.005)
    fleet.heartbeat(u, process_status="exploded", process_pid="abc", current_event_id=[1],
                    current_process="kiosk")
    v = fleet.wait_device(u, lambda v: v["last_alive"] != first, "second heartbeat")
    assert v["process_status"] == "running" and v["process_pid"] == 4242
    assert v["current_event_id"] == 17 and v["current_process"] == "kiosk"
    # an empty heartbeat is a plain one
    second = v["last_alive"]
    time.sleep(0.005)
    fleet.publish(f"infoscreen/{u}/heartbeat", b"")
    v = fleet.wait_device(u, lambda v: v["last_alive"] != second, "empty heartbeat")
    assert v["process_pid"] == 4242 and v["current_process"] == "kiosk"
    # a new discovery updates what it carries
    fleet.discover(u, hostname="renamed", ip="192.0.2.99", wait=False)
    v = fleet.wait_device(u, lambda v: v["ip"] == "192.0.2.99", "new ip")
    assert v["hostname"] == "renamed" and v["process_pid"] == 4242
    # upper-case uuid in the topic: the same device
    third = v["last_alive"]
    time.sleep(0.005)
    fleet.heartbeat(u.upper(), process_status="stopped")
    v = fleet.wait_device(u, lambda v: v["last_alive"] != third, "upper-case topic")
    assert v["process_status"] == "stopped"


def seed_health(**over):
    h = {"timestamp": "2026-04-05T08:00:00.000000+00:00",
         "expected_state": {"event_id": 42},
         "actual_state": {"process": "display_manager", "pid": 1234, "status": "running"},
         "health_metrics": {"screen_health_status": "BLACK",
                            "last_frame_update": "2026-04-05T07:59:59Z"},
         "broker_connection": {"broker_reachable": True, "reconnect_count": 2,
                               "last_disconnect_at": "2026-04-04T10:30:00Z"}}
    h.update(over)
    return h


def test_health_maps_the_seed_fields_and_ignores_invalid_values(fleet):
    u = fleet.discover()
    h = seed_health()
    fleet.publish(f"infoscreen/{u}/health", h, qos=0)
    v = fleet.wait_device(u, lambda v: v["health"] is not None, "health")
    assert v["current_process"] == "display_manager" and v["process_pid"] == 1234
    assert v["process_status"] == "running" and v["current_event_id"] == 42
    assert v["screen_health_status"] == "BLACK"
    assert v["mqtt_reconnect_count"] == 2
    assert v["mqtt_last_disconnect_at"] == "2026-04-04T10:30:00.000Z"
    assert v["health"] == h and ISO_MS_Z.match(v["health_at"])
    # every field invalid: each is ignored, nothing it maps to moves
    bad = seed_health(
        expected_state={"event_id": "forty-two"},
        actual_state={"process": 17, "pid": 1.5, "status": "exploded"},
        health_metrics={"screen_health_status": "PURPLE"},
        broker_connection={"reconnect_count": "many", "last_disconnect_at": "yesterday"})
    at = v["health_at"]
    time.sleep(0.005)
    fleet.publish(f"infoscreen/{u}/health", bad, qos=0)
    v2 = fleet.wait_device(u, lambda v: v["health_at"] != at, "second health")
    for k in ("current_process", "process_pid", "process_status", "current_event_id",
              "screen_health_status", "mqtt_reconnect_count", "mqtt_last_disconnect_at"):
        assert v2[k] == v[k], (k, v2[k], v[k])
    # the seed's coercions: int("7"), a naive time is UTC, an offset is honoured
    at = v2["health_at"]
    time.sleep(0.005)
    fleet.publish(f"infoscreen/{u}/health", seed_health(
        actual_state={"process": "display_manager", "pid": 99, "status": "crashed"},
        health_metrics={"screen_health_status": "FROZEN"},
        broker_connection={"reconnect_count": "7", "last_disconnect_at": "2026-04-05T12:00:00"},
        expected_state={"event_id": None}), qos=0)
    v3 = fleet.wait_device(u, lambda v: v["health_at"] != at, "third health")
    assert v3["process_pid"] == 99 and v3["process_status"] == "crashed"
    assert v3["screen_health_status"] == "FROZEN" and v3["mqtt_reconnect_count"] == 7
    assert v3["mqtt_last_disconnect_at"] == "2026-04-05T12:00:00.000Z"
    at = v3["health_at"]
    time.sleep(0.005)
    fleet.publish(f"infoscreen/{u}/health", seed_health(
        broker_connection={"reconnect_count": 3,
                           "last_disconnect_at": "2026-04-05T14:00:00+02:00"}), qos=0)
    v4 = fleet.wait_device(u, lambda v: v["health_at"] != at, "fourth health")
    assert v4["mqtt_last_disconnect_at"] == "2026-04-05T12:00:00.000Z"
    assert v4["process_status"] == "running" and v4["mqtt_reconnect_count"] == 3


# ---------------------------------------------------------------- logs

def test_logs_are_persisted_and_read_back_with_their_filters(fleet):
    u = fleet.discover()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    t = [now - datetime.timedelta(seconds=30 - 10 * i) for i in range(3)]
    sent = [("error", "disk full", {"mount": "/", "free_mb": 3}),
            ("warn", "slow frame", {"ms": 250}),
            ("info", "playlist loaded", None)]
    for (lvl, msg, ctx), ts in zip(sent, t):
        fleet.publish(f"infoscreen/{u}/logs/{lvl}", {"timestamp": iso_z(ts), "message": msg,
                                                     "context": ctx}, qos=0 if lvl == "info" else 1)
    wait_until(lambda: logs_of(fleet, u)["count"] == 3, T(5), what="3 logs stored")
    body = logs_of(fleet, u)
    assert set(body) == {"client_uuid", "logs", "count"} and body["client_uuid"] == u
    logs = body["logs"]
    assert [l["message"] for l in logs] == ["playlist loaded", "slow frame", "disk full"]
    assert [l["level"] for l in logs] == ["INFO", "WARN", "ERROR"]
    for l, ts in zip(logs, reversed(t)):
        assert {"id", "timestamp", "level", "message", "context"} <= set(l) <= \
            {"id", "client_uuid", "timestamp", "level", "message", "context"}, l
        assert PY_NAIVE.match(l["timestamp"]) and parse_time(l["timestamp"]) == ts, l
        assert isinstance(l["id"], int)
    assert logs[2]["context"] == {"mount": "/", "free_mb": 3}
    assert logs[1]["context"] == {"ms": 250}
    assert logs[0]["context"] is None

    assert [l["message"] for l in logs_of(fleet, u, "level=ERROR")["logs"]] == ["disk full"]
    assert [l["message"] for l in logs_of(fleet, u, "level=warn")["logs"]] == ["slow frame"]
    assert logs_of(fleet, u, "level=DEBUG") == {"client_uuid": u, "logs": [], "count": 0}
    two = logs_of(fleet, u, "limit=2")
    assert two["count"] == 2 and [l["message"] for l in two["logs"]] == ["playlist loaded",
                                                                          "slow frame"]
    since = logs_of(fleet, u, f"since={iso_z(t[1])}")
    assert [l["message"] for l in since["logs"]] == ["playlist loaded", "slow frame"]
    both = logs_of(fleet, u, f"level=ERROR&limit=5&since={iso_z(t[0])}")
    assert [l["message"] for l in both["logs"]] == ["disk full"]
    # ours: the same rows with RFC 3339 times
    ours = logs_of(fleet, u, seed=False)
    assert ours["count"] == 3 and [l["id"] for l in ours["logs"]] == [l["id"] for l in logs]
    assert all(ISO_MS_Z.match(l["timestamp"]) for l in ours["logs"])
    assert parse_time(ours["logs"][2]["timestamp"]) == t[0]
    # bad filters and unknown devices
    for q in ("level=BOGUS", "limit=0", "limit=abc", "limit=1001", "since=yesterday"):
        for seed in (True, False):
            path = f"/api/client-logs/{u}/logs" if seed else f"/api/v1/devices/{u}/logs"
            assert fleet.get(f"{path}?{q}").status == 400, (path, q)
    for path in (f"/api/client-logs/{new_uuid()}/logs", f"/api/v1/devices/{new_uuid()}/logs"):
        r = fleet.get(path)
        assert r.status == 404 and "Client nicht gefunden" in r.body.decode(), r


def test_log_summary_recent_errors_and_monitoring_overview(fleet):
    u = fleet.discover(hostname="lobby-screen")
    fleet.heartbeat(u, process_status="running", current_process="display_manager")
    now = datetime.datetime.now(datetime.timezone.utc)
    for lvl, msg in (("error", "GPU hang"), ("error", "GPU hang again"), ("warn", "hot"),
                     ("info", "ok"), ("info", "still ok")):
        now += datetime.timedelta(milliseconds=10)
        fleet.publish(f"infoscreen/{u}/logs/{lvl}", {"timestamp": iso_z(now), "message": msg,
                                                     "context": {}})
    wait_until(lambda: logs_of(fleet, u)["count"] == 5, T(5), what="5 logs")

    s = fleet.get_json("/api/client-logs/summary")
    assert set(s) == {"summary", "period_hours", "timestamp"}, s
    assert s["period_hours"] == 24 and parse_time(s["timestamp"])
    assert s["summary"][u] == {"ERROR": 2, "WARN": 1, "INFO": 2}, s["summary"].get(u)

    e = fleet.get_json("/api/client-logs/recent-errors")
    assert {"errors", "count"} <= set(e), e
    assert e["count"] == len(e["errors"])
    mine = [x for x in e["errors"] if x["client_uuid"] == u]
    assert [x["message"] for x in mine] == ["GPU hang again", "GPU hang"]
    assert all(x["level"] == "ERROR" for x in e["errors"])
    stamps = [parse_time(x["timestamp"]) for x in e["errors"]]
    assert stamps == sorted(stamps, reverse=True)

    o = fleet.get_json("/api/client-logs/monitoring-overview")
    assert set(o) == {"clients", "summary", "timestamp"}, o.keys()
    (c,) = [c for c in o["clients"] if c["uuid"] == u]
    assert {"uuid", "description", "hostname", "ip", "groupId", "isAlive", "status",
            "lastAlive", "currentProcess", "processStatus", "screenHealthStatus",
            "logCounts24h", "latestLog", "latestError", "mqttReconnectCount",
            "mqttLastDisconnectAt"} <= set(c), sorted(c)
    assert c["hostname"] == "lobby-screen" and c["isAlive"] is True
    assert c["status"] == "warning", c               # alive, running, errors in the last 24 h
    assert c["logCounts24h"] == {"error": 2, "warn": 1}
    assert c["latestError"]["message"] == "GPU hang again"
    assert c["latestLog"]["message"] == "still ok"
    sm = o["summary"]
    assert {"totalClients", "onlineClients", "healthyClients", "warningClients",
            "criticalClients", "offlineClients", "errorLogs"} <= set(sm), sm
    assert sm["totalClients"] == len(o["clients"])
    assert sm["healthyClients"] + sm["warningClients"] + sm["criticalClients"] + \
        sm["offlineClients"] == sm["totalClients"]
    assert sm["errorLogs"] >= 2


def test_log_retention_keeps_the_newest_entries_per_device(fleet):
    u = fleet.discover()
    other = fleet.discover()
    fleet.publish(f"infoscreen/{other}/logs/warn", {"message": "neighbour", "context": None})
    base = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    for i in range(30):
        fleet.publish(f"infoscreen/{u}/logs/info",
                      {"timestamp": iso_z(base + datetime.timedelta(seconds=i)),
                       "message": f"m{i:02d}", "context": {"i": i}})
    wait_until(lambda: any(l["message"] == "m29" for l in
                           logs_of(fleet, u, "limit=1000")["logs"]), T(5), what="the last log")
    got = [l["message"] for l in logs_of(fleet, u, "limit=1000")["logs"]]
    assert len(got) <= RETENTION + RETENTION // 10, got
    assert got == [f"m{i:02d}" for i in range(29, 29 - len(got), -1)], got
    n = rows(fleet, "SELECT count(*) FROM device_logs WHERE client_uuid=?", u)[0][0]
    assert n == len(got)
    assert set(got) >= {f"m{i:02d}" for i in range(30 - RETENTION, 30)}, \
        f"the newest {RETENTION} entries are not all kept: {got}"
    assert [l["message"] for l in logs_of(fleet, other)["logs"]] == ["neighbour"]


def test_log_retention_days_prunes_entries_older_than_that():
    f = Fleet(env={"FLEET_LOG_RETENTION_DAYS": "2"})
    try:
        u = f.discover()
        for msg in ("ancient", "recent"):
            f.publish(f"infoscreen/{u}/logs/error", {"message": msg, "context": None})
        wait_until(lambda: logs_of(f, u)["count"] == 2, T(5), what="two logs")
        f.hub.kill9()
        db = sqlite3.connect(os.path.join(f.hub.data_dir, "showhub.db"))
        try:
            three_days = int(time.time() * 1000) - 3 * 86400 * 1000
            n = db.execute("UPDATE device_logs SET created_at=? WHERE message='ancient'",
                           (three_days,)).rowcount
            db.commit()
            assert n == 1
        finally:
            db.close()
        f.hub.start()
        wait_until(lambda: logs_of(f, u)["count"] == 1, T(5), what="the old entry pruned")
        assert [l["message"] for l in logs_of(f, u)["logs"]] == ["recent"]
    finally:
        f.close()


# ---------------------------------------------------------------- groups and deletion

def test_group_assignment_publishes_the_retained_group_id(fleet):
    u = fleet.discover()
    r = fleet.hub.request("PUT", f"/api/v1/devices/{u}", {"group_id": 3})
    assert r.status == 200, r
    v = fleet.wait_device(u, lambda v: v["group_id"] == 3, "group 3")
    m = retained(fleet.broker.port, f"infoscreen/{u}/group_id")
    assert m is not None and m.payload == b"3" and m.retain and m.qos == 1, m
    assert {c["uuid"]: c for c in fleet.get_json("/api/clients/with_alive_status")}[u][
        "group_id"] == 3
    # description and is_active in the same route
    r = fleet.hub.request("PUT", f"/api/v1/devices/{u}",
                          {"description": "Aula links", "is_active": False})
    assert r.status == 200, r
    v = fleet.wait_device(u, lambda v: v["description"] == "Aula links", "description")
    assert v["is_active"] is False and v["group_id"] == 3
    # a discovery is answered with the group
    mark = len(fleet.spy.msgs)
    fleet.discover(u, wait=False)
    _, ack = fleet.spy.wait(f"infoscreen/{u}/discovery_ack", start=mark)
    assert ack.json() == {"status": "ok", "uuid": u, "group_id": 3}
    # refused values change nothing
    for bad in ({"group_id": "3"}, {"group_id": -1}, {"group_id": 1.5}, {"is_active": "yes"},
                {"nonsense": 1}):
        r = fleet.hub.request("PUT", f"/api/v1/devices/{u}", bad)
        assert r.status == 400, (bad, r)
    assert fleet.device(u)["group_id"] == 3
    r = fleet.hub.request("PUT", f"/api/v1/devices/{new_uuid()}", {"group_id": 3})
    assert r.status == 404, r
    # unassigned: the retained message is cleared
    r = fleet.hub.request("PUT", f"/api/v1/devices/{u}", {"group_id": None})
    assert r.status == 200, r
    fleet.wait_device(u, lambda v: v["group_id"] is None, "no group")
    wait_until(lambda: retained(fleet.broker.port, f"infoscreen/{u}/group_id",
                                timeout=T(0.5)) is None, T(5), what="retained group_id cleared")


def test_bulk_group_assignment_is_all_or_nothing(fleet):
    a, b = fleet.discover(), fleet.discover()
    r = fleet.hub.request("PUT", "/api/v1/devices/group", {"ids": [a, b], "group_id": 5})
    assert r.status == 200, r
    for u in (a, b):
        fleet.wait_device(u, lambda v: v["group_id"] == 5, "group 5")
        m = retained(fleet.broker.port, f"infoscreen/{u}/group_id")
        assert m is not None and m.payload == b"5", m
    r = fleet.hub.request("PUT", "/api/v1/devices/group",
                          {"ids": [a, new_uuid(), b], "group_id": 7})
    assert r.status == 404, r
    for bad in ({"ids": [], "group_id": 7}, {"ids": [a], "group_id": "7"}, {"ids": a,
                                                                           "group_id": 7},
                {"ids": [a, 5], "group_id": 7}, {"group_id": 7}, {"ids": [a]}):
        r = fleet.hub.request("PUT", "/api/v1/devices/group", bad)
        assert r.status == 400, (bad, r)
    time.sleep(0.2)
    for u in (a, b):
        assert fleet.device(u)["group_id"] == 5
        assert retained(fleet.broker.port, f"infoscreen/{u}/group_id").payload == b"5"


def test_delete_removes_the_device_its_logs_commands_and_retained_topics(fleet):
    u = fleet.discover()
    keep = fleet.discover()
    intent_ok(fleet, "device.update", {"id": u, "group_id": 3})
    wait_until(lambda: retained(fleet.broker.port, f"infoscreen/{u}/group_id",
                                timeout=T(0.5)) is not None, T(5), what="retained group")
    fleet.publish(f"infoscreen/{u}/service_failed",
                  {"event": "service_failed", "unit": "infoscreen-simclient.service",
                   "client_uuid": u, "failed_at": iso_z()}, retain=True)
    fleet.wait_device(u, lambda v: v["service_failed_at"] is not None, "service_failed")
    assert f"service_failed:{u}" in fleet.alert_ids()
    fleet.publish(f"infoscreen/{u}/logs/error", {"message": "bye", "context": None})
    fleet.publish(f"infoscreen/{keep}/logs/error", {"message": "still here", "context": None})
    wait_until(lambda: logs_of(fleet, u)["count"] == 1, T(5), what="log")
    cid = fleet.issue("shutdown", u)["commandId"]
    assert rows(fleet, "SELECT count(*) FROM device_commands WHERE client_uuid=?", u)[0][0] == 1

    r = fleet.hub.request("DELETE", f"/api/v1/devices/{u}")
    assert r.status == 200, r
    assert fleet.device(u) is None
    assert u not in {c["uuid"] for c in fleet.get_json("/api/clients/with_alive_status")}
    assert u not in {v["id"] for v in fleet.get_json("/api/v1/devices")["devices"]}
    assert fleet.get(f"/api/client-logs/{u}/logs").status == 404
    r = fleet.get(f"/api/clients/commands/{cid}")
    assert r.status == 404 and r.json() == {"error": "Command nicht gefunden"}, r
    assert not [a for a in fleet.alerts()["alerts"] if a["device"] == u]
    for table in ("device_logs", "device_commands"):
        assert rows(fleet, f"SELECT count(*) FROM {table} WHERE client_uuid=?", u)[0][0] == 0
    assert rows(fleet, "SELECT count(*) FROM devices WHERE id=?", u)[0][0] == 0
    for t in ("group_id", "service_failed"):
        wait_until(lambda t=t: retained(fleet.broker.port, f"infoscreen/{u}/{t}",
                                        timeout=T(0.5)) is None, T(5),
                   what=f"retained {t} cleared")
    assert fleet.hub.wait_log("device_deleted", lambda l: l.get("id") == u)
    r = fleet.hub.request("DELETE", f"/api/v1/devices/{u}")
    assert r.status == 404, r
    # the neighbour is untouched; a rediscovered device starts empty
    assert [l["message"] for l in logs_of(fleet, keep)["logs"]] == ["still here"]
    fleet.discover(u)
    v = fleet.device(u)
    assert v["group_id"] is None and v["service_failed_at"] is None
    assert logs_of(fleet, u)["count"] == 0
    assert fleet.get_json(f"/api/v1/devices/{u}/commands") == {"commands": []}


def test_an_inactive_device_is_never_alive_nor_listed_as_crashed(fleet):
    u = fleet.discover()
    fleet.heartbeat(u, process_status="crashed")
    fleet.wait_device(u, lambda v: v["alive"] and v["process_status"] == "crashed", "crashed")
    wait_until(lambda: u in {c["uuid"] for c in fleet.get_json("/api/clients/crashed")[
        "clients"]}, T(3), what="listed as crashed")
    wait_until(lambda: f"process_crashed:{u}" in fleet.alert_ids(), T(3), what="crash alert")
    r = fleet.hub.request("PUT", f"/api/v1/devices/{u}", {"is_active": False})
    assert r.status == 200, r
    fleet.wait_device(u, lambda v: not v["is_active"] and not v["alive"], "inactive")
    fleet.heartbeat(u, process_status="crashed")
    processed(fleet, u)
    v = fleet.device(u)
    assert v["alive"] is False and v["is_active"] is False
    c = {c["uuid"]: c for c in fleet.get_json("/api/clients/with_alive_status")}[u]
    assert c["is_active"] is False and c["is_alive"] is False
    assert u not in {c["uuid"] for c in fleet.get_json("/api/clients/crashed")["clients"]}
    assert f"process_crashed:{u}" not in fleet.alert_ids()
    r = fleet.hub.request("PUT", f"/api/v1/devices/{u}", {"is_active": True})
    assert r.status == 200, r
    fleet.heartbeat(u, process_status="running")
    fleet.wait_device(u, lambda v: v["alive"] and v["is_active"], "active again")


def test_broker_restart_resubscribes_and_republishes_retained_groups():
    f = Fleet()
    try:
        d = f.devsim("--count", "1", "--seed", SEED + "b", *FAST)
        u = device_uuid(SEED + "b", 0)
        f.wait_device(u, lambda v: v["alive"], "alive")
        intent_ok(f, "device.update", {"id": u, "group_id": 4})
        d.event("group_id", uuid=u, group_id=4)
        f.broker.stop()                            # a broker without persistence: all forgotten
        f.broker.start()
        d.event("reconnected", uuid=u, timeout=T(10))
        f.hub.wait_readyz(T(10))
        # the hub subscribed again: heartbeats count, logs are stored
        seen = f.device(u)["last_alive"]
        f.wait_device(u, lambda v: v["last_alive"] != seen, "a heartbeat after the restart",
                      timeout=T(8))
        d.send("log 0 error after the restart")
        wait_until(lambda: logs_of(f, u)["count"] == 1, T(5), what="a log after the restart")
        # and published the retained group again
        m = wait_until(lambda: retained(f.broker.port, f"infoscreen/{u}/group_id",
                                        timeout=T(0.5)), T(8), what="group_id retained again")
        assert m.payload == b"4"
    finally:
        f.close()


# ---------------------------------------------------------------- service_failed

def sf_payload(u, unit="infoscreen-simclient.service", failed_at=None):
    p = {"event": "service_failed", "unit": unit, "client_uuid": u}
    if failed_at is not None:
        p["failed_at"] = failed_at
    return p


def test_service_failed_ingest_list_and_clear():
    f = Fleet()
    try:
        a, b, c = (f.discover() for _ in range(3))
        f.discover()                                   # a device without the flag
        f.heartbeat(a)
        f.publish(f"infoscreen/{a}/service_failed",
                  sf_payload(a, failed_at="2026-04-05T08:00:00Z"), retain=True)
        f.publish(f"infoscreen/{b}/service_failed",
                  sf_payload(b, unit="u" * 200, failed_at="2026-04-05T09:30:00.250Z"),
                  retain=True)
        f.publish(f"infoscreen/{c}/service_failed", sf_payload(c, unit="kiosk.service"),
                  retain=True)
        wait_until(lambda: f.get_json("/api/clients/service_failed")["service_failed_count"] == 3,
                   T(5), what="3 service_failed clients")
        body = f.get_json("/api/clients/service_failed")
        assert set(body) == {"service_failed_count", "clients"}, body
        assert [x["uuid"] for x in body["clients"]] == [c, b, a], "newest first"
        for x in body["clients"]:
            assert set(x) == SF_KEYS, sorted(x)
            assert PY_NAIVE.match(x["service_failed_at"]), x
        by = {x["uuid"]: x for x in body["clients"]}
        assert by[a]["service_failed_at"] == "2026-04-05T08:00:00"
        assert by[a]["service_failed_unit"] == "infoscreen-simclient.service"
        assert by[a]["is_alive"] is True and PY_NAIVE.match(by[a]["last_alive"])
        assert by[b]["service_failed_at"] == "2026-04-05T09:30:00.250000"
        assert by[b]["service_failed_unit"] == "u" * 128, "unit truncated to 128 characters"
        assert by[b]["is_alive"] is False and by[b]["last_alive"] is None
        now = datetime.datetime.now(datetime.timezone.utc)
        assert abs((parse_time(by[c]["service_failed_at"]) - now).total_seconds()) < 10
        alerts = {x["id"]: x for x in f.alerts()["alerts"]}
        for u in (a, b, c):
            al = alerts[f"service_failed:{u}"]
            assert set(al) == ALERT_KEYS and al["kind"] == "service_failed" and al["device"] == u
        assert f.hub.wait_log("service_failed", lambda l: l.get("uuid") == a)

        # an empty retained payload (the broker's message removed by hand) is ignored
        f.publish(f"infoscreen/{c}/service_failed", b"", retain=True)
        processed(f, c)
        assert f.device(c)["service_failed_unit"] == "kiosk.service"

        r = f.hub.request("POST", f"/api/clients/{a}/clear_service_failed")
        assert r.status == 200, r
        assert r.json() == {"success": True, "message": "service_failed Flag gelöscht."}
        wait_until(lambda: retained(f.broker.port, f"infoscreen/{a}/service_failed",
                                    timeout=T(0.5)) is None, T(5),
                   what="the broker's retained service_failed gone")
        empties = [m for m in f.spy.on(f"infoscreen/{a}/service_failed") if m.payload == b""]
        assert empties and empties[-1].qos == 1, empties
        body = f.get_json("/api/clients/service_failed")
        assert body["service_failed_count"] == 2 and [x["uuid"] for x in body["clients"]] == [c, b]
        v = f.device(a)
        assert v["service_failed_at"] is None and v["service_failed_unit"] is None
        assert f"service_failed:{a}" not in f.alert_ids()
        r = f.hub.request("POST", f"/api/clients/{a}/clear_service_failed")
        assert r.status == 200 and r.json() == {"success": True,
                                                "message": "Kein service_failed Flag gesetzt."}, r
        r = f.hub.request("POST", f"/api/clients/{new_uuid()}/clear_service_failed")
        assert r.status == 404 and r.json() == {"error": "Client nicht gefunden"}, r
        # the broker still holds b's retained alert: a restarted hub gets it again
        assert retained(f.broker.port, f"infoscreen/{b}/service_failed") is not None

        # a devsim device with --service-failed
        d = f.devsim("--count", "1", "--seed", SEED + "sf", "--service-failed", "1", *FAST)
        u = device_uuid(SEED + "sf", 0)
        wait_until(lambda: u in {x["uuid"] for x in
                                 f.get_json("/api/clients/service_failed")["clients"]},
                   T(5), what="devsim's service_failed listed")
        sent = json.loads(retained(f.broker.port, f"infoscreen/{u}/service_failed").payload)
        (x,) = [x for x in f.get_json("/api/clients/service_failed")["clients"] if x["uuid"] == u]
        assert x["service_failed_unit"] == sent["unit"]
        assert parse_time(x["service_failed_at"]) == parse_time(sent["failed_at"]).replace(
            microsecond=parse_time(sent["failed_at"]).microsecond // 1000 * 1000)
        r = f.hub.request("POST", f"/api/clients/{u}/clear_service_failed")
        assert r.status == 200, r
        wait_until(lambda: retained(f.broker.port, f"infoscreen/{u}/service_failed",
                                    timeout=T(0.5)) is None, T(5), what="devsim's alert cleared")
        d.close()
    finally:
        f.close()


# ---------------------------------------------------------------- ESP32 and v1 presence

def test_esp32_presence_online_offline_and_feedback_is_not_presence(fleet):
    eid = "esp32_97"
    marker = fleet.discover()
    fleet.publish(f"devices/{eid}/status", "online", retain=True)
    v = fleet.wait_device(eid, lambda v: v["presence"] == "online", "esp32 online")
    assert set(v) == ENTITY_KEYS and v["kind"] == "esp32" and v["alive"] is True
    before = fleet.rejected()
    for word in ("OK", "ERROR"):
        fleet.publish(f"devices/{eid}/status", word)
        processed(fleet, marker)
        assert fleet.device(eid) == v, f"{word} changed the ESP32"
    assert delta(fleet.rejected(), before) == {}
    fleet.publish(f"devices/{eid}/status", "offline", retain=True)
    off = fleet.wait_device(eid, lambda v: v["presence"] == "offline", "esp32 offline")
    assert off["alive"] is False
    fleet.publish(f"devices/{eid}/status", "OK")
    processed(fleet, marker)
    assert fleet.device(eid)["presence"] == "offline"
    # not an infoscreen: in neither of seed 004's lists nor in seed 000's /devices
    assert eid not in {c["uuid"] for c in fleet.get_json("/api/clients/with_alive_status")}
    assert eid not in {d["id"] for d in fleet.get_json("/devices")}
    # a real node: online, then its LWT when it dies
    d = fleet.devsim("--count", "0", "--esp32", "1", *FAST)
    fleet.wait_device("esp32_01", lambda v: v["presence"] == "online" and v["kind"] == "esp32",
                      "devsim esp32 online")
    d.kill9()
    fleet.wait_device("esp32_01", lambda v: v["presence"] == "offline", "LWT offline")


def test_v1_state_feeds_the_registry_and_get_devices_keeps_its_contract(fleet):
    t0 = int(time.time() * 1000)
    fleet.publish("v1/devices/lamp_97/state", "online", retain=True)
    fleet.publish("v1/devices/fog_97/state", json.dumps({"state": "online"}), retain=True)
    for i in ("lamp_97", "fog_97"):
        v = fleet.wait_device(i, lambda v: v["presence"] == "online", f"{i} online")
        assert v["kind"] == "v1" and set(v) == ENTITY_KEYS

    def mine():
        return {d["id"]: d for d in fleet.get_json("/devices") if d["id"] in ("lamp_97",
                                                                              "fog_97")}
    got = wait_until(lambda: len(mine()) == 2 and mine(), T(5), what="GET /devices")
    devs = fleet.get_json("/devices")
    assert isinstance(devs, list) and [d["id"] for d in devs] == sorted(d["id"] for d in devs)
    for d in devs:
        assert set(d) == {"id", "state", "since", "lastSeen"}, d
    for d in got.values():
        assert d["state"] == "online" and t0 - 1000 <= d["since"] <= int(time.time() * 1000)
    # only seed 000's devices: no infoscreens, no ESP32s
    kinds = {v["id"]: v["kind"] for v in fleet.get_json("/api/v1/devices")["devices"]}
    assert all(kinds.get(d["id"], "v1") == "v1" for d in devs), devs
    fleet.publish("v1/devices/lamp_97/state", "offline", retain=True)
    fleet.wait_device("lamp_97", lambda v: v["presence"] == "offline", "lamp offline")
    wait_until(lambda: mine()["lamp_97"]["state"] == "offline", T(5), what="/devices offline")
    assert mine()["fog_97"]["state"] == "online"


def test_a_cleared_retained_presence_is_not_malformed_input(fleet):
    """An empty retained payload is how a broker's retained message is removed: seed 000's
    GET /devices takes it as "forget the device" (and service_failed's empty payload is
    ignored): it is not malformed input."""
    fleet.publish("v1/devices/gone_97/state", "online", retain=True)
    fleet.publish("devices/esp32_gone/status", "online", retain=True)
    for i in ("gone_97", "esp32_gone"):
        fleet.wait_device(i, lambda v: v["presence"] == "online", f"{i} online")
    wait_until(lambda: "gone_97" in {d["id"] for d in fleet.get_json("/devices")}, T(5),
               what="gone_97 in GET /devices")
    before = fleet.rejected()
    fleet.publish("v1/devices/gone_97/state", b"", retain=True)
    fleet.publish("devices/esp32_gone/status", b"", retain=True)
    wait_until(lambda: "gone_97" not in {d["id"] for d in fleet.get_json("/devices")}, T(5),
               what="GET /devices forgot gone_97 (seed 000)")
    processed(fleet, fleet.discover())
    assert delta(fleet.rejected(), before) == {}, "a retained clear counted as malformed"


# ---------------------------------------------------------------- malformed input

@pytest.fixture(scope="module")
def target(fleet):
    """A registered device whose state only the test's messages could change."""
    u = fleet.discover(hostname="target", ip="192.0.2.97")
    fleet.heartbeat(u, current_process="display_manager", process_pid=7,
                    process_status="running", current_event_id=1)
    fleet.wait_device(u, lambda v: v["process_pid"] == 7, "target ready")
    return u


BIG = json.dumps({"message": "x" * 70000, "context": None})
GHOST = "0b0e2c3e-5f4a-4c4b-9a8e-6d1f2a3b4c5d"          # a valid uuid4 never registered


def cases():
    t = "infoscreen/{u}"
    return [
        # (id, topic template, payload, reason)
        ("hb-not-json", t + "/heartbeat", b"{nope", "not_json"),
        ("hb-array", t + "/heartbeat", b"[1, 2, 3]", "not_json"),
        ("hb-string", t + "/heartbeat", b'"online"', "not_json"),
        ("hb-number", t + "/heartbeat", b"42", "not_json"),
        ("hb-dup-keys", t + "/heartbeat", b'{"process_pid": 1, "process_pid": 2}', "not_json"),
        ("hb-not-utf8", t + "/heartbeat", b"\xff\xfe\xfd", "not_utf8"),
        ("hb-utf8-in-string", t + "/heartbeat", b'{"current_process": "a\xc3\x28"}', "not_utf8"),
        ("hb-70k", t + "/heartbeat", json.dumps({"current_process": "x" * 70000}).encode(),
         "too_large"),
        ("health-not-json", t + "/health", b"<health/>", "not_json"),
        ("health-array", t + "/health", b"[]", "not_json"),
        ("health-9k", t + "/health", json.dumps(seed_health(pad="y" * 9000)).encode(),
         "too_large"),
        ("log-70k", t + "/logs/error", BIG.encode(), "too_large"),
        ("log-not-json", t + "/logs/warn", b"disk full", "not_json"),
        ("log-message-int", t + "/logs/error", b'{"message": 5}', "bad_field"),
        ("log-no-message", t + "/logs/info", b'{"timestamp": "2026-04-05T08:00:00Z"}',
         "bad_field"),
        ("log-message-list", t + "/logs/info", b'{"message": ["a"]}', "bad_field"),
        ("log-not-utf8", t + "/logs/info", b'{"message": "\xe2\x82"}', "not_utf8"),
        ("sf-not-json", t + "/service_failed", b"failed!", "not_json"),
        ("sf-70k", t + "/service_failed",
         json.dumps({"event": "service_failed", "unit": "u" * 70000}).encode(), "too_large"),
        ("ack-70k", t + "/commands/ack",
         json.dumps({"command_id": GHOST, "status": "failed", "error_code": "x",
                     "error_message": "m" * 70000}).encode(), "too_large"),
        ("disc-not-utf8", "infoscreen/discovery", b'{"uuid": "\xff"}', "not_utf8"),
        ("ack-not-json", t + "/commands/ack", b"ok", "not_json"),
        ("ack-array", t + "/command/ack", b"[]", "bad_ack"),
        ("ack-bad-status", t + "/commands/ack",
         json.dumps({"command_id": GHOST, "status": "done", "error_code": None,
                     "error_message": None}).encode(), "bad_ack"),
        ("ack-bad-id", t + "/commands/ack",
         json.dumps({"command_id": "42", "status": "accepted", "error_code": None,
                     "error_message": None}).encode(), "bad_ack"),
        ("ack-code-int", t + "/commands/ack",
         json.dumps({"command_id": GHOST, "status": "failed", "error_code": 7,
                     "error_message": "x"}).encode(), "bad_ack"),
        ("hb-bad-uuid", "infoscreen/not-a-uuid/heartbeat", b"{}", "bad_uuid"),
        ("hb-uuid-plus", "infoscreen/{u}x/heartbeat", b"{}", "bad_uuid"),
        ("log-bad-uuid", "infoscreen/..%2F..%2Fetc/logs/error", b'{"message": "x"}', "bad_uuid"),
        ("ack-bad-uuid", "infoscreen/12345/commands/ack", b"{}", "bad_uuid"),
        ("disc-no-uuid", "infoscreen/discovery", b'{"hostname": "h"}', "bad_uuid"),
        ("disc-uuid-int", "infoscreen/discovery", b'{"uuid": 5}', "bad_uuid"),
        ("disc-uuid-path", "infoscreen/discovery", b'{"uuid": "../../etc/passwd"}', "bad_uuid"),
        ("disc-not-json", "infoscreen/discovery", b"hello", "not_json"),
        ("disc-70k", "infoscreen/discovery",
         json.dumps({"uuid": GHOST, "hostname": "x" * 70000}).encode(), "too_large"),
        ("hb-unknown", f"infoscreen/{GHOST}/heartbeat", b"{}", "unknown_device"),
        ("health-unknown", f"infoscreen/{GHOST}/health", json.dumps(seed_health()).encode(),
         "unknown_device"),
        ("log-unknown", f"infoscreen/{GHOST}/logs/error", b'{"message": "x"}', "unknown_device"),
        ("sf-unknown", f"infoscreen/{GHOST}/service_failed",
         json.dumps(sf_payload(GHOST)).encode(), "unknown_device"),
        ("esp-bad-word", "devices/esp32_bad/status", b"maybe", "bad_payload"),
        ("esp-bad-id", "devices/bad.id/status", b"online", "bad_field"),
        ("esp-long-id", "devices/" + "e" * 65 + "/status", b"online", "bad_field"),
    ]


@pytest.mark.parametrize("topic,payload,reason", [c[1:] for c in cases()],
                         ids=[c[0] for c in cases()])
def test_malformed_input_is_counted_and_changes_nothing(fleet, target, topic, payload, reason):
    topic = topic.format(u=target)
    before_v = fleet.device(target)
    before_n = len(fleet.get_json("/api/v1/devices")["devices"])
    before = fleet.rejected()
    logged = len(fleet.hub.logs("fleet_ingest_rejected"))
    fleet.publish(topic, payload)
    wait_until(lambda: fleet.rejected().get(reason, 0) >= before.get(reason, 0) + 1, T(5),
               what=f"fleet_ingest_rejected_total{{reason={reason!r}}} + 1 "
                    f"(moved: {delta(fleet.rejected(), before)})")
    assert delta(fleet.rejected(), before) == {reason: 1}
    assert fleet.get("/healthz").status == 200
    assert fleet.device(target) == before_v, "a refused message changed the device"
    assert len(fleet.get_json("/api/v1/devices")["devices"]) == before_n
    assert fleet.device(GHOST) is None
    wait_until(lambda: [l for l in fleet.hub.logs("fleet_ingest_rejected")[logged:]
                        if l.get("topic") == topic and l.get("reason") == reason and
                        l.get("error")], T(3),
               what=f"the log line fleet_ingest_rejected for {topic} ({reason})")
    # the hub still takes good messages
    processed(fleet, target)


def test_hostile_strings_are_stored_and_returned_verbatim(fleet):
    hostile = ["<script>alert('x')</script>", "'); DELETE FROM device_logs; --",
               "\u202eevil\u202c", "tab\tnew\nline \"q\" \\ back", "\U0001F525 emoji",
               "{{7*7}} ${jndi:ldap://x}", "%s%s%n%x"]
    u = fleet.discover(hostname=hostile[0], ip=hostile[1])
    v = fleet.device(u)
    assert v["hostname"] == hostile[0] and v["ip"] == hostile[1]
    for i, h in enumerate(hostile):
        fleet.publish(f"infoscreen/{u}/logs/warn", {"message": h, "context": {"v": h, "i": i}})
    wait_until(lambda: logs_of(fleet, u, "limit=100")["count"] == len(hostile), T(5),
               what="hostile logs stored")
    got = logs_of(fleet, u, "limit=100")["logs"]
    assert sorted(l["message"] for l in got) == sorted(hostile)
    assert all(l["context"]["v"] == l["message"] for l in got)
    # a too long hostname is not stored (the device stays as it was); the hub lives
    fleet.discover(u, hostname="h" * 300, wait=False)
    processed(fleet, u)
    assert fleet.device(u)["hostname"] == hostile[0]
    # the biggest accepted log message, and one byte more
    before = fleet.rejected()
    fleet.publish(f"infoscreen/{u}/logs/info", {"message": "m" * 8192})
    fleet.publish(f"infoscreen/{u}/logs/info", {"message": "m" * 8193})
    wait_until(lambda: fleet.rejected().get("bad_field", 0) > before.get("bad_field", 0), T(5),
               what="the 8193-byte message refused")
    wait_until(lambda: logs_of(fleet, u, "limit=100")["count"] == len(hostile) + 1, T(5),
               what="the 8192-byte message stored")
    assert fleet.get("/healthz").status == 200
    for path in ("/api/v1/devices", "/api/clients/with_alive_status",
                 "/api/client-logs/monitoring-overview", "/api/client-logs/recent-errors",
                 "/api/v1/state?rooms=devices"):
        fleet.get_json(path)                      # still valid JSON
