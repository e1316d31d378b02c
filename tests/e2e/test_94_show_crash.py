"""Crash safety of the show domain.

- kill -9 while playing: the restarted hub has the show loaded and the
  transport paused at the t_ms of the last durable transport change (where
  play was pressed, or the last jump), never playing on its own; a clean
  SIGTERM while playing comes back paused where it stopped
  (docs/decisions/show-playback.md, domains/show/store.c).
- A save killed at any point (SHOWHUB_TEST_WRITE_DELAY_MS makes every save
  pause mid-write and before the rename, core/fileio.h) leaves the file as
  the old show or the new one, never torn; the restart removes the stale
  .<name>.cue.json.tmp.
"""
import json
import os
import random
import threading
import time

import pytest

from dmxnet import UdpReceiver
from hubtest import T, request, wait_until
from showtest import (Clock, Frames, artdmx_of, basic_show, load, loaded_name, make_data_dir,
                      moving_show, net_env, show_path, show_state, subset, transport)

WRITE_DELAY_MS = 400


def restarted(h):
    h.start()
    return h


def assert_held(h, tr, look, art, what):
    """Paused at tr's t_ms and staying there; the look on the wire."""
    assert loaded_name(h) == "moving", what
    got = transport(h)
    assert got["state"] == "paused" and got["t_ms"] == tr, f"{what}: {got}"
    mark = art.mark()
    wait_until(lambda: next((d for _, d in artdmx_of(art, mark) if d == look), None), T(3),
               what=f"{what}: the held look on the wire")
    # it does not start playing on its own: later packets hold the same look
    mark = art.mark()
    wait_until(lambda: len(artdmx_of(art, mark)) >= 3, T(2), what="keep-alive packets")
    assert all(d == look for _, d in artdmx_of(art, mark)), f"{what}: the look moved"
    assert transport(h)["state"] == "paused"


def test_kill9_while_playing_comes_back_paused_at_the_last_transport_change(hubs, tmp_path):
    data = make_data_dir(tmp_path, [moving_show()])
    with UdpReceiver() as art:
        h = hubs(data_dir=data, env=net_env(art=art, DMX_OUTPUT_KEEPALIVE_MS=100))
        load(h, "moving")
        frames = Frames(h, "moving")
        clock = Clock()
        h.intent_ok("transport.jump_to_time", {"t_ms": 2000})
        h.intent_ok("transport.play")                      # pressed at 2000
        tr = transport(h)
        assert tr["state"] == "playing" and tr["t_ms"] == 2000
        wait_until(lambda: clock.wall_ms(time.monotonic()) - tr["at"] > 700, T(2))
        h.kill9()
        restarted(h)
        look = frames.at_ms(2000)
        frames = Frames(h, "moving")
        assert frames.at_ms(2000) == look
        assert_held(h, 2000, look, art, "after kill -9 (play pressed at 2000)")
        warn = h.logs("show_resumed_paused")
        assert warn and warn[0]["t_ms"] == 2000, warn

        # play again, jump while playing, kill: back at the jump's target
        h.intent_ok("transport.play")
        wait_until(lambda: clock.wall_ms(time.monotonic()) - transport(h)["at"] > 300, T(2))
        h.intent_ok("transport.jump_to_time", {"t_ms": 4500})
        tr = transport(h)
        assert tr["state"] == "playing" and tr["t_ms"] == 4500
        wait_until(lambda: clock.wall_ms(time.monotonic()) - tr["at"] > 600, T(2))
        h.kill9()
        restarted(h)
        assert_held(h, 4500, frames.at_ms(4500), art, "after kill -9 (jump to 4500)")

        # and a rate survives too
        h.intent_ok("transport.play", {"rate": 2})
        tr = transport(h)
        assert tr["t_ms"] == 4500 and tr["rate"] == 2
        wait_until(lambda: clock.wall_ms(time.monotonic()) - tr["at"] > 300, T(2))
        h.kill9()
        restarted(h)
        got = transport(h)
        assert got["state"] == "paused" and got["t_ms"] == 4500 and got["rate"] == 2, got


def test_sigterm_while_playing_comes_back_paused_where_it_stopped(hubs, tmp_path):
    data = make_data_dir(tmp_path, [moving_show()])
    with UdpReceiver() as art:
        h = hubs(data_dir=data, env=net_env(art=art, DMX_OUTPUT_KEEPALIVE_MS=100))
        load(h, "moving")
        frames = Frames(h, "moving")
        clock = Clock()
        h.intent_ok("transport.jump_to_time", {"t_ms": 1000})
        h.intent_ok("transport.play")
        tr = transport(h)
        wait_until(lambda: clock.wall_ms(time.monotonic()) - tr["at"] > 1200, T(3))
        est_before = tr["t_ms"] + clock.wall_ms(time.monotonic()) - tr["at"]
        h.signal()
        assert h.wait_exit() == 0
        est_after = tr["t_ms"] + clock.wall_ms(time.monotonic()) - tr["at"]
        restarted(h)
        got = transport(h)
        assert got["state"] == "paused", got
        assert est_before - 5 <= got["t_ms"] <= est_after + 5, (est_before, got, est_after)
        assert_held(h, got["t_ms"], frames.at_ms(got["t_ms"]), art, "after SIGTERM")
        entries = h.get("/api/v1/journal?since=0").json()["entries"]
        last = [e for e in entries if e["name"] == "transport.pause"]
        assert last and last[-1]["src"] == "shutdown", entries[-3:]


# ---------------------------------------------------------------- saves killed mid-write

def version(i, name="opening"):
    """Show name, version i: its own duration and cue ids, never equal to another."""
    s = basic_show(name, duration_ms=10000 + i)
    s["cues"].append({"id": f"v{i}", "t_ms": 100 + i, "fixtures": ["par2"],
                      "values": {"green": i % 256}})
    # some bulk, so the half-written temp file is a real torn JSON
    s["cues"] += [{"id": f"b{i}_{k}", "t_ms": k, "fixtures": ["par1"], "values": {"red": k % 256}}
                  for k in range(40)]
    return s


def projection(s):
    return (s["name"], s["duration_ms"], [c["id"] for c in s["cues"]],
            [e["id"] for e in s["effects"]])


def temp_of(data, name):
    return os.path.join(data, "shows", f".{name}.cue.json.tmp")


def test_a_save_killed_at_any_point_is_old_or_new_never_torn(hubs, tmp_path):
    rng = random.Random(20240613)
    data = make_data_dir(tmp_path, [version(0), version(0, "loaded")])
    h = hubs(data_dir=data, env={"SHOWHUB_TEST_WRITE_DELAY_MS": WRITE_DELAY_MS})
    load(h, "loaded")
    old = {"opening": version(0), "loaded": version(0, "loaded")}
    # kill points spread over the save (before, in the first pause, in the
    # second pause, after), for a PUT and for a cue.add, in a random order
    plan = [(via_put, delay) for via_put in (True, False)
            for delay in (0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 1.0, 0.8 + T(0.5))]
    rng.shuffle(plan)
    outcomes = []
    for i, (via_put, delay) in enumerate(plan, start=1):
        name = "opening" if via_put else "loaded"
        new = version(i, name)
        if not via_put:                       # an edit of the loaded show: cue.add
            new = json.loads(json.dumps(old[name]))
            new["cues"].append({"id": f"v{i}", "t_ms": 100 + i, "fixtures": ["par2"],
                                "values": {"green": i % 256}})
        answer = {}

        def send(port=h.port, name=name, new=new, via_put=via_put):
            try:
                if via_put:
                    r = request(port, "PUT", f"/api/v1/shows/{name}", new, timeout=T(10))
                else:
                    r = request(port, "POST", "/api/v1/intents",
                                {"name": "cue.add", "payload": {"cue": new["cues"][-1]}},
                                timeout=T(10))
                answer["status"] = r.status
            except Exception as e:           # the hub died under the request
                answer["error"] = e
        t = threading.Thread(target=send, daemon=True)
        t.start()
        time.sleep(delay)                     # where in the save the kill lands
        h.kill9()
        t.join(T(10))
        assert not t.is_alive()

        # on disk: the old show or the new one, whole
        with open(show_path(data, name), "rb") as f:
            raw = f.read()
        try:
            got = json.loads(raw)
        except ValueError:
            pytest.fail(f"kill after {delay}s: {name}.cue.json is torn: {raw[:200]!r}")
        which = [w for w, s in (("old", old[name]), ("new", new))
                 if projection(s) == projection(got)]
        assert which, f"kill after {delay}s: {name}.cue.json is neither old nor new: " \
                      f"{projection(got)}"
        if answer.get("status") == 200:
            assert which == ["new"], f"kill after {delay}s: answered 200 but the file is old"
        stale = os.path.exists(temp_of(data, name))
        outcomes.append((delay, name, which[0], stale, answer.get("status")))

        # the restart succeeds, cleans the temp file and reads what is on disk
        restarted(h)
        assert not os.path.exists(temp_of(data, name)), "the stale temp file is still there"
        assert not [f for f in os.listdir(os.path.join(data, "shows")) if f.endswith(".tmp")]
        canonical = h.get(f"/api/v1/shows/{name}").json()
        subset(got, canonical)                # the show the hub reads is the file's
        assert projection(canonical) == projection(got)
        entry = {e["name"]: e for e in show_state(h)["list"]}[name]
        assert "error" not in entry and entry["cues"] == len(got["cues"]), entry
        assert loaded_name(h) == "loaded"
        if name == "loaded":
            assert show_state(h)["loaded"] == canonical, "the loaded show is not its file"
        old[name] = got

    # the kills did land inside saves: some left a temp file, some the old
    # show, some the new one
    for name in ("opening", "loaded"):
        mine = [(w, stale) for _, n, w, stale, _ in outcomes if n == name]
        assert ("old", True) in mine, f"{name}: no kill landed mid-save: {sorted(outcomes)}"
        assert ("new", False) in mine, f"{name}: no save completed: {sorted(outcomes)}"


def test_sigterm_during_a_slow_save_exits_cleanly_and_keeps_the_save(hubs, tmp_path):
    """The last batch (the save) completes after the output clock stopped:
    its announcement must not reach the freed clock (ASan builds catch a
    use after free here), and the save is on disk after the restart."""
    data = make_data_dir(tmp_path, [version(0)])
    h = hubs(data_dir=data, env={"SHOWHUB_TEST_WRITE_DELAY_MS": "1500"})
    load(h, "opening")  # the save of the loaded show hands a program to the output
    new = version(1)
    def put():
        try:
            request(h.port, "PUT", "/api/v1/shows/opening", new, timeout=T(10))
        except OSError:
            pass  # the hub may close the connection as it stops

    t = threading.Thread(target=put)
    t.start()
    wait_until(lambda: os.path.exists(temp_of(data, "opening")), T(5), what="the save started")
    h.signal()
    assert h.wait_exit(timeout=T(15)) == 0
    t.join(T(10))
    restarted(h)
    got = json.loads(open(show_path(data, "opening")).read())
    assert projection(got) in (projection(version(0)), projection(new)), projection(got)
    assert h.get("/healthz").status == 200


def test_a_rescan_during_a_save_neither_breaks_it_nor_lists_a_stale_file(hubs, tmp_path):
    """show.rescan (SIGHUP) reads the directory while the store writes a
    save's temp file: the temp file is left alone (only the start-up scan
    removes stale ones) and the list keeps the saving show as saved."""
    data = make_data_dir(tmp_path, [version(0)])
    h = hubs(data_dir=data, env={"SHOWHUB_TEST_WRITE_DELAY_MS": "600"})
    new = version(2)
    done = {}
    t = threading.Thread(target=lambda: done.setdefault(
        "r", request(h.port, "PUT", "/api/v1/shows/opening", new, timeout=T(10))))
    t.start()
    wait_until(lambda: os.path.exists(temp_of(data, "opening")), T(5), what="the save started")
    h.proc.send_signal(__import__("signal").SIGHUP)
    t.join(T(10))
    r = done["r"]
    assert r.status == 200, r
    assert projection(json.loads(open(show_path(data, "opening")).read())) == projection(new)
    assert not os.path.exists(temp_of(data, "opening"))
    wait_until(lambda: next((e for e in show_state(h)["list"] if e["name"] == "opening"
                             and e.get("duration_ms") == new["duration_ms"]), None), T(5),
               what="the list has the saved show")
