"""Start-up, configuration errors, --help, logs, and clean shutdown."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from hubtest import T, Hub, free_port, hub_bin, request, retained, ulid, wait_until

SERVER = "v1/devices/server/state"

ALL_VARS = {
    "DMX_MQTT_HOST": "localhost", "DMX_MQTT_PORT": "1883", "DMX_MQTT_USERNAME": None,
    "DMX_MQTT_PASSWORD": None, "DMX_MQTT_CLIENT_ID": "showhub", "DMX_QUEUE_SIZE": "10000",
    "DMX_CMD_DEDUPE_TTL_SECONDS": "900", "DMX_CMD_DEDUPE_CAPACITY": "4096",
    "DMX_ALLOW_ORIGINS": "*", "DMX_OLA_ENABLED": "false",
    "DMX_OLA_URL": "http://localhost:9090/set_dmx", "DMX_OLA_UNIVERSE": "1",
    "DMX_OLA_FPS": "44", "DMX_HTTP_HOST": "0.0.0.0", "DMX_HTTP_PORT": "8080",
    "DMX_DATA_DIR": "./data", "DMX_API_KEY": None, "DMX_LOG_LEVEL": "info",
    "DMX_MQTT_ENABLED": "true", "DMX_WEB_DIR": None, "DMX_STORE_SYNC": "normal",
    "DMX_JOURNAL_RETENTION": "100000", "DMX_WS_SLOW_MS": "200", "DMX_WS_BACKLOG": "1024",
    "DMX_HTTP_THREADS": "0",
}


def run_bin(args, env=None, timeout=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("DMX_")}
    e.update(env or {})
    return subprocess.run([hub_bin()] + args, env=e, capture_output=True,
                          timeout=timeout or T(10))


def test_help_lists_every_variable_with_default():
    p = run_bin(["--help"])
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    names = re.findall(r"\bDMX_[A-Z_]+\b", out)
    for var, default in ALL_VARS.items():
        assert var in names, f"--help does not list {var}"
        if default is not None:
            i = out.index(var)
            nxt = min([out.index(v, i + 1) for v in ALL_VARS if out.find(v, i + 1) > 0] + [len(out)])
            assert default in out[i:nxt], f"--help: no default {default!r} for {var}"


def test_version():
    p = run_bin(["--version"])
    assert p.returncode == 0 and p.stdout.strip(), p


@pytest.mark.parametrize("var,value", [
    ("DMX_HTTP_PORT", "0"), ("DMX_HTTP_PORT", "70000"), ("DMX_HTTP_PORT", "eighty"),
    ("DMX_MQTT_PORT", "0"), ("DMX_QUEUE_SIZE", "-1"), ("DMX_QUEUE_SIZE", "0"),
    ("DMX_QUEUE_SIZE", "12abc"), ("DMX_CMD_DEDUPE_TTL_SECONDS", "-5"),
    ("DMX_CMD_DEDUPE_CAPACITY", "1.5"), ("DMX_OLA_ENABLED", "maybe"),
    ("DMX_MQTT_ENABLED", "2"), ("DMX_OLA_FPS", "0"), ("DMX_LOG_LEVEL", "loud"),
    ("DMX_STORE_SYNC", "sometimes"), ("DMX_WS_SLOW_MS", "-1"),
    ("DMX_HTTP_THREADS", "65"), ("DMX_HTTP_THREADS", "-1"), ("DMX_HTTP_THREADS", "two"),
    ("DMX_QUEUE_SIZE", "99999999999999999999")])
def test_bad_config_exits_2_naming_the_variable(tmp_path, var, value):
    env = {"DMX_HTTP_HOST": "127.0.0.1", "DMX_HTTP_PORT": str(free_port()),
           "DMX_DATA_DIR": str(tmp_path), "DMX_MQTT_ENABLED": "false"}
    env[var] = value
    p = run_bin([], env)
    assert p.returncode == 2, (p.returncode, p.stderr, p.stdout[-500:])
    lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
    assert len(lines) == 1, f"want one stderr line, got {lines}"
    assert var in lines[0], lines[0]


def test_starts_ready_quickly(broker, hubs):
    h = hubs(broker=broker, start=False)
    t0 = time.monotonic()
    h.spawn()
    h.wait_ready(T(5))
    h.wait_readyz(T(5))
    took = time.monotonic() - t0
    assert took < T(2), f"/readyz 200 after {took:.2f}s"
    listening = h.wait_log("listening")
    assert listening.get("port") == h.port


def test_every_stdout_line_is_json(broker, hubs):
    h = hubs(broker=broker)
    h.wait_readyz()
    cid = ulid()
    h.post_rgb(1, 2, 3, cmd_id=cid)
    h.wait_log("apply", lambda l: l.get("cmdId") == cid)
    h.get("/nope")
    assert h.stop() == 0
    lines = [l for l in h.stdout_lines if l.strip()]
    assert lines
    for line in lines:
        obj = json.loads(line)
        assert isinstance(obj["ts"], int) and obj["ts"] > 1_600_000_000_000, line
        assert obj["level"] in ("debug", "info", "warn", "error"), line
        assert isinstance(obj["event"], str) and obj["event"], line
    apply = [l for l in h.logs("apply") if l.get("cmdId") == cid][0]
    assert apply["seq"] == 1 and apply["src"] == "api"
    assert isinstance(apply["latency_us"], int) and apply["latency_us"] >= 0
    for ev in ("listening", "mqtt_connected", "publish_state", "shutdown"):
        assert h.logs(ev), f"no {ev!r} log line"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_0_fast_with_offline_retained(broker, hubs, sig):
    h = hubs(broker=broker)
    h.wait_readyz()
    st = h.post_rgb(1, 2, 3).json()["state"]
    m = retained(broker.port, SERVER)
    assert m is not None and m.payload == b"online"
    t0 = time.monotonic()
    rc = h.stop(sig, timeout=T(5))
    took = time.monotonic() - t0
    assert rc == 0
    assert took < T(2), f"exit took {took:.2f}s"
    m = retained(broker.port, SERVER)
    assert m is not None and m.retain and m.payload == b"offline", m
    st_msg = retained(broker.port, "v1/demo/rgb/state")
    assert st_msg is not None and st_msg.json() == st
    assert h.logs("shutdown")
    # nothing listens any more
    with pytest.raises(OSError):
        request(h.port, "GET", "/healthz", timeout=1)


def test_sigterm_with_broker_down_still_exits_0_in_time(broker, hubs):
    h = hubs(broker=broker)
    h.wait_readyz()
    broker.stop()
    wait_until(lambda: h.get("/readyz").status == 503, T(5), what="not ready")
    t0 = time.monotonic()
    assert h.stop(timeout=T(5)) == 0
    assert time.monotonic() - t0 < T(2)


def test_sigterm_with_clients_connected(broker, hubs, closer):
    h = hubs(broker=broker)
    ws = h.ws()
    closer.append(ws)
    ws.recv_json()
    t0 = time.monotonic()
    assert h.stop(timeout=T(5)) == 0
    assert time.monotonic() - t0 < T(2)


def test_port_in_use_fails_clearly(hubs, tmp_path):
    a = hubs()
    b = Hub(http_port=a.port)
    try:
        b.spawn()
        rc = b.wait_exit(T(10))
        assert rc != 0
        assert b.stderr().strip() or any(l.get("level") == "error" for l in b.logs()), \
            "a failed bind must be reported"
    finally:
        b.finish()
