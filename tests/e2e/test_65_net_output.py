"""Art-Net and sACN output on the wire: showhub's output clock sends to UDP
receivers on 127.0.0.1 (tests/e2e/dmxnet.py), which parse every packet
from the specifications and compare it with GET /api/v1/universes/{u}.
Then a real olad takes the same output as Art-Net and E1.31 input
(tests/e2e/olad.py, docs/decisions/olad-network-input.md).

Numbering: hub universe u is Art-Net Port-Address u - 1 and sACN universe u.
Every Art-Net and sACN target here is a 127.0.0.1 receiver (or olad's
fixed 127.0.0.1:6454 / :5568): never the broadcast or multicast defaults.
"""
import errno
import http.client
import os
import re
import signal
import statistics
import time

import pytest

from dmxnet import (OPT_TERMINATED, UdpReceiver, artnet_next_sequence, build_artpoll,
                    e131_next_sequence, free_udp_port, is_artdmx, is_artpollreply, is_artsync,
                    is_e131_data, is_e131_discovery, loopback_only_netns, parse_artdmx,
                    parse_artnet, parse_artpollreply, parse_e131_data, parse_e131_discovery)
from hubtest import SCALE, T, wait_until, write_patch
from olad import OlaDaemon, OlaUnavailable

DEMO = {"name": "demo", "universe": 1, "address": 1, "channels": ["red", "green", "blue"]}
PAR = {"name": "par1", "universe": 2, "address": 10,
       "channels": ["red", "green", "blue", "dimmer"]}
ZEROS = bytes(512)
CID_LINE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$")


# ---------------------------------------------------------------- helpers

@pytest.fixture
def art():
    with UdpReceiver() as r:
        yield r


@pytest.fixture
def sacn():
    with UdpReceiver() as r:
        yield r


def patch_file(tmp_path, universes, fixtures=(), name="fixtures.json"):
    return write_patch(str(tmp_path), {"universes": list(universes),
                                       "fixtures": list(fixtures), "pois": []}, name)


def net_env(art=None, sacn=None, patch=None, **extra):
    """Env for a hub whose outputs go to our receivers only."""
    env = {"DMX_ARTNET_ENABLED": "false", "DMX_SACN_ENABLED": "false"}
    if art is not None:
        env.update(DMX_ARTNET_ENABLED="true",
                   DMX_ARTNET_TARGETS=art if isinstance(art, str) else art.addr)
    if sacn is not None:
        env.update(DMX_SACN_ENABLED="true",
                   DMX_SACN_TARGETS=sacn if isinstance(sacn, str) else sacn.addr)
    if patch is not None:
        env["DMX_FIXTURES_FILE"] = patch
    env.update({k: str(v) for k, v in extra.items()})
    return env


def artdmx(rx, start=0, pa=None):
    """[(t, parsed ArtDmx)] from index start, optionally of one Port-Address."""
    out = [(d.t, parse_artdmx(d.data)) for d in rx.since(start, on_data(is_artdmx))]
    return [x for x in out if pa is None or x[1]["port_address"] == pa]


def e131(rx, start=0, universe=None):
    """[(t, parsed E1.31 data packet)] from index start, optionally of one universe."""
    out = [(d.t, parse_e131_data(d.data)) for d in rx.since(start, on_data(is_e131_data))]
    return [x for x in out if universe is None or x[1]["universe"] == universe]


def _where(is_kind, parse, want):
    def pred(d):
        if not is_kind(d.data):
            return False
        p = parse(d.data)
        return all(v(p[k]) if callable(v) else p[k] == v for k, v in want.items())
    return pred


def on_data(is_kind):
    """A datagram predicate from a packet predicate (is_artsync, ...)."""
    return lambda d: is_kind(d.data)


def artdmx_where(**want):
    """A datagram predicate: an ArtDmx whose parsed fields equal want's values
    (or satisfy them, when a value is a function)."""
    return _where(is_artdmx, parse_artdmx, want)


def e131_where(**want):
    """A datagram predicate: an E1.31 data packet, as artdmx_where."""
    return _where(is_e131_data, parse_e131_data, want)


def artdmx_is(pa, data):
    return artdmx_where(port_address=pa, data=data)


def e131_is(universe, slots, options=0):
    return e131_where(universe=universe, slots=slots, options=options)


def assert_artnet_sequence(seqs, what):
    assert seqs, f"no ArtDmx for {what}"
    assert 0 not in seqs, f"{what}: ArtDmx Sequence 0 sent: {seqs}"
    for i, (a, b) in enumerate(zip(seqs, seqs[1:])):
        assert b == artnet_next_sequence(a), f"{what}: Sequence {a} then {b} at {i}: {seqs}"


def assert_e131_sequence(seqs, what):
    assert seqs, f"no sACN data for {what}"
    for i, (a, b) in enumerate(zip(seqs, seqs[1:])):
        assert b == e131_next_sequence(a), f"{what}: sequence {a} then {b} at {i}: {seqs}"


def frames(h, proto, universe):
    labels = f'{{proto="{proto}",universe="{universe}"}}'
    return h.metrics().value("dmx_output_frames_total", labels)


def between(rx, start, end, pred):
    """The datagrams with index start <= i < end that match pred."""
    return [d for d in rx.since(start)[:end - start] if pred(d)]


def count_between(rx, pred, read):
    """(n_before, value, n_after): datagrams matching pred before read() is
    called, read()'s value, and matching datagrams once the send in flight
    has landed. A counter bumped before each send satisfies
    n_before <= value <= n_after."""
    before = len(rx.since(0, pred))
    value = read()
    time.sleep(0.05 * SCALE)
    return before, value, len(rx.since(0, pred))


# ---------------------------------------------------------------- the wire format

def test_artdmx_and_sacn_carry_the_universes_as_get_universe_shows_them(hubs, art, sacn,
                                                                         tmp_path):
    patch = patch_file(tmp_path, [1, 2, 3], [DEMO, PAR])
    h = hubs(env=net_env(art, sacn, patch))
    assert h.post_rgb(10, 20, 30).status == 200
    h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 255, "dimmer": 128}})
    assert h.request("PATCH", "/api/v1/universes/2", {"channels": {"40": 7}}).status == 200
    assert h.request("PATCH", "/api/v1/universes/3",
                     {"channels": {"1": 1, "512": 99}}).status == 200
    want = {u: bytes(h.output(u)) for u in (1, 2, 3)}
    assert want[1][:4] == bytes([10, 20, 30, 0])
    assert want[2][9:13] == bytes([255, 0, 0, 128]) and want[2][39] == 7
    assert want[3][0] == 1 and want[3][511] == 99 and sum(want[3]) == 100

    for u in (1, 2, 3):
        pkt = art.wait_for(artdmx_is(u - 1, want[u]), T(2), what=f"ArtDmx for universe {u}")
        assert len(pkt.data) == 18 + 512
        assert pkt.addr[0] == "127.0.0.1"
        p = parse_artdmx(pkt.data)
        assert p["prot_ver"] == 14
        assert p["length"] == 512
        assert p["sub_uni"] == (u - 1) & 0xFF and p["net"] == (u - 1) >> 8
        assert p["sequence"] != 0
        d = sacn.wait_for(e131_is(u, want[u]), T(2), what=f"sACN data for universe {u}")
        s = parse_e131_data(d.data)
        assert s["start_code"] == 0 and s["property_value_count"] == 513
        assert len(d.data) == 126 + 512
        assert not s["preview"] and s["sync_address"] == 0

    # Only the patched universes, each with its own Art-Net sequence from 1.
    for pa in {p["port_address"] for _, p in artdmx(art)}:
        assert pa in (0, 1, 2), f"ArtDmx for Port-Address {pa}, not in the patch"
    for pa in (0, 1, 2):
        seqs = [p["sequence"] for _, p in artdmx(art, pa=pa)]
        assert seqs[0] == 1, seqs
        assert_artnet_sequence(seqs, f"Port-Address {pa}")
    for u in (1, 2, 3):
        seqs = [p["sequence"] for _, p in e131(sacn, universe=u)]
        assert seqs[0] == 1, seqs
        assert_e131_sequence(seqs, f"sACN universe {u}")
    assert not any(is_artsync(d.data) for d in art.since()), "ArtSync while DMX_ARTNET_SYNC=false"


def test_a_change_reaches_both_protocols_within_a_few_ticks(hubs, art, sacn):
    fps = 20
    period = 1.0 / fps
    h = hubs(env=net_env(art, sacn, DMX_OUTPUT_FPS=fps))
    art.wait_for(artdmx_where(), T(2))
    for i in range(5):
        rgb = bytes([i * 40 + 1, 2 * i, 3])
        start = art.mark(), sacn.mark()
        t0 = time.monotonic()
        assert h.post_rgb(*rgb).status == 200
        a = art.wait_for(artdmx_where(data=lambda v: v[:3] == rgb), T(2), start=start[0],
                         what=f"ArtDmx with {list(rgb)}")
        s = sacn.wait_for(e131_where(slots=lambda v: v[:3] == rgb), T(2), start=start[1],
                          what=f"sACN with {list(rgb)}")
        # The next tick after the intent is applied: at most a period, plus
        # the HTTP round trip and scheduling; three periods leave room for both.
        for name, pkt in (("Art-Net", a), ("sACN", s)):
            assert pkt.t - t0 <= 3 * period * SCALE, \
                f"{name} carried the change {pkt.t - t0:.3f}s after the request ({fps} fps)"
        assert abs(a.t - s.t) < period / 2, "both protocols go out on the same tick"


def test_sacn_repeats_a_change_three_times_artnet_once(hubs, art, sacn):
    """E1.31 6.6.1: a source sends at least three packets of the final data
    before it drops to keep-alives (one lost packet must not hold wrong
    light for a second). Art-Net has no such rule: one packet per change."""
    h = hubs(env=net_env(art, sacn, DMX_OUTPUT_FPS=20))
    art.wait_for(artdmx_where(), T(2))
    time.sleep(0.5)  # past the start-up packets
    for i in range(3):
        rgb = bytes([100 + i, 7, 9])
        start = art.mark(), sacn.mark()
        assert h.post_rgb(*rgb).status == 200
        sacn.wait_for(e131_where(slots=lambda v: v[:3] == rgb), T(2), start=start[1])
        time.sleep(0.5)  # 10 ticks, well inside the 1 s keep-alive
        s = [d for d in sacn.since(start[1]) if e131_where(universe=1)(d)]
        a = [d for d in art.since(start[0]) if artdmx_where(port_address=0)(d)]
        assert [parse_e131_data(d.data)["slots"][:3] for d in s] == [rgb] * 3, \
            "three sACN packets of the new data, then nothing until the keep-alive"
        assert [parse_artdmx(d.data)["data"][:3] for d in a] == [rgb], "one ArtDmx"
        seqs = [parse_e131_data(d.data)["sequence"] for d in s]
        assert_e131_sequence(seqs, "sACN universe 1")


def test_unchanged_universes_are_kept_alive_and_sacn_discovery_every_10s(hubs, art, sacn,
                                                                          tmp_path):
    """The one long test (~11 s): keep-alives of unchanged universes, the
    universe discovery period, and the sACN header fields."""
    fps = 44
    period = 1.0 / fps
    name = "Bühne links ✓ showhub"
    patch = patch_file(tmp_path, [1, 2, 7])
    h = hubs(env=net_env(art, sacn, patch, DMX_OUTPUT_FPS=fps, DMX_SACN_PRIORITY=150,
                         DMX_SACN_SOURCE_NAME=name))
    with open(os.path.join(h.data_dir, "sacn.cid")) as f:
        cid_text = f.read()
    assert CID_LINE.match(cid_text), f"sacn.cid holds {cid_text!r}, not one UUID line"
    cid = cid_text.strip()

    first = sacn.wait_for(on_data(is_e131_discovery), T(2), what="universe discovery")
    second = sacn.wait_for(on_data(is_e131_discovery), T(11),
                           start=first.i + 1, what="the second discovery")
    gap = second.t - first.t
    # Receipt times carry the receiver thread's scheduling delay too: a
    # loose bound, which a 5 s or 20 s period still fails.
    assert 10.0 - 0.2 <= gap <= 10.0 + 2 * period + 0.2 * SCALE, f"discovery {gap:.3f}s apart"
    for d in (first, second):
        disc = parse_e131_discovery(d.data)
        assert disc["universes"] == [1, 2, 7]
        assert disc["page"] == 0 and disc["last_page"] == 0
        assert disc["cid"] == cid and disc["source_name"] == name
        assert disc["reserved"] == bytes(4)

    # Nothing changed: every universe goes out about once a second, not every tick.
    window_start = first.t + 0.5
    for u in (1, 2, 7):
        for proto, times in (
                ("Art-Net", [t for t, _ in artdmx(art, pa=u - 1) if t >= window_start]),
                ("sACN", [t for t, _ in e131(sacn, universe=u) if t >= window_start])):
            gaps = [b - a for a, b in zip(times, times[1:])]
            what = f"{proto} universe {u} keep-alive gaps {[round(g, 3) for g in gaps]}"
            assert 8 <= len(times) <= 11, what
            # Each gap is a whole number of ticks >= 1 s; one late receipt
            # shortens the next gap, so bound each loosely and the mean tightly.
            assert all(0.75 <= g <= 1.3 * SCALE for g in gaps), what
            mean = (times[-1] - times[0]) / len(gaps)
            assert 1.0 - 0.01 <= mean <= 1.0 + 2 * period + 0.02 * SCALE, what

    # sACN header fields, on every data packet so far.
    for u in (1, 2, 7):
        pkts = [p for _, p in e131(sacn, universe=u)]
        for p in pkts:
            assert p["cid"] == cid
            assert p["source_name"] == name
            assert p["priority"] == 150
            assert p["options"] == 0 and p["sync_address"] == 0
            assert p["slots"] == ZEROS
        assert_e131_sequence([p["sequence"] for p in pkts], f"sACN universe {u}")
    assert not any(is_artsync(d.data) for d in art.since())

    # The CID is the data dir's: the same after a restart, and the file stays.
    assert h.stop() == 0
    mark = sacn.mark()
    h2 = hubs(env=net_env(art, sacn, patch, DMX_SACN_SOURCE_NAME=name), data_dir=h.data_dir)
    d = sacn.wait_for(e131_where(), T(2), start=mark)
    assert parse_e131_data(d.data)["cid"] == cid
    with open(os.path.join(h2.data_dir, "sacn.cid")) as f:
        assert f.read() == cid_text
    assert h.logs("sacn_cid_created") and not h2.logs("sacn_cid_created")


def test_sacn_discovery_pages_and_a_source_name_of_63_bytes(hubs, sacn, tmp_path):
    """600 universes: discovery page 0 lists 512 of them, page 1 the other
    88 (E1.31 8.4-8.5). A 66-byte name is cut to the 63 bytes that fit before
    the NUL, here on a character boundary."""
    name = "x" * 61 + "é" + "yyy"
    patch = patch_file(tmp_path, range(1, 601))
    hubs(env=net_env(sacn=sacn, patch=patch, DMX_SACN_SOURCE_NAME=name))
    got = sacn.wait_count(2, on_data(is_e131_discovery), T(3), what="discovery pages")
    pages = sorted((parse_e131_discovery(d.data) for d in got), key=lambda p: p["page"])
    assert [(p["page"], p["last_page"]) for p in pages] == [(0, 1), (1, 1)]
    assert pages[0]["universes"] == list(range(1, 513))
    assert pages[1]["universes"] == list(range(513, 601))
    data = sacn.wait_count(600, e131_where(), T(3), what="data packets")
    assert {parse_e131_data(d.data)["universe"] for d in data} == set(range(1, 601))
    for p in pages + [parse_e131_data(data[0].data)]:
        assert p["source_name"] == "x" * 61 + "é"


def test_a_long_sacn_source_name_is_cut_on_a_character_boundary(hubs, sacn):
    hubs(env=net_env(sacn=sacn, DMX_SACN_SOURCE_NAME="x" * 62 + "é" + "yyy"))
    d = sacn.wait_for(e131_where(), T(2))
    field = d.data[44:108]
    raw = field[:field.index(0)]
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AssertionError(f"Source Name {raw!r} is not UTF-8 (E1.31 6.2.2): {e}") from None
    assert parse_e131_data(d.data)["source_name"] == "x" * 62


def test_changes_go_out_at_most_once_a_tick(hubs, art, sacn):
    fps = 10
    period = 1.0 / fps
    h = hubs(env=net_env(art, sacn, DMX_OUTPUT_FPS=fps))
    art.wait_for(artdmx_where(), T(2))
    start = art.mark(), sacn.mark()
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=T(10))
    n = 0
    try:
        while time.monotonic() - t0 < 1.5:
            n += 1
            r = h.request("PATCH", "/api/v1/universes/1", {"channels": {"100": n % 250 + 1}},
                          conn=conn)
            assert r.status == 200, r
    finally:
        conn.close()
    last = n % 250 + 1
    elapsed = time.monotonic() - t0
    assert n >= 50, f"only {n} changes in {elapsed:.2f}s: too few to test the rate"
    art.wait_for(artdmx_where(data=lambda v: v[99] == last), T(2), start=start[0],
                 what="the last value")
    sacn.wait_for(e131_where(slots=lambda v: v[99] == last), T(2), start=start[1],
                  what="the last value")
    end = time.monotonic()
    ticks = (end - t0) * fps
    for proto, times in (("Art-Net", [t for t, _ in artdmx(art, start[0], pa=0)]),
                         ("sACN", [t for t, _ in e131(sacn, start[1], universe=1)])):
        assert len(times) <= ticks + 2, \
            f"{proto}: {len(times)} packets for {n} changes in {ticks:.0f} ticks"
        assert len(times) >= 0.6 * elapsed * fps, \
            f"{proto}: {len(times)} packets in {elapsed:.2f}s at {fps} fps: changes were held back"
        # Ticks run on absolute deadlines, so one late tick can sit close to
        # the next; but fps + 1 packets can never fit in much under a second.
        spans = [times[i + fps] - times[i] for i in range(len(times) - fps)]
        assert spans and min(spans) >= (fps - 1) * period, \
            f"{proto}: {fps + 1} packets within {min(spans):.3f}s at {fps} fps"


def test_artsync_follows_each_ticks_artdmx_set_when_enabled(hubs, art, tmp_path):
    patch = patch_file(tmp_path, [1, 2, 3])
    h = hubs(env=net_env(art, patch=patch, DMX_ARTNET_SYNC="true",
                         DMX_OUTPUT_TEST_PATTERN="chase"))
    art.wait_count(60, on_data(is_artsync), T(3), what="ArtSync")
    ops = [parse_artnet(d.data) for d in art.since()]
    # Cut at each ArtSync: every group is one ArtDmx per universe, then the sync.
    groups, cur = [], []
    for p in ops:
        if p["op"] == "ArtSync":
            assert p["prot_ver"] == 14 and p["aux1"] == 0 and p["aux2"] == 0
            groups.append(cur)
            cur = []
        else:
            assert p["op"] == "ArtDmx"
            cur.append(p["port_address"])
    assert len(groups) >= 60
    for i, g in enumerate(groups):
        assert sorted(g) == [0, 1, 2], f"ArtSync #{i} followed {g}, not one ArtDmx per universe"
    assert len(cur) <= 3

    # With nothing changing (no test pattern), keep-alive sets are synced too.
    h.stop()
    with UdpReceiver() as art2:
        hubs(env=net_env(art2, patch=patch, DMX_ARTNET_SYNC="true"))
        art2.wait_count(2, on_data(is_artsync), T(3), what="ArtSync after keep-alives")
        ops = [parse_artnet(d.data)["op"] for d in art2.since()]
        assert ops[:4] == ["ArtDmx"] * 3 + ["ArtSync"], ops[:8]


# ---------------------------------------------------------------- ArtPoll

def test_artpoll_gets_one_reply_per_universe_unicast_to_the_poller(hubs, art, tmp_path):
    listen = free_udp_port()
    patch = patch_file(tmp_path, [1, 2, 17, 300, 32768, 32769, 40000])
    h = hubs(env=net_env(art, patch=patch, DMX_ARTNET_LISTEN=f"127.0.0.1:{listen}"))
    with UdpReceiver() as poller:
        poller.send(build_artpoll(), ("127.0.0.1", listen))
        got = poller.wait_count(5, on_data(is_artpollreply), T(2), what="ArtPollReply")
        time.sleep(0.3)
        assert len(poller.since()) == 5, \
            "one reply per universe Art-Net can address (Port-Address 0..32767: hub 1..32768)"
        replies = sorted((parse_artpollreply(d.data) for d in got), key=lambda r: r["bind_index"])
        assert [r["bind_index"] for r in replies] == [1, 2, 3, 4, 5]
        assert [r["port_addresses"] for r in replies] == [[0], [1], [16], [299], [32767]]
        for r in replies:
            pa = r["port_addresses"][0]
            assert r["net_switch"] == pa >> 8 and r["sub_switch"] == (pa >> 4) & 0xF
            assert r["sw_in"][0] == pa & 0xF
            assert r["num_ports"] == 1
            assert r["port_types"][0] & 0x40, "the port sends DMX onto Art-Net (an input)"
            assert r["port_types"][0] & 0x3F == 0, "DMX512"
            assert r["ip"] == "127.0.0.1" and r["bind_ip"] == "127.0.0.1"
            assert r["port"] == 6454
            assert r["short_name"] == "showhub"
            assert r["long_name"] == "showhub DMX state hub"
            assert r["status2"] & 0x08, "15-bit Port-Addresses"
            assert r["length"] == 239
            assert 0 <= r["style"] <= 6

        # Targeted mode (Art-Net 4, Flags bit 5): only Port-Addresses 1..299 answer.
        mark = poller.mark()
        poller.send(build_artpoll(target=(1, 299)), ("127.0.0.1", listen))
        got = poller.wait_count(3, on_data(is_artpollreply), T(2), start=mark,
                                what="targeted ArtPollReply")
        time.sleep(0.3)
        assert len(poller.since(mark)) == 3
        assert sorted(parse_artpollreply(d.data)["port_addresses"][0] for d in got) == [1, 16, 299]

        # Not an ArtPoll we must answer: too short, ProtVer 13, an ArtDmx.
        mark = poller.mark()
        old = bytearray(build_artpoll())
        old[11] = 13
        for pkt in (build_artpoll()[:12], bytes(old), art.since()[0].data, b"garbage"):
            poller.send(pkt, ("127.0.0.1", listen))
        time.sleep(0.3)
        assert poller.since(mark) == []
    assert h.metrics().value("dmx_artnet_polls_total") == 2
    top = parse_artdmx(art.wait_for(artdmx_where(port_address=32767), T(2)).data)
    assert top["net"] == 0x7F and top["sub_uni"] == 0xFF
    assert {p["port_address"] for _, p in artdmx(art)} == {0, 1, 16, 299, 32767}
    assert h.get("/healthz").status == 200


def test_universes_beyond_artnet_range_are_neither_sent_nor_counted(hubs, art, sacn, tmp_path):
    patch = patch_file(tmp_path, [1, 40000])
    h = hubs(env=net_env(art, sacn, patch))
    sacn.wait_for(e131_where(universe=40000), T(2), what="sACN for universe 40000")
    art.wait_for(artdmx_where(), T(2))
    assert {p["port_address"] for _, p in artdmx(art)} == {0}
    m = h.metrics()
    assert m.value("dmx_output_frames_total", '{proto="sacn",universe="40000"}') >= 1
    key = ("dmx_output_frames_total", '{proto="artnet",universe="40000"}')
    assert m.samples.get(key, 0) == 0, \
        f"{m.samples[key]} Art-Net frames counted for universe 40000, none sent"


# ---------------------------------------------------------------- end of streams

def test_sigterm_sends_blackout_then_three_terminated_packets(hubs, art, sacn, tmp_path):
    patch = patch_file(tmp_path, [1, 2], [DEMO, PAR])
    h = hubs(env=net_env(art, sacn, patch))
    h.post_rgb(200, 100, 50)
    h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"dimmer": 255}})
    want = {u: bytes(h.output(u)) for u in (1, 2)}
    for u in (1, 2):
        art.wait_for(artdmx_is(u - 1, want[u]), T(2))
        sacn.wait_for(e131_is(u, want[u]), T(2))
    mark = art.mark(), sacn.mark()
    assert h.stop() == 0
    for u in (1, 2):
        sacn.wait_count(3, e131_where(universe=u, terminated=True), T(2), start=mark[1],
                        what=f"terminated packets for universe {u}")
    time.sleep(0.1)
    for u in (1, 2):
        after = [p for _, p in e131(sacn, mark[1], universe=u)]
        tail = after[-4:]
        assert [p["options"] for p in tail] == [0] + [OPT_TERMINATED] * 3, \
            f"universe {u}: want zeros, then 3 terminated; got {[p['options'] for p in after]}"
        assert tail[0]["slots"] == ZEROS, f"universe {u}: the last data is not zeros"
        assert all(p["options"] == 0 for p in after[:-3]), "terminated before the blackout"
        everything = [p["sequence"] for _, p in e131(sacn, universe=u)]
        assert_e131_sequence(everything, f"sACN universe {u} to its end")
        last_art = artdmx(art, mark[0], pa=u - 1)
        assert last_art and last_art[-1][1]["data"] == ZEROS, f"no Art-Net blackout for {u}"
        assert_artnet_sequence([p["sequence"] for _, p in artdmx(art, pa=u - 1)],
                               f"Port-Address {u - 1}")
    assert h.logs("output_blackout")


def test_a_universe_removed_by_reload_has_its_stream_terminated(hubs, art, sacn, tmp_path):
    par3 = {"name": "par3", "universe": 3, "address": 1, "channels": ["dimmer"]}
    patch = patch_file(tmp_path, [1, 2, 3], [DEMO, PAR, par3])
    h = hubs(env=net_env(art, sacn, patch))
    h.intent_ok("fixture.set_values", {"fixture": "par3", "values": {"dimmer": 77}})
    sacn.wait_for(e131_where(universe=3, slots=lambda v: v[0] == 77), T(2))

    def removed(universe, reload):
        mark = art.mark(), sacn.mark()
        reload()
        sacn.wait_count(3, e131_where(universe=universe, terminated=True), T(2), start=mark[1],
                        what=f"terminated packets for universe {universe}")
        quiet_from = sacn.mark(), art.mark()
        time.sleep(1.3)                 # longer than the 1 s keep-alive
        pkts = [p for _, p in e131(sacn, universe=universe)]
        assert [p["terminated"] for p in pkts[-3:]] == [True] * 3
        assert_e131_sequence([p["sequence"] for p in pkts], f"sACN universe {universe}")
        assert [p for _, p in e131(sacn, quiet_from[0], universe=universe)] == [], \
            f"sACN for universe {universe} after its stream was terminated"
        assert artdmx(art, quiet_from[1], pa=universe - 1) == [], \
            f"ArtDmx for universe {universe} after it left the patch"
        assert h.get(f"/api/v1/universes/{universe}").status == 404
        return mark

    def post_reload():
        r = h.request("POST", "/api/v1/fixtures/reload", {})
        assert r.status == 200, r

    write_patch(str(tmp_path), {"universes": [1, 2], "fixtures": [DEMO, PAR], "pois": []})
    mark = removed(3, post_reload)
    for u in (1, 2):                    # the others go on, not terminated
        kept = [p for _, p in e131(sacn, mark[1], universe=u)]
        assert kept and not any(p["terminated"] for p in kept), f"universe {u}"
        assert artdmx(art, mark[0], pa=u - 1), f"Art-Net universe {u} stopped"

    write_patch(str(tmp_path), {"universes": [1], "fixtures": [DEMO], "pois": []})
    removed(2, lambda: h.proc.send_signal(signal.SIGHUP))

    # Back in the patch: a fresh stream, not terminated.
    mark = sacn.mark()
    write_patch(str(tmp_path), {"universes": [1, 3], "fixtures": [DEMO], "pois": []})
    post_reload()
    d = sacn.wait_for(e131_where(universe=3), T(2), start=mark)
    assert not parse_e131_data(d.data)["terminated"]


# ---------------------------------------------------------------- what the slots say

def test_blackout_and_disarm_put_zeros_on_the_wire(hubs, art, sacn, tmp_path):
    patch = patch_file(tmp_path, [1, 2], [DEMO, PAR])
    h = hubs(env=net_env(art, sacn, patch))
    h.post_rgb(1, 2, 3)
    h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"red": 9, "dimmer": 200}})
    assert h.request("PATCH", "/api/v1/universes/2", {"channels": {"40": 7}}).status == 200
    lit = {u: bytes(h.output(u)) for u in (1, 2)}
    for u in (1, 2):
        art.wait_for(artdmx_is(u - 1, lit[u]), T(2))

    mark = art.mark(), sacn.mark()
    h.intent_ok("dmx.blackout", {"on": True})
    assert h.output(1) == [0] * 512 and h.output(2) == [0] * 512
    for u in (1, 2):
        art.wait_for(artdmx_is(u - 1, ZEROS), T(2), start=mark[0], what=f"blackout on {u}")
        sacn.wait_for(e131_is(u, ZEROS), T(2), start=mark[1], what=f"blackout on {u}")

    mark = art.mark(), sacn.mark()
    assert h.request("POST", "/api/v1/blackout", {"on": False}).status == 200
    for u in (1, 2):
        art.wait_for(artdmx_is(u - 1, lit[u]), T(2), start=mark[0], what=f"values back on {u}")
        sacn.wait_for(e131_is(u, lit[u]), T(2), start=mark[1], what=f"values back on {u}")

    # A disarmed fixture's slots are 0; the raw slot beside it is not.
    mark = art.mark()
    r = h.request("PATCH", "/api/v1/fixtures/par1", {"armed": False})
    assert r.status == 200, r
    dark = bytearray(lit[2])
    dark[9:13] = bytes(4)
    assert bytes(h.output(2)) == bytes(dark) and dark[39] == 7
    art.wait_for(artdmx_is(1, bytes(dark)), T(2), start=mark, what="par1 disarmed")
    sacn.wait_for(e131_is(2, bytes(dark)), T(2), what="par1 disarmed")
    time.sleep(0.1)
    assert all(p["data"] == lit[1] for _, p in artdmx(art, mark, pa=0)), "universe 1 moved"
    mark = art.mark()
    assert h.request("PATCH", "/api/v1/fixtures/par1", {"armed": True}).status == 200
    art.wait_for(artdmx_is(1, lit[2]), T(2), start=mark, what="par1 armed again")


def test_test_pattern_sends_every_universe_every_tick(hubs, art, sacn, tmp_path):
    """At 100 fps for ~3 s: each universe in every tick, every slot moving,
    both sequences wrapping; the frame counters agree with the wire."""
    fps = 100
    universes = (1, 2, 5)
    patch = patch_file(tmp_path, universes)
    h = hubs(env=net_env(art, sacn, patch, DMX_OUTPUT_FPS=fps, DMX_OUTPUT_TEST_PATTERN="chase"))
    art.wait_for(artdmx_where(), T(2))
    start = art.mark(), sacn.mark()
    t0 = time.monotonic()
    time.sleep(2.9)
    end = art.mark(), sacn.mark()
    elapsed = time.monotonic() - t0
    m = h.metrics()
    # Loose on timing (a shared 2-core CI box, ASan): what is checked hard
    # is the shape of the stream, below; the clock's accuracy is benched.
    assert 0.5 * fps <= m.value("dmx_output_fps") <= 1.1 * fps
    assert m.value("dmx_output_ticks_skipped_total") <= 0.5 * elapsed * fps

    # One ArtDmx per universe per tick, in universe order, tick after tick.
    window = [parse_artdmx(d.data)["port_address"]
              for d in between(art, start[0], end[0], on_data(is_artdmx))]
    window = window[window.index(0):]
    ticks = len(window) // len(universes)
    assert 0.5 * elapsed * fps <= ticks <= 1.1 * elapsed * fps + 2, \
        f"{ticks} ticks in {elapsed:.2f}s at {fps} fps"
    expect = [u - 1 for u in universes] * ticks
    assert window[:len(expect)] == expect, "not every universe in every tick"
    for u in universes:
        in_window = between(sacn, start[1], end[1], e131_where(universe=u))
        assert abs(len(in_window) - ticks) <= 2, \
            f"sACN universe {u}: {len(in_window)} packets in {ticks} ticks"

    for u in universes:
        a = artdmx(art, 0, pa=u - 1)
        s = e131(sacn, 0, universe=u)
        gaps = [y[0] - x[0] for x, y in zip(a, a[1:])]
        assert abs(statistics.median(gaps) - 1 / fps) <= 0.5 / fps, \
            f"Art-Net universe {u}: median gap {statistics.median(gaps):.4f}s at {fps} fps"
        for proto, pkts, key in (("Art-Net", a, "data"), ("sACN", s, "slots")):
            for i, (x, y) in enumerate(zip(pkts, pkts[1:])):
                assert all(p != q for p, q in zip(x[1][key], y[1][key])), \
                    f"{proto} universe {u}: a slot kept its value from packet {i} to {i + 1}"
        seqs = [p["sequence"] for _, p in a]
        assert_artnet_sequence(seqs, f"Port-Address {u - 1}")
        assert any(x == 255 and y == 1 for x, y in zip(seqs, seqs[1:])), "no 255 -> 1 wrap"
        seqs = [p["sequence"] for _, p in s]
        assert_e131_sequence(seqs, f"sACN universe {u}")
        assert any(x == 255 and y == 0 for x, y in zip(seqs, seqs[1:])), "no 255 -> 0 wrap"

        # The counters are bumped as packets go out: between the wire before
        # and after the read.
        for proto, rx, pred in (
                ("artnet", art, artdmx_where(port_address=u - 1)),
                ("sacn", sacn, e131_where(universe=u))):
            before, value, after = count_between(rx, pred, lambda: frames(h, proto, u))
            assert before <= value <= after, \
                f"{proto} universe {u}: counter {value}, {before}..{after} on the wire"
    assert not any(is_artsync(d.data) for d in art.since()), "ArtSync while DMX_ARTNET_SYNC=false"


def test_metrics_count_what_goes_on_the_wire(hubs, art, sacn, tmp_path):
    patch = patch_file(tmp_path, [1, 2], [DEMO])
    h = hubs(env=net_env(art, sacn, patch))
    for i in range(3):
        h.post_rgb(i + 1, 0, 0)
        time.sleep(0.1)
    m = h.metrics()
    assert m.type.get("dmx_output_frames_total") == "counter"
    assert m.type.get("dmx_output_errors_total") == "counter"
    assert m.type.get("dmx_output_tick_lateness_seconds") == "histogram"
    assert m.type.get("dmx_output_fps") == "gauge"
    assert m.type.get("dmx_output_ticks_skipped_total") == "counter"
    assert m.value("dmx_output_errors_total", '{proto="artnet"}') == 0
    assert m.value("dmx_output_errors_total", '{proto="sacn"}') == 0
    assert not any(n == "dmx_output_frames_total" and 'proto="ola"' in labels
                   for n, labels in m.samples), "OLA series while DMX_OLA_ENABLED=false"

    # The lateness histogram and the fps gauge are updated once a second.
    def observed():
        m = h.metrics()
        return m if m.value("dmx_output_tick_lateness_seconds_count") > 0 else None
    m = wait_until(observed, T(2), interval=0.1, what="ticks observed")
    buckets = [(k[1], v) for k, v in m.samples.items()
               if k[0] == "dmx_output_tick_lateness_seconds_bucket"]
    assert buckets and buckets[-1][0] == '{le="+Inf"}'
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert buckets[-1][1] == m.value("dmx_output_tick_lateness_seconds_count")
    assert 0 <= m.value("dmx_output_tick_lateness_seconds_sum") < buckets[-1][1]
    assert abs(m.value("dmx_output_fps") - 44) <= 4.4
    for u in (1, 2):
        for proto, rx, pred in (
                ("artnet", art, artdmx_where(port_address=u - 1)),
                ("sacn", sacn, e131_where(universe=u))):
            before, value, after = count_between(rx, pred, lambda: frames(h, proto, u))
            assert before <= value <= after, \
                f"{proto} universe {u}: counter {value}, {before}..{after} on the wire"
            assert value >= (4 if u == 1 else 1)


# ---------------------------------------------------------------- a failing target

@pytest.fixture
def loopback_only():
    """The test's thread (and the hubs it starts) in a network namespace with
    only lo: there a datagram to 240.0.0.1 fails in sendto (ENETUNREACH)
    and nothing can leave the host. In the host's namespace every address
    tried (240.0.0.1, 0.0.0.1, 224.0.0.1, 255.255.255.254, ...) was routed
    out of eth0 by the default route, and port 0 is refused by the config."""
    ns = loopback_only_netns()
    try:
        ns.__enter__()
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES, errno.EINVAL):
            pytest.skip(f"no target makes sendto() fail here without leaving loopback, and "
                        f"a loopback-only network namespace is not available: {e}")
        raise
    try:
        yield
    finally:
        ns.__exit__(None, None, None)


def test_a_failing_target_is_counted_and_logged_and_the_other_gets_everything(
        hubs, loopback_only, tmp_path):
    fps = 44
    with UdpReceiver() as art, UdpReceiver() as sacn:
        patch = patch_file(tmp_path, [1, 2])
        h = hubs(env=net_env(f"240.0.0.1,{art.addr}", f"{sacn.addr},240.0.0.1", patch,
                             DMX_OUTPUT_FPS=fps, DMX_OUTPUT_TEST_PATTERN="chase"))
        art.wait_for(artdmx_where(), T(2))
        m0 = h.metrics()
        start = art.mark(), sacn.mark()
        t0 = time.monotonic()
        time.sleep(2.5)
        m1 = h.metrics()
        end = art.mark(), sacn.mark()
        elapsed = time.monotonic() - t0
        assert abs(m1.value("dmx_output_fps") - fps) <= 0.1 * fps, "the clock slowed down"
        # Each tick sends both universes to both targets: the bad one fails
        # each packet, the good one gets every packet.
        for i, (proto, pred) in enumerate((("artnet", artdmx_where()),
                                           ("sacn", e131_where()))):
            rx = (art, sacn)[i]
            got = len(between(rx, start[i], end[i], pred))
            errors = (m1.value("dmx_output_errors_total", f'{{proto="{proto}"}}')
                      - m0.value("dmx_output_errors_total", f'{{proto="{proto}"}}'))
            assert got >= 0.9 * 2 * fps * elapsed, \
                f"{proto}: the good target got {got} packets in {elapsed:.2f}s at {fps} fps"
            assert abs(errors - got) <= 8, f"{proto}: {errors} errors counted, {got} sent"
        assert h.get("/healthz").status == 200
        for proto, target in (("artnet", "240.0.0.1:6454"), ("sacn", "240.0.0.1:5568")):
            logs = [l for l in h.logs("output_error")
                    if l.get("proto") == proto and l.get("target") == target]
            assert logs, f"no output_error log for {proto} {target}:\n{h.stdout()[-2000:]}"
            span = time.monotonic() - h.start_time
            assert len(logs) <= span + 1, f"{len(logs)} {proto} reports in {span:.1f}s"
            assert "unreachable" in logs[0].get("error", "").lower(), logs[0]
        assert not [l for l in h.logs("output_error") if "127.0.0.1" in l.get("target", "")]


# ---------------------------------------------------------------- a real olad

def _stop_hub_first(h):
    """The hub must not outlive the olad that holds the port lock."""
    if h is not None and h.running():
        h.kill9()


def test_olad_receives_the_artnet_output(hubs, tmp_path):
    patch = patch_file(tmp_path, [1, 2], [DEMO, PAR])
    h = None
    with OlaDaemon(universe=None, artnet_in=[0, 1, 2], log_level=3) as ola:
        try:
            # Hub universe u = Port-Address u - 1; olad puts it on ola.artnet_universe(u - 1).
            h = hubs(env=net_env("127.0.0.1", patch=patch))
            h.post_rgb(11, 22, 33)
            h.intent_ok("fixture.set_values",
                        {"fixture": "par1", "values": {"green": 44, "dimmer": 255}})
            assert h.request("PATCH", "/api/v1/universes/2",
                             {"channels": {"512": 250}}).status == 200
            for u in (1, 2):
                want = h.output(u)
                got = ola.wait_for_dmx(want, universe=ola.artnet_universe(u - 1), timeout=T(5))
                assert got == want, f"olad universe for hub universe {u}"
            assert ola.get_dmx(ola.artnet_universe(0))[:3] == [11, 22, 33]
            assert ola.get_dmx(ola.artnet_universe(1))[511] == 250
            assert ola.get_dmx(ola.artnet_universe(2)) == [], "hub universe 3 is not patched"
            assert h.stop() == 0
            for u in (1, 2):
                assert ola.get_dmx(ola.artnet_universe(u - 1)) == [0] * 512, \
                    f"no blackout on hub universe {u} at shutdown"
        finally:
            _stop_hub_first(h)


def test_olad_receives_the_e131_unicast_output(hubs, tmp_path):
    patch = patch_file(tmp_path, [1, 2], [DEMO, PAR])
    h = None
    ola = OlaDaemon(universe=None, e131_in=[1, 2], log_level=3)
    try:
        ola.start()
    except OlaUnavailable as e:
        pytest.skip(str(e))
    try:
        h = hubs(env=net_env(sacn="127.0.0.1", patch=patch, DMX_SACN_PRIORITY=120))
        h.post_rgb(55, 66, 77)
        h.intent_ok("fixture.set_values", {"fixture": "par1", "values": {"blue": 88}})
        assert h.request("PATCH", "/api/v1/universes/2",
                         {"channels": {"512": 199}}).status == 200
        for u in (1, 2):           # E1.31 universe u is OLA universe u
            want = h.output(u)
            assert ola.wait_for_dmx(want, universe=u, timeout=T(5)) == want
        # Blackout first, then Stream_Terminated (which olad does not apply).
        assert h.stop() == 0
        for u in (1, 2):
            assert ola.get_dmx(u) == [0] * 512, f"no blackout on universe {u} at shutdown"
    finally:
        _stop_hub_first(h)
        ola.stop()                      # and releases the port lock
