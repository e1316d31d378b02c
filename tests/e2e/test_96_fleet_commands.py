"""Seed 004's device command lifecycle, end to end: the REST routes with their exact bodies
and status codes, the v1 payload on the canonical, alias and legacy topics, devsim devices
acknowledging (completed, failed with codes, reboot with a reconnect, shutdown), the ACK rules
(a failed ACK needs its error, duplicates and late ACKs never regress, the topic's uuid must be
the command's, unknown ids), the safety lockout, the broker down or hung (500, never left
publish_in_progress), Idempotency-Key, the WS room "commands", DMX_API_KEY, and kill -9 of the
hub mid-lifecycle (nothing lost: late ACKs and the expiry sweep still resolve it).

One hub, broker and devsim fleet are shared by the module; tests that change the broker, the
configuration or kill the hub make their own.
"""
import datetime
import json
import os
import signal
import sqlite3
import time

import pytest

from fleettest import (EXPIRED_MESSAGE, FAST, ISO_Z, LOCKOUT_MESSAGE, PAYLOAD_KEYS, Fleet,
                       WsRecorder, check_camel, check_snake, command_msgs, delta, device_uuid,
                       is_uuid4, new_uuid, parse_time)
from hubtest import RawHttp, T, recv_type, retained, wait_until

SEED = "t96"
N = 6
# device roles in the shared devsim fleet
IGNORING, APP, REBOOT, FAILING, SHUTDOWN, WSDEV = range(N)
KEY = "fleet-k3y-0123456789abcdef"


@pytest.fixture(scope="module")
def fleet():
    f = Fleet()
    try:
        d = f.devsim("--count", str(N), "--seed", SEED, *FAST)
        f.sim = d
        f.ids = [device_uuid(SEED, i) for i in range(N)]
        for u in f.ids:
            f.wait_device(u, lambda v: v["alive"], "alive after discovery and a heartbeat")
        d.send(f"ack_mode {IGNORING} ignore")
        d.send(f"ack_mode {FAILING} fail:execution_failed")
        yield f
    finally:
        f.close()


def uid(fleet, i):
    return fleet.ids[i]


def seconds_between(a, b):
    return (parse_time(b) - parse_time(a)).total_seconds()


def wait_counter(read, key, at_least, what, timeout=None):
    """Wait until the counter dict read() has key >= at_least; returns the dict."""
    return wait_until(lambda: (lambda c: c if c.get(key, 0) >= at_least else None)(read()),
                      T(5) if timeout is None else timeout, interval=0.05, what=what)


def rows_of(fleet, cid):
    db = sqlite3.connect(f"file:{os.path.join(fleet.hub.data_dir, 'showhub.db')}?mode=ro",
                         uri=True)
    try:
        return db.execute("SELECT status FROM device_commands WHERE command_id=?",
                          (cid,)).fetchall()
    finally:
        db.close()


def journal_statuses(fleet, cid):
    """The statuses of command cid as the journal's patches carry them, in order."""
    out, since = [], 0
    for _ in range(100):
        page = fleet.get_json(f"/api/v1/journal?since={since}&limit=1000")
        for e in page["entries"]:
            for p in e.get("patches") or []:
                if p["path"] == f"devices.commands.{cid}" and p["value"] is not None:
                    out.append(p["value"]["status"])
        if not page["entries"]:
            return out
        since = page["next"]
    raise AssertionError("the journal did not end")


def sync_marker(fleet, u):
    """Issue a shutdown_host to u and wait until the spy saw it on the canonical topic: the
    hub publishes in order, so anything it published for u before is in the spy by then."""
    cmd = fleet.issue("shutdown", u)
    wait_until(lambda: command_msgs(fleet.spy, u, cmd["commandId"]), T(5),
               what="the marker command on the broker")
    return cmd


# ---------------------------------------------------------------- issuing

def test_restart_answers_202_and_publishes_the_v1_payload_on_every_topic(fleet):
    u = uid(fleet, IGNORING)
    t0 = datetime.datetime.now(datetime.timezone.utc)
    r = fleet.restart(u, {"reason": "  operator_request \n"})
    assert r.status == 202, r
    body = r.json()
    assert set(body) == {"success", "message", "command"}, body
    assert body["success"] is True
    assert body["message"] == f"Command published for client {u}"
    c = check_camel(body["command"])
    cid = c["commandId"]
    assert is_uuid4(cid), cid
    assert c["clientUuid"] == u and c["action"] == "reboot_host"
    assert c["status"] == "published", c          # this device never ACKs (ack_mode ignore)
    assert c["reason"] == "operator_request"
    assert c["requestedBy"] is None
    assert seconds_between(c["issuedAt"], c["expiresAt"]) == 240
    assert abs((parse_time(c["issuedAt"]) - t0).total_seconds()) < 5
    assert c["publishedAt"] is not None
    assert c["createdAt"] == c["issuedAt"]
    for k in ("ackedAt", "executionStartedAt", "completedAt", "failedAt", "errorCode",
              "errorMessage"):
        assert c[k] is None, (k, c)

    # the canonical topic and the alias: the same 8-key payload, QoS 1, not retained
    msgs = {}
    for alias in (False, True):
        wait_until(lambda: command_msgs(fleet.spy, u, cid, alias), T(5),
                   what=f"command on the {'alias' if alias else 'canonical'} topic")
        (m,) = command_msgs(fleet.spy, u, cid, alias)
        assert m.qos == 1 and not m.retain, m
        msgs[alias] = m
    assert msgs[False].payload == msgs[True].payload
    p = msgs[False].json()
    assert set(p) == PAYLOAD_KEYS, p
    assert p["schema_version"] == "1.0"
    assert p["command_id"] == cid and p["client_uuid"] == u
    assert p["action"] == "reboot_host"
    assert ISO_Z.match(p["issued_at"]) and ISO_Z.match(p["expires_at"]), p
    assert seconds_between(p["issued_at"], p["expires_at"]) == 240
    assert abs(seconds_between(p["issued_at"], c["issuedAt"])) < 1
    assert p["requested_by"] is None and p["reason"] == "operator_request"
    # the legacy restart topic, for the restart route only
    legacy = f"clients/{u}/restart"
    wait_until(lambda: fleet.spy.on(legacy), T(5), what="the legacy restart message")
    (lm,) = fleet.spy.on(legacy)
    assert json.loads(lm.payload) == {"action": "restart"}
    assert lm.qos == 1 and not lm.retain
    # commands are never retained
    assert retained(fleet.broker.port, f"infoscreen/{u}/commands", timeout=T(0.5)) is None
    assert retained(fleet.broker.port, legacy, timeout=T(0.3)) is None
    # the device got it (and, in ack_mode ignore, did nothing)
    ev = fleet.sim.event("command_received", uuid=u)
    assert ev["payload"] == p

    # the read route: the same command, camelCase
    assert fleet.command(cid) == c
    listed = [x for x in fleet.commands_of(u) if x["command_id"] == cid]
    assert len(listed) == 1 and listed[0]["status"] == "published"
    assert listed[0]["reason"] == "operator_request" and listed[0]["requested_by"] is None


@pytest.mark.parametrize("body,headers,want", [
    ({"reason": "  spaced out  "}, None, "spaced out"),
    ({"reason": "   "}, None, None),
    ({"reason": ""}, None, None),
    ({"reason": None}, None, None),
    ({}, None, None),
    (None, None, None),
    (b"this is not json", {"content-type": "application/json"}, None),
    (b"{\"reason\": ", {"content-type": "application/json"}, None),
    (b"reason=from+a+form", {"content-type": "application/x-www-form-urlencoded"}, None),
    (b"[\"reason\"]", {"content-type": "application/json"}, None),
])
def test_reason_is_trimmed_empty_is_null_and_a_bad_body_is_no_reason(fleet, body, headers, want):
    u = uid(fleet, IGNORING)
    r = fleet.shutdown(u, body, headers)
    assert r.status == 202, r
    c = check_camel(r.json()["command"])
    assert c["reason"] == want, c
    assert c["action"] == "shutdown_host" and c["status"] == "published"
    wait_until(lambda: command_msgs(fleet.spy, u, c["commandId"]), T(5), what="the command")
    assert command_msgs(fleet.spy, u, c["commandId"])[0].json()["reason"] == want


def test_restart_app_completes_with_every_transition(fleet):
    u = uid(fleet, APP)
    m0 = fleet.metrics()
    r = fleet.post_command(u, "restart_app", reason="deploy 4.2")
    assert r.status == 202, r
    body = r.json()
    assert body["success"] is True and body["message"] == f"Command published for client {u}"
    c = check_camel(body["command"])
    assert c["action"] == "restart_app" and c["reason"] == "deploy 4.2"
    done = fleet.wait_status(c["commandId"], "completed")
    stamps = [parse_time(done[k]) for k in ("issuedAt", "publishedAt", "ackedAt",
                                             "executionStartedAt", "completedAt")]
    assert stamps == sorted(stamps), done
    assert done["failedAt"] is None and done["errorCode"] is None and done["errorMessage"] is None
    assert parse_time(done["updatedAt"]) == stamps[-1]
    fleet.sim.event("executed", command_id=c["commandId"], action="restart_app")
    # no legacy message for restart_app
    assert not [m for m in fleet.spy.on(f"clients/{u}/restart")]
    (row,) = [x for x in fleet.commands_of(u) if x["command_id"] == c["commandId"]]
    assert row["status"] == "completed" and row["action"] == "restart_app"

    m1 = fleet.metrics()
    for st in ("queued", "publish_in_progress", "published", "ack_received",
               "execution_started", "completed"):
        assert fleet.commands_total("restart_app", st, m1) - \
            fleet.commands_total("restart_app", st, m0) == 1, st
    for h in ("fleet_command_accept_seconds_count", "fleet_command_complete_seconds_count"):
        assert fleet.metric(h, "", m1) - fleet.metric(h, "", m0) >= 1, h

    # devsim ACKs on both topics: the alias copies changed nothing
    got = wait_counter(fleet.acks_ignored, "terminal",
                       fleet.acks_ignored(m0).get("terminal", 0) + 1, "the duplicate completed")
    moved = delta(got, fleet.acks_ignored(m0))
    assert moved.get("backwards", 0) >= 2 and moved.get("terminal", 0) >= 1, moved
    # a late duplicate "accepted" after completion: ignored, nothing regresses
    before = fleet.acks_ignored()
    fleet.ack(c["commandId"], "accepted", u)
    fleet.ack(c["commandId"], "ACCEPTED ", u, alias=True)
    wait_counter(fleet.acks_ignored, "terminal", before.get("terminal", 0) + 2,
                 "the late duplicates ignored as terminal")
    assert fleet.command(c["commandId"]) == done


def test_reboot_host_drops_reconnects_and_completes_after_the_reconnect(fleet):
    u = uid(fleet, REBOOT)
    c = fleet.issue("restart", u)
    cid = c["commandId"]
    fleet.wait_status(cid, "execution_started")
    fleet.sim.event("disconnected", uuid=u)
    back = fleet.sim.event("reconnected", uuid=u, timeout=T(8))
    done = fleet.wait_status(cid, "completed", timeout=T(10))
    # completed came after the device was back (devsim: offline --reboot-delay 1 s)
    assert seconds_between(done["executionStartedAt"], done["completedAt"]) >= 0.9, done
    assert parse_time(done["completedAt"]) >= parse_time(back["t"]) - \
        datetime.timedelta(milliseconds=50)
    # the registry saw the reconnect (health broker_connection) and the device is alive
    v = fleet.wait_device(u, lambda v: v["mqtt_reconnect_count"] == 1 and v["alive"],
                          "reconnect counted")
    assert v["mqtt_last_disconnect_at"] is not None


def test_shutdown_host_completes_and_has_no_legacy_message(fleet):
    u = uid(fleet, SHUTDOWN)
    c = fleet.issue("shutdown", u, body={"reason": "end of day"})
    cid = c["commandId"]
    for alias in (False, True):
        wait_until(lambda: command_msgs(fleet.spy, u, cid, alias), T(5), what="command")
    done = fleet.wait_status(cid, "completed")
    assert done["reason"] == "end of day" and done["action"] == "shutdown_host"
    fleet.sim.event("disconnected", uuid=u)
    assert not fleet.spy.on(f"clients/{u}/restart"), "shutdown must not use the legacy topic"
    fleet.sim.send(f"resume {SHUTDOWN}")
    fleet.sim.event("reconnected", uuid=u)


def test_failed_ack_with_a_code_fails_the_command(fleet):
    u = uid(fleet, FAILING)
    c = fleet.issue("restart_app", u)
    done = fleet.wait_status(c["commandId"], "failed")
    assert done["errorCode"] == "execution_failed", done
    assert isinstance(done["errorMessage"], str) and done["errorMessage"], done
    assert done["failedAt"] is not None and done["completedAt"] is None
    assert done["ackedAt"] is not None and done["executionStartedAt"] is not None
    ack = [a for a in fleet.sim.events("ack_sent", command_id=c["commandId"])
           if a["status"] == "failed"][0]
    assert done["errorMessage"] == ack["error_message"]


# ---------------------------------------------------------------- ACK rules

def test_failed_ack_without_its_error_is_refused(fleet):
    u = uid(fleet, IGNORING)
    c = fleet.issue("shutdown", u)
    cid = c["commandId"]
    for code, msg in ((None, None), ("execution_failed", None), (None, "it broke"),
                      ("", "it broke"), ("execution_failed", "")):
        before = fleet.rejected()
        fleet.ack(cid, "failed", u, error_code=code, error_message=msg)
        wait_counter(fleet.rejected, "bad_ack", before.get("bad_ack", 0) + 1,
                     f"failed ACK ({code!r}, {msg!r}) refused as bad_ack")
        assert delta(fleet.rejected(), before) == {"bad_ack": 1}
        assert fleet.command(cid)["status"] == "published"
    # with both it fails the command
    fleet.ack(cid, "failed", u, error_code="permission_denied_local",
              error_message="helper refused")
    done = fleet.wait_status(cid, "failed")
    assert done["errorCode"] == "permission_denied_local"
    assert done["errorMessage"] == "helper refused"


def test_late_accepted_after_execution_started_is_ignored(fleet):
    u = uid(fleet, IGNORING)
    cid = fleet.issue("shutdown", u)["commandId"]
    fleet.ack(cid, "accepted", u)
    fleet.wait_status(cid, "ack_received")
    fleet.ack(cid, "execution_started", u)
    started = fleet.wait_status(cid, "execution_started")
    before = fleet.acks_ignored()
    fleet.ack(cid, "accepted", u)
    wait_counter(fleet.acks_ignored, "backwards", before.get("backwards", 0) + 1,
                 "the late accepted ignored")
    assert fleet.command(cid) == started, "a late accepted moved the command"
    fleet.ack(cid, "completed", u)
    done = fleet.wait_status(cid, "completed")
    assert done["ackedAt"] == started["ackedAt"]
    # and a failed after completed is ignored as terminal
    before = fleet.acks_ignored()
    fleet.ack(cid, "failed", u, error_code="execution_failed", error_message="late")
    wait_counter(fleet.acks_ignored, "terminal", before.get("terminal", 0) + 1, "terminal")
    assert fleet.command(cid) == done


def test_ack_on_another_devices_topic_is_ignored(fleet):
    u = uid(fleet, IGNORING)
    other = uid(fleet, WSDEV)
    stranger = new_uuid()                       # never registered
    cid = fleet.issue("shutdown", u)["commandId"]
    published = fleet.command(cid)
    for i, (topic_uuid, alias) in enumerate(((other, False), (other, True), (stranger, False))):
        before = fleet.acks_ignored()
        fleet.ack(cid, ("accepted", "completed", "execution_started")[i], topic_uuid,
                  alias=alias)
        wait_counter(fleet.acks_ignored, "wrong_device", before.get("wrong_device", 0) + 1,
                     f"the ACK on {topic_uuid}'s topic ignored")
        assert fleet.command(cid) == published
    fleet.ack(cid, "accepted", u, alias=True)     # its own (alias) topic still works
    fleet.wait_status(cid, "ack_received")


def test_ack_for_an_unknown_command_id_is_ignored(fleet):
    u = uid(fleet, IGNORING)
    cmds = fleet.commands_of(u)
    before, rej = fleet.acks_ignored(), fleet.rejected()
    ghost = new_uuid()
    fleet.ack(ghost, "completed", u)
    wait_counter(fleet.acks_ignored, "unknown_command", before.get("unknown_command", 0) + 1,
                 "the unknown command_id counted")
    assert fleet.get(f"/api/clients/commands/{ghost}").status == 404
    assert fleet.commands_of(u) == cmds
    assert delta(fleet.rejected(), rej) == {}
    assert fleet.get("/healthz").status == 200


# ---------------------------------------------------------------- refusals

def test_unknown_client_is_404_and_unknown_command_is_404(fleet):
    nobody = new_uuid()
    fleet.publish("devices/esp32_96/status", "online")     # an ESP32: not an infoscreen
    fleet.wait_device("esp32_96", lambda v: v["kind"] == "esp32", "esp32 registered")
    for target in (nobody, "esp32_96"):
        for r in (fleet.restart(target, {"reason": "x"}), fleet.shutdown(target),
                  fleet.post_command(target, "restart_app")):
            assert r.status == 404, r
            assert r.json() == {"error": "Client nicht gefunden"}, r
    for cid in (new_uuid(), "not-a-command-id", "x" * 36):
        r = fleet.get(f"/api/clients/commands/{cid}")
        assert r.status == 404, r
        assert r.json() == {"error": "Command nicht gefunden"}, r
    sync_marker(fleet, uid(fleet, IGNORING))
    assert not [m for m in fleet.spy.msgs if nobody in m.topic or "esp32_96/command" in m.topic]


def test_unsupported_action_is_400(fleet):
    u = uid(fleet, IGNORING)
    before = fleet.commands_of(u)
    for action in ("bogus", "restart", "reboot_hosts", "REBOOT_HOST"):
        r = fleet.post_command(u, action)
        assert r.status == 400, r
        assert r.json() == {"error": f"Unsupported action '{action}'"}, r
    assert fleet.commands_of(u) == before


def test_safety_lockout_blocks_the_fourth_reboot_not_shutdown(fleet):
    u = fleet.discover()
    m0 = fleet.metrics()
    issued = [fleet.issue("restart", u), fleet.issue("restart", u),
              fleet.issue("restart_app", u)]
    r = fleet.restart(u, {"reason": "one more"})
    assert r.status == 429, r
    body = r.json()
    assert set(body) == {"success", "message", "command"}, body
    assert body["success"] is False and body["message"] == LOCKOUT_MESSAGE
    b = check_camel(body["command"])
    assert b["status"] == "blocked_safety" and b["action"] == "reboot_host"
    assert b["errorCode"] == "lockout_threshold"
    assert b["errorMessage"] == "Reboot lockout active for this client"
    assert b["failedAt"] is not None and b["publishedAt"] is None
    assert b["reason"] == "one more"
    assert fleet.command(b["commandId"]) == b
    # the fifth (restart_app, our route) too: blocked rows count
    r = fleet.post_command(u, "restart_app")
    assert r.status == 429, r
    b5 = r.json()
    assert b5["success"] is False and b5["message"] == LOCKOUT_MESSAGE
    assert check_camel(b5["command"])["status"] == "blocked_safety"
    assert b5["command"]["action"] == "restart_app"
    # shutdown is never locked out
    for _ in range(2):
        assert fleet.shutdown(u).status == 202
    sync_marker(fleet, u)
    for blocked in (b, b5["command"]):
        assert not command_msgs(fleet.spy, u, blocked["commandId"]), "a blocked command went out"
        assert not command_msgs(fleet.spy, u, blocked["commandId"], alias=True)
    assert len(fleet.spy.on(f"clients/{u}/restart")) == 2      # the two published restarts
    for c in issued:
        assert len(command_msgs(fleet.spy, u, c["commandId"])) == 1
    m1 = fleet.metrics()
    for action in ("reboot_host", "restart_app"):
        assert fleet.commands_total(action, "blocked_safety", m1) - \
            fleet.commands_total(action, "blocked_safety", m0) == 1, action
    statuses = sorted(c["status"] for c in fleet.commands_of(u))
    assert statuses.count("blocked_safety") == 2 and len(statuses) == 8, statuses


def test_idempotency_key_returns_the_first_command_and_publishes_once(fleet):
    u = fleet.discover()
    key = f"idem-{new_uuid()}"
    r1 = fleet.restart(u, {"reason": "once"}, headers={"Idempotency-Key": key})
    r2 = fleet.restart(u, {"reason": "once"}, headers={"Idempotency-Key": key})
    assert r1.status == 202 and r2.status == 202, (r1, r2)
    c1, c2 = check_camel(r1.json()["command"]), check_camel(r2.json()["command"])
    assert c1["commandId"] == c2["commandId"]
    assert r2.json()["message"] == f"Command published for client {u}"
    key2 = f"idem-{new_uuid()}"
    a1 = fleet.post_command(u, "restart_app", headers={"Idempotency-Key": key2})
    a2 = fleet.post_command(u, "restart_app", headers={"Idempotency-Key": key2})
    assert a1.status == 202 and a2.status == 202, (a1, a2)
    assert a1.json()["command"]["commandId"] == a2.json()["command"]["commandId"]
    sync_marker(fleet, u)
    assert len(command_msgs(fleet.spy, u, c1["commandId"])) == 1
    assert len(command_msgs(fleet.spy, u, a1.json()["command"]["commandId"])) == 1
    assert len(fleet.spy.on(f"clients/{u}/restart")) == 1
    assert [c["action"] for c in fleet.commands_of(u)].count("reboot_host") == 1
    # the repeats were not counted towards the lockout: a third reboot-like command passes
    assert fleet.restart(u).status == 202


# ---------------------------------------------------------------- WS room "commands"

def test_ws_room_commands_gets_every_transition_and_nothing_else(fleet):
    ws = WsRecorder(fleet.hub, ["commands"])
    try:
        snap = ws.snapshot["state"]
        assert set(snap) == {"devices"} and set(snap["devices"]) == {"commands"}, snap.keys()
        for cid, c in snap["devices"]["commands"].items():
            assert check_snake(c)["command_id"] == cid
        u = uid(fleet, WSDEV)
        cid = fleet.issue("restart_app", u)["commandId"]
        path = f"devices.commands.{cid}"
        ws.wait(lambda: any(p == path and v and v["status"] == "completed"
                            for _, p, v in ws.patches()), T(8), "the completed patch")
        mine = [v for _, p, v in ws.patches() if p == path]
        assert [v["status"] for v in mine] == ["publish_in_progress", "published", "ack_received",
                                               "execution_started", "completed"], mine
        for v in mine:
            check_snake(v)
        (row,) = [x for x in fleet.commands_of(u) if x["command_id"] == cid]
        assert mine[-1] == row
        seqs = [s for s, _, _ in ws.patches()]
        assert seqs == sorted(seqs)
        # the same through a WS intent (docs/fleet.md): one result, then the patches
        w2 = fleet.hub.ws()
        try:
            assert w2.recv_json()["type"] == "state"
            w2.send_json({"type": "hello", "rooms": ["devices"]})
            snap2 = recv_type(w2, "snapshot")["state"]
            assert set(snap2) == {"devices"} and "registry" in snap2["devices"], snap2.keys()
            assert "commands" not in snap2["devices"], "room devices carries the commands"
            assert u in snap2["devices"]["registry"]
            w2.send_json({"type": "intent", "req_id": "ws-cmd-1", "name": "device.command",
                          "payload": {"device": u, "action": "restart_app", "reason": "ws"}})
            res = recv_type(w2, "result", skip=("state", "patch", "event"))
            assert res["ok"] is True and res["req_id"] == "ws-cmd-1", res
        finally:
            w2.close()
        ws.wait(lambda: any(v and v["reason"] == "ws" and v["status"] == "completed"
                            for _, p, v in ws.patches()), T(8), "the WS command completed")
        # devsim heartbeats changed the registry all along: none of it reached this room
        others = [p for _, p, _ in ws.patches() if not p.startswith("devices.commands.")]
        assert not others, others[:5]
    finally:
        ws.close()


def test_reason_longer_than_the_schema_allows_is_never_published(fleet):
    u = uid(fleet, IGNORING)
    ok = fleet.shutdown(u, {"reason": "r" * 2000})
    assert ok.status == 202, ok
    cid = ok.json()["command"]["commandId"]
    wait_until(lambda: command_msgs(fleet.spy, u, cid), T(5), what="the 2000-character reason")
    assert command_msgs(fleet.spy, u, cid)[0].json()["reason"] == "r" * 2000
    n = len(fleet.commands_of(u))
    r = fleet.shutdown(u, {"reason": "r" * 2001})
    if r.status == 202:                  # truncated would do too; never over the schema's 2000
        assert len(r.json()["command"]["reason"]) <= 2000, r
    else:
        assert r.status == 400 and "2000" in r.json()["error"], r
        assert len(fleet.commands_of(u)) == n
    sync_marker(fleet, u)
    assert all(len(m.json()["reason"] or "") <= 2000
               for m in fleet.spy.on(f"infoscreen/{u}/commands"))


def test_numeric_reason_is_its_text_as_the_seed_str_makes_it(fleet):
    u = uid(fleet, IGNORING)
    r = fleet.shutdown(u, {"reason": 42})
    assert r.status == 202, r
    assert r.json()["command"]["reason"] == "42", r.json()["command"]


def test_requested_by_is_passed_on(fleet):
    u = uid(fleet, IGNORING)
    r = fleet.shutdown(u, {"reason": "by an operator", "requested_by": 7})
    assert r.status == 202, r
    c = r.json()["command"]
    assert c["requestedBy"] == 7, c
    wait_until(lambda: command_msgs(fleet.spy, u, c["commandId"]), T(5), what="the command")
    assert command_msgs(fleet.spy, u, c["commandId"])[0].json()["requested_by"] == 7


def test_concurrent_requests_each_answered_and_published_once(fleet):
    devs = [fleet.discover(wait=False) for _ in range(12)]
    for u in devs:
        fleet.wait_device(u, lambda v: True, "registered")
    key = f"burst-{new_uuid()}"
    reqs = [(u, RawHttp.build("POST", f"/api/clients/{u}/restart", {"reason": f"burst {u[:8]}"}))
            for u in devs]
    reqs += [(devs[0], RawHttp.build("POST", f"/api/clients/{devs[0]}/shutdown", None,
                                     {"Idempotency-Key": key})) for _ in range(4)]
    conns = [RawHttp(fleet.hub.port) for _ in reqs]
    try:
        for c, (_, raw) in zip(conns, reqs):
            c.send(raw)
        answers = [c.read() for c in conns]
    finally:
        for c in conns:
            c.close()
    for (u, _), a in zip(reqs, answers):
        assert a.status == 202, a
        assert a.json()["command"]["clientUuid"] == u
    ids = [a.json()["command"]["commandId"] for a in answers]
    assert len(set(ids[:12])) == 12 and len(set(ids[12:])) == 1, ids
    for u in devs:
        sync_marker(fleet, u)
    for (u, _), cid in zip(reqs[:13], ids[:13]):
        assert len(command_msgs(fleet.spy, u, cid)) == 1, (u, cid)
        assert fleet.command(cid)["status"] == "published"


# ---------------------------------------------------------------- other configurations

def test_custom_topic_root_and_expiry():
    f = Fleet(env={"FLEET_TOPIC_ROOT": "signage", "COMMAND_EXPIRY_SECONDS": "300"})
    try:
        f.devsim("--count", "1", "--seed", SEED + "root", "--root", "signage", *FAST)
        u = device_uuid(SEED + "root", 0)
        f.wait_device(u, lambda v: v["alive"], "registered under signage/")
        c = f.issue("restart_app", u)
        assert seconds_between(c["issuedAt"], c["expiresAt"]) == 300
        f.wait_status(c["commandId"], "completed")
        (m,) = [m for m in f.spy.msgs if m.topic == f"signage/{u}/commands"]
        p = m.json()
        assert seconds_between(p["issued_at"], p["expires_at"]) == 300
        assert not [m for m in f.spy.msgs if m.topic.startswith(f"infoscreen/{u}/")]
        # the default root is not listened to any more
        stranger = new_uuid()
        f.publish("infoscreen/discovery", {"uuid": stranger})
        f.publish(f"signage/{u}/heartbeat", {})
        time.sleep(0.3)
        assert f.device(stranger) is None
    finally:
        f.close()



def test_compat_topics_off_publishes_only_the_canonical_topic():
    f = Fleet(env={"FLEET_COMPAT_TOPICS": "false"})
    try:
        u = f.discover()
        c = f.issue("restart", u)
        sync_marker(f, u)
        (m,) = command_msgs(f.spy, u, c["commandId"])
        assert set(m.json()) == PAYLOAD_KEYS and m.qos == 1
        assert not f.spy.on(f"infoscreen/{u}/command"), "alias published with compat off"
        assert not f.spy.on(f"clients/{u}/restart"), "legacy published with compat off"
    finally:
        f.close()


def test_broker_hung_or_down_answers_500_and_leaves_nothing_in_flight():
    f = Fleet()
    try:
        u = f.discover()
        prefix = "Failed to publish command: "

        def check_500(r, action):
            assert r.status == 500, r
            body = r.json()
            assert set(body) == {"success", "error", "command"}, body
            assert body["success"] is False and body["error"].startswith(prefix), body
            c = check_camel(body["command"])
            assert c["status"] == "failed" and c["action"] == action
            assert c["errorCode"] == "mqtt_publish_failed"
            assert c["errorMessage"] and body["error"] == prefix + c["errorMessage"]
            assert c["failedAt"] is not None and c["publishedAt"] is None
            assert f.command(c["commandId"]) == c
            return c

        # hung: the broker takes the bytes but never answers (seed 004 waits 5 s)
        f.broker.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            hung = check_500(f.restart(u, {"reason": "hung"}), "reboot_host")
            assert time.monotonic() - t0 < T(8)
        finally:
            f.broker.proc.send_signal(signal.SIGCONT)
        f.hub.wait_readyz()
        # down
        f.broker.stop()
        t0 = time.monotonic()
        down = check_500(f.restart(u), "reboot_host")
        check_500(f.shutdown(u), "shutdown_host")
        assert time.monotonic() - t0 < T(8)
        time.sleep(2.5)                         # a couple of sweeps: nothing moves
        cmds = f.commands_of(u)
        assert {c["status"] for c in cmds} == {"failed"}, cmds
        assert f.command(down["commandId"])["status"] == "failed"
        assert f.command(hung["commandId"])["status"] == "failed"

        f.broker.start()
        f.hub.wait_readyz(T(10))
        spy = f.client()
        spy.subscribe(f"infoscreen/{u}/#")
        c = f.issue("restart", u)
        assert c["status"] == "published"
        spy.wait(f"infoscreen/{u}/commands", pred=lambda m: m.json()["command_id"] ==
                 c["commandId"])
        time.sleep(0.3)
        assert [m.json()["command_id"] for m in spy.on(f"infoscreen/{u}/commands")] == \
            [c["commandId"]], "a failed command was published after the broker came back"
    finally:
        f.close()


def test_api_key_guards_every_fleet_mutation():
    f = Fleet(env={"DMX_API_KEY": KEY})
    try:
        u = f.discover()
        good = {"x-api-key": KEY}
        attempts = [
            ("POST", f"/api/clients/{u}/restart", {"reason": "x"}),
            ("POST", f"/api/clients/{u}/shutdown", None),
            ("POST", f"/api/v1/devices/{u}/commands", {"action": "restart_app"}),
            ("POST", f"/api/clients/{u}/clear_service_failed", None),
            ("PUT", f"/api/v1/devices/{u}", {"group_id": 3}),
            ("PUT", "/api/v1/devices/group", {"ids": [u], "group_id": 4}),
            ("DELETE", f"/api/v1/devices/{u}", None),
        ]
        for method, path, body in attempts:
            for headers in ({}, {"x-api-key": "wrong"}, {"x-api-key": KEY[:-1]}):
                r = f.hub.request(method, path, body, headers)
                assert r.status == 401, (method, path, headers, r)
        v = f.device(u)
        assert v is not None and v["group_id"] is None
        assert f.commands_of(u) == []
        assert not f.spy.on(f"infoscreen/{u}/commands")
        # reads stay open
        for path in ("/api/clients/with_alive_status", "/api/v1/devices", "/api/v1/alerts",
                     f"/api/v1/devices/{u}/commands", "/api/clients/crashed"):
            assert f.get(path).status == 200, path
        r = f.restart(u, {"reason": "with key"}, headers=good)
        assert r.status == 202, r
        assert r.json()["command"]["reason"] == "with key"
        assert f.hub.request("PUT", f"/api/v1/devices/{u}", {"group_id": 3}, good).status == 200
    finally:
        f.close()


# ---------------------------------------------------------------- kill -9

def test_kill9_mid_lifecycle_loses_nothing_late_acks_and_the_sweep_resolve_it():
    f = Fleet()
    try:
        d = f.devsim("--count", "1", "--seed", SEED + "k", *FAST, "--ack-mode", "accept_only")
        u = device_uuid(SEED + "k", 0)
        f.wait_device(u, lambda v: v["alive"], "alive")
        c = f.issue("restart_app", u, reason="before the crash")
        cid = c["commandId"]
        acked = f.wait_status(cid, "ack_received")          # the device only says accepted
        # a device at the lockout threshold, and an Idempotency-Key, before the crash
        locked = f.discover()
        for _ in range(3):
            f.issue("restart", locked)
        key = f"kill9-{new_uuid()}"
        idem = f.shutdown(locked, headers={"Idempotency-Key": key})
        assert idem.status == 202, idem
        f.hub.kill9()
        f.hub.start()
        f.hub.wait_readyz()
        r = f.restart(locked)
        assert r.status == 429 and r.json()["command"]["status"] == "blocked_safety", r
        again = f.shutdown(locked, headers={"Idempotency-Key": key})
        assert again.status == 202, again
        assert again.json()["command"]["commandId"] == idem.json()["command"]["commandId"]
        sync_marker(f, locked)
        assert len(command_msgs(f.spy, locked, idem.json()["command"]["commandId"])) == 1
        after = f.command(cid)
        assert after == acked, "the command changed across kill -9"
        assert [x["command_id"] for x in f.commands_of(u)] == [cid]
        assert rows_of(f, cid) == [("ack_received",)]
        # the device finishes late: its ACKs still resolve the command
        f.ack(cid, "execution_started", u)
        f.ack(cid, "completed", u, alias=True)
        done = f.wait_status(cid, "completed")
        assert done["ackedAt"] == acked["ackedAt"] and done["reason"] == "before the crash"

        # a command the device never answers; the hub dies; its expiry passes while it is down
        d.send("ack_mode 0 ignore")
        c2 = f.issue("shutdown", u)
        cid2 = c2["commandId"]
        cid3 = f.issue("shutdown", u)["commandId"]
        f.hub.kill9()
        db = sqlite3.connect(os.path.join(f.hub.data_dir, "showhub.db"))
        try:
            row = db.execute("SELECT status, expires_at FROM device_commands WHERE command_id=?",
                             (cid2,)).fetchone()
            assert row is not None and row[0] == "published", row
            past = int(time.time() * 1000) - 5000
            db.execute("UPDATE device_commands SET expires_at=? WHERE command_id=?",
                       (past, cid2))
            # one caught between its journal entry and the broker's PUBACK
            db.execute("UPDATE device_commands SET expires_at=?, status='publish_in_progress',"
                       " published_at=NULL WHERE command_id=?", (past, cid3))
            db.commit()
        finally:
            db.close()
        f.hub.start()
        expired = f.wait_status(cid2, "expired", timeout=T(6))
        assert expired["errorCode"] == "expired"
        assert expired["errorMessage"] == EXPIRED_MESSAGE
        assert expired["failedAt"] is not None and expired["completedAt"] is None
        assert parse_time(expired["expiresAt"]) < parse_time(expired["failedAt"])
        expired3 = f.wait_status(cid3, "expired", timeout=T(3))
        assert expired3["errorCode"] == "expired" and expired3["publishedAt"] is None
        sweep = f.hub.wait_log("command_expiry_sweep")
        assert sweep["expired"] == 2, sweep
        assert f.commands_total("shutdown_host", "expired") == 2
        # the completed one was not touched by the sweep
        assert f.command(cid) == done
        # a late ACK cannot revive it
        before = f.acks_ignored()
        f.ack(cid2, "completed", u)
        wait_counter(f.acks_ignored, "terminal", before.get("terminal", 0) + 1, "terminal")
        assert f.command(cid2) == expired
        # the journal holds every step of both, across the two crashes
        assert journal_statuses(f, cid) == ["publish_in_progress", "published", "ack_received",
                                            "execution_started", "completed"]
        assert journal_statuses(f, cid2) == ["publish_in_progress", "published", "expired"]
    finally:
        f.close()
