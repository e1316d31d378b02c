"""Seed 004's scheduler in the hub (issue 10 §2), end to end, as a user's client and the screens
see it: events over REST (POST/GET/PUT/DELETE /api/v1/events, 400s naming the field for
malformed, oversized and hostile bodies with nothing changed, detaching one occurrence of a
series, occurrences in a range with RRULE/COUNT/UNTIL/EXDATE), seed 004's camelCase /api/events
routes and their {"error": …} bodies, DMX_API_KEY; the retained infoscreen/events/<group_id>
list at the window edges (POLL_INTERVAL_SECONDS=1, windows of seconds), republished at once on
an edit or delete and every REFRESH_SECONDS; on_start/on_end hooks run as scene.run exactly once
per occurrence, also across kill -9 mid-window, and the catch-up rule at start-up
(docs/decisions/schedules.md).

One hub (with the fleet's short timings), broker and '#' spy are shared by the module; tests
that restart the hub or change its configuration start their own. All on 127.0.0.1; every wait
is bounded.
"""
import datetime
import json
import time

import pytest

from fleettest import Fleet
from hubtest import MqttClient, T, retained, wait_until
from schedtest import (ACTIVE_KEYS, COMPACT, EVENT_KEYS, ISO_Z, PY_NAIVE, S, SEED_KEYS, UTC,
                       compact, create, delete, event_body, events, get_event, mark, naive,
                       now_s, on, ordered, our_error, parse, seed_error, sleep_until, ts,
                       ts_left, wall, z)

POLL = {"POLL_INTERVAL_SECONDS": "1"}
KEY = "sched-k3y-0123456789abcdef"
EDGE = 1.6          # a window edge is seen within a poll (1 s) plus this much slack
D = datetime.timedelta(days=1)
H = datetime.timedelta(hours=1)


@pytest.fixture(scope="module")
def rig():
    f = Fleet(env=POLL)
    try:
        f.all = f.client()
        f.all.subscribe("#")
        yield f
    finally:
        f.close()


def day_at(days, hour, minute=0):
    """A whole UTC day `days` ahead at hour:minute (never active during the test)."""
    d = datetime.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return d + days * D + datetime.timedelta(hours=hour, minutes=minute)


def payloads(client, topic, start=0):
    return [m.payload for m in on(client, topic, start)]


def sched_runs(hub, event_id=None):
    """Scene runs the scheduler made (src "scheduler"), optionally of one event."""
    r = hub.get("/api/v1/scenes/runs")
    assert r.status == 200, r
    out = [x for x in r.json()["runs"] if x["src"] == "scheduler"]
    if event_id is not None:
        out = [x for x in out if x["label"].startswith(f"event {event_id} ")]
    return out


def labels(runs):
    return sorted(x["label"] for x in runs)


def snapshot(hub):
    """What a refused request must leave alone: ours and the seed's listings."""
    a = hub.get("/api/v1/events")
    b = hub.get("/api/events")
    assert a.status == 200 and b.status == 200, (a, b)
    return a.json(), b.json()


# ---------------------------------------------------------------- REST: ours

def test_create_get_put_delete(rig):
    h = rig.hub
    start = day_at(3, 9)
    content = {"presentation": {"slide_interval": 10, "files": ["a.pdf"]}}
    on_start = [{"topic": "aula42/light", "message": "ON"}]
    body = event_body(4201, "Aula", start, start + H, type="presentation", content=content,
                      rrule="FREQ=DAILY;COUNT=3", exdates=[], on_start=on_start, on_end=None)
    before = time.time()
    ev = create(h, body)
    assert isinstance(ev["id"], int) and ev["id"] > 0, ev
    assert ev["group_id"] == 4201 and ev["title"] == "Aula" and ev["type"] == "presentation", ev
    assert ev["start"] == z(start) and ev["end"] == z(start + H), ev
    assert ev["rrule"] == "FREQ=DAILY;COUNT=3" and ev["exdates"] == [], ev
    assert ev["content"] == content and ev["on_start"] == on_start and ev["on_end"] is None, ev
    assert ev["detached_from"] is None, ev
    assert ISO_Z.match(ev["created_at"]) and ev["updated_at"] == ev["created_at"], ev
    assert before - 1 <= parse(ev["created_at"]).timestamp() <= time.time() + 1, ev
    # read back: the same, alone and in the listing (also filtered by group)
    assert get_event(h, ev["id"]) == ev
    assert ev in events(h)["events"]
    assert events(h, "?group_id=4201")["events"] == [ev]
    assert events(h, "?group_id=4299")["events"] == []
    # PUT replaces the whole event: what is left out goes (rrule, content, hooks; type → other)
    time.sleep(0.01)
    body2 = event_body(4201, "Aula 2", start + H, start + 2 * H)
    r = h.request("PUT", f"/api/v1/events/{ev['id']}", body2)
    assert r.status == 200, r
    ev2 = r.json()
    assert list(ev2) == EVENT_KEYS, ev2
    assert ev2["id"] == ev["id"] and ev2["created_at"] == ev["created_at"], ev2
    assert parse(ev2["updated_at"]) > parse(ev["updated_at"]), ev2
    assert (ev2["title"], ev2["type"], ev2["start"], ev2["end"]) == (
        "Aula 2", "other", z(start + H), z(start + 2 * H)), ev2
    assert ev2["rrule"] is None and ev2["content"] is None and ev2["on_start"] is None, ev2
    assert get_event(h, ev["id"]) == ev2
    # a GET's body goes back as it is (read-only keys accepted), with a change
    got = get_event(h, ev["id"])
    got["title"] = "Aula 3"
    r = h.request("PUT", f"/api/v1/events/{ev['id']}", got)
    assert r.status == 200 and r.json()["title"] == "Aula 3", r
    # but not as another event's
    got["id"] = ev["id"] + 1000
    our_error(h.request("PUT", f"/api/v1/events/{ev['id']}", got), 400, "event.id", "invalid")
    assert get_event(h, ev["id"])["title"] == "Aula 3"
    # DELETE; then it is gone everywhere
    b = delete(h, ev["id"])
    assert isinstance(b["seq"], int), b
    our_error(h.get(f"/api/v1/events/{ev['id']}"), 404, "id", "not_found")
    our_error(h.request("DELETE", f"/api/v1/events/{ev['id']}"), 404, "id", "not_found")
    our_error(h.request("PUT", f"/api/v1/events/{ev['id']}", body2), 404, "id", "not_found")
    our_error(h.get("/api/v1/events/abc"), 404, "id", "not_found")
    assert all(e["id"] != ev["id"] for e in events(h)["events"])
    # ids are never reused
    ev3 = create(h, body2)
    assert ev3["id"] > ev["id"], (ev, ev3)
    delete(h, ev3["id"])


@pytest.fixture(scope="module")
def baseline(rig):
    """A saved event hostile requests must leave alone."""
    start = day_at(5, 10)
    return create(rig.hub, event_body(4202, "Keep me", start, start + H, rrule="FREQ=WEEKLY",
                                      content={"k": 1}))


def B(**kw):
    start = day_at(6, 8)
    b = event_body(4202, "New", start, start + H)
    for k, v in kw.items():
        if v is Ellipsis:
            b.pop(k)
        else:
            b[k] = v
    return b


T0 = day_at(6, 8)
JSON = {"content-type": "application/json"}
# (id, body, status, field); bytes go as they are
HOSTILE = [
    ("malformed", b'{"group_id": 1, "title": ', 400, None),
    ("array", b"[]", 400, None),
    ("null", b"null", 400, None),
    ("string", b'"event"', 400, None),
    ("oversized", json.dumps(B(content={"x": "y" * 300000})).encode(), 413, None),
    ("start_no_z", B(start=z(T0)[:-1]), 400, "event.start"),
    ("start_offset", B(start=z(T0)[:-1] + "+02:00"), 400, "event.start"),
    ("start_no_such_day", B(start="2026-02-30T08:00:00Z"), 400, "event.start"),
    ("start_number", B(start=1767254400), 400, "event.start"),
    ("start_missing", B(start=...), 400, "event.start"),
    ("end_missing", B(end=...), 400, "event.end"),
    ("end_before_start", B(end=z(T0 - H)), 400, "event.end"),
    ("end_equals_start", B(end=z(T0)), 400, "event.end"),
    ("rrule_freq_foo", B(rrule="FREQ=FOO"), 400, "event.rrule"),
    ("rrule_secondly_bymonth", B(rrule="FREQ=SECONDLY;BYMONTH=1"), 400, "event.rrule"),
    ("rrule_no_freq", B(rrule="COUNT=3"), 400, "event.rrule"),
    ("rrule_empty_part", B(rrule="FREQ=DAILY;;COUNT=2"), 400, "event.rrule"),
    ("rrule_count_zero", B(rrule="FREQ=DAILY;COUNT=0"), 400, "event.rrule"),
    ("rrule_until_local", B(rrule="FREQ=DAILY;UNTIL=20300101T000000"), 400, "event.rrule"),
    ("rrule_until_before_start", B(rrule="FREQ=DAILY;UNTIL=20200101T000000Z"), 400,
     "event.rrule"),
    ("rrule_number", B(rrule=5), 400, "event.rrule"),
    ("rrule_too_long", B(rrule="FREQ=DAILY;BYHOUR=" + ",".join(["1"] * 600)), 400, "event.rrule"),
    ("exdates_not_a_list", B(exdates="20260101T000000Z"), 400, "event.exdates"),
    ("exdates_bad_item", B(exdates=[z(T0), "yesterday"]), 400, "event.exdates[1]"),
    ("exdates_too_many", B(exdates=[z(T0 + i * D) for i in range(1001)]), 400, "event.exdates"),
    ("content_huge", B(content={"x": "y" * 70000}), 400, "event.content"),
    ("content_array", B(content=[1, 2]), 400, "event.content"),
    ("on_start_one_level", B(on_start=[{"topic": "light", "message": "ON"}]), 400,
     "event.on_start[0].topic"),
    ("on_start_status_topic", B(on_start=[{"topic": "hall/status", "message": "OK"}]), 400,
     "event.on_start[0].topic"),
    ("on_start_wildcard", B(on_start=[{"topic": "hall/#", "message": "ON"}]), 400,
     "event.on_start[0].topic"),
    ("on_start_unknown_key", B(on_start=[{"topic": "hall/light", "message": "ON",
                                          "shell": "rm -rf /"}]), 400, "event.on_start[0].shell"),
    ("on_start_object", B(on_start={"topic": "hall/light"}), 400, "event.on_start"),
    ("on_end_bad_intent", B(on_end=[{"intent": {"name": "NO SUCH"}}]), 400,
     "event.on_end[0].intent.name"),
    ("on_end_negative_t", B(on_end=[{"t_ms": -1, "topic": "hall/light", "message": "x"}]), 400,
     "event.on_end[0].t_ms"),
    ("unknown_key", B(colour="red"), 400, "event.colour"),
    ("group_id_x", B(group_id="x"), 400, "event.group_id"),
    ("group_id_negative", B(group_id=-1), 400, "event.group_id"),
    ("group_id_too_big", B(group_id=2 ** 31), 400, "event.group_id"),
    ("group_id_fraction", B(group_id=1.5), 400, "event.group_id"),
    ("group_id_missing", B(group_id=...), 400, "event.group_id"),
    ("title_missing", B(title=...), 400, "event.title"),
    ("title_empty", B(title=""), 400, "event.title"),
    ("title_too_long", B(title="x" * 257), 400, "event.title"),
    ("title_number", B(title=7), 400, "event.title"),
    ("type_bad", B(type="Bad Type"), 400, "event.type"),
    ("type_too_long", B(type="x" * 33), 400, "event.type"),
]


def send(h, method, path, body):
    if isinstance(body, bytes):
        return h.request(method, path, body, JSON)
    return h.request(method, path, body)


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_bodies_are_refused_naming_the_field(rig, baseline, method, case):
    _, body, status, field = case
    h = rig.hub
    before = snapshot(h)
    path = "/api/v1/events" if method == "POST" else f"/api/v1/events/{baseline['id']}"
    r = send(h, method, path, body)
    our_error(r, status, field, "invalid")
    # still answering, nothing changed
    assert h.get("/healthz").status == 200
    assert snapshot(h) == before
    assert get_event(h, baseline["id"]) == baseline


def test_unknown_events_and_bad_queries(rig, baseline):
    h = rig.hub
    before = snapshot(h)
    for path in ("/api/v1/events/999999", "/api/v1/events/0", "/api/v1/events/-1",
                 "/api/v1/events/1e3"):
        our_error(h.get(path), 404, "id", "not_found")
        our_error(h.request("PUT", path, B()), 404, "id", "not_found")
        our_error(h.request("DELETE", path), 404, "id", "not_found")
    for q, field in (("?group_id=x", "group_id"), ("?group_id=-1", "group_id"),
                     ("?from=2026-01-01T00:00:00Z", "from"), ("?to=2026-01-01T00:00:00Z", "from"),
                     ("?from=x&to=y", "from"),
                     ("?from=2026-01-01T00:00:00&to=2026-01-02T00:00:00Z", "from"),
                     ("?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
                     ("?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
                     ("?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z", "to")):
        our_error(h.get("/api/v1/events" + q), 400, field, "invalid")
    assert snapshot(h) == before


# ---------------------------------------------------------------- detach (ours)

def test_detach_an_occurrence_of_a_daily_series(rig):
    h = rig.hub
    d0 = day_at(3, 8)
    series = create(h, event_body(4203, "Daily", d0, d0 + H, type="message",
                                  rrule="FREQ=DAILY;COUNT=5", content={"k": 1},
                                  on_start=[{"topic": "d42/light", "message": "ON"}]))
    sid = series["id"]
    single = create(h, event_body(4203, "Once", d0 + 5 * H, d0 + 6 * H))
    try:
        # day 2: a standalone copy, the series gets the EXDATE
        r = h.request("POST", f"/api/v1/events/{sid}/occurrences/{(d0 + 2 * D).date()}/detach")
        assert r.status == 201, r
        copy = r.json()
        assert list(copy) == EVENT_KEYS, copy
        assert copy["id"] > sid and copy["detached_from"] == sid, copy
        assert (copy["start"], copy["end"]) == (z(d0 + 2 * D), z(d0 + 2 * D + H)), copy
        assert copy["rrule"] is None and copy["exdates"] == [], copy
        assert (copy["group_id"], copy["title"], copy["type"], copy["content"],
                copy["on_start"]) == (4203, "Daily", "message", {"k": 1}, series["on_start"])
        assert get_event(h, copy["id"]) == copy
        s2 = get_event(h, sid)
        assert s2["exdates"] == [z(d0 + 2 * D)], s2
        assert {k: v for k, v in s2.items() if k not in ("exdates", "updated_at")} == \
            {k: v for k, v in series.items() if k not in ("exdates", "updated_at")}
        # day 3 with overrides
        over = {"title": "Special", "start": z(d0 + 3 * D + 2 * H),
                "end": z(d0 + 3 * D + 3 * H), "content": {"k": 2}}
        r = h.request("POST", f"/api/v1/events/{sid}/occurrences/{(d0 + 3 * D).date()}/detach",
                      over)
        assert r.status == 201, r
        copy2 = r.json()
        assert (copy2["title"], copy2["start"], copy2["end"], copy2["content"],
                copy2["detached_from"]) == ("Special", over["start"], over["end"], {"k": 2}, sid)
        assert get_event(h, sid)["exdates"] == [z(d0 + 2 * D), z(d0 + 3 * D)]
        before = snapshot(h)
        # refused: again (409), no occurrence that day (404), a bad date (400), overrides that
        # make it recurring (400), a single event (409), an unknown event (404)
        our_error(h.request("POST", f"/api/v1/events/{sid}/occurrences/"
                            f"{(d0 + 2 * D).date()}/detach"), 409, "date", "conflict")
        for day in (d0 + 5 * D, d0 - D, d0 + 40 * D):
            our_error(h.request("POST", f"/api/v1/events/{sid}/occurrences/{day.date()}/detach"),
                      404, "date", "not_found")
        for bad in ("2026-02-30", "tomorrow", "20261207", "2026-1-07"):
            our_error(h.request("POST", f"/api/v1/events/{sid}/occurrences/{bad}/detach"),
                      400, "date", "invalid")
        for over, field in (({"rrule": "FREQ=DAILY"}, "event.rrule"),
                            ({"exdates": []}, "event.exdates"),
                            ({"end": z(d0)}, "event.end"),
                            ({"title": ""}, "event.title")):
            our_error(h.request("POST", f"/api/v1/events/{sid}/occurrences/"
                                f"{(d0 + 4 * D).date()}/detach", over), 400, field, "invalid")
        our_error(h.request("POST", f"/api/v1/events/{single['id']}/occurrences/"
                            f"{d0.date()}/detach"), 409, "id", "conflict")
        our_error(h.request("POST", f"/api/v1/events/999999/occurrences/{d0.date()}/detach"),
                  404, "id", "not_found")
        assert snapshot(h) == before
        # the occurrences: the series' remaining ones and the two copies, in start order
        occ = events(h, f"?group_id=4203&from={z(d0 - D)}&to={z(d0 + 10 * D)}")
        got = [(o["event_id"], o["start"], o["end"], o["detached_from"])
               for o in occ["occurrences"]]
        assert got == [
            (sid, z(d0), z(d0 + H), None),
            (single["id"], z(d0 + 5 * H), z(d0 + 6 * H), None),
            (sid, z(d0 + D), z(d0 + D + H), None),
            (copy["id"], z(d0 + 2 * D), z(d0 + 2 * D + H), sid),
            (copy2["id"], z(d0 + 3 * D + 2 * H), z(d0 + 3 * D + 3 * H), sid),
            (sid, z(d0 + 4 * D), z(d0 + 4 * D + H), None)], got
        # the copies are events of their own: deleting the series leaves them
        delete(h, sid)
        assert get_event(h, copy["id"])["detached_from"] == sid
        assert get_event(h, copy2["id"])["title"] == "Special"
    finally:
        for e in events(h, "?group_id=4203")["events"]:
            delete(h, e["id"])


# ---------------------------------------------------------------- occurrences

def test_occurrences_honour_rrule_count_until_exdate(rig):
    h = rig.hub
    g = 4204
    d0 = day_at(4, 8)
    monday = [day_at(k, 10) for k in range(8, 15) if day_at(k, 10).weekday() == 0][0]
    assert monday.weekday() == 0
    a = create(h, event_body(g, "Count", d0, d0 + H, rrule="FREQ=DAILY;COUNT=4"))
    b = create(h, event_body(g, "Until", d0, d0 + H,
                             rrule=f"FREQ=DAILY;UNTIL={compact(d0 + 2 * D + 12 * H)}"))
    c = create(h, event_body(g, "Weekly", monday, monday + H,
                             rrule="FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"))
    x = create(h, event_body(g, "Exdates", d0, d0 + H, rrule="FREQ=DAILY;COUNT=5",
                             exdates=[z(d0 + D), compact(d0 + 3 * D)]))
    one = create(h, event_body(g, "Single", d0 + 4 * H, d0 + 5 * H))
    try:
        assert x["exdates"] == [z(d0 + D), z(d0 + 3 * D)], x   # compact input, RFC 3339 out
        occ = events(h, f"?group_id={g}&from={z(d0 - D)}&to={z(d0 + 30 * D)}")
        assert occ["from"] == z(d0 - D) and occ["to"] == z(d0 + 30 * D), occ
        assert occ["truncated"] is False, occ
        oc = occ["occurrences"]
        for o in oc:
            assert list(o) == ["event_id", "group_id", "title", "type", "start", "end",
                               "recurring", "detached_from"], o
            assert o["group_id"] == g and o["end"] == z(parse(o["start"]) + H), o
        assert [o["start"] for o in oc] == sorted(o["start"] for o in oc), oc

        def starts(ev):
            return [o["start"] for o in oc if o["event_id"] == ev["id"]]
        assert starts(a) == [z(d0 + i * D) for i in range(4)]
        assert starts(b) == [z(d0 + i * D) for i in range(3)]
        wk = [monday, monday + 2 * D, monday + 7 * D, monday + 9 * D]
        assert starts(c) == [z(t) for t in wk]
        assert [parse(s).weekday() for s in starts(c)] == [0, 2, 0, 2]
        assert starts(x) == [z(d0), z(d0 + 2 * D), z(d0 + 4 * D)]
        assert starts(one) == [z(d0 + 4 * H)]
        assert {o["recurring"] for o in oc if o["event_id"] == one["id"]} == {False}
        assert {o["recurring"] for o in oc if o["event_id"] == a["id"]} == {True}
        # a range overlapping an occurrence that started before it: included; [from, to)
        part = events(h, f"?group_id={g}&from={z(d0 + 30 * 60 * S)}&to={z(d0 + D)}")
        got = sorted((o["event_id"], o["start"]) for o in part["occurrences"])
        assert got == sorted([(a["id"], z(d0)), (b["id"], z(d0)), (x["id"], z(d0)),
                              (one["id"], z(d0 + 4 * H))]), got
        # another group's range is empty
        assert events(h, f"?group_id=4298&from={z(d0)}&to={z(d0 + D)}")["occurrences"] == []
        # the listing without a range: the events themselves
        assert sorted(e["id"] for e in events(h, f"?group_id={g}")["events"]) == \
            sorted(e["id"] for e in (a, b, c, x, one))
    finally:
        for e in (a, b, c, x, one):
            delete(h, e["id"])


# ---------------------------------------------------------------- seed 004's /api/events

def test_seed_routes_camel_case(rig):
    h = rig.hub
    g = 4206
    d0 = day_at(3, 9)
    series = create(h, event_body(g, "Morning", d0, d0 + H, type="website",
                                  rrule="FREQ=DAILY;COUNT=4", exdates=[z(d0 + D)],
                                  content={"website": {"type": "browser", "url": "https://x"}},
                                  on_start=[{"topic": "m42/light", "message": "ON"}]))
    single = create(h, event_body(g, "Once", d0 + 3 * H, d0 + 4 * H))
    sid = series["id"]
    try:
        lst = h.get("/api/events")
        assert lst.status == 200, lst
        body = ordered(lst.body)
        assert isinstance(body, list), body
        for e in body:
            assert list(e) == SEED_KEYS, e
            assert PY_NAIVE.match(e["startTime"]) and PY_NAIVE.match(e["endTime"]), e
            assert e["recurrenceException"] is None or all(
                COMPACT.match(t) for t in e["recurrenceException"].split(",")), e
        mine = {e["id"]: dict(e) for e in body if e["groupId"] == g}
        assert mine[sid] == {"id": sid, "subject": "Morning", "startTime": naive(d0),
                             "endTime": naive(d0 + H), "type": "website", "groupId": g,
                             "recurrenceRule": "FREQ=DAILY;COUNT=4",
                             "recurrenceException": compact(d0 + D)}, mine
        assert mine[single["id"]] == {"id": single["id"], "subject": "Once",
                                      "startTime": naive(d0 + 3 * H),
                                      "endTime": naive(d0 + 4 * H), "type": "other",
                                      "groupId": g, "recurrenceRule": None,
                                      "recurrenceException": None}, mine
        # one event; a group's events
        r = h.get(f"/api/events/{sid}")
        assert r.status == 200 and list(ordered(r.body)) == SEED_KEYS, r
        assert r.json() == mine[sid]
        assert sorted(e["id"] for e in h.get(f"/api/events?group_id={g}").json()) == \
            sorted(mine)
        seed_error(h.get("/api/events/999999"), 404)
        seed_error(h.get("/api/events/abc"), 404)

        # PUT merges camelCase keys (unknown ones ignored); the rest of the event stays
        r = h.request("PUT", f"/api/events/{sid}", {
            "subject": "Morning show", "endTime": naive(d0 + H + 30 * 60 * S),
            "recurrenceException": f"{compact(d0 + D)},{compact(d0 + 3 * D)}",
            "allDay": False, "Id": 5})
        assert r.status == 200, r
        put = ordered(r.body)
        assert list(put) == SEED_KEYS, put
        assert (put["subject"], put["startTime"], put["endTime"], put["recurrenceRule"],
                put["recurrenceException"]) == (
            "Morning show", naive(d0), naive(d0 + H + 30 * 60 * S), "FREQ=DAILY;COUNT=4",
            f"{compact(d0 + D)},{compact(d0 + 3 * D)}"), put
        ours = get_event(h, sid)
        assert ours["title"] == "Morning show" and ours["end"] == z(d0 + H + 30 * 60 * S), ours
        assert ours["exdates"] == [z(d0 + D), z(d0 + 3 * D)], ours
        assert ours["content"] == series["content"] and ours["on_start"] == series["on_start"]
        assert ours["type"] == "website" and ours["group_id"] == g, ours
        # a time with Z or +00:00 is read as UTC too
        r = h.request("PUT", f"/api/events/{single['id']}",
                      {"startTime": z(d0 + 2 * H), "endTime": naive(d0 + 4 * H) + "+00:00"})
        assert r.status == 200 and r.json()["startTime"] == naive(d0 + 2 * H), r
        assert get_event(h, single["id"])["start"] == z(d0 + 2 * H)

        # refused: {"error": …} and nothing changed
        before = snapshot(h)
        for bad in ({"startTime": "garbage"}, {"endTime": naive(d0 - H)},
                    {"groupId": "x"}, {"recurrenceRule": "FREQ=FOO"}, {"subject": ""},
                    {"recurrenceException": "nope"}, {"type": "Bad Type"}):
            msg = seed_error(h.request("PUT", f"/api/events/{sid}", bad), 400)
            assert "\n" not in msg and len(msg) < 600, msg
        for raw in (b"[1]", b"{not json", b'"x"'):
            seed_error(h.request("PUT", f"/api/events/{sid}", raw, JSON), 400)
        seed_error(h.request("PUT", "/api/events/999999", {"subject": "x"}), 404)
        assert snapshot(h) == before

        # detach (seed): the copy ignores the series' rule sent along (Syncfusion does that)
        d2 = d0 + 2 * D
        r = h.request("POST", f"/api/events/{sid}/occurrences/{d2.date()}/detach", {
            "subject": "Moved", "startTime": naive(d2 + 2 * H), "endTime": naive(d2 + 3 * H),
            "recurrenceRule": "FREQ=DAILY;COUNT=4", "recurrenceException": "x"})
        assert r.status == 201, r
        cp = ordered(r.body)
        assert list(cp) == SEED_KEYS, cp
        assert (cp["subject"], cp["startTime"], cp["endTime"], cp["groupId"], cp["type"],
                cp["recurrenceRule"], cp["recurrenceException"]) == (
            "Moved", naive(d2 + 2 * H), naive(d2 + 3 * H), g, "website", None, None), cp
        assert get_event(h, cp["id"])["detached_from"] == sid
        assert h.get(f"/api/events/{sid}").json()["recurrenceException"] == ",".join(
            compact(t) for t in (d0 + D, d2, d0 + 3 * D))
        # no body: the occurrence as it is
        r = h.request("POST", f"/api/events/{sid}/occurrences/{d0.date()}/detach")
        assert r.status == 201, r
        assert (r.json()["startTime"], r.json()["subject"]) == (naive(d0), "Morning show"), r
        before = snapshot(h)
        seed_error(h.request("POST", f"/api/events/{sid}/occurrences/{d2.date()}/detach"), 409)
        seed_error(h.request("POST", f"/api/events/{sid}/occurrences/"
                             f"{(d0 + 9 * D).date()}/detach"), 404)
        seed_error(h.request("POST", f"/api/events/{sid}/occurrences/someday/detach"), 400)
        seed_error(h.request("POST", f"/api/events/999999/occurrences/{d2.date()}/detach"), 404)
        assert snapshot(h) == before
    finally:
        for e in events(h, f"?group_id={g}")["events"]:
            delete(h, e["id"])


# ---------------------------------------------------------------- DMX_API_KEY

def test_api_key_guards_event_mutations(hubs):
    h = hubs(env=dict(POLL, DMX_API_KEY=KEY))
    good = {"x-api-key": KEY}
    d0 = day_at(3, 9)
    body = event_body(4207, "Keyed", d0, d0 + H, rrule="FREQ=DAILY;COUNT=3")
    for hdr in (None, {"x-api-key": "wrong"}, {"x-api-key": KEY[:-1]}):
        r = h.request("POST", "/api/v1/events", body, hdr)
        assert r.status == 401, (hdr, r)
    assert events(h)["events"] == [] and h.get("/api/events").json() == []
    ev = create(h, body, good)
    eid = ev["id"]
    for method, path, b in (
            ("PUT", f"/api/v1/events/{eid}", dict(body, title="x")),
            ("DELETE", f"/api/v1/events/{eid}", None),
            ("POST", f"/api/v1/events/{eid}/occurrences/{d0.date()}/detach", None),
            ("PUT", f"/api/events/{eid}", {"subject": "x"}),
            ("POST", f"/api/events/{eid}/occurrences/{d0.date()}/detach", None)):
        r = h.request(method, path, b)
        assert r.status == 401, (method, path, r)
    # reads stay open; nothing changed
    assert get_event(h, eid) == ev
    assert h.get(f"/api/events/{eid}").json()["subject"] == "Keyed"
    assert h.get("/api/v1/power").status == 200
    assert len(events(h)["events"]) == 1
    # with the key
    r = h.request("PUT", f"/api/events/{eid}", {"subject": "Keyed 2"}, good)
    assert r.status == 200 and r.json()["subject"] == "Keyed 2", r
    r = h.request("POST", f"/api/v1/events/{eid}/occurrences/{d0.date()}/detach", None, good)
    assert r.status == 201, r
    delete(h, eid, good)
    delete(h, r.json()["id"], good)
    assert events(h)["events"] == []


# ---------------------------------------------------------------- the MQTT list

def test_active_list_follows_the_window_edges(rig):
    h, spy = rig.hub, rig.all
    g = 4210
    topic = f"infoscreen/events/{g}"
    s = now_s(3)
    content = {"presentation": {"slide_interval": 10, "files": ["a.pdf"]},
               "id": 999, "subject": "not me", "event_type": "nope"}
    m0 = mark(spy)
    a = create(h, event_body(g, "Aula", s, s + 7 * S, type="presentation", content=content))
    b = create(h, event_body(g, "Pause", s + S, s + 4 * S, type="message"))

    def item(ev, extra=None):
        d = {"id": ev["id"], "group_id": g, "title": ev["title"], "subject": ev["title"],
             "event_type": ev["type"], "start": ev["start"], "end": ev["end"],
             "occurrence_start": ev["start"], "recurring": False}
        d.update(extra or {})
        return d
    A = item(a, {"presentation": content["presentation"]})
    Bi = item(b)
    try:
        # [A] at its start, [A, B] at B's, [A] at B's end, [] at A's end
        seq = [([A], s), ([A, Bi], s + S), ([A], s + 4 * S), ([], s + 7 * S)]
        nxt = m0
        for i, (want, at) in enumerate(seq):
            idx, m = spy.wait(topic, pred=lambda m, w=want: m.json() == w,
                              timeout=ts_left(at) + T(EDGE), start=nxt)
            nxt = idx + 1
            assert ts(at) - 0.05 <= wall(m) <= ts(at) + T(EDGE), (i, want, wall(m) - ts(at))
            if i == 0:      # the keys and their order
                body = ordered(m.payload)
                assert list(body[0]) == ACTIVE_KEYS + ["presentation"], body
            if i == 2:      # a fresh subscriber mid-window gets the retained list
                r = retained(rig.broker.port, topic)
                assert r is not None and r.retain and r.json() == [A], r
        time.sleep(0.5)
        # exactly those four: an unchanged list is not republished (REFRESH_SECONDS=0)
        got = [m.json() for m in on(spy, topic, m0)]
        assert got == [w for w, _ in seq], got
        r = retained(rig.broker.port, topic)
        assert r is not None and r.retain and r.payload == b"[]", r
        # the state follows too
        st = h.state("schedules")["state"].get("schedules", {})
        assert str(g) not in st.get("active", {}), st
    finally:
        delete(h, a["id"])
        delete(h, b["id"])


def test_edit_and_delete_mid_window_republish_at_once(broker, hubs):
    """POLL_INTERVAL_SECONDS=30: what arrives within half a second did not wait for a poll."""
    h = hubs(broker=broker, env={"POLL_INTERVAL_SECONDS": "30"})
    h.wait_readyz()
    spy = MqttClient(broker.port).connect()
    try:
        spy.subscribe("infoscreen/#")
        g = 4211
        topic = f"infoscreen/events/{g}"
        start = now_s(-3)
        t0 = time.monotonic()
        ev = create(h, event_body(g, "Live", start, start + 120 * S))
        m = spy.wait(topic, pred=lambda m: m.json() and m.json()[0]["title"] == "Live",
                     timeout=T(2))[1]
        assert m.t - t0 <= T(0.6), m.t - t0
        assert m.json()[0]["start"] == z(start) and m.json()[0]["id"] == ev["id"], m
        n = mark(spy)
        t1 = time.monotonic()
        r = h.request("PUT", f"/api/v1/events/{ev['id']}",
                      event_body(g, "Live 2", start, start + 120 * S, content={"k": "v"}))
        assert r.status == 200, r
        m = spy.wait(topic, pred=lambda m: m.json() and m.json()[0]["title"] == "Live 2",
                     timeout=T(2), start=n)[1]
        assert m.t - t1 <= T(0.6), m.t - t1
        assert m.json()[0]["k"] == "v", m
        # seed 004's PUT does the same
        n = mark(spy)
        t2 = time.monotonic()
        r = h.request("PUT", f"/api/events/{ev['id']}", {"subject": "Live 3"})
        assert r.status == 200, r
        m = spy.wait(topic, pred=lambda m: m.json() and m.json()[0]["title"] == "Live 3",
                     timeout=T(2), start=n)[1]
        assert m.t - t2 <= T(0.6), m.t - t2
        # nothing more while nothing changes
        n = mark(spy)
        time.sleep(1.2)
        assert on(spy, topic, n) == []
        t3 = time.monotonic()
        delete(h, ev["id"])
        m = spy.wait(topic, pred=lambda m: m.payload == b"[]", timeout=T(2), start=n)[1]
        assert m.t - t3 <= T(0.6), m.t - t3
        r = retained(broker.port, topic)
        assert r is not None and r.payload == b"[]", r
    finally:
        spy.close()


def test_refresh_seconds_republishes_an_unchanged_list(broker, hubs):
    h = hubs(broker=broker, env=dict(POLL, REFRESH_SECONDS="2"))
    h.wait_readyz()
    spy = MqttClient(broker.port).connect()
    try:
        spy.subscribe("infoscreen/events/#")
        g = 4212
        topic = f"infoscreen/events/{g}"
        start = now_s(-2)
        ev = create(h, event_body(g, "Steady", start, start + 60 * S))
        first = spy.wait(topic, pred=lambda m: m.json() != [], timeout=T(2))[1]
        time.sleep(5.3)
        msgs = on(spy, topic)
        assert all(m.payload == first.payload for m in msgs), msgs
        gaps = [b.t - a.t for a, b in zip(msgs, msgs[1:])]
        # one every ~2 s (polls are 1 s apart): 2..3 republishes in 5.3 s
        assert 2 <= len(msgs) - 1 <= 3, (len(msgs), gaps)
        assert all(1.5 <= x <= T(2.6) for x in gaps[1:]), gaps
        delete(h, ev["id"])
        spy.wait(topic, pred=lambda m: m.payload == b"[]", timeout=T(2))
    finally:
        spy.close()


# ---------------------------------------------------------------- hooks

ON42 = [{"topic": "lobby42/light", "message": "ON"},
        {"t_ms": 0, "intent": {"name": "scene.run", "payload": {"name": "t42_open"}}}]
OFF42 = [{"topic": "lobby42/light", "message": "OFF"}]


def test_hooks_run_once_per_occurrence(rig):
    h, spy = rig.hub, rig.all
    r = h.request("PUT", "/api/v1/scenes/t42_open", {"room": "hall42", "actions": [
        {"t_ms": 0, "topic": "hall42/doors", "message": "OPEN"}]})
    assert r.status == 200, r
    hooks0 = rig.metric("schedules_hooks_total")
    s0 = now_s(3)
    m0 = mark(spy)
    # a series whose previous occurrence ended a minute ago (it runs nothing), and the hub's
    # own event (group_id null: hooks only, no list) right after it
    a = create(h, event_body(4205, "Minutely", s0 - 60 * S, s0 - 58 * S,
                             rrule="FREQ=MINUTELY;COUNT=3", on_start=ON42, on_end=OFF42))
    b = create(h, event_body(None, "Hub own", s0 + 2 * S, s0 + 4 * S,
                             on_start=[{"topic": "lobby42/light", "message": "ON2"}],
                             on_end=[{"topic": "lobby42/light", "message": "OFF2"}]))
    try:
        assert b["group_id"] is None, b
        plan = [("lobby42/light", b"ON", s0), ("hall42/doors", b"OPEN", s0),
                ("lobby42/light", b"OFF", s0 + 2 * S), ("lobby42/light", b"ON2", s0 + 2 * S),
                ("lobby42/light", b"OFF2", s0 + 4 * S)]
        for topic, payload, at in plan:
            m = spy.wait(topic, pred=lambda m, p=payload: m.payload == p,
                         timeout=ts_left(at) + T(EDGE) + 0.5, start=m0)[1]
            assert ts(at) - 0.05 <= wall(m) <= ts(at) + T(EDGE) + 0.3, (
                topic, payload, wall(m) - ts(at))
        time.sleep(1.2)
        # exactly once each; at the seam the ending occurrence's on_end runs first
        assert payloads(spy, "lobby42/light", m0) == [b"ON", b"OFF", b"ON2", b"OFF2"]
        assert payloads(spy, "hall42/doors", m0) == [b"OPEN"]
        # the series' occurrence on the list, as the one that runs now
        lst = [m.json() for m in on(spy, "infoscreen/events/4205", m0)]
        assert lst == [[{"id": a["id"], "group_id": 4205, "title": "Minutely",
                         "subject": "Minutely", "event_type": "other", "start": z(s0),
                         "end": z(s0 + 2 * S), "occurrence_start": z(s0), "recurring": True}],
                       []], lst
        # the hub's own events are never published
        assert not [m for m in spy.msgs[m0:] if m.topic.startswith("infoscreen/events/") and
                    not m.topic.rsplit("/", 1)[1].isdigit()]
        # the runs: src scheduler, labelled with the event and the occurrence
        ra, rb = sched_runs(h, a["id"]), sched_runs(h, b["id"])
        assert labels(ra) == [f"event {a['id']} on_end {z(s0)}",
                              f"event {a['id']} on_start {z(s0)}"], ra
        assert labels(rb) == [f"event {b['id']} on_end {z(s0 + 2 * S)}",
                              f"event {b['id']} on_start {z(s0 + 2 * S)}"], rb
        for run in ra + rb:
            assert run["scene"] is None and run["room"] is None, run
        start_run = [x for x in ra if " on_start " in x["label"]][0]
        assert [x["kind"] for x in start_run["actions"]] == ["mqtt", "intent"], start_run
        assert start_run["actions"][1]["status"] == "done", start_run
        opened = [x for x in h.get("/api/v1/scenes/runs").json()["runs"]
                  if x["scene"] == "t42_open"]
        assert len(opened) == 1 and opened[0]["src"] == "scene", opened
        assert rig.metric("schedules_hooks_total") - hooks0 == 4
        logs = [l for l in h.logs("schedule_hook_run") if l["event_id"] in (a["id"], b["id"])]
        assert sorted((l["event_id"], l["hook"], l["occurrence_start"]) for l in logs) == sorted(
            [(a["id"], "on_start", z(s0)), (a["id"], "on_end", z(s0)),
             (b["id"], "on_start", z(s0 + 2 * S)), (b["id"], "on_end", z(s0 + 2 * S))]), logs
        # the hub's own events have no power intent
        assert all(isinstance(x["group_id"], int) and x["group_id"] >= 0
                   for x in h.get("/api/v1/power").json()["groups"])
    finally:
        delete(h, a["id"])      # before its next occurrence, a minute on
        delete(h, b["id"])
        h.request("DELETE", "/api/v1/scenes/t42_open")


def hk(tag):
    return {"on_start": [{"topic": f"e42/{tag}", "message": "ON"}],
            "on_end": [{"topic": f"e42/{tag}", "message": "OFF"}]}


def test_edits_mid_window_never_rerun_on_start(rig):
    """Renaming (ours and seed 004's PUT), cancelling and detaching a running occurrence, and
    an event created inside its window (catch-up): on_start once, on_end once, at the right
    moment."""
    h, spy = rig.hub, rig.all
    g = 4220
    s = now_s(2)
    e = s + 5 * S
    m0 = mark(spy)
    made = []
    try:
        for tag in ("title", "seed", "gone"):
            made.append(create(h, event_body(g, tag, s, e, **hk(tag))))
        title, seed, gone = made
        series = create(h, event_body(g, "series", s, e, rrule="FREQ=DAILY;COUNT=2",
                                      **hk("detach")))
        made.append(series)
        for tag in ("title", "seed", "gone", "detach"):
            spy.wait(f"e42/{tag}", pred=lambda m: m.payload == b"ON",
                     timeout=ts_left(s) + T(EDGE), start=m0)
        assert time.time() < ts(e) - 3, "too late in the window"
        t = time.time()
        late = create(h, event_body(g, "late", now_s(-1), e, **hk("late")))
        made.append(late)
        m = spy.wait("e42/late", pred=lambda m: m.payload == b"ON", timeout=T(1.5),
                     start=m0)[1]
        assert wall(m) - t <= T(1.0), wall(m) - t
        r = h.request("PUT", f"/api/v1/events/{title['id']}",
                      event_body(g, "title 2", s, e, **hk("title")))
        assert r.status == 200, r
        r = h.request("PUT", f"/api/events/{seed['id']}", {"subject": "seed 2"})
        assert r.status == 200, r
        t = time.time()
        delete(h, gone["id"])
        made.remove(gone)
        m = spy.wait("e42/gone", pred=lambda m: m.payload == b"OFF", timeout=T(1.5),
                     start=m0)[1]
        assert wall(m) - t <= T(1.0), wall(m) - t
        r = h.request("POST", f"/api/v1/events/{series['id']}/occurrences/{s.date()}/detach",
                      {"end": z(e - S)})
        assert r.status == 201, r
        copy = r.json()
        made.append(copy)
        m = spy.wait("e42/detach", pred=lambda m: m.payload == b"OFF",
                     timeout=ts_left(e - S) + T(EDGE), start=m0)[1]
        assert ts(e - S) - 0.05 <= wall(m) <= ts(e - S) + T(EDGE), wall(m) - ts(e - S)
        for tag in ("title", "seed", "late"):
            m = spy.wait(f"e42/{tag}", pred=lambda m: m.payload == b"OFF",
                         timeout=ts_left(e) + T(EDGE), start=m0)[1]
            assert ts(e) - 0.05 <= wall(m) <= ts(e) + T(EDGE), (tag, wall(m) - ts(e))
        time.sleep(1.2)
        for tag in ("title", "seed", "gone", "detach", "late"):
            assert payloads(spy, f"e42/{tag}", m0) == [b"ON", b"OFF"], tag
        # the detached copy took over the series' record: its on_end, not a new on_start
        assert labels(sched_runs(h, series["id"])) == [
            f"event {series['id']} on_start {z(s)}"]
        assert labels(sched_runs(h, copy["id"])) == [f"event {copy['id']} on_end {z(s)}"]
    finally:
        for ev in made:
            h.request("DELETE", f"/api/v1/events/{ev['id']}")


def test_kill9_mid_window_does_not_rerun_on_start(broker, hubs):
    h = hubs(broker=broker, env=POLL)
    h.wait_readyz()
    spy = MqttClient(broker.port).connect()
    try:
        spy.subscribe("#")
        s, e = now_s(2), now_s(2) + 6 * S
        ev = create(h, event_body(4213, "Kill", s, e,
                                  on_start=[{"topic": "k42/light", "message": "ON"}],
                                  on_end=[{"topic": "k42/light", "message": "OFF"}]))
        spy.wait("k42/light", pred=lambda m: m.payload == b"ON", timeout=ts_left(s) + T(EDGE))
        wait_until(lambda: sched_runs(h, ev["id"]), T(2), what="the on_start run recorded")
        assert time.time() < ts(e) - 2.5, "too late in the window to test a restart"
        h.kill9()
        n_logs = len(h.stdout_lines)
        h.start()
        h.wait_readyz()
        # the start-up cycle republishes the list while the window is open
        spy.wait("infoscreen/events/4213", pred=lambda m: m.json() and
                 m.json()[0]["id"] == ev["id"], timeout=T(3))
        off = spy.wait("k42/light", pred=lambda m: m.payload == b"OFF",
                       timeout=ts_left(e) + T(EDGE))[1]
        assert ts(e) - 0.05 <= wall(off) <= ts(e) + T(EDGE), wall(off) - ts(e)
        time.sleep(1.2)
        assert [m.payload for m in spy.on("k42/light")] == [b"ON", b"OFF"]
        after = [json.loads(l) for l in h.stdout_lines[n_logs:] if l.startswith("{")]
        runs = [(l["hook"], l["event_id"]) for l in after if l.get("event") == "schedule_hook_run"]
        assert runs == [("on_end", ev["id"])], runs
        assert labels(sched_runs(h, ev["id"])) == [f"event {ev['id']} on_end {z(s)}",
                                                   f"event {ev['id']} on_start {z(s)}"]
        assert get_event(h, ev["id"]) == ev
    finally:
        spy.close()


def test_catch_up_runs_on_start_once_at_start_up(broker, hubs):
    """The hub is down when a window opens: its on_start runs at start-up (once); a window
    wholly missed while down runs nothing (docs/decisions/schedules.md)."""
    h = hubs(broker=broker, env=POLL)
    h.wait_readyz()
    spy = MqttClient(broker.port).connect()
    try:
        spy.subscribe("c42/#")
        spy.subscribe("infoscreen/events/4216")
        m1 = now_s(2)
        s, e = m1 + 3 * S, m1 + 8 * S
        ending = create(h, event_body(4216, "Ending", now_s(-2), m1 + S))
        spy.wait("infoscreen/events/4216", pred=lambda m: m.json() and
                 m.json()[0]["id"] == ending["id"], timeout=T(1.5))
        missed = create(h, event_body(4214, "Missed", m1, m1 + S,
                                      on_start=[{"topic": "c42/missed", "message": "ON"}],
                                      on_end=[{"topic": "c42/missed", "message": "OFF"}]))
        catch = create(h, event_body(4215, "Catch", s, e,
                                     on_start=[{"topic": "c42/light", "message": "ON"}],
                                     on_end=[{"topic": "c42/light", "message": "OFF"}]))
        assert h.stop() == 0
        assert time.time() < ts(m1), "the hub must be down before the first window opens"
        sleep_until(s, 2.0)          # well inside the window: not a start seen late
        assert spy.on("c42/light") == [] and spy.on("c42/missed") == []
        t_up = time.time()
        h.start()
        m = spy.wait("c42/light", pred=lambda m: m.payload == b"ON", timeout=T(3))[1]
        assert t_up <= wall(m) <= t_up + T(3), wall(m) - t_up
        # the list of the event that ended while the hub was down: cleared at start-up
        m = spy.wait("infoscreen/events/4216", pred=lambda m: m.payload == b"[]",
                     timeout=T(3))[1]
        assert t_up <= wall(m) <= t_up + T(3), wall(m) - t_up
        r = retained(broker.port, "infoscreen/events/4216")
        assert r is not None and r.payload == b"[]", r
        off = spy.wait("c42/light", pred=lambda m: m.payload == b"OFF",
                       timeout=ts_left(e) + T(EDGE))[1]
        assert ts(e) - 0.05 <= wall(off) <= ts(e) + T(EDGE), wall(off) - ts(e)
        time.sleep(1.2)
        assert [m.payload for m in spy.on("c42/light")] == [b"ON", b"OFF"]
        assert spy.on("c42/missed") == []
        assert labels(sched_runs(h, catch["id"])) == [
            f"event {catch['id']} on_end {z(s)}", f"event {catch['id']} on_start {z(s)}"]
        assert sched_runs(h, missed["id"]) == []
    finally:
        spy.close()
