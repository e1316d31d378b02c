"""The dedupe cache: TTL and LRU capacity bounds (DMX_CMD_DEDUPE_*)."""
import time

from hubtest import ulid


def status(hub, cid, v=1):
    r = hub.post_rgb(v, v, v, cmd_id=cid)
    assert r.status == 200, r
    return r.json()["status"]


def test_ttl_expiry(hubs):
    h = hubs(env={"DMX_CMD_DEDUPE_TTL_SECONDS": "1"})
    cid = ulid()
    assert status(h, cid) == "applied"
    assert status(h, cid) == "duplicate"
    time.sleep(1.6)
    assert status(h, cid) == "applied", "a cmdId older than the TTL is new again"
    assert h.rgb()["seq"] == 2


def test_lru_capacity(hubs):
    h = hubs(env={"DMX_CMD_DEDUPE_CAPACITY": "4"})
    c = [ulid() for _ in range(6)]
    for cid in c[:4]:
        assert status(h, cid) == "applied"
    assert status(h, c[0]) == "duplicate"      # c0 is now the most recently used
    assert status(h, c[4]) == "applied"        # evicts the least recently used: c1
    assert status(h, c[0]) == "duplicate"
    assert status(h, c[1]) == "applied", "c1 should have been evicted (LRU, capacity 4)"
    assert h.rgb()["seq"] == 6


def test_capacity_bound_survives_restart(hubs):
    h1 = hubs(env={"DMX_CMD_DEDUPE_CAPACITY": "3"})
    c = [ulid() for _ in range(5)]
    for cid in c:
        assert status(h1, cid) == "applied"
    assert h1.stop() == 0
    h2 = hubs(env={"DMX_CMD_DEDUPE_CAPACITY": "3"}, data_dir=h1.data_dir)
    assert [status(h2, cid) for cid in c[2:]] == ["duplicate"] * 3
    assert status(h2, c[0]) == "applied", "the restored cache is bounded by the capacity too"
    assert h2.rgb()["seq"] == 6
