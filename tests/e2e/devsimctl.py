"""tools/devsim driven from a test: a subprocess whose JSON-line events are collected and whose
stdin takes control commands (tools/devsim/README.md). Shared by test_05_devsim and the fleet
suites (fleettest.py)."""
import json
import os
import subprocess
import tempfile
import threading

from hubtest import T

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEVSIM_DIR = os.path.join(ROOT, "tools", "devsim")
DEVSIM = os.path.join(DEVSIM_DIR, "devsim.py")


class Devsim:
    """tools/devsim as a subprocess: JSON lines from stdout collected, control on stdin."""

    def __init__(self, port, *args):
        self.args = args
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", DEVSIM, "--port", str(port), "--control", "stdin", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = {"unparsed": raw}
            with self.cond:
                self.lines.append(obj)
                self.cond.notify_all()

    def wait(self, pred, what, timeout=None, start=0):
        """First line at index >= start with pred(line); returns (index, line)."""
        def find():
            for i in range(start, len(self.lines)):
                if pred(self.lines[i]):
                    return i, self.lines[i]
            return None
        with self.cond:
            found = self.cond.wait_for(find, T(5) if timeout is None else timeout)
        assert found, f"devsim: no {what}; last lines: {self.lines[-8:]}\n{self.err()}"
        return found

    def event(self, name, timeout=None, start=0, **match):
        return self.wait(lambda o: o.get("event") == name and
                         all(o.get(k) == v for k, v in match.items()),
                         f"event {name} {match}", timeout, start)[1]

    def events(self, name, **match):
        with self.cond:
            return [o for o in self.lines if o.get("event") == name and
                    all(o.get(k) == v for k, v in match.items())]

    def mark(self):
        with self.cond:
            return len(self.lines)

    def send(self, line, check=True):
        start = self.mark()
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        _, reply = self.wait(lambda o: "ok" in o and o.get("line") == line,
                             f"reply to {line!r}", start=start)
        assert not check or reply["ok"] is True, reply
        return reply

    def ready(self):
        return self.event("ready", timeout=T(10))

    def err(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def kill9(self):
        self.proc.kill()
        self.proc.wait(T(5))

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(T(5))
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(T(5))
        self.reader.join(T(5))
        self.stderr.close()
