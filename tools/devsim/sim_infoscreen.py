"""A simulated seed-004 infoscreen client (Raspberry Pi signage player).

Topics (root R, default "infoscreen"):
  out  R/discovery, R/<uuid>/heartbeat, R/<uuid>/health (QoS 0), R/<uuid>/logs/<level>,
       R/<uuid>/service_failed (retained), R/<uuid>/commands/ack + R/<uuid>/command/ack
  in   R/<uuid>/commands (+ R/<uuid>/command with --listen-alias), R/<uuid>/group_id,
       R/<uuid>/discovery_ack

Command intake follows READING-NOTES seed 004 4.4.7: validate, dedupe (persistent,
24 h TTL), reject stale, then accepted -> execution_started -> completed | failed.
"""
import hashlib
import json
import os
import re
import time
import uuid as uuidlib

from simcore import MqttNode, iso_z, parse_rfc3339, utc_now

COMMAND_KEYS = ("schema_version", "command_id", "client_uuid", "action",
                "issued_at", "expires_at", "requested_by", "reason")
ACTIONS = ("reboot_host", "shutdown_host", "restart_app")
PROCESS = "display_manager"
SCREEN_STATES = ("OK", "BLACK", "FROZEN", "UNKNOWN")
UNIT = "infoscreen-simclient.service"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
DEDUPE_TTL = 24 * 3600
ACK_FALLBACK_TTL = 240            # retry window for ACKs of commands without a usable expires_at
ACK_MIN_TTL = 10                 # ...and at least this long (a stale command's failed ACK)

LOG_LEVELS = ("info", "warn", "error")
LOG_WEIGHTS = (70, 20, 10)
LOG_MESSAGES = {
    "info": ["Event display started", "Presentation slide advanced", "Schedule refreshed",
             "Screenshot captured"],
    "warn": ["Frame update slow", "Event payload missing optional field",
             "Retrying media download"],
    "error": ["Media file not found", "Display process exited unexpectedly",
              "Failed to render website event"],
}


def device_uuid(seed, index):
    """Deterministic uuid4-shaped id for device `index` of run `seed`."""
    digest = hashlib.sha256(f"devsim:{seed}:{index}".encode()).digest()
    return str(uuidlib.UUID(int=int.from_bytes(digest[:16], "big"), version=4))


def parse_ack_mode(mode):
    """Validate an ack mode; returns it or raises ValueError."""
    if mode in ("normal", "ignore", "accept_only"):
        return mode
    if mode.startswith("fail:") and len(mode) > 5 and len(mode) <= 5 + 128:
        return mode
    if mode.startswith("delay:"):
        if float(mode[6:]) >= 0:
            return mode
    raise ValueError("ack mode must be normal, ignore, accept_only, fail:<code> or delay:<s>")


# ---------------------------------------------------------------- validation

def validate_command(raw, own_uuid):
    """-> (command dict, None) or (None, (error_code, message, command_id or None))."""
    try:
        cmd = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        return None, ("invalid_schema", f"payload is not JSON: {e}", None)
    if not isinstance(cmd, dict):
        return None, ("invalid_schema", "payload is not a JSON object", None)
    cid = cmd.get("command_id")
    cid = cid if isinstance(cid, str) and cid else None

    def bad(code, msg):
        return None, (code, msg, cid)

    missing = [k for k in COMMAND_KEYS if k not in cmd]
    if missing:
        return bad("missing_field", f"missing field(s): {', '.join(missing)}")
    extra = sorted(k for k in cmd if k not in COMMAND_KEYS)
    if extra:
        return bad("invalid_schema", f"unexpected field(s): {', '.join(extra)}")
    if cmd["schema_version"] != "1.0":
        return bad("invalid_schema", f"unsupported schema_version {cmd['schema_version']!r}")
    for k in ("command_id", "client_uuid"):
        if not isinstance(cmd[k], str) or not UUID_RE.match(cmd[k]):
            return bad("invalid_schema", f"{k} is not a UUID")
    if cmd["client_uuid"].lower() != own_uuid:
        return bad("invalid_schema", f"client_uuid {cmd['client_uuid']} is not this device")
    if cmd["action"] not in ACTIONS:
        return bad("invalid_schema", f"unsupported action {cmd['action']!r}")
    for k in ("issued_at", "expires_at"):
        try:
            parse_rfc3339(cmd[k])
        except ValueError:
            return bad("invalid_schema", f"{k} is not an RFC 3339 date-time")
    rb = cmd["requested_by"]
    if rb is not None and (isinstance(rb, bool) or not isinstance(rb, int) or rb < 1):
        return bad("invalid_schema", "requested_by must be an integer >= 1 or null")
    reason = cmd["reason"]
    if reason is not None and (not isinstance(reason, str) or len(reason) > 2000):
        return bad("invalid_schema", "reason must be a string of at most 2000 characters or null")
    return cmd, None


# ---------------------------------------------------------------- dedupe cache

class DedupeStore:
    """command_id -> {seen_at, status, error_code, error_message}; 24 h TTL.
    Persisted to <state_dir>/<uuid>.json when a state dir is given (atomic
    rewrite on every change), else kept in memory only."""

    def __init__(self, path=None):
        self.path = path
        self.entries = {}
        if path:
            self.load()

    def _prune(self):
        cutoff = time.time() - DEDUPE_TTL
        self.entries = {k: v for k, v in self.entries.items() if v.get("seen_at", 0) >= cutoff}

    def load(self):
        try:
            with open(self.path) as f:
                data = json.load(f)
            self.entries = dict(data.get("commands", {}))
        except (OSError, ValueError, AttributeError):
            self.entries = {}
        self._prune()

    def save(self):
        if not self.path:
            return
        self._prune()
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"commands": self.entries}, f)
        os.replace(tmp, self.path)

    def get(self, command_id):
        return self.entries.get(command_id)

    def record(self, command_id, status, error_code=None, error_message=None):
        e = self.entries.setdefault(command_id, {"seen_at": time.time()})
        e.update(status=status, error_code=error_code, error_message=error_message)
        self.save()


# ---------------------------------------------------------------- the device

class Infoscreen(MqttNode):
    def __init__(self, loop, index, uuid, opts, client_id):
        super().__init__(loop, client_id, opts.reconnect_min, opts.reconnect_max)
        self.index = index
        self.uuid = uuid
        self.opts = opts
        self.base = f"{opts.root}/{uuid}"
        self.hostname = f"{opts.prefix}-{index}"
        self.ip = f"127.0.{(index // 254) % 256}.{index % 254 + 1}"
        self.pid = loop.rng.randint(1000, 60000)
        self.process_status = "running"
        self.screen = "OK"
        self.last_frame = iso_z()
        self.current_event_id = None
        self.silent = False
        self.group_id = None
        self.ack_mode = opts.ack_mode
        self.service_failed = False          # publish the retained alert once online
        self.service_failed_sent = False
        self.pending_acks = []               # [(payload, expires_monotonic)] while MQTT is down
        self._ack_retry = None
        self._ack_backoff = 0.5
        self.acks_in_flight = 0              # ACK publishes without PUBACK yet
        self.reboot_pending = None           # command dict to complete after reconnect
        self.timers_started = False
        self.log_seq = 0
        path = os.path.join(opts.state_dir, f"{uuid}.json") if opts.state_dir else None
        self.dedupe = DedupeStore(path)

    def tag(self):
        return {"device": self.index, "uuid": self.uuid}

    # ---- connection
    def on_online(self, first):
        c = self.client
        c.subscribe(f"{self.base}/commands", qos=1)
        if self.opts.listen_alias:
            c.subscribe(f"{self.base}/command", qos=1)
        c.subscribe(f"{self.base}/group_id", qos=1)
        c.subscribe(f"{self.base}/discovery_ack", qos=1)
        self.publish(f"{self.opts.root}/discovery", {
            "uuid": self.uuid, "hostname": self.hostname, "ip": self.ip,
            "hardware": "devsim", "version": "devsim-1"}, qos=1)
        if self.service_failed and not self.service_failed_sent:
            self.send_service_failed()
        if not self.silent:
            self.send_heartbeat()
        if not self.timers_started:
            self.timers_started = True
            self._start_timers()
        if self.reboot_pending is not None:
            cmd, self.reboot_pending = self.reboot_pending, None
            self.send_ack(cmd, "completed")
            self.ev("executed", command_id=cmd["command_id"], action=cmd["action"])
        self.flush_acks()

    def _start_timers(self):
        """First tick at a random point of the interval: a fleet does not beat in unison."""
        rng = self.loop.rng
        o = self.opts
        self.loop.call_later(rng.uniform(0, o.heartbeat), self._heartbeat_tick)
        self.loop.call_later(rng.uniform(0, o.health), self._health_tick)
        if o.logs_per_min > 0:
            self.loop.call_later(rng.expovariate(o.logs_per_min / 60.0), self._log_tick)

    # ---- telemetry
    def _jitter(self, interval):
        return interval * self.loop.rng.uniform(0.9, 1.1)

    def _heartbeat_tick(self):
        self.loop.call_later(self._jitter(self.opts.heartbeat), self._heartbeat_tick)
        if not self.silent:
            self.send_heartbeat()

    def _health_tick(self):
        self.loop.call_later(self._jitter(self.opts.health), self._health_tick)
        if not self.silent:
            self.send_health()

    def _log_tick(self):
        rng = self.loop.rng
        self.loop.call_later(rng.expovariate(self.opts.logs_per_min / 60.0), self._log_tick)
        if not self.silent:
            level = rng.choices(LOG_LEVELS, LOG_WEIGHTS)[0]
            self.send_log(level, rng.choice(LOG_MESSAGES[level]))

    def send_heartbeat(self):
        return self.publish(f"{self.base}/heartbeat", {
            "timestamp": iso_z(),
            "current_process": PROCESS,
            "process_pid": self.pid,
            "process_status": self.process_status,
            "current_event_id": self.current_event_id}, qos=1)

    def send_health(self):
        if self.screen != "FROZEN":
            self.last_frame = iso_z()
        return self.publish(f"{self.base}/health", {
            "timestamp": iso_z(),
            "expected_state": {"event_id": self.current_event_id},
            "actual_state": {"process": PROCESS, "pid": self.pid, "status": self.process_status},
            "health_metrics": {"screen_health_status": self.screen,
                               "last_frame_update": self.last_frame},
            "broker_connection": {"broker_reachable": True,
                                  "reconnect_count": self.reconnect_count,
                                  "last_disconnect_at": self.last_disconnect_at}}, qos=0)

    def send_log(self, level, message):
        self.log_seq += 1
        return self.publish(f"{self.base}/logs/{level}", {
            "timestamp": iso_z(), "message": message,
            "context": {"source": "devsim", "seq": self.log_seq, "process": PROCESS,
                        "pid": self.pid, "event_id": self.current_event_id}},
            qos=0 if level == "info" else 1)

    def send_service_failed(self):
        self.service_failed = True
        self.service_failed_sent = self.publish(f"{self.base}/service_failed", {
            "event": "service_failed", "unit": UNIT, "client_uuid": self.uuid,
            "failed_at": iso_z()}, qos=1, retain=True)
        return self.service_failed_sent

    def clear_service_failed(self):
        self.service_failed = self.service_failed_sent = False
        return self.publish(f"{self.base}/service_failed", b"", qos=1, retain=True)

    # ---- incoming
    def on_message(self, topic, payload):
        if topic in (f"{self.base}/commands", f"{self.base}/command"):
            self.on_command(topic, payload)
        elif topic == f"{self.base}/group_id":
            text = payload.decode(errors="replace").strip()
            try:
                self.group_id = int(text) if text else None
            except ValueError:
                self.group_id = None
            self.ev("group_id", group_id=self.group_id, raw=text)
        elif topic == f"{self.base}/discovery_ack":
            try:
                body = json.loads(payload)
            except ValueError:
                body = payload.decode(errors="replace")
            self.ev("discovery_ack", payload=body)

    def on_command(self, topic, payload):
        try:
            shown = json.loads(payload)
        except ValueError:
            shown = payload.decode(errors="replace")
        self.ev("command_received", topic=topic, payload=shown)
        mode = self.ack_mode
        if mode == "ignore":
            self.ev("command_ignored", reason="ack_mode ignore")
        elif mode.startswith("delay:"):
            self.loop.call_later(float(mode[6:]), self.intake, payload)
        else:
            self.intake(payload)

    def intake(self, payload):
        cmd, err = validate_command(payload, self.uuid)
        if err:
            code, message, cid = err
            self.ev("invalid_rejected", command_id=cid, error_code=code, error_message=message)
            if cid:                              # not recorded: a fixed resend may follow
                self.send_ack({"command_id": cid}, "failed", code, message, record=False)
            return
        cid = cmd["command_id"]
        seen = self.dedupe.get(cid)
        if seen:
            self.ev("duplicate_ignored", command_id=cid, last_status=seen.get("status"))
            policy = self.opts.duplicate_ack
            if policy == "last":
                self.send_ack(cmd, seen.get("status"), seen.get("error_code"),
                              seen.get("error_message"), record=False)
            elif policy == "failed":
                self.send_ack(cmd, "failed", "duplicate_command",
                              "command_id already processed", record=False)
            return
        if utc_now() > parse_rfc3339(cmd["expires_at"]):
            self.ev("stale_rejected", command_id=cid, expires_at=cmd["expires_at"])
            self.send_ack(cmd, "failed", "stale_command",
                          f"command expired at {cmd['expires_at']}")
            return
        self.send_ack(cmd, "accepted")           # recorded (and saved) before publishing
        if self.ack_mode == "accept_only":
            return
        self.send_ack(cmd, "execution_started")
        if self.ack_mode.startswith("fail:"):
            self.send_ack(cmd, "failed", self.ack_mode[5:], "simulated failure (ack_mode fail)")
            return
        getattr(self, "exec_" + cmd["action"])(cmd)

    # ---- actions
    def exec_restart_app(self, cmd):
        self.process_status = "starting"
        self.loop.call_later(self.opts.restart_app_delay, self._restart_app_done, cmd)

    def _restart_app_done(self, cmd):
        self.pid = self.loop.rng.randint(1000, 60000)
        self.process_status = "running"
        self.send_ack(cmd, "completed")
        self.ev("executed", command_id=cmd["command_id"], action=cmd["action"])

    def exec_shutdown_host(self, cmd):
        self.send_ack(cmd, "completed")
        self.ev("executed", command_id=cmd["command_id"], action=cmd["action"])
        # clean DISCONNECT once the ACKs are on the broker; off until `resume`
        self._when_acks_delivered(self.go_offline)

    def exec_reboot_host(self, cmd):
        def reboot():
            self.process_status = "running"        # a reboot also heals a crashed player
            self.pid = self.loop.rng.randint(1000, 60000)
            self.reboot_pending = cmd              # completed after the reconnect
            self.drop(self.opts.reboot_delay)
        # execution_started must be on the broker before the link goes down
        self._when_acks_delivered(reboot)

    def _when_acks_delivered(self, then, timeout=3.0):
        """Run then() once every ACK handed to the broker got its PUBACK, or
        at once when offline (they wait in the queue), bounded by timeout."""
        deadline = time.monotonic() + timeout

        def check():
            if self.acks_in_flight == 0 or not self.online or time.monotonic() >= deadline:
                then()
            else:
                self.loop.call_later(0.01, check)
        check()

    # ---- ACKs
    def send_ack(self, cmd, status, error_code=None, error_message=None, record=True):
        cid = cmd["command_id"]
        payload = {"command_id": cid, "status": status,
                   "error_code": error_code, "error_message": error_message}
        if record:
            self.dedupe.record(cid, status, error_code, error_message)
        try:
            expires = parse_rfc3339(cmd.get("expires_at"))
            ttl = (expires - utc_now()).total_seconds()
        except ValueError:
            ttl = ACK_FALLBACK_TTL
        self.pending_acks.append((payload, time.monotonic() + max(ttl, ACK_MIN_TTL)))
        self.flush_acks()

    def _publish_ack(self, payload):
        for topic in (f"{self.base}/commands/ack", f"{self.base}/command/ack"):
            if not self.publish(topic, payload, qos=1, on_acked=self._ack_delivered):
                return False
            self.acks_in_flight += 1
        return True

    def _ack_delivered(self):
        self.acks_in_flight -= 1

    def flush_acks(self):
        """Send queued ACKs in order; keep the rest for a later retry (bounded
        backoff) or the next reconnect; drop those past their command's expires_at."""
        while self.pending_acks:
            payload, deadline = self.pending_acks[0]
            if time.monotonic() > deadline:
                self.pending_acks.pop(0)
                self.ev("ack_dropped", command_id=payload["command_id"], status=payload["status"],
                        reason="expired")
                continue
            if not self._publish_ack(payload):
                break
            self.pending_acks.pop(0)
            self.ev("ack_sent", command_id=payload["command_id"], status=payload["status"],
                    error_code=payload["error_code"], error_message=payload["error_message"])
        if not self.pending_acks:
            self._ack_backoff = 0.5
            return
        head = self.pending_acks[0][0]
        if self._ack_retry is None:
            self.ev("ack_queued", command_id=head["command_id"], status=head["status"],
                    queued=len(self.pending_acks))
            self._ack_retry = self.loop.call_later(self._ack_backoff, self._retry_acks)
            self._ack_backoff = min(8.0, self._ack_backoff * 2)

    def _retry_acks(self):
        self._ack_retry = None
        self.flush_acks()

    # ---- fault injection (control)
    def set_crashed(self, crashed):
        self.process_status = "crashed" if crashed else "running"
        if not crashed:
            self.pid = self.loop.rng.randint(1000, 60000)
