"""Show playback on the wire: Art-Net and sACN packets from 127.0.0.1
receivers compared with GET /api/v1/shows/<name>/frame?t_ms=T.

A playing show's packet received at wall time w shows the newest playback
tick rendered before it was sent: tick k shows t0 + floor(k*1000*rate_pm/60)
us (docs/decisions/show-playback.md), and the client's estimate of the
show time is transport.t_ms + (w - transport.at) * rate. So a packet must
equal the frame of a tick no more than one playback period + one output
period (+ a few ms of clock skew) before the estimate (showtest.match_packet).
"""
import time

import pytest

from dmxnet import UdpReceiver, is_e131_data, parse_e131_data
from hubtest import SCALE, T, wait_until
from showtest import (PAR1, PAR2, Clock, Frames, artdmx_of, e131_of, load, make_data_dir,
                      match_packet, moving_show, net_env, sacn_slots_of, slot, transport,
                      wait_transport)

ZEROS = bytes(512)
SKEW_MS = 5.0 * SCALE
DUR_US = 8000 * 1000               # moving_show's duration


@pytest.fixture
def art():
    with UdpReceiver() as r:
        yield r


@pytest.fixture
def sacn():
    with UdpReceiver() as r:
        yield r


def start(hubs, tmp_path, shows, art=None, sacn=None, **env):
    data = make_data_dir(tmp_path, shows)
    h = hubs(data_dir=data, env=net_env(art=art, sacn=sacn, DMX_OUTPUT_KEEPALIVE_MS=100, **env))
    return h


def collect(packets_fn, rx, start, seconds, what):
    """The packets from index start once some arrived seconds after the first."""
    first = wait_until(lambda: packets_fn(rx, start), T(3), what=what)[0][0]
    wait_until(lambda: packets_fn(rx, start)[-1][0] >= first + seconds,
               seconds + T(3), what=f"{seconds:.1f} s of {what}")
    return packets_fn(rx, start)


def check_transition(frames, clock, packets, old, new, duration_us):
    """Every packet matches the new transport, except leading ones that
    still show the old look (old: None for a stopped show's zeros, a
    transport dict, or bytes); returns [(recv t, k, t_us, est_us)] of the
    new ones."""
    out = []
    for t, data in packets:
        w = clock.wall_ms(t)
        if out or not shows_old(frames, clock, old, data, w, duration_us):
            k, t_us, est = match_packet(frames, new, data, w, duration_us, skew_ms=SKEW_MS)
            out.append((t, k, t_us, est))
    return out


def shows_old(frames, clock, old, data, w, duration_us):
    if old is None:
        return data == ZEROS
    if isinstance(old, bytes):
        return data == old
    try:
        match_packet(frames, old, data, w, duration_us, skew_ms=SKEW_MS)
        return True
    except AssertionError:
        return False


def settled(packets_fn, rx, want, what, hold_s=0.5):
    """The packets settle to want and hold it: every packet from the first
    equal to want for hold_s seconds (keep-alives every 100 ms) equals it."""
    mark = rx.mark()
    t_first = wait_until(lambda: next((t for t, d in packets_fn(rx, mark) if d == want), None),
                         T(2), what=what)
    wait_until(lambda: packets_fn(rx, mark)[-1][0] >= t_first + hold_s, hold_s + T(2),
               what=f"{what}: {hold_s} s of packets")
    after = [d for t, d in packets_fn(rx, mark) if t >= t_first]
    assert len(after) >= 3, after
    bad = [i for i, d in enumerate(after) if d != want]
    assert not bad, f"{what}: packets {bad} of {len(after)} differ from the held look"


# ---------------------------------------------------------------- packets are frames

@pytest.mark.parametrize("proto", ["artnet", "sacn"])
def test_playing_packets_are_frames_of_the_show_time(proto, hubs, tmp_path, art, sacn):
    rx = art if proto == "artnet" else sacn
    packets_fn = artdmx_of if proto == "artnet" else sacn_slots_of
    h = start(hubs, tmp_path, [moving_show()], art=art if proto == "artnet" else None,
              sacn=sacn if proto == "sacn" else None)
    load(h, "moving")
    frames = Frames(h, "moving")
    assert frames.at_ms(0) != ZEROS
    clock = Clock()
    mark = rx.mark()
    h.intent_ok("transport.play")
    tr = transport(h)
    assert tr["state"] == "playing" and tr["t_ms"] == 0 and tr["rate"] == 1, tr
    assert abs(tr["at"] - clock.wall_ms(time.monotonic())) < 1000 * SCALE, \
        "transport.at is not epoch ms"
    packets = collect(packets_fn, rx, mark, 3.0, f"{proto} packets while playing")
    matched = check_transition(frames, clock, packets, None, tr, DUR_US)
    assert len(matched) >= 60, f"only {len(matched)} packets in 3 s"
    # spread over the 3 s, all during fades (f1 fades until 7000 ms, f2/f3 overlap)
    picked, last = [], None
    for t, k, t_us, est in matched:
        if last is None or t - last >= 0.25:
            picked.append(t_us)
            last = t
    assert len(picked) >= 10, picked
    assert picked[-1] - picked[0] >= 2_500_000, picked
    assert all(b > a for a, b in zip(picked, picked[1:])), "show time went backwards"
    assert all(t_us <= 7_000_000 for t_us in picked)
    distinct = {d for _, d in packets}
    assert len(distinct) >= len(packets) * 0.8, "the show does not move on the wire"
    if proto == "sacn":
        assert not any(p["terminated"] for _, p in e131_of(rx, mark))


# ---------------------------------------------------------------- transport on the wire

def test_jump_while_playing_and_while_paused(hubs, tmp_path, art):
    h = start(hubs, tmp_path, [moving_show()], art=art)
    load(h, "moving")
    frames = Frames(h, "moving")
    clock = Clock()
    h.intent_ok("transport.play")
    tr1 = transport(h)
    wait_until(lambda: clock.wall_ms(time.monotonic()) - tr1["at"] > 500, T(2))

    # playing: jump, keep playing from there
    mark = art.mark()
    h.intent_ok("transport.jump_to_time", {"t_ms": 5000})
    tr2 = transport(h)
    assert tr2["state"] == "playing" and tr2["t_ms"] == 5000 and tr2["at"] >= tr1["at"], tr2
    packets = collect(artdmx_of, art, mark, 0.8, "packets after the jump")
    matched = check_transition(frames, clock, packets, tr1, tr2, DUR_US)
    assert len(matched) >= 15, matched
    assert matched[0][2] < 5_100_000 and matched[-1][2] > 5_600_000, \
        [m[2] for m in matched]
    assert all(m[2] >= 5_000_000 for m in matched)

    # paused: a jump stays paused, its look held
    h.intent_ok("transport.pause")
    tr3 = transport(h)
    assert tr3["state"] == "paused" and 5000 < tr3["t_ms"] < 8000, tr3
    settled(artdmx_of, art, frames.at_ms(tr3["t_ms"]), "the paused look")
    h.intent_ok("transport.jump_to_time", {"t_ms": 2500})
    tr4 = transport(h)
    assert tr4["state"] == "paused" and tr4["t_ms"] == 2500, tr4
    settled(artdmx_of, art, frames.at_ms(2500), "the look at 2500 after a paused jump")
    assert transport(h) == tr4, "a paused show moved"
    # play goes on from there
    mark = art.mark()
    h.intent_ok("transport.play")
    tr5 = transport(h)
    assert tr5["state"] == "playing" and tr5["t_ms"] == 2500, tr5
    packets = collect(artdmx_of, art, mark, 0.5, "packets after play")
    matched = check_transition(frames, clock, packets, frames.at_ms(2500), tr5, DUR_US)
    assert matched and all(m[2] >= 2_500_000 for m in matched)

    # a stopped show: jump leaves it paused there
    h.intent_ok("transport.stop")
    h.intent_ok("transport.jump_to_time", {"t_ms": 7000})
    tr6 = transport(h)
    assert tr6["state"] == "paused" and tr6["t_ms"] == 7000, tr6
    settled(artdmx_of, art, frames.at_ms(7000), "the look at 7000 after a stopped jump")


def test_pause_holds_the_look_and_stop_turns_playback_off(hubs, tmp_path, art):
    h = start(hubs, tmp_path, [moving_show()], art=art)
    load(h, "moving")
    frames = Frames(h, "moving")
    clock = Clock()
    # a manual value on par2's red: it beats playback, and survives stop
    h.intent_ok("fixture.set_values", {"fixture": "par2", "values": {"red": 33}})
    h.intent_ok("transport.jump_to_time", {"t_ms": 1000})
    h.intent_ok("transport.play")
    tr = transport(h)
    wait_until(lambda: clock.wall_ms(time.monotonic()) - tr["at"] > 700, T(2))
    est_before = tr["t_ms"] + clock.wall_ms(time.monotonic()) - tr["at"]
    h.intent_ok("transport.pause")
    est_after = tr["t_ms"] + clock.wall_ms(time.monotonic()) - tr["at"]
    p = transport(h)
    assert p["state"] == "paused", p
    assert est_before - 5 <= p["t_ms"] <= est_after + 5, (est_before, p, est_after)
    held = bytearray(frames.at_ms(p["t_ms"]))
    held[PAR2["red"] - 1] = 33
    settled(artdmx_of, art, bytes(held), "the paused look")
    settled(artdmx_of, art, bytes(held), "the paused look, later", hold_s=0.3)
    assert transport(h) == p, "a paused show moved"

    h.intent_ok("transport.stop")
    st = transport(h)
    assert st["state"] == "stopped" and st["t_ms"] == 0, st
    only_manual = bytearray(512)
    only_manual[PAR2["red"] - 1] = 33
    settled(artdmx_of, art, bytes(only_manual), "stopped: the manual layer only")
    h.intent_ok("fixture.release", {"fixture": "par2"})
    settled(artdmx_of, art, ZEROS, "stopped, nothing manual: zeros")


def test_rate_two_advances_twice_as_fast(hubs, tmp_path, art):
    h = start(hubs, tmp_path, [moving_show()], art=art)
    load(h, "moving")
    frames = Frames(h, "moving")
    clock = Clock()
    mark = art.mark()
    h.intent_ok("transport.play", {"rate": 2})
    tr = transport(h)
    assert tr["state"] == "playing" and tr["rate"] == 2, tr
    packets = collect(artdmx_of, art, mark, 2.0, "packets at rate 2")
    matched = check_transition(frames, clock, packets, None, tr, DUR_US)
    assert len(matched) >= 40, len(matched)
    (t_a, _, s_a, _), (t_b, _, s_b, _) = matched[0], matched[-1]
    speed = (s_b - s_a) / 1e6 / (t_b - t_a)
    assert 1.9 <= speed <= 2.1, f"show time ran at {speed:.3f}x wall time"
    # play on a playing show: no change without a rate; a new rate re-anchors
    b = h.intent_ok("transport.play")
    assert transport(h) == tr, "play on a playing show moved the transport"
    entry = h.get(f"/api/v1/journal?since={b['seq'] - 1}&limit=1").json()["entries"][0]
    assert entry["name"] == "transport.play" and entry["patches"] == [], entry
    wall = clock.wall_ms(time.monotonic())
    h.intent_ok("transport.play", {"rate": 0.5})
    tr2 = transport(h)
    assert tr2["state"] == "playing" and tr2["rate"] == 0.5, tr2
    est = tr["t_ms"] + (wall - tr["at"]) * 2
    assert est - 5 <= tr2["t_ms"] <= est + 100 * SCALE, (est, tr2)
    mark = art.mark()
    packets = collect(artdmx_of, art, mark, 0.6, "packets at rate 0.5")
    matched = check_transition(frames, clock, packets, tr, tr2, DUR_US)
    assert len(matched) >= 10


def test_end_of_show_pauses_at_duration_and_holds(hubs, tmp_path, art):
    short = {"name": "short", "duration_ms": 1500,
             "cues": [{"id": "up", "t_ms": 0, "fixtures": ["par1"],
                       "values": {"red": 255, "dimmer": 255}, "fade_ms": 1500},
                      {"id": "last", "t_ms": 1500, "fixtures": ["par2"], "values": {"blue": 99}}],
             "effects": [{"id": "s", "t_ms": 0, "dur_ms": 1500, "fixtures": ["par2"],
                          "effect": "sine", "params": {"period_ms": 300}}]}
    h = start(hubs, tmp_path, [short], art=art)
    load(h, "short")
    frames = Frames(h, "short")
    end_look = frames.at_ms(1500)
    assert slot(end_look, PAR1["red"]) == 255 and slot(end_look, PAR2["blue"]) == 99
    clock = Clock()
    mark = art.mark()
    b = h.intent_ok("transport.play")
    tr = transport(h)
    t0 = time.monotonic()
    end = wait_transport(h, lambda t: t["state"] == "paused", 1.5 + T(3),
                         what="the show to pause at its end")
    assert time.monotonic() - t0 >= 1.5 - 0.1, "paused before the end"
    assert end["t_ms"] == 1500, end
    entries = h.get(f"/api/v1/journal?since={b['seq']}").json()["entries"]
    assert [(e["name"], e["src"]) for e in entries] == [("transport.end", "timer")], entries
    settled(artdmx_of, art, end_look, "the last look holds")
    # every packet of the run was a frame of the show
    matched = check_transition(frames, clock, artdmx_of(art, mark), None, tr, 1500 * 1000)
    assert len(matched) >= 30
    # play at the end starts again from 0
    h.intent_ok("transport.play")
    again = transport(h)
    assert again["state"] == "playing" and again["t_ms"] == 0, again


def test_sigterm_while_playing_blackout_and_sacn_terminated(hubs, tmp_path, art, sacn):
    h = start(hubs, tmp_path, [moving_show()], art=art, sacn=sacn)
    load(h, "moving")
    h.intent_ok("transport.play")
    wait_until(lambda: any(d != ZEROS for _, d in artdmx_of(art)), T(2), what="playing packets")
    wait_until(lambda: any(d != ZEROS for _, d in sacn_slots_of(sacn)), T(2))
    mark = art.mark(), sacn.mark()
    assert h.stop() == 0
    def terminated(d):
        if not is_e131_data(d.data):
            return False
        p = parse_e131_data(d.data)
        return p["universe"] == 2 and p["terminated"]
    sacn.wait_count(3, terminated, T(2), start=mark[1], what="terminated packets for universe 2")
    time.sleep(0.1)                                          # nothing may follow
    last_art = artdmx_of(art, mark[0])
    assert last_art and last_art[-1][1] == ZEROS, "the last Art-Net packet is not a blackout"
    after = [p for _, p in e131_of(sacn, mark[1])]
    assert [p["options"] & 0x40 for p in after[-4:]] == [0, 0x40, 0x40, 0x40], \
        [p["options"] for p in after]
    assert after[-4]["slots"] == ZEROS, "the last sACN data before termination is not zeros"
    assert not any(p["terminated"] for p in after[:-3])
