"""HTTP connection handling found wrong when tried as a new user would
(issue: "Defects found in the seed-000 contract"): a POST answered with
Connection: close or over HTTP/1.0 must then be closed; a client that writes
a whole oversized body before it reads must still see the 413."""
import http.client
import json
import socket
import time

import pytest

from hubtest import T, ulid


def raw_exchange(port, request, timeout):
    """Send request bytes, read until EOF; returns (bytes, how it ended)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    s.sendall(request)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, "eof"
            data += chunk
    except socket.timeout:
        return data, "timeout"
    except ConnectionResetError:
        return data, "reset"
    finally:
        s.close()


def post_bytes(path, body, version="HTTP/1.1", extra=""):
    return (f"POST {path} {version}\r\nHost: 127.0.0.1\r\n{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def rgb_body():
    return json.dumps({"cmdId": ulid(), "r": 1, "g": 2, "b": 3}).encode()


@pytest.mark.parametrize("version,extra", [("HTTP/1.1", "Connection: close\r\n"),
                                           ("HTTP/1.0", ""),
                                           ("HTTP/1.0", "Connection: close\r\n")],
                         ids=["1.1-close", "1.0", "1.0-close"])
def test_post_rgb_then_closed(shared_hub, version, extra):
    data, end = raw_exchange(shared_hub.port, post_bytes("/rgb", rgb_body(), version, extra), T(3))
    assert end == "eof", f"connection left open after the answer ({end}): {data[:200]!r}"
    assert b" 200 " in data.split(b"\r\n", 1)[0] and b'"applied"' in data, data


@pytest.mark.parametrize("path,body", [
    ("/api/v1/intents", json.dumps({"name": "dmx.blackout", "payload": {"on": False}}).encode()),
    ("/api/v1/blackout", b'{"on":false}'),
], ids=["intents", "route"])
def test_post_api_then_closed(shared_hub, path, body):
    data, end = raw_exchange(shared_hub.port, post_bytes(path, body, "HTTP/1.1",
                                                         "Connection: close\r\n"), T(3))
    assert end == "eof", f"connection left open after the answer ({end}): {data[:200]!r}"
    assert b" 200 " in data.split(b"\r\n", 1)[0], data


def test_keep_alive_post_stays_open(shared_hub):
    conn = http.client.HTTPConnection("127.0.0.1", shared_hub.port, timeout=T(5))
    try:
        for _ in range(3):
            conn.request("POST", "/rgb", body=rgb_body(), headers={"content-type": "application/json"})
            r = conn.getresponse()
            assert r.status == 200 and r.getheader("connection") != "close"
            r.read()
        assert conn.sock is not None, "keep-alive connection was closed"
    finally:
        conn.close()


@pytest.mark.parametrize("size", [100_000, 5_000_000])
@pytest.mark.parametrize("path", ["/rgb", "/api/v1/intents"])
def test_oversized_body_written_first_still_gets_413(shared_hub, path, size):
    """http.client writes the whole body, then reads: the 413 must survive."""
    body = b'{"x":"' + b"a" * size + b'"}'
    conn = http.client.HTTPConnection("127.0.0.1", shared_hub.port, timeout=T(10))
    try:
        conn.request("POST", path, body=body, headers={"content-type": "application/json"})
        r = conn.getresponse()
        text = r.read()
    finally:
        conn.close()
    assert r.status == 413, (r.status, text[:200])
    assert b"too large" in text
    assert r.getheader("connection") == "close"


def test_chunked_body_gets_411_readable(shared_hub):
    def chunks():
        for _ in range(50):
            yield b"x" * 4096
    conn = http.client.HTTPConnection("127.0.0.1", shared_hub.port, timeout=T(10))
    try:
        conn.request("POST", "/rgb", body=chunks(), encode_chunked=True,
                     headers={"content-type": "application/json"})
        r = conn.getresponse()
        text = r.read()
    finally:
        conn.close()
    assert r.status == 411, (r.status, text[:200])


def test_lingering_close_is_bounded(shared_hub):
    """A client that announces a huge body and sends nothing is not kept
    forever: the hub answers 413 and closes within a few seconds."""
    s = socket.create_connection(("127.0.0.1", shared_hub.port))
    s.settimeout(T(8))
    s.sendall(b"POST /rgb HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 900000000\r\n\r\n")
    t0 = time.monotonic()
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    finally:
        s.close()
    assert b" 413 " in data.split(b"\r\n", 1)[0], data[:200]
    assert time.monotonic() - t0 < T(6), "the lingering read is not bounded in time"
    assert shared_hub.get("/healthz").status == 200
