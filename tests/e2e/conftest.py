"""Fixtures: a fresh Mosquitto and fresh hubs per test, always torn down;
a hub that crashed or printed a sanitizer report fails the test."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hubtest  # noqa: E402


@pytest.fixture
def broker():
    b = hubtest.Mosquitto().start()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def hubs():
    """Factory: hubs(env=..., data_dir=..., broker=..., start=True) -> Hub."""
    made = []

    def make(env=None, data_dir=None, broker=None, start=True, **kw):
        h = hubtest.Hub(env=env, data_dir=data_dir, broker=broker, **kw)
        made.append(h)
        if start:
            h.start()
        return h

    yield make
    errors = []
    for h in reversed(made):   # later hubs may share an earlier one's data dir
        try:
            h.finish()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n\n".join(errors)


@pytest.fixture
def hub(broker, hubs):
    """A fresh hub connected to a fresh broker, /readyz 200."""
    h = hubs(broker=broker)
    h.wait_readyz()
    return h


@pytest.fixture
def closer():
    """A list; everything appended is closed at teardown."""
    with hubtest.closing_all() as items:
        yield items


@pytest.fixture(scope="module")
def shared_hub():
    """One hub (and broker) for a module's many small table-driven tests;
    tests using it must not depend on absolute seq values."""
    b = hubtest.Mosquitto().start()
    h = hubtest.Hub(broker=b)
    try:
        h.start()
        h.wait_readyz()
        yield h
        h.finish()
    finally:
        if h.running():
            h.kill9()
        b.close()
