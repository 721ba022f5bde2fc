"""A minimal MQTT 3.1.1 client for MicroPython (and CPython).

micropython-lib's ``umqtt.simple`` could not be installed here (``mip``
needs micropython.org; the PyPI sdists ``micropython-umqtt.simple`` and
``-simple2`` are not pip-installable), so Sparrow carries this one, written
from the MQTT 3.1.1 specification (OASIS, 2014). It does what a Sparrow node
needs and no more:

* CONNECT with a client id, clean-session flag, keep-alive and a Last Will
  (topic, message, QoS, retain); CONNACK checked;
* PUBLISH at QoS 0 or 1 (QoS 1 waits for its PUBACK, handling messages that
  arrive meanwhile), with retain;
* SUBSCRIBE (waits for SUBACK, refused filters raise);
* incoming PUBLISH at QoS 0 and 1 (PUBACK sent), handed to a callback;
* PINGREQ when the keep-alive is half gone; DISCONNECT.

Only ``socket``, ``select`` and ``time`` are used, so the same file runs on
the unix port and on an ESP32 (where the socket comes from the Wi-Fi stack).
Errors are ``MQTTError`` (an ``OSError``); after one, reconnect.
"""
import socket
import struct
import time

try:
    import select
except ImportError:  # pragma: no cover - every port Sparrow targets has select
    select = None

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
SUBSCRIBE = 0x82
SUBACK = 0x90
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0

#: Longest packet this client accepts (a dense model of the watch CNN is 13 KB).
MAX_PACKET = 1 << 20


class MQTTError(OSError):
    """A protocol error, a refused connection or subscription, or a timeout."""


def _ticks():
    return time.time()


def _encode_length(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


class MQTTClient:
    """One connection to a broker.

    Parameters
    ----------
    client_id : str
        The MQTT client id.
    host, port : str, int
        The broker.
    keepalive : int
        Seconds; a PINGREQ is sent when half of it passed without traffic.
    timeout : float
        Longest wait for the broker's answer to CONNECT, SUBSCRIBE or a QoS 1
        PUBLISH, and for the rest of a packet once its first byte arrived.
    username, password : str or None
        The broker account (a fleet's ``node-<id>``, docs/deploy.md); None:
        anonymous.
    """

    def __init__(self, client_id: str, host: str, port: int = 1883, keepalive: int = 30,
                 timeout: float = 10.0, username=None, password=None) -> None:
        self.client_id = client_id
        self.username = username
        self.password = password
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.timeout = timeout
        self.sock = None
        self.callback = None
        self.will = None
        self._pid = 0
        self._last_sent = 0.0
        self.sent_bytes = 0
        self.received_bytes = 0

    def set_callback(self, callback: "Callable[[bytes, bytes], None]") -> None:
        """``callback(topic: bytes, payload: bytes)`` for every message received."""
        self.callback = callback

    def set_last_will(self, topic: str, message: bytes, retain: bool = False, qos: int = 0) -> None:
        """The message the broker publishes when this client vanishes."""
        self.will = (topic, message, retain, qos)

    # -- wire -------------------------------------------------------------------------

    def _send(self, data):
        view = memoryview(data)
        while view:
            sent = self.sock.send(view)
            if sent is None or sent <= 0:
                raise MQTTError("socket closed while sending")
            view = view[sent:]
        self._last_sent = _ticks()
        self.sent_bytes += len(data)

    def _recv_exact(self, n):
        out = bytearray()
        deadline = _ticks() + self.timeout
        while len(out) < n:
            if _ticks() > deadline:
                raise MQTTError("timed out inside a packet")
            try:
                part = self.sock.recv(n - len(out))
            except OSError as exc:
                if exc.args and exc.args[0] in (11, 110):  # EAGAIN, ETIMEDOUT
                    continue
                raise
            if not part:
                raise MQTTError("connection closed by the broker")
            out += part
        self.received_bytes += n
        return bytes(out)

    def _readable(self, timeout):
        if select is None:
            return True
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(int(timeout * 1000)))

    def _read_packet(self, timeout):
        """(type byte, body) of the next packet, or None when none came in ``timeout`` s."""
        if not self._readable(timeout):
            return None
        first = self._recv_exact(1)[0]
        length = 0
        shift = 0
        while True:
            byte = self._recv_exact(1)[0]
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("malformed remaining length")
        if length > MAX_PACKET:
            raise MQTTError("packet of %d bytes exceeds MAX_PACKET" % length)
        return first, self._recv_exact(length) if length else b""

    def _packet(self, kind, body):
        self._send(bytes([kind]) + _encode_length(len(body)) + body)

    # -- session ----------------------------------------------------------------------

    def connect(self, clean_session: bool = True) -> bool:
        """Open the TCP connection and the MQTT session; returns the session-present flag."""
        addr = socket.getaddrinfo(self.host, self.port)[0][-1]
        self.sock = socket.socket()
        self.sock.settimeout(self.timeout)
        self.sock.connect(addr)
        flags = 0x02 if clean_session else 0
        payload = _string(self.client_id)
        if self.will is not None:
            topic, message, retain, qos = self.will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            payload += _string(topic) + _string(message)
        if self.username is not None:
            flags |= 0x80
            payload += _string(self.username)
            if self.password is not None:
                flags |= 0x40
                payload += _string(self.password)
        body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", self.keepalive) + payload
        self._packet(CONNECT, body)
        got = self._read_packet(self.timeout)
        if got is None or got[0] != CONNACK or len(got[1]) != 2:
            raise MQTTError("no CONNACK from the broker")
        if got[1][1] != 0:
            raise MQTTError("broker refused the connection, return code %d" % got[1][1])
        return bool(got[1][0] & 1)

    def disconnect(self) -> None:
        """Say DISCONNECT (the Last Will is not published) and close the socket."""
        try:
            self._packet(DISCONNECT, b"")
        finally:
            self.close()

    def close(self) -> None:
        """Close the socket without DISCONNECT (the broker will publish the Last Will)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # -- messages ---------------------------------------------------------------------

    def _next_pid(self):
        self._pid = self._pid % 0xFFFF + 1
        return self._pid

    def publish(self, topic: str, payload: bytes, retain: bool = False, qos: int = 0) -> None:
        """Publish; at QoS 1 return once the broker's PUBACK arrived."""
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        body = _string(topic)
        pid = 0
        if qos:
            pid = self._next_pid()
            body += struct.pack("!H", pid)
        self._packet(PUBLISH | (qos << 1) | (1 if retain else 0), body + bytes(payload))
        if qos:
            self._wait_for(PUBACK, pid)

    def subscribe(self, topic: str, qos: int = 0) -> None:
        """Subscribe to a topic filter; waits for the SUBACK."""
        pid = self._next_pid()
        self._packet(SUBSCRIBE, struct.pack("!H", pid) + _string(topic) + bytes([qos]))
        body = self._wait_for(SUBACK, pid)
        if body[2] == 0x80:
            raise MQTTError("broker refused the subscription to %s" % topic)

    def _wait_for(self, kind, pid):
        deadline = _ticks() + self.timeout
        while True:
            left = deadline - _ticks()
            if left <= 0:
                raise MQTTError("no answer of type 0x%02x for packet id %d" % (kind, pid))
            got = self._read_packet(left)
            if got is None:
                continue
            if got[0] & 0xF0 == kind & 0xF0 and len(got[1]) >= 2 and struct.unpack("!H", got[1][:2])[0] == pid:
                return got[1]
            self._dispatch(*got)

    def _dispatch(self, first, body):
        kind = first & 0xF0
        if kind == PUBLISH:
            qos = (first >> 1) & 3
            tlen = struct.unpack("!H", body[:2])[0]
            topic = body[2:2 + tlen]
            pos = 2 + tlen
            if qos:
                pid = body[pos:pos + 2]
                pos += 2
                self._packet(PUBACK, pid)
            if self.callback is not None:
                self.callback(topic, body[pos:])
        elif kind in (PINGRESP, PUBACK, SUBACK):
            return
        else:
            raise MQTTError("unexpected packet type 0x%02x" % first)

    def check_msg(self, timeout: float = 0.0) -> None:
        """Handle what arrives within ``timeout`` seconds; ping when the keep-alive asks for it."""
        if self.keepalive and _ticks() - self._last_sent > self.keepalive / 2:
            self._packet(PINGREQ, b"")
        deadline = _ticks() + timeout
        while True:
            got = self._read_packet(max(0.0, deadline - _ticks()))
            if got is None:
                return
            self._dispatch(*got)
            if _ticks() >= deadline:
                return
