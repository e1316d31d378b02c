#!/usr/bin/env python3
"""bench/fleet_hub.py - the fleet issue's performance scenario (issue 9, section 8), run by
bench/run.sh against showhub and against bench/fleet_peer.py (seed 004's design).

  fleet_hub.py run --target hub|peer --port P --pids PID[,PID] --broker-pid PID
                   --mqtt-port P --devsim PATH --devices N [--window S] [--warmup S]
                   [--rate R] [--connect-rate R] [--logs-per-min R] [--health S]
                   [--heartbeat S] [--conns K] [--tail S] [--peer-db F --peer-stats DIR]
                   [--floor-out F] [--limit S]
  fleet_hub.py floor --mqtt-port P --out F      (started by run: the delivery floor)

run: on a running server (showhub, or the peer's listener + api) and its broker:
 1. the server's VmRSS (before any device); for showhub a WebSocket client
    (its own minimal RFC 6455 client: every receive is stamped with
    time.time() right after recv()) sends hello{rooms: devices, commands};
 2. starts the floor subscriber and devsim (--count N --seed bench --quiet,
    heartbeats, health every --health s, --logs-per-min, restart_app delay
    0.05 s, --control stdin), waits for devsim's "ready" and for all N devices
    in the server's registry (showhub: devices.registry.* patches; the peer:
    SELECT count(*) FROM clients), then --warmup s;
 3. the window (--window s): CPU (utime + stime) of the server, the broker,
    devsim, the floor subscriber and this driver; the server's RSS every 0.5
    s; open-loop command POSTs at --rate/s to POST /api/v1/devices/<id>/commands
    {"action":"restart_app"}, device i = k mod N (so N >= rate x window / 3
    keeps every device under the lockout's 3 per 15 min), from --conns
    keep-alive connections (a command due while all are busy is counted as
    unsent, never queued: open loop); showhub's /metrics before and after;
 4. --tail s for the last answers and ACKs; SIGUSR1 to the peer's processes for
    their stamps; devsim and the floor subscriber stopped.

Health ingest latency, per health message whose result falls in the window:
  showhub: arrival of the first devices.registry.<uuid> patch carrying that
           health (health.timestamp new for that device) - health.timestamp;
           durable before announce, so the patch comes after the commit.
  peer:    its listener's commit time - health.timestamp (stamped in the
           listener right after COMMIT; no WS leg).
  floor:   a bare paho subscriber to <root>/+/health (its own process, in the
           same run): arrival - timestamp. devsim + Mosquitto + paho, no server.
  The payload timestamp is devsim's wall clock, truncated to the ms: every
  figure reads 0-1 ms high (the same for all three).
Commands: POST -> answer (202; open loop: from the due time, and from the send);
  published -> accepted: showhub's entity times acked_at - published_at (ms;
  published_at = the broker's PUBACK of the canonical publish applied) and the
  fleet_command_accept_seconds histogram (bucket bounds); the peer's
  listener commit of ack_received - its api's return of publish() (the packet
  written: the seed's client never reads the PUBACK);
  device received -> accepted durable: devsim's command_received stamp (ms) to
  showhub's ack_received patch / the peer's commit; POST sent -> accepted.
Prints one JSON line.
"""
import array
import base64
import datetime
import fcntl
import http.client
import json
import os
import queue
import re
import selectors
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time

PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
CHILDREN = []


def arg(name, default=None, conv=str):
    a = sys.argv
    if name in a:
        i = a.index(name)
        if i + 1 < len(a):
            return conv(a[i + 1])
    if default is None:
        sys.exit("fleet_hub.py: %s is required" % name)
    return default


def log(*a):
    print("fleet_hub:", *a, file=sys.stderr, flush=True)


def parse_ts(s):
    if not isinstance(s, str):
        return None
    try:
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(q * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def summary_ms(vals):
    """Exact percentiles (ms) of latencies in seconds."""
    v = sorted(vals)
    if not v:
        return {"n": 0}
    return {"n": len(v), "p50_ms": pct(v, 0.5) * 1e3, "p99_ms": pct(v, 0.99) * 1e3,
            "p999_ms": pct(v, 0.999) * 1e3, "max_ms": v[-1] * 1e3, "min_ms": v[0] * 1e3,
            "mean_ms": sum(v) / len(v) * 1e3}


# ---------------------------------------------------------------- /proc

def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def rss_kb(pid, key="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def io_bytes(pid):
    """(write_bytes, wchar) from /proc/<pid>/io: what the process made the
    kernel write to storage, and all it wrote (files, sockets)."""
    try:
        with open("/proc/%d/io" % pid) as f:
            d = dict(line.split(": ") for line in f.read().splitlines())
        return int(d["write_bytes"]), int(d["wchar"])
    except (OSError, KeyError, ValueError):
        return None


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


HZ = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- a minimal WS client

class Ws:
    """RFC 6455 client on a plain socket: text frames in (unmasked), masked
    frames out, pings answered. recv_frames() stamps each read."""

    def __init__(self, port, timeout=5.0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A deep receive buffer (set before connect, so the window scale
        # allows it): a driver descheduled for a while on a busy machine
        # reads late (and its stamps say so) instead of backing the hub's
        # queue up into DMX_WS_SLOW_MS. 32 MiB needs root (SO_RCVBUFFORCE).
        try:
            s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)   # SO_RCVBUFFORCE
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % (port, key)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("WS handshake: connection closed")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise OSError("WS handshake refused: %r" % head[:80])
        s.setblocking(False)
        self.s = s
        self.buf = bytearray(rest)
        self.frag = None
        self.closed = None
        self.bytes = 0
        self.pending_max = 0
        self.lock = threading.Lock()

    def _send(self, op, data):
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | op, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | op, 0x80 | 127, n)
        body = bytes(b ^ mask[i & 3] for i, b in enumerate(data))
        with self.lock:
            self.s.setblocking(True)
            try:
                self.s.sendall(hdr + mask + body)
            finally:
                self.s.setblocking(False)

    def send_json(self, obj):
        self._send(1, json.dumps(obj).encode())

    def read(self):
        """One recv: (time, [text payloads]); [] and closed set on EOF."""
        try:
            data = self.s.recv(1 << 20)
        except BlockingIOError:
            return time.time(), []
        except OSError as e:
            self.closed = self.closed or "error: %s" % e
            return time.time(), []
        t = time.time()
        if not data:
            self.closed = self.closed or "eof"
            return t, []
        try:   # what the kernel still holds for us: is the client keeping up?
            pend = struct.unpack("i", fcntl.ioctl(self.s, termios.FIONREAD, b"\0\0\0\0"))[0]
            self.pending_max = max(self.pending_max, pend)
        except OSError:
            pass
        self.bytes += len(data)
        self.buf += data
        out = []
        b = self.buf
        i = 0
        while True:
            if len(b) - i < 2:
                break
            b0, b1 = b[i], b[i + 1]
            ln = b1 & 0x7F
            j = i + 2
            if ln == 126:
                if len(b) - i < 4:
                    break
                ln = struct.unpack_from("!H", b, i + 2)[0]
                j = i + 4
            elif ln == 127:
                if len(b) - i < 10:
                    break
                ln = struct.unpack_from("!Q", b, i + 2)[0]
                j = i + 10
            if b1 & 0x80:
                j += 4      # a masked server frame (not expected)
            if len(b) < j + ln:
                break
            payload = bytes(b[j:j + ln])
            i = j + ln
            op, fin = b0 & 0x0F, b0 & 0x80
            if op == 9:
                self._send(10, payload)
            elif op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.closed = "close %s %s" % (code, payload[2:].decode(errors="replace"))
            elif op in (1, 2, 0):
                if op != 0:
                    self.frag = payload
                else:
                    self.frag = (self.frag or b"") + payload
                if fin:
                    out.append(self.frag)
                    self.frag = None
        del b[:i]
        return t, out

    def close(self):
        try:
            self._send(8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.s.close()


class HubMonitor(threading.Thread):
    """Reads showhub's WS: registry ids, health patch latencies, command patches."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.ws = self.connect()
        self.drops = []                     # (time, why) of each connection the hub ended
        self.all = [self.ws]
        self.stop = False
        self.registry = set()
        self.last_ts = {}
        self.health = array.array("d")      # arrival, latency, apply (health_at - ts) triples
        self.keys = []                      # "<uuid8><timestamp>" of each triple
        self.cmd = {}                       # command_id -> {status: arrival}, entity times
        self.frames = 0
        self.snapshot = threading.Event()
        self.err = None

    def connect(self):
        ws = Ws(self.port)
        ws.send_json({"type": "hello", "rooms": ["devices", "commands"], "req_id": "fleet"})
        return ws

    def run(self):
        try:
            while not self.stop:
                sel = selectors.DefaultSelector()
                sel.register(self.ws.s, selectors.EVENT_READ)
                while not self.stop and not self.ws.closed:
                    if not sel.select(0.2):
                        continue
                    t, msgs = self.ws.read()
                    for m in msgs:
                        self.frames += 1
                        self.handle(t, m)
                sel.close()
                if self.stop:
                    break
                # The hub closed us (e.g. as a slow client): count it, come
                # back (hello: a snapshot, then live patches again).
                self.drops.append((time.time(), self.ws.closed))
                self.ws.s.close()
                time.sleep(0.2)
                self.ws = self.connect()
                self.all.append(self.ws)
        except Exception as e:     # reported, never hidden
            self.err = "%s: %s" % (type(e).__name__, e)

    REG = b'"path":"devices.registry.'

    def handle(self, t, m):
        if b'"patch"' not in m[:40]:
            if b'"snapshot"' in m[:40]:
                self.snapshot.set()
            return
        # The common frame, one device entity: read the few fields needed
        # without parsing the whole frame (2,000 a second at 10,000 devices).
        i = m.find(self.REG)
        if i >= 0 and m.count(b'"path":"') == 1:
            j = i + len(self.REG)
            did = m[j:m.find(b'"', j)].decode()
            if m.startswith(b'"value":null', m.find(b'"', j) + 2):
                return
            self.registry.add(did)
            h = m.find(b'"health":{', j)
            if h < 0:
                return
            k = m.find(b'"timestamp":"', h)
            if k < 0:
                return
            ts = m[k + 13:m.find(b'"', k + 13)].decode()
            if self.last_ts.get(did) != ts:
                self.last_ts[did] = ts
                pt = parse_ts(ts)
                if pt is not None:
                    a = m.find(b'"health_at":"', h)
                    at = parse_ts(m[a + 13:m.find(b'"', a + 13)].decode()) if a >= 0 else None
                    self.health.append(t)
                    self.health.append(t - pt)
                    self.health.append((at - pt) if at is not None else float("nan"))
                    self.keys.append(did[:8] + ts)
            return
        o = json.loads(m)
        for p in o.get("patches", ()):
            path = p.get("path", "")
            v = p.get("value")
            if path.startswith("devices.registry."):
                if v is None:
                    continue
                did = path[17:]
                self.registry.add(did)
                h = v.get("health")
                if isinstance(h, str):
                    try:
                        h = json.loads(h)
                    except ValueError:
                        h = None
                if isinstance(h, dict):
                    ts = h.get("timestamp")
                    if ts and self.last_ts.get(did) != ts:
                        self.last_ts[did] = ts
                        pt = parse_ts(ts)
                        if pt is not None:
                            at = parse_ts(v.get("health_at"))
                            self.health.append(t)
                            self.health.append(t - pt)
                            self.health.append((at - pt) if at is not None else float("nan"))
                            self.keys.append(did[:8] + ts)
            elif path.startswith("devices.commands."):
                if v is None:
                    continue
                c = self.cmd.setdefault(path[17:], {"arr": {}})
                st = v.get("status")
                if st not in c["arr"]:
                    c["arr"][st] = t
                if v.get("published_at"):
                    c["published_at"] = v["published_at"]
                if v.get("acked_at"):
                    c["acked_at"] = v["acked_at"]


# ---------------------------------------------------------------- commands

class Poster:
    """Open-loop POSTs at a fixed rate from K worker connections."""

    def __init__(self, port, ids, rate, conns, target):
        self.port, self.ids, self.rate, self.conns = port, ids, rate, conns
        self.target = target
        self.q = queue.Queue()
        self.idle = conns
        self.lock = threading.Lock()
        self.results = []      # (k, due, sent, answered, status, command_id, device)
        self.unsent = 0
        self.stop_at = None
        self.workers = [threading.Thread(target=self.work, daemon=True) for _ in range(conns)]
        self.sched = threading.Thread(target=self.schedule, daemon=True)

    def start(self, duration):
        self.t0 = time.time()
        self.stop_at = self.t0 + duration
        for w in self.workers:
            w.start()
        self.sched.start()

    def schedule(self):
        k = 0
        while True:
            due = self.t0 + k / self.rate
            if due >= self.stop_at:
                break
            d = due - time.time()
            if d > 0:
                time.sleep(d)
            with self.lock:
                if self.idle > 0:
                    self.idle -= 1
                    self.q.put((k, due))
                else:
                    self.unsent += 1
            k += 1
        for _ in self.workers:
            self.q.put(None)

    def work(self):
        c = None
        while True:
            job = self.q.get()
            if job is None:
                return
            k, due = job
            dev = self.ids[k % len(self.ids)]
            body = json.dumps({"action": "restart_app"})
            sent = time.time()
            st, cid = None, None
            for attempt in (0, 1):
                try:
                    if c is None:
                        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    c.request("POST", "/api/v1/devices/%s/commands" % dev, body=body,
                              headers={"Content-Type": "application/json"})
                    r = c.getresponse()
                    data = r.read()
                    st = r.status
                    if r.getheader("Connection", "").lower() == "close" or r.version == 10:
                        c.close()
                        c = None
                    try:
                        cmd = json.loads(data).get("command") or {}
                        cid = cmd.get("commandId") or cmd.get("command_id")
                    except (ValueError, AttributeError):
                        pass
                    break
                except (OSError, http.client.HTTPException) as e:
                    if c is not None:
                        c.close()
                    c = None
                    if attempt or time.time() - sent > 1:
                        st = "timeout" if isinstance(e, socket.timeout) else "error"
                        break
            ans = time.time()
            with self.lock:
                self.results.append((k, due, sent, ans, st, cid, dev))
                self.idle += 1


# ---------------------------------------------------------------- devsim

class Devsim:
    def __init__(self, path, mqtt_port, n, args, stderr):
        cmd = [PY, path, "--port", str(mqtt_port), "--count", str(n), "--seed", "bench",
               "--quiet", "--control", "stdin"] + args
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=stderr, bufsize=1, text=True)
        CHILDREN.append(self.p)
        self.ready = threading.Event()
        self.received = {}      # command_id -> devsim's stamp of command_received
        self.events = {}
        self.t = threading.Thread(target=self.read, daemon=True)
        self.t.start()

    def read(self):
        for line in self.p.stdout:
            if '"event"' not in line:
                continue
            if '"command_received"' in line or '"ready"' in line or '"error"' in line or \
                    '"connect_failed"' in line:
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                ev = o.get("event")
                self.events[ev] = self.events.get(ev, 0) + 1
                if ev == "ready":
                    self.ready.set()
                elif ev == "command_received":
                    pl = o.get("payload") or {}
                    cid = pl.get("command_id") if isinstance(pl, dict) else None
                    if cid and cid not in self.received:
                        self.received[cid] = parse_ts(o.get("t"))
            else:
                m = re.search(r'"event":"([a-z_]+)"', line)
                if m:
                    self.events[m.group(1)] = self.events.get(m.group(1), 0) + 1

    def stop(self, timeout=15):
        try:
            self.p.stdin.close()     # EOF: devsim quits cleanly
        except OSError:
            pass
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


# ---------------------------------------------------------------- floor subscriber

def cmd_floor():
    import paho.mqtt.client as mqtt
    port = arg("--mqtt-port", conv=int)
    out = arg("--out")
    root = arg("--root", "infoscreen")
    samples = array.array("d")
    keys = []

    def on_connect(c, u, f, rc):
        c.subscribe(root + "/+/health", qos=0)

    def on_subscribe(c, u, mid, q):
        print("ready", flush=True)

    def on_message(c, u, msg):
        t = time.time()
        try:
            text = json.loads(msg.payload).get("timestamp")
        except (ValueError, AttributeError):
            return
        ts = parse_ts(text)
        if ts is not None:
            samples.append(t)
            samples.append(t - ts)
            keys.append(msg.topic.split("/")[1][:8] + text)

    c = mqtt.Client(client_id="fleet-floor-%d" % os.getpid())
    c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
    stop = lambda s, f: c.disconnect()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    c.connect("127.0.0.1", port)
    c.loop_forever()
    with open(out + ".tmp", "w") as f:
        json.dump({"samples": list(samples), "keys": keys}, f)
    os.replace(out + ".tmp", out)


def start_floor(mqtt_port, path, stderr):
    p = subprocess.Popen([PY, os.path.abspath(__file__), "floor", "--mqtt-port", str(mqtt_port),
                          "--out", path], stdout=subprocess.PIPE, stderr=stderr, text=True)
    CHILDREN.append(p)
    line = [None]
    th = threading.Thread(target=lambda: line.__setitem__(0, p.stdout.readline()), daemon=True)
    th.start()
    th.join(10)
    return p, (line[0] or "").strip() == "ready"


def stop_floor(p, path):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    try:
        with open(path) as f:
            d = json.load(f)
        return d["samples"], d["keys"]
    except (OSError, ValueError, KeyError):
        return [], []


# ---------------------------------------------------------------- the scenario

def metrics(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
        c.close()
    except (OSError, http.client.HTTPException):
        return {}
    m = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        try:
            key, val = line.rsplit(" ", 1)
            m[key] = float(val)
        except ValueError:
            continue
    return m


def hist_delta(m0, m1, name):
    """[(le, count)] cumulative deltas of a histogram."""
    out = []
    for key, v in m1.items():
        if key.startswith(name + "_bucket{"):
            le = key.split('le="', 1)[1].split('"', 1)[0]
            out.append((float("inf") if le == "+Inf" else float(le), v - m0.get(key, 0.0)))
    out.sort()
    return out


def hist_summary(d):
    if not d or d[-1][1] <= 0:
        return {"n": 0}
    n = d[-1][1]

    def bound(q):
        for le, cum in d:
            if cum >= q * n:
                return None if le == float("inf") else le * 1e3
        return None
    return {"n": int(n), "p50_le_ms": bound(0.5), "p99_le_ms": bound(0.99),
            "max_le_ms": bound(1.0)}


def counter_sum(m, prefix):
    return sum(v for k, v in m.items() if k.startswith(prefix))


def cmd_run():
    target = arg("--target")
    port = arg("--port", conv=int)
    pids = [int(x) for x in arg("--pids").split(",")]
    broker_pid = arg("--broker-pid", conv=int)
    mqtt_port = arg("--mqtt-port", conv=int)
    devsim_path = arg("--devsim")
    n = arg("--devices", conv=int)
    window = arg("--window", 60.0, float)
    warmup = arg("--warmup", 5.0, float)
    rate = arg("--rate", 20.0, float)
    conns = arg("--conns", 4, int)
    tail = arg("--tail", 2.0, float)
    connect_rate = arg("--connect-rate", 500, int)
    health_s = arg("--health", 5.0, float)
    heartbeat_s = arg("--heartbeat", 65.0, float)
    logs_per_min = arg("--logs-per-min", 2.0, float)
    limit = arg("--limit", 300.0, float)
    peer_db = arg("--peer-db", "")
    peer_stats = arg("--peer-stats", "")
    floor_out = arg("--floor-out", "")
    workdir = arg("--workdir", "/tmp")
    t_begin = time.monotonic()
    deadline = t_begin + limit
    out = {"target": target, "devices": n, "window_s": window, "rate": rate, "conns": conns,
           "health_s": health_s, "heartbeat_s": heartbeat_s, "logs_per_min": logs_per_min,
           "loadavg_start": os.getloadavg()[0]}
    errlog = open(os.path.join(workdir, "fleet_%s_%d.log" % (target, n)), "a")

    out["rss_before_kb"] = rss_kb(pids[0])
    mon = None
    if target == "hub":
        mon = HubMonitor(port)
        mon.start()
        if not mon.snapshot.wait(10):
            out["failed"] = "no snapshot on the WS"
            print(json.dumps(out))
            return
    # The server's own CPU with no device connected (timers, DMX output...).
    c0, w0 = [cpu_ticks(p) for p in pids], time.time()
    time.sleep(2.0)
    c1, w1 = [cpu_ticks(p) for p in pids], time.time()
    if all(x is not None for x in c0 + c1):
        out["cpu_idle_pct"] = 100.0 * (sum(c1) - sum(c0)) / HZ / (w1 - w0)
    floor_path = os.path.join(workdir, "fleet_floor_%s_%d.json" % (target, n))
    floor_p, floor_ok = start_floor(mqtt_port, floor_path, errlog)
    out["floor_subscribed"] = floor_ok

    ids_file = os.path.join(workdir, "fleet_ids_%s_%d" % (target, n))
    t_dev = time.time()
    dev = Devsim(devsim_path, mqtt_port, n, [
        "--connect-rate", str(connect_rate), "--health", str(health_s), "--heartbeat",
        str(heartbeat_s), "--logs-per-min", str(logs_per_min), "--restart-app-delay", "0.05",
        "--ids-file", ids_file], errlog)

    def registered():
        if mon is not None:
            return len(mon.registry)
        try:
            c = sqlite3.connect("file:%s?mode=ro" % peer_db, uri=True, timeout=5)
            k = c.execute("SELECT count(*) FROM clients").fetchone()[0]
            c.close()
            return k
        except sqlite3.Error:
            return 0

    ok = dev.ready.wait(max(5.0, min(n / connect_rate + 30, deadline - time.monotonic())))
    out["devsim_ready_s"] = time.time() - t_dev if ok else None
    reg_limit = time.monotonic() + 60
    k = 0
    while time.monotonic() < min(reg_limit, deadline - window - 20):
        k = registered()
        if k >= n:
            break
        time.sleep(0.1)
    out["registered"] = k
    out["registered_s"] = time.time() - t_dev
    out["rss_registered_kb"] = rss_kb(pids[0])
    try:
        with open(ids_file) as f:
            ids = [line.strip() for line in f if line.strip()]
    except OSError:
        ids = []
    if not ids:
        out["failed"] = "devsim wrote no ids"
    # The warm-up: the fleet's telemetry alone (no commands yet), its CPU.
    cw0, ww0 = [cpu_ticks(p) for p in pids], time.time()
    time.sleep(warmup)
    cw1, ww1 = [cpu_ticks(p) for p in pids], time.time()
    if all(x is not None for x in cw0 + cw1):
        out["cpu_telemetry_pct"] = 100.0 * (sum(cw1) - sum(cw0)) / HZ / (ww1 - ww0)

    # ---- the window
    procs = {"server": pids, "broker": [broker_pid], "devsim": [dev.p.pid],
             "floor": [floor_p.pid], "driver": [os.getpid()]}
    cpu0 = {k: [cpu_ticks(p) for p in v] for k, v in procs.items()}
    io0 = [io_bytes(p) for p in pids]
    m0 = metrics(port) if target == "hub" else {}
    rss_peak = [0]
    stop_rss = threading.Event()

    def sample_rss():
        while not stop_rss.wait(0.5):
            r = rss_kb(pids[0]) or 0
            rss_peak[0] = max(rss_peak[0], r)
    rs = threading.Thread(target=sample_rss, daemon=True)
    rs.start()
    T0 = time.time()
    poster = Poster(port, ids, rate, conns, target) if ids and rate > 0 else None
    if poster:
        poster.start(window)
    time.sleep(max(0.0, T0 + window - time.time()))
    T1 = time.time()
    cpu1 = {k: [cpu_ticks(p) for p in v] for k, v in procs.items()}
    io1 = [io_bytes(p) for p in pids]
    stop_rss.set()
    out["rss_after_kb"] = rss_kb(pids[0])
    out["rss_peak_kb"] = max(rss_peak[0], out["rss_after_kb"] or 0)
    out["loadavg_end"] = os.getloadavg()[0]
    wall = T1 - T0
    out["window_measured_s"] = wall
    if all(x is not None for x in io0 + io1):
        out["disk_write_mb_s"] = sum(b[0] - a[0] for a, b in zip(io0, io1)) / 1e6 / wall
    out["cpu_pct"] = {}
    for k in procs:
        a, b = cpu0[k], cpu1[k]
        if all(x is not None for x in a + b):
            out["cpu_pct"][k] = 100.0 * (sum(b) - sum(a)) / HZ / wall
    # the tail: answers in flight, the ACKs of the last commands
    tail_end = time.time() + tail
    while time.time() < tail_end and poster and poster.idle < poster.conns:
        time.sleep(0.05)
    time.sleep(max(0.0, tail_end - time.time()))
    m1 = metrics(port) if target == "hub" else {}
    server_alive = all(alive(p) for p in pids)
    out["server_alive_end"] = server_alive

    peer = {}
    if target == "peer" and peer_stats:
        for name, pid in zip(("listener", "api"), pids):
            path = os.path.join(peer_stats, name + ".json")
            for p in (path, path + ".done"):
                try:
                    os.unlink(p)
                except OSError:
                    pass
            try:
                os.kill(pid, signal.SIGUSR1)
            except OSError:
                continue
            lim = time.time() + 15
            while time.time() < lim and not os.path.exists(path + ".done"):
                time.sleep(0.05)
            try:
                with open(path) as f:
                    peer[name] = json.load(f)
            except (OSError, ValueError):
                peer[name] = {}

    dev.stop()
    floor, floor_keys = stop_floor(floor_p, floor_path)
    if mon is not None:
        mon.stop = True
        mon.join(2)
        out["ws"] = {"frames": mon.frames, "bytes": sum(w.bytes for w in mon.all),
                     "pending_max_bytes": max(w.pending_max for w in mon.all),
                     "dropped": len(mon.drops), "dropped_in_window": sum(
                         1 for t, _ in mon.drops if T0 <= t <= T1),
                     "drops": [[round(t - T0, 2), why] for t, why in mon.drops],
                     "error": mon.err}
        mon.ws.close()
    out["devsim_events"] = dev.events

    # ---- health
    in_win = lambda t: T0 <= t <= T1  # noqa: E731
    if mon is not None:
        h, stride, hkeys = mon.health, 3, mon.keys
        app = [h[i + 2] for i in range(0, len(h), 3) if in_win(h[i]) and h[i + 2] == h[i + 2]]
        out["health_apply"] = summary_ms(app)   # health_at (hub apply, ms) - timestamp
    else:
        lst = peer.get("listener") or {}
        h, stride, hkeys = lst.get("health") or [], 2, lst.get("keys") or []
        out["peer_counts"] = lst.get("counts")
    lat = [h[i + 1] for i in range(0, len(h), stride) if in_win(h[i])]
    out["health"] = summary_ms(lat)
    # The same message at the floor subscriber: the server's own share.
    farr = {k: floor[2 * j] for j, k in enumerate(floor_keys)}
    own = []
    for j in range(len(h) // stride):
        t = h[j * stride]
        if in_win(t) and j < len(hkeys) and hkeys[j] in farr:
            own.append(t - farr[hkeys[j]])
    out["health_beyond_floor"] = summary_ms(own)
    expected = n * wall / health_s
    dump = arg("--dump", "")
    if dump:   # raw samples for a closer look: arrival/commit time, latency (s)
        with open(dump, "w") as f:
            json.dump({"T0": T0, "T1": T1, "health": list(h),
                       "stride": 3 if mon is not None else 2, "floor": list(floor)}, f)
    out["health"]["expected"] = expected
    out["health"]["pct_of_expected"] = 100.0 * out["health"]["n"] / expected if expected else None
    fl = [floor[i + 1] for i in range(0, len(floor), 2) if in_win(floor[i])]
    out["floor"] = summary_ms(fl)
    out["floor"]["pct_of_expected"] = 100.0 * len(fl) / expected if expected else None
    if floor_out:
        with open(floor_out, "w") as f:
            json.dump({"devices": n, "window_s": wall, "latency": out["floor"],
                       "cpu_pct": out["cpu_pct"].get("floor")}, f)
            f.write("\n")

    # ---- commands
    if poster:
        res = list(poster.results)
        ok202 = [r for r in res if r[4] == 202]
        cmd = {"due": len(res) + poster.unsent, "sent": len(res), "unsent_busy": poster.unsent,
               "answered": {}, "unanswered_at_end": poster.conns - poster.idle}
        for r in res:
            cmd["answered"][str(r[4])] = cmd["answered"].get(str(r[4]), 0) + 1
        cmd["answered_202"] = len(ok202)
        cmd["rest_from_due"] = summary_ms([r[3] - r[1] for r in ok202])
        cmd["rest_from_send"] = summary_ms([r[3] - r[2] for r in ok202])
        cmd["rest_per_s"] = len(ok202) / wall
        sent_at = {r[5]: r[2] for r in ok202 if r[5]}
        pub_acc, dev_acc, post_acc = [], [], []
        negative = 0
        if mon is not None:
            for cid, c in mon.cmd.items():
                if cid not in sent_at:
                    continue
                a = c["arr"].get("ack_received")
                if a is None:
                    continue
                post_acc.append(a - sent_at[cid])
                if dev.received.get(cid) is not None:
                    dev_acc.append(a - dev.received[cid])
                p, q = parse_ts(c.get("published_at")), parse_ts(c.get("acked_at"))
                if p is not None and q is not None:
                    pub_acc.append(q - p)
                    negative += q < p
            cmd["accept_hist"] = hist_summary(
                hist_delta(m0, m1, "fleet_command_accept_seconds"))
            cmd["complete_hist"] = hist_summary(
                hist_delta(m0, m1, "fleet_command_complete_seconds"))

        else:
            acks = (peer.get("listener") or {}).get("acks") or {}
            times = (peer.get("api") or {}).get("commands") or {}
            for cid, a in acks.items():
                if cid not in sent_at:
                    continue
                post_acc.append(a - sent_at[cid])
                if dev.received.get(cid) is not None:
                    dev_acc.append(a - dev.received[cid])
                tw = (times.get(cid) or [None, None])[1]
                if tw is not None:
                    pub_acc.append(a - tw)
                    negative += a < tw
        cmd["accepted"] = len(post_acc)
        cmd["published_to_accepted"] = summary_ms(pub_acc)
        cmd["published_to_accepted"]["negative"] = negative
        cmd["device_to_accepted"] = summary_ms(dev_acc)
        cmd["post_to_accepted"] = summary_ms(post_acc)
        out["commands"] = cmd
    if target == "hub":   # the hub's own counters over the window (+ tail)
        out["hub_metrics"] = {k: counter_sum(m1, k) - counter_sum(m0, k) for k in (
            "fleet_ingest_rejected_total", "fleet_command_acks_ignored_total",
            "dmx_engine_processed_total", "dmx_engine_dropped_total",
            "dmx_engine_refused_total", "dmx_engine_rejected_total",
            "dmx_engine_store_failed_total", "dmx_ws_slow_dropped_total",
            "dmx_mqtt_malformed_total", "dmx_store_commits_total",
            "dmx_store_checkpoints_total")}
        hm = out["hub_metrics"]
        if hm["dmx_store_commits_total"] > 0:   # the group commit's mean batch
            hm["intents_per_commit"] = (hm["dmx_engine_processed_total"] +
                                        hm["dmx_engine_rejected_total"]) / \
                hm["dmx_store_commits_total"]
        out["hub_metrics"]["dmx_engine_queue_depth_end"] = m1.get("dmx_engine_queue_depth")
    if out["cpu_pct"].get("server") is not None:   # the table's cpu/peak columns
        out["proc"] = {"cpu_s": out["cpu_pct"]["server"] * wall / 100.0,
                       "peak_rss_kb": out["rss_peak_kb"]}
    out["duration_s"] = time.monotonic() - t_begin
    out["rss_growth_kb"] = ((out["rss_after_kb"] or 0) - (out["rss_before_kb"] or 0)
                            if out.get("rss_after_kb") and out.get("rss_before_kb") else None)
    print(json.dumps(out))


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "floor"):
        sys.exit(__doc__)
    try:
        {"run": cmd_run, "floor": cmd_floor}[sys.argv[1]]()
    finally:
        for p in CHILDREN:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    main()
