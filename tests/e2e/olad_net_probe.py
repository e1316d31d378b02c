#!/usr/bin/python3
"""olad_net_probe.py - can a real olad (OLA 0.10.9) take Art-Net and E1.31 input on loopback?

Standalone (not collected by pytest: no test_ prefix). Run it as

    /usr/bin/python3 tests/e2e/olad_net_probe.py            # host network namespace
    /usr/bin/python3 tests/e2e/olad_net_probe.py --isolated # a fresh namespace with only lo (root)

It starts olad the way tests/e2e/olad.py does (temp config dir, free
loopback HTTP/RPC ports, user `olad` when we are root), but enables the
Art-Net and E1.31 plugins instead of Dummy, with their input ports patched
to OLA universes in ola-port.conf. It then sends hand-built packets with
plain UDP sockets to 127.0.0.1 only, reads the universes back with
GET /get_dmx and prints what worked. olad is always killed; every wait is
bounded. Findings are written up in docs/decisions/olad-network-input.md.

Config written (plugin ids from OLA's Ola.proto: 2 = Art-Net, 11 = E1.31):

    ola-artnet.conf  enabled = true, ip = 127.0.0.1, use_loopback = true,
                     net = 0, subnet = 0, output_ports = 0
    ola-e131.conf    enabled = true, ip = 127.0.0.1, input_ports = 1,
                     output_ports = 0, draft_discovery = false, ...
    ola-port.conf    2-1-I-0 = 1      Art-Net input port 0 -> OLA universe 1
                     11-1-I-0 = 3     E1.31 input port 0   -> OLA universe 3

OLA's Art-Net input port listens on Port-Address
net << 8 | subnet << 4 | (OLA universe % 16): here Port-Address 1, which is
showhub universe 2 (showhub universe u = Port-Address u - 1). OLA's E1.31
input port listens on the E1.31 universe equal to the OLA universe: 3.

Exit status: 0 if both Art-Net and E1.31 input reached olad, 1 otherwise.
"""

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from olad import stop_process_group  # noqa: E402

OLAD_BIN = "olad"
OLAD_USER = "olad"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
DATA_TIMEOUT_S = 5.0
QUIET_WAIT_S = 1.0           # how long "nothing changed" must hold
TARGET = "127.0.0.1"         # the only address this script sends to
ARTNET_PORT = 6454
E131_PORT = 5568

ARTNET_OLA_UNIVERSE = 1      # patched to Art-Net input port 0
ARTNET_PORT_ADDRESS = 1      # what that port listens on with net = subnet = 0
E131_UNIVERSE = 3            # E1.31 universe = OLA universe for E1.31 ports

CID = bytes.fromhex("7e3f10c2a9d84b5c8f1e2d3c4b5a6978")

# Every plugin of OLA 0.10.9 except artnet and e131, switched off so olad
# opens no serial, USB, SPI, GPIO or other network devices.
_PLUGINS_OFF = (
    "dummy", "dmx4linux", "espnet", "ftdidmx", "gpio", "karate", "kinet",
    "milinst", "nanoleaf", "opendmx", "openpixelcontrol", "osc", "pathport", "renard",
    "sandnet", "shownet", "spi", "stageprofi", "uartdmx", "usbdmx", "usbserial",
)

ARTNET_CONF = """enabled = true
ip = 127.0.0.1
use_loopback = true
always_broadcast = false
use_limited_broadcast = false
net = 0
subnet = 0
output_ports = 0
short_name = showhub-probe
long_name = showhub olad network input probe
"""

E131_CONF = f"""enabled = true
ip = 127.0.0.1
cid = {CID[:4].hex()}-{CID[4:6].hex()}-{CID[6:8].hex()}-{CID[8:10].hex()}-{CID[10:].hex()}
input_ports = 1
output_ports = 0
draft_discovery = false
ignore_preview = true
prepend_hostname = false
revision = 0.46
dscp = 0
"""

PORT_CONF = f"""2-1-I-0 = {ARTNET_OLA_UNIVERSE}
11-1-I-0 = {E131_UNIVERSE}
"""


# ---- packets, built by hand (Art-Net 4 and E1.31-2018 layouts) -------------

def artdmx(port_address, sequence, slots):
    """ArtDmx: ID, OpCode 0x5000 low byte first, ProtVer 14 high byte first,
    Sequence, Physical, SubUni, Net, Length high byte first, data."""
    data = bytes(slots)
    if len(data) % 2:
        data += b"\0"            # Length must be even
    return (b"Art-Net\0" + struct.pack("<H", 0x5000) + struct.pack(">H", 14)
            + bytes([sequence, 0, port_address & 0xFF, (port_address >> 8) & 0x7F])
            + struct.pack(">H", len(data)) + data)


def e131_data(universe, sequence, slots, priority=100, options=0, name=b"showhub probe"):
    """E1.31 data packet: root layer, framing layer, DMP layer (Table 4-1)."""
    values = b"\0" + bytes(slots)                        # START code + slots
    total = 126 + len(slots)
    fl = lambda at: struct.pack(">H", 0x7000 | (total - at))
    root = (struct.pack(">HH", 0x0010, 0x0000) + b"ASC-E1.17\0\0\0" + fl(16)
            + struct.pack(">I", 0x00000004) + CID)
    framing = (fl(38) + struct.pack(">I", 0x00000002) + name.ljust(64, b"\0")[:64]
               + bytes([priority]) + struct.pack(">H", 0) + bytes([sequence, options])
               + struct.pack(">H", universe))
    dmp = (fl(115) + bytes([0x02, 0xA1]) + struct.pack(">HHH", 0x0000, 0x0001, len(values))
           + values)
    pkt = root + framing + dmp
    assert len(pkt) == total
    return pkt


# ---- olad --------------------------------------------------------------------

def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Olad:
    def __init__(self):
        self.http_port, self.rpc_port = free_ports(2)
        self.tmp = tempfile.mkdtemp(prefix="showhub-olad-probe-")
        self.proc = None
        self.log = None

    def start(self):
        os.chmod(self.tmp, 0o711)
        conf = os.path.join(self.tmp, "conf")
        os.mkdir(conf, 0o755)
        files = {f"ola-{p}.conf": "enabled = false\n" for p in _PLUGINS_OFF}
        files.update({"ola-artnet.conf": ARTNET_CONF, "ola-e131.conf": E131_CONF,
                      "ola-port.conf": PORT_CONF})
        for name, text in files.items():
            with open(os.path.join(conf, name), "w", encoding="ascii") as f:
                f.write(text)
        run_as = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam(OLAD_USER)
            run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            for name in [conf] + [os.path.join(conf, f) for f in os.listdir(conf)]:
                os.chown(name, pw.pw_uid, pw.pw_gid)
        self.log = open(os.path.join(self.tmp, "olad.log"), "w+b")
        cmd = [OLAD_BIN, "--config-dir", conf, "--http-port", str(self.http_port),
               "--rpc-port", str(self.rpc_port), "--log-level", "3",
               "--no-register-with-dns-sd", "--no-http-quit"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=self.tmp,
                                     process_group=0, **run_as)

    def get(self, path, timeout=2.0):
        url = f"http://127.0.0.1:{self.http_port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read())

    def get_dmx(self, universe):
        doc = self.get(f"/get_dmx?u={universe}")
        if doc.get("error"):
            raise RuntimeError(doc["error"])
        return [int(v) for v in doc["dmx"]]

    def wait_universes(self, universes, deadline):
        """Universes (of those asked for) that olad serves before the deadline."""
        ok = set()
        while time.monotonic() < deadline and self.proc.poll() is None:
            for u in universes:
                try:
                    self.get_dmx(u)
                    ok.add(u)
                except (OSError, ValueError, RuntimeError):
                    pass
            if ok == set(universes):
                break
            time.sleep(0.1)
        return ok

    def wait_dmx(self, universe, expected, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.get_dmx(universe)
            except (OSError, ValueError, RuntimeError) as e:
                last = f"error: {e}"
            if isinstance(last, list) and last[:len(expected)] == list(expected):
                return True, last[:8]
            time.sleep(0.05)
        return False, last[:8] if isinstance(last, list) else last

    def log_text(self):
        if self.log is None:
            return ""
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self):
        proc, self.proc = self.proc, None
        stop_process_group(proc)
        if self.log is not None:
            self.log.close()
            self.log = None
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---- probe -------------------------------------------------------------------

def igmp_devices(universe):
    """Interfaces on which some socket has joined universe's E1.31 group,
    from /proc/net/igmp (groups are little-endian hex there)."""
    group = bytes([universe & 0xFF, universe >> 8, 255, 239]).hex().upper()
    devices, dev = [], None
    try:
        with open("/proc/net/igmp", encoding="ascii") as f:
            for line in f:
                if not line.startswith(("\t", " ")) and ":" in line:
                    dev = line.split()[1]
                elif line.split() and line.split()[0] == group:
                    devices.append(dev)
    except OSError:
        pass
    return devices


def send(sock, port, pkt):
    sock.sendto(pkt, (TARGET, port))


def probe(show_log):
    results = {}
    olad = Olad()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        olad.start()
        served = olad.wait_universes([ARTNET_OLA_UNIVERSE, E131_UNIVERSE],
                                     time.monotonic() + START_TIMEOUT_S)
        print(f"olad http port {olad.http_port}; universes served: {sorted(served)}")
        if olad.proc.poll() is not None:
            print(f"olad exited with status {olad.proc.returncode}")

        # Art-Net. First a packet for Port-Address 0 (showhub universe 1): OLA
        # universe 1 must NOT take it. Then Port-Address 1, which it must.
        if ARTNET_OLA_UNIVERSE in served:
            send(sock, ARTNET_PORT, artdmx(0, 1, [9, 9, 9, 9]))
            time.sleep(QUIET_WAIT_S)
            before = olad.get_dmx(ARTNET_OLA_UNIVERSE)[:4]
            results["artnet_other_port_address_ignored"] = before[:4] != [9, 9, 9, 9]
            slots = [11, 22, 33, 44, 55]
            send(sock, ARTNET_PORT, artdmx(ARTNET_PORT_ADDRESS, 2, slots))
            ok, seen = olad.wait_dmx(ARTNET_OLA_UNIVERSE, slots, DATA_TIMEOUT_S)
            results["artnet_unicast_127.0.0.1"] = ok
            print(f"Art-Net: Port-Address 0 -> OLA u{ARTNET_OLA_UNIVERSE} {before} "
                  f"(ignored: {results['artnet_other_port_address_ignored']}); "
                  f"Port-Address {ARTNET_PORT_ADDRESS} -> OLA u{ARTNET_OLA_UNIVERSE}: "
                  f"{'OK' if ok else 'FAILED'} {seen}")
        else:
            results["artnet_unicast_127.0.0.1"] = False
            print(f"Art-Net: OLA universe {ARTNET_OLA_UNIVERSE} does not exist "
                  "(input port not patched: plugin or device did not start)")

        # E1.31 unicast. A Preview_Data packet first: ignore_preview = true
        # (OLA's default) must drop it. Then a normal one.
        if E131_UNIVERSE in served:
            send(sock, E131_PORT, e131_data(E131_UNIVERSE, 1, [7, 7, 7], options=0x80))
            time.sleep(QUIET_WAIT_S)
            before = olad.get_dmx(E131_UNIVERSE)[:3]
            results["e131_preview_ignored"] = before != [7, 7, 7]
            slots = [66, 77, 88]
            send(sock, E131_PORT, e131_data(E131_UNIVERSE, 2, slots))
            ok, seen = olad.wait_dmx(E131_UNIVERSE, slots, DATA_TIMEOUT_S)
            results["e131_unicast_127.0.0.1"] = ok
            results["e131_multicast_joined_on"] = igmp_devices(E131_UNIVERSE)
            print(f"E1.31: olad joined 239.255.{E131_UNIVERSE >> 8}.{E131_UNIVERSE & 0xFF} on "
                  f"{results['e131_multicast_joined_on'] or 'no interface'}")
            print(f"E1.31: preview packet -> OLA u{E131_UNIVERSE} {before} "
                  f"(ignored: {results['e131_preview_ignored']}); universe {E131_UNIVERSE} "
                  f"unicast -> OLA u{E131_UNIVERSE}: {'OK' if ok else 'FAILED'} {seen}")
        else:
            results["e131_unicast_127.0.0.1"] = False
            print(f"E1.31: OLA universe {E131_UNIVERSE} does not exist "
                  "(input port not patched: plugin or device did not start)")

        log = olad.log_text()
        for line in log.splitlines():
            if any(k in line for k in ("ArtNet", "Art-Net", "E1.31", "E131", "nterface",
                                       "multicast", "Failed", "failed")):
                print(f"  olad: {line.strip()}")
        if show_log:
            print("---- olad log ----\n" + log)
    finally:
        sock.close()
        olad.stop()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--isolated", action="store_true",
                    help="run in a new network namespace that has only lo (needs root)")
    ap.add_argument("--log", action="store_true", help="print olad's whole log")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.isolated and not args.inner:
        # Re-run this script inside `unshare --net`: a namespace with only a
        # loopback interface, which starts down, so bring it up first.
        inner = [sys.executable, os.path.abspath(__file__), "--inner"]
        inner += ["--log"] if args.log else []
        cmd = ["unshare", "--net", "--", "sh", "-c",
               'ip link set lo up && exec "$@"', "sh"] + inner
        return subprocess.run(cmd, timeout=120).returncode
    if args.inner:
        print("network namespace: isolated, interfaces: "
              + ", ".join(name for _, name in socket.if_nameindex()))

    results = probe(args.log)
    print("results: " + json.dumps(results, sort_keys=True))
    both = results.get("artnet_unicast_127.0.0.1") and results.get("e131_unicast_127.0.0.1")
    return 0 if both else 1


if __name__ == "__main__":
    sys.exit(main())
