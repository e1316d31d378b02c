#!/usr/bin/env python3
"""bench/scenes_peer.py - seed 002's scene execution re-created, for the scenes
bench (bench/scenes_hub.py, docs/benchmarks.md "Scenes").

  scenes_peer.py --mqtt-port P --schedule FILE [--log FILE] [--limit S]

Seed 002 runs one controller per room (a Raspberry Pi each): an MQTTClient
(paho, client id rpi_room_<room>, loop_start(): its own network thread) and
the scene runner on its own thread, which walks the scene's actions in order
and, for each, sleeps the offset delta since the previous action
(time.sleep(t_k - t_k-1)) and calls mqtt_client.publish(topic, message)
(paho's default QoS 0, no retain), then track_published_message() for the
feedback tracker (a dict under a lock; a background thread looks for
confirmations older than 1 s and logs a TIMEOUT), logging "Publishing to
<topic>: <message>" (logger mqtt, INFO) and the tracker's debug line, as the
seed's loggers do (to --log here).

Here the 50 controllers share one process (the co-located equivalent of a
hub serving 50 rooms): one paho client + one network thread per room, one
scene thread per room. The schedule file is the driver's list of scenes
[{"name","room","actions":[{"t_ms","topic","message"}...]}...].

Protocol with the driver: connect every client, print {"ready": true}; on a
"go" line on stdin start every scene thread (each stamps its own start:
time.time() when the thread begins, the seed's "scene starts"); when all
threads are done, wait 0.3 s for the network threads to flush, disconnect,
and print one JSON line: {"starts": {room: wall s}, "late_call": [s...],
"published": N, "cpu_s": ...}. late_call: how late each publish() call was
against start + t_ms (monotonic), before the broker sees anything.
"""
import json
import logging
import os
import sys
import threading
import time

import paho.mqtt.client as mqtt


def arg(name, default=None, conv=str):
    a = sys.argv
    if name in a:
        i = a.index(name)
        if i + 1 < len(a):
            return conv(a[i + 1])
    if default is None:
        sys.exit("scenes_peer.py: %s is required" % name)
    return default


class FeedbackTracker:
    """Seed 002's mqtt_feedback_tracker: enabled while a scene runs, one
    pending entry per published command, a background thread for timeouts."""

    def __init__(self, log, timeout=1.0):
        self.log = log
        self.timeout = timeout
        self.lock = threading.Lock()
        self.pending = {}
        self.enabled = False
        self.stop = threading.Event()
        threading.Thread(target=self._check, daemon=True).start()

    def enable_feedback_tracking(self):
        self.enabled = True

    def disable_feedback_tracking(self):
        self.enabled = False

    def track_published_message(self, topic, message):
        if not self.enabled or topic.endswith(("/audio", "/video")):
            return
        room = topic.split("/", 1)[0]
        with self.lock:
            self.pending.setdefault(room, []).append((topic, time.time()))
        self.log.debug("Sent: %s -> expecting feedback on: %s/status", topic, room)

    def _check(self):
        while not self.stop.wait(0.1):
            now = time.time()
            with self.lock:
                for room, lst in self.pending.items():
                    keep = []
                    for topic, t in lst:
                        if now - t > self.timeout:
                            self.log.warning("Feedback TIMEOUT: %s (>%.3fs)", topic,
                                             self.timeout)
                        else:
                            keep.append((topic, t))
                    lst[:] = keep


class MQTTClient:
    """Seed 002's MQTTClient: one per controller (room)."""

    def __init__(self, host, port, client_id, tracker):
        self.log = logging.getLogger("mqtt")
        self.client = mqtt.Client(client_id=client_id, clean_session=True)
        self.feedback_tracker = tracker
        self.connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc: rc == 0 and self.connected.set()
        self.client.connect(host, port, 60)
        self.client.loop_start()

    def publish(self, topic, message):
        self.log.info("Publishing to %s: %s", topic, message)
        self.client.publish(topic, message)
        if self.feedback_tracker:
            self.feedback_tracker.track_published_message(topic, message)


def run_scene(client, scene, starts, late, lock):
    """The seed's scene runner: offsets as sleeps between actions."""
    t0_wall, t0 = time.time(), time.monotonic()
    if client.feedback_tracker:
        client.feedback_tracker.enable_feedback_tracking()
    prev = 0
    mine = []
    for a in scene["actions"]:
        delta = (a["t_ms"] - prev) / 1000.0
        if delta > 0:
            time.sleep(delta)
        prev = a["t_ms"]
        mine.append(time.monotonic() - (t0 + a["t_ms"] / 1000.0))
        client.publish(a["topic"], a["message"])
    if client.feedback_tracker:
        client.feedback_tracker.disable_feedback_tracking()
    with lock:
        starts[scene["room"]] = t0_wall
        late.extend(mine)


def main():
    port = arg("--mqtt-port", conv=int)
    with open(arg("--schedule")) as f:
        scenes = json.load(f)
    logging.basicConfig(filename=arg("--log", os.devnull), level=logging.DEBUG,
                        format="[%(levelname)s] %(name)s - %(message)s")
    limit = arg("--limit", 120.0, float)
    deadline = time.monotonic() + limit
    logging.getLogger("mqtt_feedback").setLevel(logging.DEBUG)
    clients = {}
    for s in scenes:
        tracker = FeedbackTracker(logging.getLogger("mqtt_feedback"))
        clients[s["room"]] = MQTTClient("127.0.0.1", port, "rpi_room_%s" % s["room"], tracker)
    for c in clients.values():
        if not c.connected.wait(max(0.1, deadline - time.monotonic())):
            print(json.dumps({"failed": "a client did not connect"}), flush=True)
            return 1
    print(json.dumps({"ready": True}), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    cpu0 = os.times()
    starts, late, lock = {}, [], threading.Lock()
    threads = [threading.Thread(target=run_scene, args=(clients[s["room"]], s, starts, late, lock),
                                daemon=True) for s in scenes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    time.sleep(0.3)  # the network threads write what is queued
    cpu1 = os.times()
    for c in clients.values():
        c.feedback_tracker.stop.set()
        c.client.disconnect()
        c.client.loop_stop()
    print(json.dumps({"starts": starts, "late_call": late, "published": len(late),
                      "threads_done": sum(1 for t in threads if not t.is_alive()),
                      "cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
