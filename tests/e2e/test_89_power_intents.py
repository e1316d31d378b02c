"""Seed 004's group power intents (phase 1, issue 10 §3), end to end, as a screen sees them: the
retained QoS 1 infoscreen/groups/<group_id>/power/intent with exactly the v1 keys in order,
expiry max(multiplier × poll, minimum), OFF with [] and nulls, a new intent_id on a transition
and on an edit or delete, heartbeats every poll keeping it, adjacent and overlapping events as
one window (never an OFF at the seam, every message watched), a fresh subscriber getting the
retained intent, the broker restarted without persistence (the cached intents republished at
once), heartbeats disabled, publishing disabled (GET /api/v1/power still has them), a restart
mid-window keeping the intent_id (docs/decisions/schedules.md), a fleet group without events,
and the metrics.

One hub (POLL_INTERVAL_SECONDS=1, POWER_INTENT_PUBLISH_ENABLED=true,
POWER_INTENT_MIN_EXPIRY_SECONDS=5), broker, spy and devsim are shared by the module; tests that
need another configuration, a restart or the broker stopped start their own. All on 127.0.0.1;
every wait is bounded.
"""
import time

import pytest

from fleettest import FAST, Fleet, device_uuid
from hubtest import MqttClient, T, retained, wait_until
from schedtest import (S, check_intent, create, delete, event_body, events, mark, metric,
                       now_s, on, ordered, parse, ts, ts_left, wall, z)

SEED = "t43"
ENV = {"POLL_INTERVAL_SECONDS": "1", "POWER_INTENT_PUBLISH_ENABLED": "true",
       "POWER_INTENT_MIN_EXPIRY_SECONDS": "5"}
LIFE = 5            # max(3 × 1 s, 5 s): the minimum wins
EDGE = 1.6          # a window edge is seen within a poll plus this much slack


@pytest.fixture(scope="module")
def rig():
    f = Fleet(env=ENV)
    try:
        yield f
    finally:
        f.close()


def topic(g, root="infoscreen"):
    return f"{root}/groups/{g}/power/intent"


def intents(client, g, start=0):
    """(message, body with its key order) of every intent of group g the client got."""
    return [(m, ordered(m.payload)) for m in on(client, topic(g), start)]


def wait_intent(client, g, pred=None, timeout=None, start=0):
    """(index, message, body) of the first intent of g at index >= start matching pred."""
    idx, m = client.wait(topic(g), pred=lambda m: pred is None or pred(ordered(m.payload)),
                         timeout=T(3) if timeout is None else timeout, start=start)
    return idx, m, ordered(m.payload)


def power(hub):
    r = hub.get("/api/v1/power")
    assert r.status == 200, r
    return r.json()


def power_of(hub, g):
    got = [x for x in power(hub)["groups"] if x["group_id"] == g]
    assert len(got) <= 1, got
    return got[0] if got else None


def fresh(port, g, pred=None, timeout=None):
    """The retained intent of g as a new subscriber gets it (waiting for pred)."""
    def get():
        m = retained(port, topic(g), timeout=T(0.5))
        return m if m is not None and (pred is None or pred(ordered(m.payload))) else None
    return wait_until(get, T(3) if timeout is None else timeout, interval=0.1,
                      what=f"the retained intent of group {g}")


# ---------------------------------------------------------------- the body

def test_off_intent_exact_body_retained_qos1_and_heartbeat(rig):
    h, spy = rig.hub, rig.spy
    g = 4301
    m0 = mark(spy)
    d = now_s(86400)
    ev = create(h, event_body(g, "Tomorrow", d, d + 3600 * S))
    _, m, body = wait_intent(spy, g, timeout=T(1.5), start=m0)
    check_intent(body, g, 1, LIFE)
    assert body["desired_state"] == "off", body
    assert m.qos == 1, m                # published at QoS 1 (the spy subscribed at 1)
    # heartbeats every poll: the same intent_id, issued_at/expires_at refreshed
    time.sleep(2.3)
    got = intents(spy, g, m0)
    assert len(got) >= 3, got
    ids = {b["intent_id"] for _, b in got}
    assert ids == {body["intent_id"]}, ids
    issued = [parse(b["issued_at"]) for _, b in got]
    gaps = [(b - a).total_seconds() for a, b in zip(issued, issued[1:])]
    assert all(0.5 <= x <= T(1.6) for x in gaps), gaps
    for _, b in got:
        check_intent(b, g, 1, LIFE)
    # a fresh subscriber gets the retained one, QoS 1, exactly as published last
    r = fresh(rig.broker.port, g)
    assert r.retain and r.qos == 1, r
    assert ordered(r.payload)["intent_id"] == body["intent_id"]
    check_intent(ordered(r.payload), g, 1, LIFE)
    # the API has the current one
    p = power(h)
    assert p["publish_enabled"] is True and p["heartbeat_enabled"] is True, p
    mine = power_of(h, g)
    assert list(mine) == ["group_id", "expired", "intent"] and mine["expired"] is False, mine
    assert mine["intent"]["intent_id"] == body["intent_id"], mine
    check_intent(mine["intent"], g, 1, LIFE)
    delete(h, ev["id"])


def test_transitions_get_new_ids_and_heartbeats_keep_them(rig):
    h, spy = rig.hub, rig.spy
    g = 4302
    s, e = now_s(3), now_s(3) + 4 * S
    t0 = rig.metric("power_intent_transitions_total")
    m0 = mark(spy)
    ev = create(h, event_body(g, "Show", s, e))
    try:
        wait_intent(spy, g, lambda b: b["desired_state"] == "on", ts_left(s) + T(EDGE), m0)
        # a fresh subscriber mid-window gets the ON intent
        r = fresh(rig.broker.port, g, lambda b: b["desired_state"] == "on")
        assert r.retain and r.qos == 1, r
        wait_intent(spy, g, lambda b: b["desired_state"] == "off" and
                    parse(b["issued_at"]) >= e, ts_left(e) + T(EDGE), m0)
        time.sleep(1.2)
    finally:
        n_del = mark(spy)
        delete(h, ev["id"])
    got = intents(spy, g, m0)[:len(on(spy, topic(g), m0)) - len(on(spy, topic(g), n_del))]
    for _, b in got:
        check_intent(b, g, 1, LIFE)
    states = [b["desired_state"] for _, b in got]
    # off … off, on … on, off …: one run of ON
    first_on, last_on = states.index("on"), len(states) - 1 - states[::-1].index("on")
    assert set(states[first_on:last_on + 1]) == {"on"}, states
    before, during, after = got[:first_on], got[first_on:last_on + 1], got[last_on + 1:]
    assert before and after, states
    x = {b["intent_id"] for _, b in before}
    y = {b["intent_id"] for _, b in during}
    zz = {b["intent_id"] for _, b in after}
    assert len(x) == len(y) == len(zz) == 1 and len(x | y | zz) == 3, (x, y, zz)
    # ON from the window's start, published within a poll; OFF from its end
    m_on, b_on = during[0]
    assert ts(s) - 0.05 <= wall(m_on) <= ts(s) + T(EDGE), wall(m_on) - ts(s)
    assert parse(b_on["issued_at"]) >= s, b_on
    m_off, b_off = after[0]
    assert ts(e) - 0.05 <= wall(m_off) <= ts(e) + T(EDGE), wall(m_off) - ts(e)
    for _, b in during:
        assert b["active_event_ids"] == [ev["id"]], b
        assert (b["event_window_start"], b["event_window_end"]) == (z(s), z(e)), b
        assert s <= parse(b["issued_at"]) < e, b
    # a heartbeat every poll while on (4 s: 3..5 of them)
    assert 3 <= len(during) <= 5, len(during)
    issued = [parse(b["issued_at"]) for _, b in during]
    assert all(0.5 <= (b - a).total_seconds() <= T(1.6) for a, b in zip(issued, issued[1:]))
    # transitions: the first intent (the group is new), ON, OFF, and the delete (an edit)
    wait_until(lambda: rig.metric("power_intent_transitions_total") - t0 >= 4, T(2),
               what="transitions counted")
    assert rig.metric("power_intent_transitions_total") - t0 == 4


def test_adjacent_and_overlapping_events_are_one_window(rig):
    h, spy = rig.hub, rig.spy
    ga, go = 4303, 4304
    s = now_s(3)
    m0 = mark(spy)
    # adjacent: A [s, s+3) then B [s+3, s+6); overlapping: C [s, s+4) and D [s+2, s+6)
    a = create(h, event_body(ga, "A", s, s + 3 * S))
    b = create(h, event_body(ga, "B", s + 3 * S, s + 6 * S))
    c = create(h, event_body(go, "C", s, s + 4 * S))
    d = create(h, event_body(go, "D", s + 2 * S, s + 6 * S))
    end = s + 6 * S
    try:
        for g in (ga, go):
            wait_intent(spy, g, lambda x: x["desired_state"] == "off" and
                        parse(x["issued_at"]) >= end, ts_left(end) + T(EDGE), m0)
        time.sleep(0.3)
    finally:
        for ev in (a, b, c, d):
            delete(h, ev["id"])
    for g, phases in ((ga, [(s, [a["id"]]), (s + 3 * S, [b["id"]])]),
                      (go, [(s, [c["id"]]), (s + 2 * S, [c["id"], d["id"]]),
                            (s + 4 * S, [d["id"]])])):
        got = [(m, x) for m, x in intents(spy, g, m0) if parse(x["issued_at"]) < end + 2 * S]
        states = [x["desired_state"] for _, x in got]
        first_on, last_on = states.index("on"), len(states) - 1 - states[::-1].index("on")
        # every message between the first ON and the last: ON (no OFF blip at a seam)
        assert set(states[first_on:last_on + 1]) == {"on"}, (g, states)
        during = got[first_on:last_on + 1]
        m_off, x_off = got[last_on + 1]
        assert x_off["desired_state"] == "off" and wall(m_off) >= ts(end) - 0.05, (g, x_off)
        # one intent_id all along, the merged window, the events active at each moment
        assert len({x["intent_id"] for _, x in during}) == 1, (g, during)
        seen = set()
        for _, x in during:
            check_intent(x, g, 1, LIFE)
            assert (x["event_window_start"], x["event_window_end"]) == (z(s), z(end)), x
            t = parse(x["issued_at"])
            want = [ids for at, ids in phases if at <= t][-1]
            assert x["active_event_ids"] == want, (g, x, want)
            seen.add(tuple(want))
        assert seen == {tuple(ids) for _, ids in phases}, (g, seen)


# ---------------------------------------------------------------- edits

def test_edit_and_delete_mid_window_replace_the_intent_at_once(broker, hubs):
    """POLL_INTERVAL_SECONDS=30: a new intent within half a second did not wait for a poll."""
    h = hubs(broker=broker, env=dict(ENV, POLL_INTERVAL_SECONDS="30",
                                     POWER_INTENT_MIN_EXPIRY_SECONDS="60"))
    h.wait_readyz()
    spy = MqttClient(broker.port).connect()
    try:
        spy.subscribe("infoscreen/groups/#")
        g = 4305
        start, end = now_s(-2), now_s(-2) + 120 * S

        def step(do, pred, what, groups=(g,)):
            n = mark(spy)
            t = time.monotonic()
            do()
            out = []
            for gg in groups:
                _, m, body = wait_intent(spy, gg, pred, T(2), n)
                assert m.t - t <= T(0.6), (what, gg, m.t - t)
                check_intent(body, gg, 30, 90)          # max(3 × 30 s, 60 s)
                out.append(body)
            return out[0] if len(out) == 1 else out

        box = {}
        on1 = step(lambda: box.update(ev=create(h, event_body(g, "Live", start, end))),
                   lambda b: b["desired_state"] == "on", "create")
        ev = box["ev"]
        assert on1["active_event_ids"] == [ev["id"]], on1
        assert (on1["event_window_start"], on1["event_window_end"]) == (z(start), z(end)), on1

        def put(body, path=None):
            r = h.request("PUT", path or f"/api/v1/events/{ev['id']}", body)
            assert r.status == 200, r
        on2 = step(lambda: put(event_body(g, "Live 2", start, end)),
                   lambda b: b["intent_id"] != on1["intent_id"], "edit")
        assert on2["desired_state"] == "on" and on2["event_window_end"] == z(end), on2
        on3 = step(lambda: put({"endTime": (end + 60 * S).replace(tzinfo=None).isoformat()},
                               f"/api/events/{ev['id']}"),
                   lambda b: b["intent_id"] != on2["intent_id"], "seed edit")
        assert on3["desired_state"] == "on", on3
        assert on3["event_window_end"] == z(end + 60 * S), on3
        # nothing more while nothing changes (the next poll is 30 s away)
        n = mark(spy)
        time.sleep(1.0)
        assert on(spy, topic(g), n) == []
        # a second event, then cancelled while the first goes on: still ON, a fresh id each time
        on4 = step(lambda: box.update(ev2=create(h, event_body(g, "Extra", start, end))),
                   lambda b: b["intent_id"] != on3["intent_id"], "another event")
        assert on4["active_event_ids"] == [ev["id"], box["ev2"]["id"]], on4
        on5 = step(lambda: delete(h, box["ev2"]["id"]),
                   lambda b: b["intent_id"] != on4["intent_id"], "cancel one of two")
        assert on5["desired_state"] == "on" and on5["active_event_ids"] == [ev["id"]], on5
        # moved to another group: OFF here, ON there, at once
        g2 = 4312
        off, on6 = step(lambda: put(event_body(g2, "Moved", start, end)),
                        lambda b: b["intent_id"] not in (on5["intent_id"],), "move",
                        groups=(g, g2))
        assert off["desired_state"] == "off" and on6["desired_state"] == "on", (off, on6)
        assert on6["active_event_ids"] == [ev["id"]], on6
        off2 = step(lambda: delete(h, ev["id"]), lambda b: b["desired_state"] == "off",
                    "delete", groups=(g2,))
        ids = [x["intent_id"] for x in (on1, on2, on3, on4, on5, off, on6, off2)]
        assert len(set(ids)) == len(ids), ids
        # (a cycle heartbeats every group: the other group's issued_at may have moved on)
        for gg, want in ((g, off), (g2, off2)):
            r = fresh(broker.port, gg, lambda b, w=want: b["intent_id"] == w["intent_id"])
            assert ordered(r.payload)["desired_state"] == "off"
            assert power_of(h, gg)["intent"]["intent_id"] == want["intent_id"]
    finally:
        spy.close()


# ---------------------------------------------------------------- broker and hub restarts

def test_broker_restart_republishes_the_cached_intents(broker, hubs):
    """The broker keeps nothing (no persistence); the hub republishes at once on reconnect,
    not at its next poll (30 s away)."""
    h = hubs(broker=broker, env=dict(ENV, POLL_INTERVAL_SECONDS="30"))
    h.wait_readyz()
    g_on, g_off = 4306, 4307
    a = create(h, event_body(g_on, "Running", now_s(-2), now_s(120)))
    b = create(h, event_body(g_off, "Later", now_s(3600), now_s(7200)))
    before = {g: ordered(fresh(broker.port, g).payload) for g in (g_on, g_off)}
    assert before[g_on]["desired_state"] == "on" and before[g_off]["desired_state"] == "off"
    r0 = metric(h, "power_intent_retained_republish_total")
    broker.stop()
    wait_until(lambda: h.get("/readyz").status == 503, T(5), what="the hub saw the broker go")
    broker.start()
    h.wait_readyz(timeout=T(15))
    t_up = time.monotonic()
    for g in (g_on, g_off):
        m = fresh(broker.port, g, timeout=T(2))
        assert m.retain and m.qos == 1, m
        assert ordered(m.payload) == before[g], (g, m.payload, before[g])
    assert time.monotonic() - t_up <= T(2.5)
    wait_until(lambda: metric(h, "power_intent_retained_republish_total") - r0 >= 2, T(2),
               what="republishes counted")
    assert metric(h, "power_intent_retained_republish_total") - r0 == 2
    assert h.wait_log("power_intent_retained_republish",
                      lambda l: l.get("republished") == 2)["expired_skipped"] == 0
    assert metric(h, "power_intent_publish_failures_total") == 0
    delete(h, a["id"])
    delete(h, b["id"])


def test_restart_mid_window_keeps_the_intent_id(broker, hubs):
    h = hubs(broker=broker, env=dict(ENV, POLL_INTERVAL_SECONDS="30"))
    h.wait_readyz()
    spy = MqttClient(broker.port).connect()
    try:
        spy.subscribe(topic(4308))
        ev = create(h, event_body(4308, "Running", now_s(-2), now_s(120)))
        _, _, on1 = wait_intent(spy, 4308, lambda b: b["desired_state"] == "on", T(2))
        time.sleep(1.1)                  # so the next issued_at is a later second
        h.kill9()
        n = mark(spy)
        t = time.monotonic()
        h.start()
        _, m, on2 = wait_intent(spy, 4308, None, T(3), n)
        assert m.t - t <= T(3)
        check_intent(on2, 4308, 30, 90)
        # the same decision: the same intent_id, issued again at start-up
        assert on2["intent_id"] == on1["intent_id"], (on1, on2)
        assert on2["desired_state"] == "on" and on2["active_event_ids"] == [ev["id"]], on2
        assert parse(on2["issued_at"]) > parse(on1["issued_at"]), (on1, on2)
        assert power_of(h, 4308)["intent"]["intent_id"] == on1["intent_id"]
        assert metric(h, "power_intent_transitions_total") == 0
        # a fresh subscriber gets it too
        r = fresh(broker.port, 4308, lambda b: b["issued_at"] == on2["issued_at"])
        assert ordered(r.payload)["intent_id"] == on1["intent_id"]
    finally:
        spy.close()


# ---------------------------------------------------------------- flags

def test_heartbeat_disabled_publishes_only_changes(broker, hubs):
    env = dict(ENV, POWER_INTENT_HEARTBEAT_ENABLED="false", POWER_INTENT_EXPIRY_MULTIPLIER="4",
               POWER_INTENT_MIN_EXPIRY_SECONDS="2")
    h = hubs(broker=broker, env=env)
    h.wait_readyz()
    spy = MqttClient(broker.port).connect()
    try:
        spy.subscribe("infoscreen/groups/#")
        g = 4309
        s, e = now_s(2), now_s(2) + 3 * S
        ev = create(h, event_body(g, "Short", s, e))
        wait_intent(spy, g, lambda b: b["desired_state"] == "off" and parse(b["issued_at"]) >= e,
                    ts_left(e) + T(EDGE))
        time.sleep(2.2)
        got = [b for _, b in intents(spy, g)]
        # off (created), on (start), off (end): nothing between, nothing after
        assert [b["desired_state"] for b in got] == ["off", "on", "off"], got
        assert len({b["intent_id"] for b in got}) == 3, got
        for b in got:
            check_intent(b, g, 1, 4)                # max(4 × 1 s, 2 s): the multiplier wins
        p = power(h)
        assert p["heartbeat_enabled"] is False and p["publish_enabled"] is True, p
        # it expired and was not refreshed; nothing republishes an expired intent
        wait_until(lambda: power_of(h, g)["expired"], T(3), what="the OFF intent expired")
        assert power_of(h, g)["intent"] == got[-1]
        delete(h, ev["id"])
    finally:
        spy.close()


def test_publishing_disabled_by_default_but_the_api_has_the_intents(broker, hubs):
    h = hubs(broker=broker, env={"POLL_INTERVAL_SECONDS": "1"})
    h.wait_readyz()
    spy = MqttClient(broker.port).connect()
    try:
        spy.subscribe("infoscreen/#")
        a = create(h, event_body(4310, "Running", now_s(-2), now_s(60)))
        b = create(h, event_body(4311, "Later", now_s(3600), now_s(7200)))
        wait_until(lambda: power_of(h, 4310) and power_of(h, 4311), T(3), what="both intents")
        p1 = power(h)
        assert p1["publish_enabled"] is False and p1["heartbeat_enabled"] is True, p1
        on1, off1 = power_of(h, 4310)["intent"], power_of(h, 4311)["intent"]
        check_intent(on1, 4310, 1, 90)
        check_intent(off1, 4311, 1, 90)
        assert on1["desired_state"] == "on" and on1["active_event_ids"] == [a["id"]], on1
        assert off1["desired_state"] == "off", off1
        # the list of active events still goes out
        spy.wait("infoscreen/events/4310", pred=lambda m: m.json() and
                 m.json()[0]["id"] == a["id"], timeout=T(2))
        time.sleep(2.2)
        # no heartbeats in the state either: the intents stay as they were
        assert power_of(h, 4310)["intent"] == on1 and power_of(h, 4311)["intent"] == off1
        # a transition is still computed
        delete(h, a["id"])
        x = wait_until(lambda: (lambda i: i if i["desired_state"] == "off" else None)(
            power_of(h, 4310)["intent"]), T(2), what="OFF after the delete")
        assert x["intent_id"] != on1["intent_id"], x
        time.sleep(0.3)
        assert not [m for m in spy.msgs if "/power/" in m.topic], spy.msgs
        assert retained(broker.port, topic(4310), timeout=T(0.5)) is None
        assert metric(h, "power_intent_transitions_total") >= 3
        delete(h, b["id"])
    finally:
        spy.close()


# ---------------------------------------------------------------- the fleet's groups

def test_a_fleet_group_without_events_gets_an_off_intent(rig):
    h, spy = rig.hub, rig.spy
    sim = rig.devsim("--count", "1", "--seed", SEED, *FAST)
    uid = device_uuid(SEED, 0)
    rig.wait_device(uid, lambda v: v["alive"], "alive after discovery and a heartbeat")
    assert events(h, "?group_id=7")["events"] == []
    m0 = mark(spy)
    r = h.request("PUT", f"/api/v1/devices/{uid}", {"group_id": 7})
    assert r.status == 200, r
    sim.event("group_id", group_id=7)
    _, m, body = wait_intent(spy, 7, None, T(2.5), m0)
    check_intent(body, 7, 1, LIFE)
    assert body["desired_state"] == "off", body
    assert m.qos == 1, m
    r = fresh(rig.broker.port, 7)
    assert r.retain and ordered(r.payload)["intent_id"] == body["intent_id"], r
    assert power_of(h, 7)["intent"]["intent_id"] == body["intent_id"]
    # and heartbeats like any other
    time.sleep(1.5)
    assert {b["intent_id"] for _, b in intents(spy, 7, m0)} == {body["intent_id"]}
    assert len(intents(spy, 7, m0)) >= 2


def test_metrics(rig):
    m = rig.metrics()
    for name, typ in (("power_intent_transitions_total", "counter"),
                      ("power_intent_retained_republish_total", "counter"),
                      ("power_intent_publish_failures_total", "counter"),
                      ("power_intent_retained_age_seconds", "gauge")):
        assert m.type.get(name) == typ, (name, m.type.get(name))
        assert m.help.get(name), name
    # the earlier tests' groups made transitions; the broker acknowledged everything
    assert m.value("power_intent_transitions_total") >= 8
    assert m.value("power_intent_publish_failures_total") == 0
    # heartbeats every second keep the cached intents young
    assert 0 <= m.value("power_intent_retained_age_seconds") <= T(2.5)
