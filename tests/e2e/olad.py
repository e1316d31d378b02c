"""olad.py - a real OLA daemon (olad) for the e2e tests, on free loopback ports.

    with OlaDaemon() as ola:              # universe 1 exists and is empty
        start_showhub(DMX_OLA_URL=ola.set_dmx_url, DMX_OLA_UNIVERSE="1", ...)
        ola.wait_for_dmx([255, 0, 0])     # poll /get_dmx until slots 1..3 match

How universe N comes to exist: olad answers /set_dmx and /get_dmx for a
universe only if it exists ("Universe doesn't exist", HTTP 500 on set_dmx);
set_dmx does not create it. A universe exists while a port is patched to it.
So the config dir enables only the Dummy plugin (one software output port,
no hardware, no network; its RDM test responders set to 0) and patches that
port to the universe before olad starts, in ola-port.conf: `1-1-O-0 = N`
(plugin 1 = Dummy, device 1, Output port 0). Every other plugin is written
`enabled = false`, so olad opens no serial, USB, SPI, GPIO or UDP
(Art-Net, sACN, ...) devices. Only one universe per daemon: the Dummy device
has one port.

Network: the RPC port (-r, a free port too, not the default 9010) binds
127.0.0.1. The HTTP server binds 0.0.0.0 in OLA 0.10.9: olad has no bind
option for it (-i/--interface picks the network interface for plugins, and
does not change the HTTP bind), so the free port is reachable from outside
for the life of the test. Tests talk to it on 127.0.0.1 only.

Network input (opt-in: OlaDaemon(universe=None, artnet_in=[...], e131_in=[...])):
olad then also receives Art-Net and/or E1.31 on loopback, as found in
docs/decisions/olad-network-input.md, and a test reads what the hub sent
with get_dmx(). The Art-Net plugin binds 127.0.0.1 (use_loopback = true)
with no output ports, so olad sends no ArtPoll; its input ports are patched
in ola-port.conf (`2-1-I-<i> = <OLA universe>`). An Art-Net input port
listens on Port-Address net << 8 | subnet << 4 | (OLA universe % 16), so
each requested Port-Address gets the OLA universe 16 * k + (Port-Address % 16)
with the smallest k >= 1 not otherwise in use: artnet_universe(pa) says
which. At most 4 Port-Addresses, all in one block of 16 (one Net and
Sub-Net). showhub universe u is Port-Address u - 1. E1.31 input ports
(`11-1-I-<i> = <u>`) listen on E1.31 universe u = OLA universe u, unicast
included. olad's E1.31 plugin will not start on a host whose only interface
is lo (it ignores `ip = 127.0.0.1` and picks a non-loopback interface, on
which it also joins the universes' multicast groups: IGMP reports are the
only packets that leave loopback); start() then raises OlaUnavailable
before launching anything, and tests skip. The UDP ports 6454 and 5568 are
fixed and shared by every olad on the host (SO_REUSEPORT: the kernel would
split the traffic), so a daemon with network input holds an exclusive
fcntl lock on NET_LOCK_PATH from start() to stop(): two test processes
never run such daemons at once. Stop whatever sends to those ports before
stop(), or the next holder of the lock receives it.

olad refuses to run as root, so when we are root it runs as the Debian
package's user `olad` (subprocess user=/group=, like `setpriv`; olad stays
our direct child, so terminate/kill reach it), with a config dir it owns.
"""

import atexit
import errno
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import uuid

OLAD_BIN = "olad"
OLAD_USER = "olad"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0


def stop_process_group(proc):
    """SIGTERM proc's process group, SIGKILL it after STOP_TIMEOUT_S; a
    process already gone (or None) is fine."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=STOP_TIMEOUT_S)

# Plugin preference names (ola-<name>.conf) of OLA 0.10.9, all but dummy.
_PLUGINS_OFF = (
    "artnet", "dmx4linux", "e131", "espnet", "ftdidmx", "gpio", "karate", "kinet",
    "milinst", "nanoleaf", "opendmx", "openpixelcontrol", "osc", "pathport", "renard",
    "sandnet", "shownet", "spi", "stageprofi", "uartdmx", "usbdmx", "usbserial",
)
# No RDM test responders behind the dummy port: nothing but a DMX sink.
_DUMMY_CONF = """enabled = true
ack_timer_count = 0
advanced_dimmer_count = 0
dimmer_count = 0
dimmer_subdevice_count = 0
dummy_device_count = 0
moving_light_count = 0
network_device_count = 0
sensor_device_count = 0
"""
_DUMMY_OUTPUT_PORT = "1-1-O-0"

# Network input (see the module docstring). Plugin ids from OLA's Ola.proto.
_ARTNET_PLUGIN_ID = 2
_E131_PLUGIN_ID = 11
_ARTNET_MAX_INPUTS = 4          # the Art-Net device's input ports
_E131_MAX_INPUTS = 512
NET_LOCK_PATH = os.environ.get("SHOWHUB_OLAD_NET_LOCK", "/tmp/showhub-e2e-olad-net.lock")
NET_LOCK_TIMEOUT_S = 180.0
_ARTNET_CONF = """enabled = true
ip = 127.0.0.1
use_loopback = true
always_broadcast = false
use_limited_broadcast = false
net = {net}
subnet = {subnet}
output_ports = 0
short_name = showhub-e2e
long_name = showhub e2e olad network input
"""
_E131_CONF = """enabled = true
ip = 127.0.0.1
cid = {cid}
input_ports = {n}
output_ports = 0
draft_discovery = false
ignore_preview = true
prepend_hostname = false
revision = 0.46
dscp = 0
"""
_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8


class OlaError(RuntimeError):
    pass


class OlaUnavailable(OlaError):
    """olad cannot do what was asked on this host (tests skip on it)."""


def non_loopback_ipv4_interfaces():
    """Names of the interfaces that are up, not loopback, and have an IPv4
    address: the ones OLA's interface picker (and so its E1.31 plugin)
    can choose."""
    names = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            req = struct.pack("16s16x", name.encode()[:15])
            try:
                flags = struct.unpack_from("H", fcntl.ioctl(s, _SIOCGIFFLAGS, req), 16)[0]
                if not flags & _IFF_UP or flags & _IFF_LOOPBACK:
                    continue
                fcntl.ioctl(s, _SIOCGIFADDR, req)     # EADDRNOTAVAIL: no IPv4 address
            except OSError:
                continue
            names.append(name)
    return names


def _lock_net_ports(timeout=NET_LOCK_TIMEOUT_S):
    """An fd holding the exclusive lock on NET_LOCK_PATH (polls; bounded)."""
    try:
        fd = os.open(NET_LOCK_PATH, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        # World-readable: flock needs no write access, so another user's
        # test run can open it read-only and still take the lock.
        fd = os.open(NET_LOCK_PATH, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                os.close(fd)
                raise
        if time.monotonic() >= deadline:
            os.close(fd)
            raise OlaError(f"another olad with network input held {NET_LOCK_PATH} for "
                           f"{timeout:g} s")
        time.sleep(0.1)


def _free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound together so they differ)."""
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


class OlaDaemon:
    """Context manager around one olad process with universe `universe` patched
    to the Dummy output port (universe=None: no Dummy plugin), and, opt-in,
    Art-Net input on the Port-Addresses artnet_in and E1.31 input on the
    universes e131_in (see the module docstring)."""

    def __init__(self, universe=1, log_level=1, artnet_in=None, e131_in=None):
        self.universe = None if universe is None else int(universe)
        self.log_level = int(log_level)
        self.e131_in = [int(u) for u in (e131_in or [])]
        if (len(self.e131_in) > _E131_MAX_INPUTS or len(set(self.e131_in)) != len(self.e131_in)
                or not all(1 <= u <= 63999 for u in self.e131_in)):
            raise ValueError(f"e131_in {self.e131_in}: up to {_E131_MAX_INPUTS} distinct "
                             "universes 1..63999")
        self._artnet = self._plan_artnet([int(p) for p in (artnet_in or [])])
        if self.universe is None and not self.network_input:
            raise ValueError("nothing to serve: give a universe, artnet_in or e131_in")
        self.http_port, self.rpc_port = _free_ports(2)
        self.proc = None
        self._tmp = None
        self._stderr = None
        self._lock_fd = None

    def _plan_artnet(self, pas):
        """{Port-Address: OLA universe} for the Art-Net input ports."""
        if not pas:
            return {}
        if len(pas) > _ARTNET_MAX_INPUTS or len(set(pas)) != len(pas):
            raise ValueError(f"artnet_in {pas}: at most {_ARTNET_MAX_INPUTS} distinct "
                             "Port-Addresses")
        if not all(0 <= p <= 0x7FFF for p in pas) or len({p >> 4 for p in pas}) != 1:
            raise ValueError(f"artnet_in {pas}: Port-Addresses 0..32767 in one block of 16 "
                             "(olad's input ports share Net and Sub-Net)")
        taken = set(self.e131_in) | ({self.universe} if self.universe is not None else set())
        plan = {}
        for p in pas:
            k = 1
            while 16 * k + (p & 0xF) in taken:
                k += 1
            plan[p] = 16 * k + (p & 0xF)
            taken.add(plan[p])
        return plan

    @property
    def network_input(self):
        return bool(self._artnet or self.e131_in)

    def artnet_universe(self, port_address):
        """The OLA universe that receives Art-Net Port-Address port_address."""
        return self._artnet[int(port_address)]

    def _universes(self):
        """Every OLA universe this daemon serves once started."""
        dummy = [self.universe] if self.universe is not None else []
        return dummy + list(self._artnet.values()) + self.e131_in

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def set_dmx_url(self):
        return f"{self.base_url}/set_dmx"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- start ------------------------------------------------------------

    def _write_config(self, conf_dir):
        def put(name, text):
            with open(os.path.join(conf_dir, name), "w", encoding="ascii") as f:
                f.write(text)

        for p in _PLUGINS_OFF:
            put(f"ola-{p}.conf", "enabled = false\n")
        ports = []
        if self.universe is not None:
            put("ola-dummy.conf", _DUMMY_CONF)
            ports.append(f"{_DUMMY_OUTPUT_PORT} = {self.universe}")
        else:
            put("ola-dummy.conf", "enabled = false\n")
        if self._artnet:
            first = next(iter(self._artnet))
            put("ola-artnet.conf", _ARTNET_CONF.format(net=first >> 8, subnet=(first >> 4) & 0xF))
            ports += [f"{_ARTNET_PLUGIN_ID}-1-I-{i} = {u}"
                      for i, u in enumerate(self._artnet.values())]
        if self.e131_in:
            put("ola-e131.conf", _E131_CONF.format(cid=uuid.uuid4(), n=len(self.e131_in)))
            ports += [f"{_E131_PLUGIN_ID}-1-I-{i} = {u}" for i, u in enumerate(self.e131_in)]
        put("ola-port.conf", "".join(p + "\n" for p in ports))

    def _run_as(self):
        """Popen kwargs that drop to user olad when we are root."""
        if os.geteuid() != 0:
            return {}
        try:
            pw = pwd.getpwnam(OLAD_USER)
        except KeyError:
            raise OlaError(f"olad refuses root and there is no user {OLAD_USER!r} "
                           "(install the Debian 'ola' package)") from None
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _stderr_text(self):
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-4000:]

    def _launch(self):
        self._tmp = tempfile.mkdtemp(prefix="showhub-olad-")
        os.chmod(self._tmp, 0o711)         # olad (another user) must reach conf/
        conf_dir = os.path.join(self._tmp, "conf")
        os.mkdir(conf_dir, 0o755)
        self._write_config(conf_dir)
        run_as = self._run_as()
        if run_as:
            for name in [conf_dir] + [os.path.join(conf_dir, f) for f in os.listdir(conf_dir)]:
                os.chown(name, run_as["user"], run_as["group"])
        self._stderr = open(os.path.join(self._tmp, "olad.stderr"), "w+b")
        cmd = [OLAD_BIN, "--config-dir", conf_dir,
               "--http-port", str(self.http_port), "--rpc-port", str(self.rpc_port),
               "--log-level", str(self.log_level),
               "--no-register-with-dns-sd", "--no-http-quit"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=subprocess.STDOUT,
                                     cwd=self._tmp, process_group=0, **run_as)

    def _serves(self, u):
        try:
            with urllib.request.urlopen(f"{self.base_url}/get_dmx?u={u}", timeout=1.0) as r:
                doc = json.loads(r.read())
            return not doc.get("error")
        except (OSError, ValueError):
            return False

    def _wait_ready(self, deadline):
        """True once /get_dmx answers for all our universes; False if olad exited."""
        want = self._universes()
        missing = want
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            missing = [u for u in missing if not self._serves(u)]
            if not missing:
                return True
            time.sleep(0.05)
        raise OlaError(f"olad did not serve universes {missing} (of {want}) on port "
                       f"{self.http_port} within {START_TIMEOUT_S:.0f} s; "
                       f"its output:\n{self._stderr_text()}")

    def start(self):
        if self.proc is not None:
            raise OlaError("olad already started")
        if self.e131_in and not non_loopback_ipv4_interfaces():
            raise OlaUnavailable("olad's E1.31 plugin does not start on a host whose only "
                                 "interface is lo: OLA 0.10.9 picks only non-loopback "
                                 "interfaces for it (docs/decisions/olad-network-input.md)")
        if self.network_input and self._lock_fd is None:
            self._lock_fd = _lock_net_ports()
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        # A port picked free can be taken before olad binds it: retry with new ones.
        for attempt in range(3):
            self._launch()
            atexit.register(self.stop)
            try:
                if self._wait_ready(deadline):
                    return self
            except OlaError:
                self._stop_process()
                raise
            err = self._stderr_text()
            rc = self.proc.returncode
            self._stop_process()
            if attempt == 2 or time.monotonic() >= deadline:
                raise OlaError(f"olad exited with status {rc} before it was ready; "
                               f"its output:\n{err}")
            self.http_port, self.rpc_port = _free_ports(2)
        return self

    # ---- use --------------------------------------------------------------

    def _default_universe(self, universe):
        if universe is not None:
            return int(universe)
        if self.universe is None:
            raise ValueError("this olad has no Dummy universe: name the universe")
        return self.universe

    def get_dmx(self, universe=None):
        """The universe's slots as olad holds them: [] until the first set_dmx
        (or network packet), then as many values as the last one carried (512
        from showhub)."""
        u = self._default_universe(universe)
        with urllib.request.urlopen(f"{self.base_url}/get_dmx?u={u}", timeout=5.0) as r:
            doc = json.loads(r.read())
        if doc.get("error"):
            raise OlaError(f"get_dmx u={u}: {doc['error']}")
        return [int(v) for v in doc["dmx"]]

    def set_dmx(self, values, universe=None):
        """POST values to /set_dmx the way showhub does (for tests that need
        olad in a known state)."""
        u = self._default_universe(universe)
        body = urllib.parse.urlencode({"u": u, "d": ",".join(str(int(v)) for v in values)})
        req = urllib.request.Request(self.set_dmx_url, data=body.encode("ascii"),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=5.0) as r:
            r.read()

    def wait_for_dmx(self, expected, universe=None, timeout=5.0, start=0):
        """Poll get_dmx until slots[start:start+len(expected)] == expected.
        Returns the whole slot list; raises OlaError with the last one on timeout."""
        expected = [int(v) for v in expected]
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.get_dmx(universe)
            if last[start:start + len(expected)] == expected:
                return last
            if time.monotonic() >= deadline:
                u = self._default_universe(universe)
                raise OlaError(f"olad universe {u} slots {start}..: want {expected}, have "
                               f"{last[start:start + len(expected)]}")
            time.sleep(0.02)

    # ---- stop -------------------------------------------------------------

    def stop(self):
        """Terminate olad (SIGTERM, then SIGKILL after 5 s), remove the temp dir
        and release the network-input lock. Safe to call more than once."""
        atexit.unregister(self.stop)
        try:
            self._stop_process()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)        # releases the flock
                self._lock_fd = None

    def _stop_process(self):
        proc, self.proc = self.proc, None
        stop_process_group(proc)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
