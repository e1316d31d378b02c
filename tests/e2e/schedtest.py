"""schedtest.py - helpers for the schedules e2e tests (test_88_schedules, test_89_power_intents).

Events are built from the current UTC time rounded to whole seconds, a few seconds ahead, and
the hub polls every second (POLL_INTERVAL_SECONDS=1), so a window edge is seen within a poll.
MQTT messages carry the monotonic time they arrived; wall() turns it into UTC seconds (the hub
and the tests share the machine's clock). Every wait is bounded.
"""
import datetime
import json
import re
import time
import uuid as uuidlib
from collections import OrderedDict

from hubtest import T, wait_until

UTC = datetime.timezone.utc
S = datetime.timedelta(seconds=1)
# the offset between the monotonic clock (Msg.t) and the wall clock, in seconds
_OFFSET = time.time() - time.monotonic()

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
PY_NAIVE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")
COMPACT = re.compile(r"^\d{8}T\d{6}Z$")
EVENT_KEYS = ["id", "group_id", "title", "type", "start", "end", "rrule", "exdates", "content",
              "on_start", "on_end", "detached_from", "created_at", "updated_at"]
SEED_KEYS = ["id", "subject", "startTime", "endTime", "type", "groupId", "recurrenceRule",
             "recurrenceException"]
ACTIVE_KEYS = ["id", "group_id", "title", "subject", "event_type", "start", "end",
               "occurrence_start", "recurring"]
INTENT_KEYS = ["schema_version", "intent_id", "group_id", "desired_state", "reason", "issued_at",
               "expires_at", "poll_interval_sec", "active_event_ids", "event_window_start",
               "event_window_end"]


# ---------------------------------------------------------------- time

def now_s(ahead=0):
    """The current UTC time rounded up to a whole second, plus ahead seconds."""
    t = datetime.datetime.now(UTC)
    t = t.replace(microsecond=0) + (S if t.microsecond else 0 * S)
    return t + ahead * S


def z(t):
    """RFC 3339 UTC with Z, whole seconds."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def compact(t):
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def naive(t):
    """Seed 004's REST time: Python isoformat() of a naive UTC time."""
    return t.astimezone(UTC).replace(tzinfo=None).isoformat()


def parse(s):
    t = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def wall(m):
    """The UTC wall time (epoch seconds) an MQTT message arrived."""
    return m.t + _OFFSET


def ts(t):
    return t.timestamp()


def sleep_until(t, slack=0.0):
    """Sleep until the wall clock passes datetime t (+ slack seconds); bounded by 120 s."""
    left = ts(t) + slack - time.time()
    assert left < 120, f"sleep_until {t}: {left:.1f}s is too far ahead"
    if left > 0:
        time.sleep(left)


# ---------------------------------------------------------------- JSON

def ordered(payload):
    """Parse JSON keeping the key order (for 'exactly these keys in this order')."""
    if isinstance(payload, bytes):
        payload = payload.decode()
    return json.loads(payload, object_pairs_hook=OrderedDict)


def is_uuid4(s):
    try:
        u = uuidlib.UUID(s)
    except (ValueError, TypeError, AttributeError):
        return False
    return u.version == 4 and str(u) == s


# ---------------------------------------------------------------- REST

def event_body(group, title, start, end, **kw):
    b = {"group_id": group, "title": title, "start": z(start), "end": z(end)}
    b.update(kw)
    return b


def create(hub, body, headers=None):
    """POST /api/v1/events → 201; returns the event (checked for its keys)."""
    r = hub.request("POST", "/api/v1/events", body, headers)
    assert r.status == 201, (body, r)
    ev = r.json()
    assert list(ev) == EVENT_KEYS, ev
    return ev


def get_event(hub, eid, status=200):
    r = hub.get(f"/api/v1/events/{eid}")
    assert r.status == status, (eid, r)
    return r.json()


def events(hub, query=""):
    r = hub.get("/api/v1/events" + query)
    assert r.status == 200, r
    return r.json()


def delete(hub, eid, headers=None):
    r = hub.request("DELETE", f"/api/v1/events/{eid}", headers=headers)
    assert r.status == 200 and r.json()["ok"] is True, (eid, r)
    return r.json()


def our_error(r, status, field=None, code=None):
    """A /api/v1 error: {"ok": false, "error": {code, message, field?}}, one short line."""
    assert r.status == status, r
    b = r.json()
    assert b["ok"] is False, b
    err = b["error"]
    if code is not None:
        assert err["code"] == code, b
    if field is not None:
        assert err.get("field") == field, b
    assert isinstance(err["message"], str) and err["message"], b
    assert "\n" not in err["message"] and len(err["message"]) < 600, err
    return err


def seed_error(r, status):
    """A seed 004 error: exactly {"error": "<message>"}."""
    assert r.status == status, r
    b = r.json()
    assert list(b) == ["error"] and isinstance(b["error"], str) and b["error"], b
    return b["error"]


# ---------------------------------------------------------------- MQTT

def on(client, topic, start=0):
    with client.cond:
        return [m for m in client.msgs[start:] if m.topic == topic]


def mark(client):
    with client.cond:
        return len(client.msgs)


def wait_msg(client, topic, pred=None, timeout=None, start=0, what=None):
    """The first message on topic (at index >= start) whose parsed JSON satisfies pred."""
    def ok(m):
        try:
            body = m.json()
        except ValueError:
            return False
        return pred is None or pred(body)
    try:
        _, m = client.wait(topic, pred=ok, timeout=T(5) if timeout is None else timeout,
                           start=start)
    except AssertionError as e:
        raise AssertionError(f"{what or topic}: {e}") from None
    return m


def check_intent(body, group, poll_s, life_s):
    """A power intent v1 body exactly as seed 004 has it (keys in order, types, expiry)."""
    assert list(body) == INTENT_KEYS, list(body)
    assert body["schema_version"] == "1.0", body
    assert is_uuid4(body["intent_id"]), body
    assert type(body["group_id"]) is int and body["group_id"] == group, body
    assert body["desired_state"] in ("on", "off"), body
    assert ISO_Z.match(body["issued_at"]) and ISO_Z.match(body["expires_at"]), body
    issued, expires = parse(body["issued_at"]), parse(body["expires_at"])
    assert expires > issued, body
    assert (expires - issued).total_seconds() == life_s, (body, life_s)
    assert type(body["poll_interval_sec"]) is int and body["poll_interval_sec"] == poll_s, body
    assert isinstance(body["active_event_ids"], list), body
    assert all(type(i) is int for i in body["active_event_ids"]), body
    if body["desired_state"] == "off":
        assert body["reason"] == "no_active_event", body
        assert body["active_event_ids"] == [], body
        assert body["event_window_start"] is None and body["event_window_end"] is None, body
    else:
        assert body["reason"] == "active_event", body
        assert body["active_event_ids"], body
        assert body["active_event_ids"] == sorted(set(body["active_event_ids"])), body
        assert ISO_Z.match(body["event_window_start"]), body
        assert ISO_Z.match(body["event_window_end"]), body
        assert parse(body["event_window_start"]) < parse(body["event_window_end"]), body
    return body


def metric(hub, name):
    return hub.metrics().samples.get((name, ""), 0.0)


def wait_metric(hub, name, at_least, timeout=None):
    return wait_until(lambda: (lambda v: v if v >= at_least else None)(metric(hub, name)),
                      T(5) if timeout is None else timeout, interval=0.05,
                      what=f"{name} >= {at_least}")


def ts_left(t):
    """Seconds until the wall clock reaches datetime t (0 when past)."""
    return max(0.0, t.timestamp() - time.time())
