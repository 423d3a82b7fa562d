"""MPP, the Astribank management dialect of XTALK: the TwinStar operations.

Two layers: pure payload codecs and the capability decision
(:func:`twinstar_capability`), and :class:`MppSession`, the synchronous
request/reply exchange over any :class:`Pipe` (the USB transport in
production). Layouts are in astribank-platform.md section 3.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from twinstar.usb import xtalk
from twinstar.usb.errors import NoPowerError, UsbProtocolError
from twinstar.usb.values import Value

TYPE_CHECKING = False

VENDOR_ID = 0xE4E4
TWINSTAR_FAMILY = 0x1160
FAMILY_MASK = 0xFFF0
#: Products whose USB firmware is loaded and answer MPP (``Dahdi::Xpp::Mpp``: /116[12]/).
MPP_PRODUCTS = (0x1161, 0x1162)
MPP_VERSION = 0x14


class Op(IntEnum):
    """MPP request ops used by twinstar (the reply op is ``op | 0x80`` unless ACKed)."""

    CAPS_GET = 0x0E
    STATUS_GET = 0x11
    EXTRAINFO_GET = 0x13
    WD_MODE_SET = 0x31
    WD_MODE_GET = 0x32
    PORT_SET = 0x34
    PORT_GET = 0x35
    PWR_GET = 0x36


#: Payload bytes each reply carries at least.
STATUS_LEN = 2 + 3 * 6
CAPS_LEN = 16 + 12 + 16
EEPROM_TABLE = struct.Struct("<BHHHB8s")
CAPABILITIES = struct.Struct("<BBBBBBxxI")


class EepromType(IntEnum):
    NONE = 0
    SMALL = 1
    LARGE = 2
    UNUSED = 3


class FirmwareStatus(Value):
    """STATUS_GET: EEPROM type, FPGA state, firmware versions."""

    __slots__ = ("eeprom_type", "fpga_loaded", "usb_version", "fpga_version", "eeprom_version")

    def __init__(
        self, eeprom_type: EepromType, fpga_loaded: bool, usb_version: str, fpga_version: str, eeprom_version: str
    ) -> None:
        self.eeprom_type = eeprom_type
        self.fpga_loaded = fpga_loaded
        self.usb_version = usb_version
        self.fpga_version = fpga_version
        self.eeprom_version = eeprom_version


class Capabilities(Value):
    """CAPS_GET: the EEPROM table and the capability bits."""

    __slots__ = ("source", "vendor", "product", "release", "label", "fxs", "fxo", "bri", "pri", "twinstar", "echo")

    def __init__(
        self, source: int, vendor: int, product: int, release: int, label: str,
        fxs: int, fxo: int, bri: int, pri: int, twinstar: bool, echo: int,
    ) -> None:
        self.source = source
        self.vendor = vendor
        self.product = product
        self.release = release
        self.label = label
        self.fxs = fxs
        self.fxo = fxo
        self.bri = bri
        self.pri = pri
        self.twinstar = twinstar
        self.echo = echo


def _text(raw: bytes) -> str:
    """Device text: stop at NUL, drop 0xFF padding, keep printable ASCII only."""
    raw = raw.split(b"\x00", 1)[0].rstrip(b"\xff")
    return "".join(chr(b) if 0x20 <= b < 0x7F else "_" for b in raw).strip()


def encode_status(status: FirmwareStatus) -> bytes:
    i2cs = (int(status.eeprom_type) & 3) << 3
    versions = b"".join(v.encode("ascii")[:6].ljust(6, b" ") for v in (
        status.usb_version, status.fpga_version, status.eeprom_version))
    return bytes([i2cs, 1 if status.fpga_loaded else 0]) + versions


def decode_status(payload: bytes) -> FirmwareStatus:
    if len(payload) < STATUS_LEN:
        raise xtalk.FrameError(f"STATUS_GET payload is {len(payload)} bytes, expected {STATUS_LEN}")
    i2cs, st = payload[0], payload[1]
    return FirmwareStatus(
        eeprom_type=EepromType((i2cs >> 3) & 3),
        fpga_loaded=bool(st & 1),
        usb_version=_text(payload[2:8]),
        fpga_version=_text(payload[8:14]),
        eeprom_version=_text(payload[14:20]),
    )


def encode_caps(caps: Capabilities, key: bytes = b"\x00" * 16) -> bytes:
    table = EEPROM_TABLE.pack(
        caps.source, caps.vendor, caps.product, caps.release, 0,
        caps.label.encode("ascii", "replace")[:8].ljust(8, b"\x00"),
    )
    bits = CAPABILITIES.pack(
        caps.fxs, caps.fxo, caps.bri, caps.pri, 1 if caps.twinstar else 0, caps.echo, 0
    )
    return table + bits + key[:16].ljust(16, b"\x00")


def decode_caps(payload: bytes) -> Capabilities:
    if len(payload) < CAPS_LEN:
        raise xtalk.FrameError(f"CAPS_GET payload is {len(payload)} bytes, expected {CAPS_LEN}")
    source, vendor, product, release, _config, label = EEPROM_TABLE.unpack_from(payload, 0)
    fxs, fxo, bri, pri, extra, echo, _ts = CAPABILITIES.unpack_from(payload, EEPROM_TABLE.size)
    return Capabilities(
        source=source, vendor=vendor, product=product, release=release, label=_text(label),
        fxs=fxs, fxo=fxo, bri=bri, pri=pri, twinstar=bool(extra & 1), echo=echo,
    )


def decode_power(value: int) -> tuple[bool, bool]:
    """PWR_GET: bit0 = USB-0 has VBUS, bit1 = USB-1."""
    return bool(value & 1), bool(value & 2)


def product_note(product_id: int) -> str | None:
    """Why a unit with this product id cannot be talked to over MPP, or None if it can."""
    if product_id & FAMILY_MASK != TWINSTAR_FAMILY:
        return f"product {product_id:04x} is not of the TwinStar family (116x)"
    if product_id == 0x1160:
        return "product 1160: USB firmware not loaded"
    if product_id == 0x1163:
        return "product 1163 (TwinStar monitor) has no management interface"
    if product_id not in MPP_PRODUCTS:
        return f"product {product_id:04x} does not answer MPP"
    return None


def twinstar_capability(product_id: int, status: FirmwareStatus, caps: Capabilities) -> str | None:
    """None when the unit is TwinStar-capable, else the reason it is not (section 3)."""
    note = product_note(product_id)
    if note:
        return note
    if status.eeprom_type != EepromType.LARGE:
        return f"EEPROM type is {status.eeprom_type.name.lower()}, TwinStar needs a large EEPROM"
    if not caps.twinstar:
        return "the TwinStar capability bit is not set"
    if caps.product & FAMILY_MASK != TWINSTAR_FAMILY:
        return f"EEPROM product is {caps.product:04x}, expected 116x"
    return None


# --- the synchronous exchange ----------------------------------------------------------


if TYPE_CHECKING:  # a type only: the transport (and a test's scripted pipe) has these methods
    from typing import Protocol

    class Pipe(Protocol):
        """The management endpoints of one claimed unit."""

        def write(self, data: bytes, *, timeout_ms: int, op_name: str) -> None: ...

        def read(self, *, timeout_ms: int, op_name: str, silence_ok: bool = False) -> bytes:
            """One bulk read; with ``silence_ok`` a timeout or a vanished unit reads as b''."""
            ...


DEFAULT_TIMEOUT_MS = 2000
#: How long to listen for a refusal after PORT_SET; silence is the normal answer.
PORT_SET_REPLY_TIMEOUT_MS = 500


class MppSession:
    """Numbered request/reply exchanges with one unit (sequence starts at 1 per open)."""

    def __init__(self, pipe: Pipe, unit: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        self.pipe = pipe
        self.unit = unit
        self.timeout_ms = timeout_ms
        self.seq = 1

    def _send(self, op: Op, payload: bytes) -> xtalk.Frame:
        request = xtalk.Frame(seq=self.seq, op=int(op), payload=payload)
        self.pipe.write(request.encode(), timeout_ms=self.timeout_ms, op_name=op.name)
        self.seq = (self.seq + 1) & 0xFFFF
        return request

    def _check(self, request: xtalk.Frame, raw: bytes, op: Op, *, acked: bool, min_payload: int) -> bytes:
        try:
            reply = xtalk.check_reply(
                request, xtalk.decode(raw), op_name=op.name,
                reply_op=None if acked else int(op) | xtalk.REPLY_BIT, min_payload=min_payload,
            )
        except xtalk.FrameError as exc:
            raise UsbProtocolError(f"{self.unit}: protocol error: {exc}") from None
        return reply.payload

    def exchange(self, op: Op, payload: bytes = b"", *, acked: bool = False, min_payload: int = 0) -> bytes:
        """Send ``op`` and return the checked reply payload (the ACK's for SET commands)."""
        request = self._send(op, payload)
        raw = self.pipe.read(timeout_ms=self.timeout_ms, op_name=op.name)
        if not raw:
            raise UsbProtocolError(
                f"{self.unit}: protocol error: no reply to {op.name} (an empty read)",
                hint="the unit may be resetting; try again, and check its firmware with astribank_tool -Q",
            )
        return self._check(request, raw, op, acked=acked, min_payload=min_payload)

    def status(self) -> FirmwareStatus:
        return decode_status(self.exchange(Op.STATUS_GET, min_payload=STATUS_LEN))

    def caps(self) -> Capabilities:
        return decode_caps(self.exchange(Op.CAPS_GET, min_payload=CAPS_LEN))

    def watchdog(self) -> bool:
        return self.exchange(Op.WD_MODE_GET, min_payload=1)[0] == 1

    def set_watchdog(self, on: bool) -> None:
        self.exchange(Op.WD_MODE_SET, bytes([1 if on else 0]), acked=True)

    def port(self) -> int:
        value = self.exchange(Op.PORT_GET, min_payload=1)[0]
        if value not in (0, 1):
            raise UsbProtocolError(f"{self.unit}: protocol error: PORT_GET answered port {value}, expected 0 or 1")
        return value

    def power(self) -> tuple[bool, bool]:
        return decode_power(self.exchange(Op.PWR_GET, min_payload=1)[0])

    def set_port(self, port: int) -> None:
        """PORT_SET. The unit re-enumerates and normally never answers; an ACK is a refusal.

        The original tools never read this reply, so a NOPWR refusal went
        unnoticed; here a short read catches it.
        """
        if port not in (0, 1):
            raise ValueError(f"port must be 0 or 1, not {port}")
        request = self._send(Op.PORT_SET, bytes([port]))
        raw = self.pipe.read(timeout_ms=PORT_SET_REPLY_TIMEOUT_MS, op_name=Op.PORT_SET.name, silence_ok=True)
        if not raw:
            return
        try:
            xtalk.check_reply(request, xtalk.decode(raw), op_name="PORT_SET", reply_op=None, min_payload=1)
        except xtalk.AckError as exc:
            if exc.status == xtalk.AckStatus.NOPWR:
                raise NoPowerError(
                    f"{self.unit}: the unit refused to switch to port {port}: "
                    f"{xtalk.ack_message(exc.status)} (USB-{port} has no power)",
                    hint=f"check that the server on USB-{port} is up and cabled",
                ) from None
            raise UsbProtocolError(f"{self.unit}: protocol error: {exc}") from None
        except xtalk.FrameError as exc:
            raise UsbProtocolError(f"{self.unit}: protocol error: {exc}") from None
