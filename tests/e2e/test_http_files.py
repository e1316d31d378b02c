"""File routes (proto/http_file.c) through the show domain's
GET /api/v1/shows/<name>/audio: whole file, HEAD, one Range (206), an
unsatisfiable one (416), invalid or several ranges ignored (200), keep-alive
after a download, clients that leave mid-download (no leaked descriptors),
a missing file (404 JSON); and per-route body limits (max_body): a show
file PUT may be far larger than the 16 KiB every other body is held to."""
import http.client
import json
import os
import socket
import time

import pytest

from hubtest import T, wait_until

SIZE = 3_000_000
NAME = "t1"
KEY = "k3y-Abcdefghijklmnop-0123456789"
AUDIO = f"/api/v1/shows/{NAME}/audio"


def write_show(shows, name, audio="a.bin", duration_ms=10000, cues=None):
    with open(os.path.join(shows, f"{name}.cue.json"), "w") as f:
        json.dump({"name": name, "duration_ms": duration_ms, "audio": audio,
                   "cues": cues or []}, f)


@pytest.fixture
def media(tmp_path):
    """A data dir with shows/t1.cue.json and its 3 MB audio file a.bin."""
    data = tmp_path / "data"
    shows = data / "shows"
    shows.mkdir(parents=True)
    blob = os.urandom(SIZE)
    (shows / "a.bin").write_bytes(blob)
    write_show(str(shows), NAME)
    return str(data), str(shows), blob


@pytest.fixture
def files_hub(hubs, media):
    data, shows, blob = media
    h = hubs(data_dir=data)
    return h, shows, blob


def conn_of(h, timeout=None):
    return http.client.HTTPConnection("127.0.0.1", h.port, timeout=timeout or T(20))


def get(conn, path, headers=None, method="GET"):
    conn.request(method, path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    return r, body


def open_fds(h):
    return len(os.listdir(f"/proc/{h.proc.pid}/fd"))


# ---------------------------------------------------------------- whole file, HEAD

def test_whole_file_byte_exact(files_hub):
    h, _, blob = files_hub
    c = conn_of(h)
    try:
        r, body = get(c, AUDIO)
    finally:
        c.close()
    assert r.status == 200, (r.status, body[:300])
    assert body == blob, "the download differs from the file"
    assert int(r.getheader("content-length")) == SIZE
    assert r.getheader("accept-ranges") == "bytes"
    assert r.getheader("content-type"), "the route's content type is missing"
    assert "no-cache" in r.getheader("cache-control")
    assert r.getheader("content-range") is None
    lm = r.getheader("last-modified")
    assert lm is None or lm.endswith(" GMT"), lm


def test_head(files_hub):
    h, _, _ = files_hub
    c = conn_of(h)
    try:
        r, body = get(c, AUDIO, method="HEAD")
        assert r.status == 200 and body == b""
        assert int(r.getheader("content-length")) == SIZE
        assert r.getheader("accept-ranges") == "bytes"
        # a HEAD of a range: the part's length, no body
        r, body = get(c, AUDIO, {"Range": "bytes=10-19"}, method="HEAD")
        assert r.status == 206 and body == b""
        assert int(r.getheader("content-length")) == 10
        assert r.getheader("content-range") == f"bytes 10-19/{SIZE}"
        # the connection is still usable
        r, body = get(c, "/healthz")
        assert r.status == 200
    finally:
        c.close()


# ---------------------------------------------------------------- ranges

@pytest.mark.parametrize("spec,start,end", [
    ("bytes=100-199", 100, 199),
    ("bytes=0-0", 0, 0),
    ("bytes=2999000-", 2999000, SIZE - 1),
    ("bytes=0-", 0, SIZE - 1),
    ("bytes=-500", SIZE - 500, SIZE - 1),
    ("bytes=-99999999", 0, SIZE - 1),              # a suffix longer than the file: all of it
    ("bytes=2999990-4000000", 2999990, SIZE - 1),  # a last byte past the end: to the end
    ("bytes=1000000-2100000", 1000000, 2100000),   # a part larger than a chunk
], ids=["a-b", "first-byte", "a-", "0-", "-n", "-huge", "a-past-end", "large"])
def test_single_range(files_hub, spec, start, end):
    h, _, blob = files_hub
    c = conn_of(h)
    try:
        r, body = get(c, AUDIO, {"Range": spec})
    finally:
        c.close()
    assert r.status == 206, (spec, r.status, body[:300])
    assert r.getheader("content-range") == f"bytes {start}-{end}/{SIZE}"
    assert int(r.getheader("content-length")) == end - start + 1
    assert r.getheader("accept-ranges") == "bytes"
    assert body == blob[start:end + 1]


@pytest.mark.parametrize("spec", ["bytes=3000000-", "bytes=3000000-3000010", "bytes=99999999-",
                                  "bytes=-0"])
def test_unsatisfiable_range_is_416(files_hub, spec):
    h, _, _ = files_hub
    c = conn_of(h)
    try:
        r, body = get(c, AUDIO, {"Range": spec})
        assert r.status == 416, (spec, r.status, body[:300])
        assert r.getheader("content-range") == f"bytes */{SIZE}"
        err = json.loads(body)
        assert err["ok"] is False and err["error"]["message"], err
        # keep-alive survives a 416
        r, _ = get(c, "/healthz")
        assert r.status == 200
    finally:
        c.close()


@pytest.mark.parametrize("spec", ["bytes=abc", "bytes=5-2", "bytes=", "items=0-5", "bytes 0-5",
                                  "bytes=0-1,5-9", "bytes=-5,-6"],
                         ids=["garbage", "last<first", "empty", "unit", "no-equals",
                              "two-ranges", "two-suffixes"])
def test_ignored_range_gets_the_whole_file(files_hub, spec):
    """RFC 7233 3.1: an invalid Range is ignored. Several ranges are
    ignored too (the hub writes no multipart/byteranges)."""
    h, _, blob = files_hub
    c = conn_of(h)
    try:
        r, body = get(c, AUDIO, {"Range": spec})
    finally:
        c.close()
    assert r.status == 200, (spec, r.status, body[:300])
    assert r.getheader("content-range") is None
    assert body == blob


def test_if_range_is_ignored(files_hub):
    h, _, blob = files_hub
    c = conn_of(h)
    try:
        r, body = get(c, AUDIO, {"Range": "bytes=0-9", "If-Range": '"some-etag"'})
    finally:
        c.close()
    assert r.status == 206 and body == blob[:10]


# ---------------------------------------------------------------- connections

def test_keep_alive_after_downloads(files_hub):
    h, _, blob = files_hub
    c = conn_of(h)
    try:
        r, body = get(c, AUDIO)
        assert r.status == 200 and body == blob
        assert r.getheader("connection") != "close"
        sock = c.sock
        assert sock is not None, "keep-alive connection closed after a download"
        r, body = get(c, AUDIO, {"Range": "bytes=100-199"})
        assert r.status == 206 and body == blob[100:200]
        r, body = get(c, AUDIO)
        assert r.status == 200 and body == blob
        r, body = get(c, "/healthz")
        assert r.status == 200 and json.loads(body)["status"] == "ok"
        assert c.sock is sock, "the connection was replaced: keep-alive did not hold"
    finally:
        c.close()


def test_http10_download_then_closed(files_hub):
    h, _, blob = files_hub
    s = socket.create_connection(("127.0.0.1", h.port))
    s.settimeout(T(10))
    try:
        s.sendall(f"GET {AUDIO} HTTP/1.0\r\nRange: bytes=0-99\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b" 206 " in head.split(b"\r\n", 1)[0], head
    assert body == blob[:100]


def _leave_mid_download(port, reset, want=200_000):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(T(10))
    # a small receive buffer: the hub is surely mid-file when we leave
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.sendall(f"GET {AUDIO} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = 0
    while got < want:
        chunk = s.recv(65536)
        assert chunk, "the hub closed before sending the file"
        got += len(chunk)
    if reset:   # an abortive close (RST), as a killed player would leave
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def test_client_leaving_mid_download(files_hub):
    h, _, blob = files_hub
    # warm up: lws's and our own lazily created descriptors exist afterwards
    c = conn_of(h)
    try:
        assert get(c, AUDIO)[0].status == 200
    finally:
        c.close()
    before = wait_until(lambda: open_fds(h), T(5))
    for i in range(20):
        _leave_mid_download(h.port, reset=i % 2 == 1)
    # the hub keeps serving
    r = h.get("/healthz")
    assert r.status == 200
    c = conn_of(h)
    try:
        r, body = get(c, AUDIO)
        assert r.status == 200 and body == blob
    finally:
        c.close()
    # every file (and socket) of the abandoned downloads is closed
    wait_until(lambda: open_fds(h) <= before, T(10), interval=0.1,
               what=f"open descriptors back to {before} (now {open_fds(h)})")


def test_parallel_downloads(files_hub):
    h, _, blob = files_hub
    conns = [conn_of(h) for _ in range(4)]
    try:
        for c in conns:
            c.request("GET", AUDIO)
        for c in conns:
            r = c.getresponse()
            assert r.status == 200 and r.read() == blob
    finally:
        for c in conns:
            c.close()


# ---------------------------------------------------------------- errors, auth, CORS

def test_missing_audio_is_404_json(hubs, media):
    data, shows, blob = media
    write_show(shows, "nofile", audio="missing.bin")
    write_show(shows, "gone", audio="gone.bin")
    with open(os.path.join(shows, "gone.bin"), "wb") as f:
        f.write(b"x" * 1000)
    h = hubs(data_dir=data)
    for path in ("/api/v1/shows/nofile/audio", "/api/v1/shows/nosuchshow/audio"):
        r = h.get(path)
        assert r.status == 404, (path, r)
        err = r.json()
        assert err["ok"] is False and err["error"]["code"] == "not_found", err
    # present at start, deleted before it is served
    assert h.get("/api/v1/shows/gone/audio").status == 200
    os.unlink(os.path.join(shows, "gone.bin"))
    r = h.get("/api/v1/shows/gone/audio", headers={"Range": "bytes=0-9"})
    assert r.status == 404, r
    assert r.json()["error"]["code"] == "not_found"
    assert h.get(AUDIO).body == blob


def test_token_in_query_and_key_rule(hubs, media):
    """A browser's <audio src> cannot send x-api-key: ?token= is accepted;
    downloads follow the other /api/v1 reads, which need no key."""
    data, _, blob = media
    h = hubs(data_dir=data, env={"DMX_API_KEY": KEY})
    r = h.get(f"{AUDIO}?token={KEY}", headers={"Range": "bytes=0-9"})
    assert r.status == 206 and r.body == blob[:10], r
    assert h.get("/api/v1/state").status == 200     # the read rule ...
    r = h.get(AUDIO, headers={"Range": "bytes=0-9"})
    assert r.status == 206, r                       # ... and the same for files


def test_cors_on_downloads(hubs, media):
    data, _, _ = media
    good = "http://good.example"
    h = hubs(data_dir=data, env={"DMX_ALLOW_ORIGINS": good})
    for headers, status in (({"Origin": good}, 200), ({"Origin": good, "Range": "bytes=0-1"}, 206),
                            ({"Origin": good, "Range": "bytes=9999999-"}, 416)):
        r = h.get(AUDIO, headers=headers)
        assert r.status == status, r
        assert r.header("access-control-allow-origin") == good, r.headers
        if status != 416:
            exposed = r.header("access-control-expose-headers") or ""
            assert "content-range" in exposed.lower(), r.headers
    r = h.request("OPTIONS", AUDIO, headers={"Origin": good, "Access-Control-Request-Method": "GET",
                                             "Access-Control-Request-Headers": "range"})
    assert r.status == 204, r
    assert "range" in {x.strip().lower() for x in r.header("access-control-allow-headers").split(",")}
    r = h.get(AUDIO, headers={"Origin": "http://evil.example", "Range": "bytes=0-1"})
    assert r.header("access-control-allow-origin") in (None, ""), r.headers


# ---------------------------------------------------------------- body limits (max_body)

def show_body(name, size):
    """A valid show file of about size bytes (cues on the demo fixture)."""
    cues, n = [], 0
    doc = {"name": name, "duration_ms": 1_000_000, "audio": "a.bin", "cues": cues}
    while len(json.dumps(doc)) < size:
        cues.append({"id": f"c{n}", "t_ms": n, "fixtures": ["demo"],
                     "values": {"red": n % 256}, "fade_ms": 0})
        n += 1
    return json.dumps(doc).encode()


def put(h, path, body):
    c = conn_of(h)
    try:
        c.request("PUT", path, body=body, headers={"content-type": "application/json"})
        r = c.getresponse()
        return r, r.read()
    finally:
        c.close()


def test_show_put_takes_a_large_body_intents_do_not(hubs, media):
    data, _, _ = media
    h = hubs(data_dir=data)
    body = show_body("big", 100_000)
    assert len(body) >= 100_000
    r, text = put(h, "/api/v1/shows/big", body)
    assert r.status == 200, (r.status, text[:300])
    assert json.loads(text)["ok"] is True
    # the default limit still holds everywhere else
    pad = {"name": "dmx.blackout", "payload": {"on": False, "pad": "x" * 100_000}}
    r = h.request("POST", "/api/v1/intents", pad)
    assert r.status == 413, r
    assert b"at most 16384 bytes" in r.body
    r = h.request("PATCH", "/api/v1/universes/1", {"pad": "x" * 20_000})
    assert r.status == 413, r


def test_show_put_limit_follows_dmx_show_max_bytes(hubs, media):
    data, _, _ = media
    h = hubs(data_dir=data, env={"DMX_SHOW_MAX_BYTES": "65536"})
    r, text = put(h, "/api/v1/shows/big", show_body("big", 100_000))
    assert r.status == 413, (r.status, text[:300])
    assert b"at most 65536 bytes" in text
    assert r.getheader("connection") == "close"
    # under the route's limit but over the default one: accepted
    r, text = put(h, "/api/v1/shows/mid", show_body("mid", 40_000))
    assert r.status == 200, (r.status, text[:300])
    assert h.get("/healthz").status == 200
