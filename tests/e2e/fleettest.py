"""fleettest.py - helpers for the device-fleet e2e tests (test_96, test_97, test_98).

A Fleet is one real Mosquitto and one real showhub on free 127.0.0.1 ports with short
fleet timings (POLL_INTERVAL_SECONDS=1, HEARTBEAT_GRACE_SECONDS=10), a spy MQTT client that
records every fleet topic, and the devsim processes a test starts (tools/devsim, driven over
stdin, its JSON-line events collected). Seed 004's REST routes are called as a user's client
would; hand-made device messages go out through a plain paho client.

Every wait is bounded.
"""
import datetime
import json
import os
import re
import sys
import threading
import uuid as uuidlib

from hubtest import Hub, MqttClient, Mosquitto, T, WsClosed, WsTimeout, recv_type, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEVSIM_DIR = os.path.join(ROOT, "tools", "devsim")
DEVSIM = os.path.join(DEVSIM_DIR, "devsim.py")
sys.path.insert(0, DEVSIM_DIR)

from sim_infoscreen import device_uuid  # noqa: E402,F401 - the tests import it from here

FLEET_ENV = {"POLL_INTERVAL_SECONDS": "1", "HEARTBEAT_GRACE_SECONDS": "10"}
GRACE_S = 10
# devsim timings: a heartbeat and a health message every second, quick restarts
FAST = ["--heartbeat", "1", "--health", "1", "--restart-app-delay", "0.2",
        "--reboot-delay", "1", "--reconnect-min", "0.2"]

# ---------------------------------------------------------------- shapes

CAMEL_KEYS = ["commandId", "clientUuid", "action", "status", "reason", "requestedBy",
              "issuedAt", "expiresAt", "publishedAt", "ackedAt", "executionStartedAt",
              "completedAt", "failedAt", "errorCode", "errorMessage", "createdAt", "updatedAt"]
SNAKE_KEYS = ["command_id", "client_uuid", "action", "status", "reason", "requested_by",
              "issued_at", "expires_at", "published_at", "acked_at", "execution_started_at",
              "completed_at", "failed_at", "error_code", "error_message", "created_at",
              "updated_at"]
PAYLOAD_KEYS = {"schema_version", "command_id", "client_uuid", "action", "issued_at",
                "expires_at", "requested_by", "reason"}
ENTITY_KEYS = {"id", "kind", "group_id", "description", "hostname", "ip", "first_seen",
               "last_seen", "presence", "is_active", "alive", "last_alive", "current_process",
               "process_pid", "process_status", "current_event_id", "screen_health_status",
               "mqtt_reconnect_count", "mqtt_last_disconnect_at", "service_failed_at",
               "service_failed_unit", "health", "health_at"}
ALIVE_KEYS = {"uuid", "description", "hostname", "ip", "last_alive", "is_active", "is_alive",
              "group_id"}
CRASHED_KEYS = {"uuid", "description", "hostname", "ip", "group_id", "is_alive",
                "process_status", "screen_health_status", "last_alive", "crash_reason"}
SF_KEYS = {"uuid", "description", "hostname", "ip", "group_id", "service_failed_at",
           "service_failed_unit", "is_alive", "last_alive"}
ALERT_KEYS = {"id", "kind", "device", "since", "message"}
TERMINAL = {"completed", "failed", "expired", "canceled", "blocked_safety"}

# seed 004's REST times: Python isoformat() of a naive (clients) or aware (commands) UTC time
PY_NAIVE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")
PY_AWARE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")
# ours (state, /api/v1): RFC 3339 UTC with milliseconds and Z
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# MQTT payloads: RFC 3339 UTC with Z
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

LOCKOUT_MESSAGE = "Neustart voruebergehend blockiert (Sicherheits-Lockout)"
EXPIRED_MESSAGE = "Command expired before terminal state was reached."


def parse_time(s):
    """A time string of any of the styles above as an aware UTC datetime."""
    assert isinstance(s, str), s
    t = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t


def iso_z(dt=None, ms=True):
    """dt (default now) as the devices write it: 2026-04-05T08:00:00.123Z."""
    dt = dt or datetime.datetime.now(datetime.timezone.utc)
    s = dt.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds" if ms else "seconds")
    return s.replace("+00:00", "Z")


def new_uuid():
    return str(uuidlib.uuid4())


def is_uuid4(s):
    try:
        u = uuidlib.UUID(s)
    except (ValueError, TypeError, AttributeError):
        return False
    return u.version == 4 and str(u) == s


def check_camel(cmd):
    """A command in seed 004's REST shape: exactly its 17 camelCase keys, its time style."""
    assert isinstance(cmd, dict), cmd
    assert sorted(cmd) == sorted(CAMEL_KEYS), f"keys {sorted(cmd)}"
    for k in ("issuedAt", "expiresAt", "createdAt", "updatedAt"):
        assert PY_AWARE.match(cmd[k]), (k, cmd[k])
    for k in ("publishedAt", "ackedAt", "executionStartedAt", "completedAt", "failedAt"):
        assert cmd[k] is None or PY_AWARE.match(cmd[k]), (k, cmd[k])
    return cmd


def check_snake(cmd):
    """A command as the state and /api/v1 carry it."""
    assert sorted(cmd) == sorted(SNAKE_KEYS), f"keys {sorted(cmd)}"
    for k in ("issued_at", "expires_at", "created_at", "updated_at"):
        assert ISO_MS_Z.match(cmd[k]), (k, cmd[k])
    for k in ("published_at", "acked_at", "execution_started_at", "completed_at", "failed_at"):
        assert cmd[k] is None or ISO_MS_Z.match(cmd[k]), (k, cmd[k])
    return cmd


# ---------------------------------------------------------------- devsim

from devsimctl import Devsim  # noqa: E402,F401 - the fleet suites import it from here


# ---------------------------------------------------------------- WebSocket recorder

class WsRecorder:
    """A /ws session in some rooms whose frames a thread reads all the time (so the hub never
    takes it for a slow client); the test looks at what arrived."""

    def __init__(self, hub, rooms):
        self.ws = hub.ws()
        first = self.ws.recv_json()
        assert first["type"] == "state", first
        self.ws.send_json({"type": "hello", "rooms": rooms})
        self.snapshot = recv_type(self.ws, "snapshot")
        self.frames = []
        self.cond = threading.Condition()
        self.closed = None
        self.stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.stop:
            try:
                m = self.ws.recv_json(0.2)
            except WsTimeout:
                continue
            except (WsClosed, OSError, ConnectionError) as e:
                with self.cond:
                    self.closed = e
                    self.cond.notify_all()
                return
            with self.cond:
                self.frames.append(m)
                self.cond.notify_all()

    def patches(self, prefix=""):
        """(seq, path, value) of every patch received, in order."""
        with self.cond:
            return [(f["seq"], p["path"], p["value"]) for f in self.frames
                    if f.get("type") == "patch" for p in f["patches"]
                    if p["path"].startswith(prefix)]

    def events(self, source=None):
        with self.cond:
            return [f for f in self.frames if f.get("type") == "event" and
                    (source is None or f.get("source") == source)]

    def wait(self, pred, timeout, what):
        with self.cond:
            ok = self.cond.wait_for(lambda: pred() or self.closed is not None, timeout)
        assert self.closed is None, f"WS closed while waiting for {what}: {self.closed}"
        assert ok, f"no {what} within {timeout:.1f}s on WS; frames: {self.frames[-6:]}"

    def close(self):
        self.stop = True
        self.thread.join(T(2))
        self.ws.close()


# ---------------------------------------------------------------- the fleet rig

class Fleet:
    """A broker, a hub with the fleet's short timings, a spy client on every fleet topic,
    and the devsims and hand-driven clients of the tests; close() tears all down and fails
    on a crashed hub or a sanitizer report."""

    SPY_TOPICS = ("clients/#", "devices/#", "v1/devices/#")

    def __init__(self, env=None, data_dir=None, broker=None):
        self.own_broker = broker is None
        self.broker = broker or Mosquitto().start()
        self.devsims = []
        self.clients = []
        full = dict(FLEET_ENV)
        full.update(env or {})
        self.root = full.get("FLEET_TOPIC_ROOT", "infoscreen")
        self.hub = Hub(broker=self.broker, env=full, data_dir=data_dir)
        try:
            self.hub.start()
            self.hub.wait_readyz()
            self.spy = self.client()
            for t in (f"{self.root}/#",) + self.SPY_TOPICS:
                self.spy.subscribe(t)
            self.dev = self.client()         # publishes what hand-made devices say
        except BaseException:
            self.close()
            raise

    # ----- processes
    def client(self):
        c = MqttClient(self.broker.port).connect()
        self.clients.append(c)
        return c

    def devsim(self, *args, ready=True):
        d = Devsim(self.broker.port, *args)
        self.devsims.append(d)
        if ready:
            d.ready()
        return d

    def close(self):
        errors = []
        for d in self.devsims:
            try:
                d.close()
            except Exception as e:  # noqa: BLE001 - teardown goes on
                errors.append(f"devsim: {e}")
        for c in self.clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        try:
            self.hub.finish()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            if self.hub.running():
                self.hub.kill9()
            if self.own_broker:
                self.broker.close()
        assert not errors, "\n".join(errors)

    # ----- MQTT as a device
    def publish(self, topic, payload, qos=1, retain=False):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        self.dev.publish(topic, payload, qos=qos, retain=retain)

    def discover(self, uid=None, hostname=None, ip=None, wait=True, **extra):
        """Register a hand-made infoscreen through discovery; returns its uuid."""
        uid = uid or new_uuid()
        body = {"uuid": uid, "hostname": hostname or f"screen-{uid[:8]}",
                "ip": ip or "192.0.2.10"}
        body.update(extra)
        self.publish(f"{self.root}/discovery", body)
        if wait:
            wait_until(lambda: self.device(uid.lower()), T(5), interval=0.02,
                       what=f"{uid} registered")
        return uid

    def heartbeat(self, uid, **fields):
        self.publish(f"{self.root}/{uid}/heartbeat", fields)

    def ack(self, command_id, status, uid, error_code=None, error_message=None, alias=False):
        topic = f"{self.root}/{uid}/{'command' if alias else 'commands'}/ack"
        self.publish(topic, {"command_id": command_id, "status": status,
                             "error_code": error_code, "error_message": error_message})

    # ----- REST as a user's client
    def get(self, path):
        return self.hub.get(path)

    def get_json(self, path, status=200):
        r = self.hub.get(path)
        assert r.status == status, (path, r)
        return r.json()

    def device(self, uid):
        r = self.hub.get(f"/api/v1/devices/{uid}")
        if r.status == 404:
            return None
        assert r.status == 200, r
        return r.json()

    def wait_device(self, uid, pred, what, timeout=None):
        return wait_until(lambda: (lambda v: v if v is not None and pred(v) else None)(
            self.device(uid)), T(5) if timeout is None else timeout, interval=0.05,
            what=f"{uid}: {what}")

    def restart(self, uid, body=None, headers=None):
        return self.hub.request("POST", f"/api/clients/{uid}/restart", body, headers)

    def shutdown(self, uid, body=None, headers=None):
        return self.hub.request("POST", f"/api/clients/{uid}/shutdown", body, headers)

    def post_command(self, uid, action, reason=None, headers=None):
        body = {"action": action}
        if reason is not None:
            body["reason"] = reason
        return self.hub.request("POST", f"/api/v1/devices/{uid}/commands", body, headers)

    def issue(self, route_or_action, uid, **kw):
        """Issue a command and expect 202; returns the command (camelCase)."""
        if route_or_action == "restart":
            r = self.restart(uid, **kw)
        elif route_or_action == "shutdown":
            r = self.shutdown(uid, **kw)
        else:
            r = self.post_command(uid, route_or_action, **kw)
        assert r.status == 202, r
        return check_camel(r.json()["command"])

    def command(self, cid):
        r = self.hub.get(f"/api/clients/commands/{cid}")
        assert r.status == 200, (cid, r)
        return check_camel(r.json())

    def commands_of(self, uid):
        return [check_snake(c) for c in
                self.get_json(f"/api/v1/devices/{uid}/commands?limit=1000")["commands"]]

    def wait_status(self, cid, status, timeout=None):
        """The command once it reached status (failing early when it went terminal otherwise)."""
        seen = {}

        def check():
            c = self.command(cid)
            seen["last"] = c
            if c["status"] == status:
                return c
            assert c["status"] not in TERMINAL, f"{cid} went {c['status']}, wanted {status}: {c}"
            return None
        try:
            return wait_until(check, T(8) if timeout is None else timeout, interval=0.05,
                              what=f"command {cid} {status}")
        except AssertionError as e:
            raise AssertionError(f"{e}; last {seen.get('last')}") from None

    def alerts(self):
        return self.get_json("/api/v1/alerts")

    def alert_ids(self):
        return {a["id"] for a in self.alerts()["alerts"]}

    # ----- metrics
    def metrics(self):
        return self.hub.metrics()

    def metric(self, name, labels="", m=None):
        m = m or self.metrics()
        return m.samples.get((name, labels), 0.0)

    def rejected(self, m=None):
        """fleet_ingest_rejected_total per reason."""
        m = m or self.metrics()
        return {lab[len('{reason="'):-2]: v for (n, lab), v in m.samples.items()
                if n == "fleet_ingest_rejected_total"}

    def acks_ignored(self, m=None):
        m = m or self.metrics()
        return {lab[len('{reason="'):-2]: v for (n, lab), v in m.samples.items()
                if n == "fleet_command_acks_ignored_total"}

    def commands_total(self, action, status, m=None):
        return self.metric("fleet_commands_total", f'{{action="{action}",status="{status}"}}', m)


def delta(after, before):
    """The counters that moved, as {key: increase}."""
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)
            if after.get(k, 0) != before.get(k, 0)}


def on_topic(spy, topic, pred=None):
    return [m for m in spy.on(topic) if pred is None or pred(m)]


def command_msgs(spy, uid, cid, alias=False, root="infoscreen"):
    """The command messages for cid the spy saw on a device's command topic."""
    out = []
    for m in spy.on(f"{root}/{uid}/{'command' if alias else 'commands'}"):
        try:
            body = m.json()
        except ValueError:
            continue
        if isinstance(body, dict) and body.get("command_id") == cid:
            out.append(m)
    return out
