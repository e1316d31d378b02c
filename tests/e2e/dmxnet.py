"""dmxnet.py - Art-Net and sACN (E1.31) on the wire, for the e2e tests.

    with UdpReceiver() as rx:                   # 127.0.0.1, a free port
        start_showhub(DMX_ARTNET_TARGETS=f"127.0.0.1:{rx.port}", ...)
        pkt = rx.wait_for(lambda p: is_artdmx(p.data), timeout=2)
        dmx = parse_artdmx(pkt.data)            # a dict; ValueError if malformed

UdpReceiver: a thread reads one UDP socket bound to 127.0.0.1 (large
SO_RCVBUF, so a burst of a few thousand 600-byte datagrams is not dropped
while the test sleeps) and keeps every datagram as a Datagram(i, t, data, addr): its
arrival index and time.monotonic() at receipt. Every wait is bounded.

The parsers are written from the specifications, not from the hub's code:
the Art-Net 4 specification (Artistic Licence) for ArtDmx, ArtSync, ArtPoll
and ArtPollReply, and ANSI E1.31-2018 for the data packet (Tables 4-1, 5-1,
6-1, 7-1) and the universe discovery packet (Tables 4-3, 6-3, 8-1). They
check what a strict receiver would check, raise ValueError with the reason
otherwise, and return plain dicts. Byte order: the Art-Net OpCode and the
ArtPollReply Port are low byte first; every other multi-byte Art-Net field
and every E1.31 field is high byte first.
"""

import collections
import contextlib
import ctypes
import fcntl
import os
import socket
import struct
import threading
import time
import uuid

# ---------------------------------------------------------------- UDP receiver

Datagram = collections.namedtuple("Datagram", "i t data addr")   # i: arrival index

RCVBUF_BYTES = 8 << 20


def free_udp_port(host="127.0.0.1"):
    """A UDP port free on host right now (nothing holds it afterwards)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class UdpReceiver:
    """Collects every datagram sent to 127.0.0.1:port in a background thread.

    port=0 picks a free port (see .port). Datagrams are kept in arrival
    order; index-based methods (mark(), since(), wait_for(start=...)) let a
    test look only at what arrived after some point."""

    def __init__(self, port=0, host="127.0.0.1", rcvbuf=RCVBUF_BYTES):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if opt is None:
                continue
            try:                        # FORCE passes rmem_max, but only as root
                self.sock.setsockopt(socket.SOL_SOCKET, opt, rcvbuf)
                break
            except OSError:
                continue
        self.sock.bind((host, port))
        self.sock.settimeout(0.05)      # how long close() may take to stop the thread
        self.host, self.port = self.sock.getsockname()
        self.items = []
        self.cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"udp-rx-{self.port}",
                                        daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            t = time.monotonic()
            with self.cond:
                self.items.append(Datagram(len(self.items), t, data, addr))
                self.cond.notify_all()

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    def send(self, data, addr):
        """Send from this socket, so replies to our source port come back here."""
        self.sock.sendto(data, addr)

    def mark(self):
        """The index the next datagram will get."""
        with self.cond:
            return len(self.items)

    def since(self, start=0, pred=None):
        """The datagrams at index >= start (matching pred on the Datagram)."""
        with self.cond:
            items = self.items[start:]
        return [d for d in items if pred is None or pred(d)]

    def _arrivals(self, pos, deadline):
        """The datagrams at index >= pos, waiting for at least one until the
        deadline (then []). Predicates run outside the lock, so a slow one
        never holds up the receiving thread."""
        with self.cond:
            while len(self.items) <= pos:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.cond.wait(left)
            return self.items[pos:]

    def wait_for(self, pred=None, timeout=2.0, start=0, what="a matching datagram"):
        """The first datagram at index >= start for which pred(datagram) is
        true; AssertionError after timeout seconds."""
        deadline = time.monotonic() + timeout
        pos = start
        while True:
            batch = self._arrivals(pos, deadline)
            if not batch:
                raise AssertionError(f"no {what} on {self.addr} within {timeout:.2f}s "
                                     f"({pos - start} other datagrams arrived)")
            for d in batch:
                if pred is None or pred(d):
                    return d
            pos += len(batch)

    def wait_count(self, n, pred=None, timeout=2.0, start=0, what="datagrams"):
        """Wait until at least n datagrams at index >= start match; return them."""
        deadline = time.monotonic() + timeout
        pos, got = start, []
        while len(got) < n:
            batch = self._arrivals(pos, deadline)
            if not batch:
                raise AssertionError(f"only {len(got)} of {n} {what} on {self.addr} "
                                     f"within {timeout:.2f}s")
            got += [d for d in batch if pred is None or pred(d)]
            pos += len(batch)
        return got

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- Art-Net 4

ARTNET_PORT = 0x1936                    # 6454
ARTNET_ID = b"Art-Net\x00"
ARTNET_PROTVER = 14
OP_POLL = 0x2000
OP_POLL_REPLY = 0x2100
OP_DMX = 0x5000
OP_SYNC = 0x5200
ARTDMX_HEADER = 18
ARTPOLLREPLY_MIN = 207                  # up to and including MAC; later fields are optional


def artnet_opcode(data):
    """The OpCode of an Art-Net packet, or None if data is not one."""
    if len(data) < 10 or data[:8] != ARTNET_ID:
        return None
    return data[8] | data[9] << 8


def is_artdmx(data):
    return artnet_opcode(data) == OP_DMX


def is_artsync(data):
    return artnet_opcode(data) == OP_SYNC


def is_artpollreply(data):
    return artnet_opcode(data) == OP_POLL_REPLY


def _protver(data):
    if len(data) < 12:
        raise ValueError(f"{len(data)} bytes: too short for ID, OpCode and ProtVer")
    return data[10] << 8 | data[11]


def parse_artdmx(data):
    """ArtDmx (OpCode 0x5000): ID[8], OpCode (lo, hi), ProtVerHi, ProtVerLo,
    Sequence, Physical, SubUni, Net, LengthHi, Length, Data[Length].

    Port-Address = Net (7 bits) << 8 | SubUni (Sub-Net << 4 | Universe)."""
    if artnet_opcode(data) != OP_DMX:
        raise ValueError("not an ArtDmx packet (ID or OpCode)")
    if len(data) < ARTDMX_HEADER:
        raise ValueError(f"ArtDmx of {len(data)} bytes: the header alone is {ARTDMX_HEADER}")
    length = data[16] << 8 | data[17]
    if len(data) != ARTDMX_HEADER + length:
        raise ValueError(f"ArtDmx Length {length} but {len(data) - ARTDMX_HEADER} data bytes")
    if data[15] & 0x80:
        raise ValueError(f"ArtDmx Net 0x{data[15]:02x}: bit 7 must be zero (15-bit Port-Address)")
    return {
        "op": "ArtDmx",
        "prot_ver": _protver(data),
        "sequence": data[12],
        "physical": data[13],
        "sub_uni": data[14],
        "net": data[15],
        "port_address": (data[15] & 0x7F) << 8 | data[14],
        "length": length,
        "data": bytes(data[ARTDMX_HEADER:]),
    }


def parse_artsync(data):
    """ArtSync (OpCode 0x5200): ID[8], OpCode, ProtVerHi, ProtVerLo, Aux1, Aux2."""
    if artnet_opcode(data) != OP_SYNC:
        raise ValueError("not an ArtSync packet (ID or OpCode)")
    if len(data) != 14:
        raise ValueError(f"ArtSync of {len(data)} bytes, expected 14")
    return {"op": "ArtSync", "prot_ver": _protver(data), "aux1": data[12], "aux2": data[13]}


def _cstr(field):
    """A fixed-size, NUL-terminated ASCII field as str."""
    end = field.find(b"\x00")
    if end < 0:
        raise ValueError(f"string field {bytes(field)!r} is not NUL-terminated")
    return field[:end].decode("ascii", "replace")


def parse_artpollreply(data):
    """ArtPollReply (OpCode 0x2100). No ProtVer field; Port is low byte first.

    Offsets: IP[4] 10, Port 14, VersInfoH 16, VersInfoL 17, NetSwitch 18,
    SubSwitch 19, OemHi 20, Oem 21, Ubea 22, Status1 23, EstaManLo 24,
    EstaManHi 25, ShortName[18] 26, LongName[64] 44, NodeReport[64] 108,
    NumPortsHi 172, NumPortsLo 173, PortTypes[4] 174, GoodInput[4] 178,
    GoodOutputA[4] 182, SwIn[4] 186, SwOut[4] 190, AcnPriority 194,
    SwMacro 195, SwRemote 196, Spare[3] 197, Style 200, MAC[6] 201,
    BindIp[4] 207, BindIndex 211, Status2 212, GoodOutputB[4] 213,
    Status3 217, DefaultRespUID[6] 218, User 224, RefreshRate 226,
    BackgroundQueuePolicy 228, Filler[10] 229 (239 bytes in all).

    "port_addresses" is the 15-bit Port-Address of each present input port:
    NetSwitch (bits 14-8) | SubSwitch (bits 7-4) | SwIn[i] (bits 3-0)."""
    if artnet_opcode(data) != OP_POLL_REPLY:
        raise ValueError("not an ArtPollReply packet (ID or OpCode)")
    if len(data) < ARTPOLLREPLY_MIN:
        raise ValueError(f"ArtPollReply of {len(data)} bytes, at least {ARTPOLLREPLY_MIN} expected")
    d = {
        "op": "ArtPollReply",
        "ip": socket.inet_ntoa(bytes(data[10:14])),
        "port": data[14] | data[15] << 8,
        "vers_info": data[16] << 8 | data[17],
        "net_switch": data[18],
        "sub_switch": data[19],
        "oem": data[20] << 8 | data[21],
        "ubea": data[22],
        "status1": data[23],
        "esta_man": data[24] | data[25] << 8,
        "short_name": _cstr(data[26:44]),
        "long_name": _cstr(data[44:108]),
        "node_report": _cstr(data[108:172]),
        "num_ports": data[172] << 8 | data[173],
        "port_types": list(data[174:178]),
        "good_input": list(data[178:182]),
        "good_output_a": list(data[182:186]),
        "sw_in": list(data[186:190]),
        "sw_out": list(data[190:194]),
        "acn_priority": data[194],
        "sw_macro": data[195],
        "sw_remote": data[196],
        "style": data[200],
        "mac": bytes(data[201:207]),
        "length": len(data),
    }
    if len(data) >= 213:
        d["bind_ip"] = socket.inet_ntoa(bytes(data[207:211]))
        d["bind_index"] = data[211]
        d["status2"] = data[212]
    if len(data) >= 239:
        d["good_output_b"] = list(data[213:217])
        d["status3"] = data[217]
        d["default_resp_uid"] = bytes(data[218:224])
        d["user"] = data[224] << 8 | data[225]
        d["refresh_rate"] = data[226] << 8 | data[227]
    net = (d["net_switch"] & 0x7F) << 8
    sub = (d["sub_switch"] & 0x0F) << 4
    d["port_addresses"] = [net | sub | (d["sw_in"][i] & 0x0F)
                           for i in range(min(d["num_ports"], 4))]
    return d


def build_artpoll(flags=0, diag_priority=0, target=None, esta_man=0, oem=0):
    """ArtPoll (OpCode 0x2000): ID[8], OpCode, ProtVerHi, ProtVerLo, Flags,
    DiagPriority, then Art-Net 4's TargetPortAddressTopHi/Lo,
    TargetPortAddressBottomHi/Lo, EstaManHi/Lo, OemHi/Lo (22 bytes).
    target=(bottom, top) sets Flags bit 5 (targeted mode)."""
    if target is not None:
        flags |= 0x20
    bottom, top = target if target is not None else (0, 0)
    return (ARTNET_ID + struct.pack("<H", OP_POLL) + struct.pack(">H", ARTNET_PROTVER)
            + bytes([flags, diag_priority]) + struct.pack(">HHHH", top, bottom, esta_man, oem))


def parse_artnet(data):
    """Any Art-Net packet the hub sends, by OpCode; ValueError otherwise."""
    op = artnet_opcode(data)
    if op == OP_DMX:
        return parse_artdmx(data)
    if op == OP_SYNC:
        return parse_artsync(data)
    if op == OP_POLL_REPLY:
        return parse_artpollreply(data)
    raise ValueError(f"not an Art-Net packet the hub sends (OpCode {op!r})")


# ---------------------------------------------------------------- E1.31-2018

E131_PORT = 5568
ACN_PACKET_ID = b"ASC-E1.17\x00\x00\x00"
VECTOR_ROOT_E131_DATA = 0x00000004
VECTOR_ROOT_E131_EXTENDED = 0x00000008
VECTOR_E131_DATA_PACKET = 0x00000002
VECTOR_E131_EXTENDED_SYNCHRONIZATION = 0x00000001
VECTOR_E131_EXTENDED_DISCOVERY = 0x00000002
VECTOR_DMP_SET_PROPERTY = 0x02
VECTOR_UNIVERSE_DISCOVERY_UNIVERSE_LIST = 0x00000001
DISCOVERY_UNIVERSE = 64214
OPT_PREVIEW = 0x80
OPT_TERMINATED = 0x40
OPT_FORCE_SYNC = 0x20


def _u16(b, at):
    return b[at] << 8 | b[at + 1]


def _u32(b, at):
    return struct.unpack_from(">I", b, at)[0]


def _flags_length(b, at, what):
    """A PDU's Flags and Length (E1.31 sections 5.4, 6.2.1, 7.1, 8.1): the
    high 4 bits 0x7, the low 12 bits the PDU's length from this field to the
    end of the packet (each of our packets holds one PDU per layer)."""
    v = _u16(b, at)
    if v >> 12 != 0x7:
        raise ValueError(f"{what} Flags 0x{v >> 12:x}, expected 0x7")
    if v & 0x0FFF != len(b) - at:
        raise ValueError(f"{what} Length {v & 0x0FFF}, expected {len(b) - at}")


def _root(b):
    """Root layer (Table 5-1): preamble 0x0010, post-amble 0, ACN Packet
    Identifier, Flags and Length at 16, Vector at 18, CID at 22."""
    if len(b) < 38:
        raise ValueError(f"{len(b)} bytes: too short for an E1.31 root layer")
    if _u16(b, 0) != 0x0010 or _u16(b, 2) != 0x0000:
        raise ValueError("E1.31 preamble/post-amble size must be 0x0010/0x0000")
    if bytes(b[4:16]) != ACN_PACKET_ID:
        raise ValueError(f"ACN Packet Identifier {bytes(b[4:16])!r}")
    _flags_length(b, 16, "root layer")
    return _u32(b, 18), str(uuid.UUID(bytes=bytes(b[22:38])))


def _source_name(field):
    """Source Name (6.2.2): UTF-8, NUL-terminated in 64 bytes."""
    end = bytes(field).find(b"\x00")
    if end < 0:
        raise ValueError("Source Name is not NUL-terminated")
    return bytes(field[:end]).decode("utf-8")


def e131_root_vector(data):
    """The root layer vector of an E1.31 packet, or None if data is not one."""
    if len(data) < 22 or bytes(data[4:16]) != ACN_PACKET_ID:
        return None
    return _u32(data, 18)


def is_e131_data(data):
    return e131_root_vector(data) == VECTOR_ROOT_E131_DATA


def is_e131_discovery(data):
    return (e131_root_vector(data) == VECTOR_ROOT_E131_EXTENDED and len(data) >= 44
            and _u32(data, 40) == VECTOR_E131_EXTENDED_DISCOVERY)


def parse_e131_data(data):
    """E1.31 data packet (Table 4-1): root layer, framing layer (Table 6-1:
    Flags and Length 38, Vector 40, Source Name[64] 44, Priority 108,
    Synchronization Address 109, Sequence Number 111, Options 112,
    Universe 113), DMP layer (Table 7-1: Flags and Length 115, Vector 117,
    Address Type & Data Type 118 = 0xa1, First Property Address 119 = 0,
    Address Increment 121 = 1, Property value count 123, values 125: the
    START code, then the slots)."""
    vector, cid = _root(data)
    if vector != VECTOR_ROOT_E131_DATA:
        raise ValueError(f"root vector 0x{vector:08x} is not VECTOR_ROOT_E131_DATA")
    if len(data) < 126:
        raise ValueError(f"E1.31 data packet of {len(data)} bytes, at least 126 expected")
    if len(data) > 638:
        raise ValueError(f"E1.31 data packet of {len(data)} bytes, at most 638 allowed")
    _flags_length(data, 38, "framing layer")
    if _u32(data, 40) != VECTOR_E131_DATA_PACKET:
        raise ValueError(f"framing vector 0x{_u32(data, 40):08x} is not VECTOR_E131_DATA_PACKET")
    _flags_length(data, 115, "DMP layer")
    if data[117] != VECTOR_DMP_SET_PROPERTY:
        raise ValueError(f"DMP vector 0x{data[117]:02x}, expected 0x02")
    if data[118] != 0xA1:
        raise ValueError(f"DMP Address Type & Data Type 0x{data[118]:02x}, expected 0xa1")
    if _u16(data, 119) != 0 or _u16(data, 121) != 1:
        raise ValueError("DMP First Property Address must be 0 and Address Increment 1")
    count = _u16(data, 123)
    if count != len(data) - 125:
        raise ValueError(f"Property value count {count}, but {len(data) - 125} values follow")
    options = data[112]
    return {
        "op": "data",
        "cid": cid,
        "source_name": _source_name(data[44:108]),
        "priority": data[108],
        "sync_address": _u16(data, 109),
        "sequence": data[111],
        "options": options,
        "preview": bool(options & OPT_PREVIEW),
        "terminated": bool(options & OPT_TERMINATED),
        "force_sync": bool(options & OPT_FORCE_SYNC),
        "universe": _u16(data, 113),
        "property_value_count": count,
        "start_code": data[125],
        "slots": bytes(data[126:]),
    }


def parse_e131_discovery(data):
    """E1.31 universe discovery packet (Table 4-3): root layer with
    VECTOR_ROOT_E131_EXTENDED, framing layer (Table 6-3: Flags and Length
    38, Vector 40 = VECTOR_E131_EXTENDED_DISCOVERY, Source Name[64] 44,
    Reserved[4] 108), universe discovery layer (Table 8-1: Flags and Length
    112, Vector 114, Page 118, Last Page 119, List of Universes 120, each 2
    bytes, sorted ascending, at most 512)."""
    vector, cid = _root(data)
    if vector != VECTOR_ROOT_E131_EXTENDED:
        raise ValueError(f"root vector 0x{vector:08x} is not VECTOR_ROOT_E131_EXTENDED")
    if len(data) < 120:
        raise ValueError(f"discovery packet of {len(data)} bytes, at least 120 expected")
    _flags_length(data, 38, "framing layer")
    if _u32(data, 40) != VECTOR_E131_EXTENDED_DISCOVERY:
        raise ValueError(f"framing vector 0x{_u32(data, 40):08x} is not discovery")
    _flags_length(data, 112, "discovery layer")
    if _u32(data, 114) != VECTOR_UNIVERSE_DISCOVERY_UNIVERSE_LIST:
        raise ValueError(f"discovery vector 0x{_u32(data, 114):08x}, expected 0x00000001")
    if (len(data) - 120) % 2:
        raise ValueError("odd-length List of Universes")
    universes = [_u16(data, i) for i in range(120, len(data), 2)]
    if len(universes) > 512:
        raise ValueError(f"{len(universes)} universes on one page, at most 512")
    return {
        "op": "discovery",
        "cid": cid,
        "source_name": _source_name(data[44:108]),
        "reserved": bytes(data[108:112]),
        "page": data[118],
        "last_page": data[119],
        "universes": universes,
    }


def parse_e131(data):
    """Any E1.31 packet the hub sends: data or universe discovery."""
    if is_e131_data(data):
        return parse_e131_data(data)
    if is_e131_discovery(data):
        return parse_e131_discovery(data)
    raise ValueError("not an E1.31 data or universe discovery packet")


# ---------------------------------------------------------------- sequences

def artnet_next_sequence(seq):
    """The ArtDmx Sequence after seq for a sender that never sends 0: 1..255, 255 -> 1."""
    return seq % 255 + 1


def e131_next_sequence(seq):
    """E1.31 sequence numbers simply wrap: 255 -> 0."""
    return (seq + 1) & 0xFF


# ---------------------------------------------------------------- network namespace

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


@contextlib.contextmanager
def loopback_only_netns():
    """Move the calling thread into a new network namespace whose only
    interface is lo (brought up), and back afterwards.

    Sockets the thread creates meanwhile, and processes it starts (fork
    copies the thread's namespace), live in that namespace; other threads
    are not moved. Nothing sent there can leave the host: with no route but
    127.0.0.0/8, sendto() to any other address fails at once with
    ENETUNREACH. Needs CAP_SYS_ADMIN; raises OSError otherwise."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"unshare(CLONE_NEWNET): {os.strerror(e)}")
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                req = struct.pack("16sH14x", b"lo", 0)
                flags = struct.unpack_from("H", fcntl.ioctl(s, _SIOCGIFFLAGS, req), 16)[0]
                fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, f"setns back to the original network namespace: "
                                 f"{os.strerror(e)}")
    finally:
        os.close(home)
