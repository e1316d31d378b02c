"""MQTT against a real Mosquitto: commands in, retained state out, presence
of the server itself (online, LWT), malformed payloads, broker outage."""
import json
import time

from hubtest import T, Mosquitto, MqttClient, retained, ulid, wait_until

CMD = "v1/demo/rgb/cmd"
STATE = "v1/demo/rgb/state"
ERROR = "v1/demo/rgb/error"
SERVER = "v1/devices/server/state"


def cmd(r, g, b, cmd_id=None, **extra):
    m = {"cmdId": cmd_id or ulid(), "r": r, "g": g, "b": b}
    m.update(extra)
    return json.dumps(m)


def client(broker, closer, *topics):
    c = MqttClient(broker.port).connect()
    closer.append(c)
    for t in topics:
        c.subscribe(t)
    return c


def test_startup_publishes_retained_state_and_online(hub, broker):
    m = retained(broker.port, STATE, timeout=T(3))
    assert m is not None and m.retain, "no retained state after start-up"
    assert m.json() == hub.rgb()
    assert m.json()["seq"] == 0
    hub.wait_log("publish_state")
    hub.wait_log("mqtt_connected")
    on = retained(broker.port, SERVER, timeout=T(3))
    assert on is not None and on.retain and on.payload == b"online", on


def test_command_to_retained_state_and_ws(hub, broker, closer):
    sub = client(broker, closer, STATE)
    sub.wait(STATE, lambda m: m.json()["seq"] == 0)     # the retained start-up state
    ws = hub.ws()
    closer.append(ws)
    assert ws.recv_json()["seq"] == 0
    n0 = len(sub.msgs)
    pub = client(broker, closer)
    cid = ulid()
    pub.publish(CMD, cmd(64, 32.5, 999, cid), qos=1)
    _, m = sub.wait(STATE, lambda m: m.json()["seq"] == 1, start=n0)
    assert m.qos == 1
    rest = hub.rgb()
    assert m.json() == rest, "MQTT state must be the same JSON as GET /rgb"
    assert (rest["r"], rest["g"], rest["b"], rest["seq"]) == (64, 33, 255, 1)
    w = ws.recv_json()
    assert w == {"type": "state", "r": 64, "g": 33, "b": 255, "seq": 1, "ts": rest["ts"]}
    log = hub.wait_log("apply", lambda l: l.get("cmdId") == cid)
    assert log["src"] == "mqtt"
    # a fresh subscriber sees it retained
    fresh = retained(broker.port, STATE)
    assert fresh is not None and fresh.retain and fresh.json() == rest
    # duplicate over MQTT: ignored, no new state, counted
    d0 = hub.metrics().value("dmx_engine_deduped_total")
    pub.publish(CMD, cmd(1, 1, 1, cid), qos=1)
    wait_until(lambda: hub.metrics().value("dmx_engine_deduped_total") == d0 + 1, T(5),
               what="MQTT duplicate counted")
    assert hub.rgb() == rest
    ws.expect_silence(0.2)
    # REST commands are published too
    st = hub.post_rgb(5, 6, 7).json()["state"]
    _, m = sub.wait(STATE, lambda m: m.json()["seq"] == 2, start=n0)
    assert m.json() == st


def test_malformed_payloads_counted_and_reported(hub, broker, closer):
    sub = client(broker, closer, ERROR, STATE)
    pub = client(broker, closer)
    pub.publish(CMD, cmd(1, 2, 3), qos=1)
    sub.wait(STATE, lambda m: m.json()["seq"] == 1)
    before = hub.rgb()
    mal0 = hub.metrics().value("dmx_mqtt_malformed_total")
    cid_r, cid_sch = ulid(), ulid()
    big = json.dumps({"cmdId": ulid(), "r": 1, "g": 2, "b": 3, "pad": "x" * 20480})
    bad = [
        (b"not json at all", None),
        (b"[1,2,3]", None),
        (b'{"cmdId":', None),
        (b"", None),
        (b'{"cmdId":"bad","r":1,"g":2,"b":3}', None),
        (cmd("1", 2, 3, cid_r).encode(), cid_r),
        (cmd(1, 2, 3, cid_sch, schema="nope").encode(), cid_sch),
        (b'\xff\xfe\xfd\x00{"cmdId"', None),
        (b'{"cmdId":"%s","r":1,"g":2,"b":3,"src":"\xff\xff"}' % ulid().encode(), None),
        (big.encode(), None),
    ]
    n_err = len(sub.on(ERROR))
    for payload, _ in bad:
        pub.publish(CMD, payload, qos=1)
    wait_until(lambda: hub.metrics().value("dmx_mqtt_malformed_total") == mal0 + len(bad),
               T(5), what=f"malformed_total == {mal0 + len(bad)}")
    errs = wait_until(lambda: len(sub.on(ERROR)) >= n_err + len(bad) and sub.on(ERROR),
                      T(5), what="one error message per malformed payload")
    errs = [e.json() for e in errs[n_err:]]
    assert len(errs) == len(bad), errs
    for e in errs:
        assert isinstance(e.get("error"), str) and e["error"], e
        assert "cmdId" in e and "field" in e, e
    got_ids = {e["cmdId"] for e in errs}
    assert {cid_r, cid_sch} <= got_ids, errs
    fields = {e["cmdId"]: e["field"] for e in errs if e["cmdId"] in (cid_r, cid_sch)}
    assert fields == {cid_r: "r", cid_sch: "schema"}
    assert hub.rgb() == before
    assert hub.get("/healthz").status == 200
    # still applies good commands
    pub.publish(CMD, cmd(9, 9, 9), qos=1)
    sub.wait(STATE, lambda m: m.json()["seq"] == before["seq"] + 1)
    assert hub.get("/readyz").status == 200


def test_lwt_offline_after_kill9(broker, closer, hubs):
    h = hubs(broker=broker)
    h.wait_readyz()
    sub = client(broker, closer, SERVER)
    sub.wait(SERVER, lambda m: m.payload == b"online")
    n = len(sub.msgs)
    t0 = time.monotonic()
    h.kill9()
    # the broker sees the socket close at once; keepalive only matters for a
    # silent network loss, which a local kill is not
    _, m = sub.wait(SERVER, lambda m: m.payload == b"offline", start=n, timeout=T(10))
    assert time.monotonic() - t0 < T(10)
    r = retained(broker.port, SERVER)
    assert r is not None and r.retain and r.payload == b"offline"


def test_broker_outage_and_return(closer, hubs):
    broker = Mosquitto().start()
    closer.append(broker)
    h = hubs(broker=broker)
    h.wait_readyz()
    assert h.post_rgb(1, 1, 1).status == 200
    broker.stop()
    # REST keeps working while the broker is down
    r = h.post_rgb(10, 20, 30)
    assert r.status == 200 and r.json()["status"] == "applied", r
    ws = h.ws()
    closer.append(ws)
    assert ws.recv_json()["seq"] == 2

    def not_ready():
        r = h.get("/readyz")
        return r.status == 503 and r
    r = wait_until(not_ready, T(5), what="/readyz 503 while the broker is down")
    body = r.json()
    assert body["status"] == "not ready"
    assert isinstance(body.get("mqtt"), str) and body["mqtt"] and body["mqtt"] != "connected", body
    h.wait_log("mqtt_reconnect", timeout=T(5))
    assert h.metrics().value("dmx_mqtt_connected") == 0
    st = h.post_rgb(40, 50, 60).json()["state"]
    assert st["seq"] == 3
    assert ws.recv_json()["seq"] == 3
    time.sleep(1.0)
    broker.start()
    # backoff grew to a few seconds at most while the broker was away ~2-3 s
    h.wait_readyz(timeout=T(15))
    assert h.metrics().value("dmx_mqtt_connected") == 1
    assert h.metrics().value("dmx_mqtt_reconnects_total") >= 1
    m = wait_until(lambda: retained(broker.port, STATE, timeout=0.5), T(5),
                   what="state republished after the broker returned")
    assert m.retain and m.json() == st, (m, st)
    on = retained(broker.port, SERVER)
    assert on is not None and on.payload == b"online"
    # the broker lost its session (no persistence): commands must flow again
    sub = client(broker, closer, STATE)
    pub = client(broker, closer)
    pub.publish(CMD, cmd(7, 7, 7), qos=1)
    sub.wait(STATE, lambda m: m.json()["seq"] == 4, timeout=T(5))
    assert h.rgb()["seq"] == 4


def test_credentials_used(closer, hubs):
    broker = Mosquitto(users={"hubuser": "s3cret-pw"}, allow_anonymous=False).start()
    closer.append(broker)
    good = hubs(broker=broker, env={"DMX_MQTT_USERNAME": "hubuser",
                                    "DMX_MQTT_PASSWORD": "s3cret-pw"})
    good.wait_readyz()
    c = MqttClient(broker.port, username="hubuser", password="s3cret-pw").connect()
    closer.append(c)
    c.subscribe(SERVER)
    c.wait(SERVER, lambda m: m.payload == b"online")
    bad = hubs(broker=broker, env={"DMX_MQTT_USERNAME": "hubuser",
                                   "DMX_MQTT_PASSWORD": "wrong",
                                   "DMX_MQTT_CLIENT_ID": "showhub-bad"})
    time.sleep(T(1))
    r = bad.get("/readyz")
    assert r.status == 503 and r.json()["mqtt"] != "connected", r
    assert bad.post_rgb(1, 2, 3).status == 200
    assert "s3cret-pw" not in good.stdout() + good.stderr()


def test_persistent_session_gets_commands_sent_while_away(closer, hubs):
    """clean session off + stable client id: a QoS 1 command published while the
    hub was down is delivered when it comes back."""
    broker = Mosquitto().start()
    closer.append(broker)
    h1 = hubs(broker=broker, client_id="showhub-persist")
    h1.wait_readyz()
    assert h1.stop() == 0
    pub = client(broker, closer)
    pub.publish(CMD, cmd(33, 44, 55), qos=1)
    h2 = hubs(broker=broker, client_id="showhub-persist", data_dir=h1.data_dir)
    wait_until(lambda: h2.rgb()["seq"] == 1, T(5), what="queued command applied after restart")
    assert (h2.rgb()["r"], h2.rgb()["g"], h2.rgb()["b"]) == (33, 44, 55)
