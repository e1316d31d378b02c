#!/usr/bin/python3
"""devsim: simulated showhub fleet devices over MQTT.

Infoscreen clients (seed 004 signage contract) and ESP32 nodes (seed 002
presence and scene feedback), each its own MQTT client, all driven by one
selector loop. Events and control replies are JSON lines on stdout; see
README.md next to this file.
"""
import argparse
import os
import random
import sys
import threading
import time
import uuid as uuidlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from simcore import Emitter, Loop, raise_nofile_limit  # noqa: E402
from sim_esp32 import FEEDBACK_MODES, Esp32, Feedback, esp32_id  # noqa: E402
from sim_infoscreen import (SCREEN_STATES, Infoscreen, device_uuid,  # noqa: E402
                            parse_ack_mode)

CONTROL_HELP = """control commands (--control stdin, one per line; <t> = device index,
uuid, esp32 id or "all"):
  crash <t> | recover <t>            process_status crashed / running
  silence <t> | resume <t>           stop / restart heartbeat, health, logs; resume also
                                     ends an outage (shutdown, disconnect)
  service_failed <t>                 publish the retained service_failed alert
  clear_service_failed <t>           publish the empty retained payload
  log <t> <level> <message...>       one log entry (level info|warn|error)
  screen <t> <OK|BLACK|FROZEN|UNKNOWN>
  disconnect <t> [seconds]           abrupt connection loss (LWT fires); back after
                                     seconds, or stays offline until resume
  ack_mode <t> <mode>                normal | ignore | accept_only | fail:<code> | delay:<s>
  feedback <ok|error|none>           ESP32 scene feedback answer
  status [<t>]                       counts, or one device's state
  quit                               clean exit
every command answers one JSON line {"ok": true|false, "cmd": ..., ...}"""


def positive(kind):
    def conv(s):
        v = kind(s)
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0: {s}")
        return v
    return conv


def non_negative(kind):
    def conv(s):
        v = kind(s)
        if v < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0: {s}")
        return v
    return conv


def ack_mode_arg(s):
    try:
        return parse_ack_mode(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def build_parser():
    p = argparse.ArgumentParser(
        prog="devsim", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Simulated fleet devices for showhub: seed-004 infoscreen clients "
                    "and seed-002 ESP32 nodes, one MQTT client each, one event loop.",
        epilog=CONTROL_HELP)
    g = p.add_argument_group("broker")
    g.add_argument("--host", default="127.0.0.1", help="MQTT broker host (127.0.0.1)")
    g.add_argument("--port", type=int, default=1883, help="MQTT broker port (1883)")
    g.add_argument("--username", help="MQTT username (with --password)")
    g.add_argument("--password", help="MQTT password")
    g.add_argument("--keepalive", type=positive(int), default=60, help="MQTT keepalive s (60)")
    g.add_argument("--connect-rate", type=positive(float), default=200.0,
                   help="connection attempts per second, all devices together (200)")
    g.add_argument("--reconnect-min", type=positive(float), default=0.5,
                   help="first reconnect delay after an unplanned loss, s (0.5)")
    g.add_argument("--reconnect-max", type=positive(float), default=10.0,
                   help="reconnect backoff ceiling, s (10)")

    g = p.add_argument_group("infoscreen devices (seed 004)")
    g.add_argument("--root", default="infoscreen", help="topic root (infoscreen)")
    g.add_argument("--count", type=non_negative(int), default=1, help="number of devices (1)")
    g.add_argument("--prefix", default="devsim",
                   help="name prefix: hostname <prefix>-<i>, client id <prefix>-<uuid8> (devsim)")
    g.add_argument("--seed", help="derive device uuids (and jitter) from this seed; "
                                  "default random uuid4s")
    g.add_argument("--ids-file", help="write the device uuids here, one per line, "
                                      "once all devices are connected")
    g.add_argument("--heartbeat", type=positive(float), default=65.0,
                   help="heartbeat interval s, +-10%% jitter (65)")
    g.add_argument("--health", type=positive(float), default=5.0,
                   help="health interval s, +-10%% jitter (5)")
    g.add_argument("--logs-per-min", type=non_negative(float), default=0.0,
                   help="random log entries per device per minute (0)")
    g.add_argument("--crash", type=non_negative(int), default=0, metavar="K",
                   help="first K devices report process_status crashed")
    g.add_argument("--service-failed", type=non_negative(int), default=0, metavar="K",
                   help="first K devices publish the retained service_failed alert")
    g.add_argument("--silent", type=non_negative(int), default=0, metavar="K",
                   help="first K devices send discovery, then no heartbeat/health/logs")
    g.add_argument("--listen-alias", action="store_true",
                   help="also subscribe to the <root>/<uuid>/command alias (duplicates are "
                        "deduped)")
    g.add_argument("--state-dir", help="persist each device's command dedupe cache to "
                                       "DIR/<uuid>.json (default: memory only)")
    g.add_argument("--restart-app-delay", type=non_negative(float), default=0.5,
                   help="restart_app: execution_started -> completed, s (0.5)")
    g.add_argument("--reboot-delay", type=non_negative(float), default=2.0,
                   help="reboot_host: offline time before reconnecting, s (2)")
    g.add_argument("--ack-mode", type=ack_mode_arg, default="normal",
                   help="initial ack mode of every device: normal, ignore, accept_only, "
                        "fail:<code>, delay:<s> (normal)")
    g.add_argument("--duplicate-ack", choices=("none", "last", "failed"), default="none",
                   help="answer to a duplicate command_id: no ACK, the last ACK again, or "
                        "failed/duplicate_command (none)")

    g = p.add_argument_group("ESP32 nodes (seed 002)")
    g.add_argument("--esp32", type=non_negative(int), default=0, metavar="N",
                   help="number of ESP32 nodes esp32_01.. (0)")
    g.add_argument("--feedback-room", default="",
                   help="comma-separated rooms whose <room>/+ messages esp32_01 answers on "
                        "<room>/status (adds one node if --esp32 is 0)")
    g.add_argument("--feedback-delay", type=non_negative(float), default=50.0,
                   help="feedback delay ms (50)")
    g.add_argument("--feedback-mode", choices=FEEDBACK_MODES, default="ok",
                   help="initial feedback answer (ok)")

    g = p.add_argument_group("control and output")
    g.add_argument("--control", choices=("none", "stdin"), default="none",
                   help="read control commands from stdin (EOF = quit)")
    g.add_argument("--quiet", action="store_true",
                   help="no per-device connected/disconnected/reconnected events")
    return p


class Sim:
    def __init__(self, args):
        self.args = args
        self.emitter = Emitter(quiet=args.quiet)
        rng = random.Random(args.seed) if args.seed is not None else random.Random()
        broker = {"host": args.host, "port": args.port, "keepalive": args.keepalive,
                  "username": args.username, "password": args.password}
        self.loop = Loop(broker, self.emitter, args.connect_rate, rng)
        self.loop.on_control = self.control
        self.screens = []
        self.by_uuid = {}
        self.esp32 = {}
        self.ready = False
        self.t0 = time.monotonic()
        if args.state_dir:
            os.makedirs(args.state_dir, exist_ok=True)

        client_ids = set()
        for i in range(args.count):
            u = device_uuid(args.seed, i) if args.seed is not None else str(uuidlib.uuid4())
            cid = f"{args.prefix}-{u[:8]}"
            if cid in client_ids:                    # 32-bit prefixes collide in big fleets
                cid = f"{args.prefix}-{u}"
            client_ids.add(cid)
            d = Infoscreen(self.loop, i, u, args, cid)
            d.process_status = "crashed" if i < args.crash else "running"
            d.service_failed = i < args.service_failed
            d.silent = i < args.silent
            self.screens.append(d)
            self.by_uuid[u] = d

        rooms = [r.strip() for r in args.feedback_room.split(",") if r.strip()]
        self.feedback = Feedback(rooms, args.feedback_delay, args.feedback_mode)
        n_esp = max(args.esp32, 1 if rooms else 0)
        for n in range(1, n_esp + 1):
            eid = esp32_id(n)
            node = Esp32(self.loop, eid, f"{args.prefix}-{eid}",
                         self.feedback if n == 1 and rooms else None, args)
            self.esp32[eid] = node

    def nodes(self):
        return self.screens + list(self.esp32.values())

    def start(self):
        nofile = raise_nofile_limit()
        self.emitter.emit("started", pid=os.getpid(), count=len(self.screens),
                          esp32=len(self.esp32), nofile=nofile, root=self.args.root)
        for node in self.nodes():
            self.loop.add(node)
            node.start()
        self.loop.call_later(0.05, self._check_ready)

    def _check_ready(self):
        if all(n.connects > 0 for n in self.nodes()):
            self.ready = True
            if self.args.ids_file:
                tmp = self.args.ids_file + ".tmp"
                with open(tmp, "w") as f:
                    f.writelines(d.uuid + "\n" for d in self.screens)
                os.replace(tmp, self.args.ids_file)
            self.emitter.emit("ready", count=len(self.screens), esp32=len(self.esp32),
                              seconds=round(time.monotonic() - self.t0, 3),
                              uuids=[d.uuid for d in self.screens[:100]])
        else:
            self.loop.call_later(0.05, self._check_ready)

    # ---- control
    def targets(self, t, infoscreen_only=True):
        if t == "all":
            return self.screens if infoscreen_only else self.nodes()
        if t in self.esp32:
            if infoscreen_only:
                raise ValueError(f"{t} is an ESP32 node; this command needs an infoscreen")
            return [self.esp32[t]]
        if t.lower() in self.by_uuid:
            return [self.by_uuid[t.lower()]]
        try:
            i = int(t)
        except ValueError:
            raise ValueError(f"unknown device {t!r}")
        if not 0 <= i < len(self.screens):
            raise ValueError(f"device index {i} out of range 0..{len(self.screens) - 1}")
        return [self.screens[i]]

    def control(self, line):
        if line is None:                           # stdin closed
            self.loop.stop_requested = True
            return
        line = line.strip()
        words = line.split(None, 1)
        if not words:
            return
        verb = words[0]
        rest = words[1] if len(words) > 1 else ""
        reply = {"ok": True, "cmd": verb}
        try:
            extra = self.run_command(verb, rest)
            if extra:
                reply.update(extra)
        except (ValueError, IndexError) as e:
            reply = {"ok": False, "cmd": verb, "error": str(e) or "bad arguments"}
        reply["line"] = line
        self.emitter.write(reply)

    def run_command(self, verb, rest):
        a = rest.split()

        def need(n, usage):
            if len(a) < n:
                raise ValueError(f"usage: {usage}")

        if verb == "quit":
            self.loop.stop_requested = True
        elif verb in ("crash", "recover"):
            need(1, f"{verb} <t>")
            for d in self.targets(a[0]):
                d.set_crashed(verb == "crash")
        elif verb == "silence":
            need(1, "silence <t>")
            for d in self.targets(a[0]):
                d.silent = True
        elif verb == "resume":
            need(1, "resume <t>")
            for d in self.targets(a[0], infoscreen_only=False):
                if isinstance(d, Infoscreen):
                    d.silent = False
                d.resume()
        elif verb == "service_failed":
            need(1, "service_failed <t>")
            for d in self.targets(a[0]):
                d.service_failed = True
                d.service_failed_sent = False
                d.send_service_failed()
        elif verb == "clear_service_failed":
            need(1, "clear_service_failed <t>")
            for d in self.targets(a[0]):
                d.clear_service_failed()
        elif verb == "log":
            parts = rest.split(None, 2)
            if len(parts) < 3 or parts[1] not in ("info", "warn", "error"):
                raise ValueError("usage: log <t> <info|warn|error> <message>")
            sent = [d.send_log(parts[1], parts[2]) for d in self.targets(parts[0])]
            return {"sent": sum(sent)}
        elif verb == "screen":
            need(2, "screen <t> <OK|BLACK|FROZEN|UNKNOWN>")
            if a[1] not in SCREEN_STATES:
                raise ValueError(f"screen state must be one of {', '.join(SCREEN_STATES)}")
            for d in self.targets(a[0]):
                d.screen = a[1]
        elif verb == "disconnect":
            need(1, "disconnect <t> [seconds]")
            seconds = float(a[1]) if len(a) > 1 else None
            if seconds is not None and seconds < 0:
                raise ValueError("seconds must be >= 0")
            for d in self.targets(a[0], infoscreen_only=False):
                d.drop(seconds)
        elif verb == "ack_mode":
            need(2, "ack_mode <t> <mode>")
            mode = parse_ack_mode(a[1])
            for d in self.targets(a[0]):
                d.ack_mode = mode
        elif verb == "feedback":
            need(1, "feedback <ok|error|none>")
            if a[0] not in FEEDBACK_MODES:
                raise ValueError("feedback mode must be ok, error or none")
            self.feedback.mode = a[0]
        elif verb == "status":
            if a:
                return {"devices": [self.describe(d) for d in
                                    self.targets(a[0], infoscreen_only=False)]}
            return {"count": len(self.screens),
                    "online": sum(d.online for d in self.screens),
                    "esp32": len(self.esp32),
                    "esp32_online": sum(n.online for n in self.esp32.values()),
                    "ready": self.ready}
        else:
            raise ValueError(f"unknown command {verb!r}")
        return None

    @staticmethod
    def describe(d):
        s = {"online": d.online, "reconnect_count": d.reconnect_count,
             "last_disconnect_at": d.last_disconnect_at}
        if isinstance(d, Infoscreen):
            s.update(device=d.index, uuid=d.uuid, process_status=d.process_status,
                     pid=d.pid, silent=d.silent, screen=d.screen, group_id=d.group_id,
                     ack_mode=d.ack_mode, service_failed=d.service_failed,
                     pending_acks=len(d.pending_acks))
        else:
            s.update(device=d.device_id)
        return s


def read_stdin(loop):
    for line in sys.stdin:
        loop.post_control(line)
    loop.post_control(None)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.count == 0 and args.esp32 == 0 and not args.feedback_room:
        build_parser().error("nothing to simulate: --count and --esp32 are both 0")
    sim = Sim(args)
    sim.loop.install_signal_handlers()
    if args.control == "stdin":
        threading.Thread(target=read_stdin, args=(sim.loop,), name="control",
                         daemon=True).start()
    sim.start()
    sim.loop.run()                 # returns after quit / SIGTERM / SIGINT and a clean exit
    sim.emitter.emit("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
