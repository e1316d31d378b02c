"""devsim core: one single-threaded event loop driving many paho clients.

paho-mqtt 1.6 "external loop" pattern: every client's socket sits in one
selector; paho tells us (on_socket_register_write / _unregister_write) when a
socket has data to send, we call loop_read()/loop_write() when the selector
says so, and loop_misc() once a second for keepalive. No per-client thread,
so thousands of devices fit in one process.

Everything that touches a client runs on the loop thread. The only other
thread is the stdin control reader, which hands lines over through a queue
and a wake-up socket.
"""
import collections
import datetime
import heapq
import itertools
import json
import queue
import random
import re
import resource
import selectors
import signal
import socket
import sys
import time
import traceback

import paho.mqtt.client as mqtt


# ---------------------------------------------------------------- time

def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso_z(dt=None):
    """RFC 3339 UTC with milliseconds and Z: 2026-04-05T08:00:00.000Z."""
    dt = dt or utc_now()
    dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_rfc3339(s):
    """Aware datetime from an RFC 3339 date-time (offset required); ValueError otherwise."""
    if not isinstance(s, str):
        raise ValueError("not a string")
    m = _RFC3339.match(s)
    if not m:
        raise ValueError(f"not an RFC 3339 date-time: {s!r}")
    date, clock, frac, off = m.groups()
    frac = (frac or "")[:7]                       # '.' + at most 6 digits
    off = "+00:00" if off in ("Z", "z") else off
    return datetime.datetime.fromisoformat(f"{date}T{clock}{frac}{off}")


# ---------------------------------------------------------------- output

class Emitter:
    """JSON lines on stdout: events ({"event": ...}) and control replies ({"ok": ...})."""

    QUIET_EVENTS = {"connected", "disconnected", "reconnected", "connect_failed"}

    def __init__(self, quiet=False, stream=None):
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.broken = False

    def write(self, obj):
        if self.broken:
            return
        try:
            self.stream.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            self.broken = True            # nobody listens any more; keep simulating

    def emit(self, event, **fields):
        if self.quiet and event in self.QUIET_EVENTS:
            return
        obj = {"event": event, "t": iso_z()}
        obj.update(fields)
        self.write(obj)


def raise_nofile_limit():
    """RLIMIT_NOFILE soft limit up to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


# ---------------------------------------------------------------- loop

class Timer:
    __slots__ = ("when", "fn", "args", "cancelled")

    def __init__(self, when, fn, args):
        self.when, self.fn, self.args, self.cancelled = when, fn, args, False

    def cancel(self):
        self.cancelled = True


class Loop:
    """Selector + timer heap + rate-limited connect queue + control queue."""

    MISC_INTERVAL = 1.0        # loop_misc (keepalive PINGREQ) for every client

    def __init__(self, broker, emitter, connect_rate=200.0, rng=None):
        self.broker = broker            # dict: host, port, keepalive, username, password
        self.emitter = emitter
        self.emit = emitter.emit
        self.rng = rng or random.Random()
        self.sel = selectors.DefaultSelector()
        self.nodes = []
        self._timers = []
        self._seq = itertools.count()
        self._connect_queue = collections.deque()
        self.connect_rate = max(1.0, float(connect_rate))
        self._tokens = 1.0
        self._token_t = time.monotonic()
        self._next_misc = time.monotonic() + self.MISC_INTERVAL
        self.control = queue.SimpleQueue()     # lines from the control thread; None = EOF
        self.on_control = None                  # fn(line or None), set by the CLI
        self.stop_requested = False
        self.stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, None)

    # ---- timers
    def call_later(self, delay, fn, *args):
        t = Timer(time.monotonic() + max(0.0, delay), fn, args)
        heapq.heappush(self._timers, (t.when, next(self._seq), t))
        return t

    def call_soon(self, fn, *args):
        return self.call_later(0.0, fn, *args)

    # ---- cross-thread wake-up
    def wake(self):
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass

    def install_signal_handlers(self):
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)

        def handler(signum, frame):
            self.stop_requested = True
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def post_control(self, line):
        """Thread-safe: hand a control line (None = EOF) to the loop."""
        self.control.put(line)
        self.wake()

    # ---- connections
    def add(self, node):
        self.nodes.append(node)

    def request_connect(self, node):
        if not node.queued:
            node.queued = True
            self._connect_queue.append(node)

    def _run_connects(self, now):
        self._tokens = min(max(1.0, self.connect_rate / 20.0),
                           self._tokens + (now - self._token_t) * self.connect_rate)
        self._token_t = now
        while self._connect_queue and self._tokens >= 1.0 and not self.stopping:
            node = self._connect_queue.popleft()
            node.queued = False
            self._tokens -= 1.0
            node.attempt_connect()

    # selector registration, called from paho's socket callbacks
    def sock_open(self, node, sock):
        self.sel.register(sock, selectors.EVENT_READ, node)

    def sock_close(self, node, sock):
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass

    def sock_want_write(self, node, sock, on):
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        try:
            self.sel.modify(sock, events, node)
        except (KeyError, ValueError):
            pass

    # ---- running
    def _timeout(self, now):
        t = 0.25
        if self._timers:
            t = min(t, self._timers[0][0] - now)
        if self._connect_queue:
            t = min(t, 1.0 / self.connect_rate)
        return max(0.0, t)

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except Exception as e:                       # a bug must not stop the fleet
            self.emit("error", error=f"{type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)

    def _io(self, key, mask):
        node = key.data
        c = node.client
        if mask & selectors.EVENT_READ:
            c.loop_read()
        if mask & selectors.EVENT_WRITE and c.socket() is key.fileobj:
            c.loop_write()

    def run_once(self):
        now = time.monotonic()
        self._run_connects(now)
        for key, mask in self.sel.select(self._timeout(now)):
            if key.data is None:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
                continue
            self._guard(self._io, key, mask)
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, t = heapq.heappop(self._timers)
            if not t.cancelled:
                self._guard(t.fn, *t.args)
        while True:
            try:
                line = self.control.get_nowait()
            except queue.Empty:
                break
            if self.on_control:
                self._guard(self.on_control, line)
        if now >= self._next_misc:
            self._next_misc = now + self.MISC_INTERVAL
            for node in self.nodes:
                if node.client.socket() is not None:
                    self._guard(node.client.loop_misc)

    def run(self):
        while not self.stop_requested:
            self.run_once()
        self.shutdown()

    def shutdown(self, timeout=3.0):
        """Clean disconnect of every node (LWT nodes say offline first), bounded."""
        self.stopping = True
        self._connect_queue.clear()
        for node in self.nodes:
            self._guard(node.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(n.client.socket() is not None for n in self.nodes):
                break
            self.run_once()


# ---------------------------------------------------------------- one MQTT client

class MqttNode:
    """One simulated device = one paho client on the shared loop.

    Connection policy: the first connect and every reconnect go through the
    loop's rate-limited queue. An unplanned loss reconnects with jittered
    exponential backoff. A planned outage sets `hold`: ("down", until) stays
    offline until a time, ("off", None) until resume(), ("stopping", None)
    for good.
    """

    def __init__(self, loop, client_id, reconnect_min=0.5, reconnect_max=10.0):
        self.loop = loop
        self.emit = loop.emit
        self.client_id = client_id
        self.client = mqtt.Client(client_id=client_id, clean_session=True)
        b = loop.broker
        if b.get("username") is not None:
            self.client.username_pw_set(b["username"], b.get("password"))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        c = self.client
        c.on_socket_open = lambda c, u, s: loop.sock_open(self, s)
        c.on_socket_close = lambda c, u, s: loop.sock_close(self, s)
        c.on_socket_register_write = lambda c, u, s: loop.sock_want_write(self, s, True)
        c.on_socket_unregister_write = lambda c, u, s: loop.sock_want_write(self, s, False)
        self.online = False               # CONNACK received and no disconnect since
        self.queued = False
        self.started = False
        self.connects = 0                 # successful connects
        self.reconnect_count = 0          # successful connects after the first
        self.last_disconnect_at = None    # ISO Z of the last loss of an online connection
        self.hold = None
        self._hold_timer = None
        self._backoff = reconnect_min
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self._waiters = {}                # mid -> callback (PUBACK)

    # identity for events
    def tag(self):
        return {}

    def ev(self, event, **fields):
        f = self.tag()
        f.update(fields)
        self.emit(event, **f)

    # ---- subclass hooks
    def on_online(self, first):
        pass

    def on_offline(self):
        pass

    def on_message(self, topic, payload):
        pass

    def stop(self):
        """Whole-simulator exit: clean DISCONNECT."""
        self.hold = ("stopping", None)
        if self.client.socket() is not None:
            self.client.disconnect()

    # ---- connection management
    def start(self):
        self.loop.request_connect(self)

    def attempt_connect(self):
        if self.hold is not None or self.online or self.client.socket() is not None:
            return
        b = self.loop.broker
        try:
            if not self.started:
                self.client.connect_async(b["host"], b["port"], keepalive=b.get("keepalive", 60))
                self.started = True
            self.client.reconnect()
        except OSError as e:
            self.ev("connect_failed", error=str(e))
            self._schedule_reconnect()

    def _schedule_reconnect(self):
        if self.loop.stopping or self.hold is not None:
            return
        delay = self._backoff * self.loop.rng.uniform(0.8, 1.2)
        self._backoff = min(self.reconnect_max, self._backoff * 2)
        self.loop.call_later(delay, self.loop.request_connect, self)

    def _on_connect(self, client, userdata, flags, rc):
        if rc != 0:
            self.ev("connect_failed", error=mqtt.connack_string(rc))
            return                                     # broker closes; on_disconnect retries
        self.online = True
        self._backoff = self.reconnect_min
        self.connects += 1
        first = self.connects == 1
        if not first:
            self.reconnect_count += 1
            self.ev("reconnected", reconnect_count=self.reconnect_count)
        else:
            self.ev("connected")
        # after paho has re-sent its in-flight QoS 1 messages (it does so right
        # after this callback), so older messages keep their order on the wire
        self.loop.call_soon(self._online_now, first)

    def _online_now(self, first):
        if self.online:
            self.on_online(first)

    def _on_disconnect(self, client, userdata, rc):
        was_online = self.online
        self.online = False
        if was_online:
            self.last_disconnect_at = iso_z()
        self.ev("disconnected", rc=rc, planned=self.hold is not None)
        self.on_offline()
        if self.loop.stopping:
            return
        if self.hold is None:
            self._schedule_reconnect()
        elif self.hold[0] == "down":
            self._arm_hold(self.hold[1])

    def _arm_hold(self, until):
        if self._hold_timer:
            self._hold_timer.cancel()
        self._hold_timer = self.loop.call_later(until - time.monotonic(), self._hold_over)

    def _hold_over(self):
        self._hold_timer = None
        if self.hold and self.hold[0] == "down":
            self.hold = None
            self.loop.request_connect(self)

    def drop(self, seconds=None):
        """Abrupt loss of the connection (TCP shutdown, no DISCONNECT packet,
        so the broker fires the LWT); reconnect after `seconds`, or stay
        offline until resume() when seconds is None."""
        self.hold = ("down", time.monotonic() + seconds) if seconds is not None else ("off", None)
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)   # the loop sees EOF -> on_disconnect
            except OSError:
                pass
        elif self.hold[0] == "down":
            self._arm_hold(self.hold[1])

    def go_offline(self):
        """Clean DISCONNECT; stay offline until resume()."""
        self.hold = ("off", None)
        if self.client.socket() is not None:
            self.client.disconnect()

    def resume(self):
        """End a planned outage now (no-op while online)."""
        if self.hold and self.hold[0] == "stopping":
            return
        self.hold = None
        if self._hold_timer:
            self._hold_timer.cancel()
            self._hold_timer = None
        if not self.online and self.client.socket() is None:
            self.loop.request_connect(self)

    # ---- messages
    def _on_message(self, client, userdata, msg):
        self.on_message(msg.topic, msg.payload)

    def publish(self, topic, payload, qos=0, retain=False, on_acked=None):
        """Publish when online; False (nothing sent) otherwise. on_acked() runs
        once the broker acknowledged (QoS 1: PUBACK; QoS 0: written)."""
        if not self.online:
            return False
        if not isinstance(payload, (bytes, str)):
            payload = json.dumps(payload, separators=(",", ":"))
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        if on_acked is not None:
            self._waiters[info.mid] = on_acked
        return True

    def _on_publish(self, client, userdata, mid):
        cb = self._waiters.pop(mid, None)
        if cb:
            cb()
