"""showtest.py - helpers for the show e2e tests (test_90, test_92, test_94).

A data dir with a patch (fixtures on universe 2: the implicit "demo"
fixture holds channels 1-3 of universe 1) and show files in
<data_dir>/shows/<name>.cue.json; the show state as a client sees it; the
show time of an output packet from the transport; Art-Net / sACN packets
compared with GET /api/v1/shows/<name>/frame?t_ms=T.

Everything on 127.0.0.1; every wait is bounded.
"""
import json
import os
import time

from dmxnet import is_artdmx, is_e131_data, parse_artdmx, parse_e131_data
from hubtest import T, wait_until

UNIVERSE = 2                      # the show fixtures' universe (Art-Net Port-Address 1)
PLAYBACK_FPS = 60                 # DMX_PLAYBACK_FPS default
OUTPUT_FPS = 44                   # DMX_OUTPUT_FPS default

PATCH = {
    "universes": [2],
    "fixtures": [
        {"name": "par1", "universe": 2, "address": 1,
         "channels": ["red", "green", "blue", "dimmer"]},
        {"name": "par2", "universe": 2, "address": 5,
         "channels": ["red", "green", "blue", "dimmer"]},
        {"name": "mover1", "universe": 2, "address": 20, "channels": ["pan", "tilt", "dimmer"]},
    ],
    "pois": [{"name": "stage_center", "pan": 128, "tilt": 60}],
}

# 1-based DMX addresses of the roles, as the patch above puts them
PAR1 = {"red": 1, "green": 2, "blue": 3, "dimmer": 4}
PAR2 = {"red": 5, "green": 6, "blue": 7, "dimmer": 8}
MOVER1 = {"pan": 20, "tilt": 21, "dimmer": 22}


def slot(data, address):
    """The value of 1-based DMX address in a 512-byte universe."""
    return data[address - 1]


def basic_show(name="opening", duration_ms=10000, audio=None):
    """A show with a fade, a POI cue and an effect: valid against PATCH."""
    s = {
        "name": name,
        "duration_ms": duration_ms,
        "cues": [
            {"id": "c1", "t_ms": 0, "fixtures": ["par1"], "values": {"red": 255, "dimmer": 200},
             "fade_ms": 2000, "curve": "linear"},
            {"id": "c2", "t_ms": min(3000, duration_ms), "fixtures": ["mover1"],
             "poi": "stage_center"},
            {"id": "c3", "t_ms": min(4000, duration_ms), "fixtures": ["par2"],
             "values": {"blue": 180}, "fade_ms": 1000, "curve": "ease_in_out"},
        ],
        "effects": [
            {"id": "e1", "t_ms": min(5000, duration_ms - 1),
             "dur_ms": max(1, min(4000, duration_ms - min(5000, duration_ms - 1))),
             "fixtures": ["par1", "par2"], "effect": "chase",
             "params": {"period_ms": 500, "role": "dimmer"}},
        ],
    }
    if audio is not None:
        s["audio"] = audio
    return s


def moving_show(name="moving", duration_ms=8000):
    """A show whose universe-2 bytes change on almost every playback tick:
    long fades on several channels, a sine and a pulse on top."""
    return {
        "name": name,
        "duration_ms": duration_ms,
        "cues": [
            {"id": "f1", "t_ms": 0, "fixtures": ["par1"], "values": {"red": 255, "green": 40},
             "fade_ms": duration_ms - 1000, "curve": "linear"},
            {"id": "f2", "t_ms": 0, "fixtures": ["par2"], "values": {"blue": 250},
             "fade_ms": 3000, "curve": "ease_in_out"},
            {"id": "f3", "t_ms": 3000, "fixtures": ["par2"], "values": {"blue": 0, "red": 200},
             "fade_ms": 4000, "curve": "linear"},
            {"id": "f4", "t_ms": 1000, "fixtures": ["mover1"], "poi": "stage_center",
             "fade_ms": 2500},
        ],
        "effects": [
            {"id": "s1", "t_ms": 0, "dur_ms": duration_ms, "fixtures": ["par1", "par2"],
             "effect": "sine", "params": {"period_ms": 1700, "role": "dimmer", "spread": 0.5}},
            {"id": "p1", "t_ms": 500, "dur_ms": duration_ms - 500, "fixtures": ["mover1"],
             "effect": "pulse", "params": {"period_ms": 900, "role": "dimmer", "min": 10}},
        ],
    }


def make_data_dir(root, shows=(), patch=PATCH, raw=None):
    """<root>/data with fixtures.json and shows/<name>.cue.json for each
    show dict (and raw: {file name: bytes or str} written as is)."""
    data = os.path.join(str(root), "data")
    os.makedirs(os.path.join(data, "shows"), exist_ok=True)
    if patch is not None:
        with open(os.path.join(data, "fixtures.json"), "w") as f:
            json.dump(patch, f)
    for s in shows:
        write_show(data, s)
    for fname, content in (raw or {}).items():
        with open(os.path.join(data, "shows", fname), "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
    return data


def show_path(data_dir, name):
    return os.path.join(data_dir, "shows", f"{name}.cue.json")


def write_show(data_dir, show, name=None):
    path = show_path(data_dir, name or show["name"])
    with open(path, "w") as f:
        json.dump(show, f, indent=1)
    return path


def read_show_file(data_dir, name):
    with open(show_path(data_dir, name), "rb") as f:
        return json.loads(f.read())


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def net_env(art=None, sacn=None, **extra):
    """Outputs only to our 127.0.0.1 receivers (both off unless given)."""
    env = {"DMX_ARTNET_ENABLED": "false", "DMX_SACN_ENABLED": "false"}
    if art is not None:
        env.update(DMX_ARTNET_ENABLED="true", DMX_ARTNET_TARGETS=art.addr)
    if sacn is not None:
        env.update(DMX_SACN_ENABLED="true", DMX_SACN_TARGETS=sacn.addr)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def subset(want, got, path="$"):
    """Every member of want is in got with the same value (lists element-wise)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: {got!r} is not an object"
        for k, v in want.items():
            assert k in got, f"{path}.{k} missing in {got}"
            subset(v, got[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{path}: {got!r} vs {want!r}"
        for i, (a, b) in enumerate(zip(want, got)):
            subset(a, b, f"{path}[{i}]")
    else:
        assert want == got, f"{path}: {got!r}, want {want!r}"


# ---------------------------------------------------------------- state

def show_state(h):
    return h.state("show")["state"]["show"]


def transport(h):
    return show_state(h)["transport"]


def loaded_name(h):
    loaded = show_state(h).get("loaded")
    return None if loaded is None else loaded["name"]


def error_of(resp):
    """(http status, error object) of a refused REST intent."""
    b = resp.json()
    assert b.get("ok") is False, f"expected a refusal, got {resp.status} {b}"
    return resp.status, b["error"]


def refused(h, name, payload, code, status=None, field=None):
    """The intent is refused with code (and field); returns the error object."""
    r = h.intent(name, payload)
    st, err = error_of(r)
    assert err["code"] == code, f"{name} {payload}: {st} {err}, want {code}"
    if status is not None:
        assert st == status, f"{name}: HTTP {st}, want {status}: {err}"
    if field is not None:
        assert err.get("field") == field, \
            f"{name}: field {err.get('field')!r}, want {field!r}: {err}"
    return err


def load(h, name):
    h.intent_ok("show.load", {"name": name})
    assert loaded_name(h) == name


def wait_transport(h, pred, timeout=None, what="transport"):
    return wait_until(lambda: (lambda tr: tr if pred(tr) else None)(transport(h)),
                      T(5) if timeout is None else timeout, interval=0.02, what=what)


# ---------------------------------------------------------------- frames

class Frames:
    """GET /api/v1/shows/<name>/frame?t_ms=T, cached by microsecond."""

    def __init__(self, h, name, universe=UNIVERSE):
        self.h, self.name, self.universe = h, name, universe
        self.cache = {}

    def at_us(self, t_us):
        t_us = int(t_us)
        if t_us not in self.cache:
            q = f"{t_us // 1000}.{t_us % 1000:03d}" if t_us % 1000 else str(t_us // 1000)
            r = self.h.get(f"/api/v1/shows/{self.name}/frame?t_ms={q}")
            assert r.status == 200, r
            b = r.json()
            vals = b["universes"][str(self.universe)]
            assert len(vals) == 512
            self.cache[t_us] = bytes(vals)
        return self.cache[t_us]

    def at_ms(self, t_ms):
        return self.at_us(int(t_ms) * 1000)


def tick_time_us(t0_us, k, rate_pm, duration_us, fps=PLAYBACK_FPS):
    """The show time of playback tick k (docs/decisions/show-playback.md):
    t0 + floor(k * 1000 * rate_pm / fps) microseconds, clamped."""
    t = t0_us + (k * 1000 * rate_pm) // fps
    return max(0, min(t, duration_us))


def rate_pm(tr):
    return int(round(float(tr["rate"]) * 1000))


class Clock:
    """Maps time.monotonic() (the receivers' stamps) to wall-clock ms, as
    the hub's transport "at" is epoch ms."""

    def __init__(self):
        best = None
        for _ in range(5):
            a = time.monotonic()
            w = time.time()
            b = time.monotonic()
            if best is None or b - a < best[0]:
                best = (b - a, (a + b) / 2, w)
        _, self.mono, self.wall = best

    def wall_ms(self, mono):
        return (self.wall + (mono - self.mono)) * 1000.0


def estimate_us(tr, recv_wall_ms, duration_us):
    """The show time a packet received at recv_wall_ms shows, as a client
    computes it from the transport."""
    t = tr["t_ms"] * 1000.0
    if tr["state"] == "playing":
        t += (recv_wall_ms - tr["at"]) * 1000.0 * float(tr["rate"])
    return max(0.0, min(t, float(duration_us)))


def match_packet(frames, tr, data, recv_wall_ms, duration_us, skew_ms=4.0,
                 output_fps=OUTPUT_FPS, fps=PLAYBACK_FPS):
    """Find a playback tick k whose frame equals data, with its show time
    within one playback period + one output period (+ skew) before the
    estimate (or skew after it). Returns (k, t_us, est_us) or raises."""
    rpm = rate_pm(tr)
    t0 = tr["t_ms"] * 1000
    est = estimate_us(tr, recv_wall_ms, duration_us)
    # a packet shows the newest tick rendered before it was sent: at most a
    # playback period (rendered late) + an output period (sent late) old
    back_us = (1e6 / fps + 1e6 / output_fps + skew_ms * 1000) * rpm / 1000.0
    fwd_us = skew_ms * 1000 * rpm / 1000.0
    step_us = 1000.0 * rpm / fps
    k_lo = max(0, int((est - back_us - t0) // step_us))
    k_hi = max(0, int((est + fwd_us - t0) // step_us) + 1)
    tried = []
    for k in range(k_hi, k_lo - 1, -1):
        t_us = tick_time_us(t0, k, rpm, duration_us, fps)
        if t_us < est - back_us - 1 or t_us > est + fwd_us + 1:
            continue
        tried.append(t_us)
        if frames.at_us(t_us) == data:
            return k, t_us, est
    diffs = {}
    if tried:
        ref = frames.at_us(tried[0])
        diffs = {i + 1: (data[i], ref[i]) for i in range(512) if data[i] != ref[i]}
    raise AssertionError(f"packet at est {est / 1000:.3f} ms matches no frame at "
                         f"{[t / 1000 for t in tried]} (transport {tr}); "
                         f"address: (packet, frame at {tried[:1]}) "
                         f"{dict(list(diffs.items())[:12])}")


def artdmx_of(rx, start=0, universe=UNIVERSE):
    """[(mono t, 512 bytes)] of the ArtDmx packets for hub universe universe."""
    out = []
    for d in rx.since(start, lambda d: is_artdmx(d.data)):
        p = parse_artdmx(d.data)
        if p["port_address"] == universe - 1:
            out.append((d.t, p["data"]))
    return out


def e131_of(rx, start=0, universe=UNIVERSE):
    """[(mono t, parsed E1.31 data packet)] for universe."""
    out = []
    for d in rx.since(start, lambda d: is_e131_data(d.data)):
        p = parse_e131_data(d.data)
        if p["universe"] == universe:
            out.append((d.t, p))
    return out


def sacn_slots_of(rx, start=0, universe=UNIVERSE):
    return [(t, p["slots"]) for t, p in e131_of(rx, start, universe) if not p["terminated"]]


def wait_universe(packets_fn, rx, pred, timeout, start=0, what="a packet"):
    """The first packet (t, data) at or after index start with pred(data)."""
    def find():
        for t, data in packets_fn(rx, start):
            if pred(data):
                return (t, data)
        return None
    return wait_until(find, timeout, what=what)
