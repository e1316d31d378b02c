"""API key (x-api-key / ?token=) and Origin enforcement, CORS headers,
preflight, and the audit log that never shows a full key."""
import json

import pytest

from hubtest import WsClient, ulid

KEY = "k3y-Abcdefghijklmnop-0123456789"
JSON = {"content-type": "application/json"}


def body():
    return {"cmdId": ulid(), "r": 1, "g": 2, "b": 3}


def test_api_key_required_for_mutations(hubs):
    h = hubs(env={"DMX_API_KEY": KEY})
    for headers in ({}, {"x-api-key": "wrong"}, {"x-api-key": KEY + "x"}, {"x-api-key": KEY[:-1]},
                    {"x-api-key": ""}):
        r = h.request("POST", "/rgb", body(), headers)
        assert r.status == 401, (headers, r)
        err = r.json()
        assert err["error"].startswith("missing or wrong API key"), r
        assert set(err) <= {"error", "field"}, r
    assert h.rgb()["seq"] == 0
    # a key in the query string is not the REST mechanism
    r = h.request("POST", f"/rgb?token={KEY}", body())
    assert r.status == 401, r
    r = h.request("POST", "/rgb", body(), {"x-api-key": KEY})
    assert r.status == 200 and r.json()["status"] == "applied", r
    # reads stay open
    for path in ("/rgb", "/healthz", "/metrics", "/devices"):
        assert h.get(path).status == 200, path
    assert h.metrics().value("dmx_engine_processed_total") == 1


def test_ws_token_required(hubs):
    h = hubs(env={"DMX_API_KEY": KEY})
    for path in ("/ws", "/ws?token=wrong", f"/ws?token={KEY[:-1]}", "/ws?token="):
        c = WsClient(h.port, path=path)
        try:
            assert c.status == 401, (path, c.status)
        finally:
            c.close()
    c = WsClient(h.port, path=f"/ws?token={KEY}")
    try:
        assert c.status == 101
        assert c.recv_json()["type"] == "state"
        c.send_json({"type": "set", "cmdId": ulid(), "r": 5, "g": 5, "b": 5})
        assert c.recv_json()["seq"] == 1
    finally:
        c.close()


def test_preflight_needs_no_key(hubs):
    h = hubs(env={"DMX_API_KEY": KEY, "DMX_ALLOW_ORIGINS": "http://good.example"})
    r = h.request("OPTIONS", "/rgb", headers={
        "Origin": "http://good.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-api-key"})
    assert r.status == 204, r


def _longest_common_substring(a, b):
    best = 0
    for i in range(len(a)):
        for j in range(i + best + 1, len(a) + 1):
            if a[i:j] in b:
                best = j - i
            else:
                break
    return best


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def test_unset_key_accepted_and_audited_masked(hubs):
    rest_key = "Qz7restSecret-9f8e7d6c5b4a39281706"
    ws_key = "Jx4wsTokenSecret-0a1b2c3d4e5f60718"
    h = hubs()
    r = h.request("POST", "/rgb", body(), {"x-api-key": rest_key})
    assert r.status == 200 and r.json()["status"] == "applied", r
    c = WsClient(h.port, path=f"/ws?token={ws_key}")
    try:
        assert c.status == 101
        c.recv_json()
    finally:
        c.close()
    for key in (rest_key, ws_key):
        def mentions(line, key=key):
            vals = list(_strings(line))
            # a masked form: shows at most a short prefix or suffix of this key
            return any(v != key and _longest_common_substring(key, v) <= 8
                       and (v.startswith(key[:3]) or key[-3:] in v) for v in vals)
        try:
            h.wait_log(None, lambda l, m=mentions: m(l))
        except AssertionError:
            audit = [l for l in h.logs() if "key" in json.dumps(l).lower()]
            raise AssertionError(f"no masked audit of {key[:3]}...: key-related lines {audit}")
    assert h.stop() == 0
    everything = h.stdout() + h.stderr()
    for key in (rest_key, ws_key):
        assert key not in everything, "a full key must never be logged"
        for line in h.logs():
            for v in _strings(line):
                assert _longest_common_substring(key, v) <= 8, \
                    f"log reveals too much of a key: {json.dumps(line)}"


def test_origin_enforced_on_ws_and_cors_headers(hubs):
    good, evil = "http://good.example", "http://evil.example"
    h = hubs(env={"DMX_ALLOW_ORIGINS": good})
    c = WsClient(h.port, origin=evil)
    try:
        assert c.status == 403, c.status
    finally:
        c.close()
    c = WsClient(h.port, origin=good)
    try:
        assert c.status == 101
        assert c.recv_json()["type"] == "state"
    finally:
        c.close()
    c = WsClient(h.port)           # no Origin: not a browser
    try:
        assert c.status == 101
    finally:
        c.close()

    r = h.get("/rgb", headers={"Origin": good})
    assert r.status == 200 and r.header("access-control-allow-origin") == good, r.headers
    r = h.request("POST", "/rgb", body(), {"Origin": good})
    assert r.status == 200 and r.header("access-control-allow-origin") == good, r.headers
    r = h.get("/rgb", headers={"Origin": evil})
    assert r.header("access-control-allow-origin") in (None, ""), r.headers

    r = h.request("OPTIONS", "/rgb", headers={
        "Origin": good, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-api-key"})
    assert r.status == 204, r
    assert r.header("access-control-allow-origin") == good
    methods = {m.strip().upper() for m in r.header("access-control-allow-methods").split(",")}
    assert {"GET", "POST"} <= methods, r.headers
    allowed = {m.strip().lower() for m in r.header("access-control-allow-headers").split(",")}
    assert {"content-type", "x-api-key"} <= allowed, r.headers
    r = h.request("OPTIONS", "/rgb", headers={
        "Origin": evil, "Access-Control-Request-Method": "POST"})
    assert r.header("access-control-allow-origin") in (None, ""), r
    assert h.rgb()["seq"] == 1


def test_origin_list(hubs):
    h = hubs(env={"DMX_ALLOW_ORIGINS": "http://a.example,http://b.example"})
    for origin, want in (("http://a.example", 101), ("http://b.example", 101),
                         ("http://c.example", 403), ("http://a.example.evil", 403)):
        c = WsClient(h.port, origin=origin)
        try:
            assert c.status == want, (origin, c.status)
        finally:
            c.close()


@pytest.mark.parametrize("origin", ["http://anything.example", "https://x.test:8443"])
def test_default_allows_any_origin(hubs, origin):
    h = hubs()
    r = h.get("/rgb", headers={"Origin": origin})
    assert r.header("access-control-allow-origin") in ("*", origin), r.headers
    c = WsClient(h.port, origin=origin)
    try:
        assert c.status == 101
    finally:
        c.close()
