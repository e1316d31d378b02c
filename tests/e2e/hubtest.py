"""Shared harness for the end-to-end tests: the real showhub binary, a real
Mosquitto, plain HTTP/WebSocket/MQTT clients. Everything on 127.0.0.1, free
ports, temp dirs; every wait is bounded.
"""
import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import paho.mqtt.client as paho

SANITIZED = os.environ.get("SHOWHUB_SANITIZED", "OFF").upper() in ("ON", "1", "TRUE", "YES")
SCALE = 3.0 if SANITIZED else 1.0
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ERROR: ThreadSanitizer", "AddressSanitizer:DEADLYSIGNAL")
MOSQUITTO = "/usr/sbin/mosquitto"


def T(seconds):
    """A timeout scaled for sanitizer builds."""
    return seconds * SCALE


def hub_bin():
    path = os.environ.get("SHOWHUB_BIN")
    if not path:
        path = os.path.join(os.path.dirname(__file__), "..", "..", "build", "showhub")
    path = os.path.abspath(path)
    assert os.access(path, os.X_OK), f"showhub binary not found at {path} (set SHOWHUB_BIN)"
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value; return it. Bounded."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- ULIDs

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ulid_lock = threading.Lock()
_ulid_last = [0, 0]


def ulid(ts_ms=None):
    """A fresh ULID; monotonic within this process (same ms: random part + 1)."""
    with _ulid_lock:
        t = int(time.time() * 1000) if ts_ms is None else ts_ms
        if ts_ms is None and t <= _ulid_last[0]:
            t = _ulid_last[0]
            rnd = _ulid_last[1] + 1
            if rnd >= 1 << 80:
                t += 1
                rnd = int.from_bytes(os.urandom(10), "big") >> 1
        else:
            rnd = int.from_bytes(os.urandom(10), "big") >> 1  # headroom for increments
        if ts_ms is None:
            _ulid_last[0], _ulid_last[1] = t, rnd
    v = (t << 80) | rnd
    return "".join(CROCKFORD[(v >> (5 * (25 - i))) & 31] for i in range(26))


def ulid_valid(s):
    return (isinstance(s, str) and len(s) == 26 and s[0] in "01234567"
            and all(c in CROCKFORD for c in s.upper()))


# ---------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # lower-case name -> value (repeats joined by ", ")
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"body is not JSON ({e}): {self.body[:300]!r}")

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<Resp {self.status} {self.headers} {self.body[:300]!r}>"


def _headers_of(r):
    h = {}
    for k, v in r.getheaders():
        k = k.lower()
        h[k] = f"{h[k]}, {v}" if k in h else v
    return h


def request(port, method, path, body=None, headers=None, conn=None, timeout=None):
    """One HTTP request; body may be a dict/list (sent as JSON) or bytes/str.
    Pass conn to reuse a keep-alive connection."""
    headers = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout or T(10))
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.reason, _headers_of(r), data)
    finally:
        if own:
            conn.close()


# ---------------------------------------------------------------- Prometheus

class Metrics:
    """Parsed Prometheus text format 0.0.4."""
    LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+\d+)?$')

    def __init__(self, text):
        self.text = text
        self.help = {}
        self.type = {}
        self.samples = {}               # (name, labels) -> float
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("# HELP "):
                parts = line[7:].split(" ", 1)
                self.help[parts[0]] = parts[1] if len(parts) > 1 else ""
            elif line.startswith("# TYPE "):
                name, typ = line[7:].split(" ", 1)
                self.type[name] = typ.strip()
            elif line.startswith("#"):
                continue
            else:
                m = self.LINE.match(line)
                assert m, f"bad metrics line: {line!r}"
                self.samples[(m.group(1), m.group(2) or "")] = float(m.group(3))

    def value(self, name, labels=""):
        key = (name, labels)
        assert key in self.samples, f"metric {name}{labels} missing in:\n{self.text}"
        return self.samples[key]

    def has(self, name):
        return any(n == name for n, _ in self.samples)


# ---------------------------------------------------------------- Mosquitto

class Mosquitto:
    """A real mosquitto on 127.0.0.1; restartable on the same port."""

    def __init__(self, port=None, persistence=False, users=None, allow_anonymous=True):
        self.port = port or free_port()
        self.persistence = persistence
        self.users = users or {}
        self.allow_anonymous = allow_anonymous
        self.dir = tempfile.mkdtemp(prefix="hubtest-mosq-")
        self.proc = None
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self._write_conf()

    def _write_conf(self):
        lines = [f"listener {self.port} 127.0.0.1",
                 f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
                 "set_tcp_nodelay true",
                 "max_queued_messages 100000",
                 "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice", "log_type information"]
        if os.geteuid() == 0:
            lines.append("user root")   # keep access to our root-owned temp dir
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/"]
        else:
            lines.append("persistence false")
        if self.users:
            pw = os.path.join(self.dir, "passwd")
            for i, (u, p) in enumerate(self.users.items()):
                args = ["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [pw, u, p]
                subprocess.run(args, check=True, capture_output=True, timeout=10)
            os.chmod(pw, 0o600)
            lines.append(f"password_file {pw}")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=10):
        assert self.proc is None, "already running"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"mosquitto did not start on {self.port}:\n{self.log()}")
            time.sleep(0.02)
        return self

    def stop(self, timeout=10):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None
        self._log.close()
        # the listener must really be gone before a test relies on it
        wait_until(lambda: not port_open(self.port), timeout, what="broker port closed")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- MQTT client

class Msg:
    def __init__(self, topic, payload, retain, qos, t):
        self.topic, self.payload, self.retain, self.qos, self.t = topic, payload, retain, qos, t

    def json(self):
        return json.loads(self.payload)

    def __repr__(self):
        return f"<Msg {self.topic} retain={self.retain} {self.payload[:200]!r}>"


class MqttClient:
    """paho-mqtt 1.6.1 with a background loop; collects every message."""

    def __init__(self, port, client_id=None, username=None, password=None, clean=True):
        self.port = port
        self.c = paho.Client(client_id=client_id or f"t-{ulid()}", clean_session=clean)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.msgs = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.subacks = {}
        self.c.on_message = self._on_message
        self.c.on_connect = lambda c, u, f, rc: rc == 0 and self.connected.set()
        self.c.on_subscribe = self._on_subscribe

    def _on_message(self, c, u, m):
        with self.cond:
            self.msgs.append(Msg(m.topic, m.payload, bool(m.retain), m.qos, time.monotonic()))
            self.cond.notify_all()

    def _on_subscribe(self, c, u, mid, granted):
        with self.cond:
            self.subacks[mid] = granted
            self.cond.notify_all()

    def connect(self, timeout=None):
        self.c.connect("127.0.0.1", self.port, keepalive=10)
        self.c.loop_start()
        assert self.connected.wait(timeout or T(5)), "MQTT test client did not connect"
        return self

    def subscribe(self, topic, qos=1, timeout=None):
        rc, mid = self.c.subscribe(topic, qos)
        assert rc == 0
        with self.cond:
            ok = self.cond.wait_for(lambda: mid in self.subacks, timeout or T(5))
        assert ok, f"no SUBACK for {topic}"
        return self

    def publish(self, topic, payload, qos=1, retain=False, timeout=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout or T(5))
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def wait(self, topic=None, pred=None, timeout=None, start=0):
        """First message at index >= start matching topic and pred; returns (index, msg)."""
        timeout = T(5) if timeout is None else timeout

        def find():
            for i in range(start, len(self.msgs)):
                m = self.msgs[i]
                if (topic is None or m.topic == topic) and (pred is None or pred(m)):
                    return (i, m)
            return None
        with self.cond:
            found = self.cond.wait_for(find, timeout)
        if not found:
            raise AssertionError(f"no MQTT message on {topic} matching within {timeout:.1f}s; "
                                 f"got {self.msgs[start:][-10:]}")
        return found

    def on(self, topic):
        with self.cond:
            return [m for m in self.msgs if m.topic == topic]

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()


def retained(port, topic, timeout=None):
    """The retained message of topic as a fresh subscriber sees it (or None)."""
    c = MqttClient(port).connect()
    try:
        c.subscribe(topic)
        try:
            _, m = c.wait(topic, timeout=T(1.5) if timeout is None else timeout)
        except AssertionError:
            return None
        return m
    finally:
        c.close()


# ---------------------------------------------------------------- WebSocket (raw)

class WsClosed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason!r}")
        self.code, self.reason = code, reason


class WsTimeout(Exception):
    pass


OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def ws_frame(opcode, payload, fin=True, mask=True):
    """Encode one client frame (masked, as RFC 6455 requires of clients)."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(c ^ key[i & 3] for i, c in enumerate(payload))
    return head + key + masked


class WsClient:
    """A small RFC 6455 client on a plain socket, so tests control every byte
    (handshake status, binary frames, oversize frames, tiny receive buffers)."""

    def __init__(self, port, path="/ws", origin=None, headers=None, rcvbuf=None, timeout=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout or T(5))
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.send_lock = threading.Lock()
        self.closed = None
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if origin:
            lines.append(f"Origin: {origin}")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n")
        status_line, *hdr_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ")[1])
        self.headers = {}
        for h in hdr_lines:
            if ":" in h:
                k, v = h.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        if self.status == 101:
            want = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            assert self.headers.get("sec-websocket-accept") == want, "bad Sec-WebSocket-Accept"

    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed during handshake: {self.buf!r}")
            self.buf += chunk
        i = self.buf.index(marker)
        out, self.buf = self.buf[:i], self.buf[i + len(marker):]
        return out

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WsTimeout()
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise WsTimeout()
            except ConnectionResetError:
                raise WsClosed(None, "reset")
            if not chunk:
                raise WsClosed(None, "eof")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, opcode, payload, fin=True):
        with self.send_lock:
            self.sock.sendall(ws_frame(opcode, payload, fin))

    def send_text(self, text):
        self.send(OP_TEXT, text)

    def send_json(self, obj):
        self.send(OP_TEXT, json.dumps(obj))

    def send_raw(self, data):
        with self.send_lock:
            self.sock.sendall(data)

    def recv_frame(self, timeout=None):
        """Next message as (opcode, payload); answers pings; a close frame
        raises WsClosed(code, reason). Fragmented messages are reassembled."""
        deadline = time.monotonic() + (T(5) if timeout is None else timeout)
        parts, first_op = [], None
        while True:
            b0, b1 = self._read_exact(2, deadline)
            op, fin, n = b0 & 0x0F, b0 & 0x80, b1 & 0x7F
            assert not (b1 & 0x80), "server frames must not be masked"
            if n == 126:
                n = struct.unpack("!H", self._read_exact(2, deadline))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_exact(8, deadline))[0]
            payload = self._read_exact(n, deadline)
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.closed = (code, payload[2:].decode(errors="replace"))
                raise WsClosed(code, payload[2:].decode(errors="replace"))
            if op == OP_PING:
                self.send(OP_PONG, payload)
                continue
            if op == OP_PONG:
                return (op, payload)
            if op != OP_CONT:
                first_op = op
            parts.append(payload)
            if fin:
                return (first_op, b"".join(parts))

    def recv_json(self, timeout=None):
        op, payload = self.recv_frame(timeout)
        assert op == OP_TEXT, f"expected a text frame, got opcode {op}: {payload[:200]!r}"
        return json.loads(payload)

    def expect_silence(self, seconds):
        """Assert no message arrives within seconds."""
        try:
            op, payload = self.recv_frame(seconds)
        except WsTimeout:
            return
        raise AssertionError(f"unexpected frame {op}: {payload[:200]!r}")

    def close(self, code=1000):
        try:
            self.send(OP_CLOSE, struct.pack("!H", code))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- the hub

class Hub:
    """One showhub process with captured JSON-line logs."""

    def __init__(self, env=None, data_dir=None, broker=None, args=None, http_port=None,
                 client_id=None):
        self.tmp = tempfile.mkdtemp(prefix="hubtest-hub-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.broker = broker
        self.args = list(args or [])
        self.fixed_port = http_port
        self.client_id = client_id or f"showhub-{ulid()[-8:].lower()}"
        self.extra_env = dict(env or {})
        self.proc = None
        self.port = None
        self.expected_exit = False
        self.stdout_lines = []
        self.stderr_lines = []
        self.lock = threading.Lock()
        self.start_time = None

    def _env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DMX_")}
        env.update({
            "DMX_HTTP_HOST": "127.0.0.1",
            "DMX_HTTP_PORT": str(self.port),
            "DMX_DATA_DIR": self.data_dir,
            "DMX_LOG_LEVEL": "info",
            "DMX_MQTT_HOST": "127.0.0.1",
            "DMX_MQTT_CLIENT_ID": self.client_id,
        })
        if self.broker is not None:
            env["DMX_MQTT_PORT"] = str(self.broker.port)
        else:
            env["DMX_MQTT_ENABLED"] = "false"
        for k, v in self.extra_env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def _reader(self, stream, into):
        for raw in iter(stream.readline, b""):
            with self.lock:
                into.append(raw.decode(errors="replace").rstrip("\n"))
        stream.close()

    def spawn(self):
        """Start the process (not waiting for readiness)."""
        assert self.proc is None or self.proc.poll() is not None
        self.port = self.fixed_port or free_port()
        self.expected_exit = False
        self.start_time = time.monotonic()
        self.proc = subprocess.Popen([hub_bin()] + self.args, env=self._env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        self._threads = [threading.Thread(target=self._reader, args=(self.proc.stdout, self.stdout_lines), daemon=True),
                         threading.Thread(target=self._reader, args=(self.proc.stderr, self.stderr_lines), daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def start(self, timeout=None):
        """Spawn and wait for /healthz; retries on a new port if ours was taken."""
        for attempt in range(3):
            self.spawn()
            try:
                return self.wait_ready(timeout)
            except AssertionError:
                exited = self.proc.poll() is not None
                if exited and self.fixed_port is None and attempt < 2 and \
                        "in use" in (self.stderr() + self.stdout()).lower():
                    self.proc.wait()
                    continue
                raise

    def wait_ready(self, timeout=None):
        timeout = T(10) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._join_readers()
                raise AssertionError(f"showhub exited with {self.proc.returncode} during start:\n"
                                     f"stderr:\n{self.stderr()}\nstdout:\n{self.stdout()[-3000:]}")
            try:
                r = request(self.port, "GET", "/healthz", timeout=1)
                if r.status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"showhub not healthy within {timeout}s:\n{self.stderr()}")

    def wait_readyz(self, timeout=None):
        return wait_until(lambda: self.get("/readyz").status == 200,
                          T(10) if timeout is None else timeout, interval=0.05,
                          what="/readyz 200")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _join_readers(self):
        for t in getattr(self, "_threads", []):
            t.join(5)

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Signal and wait; returns the exit code (negative: killed by a signal).
        Raises if it does not exit within timeout (and then kills it)."""
        self.expected_exit = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout, why=f" of signal {sig}")

    def signal(self, sig=signal.SIGTERM):
        """Send sig without waiting (then wait_exit); a second SIGTERM forces exit."""
        self.expected_exit = True
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=None, why=""):
        """Wait for an exit already under way (no signal sent); returns the code."""
        timeout = T(10) if timeout is None else timeout
        self.expected_exit = True
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self._join_readers()
            raise AssertionError(f"showhub did not exit within {timeout}s{why}")
        self._join_readers()
        return self.proc.returncode

    def kill9(self):
        self.expected_exit = True
        self.proc.kill()
        self.proc.wait(10)
        self._join_readers()

    def stdout(self):
        with self.lock:
            return "\n".join(self.stdout_lines)

    def stderr(self):
        with self.lock:
            return "\n".join(self.stderr_lines)

    def logs(self, event=None):
        out = []
        with self.lock:
            lines = list(self.stdout_lines)
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and (event is None or obj.get("event") == event):
                out.append(obj)
        return out

    def wait_log(self, event, pred=None, timeout=None):
        return wait_until(lambda: [l for l in self.logs(event) if pred is None or pred(l)],
                          T(5) if timeout is None else timeout, interval=0.05,
                          what=f"log event {event!r}")[0]

    def sanitizer_report(self):
        err = self.stderr()
        return err if any(m in err for m in SANITIZER_MARKERS) else None

    def finish(self):
        """Teardown: stop if running, then fail on a crash or sanitizer report."""
        problems = []
        try:
            if self.proc is not None:
                if self.proc.poll() is not None and not self.expected_exit:
                    problems.append(f"showhub exited unexpectedly with {self.proc.returncode}")
                elif self.proc.poll() is None:
                    try:
                        rc = self.stop(signal.SIGTERM, T(10))
                        if rc != 0:
                            problems.append(f"showhub exited with {rc} on SIGTERM at teardown")
                    except AssertionError as e:
                        problems.append(str(e))
                self._join_readers()
                rep = self.sanitizer_report()
                if rep:
                    problems.append("sanitizer report")
            if problems:
                tail = "\n".join(self.stdout_lines[-40:])
                raise AssertionError("; ".join(problems) + f"\n--- stderr ---\n{self.stderr()[-20000:]}"
                                     f"\n--- stdout (last 40 lines) ---\n{tail}")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ----- HTTP conveniences
    def request(self, method, path, body=None, headers=None, conn=None):
        return request(self.port, method, path, body, headers, conn)

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def rgb(self):
        r = self.get("/rgb")
        assert r.status == 200, r
        return r.json()

    def post_rgb(self, r, g, b, cmd_id=None, src=None, headers=None, conn=None, **extra):
        body = {"cmdId": cmd_id or ulid(), "r": r, "g": g, "b": b}
        if src is not None:
            body["src"] = src
        body.update(extra)
        return self.request("POST", "/rgb", body, headers, conn)

    def metrics(self):
        r = self.get("/metrics")
        assert r.status == 200, r
        return Metrics(r.body.decode())

    def ws(self, **kw):
        c = WsClient(self.port, **kw)
        assert c.status == 101, f"WS handshake got {c.status}"
        return c

    # ----- the general core (/api/v1)
    def intent(self, name, payload=None, req_id=None, headers=None, src=None, conn=None):
        """POST /api/v1/intents; returns the Resp."""
        body = {"name": name, "payload": {} if payload is None else payload}
        if req_id is not None:
            body["req_id"] = req_id
        if src is not None:
            body["src"] = src
        return self.request("POST", "/api/v1/intents", body, headers, conn)

    def intent_ok(self, name, payload=None, **kw):
        r = self.intent(name, payload, **kw)
        assert r.status == 200, r
        b = r.json()
        assert b["ok"] is True, b
        return b

    def state(self, rooms=None):
        r = self.get("/api/v1/state" + (f"?rooms={rooms}" if rooms else ""))
        assert r.status == 200, r
        return r.json()

    def fixture(self, name):
        return self.state()["state"]["dmx"]["fixtures"][name]

    def output(self, universe):
        r = self.get(f"/api/v1/universes/{universe}")
        assert r.status == 200, r
        return r.json()["channels"]


def write_patch(directory, patch, name="fixtures.json"):
    """Write a patch file (dict or text) and return its path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(patch if isinstance(patch, str) else json.dumps(patch))
    return path


def ws_hello(ws, **fields):
    """Send hello and return the frames up to and including the answer
    (a snapshot), skipping seed-000 state frames."""
    msg = {"type": "hello"}
    msg.update(fields)
    ws.send_json(msg)
    return ws.recv_json()


def recv_type(ws, typ, timeout=None, skip=("state",)):
    """The next frame of type typ, skipping frames whose type is in skip;
    any other frame fails the test."""
    deadline = time.monotonic() + (T(5) if timeout is None else timeout)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {typ} frame in time")
        m = ws.recv_json(left)
        if m.get("type") == typ:
            return m
        assert m.get("type") in skip, f"expected {typ}, got {m}"


def state_of(body):
    """The r,g,b,seq of a state object (GET /rgb, WS state or MQTT payload)."""
    return (body["r"], body["g"], body["b"], body["seq"])


@contextlib.contextmanager
def closing_all():
    """Collect things with close() and close them all at the end."""
    items = []
    try:
        yield items
    finally:
        for it in reversed(items):
            try:
                it.close()
            except Exception:
                pass


class RawHttp:
    """One keep-alive HTTP/1.1 connection on a plain socket: requests can be
    written to many connections first and the answers read afterwards, so
    they reach the hub together."""

    def __init__(self, port, timeout=None):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout or T(10))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    @staticmethod
    def build(method, path, body=None, headers=None):
        headers = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        body = body or b""
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def read(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *hl = head.decode("latin-1").split("\r\n")
        headers = {}
        for h in hl:
            k, v = h.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        assert "chunked" not in headers.get("transfer-encoding", ""), "chunked not expected"
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        parts = status_line.split(" ", 2)
        return Resp(int(parts[1]), parts[2] if len(parts) > 2 else "", headers, body)

    def close(self):
        self.sock.close()
