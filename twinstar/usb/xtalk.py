"""XTALK frames: the 5-byte header every MPP message carries, and the generic ACK.

Pure byte handling, no I/O. A frame is ``len`` (u16, whole frame including the
header), ``seq`` (u16) and ``op`` (u8), little-endian, followed by the payload
(astribank-platform.md section 2). Replies have bit 7 of ``op`` set; a reply
op is the request op OR 0x80; ``0x80`` is the generic ACK carrying one status
byte.

Decoding never trusts the device: every mismatch raises :class:`FrameError`
with a sentence saying what was expected and what arrived, which the
transport turns into an error naming the unit.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from twinstar.usb.values import Value

HEADER = struct.Struct("<HHB")
HEADER_LEN = HEADER.size  # 5
MAX_FRAME = 512  # the smallest bulk wMaxPacketSize at high speed; larger frames are refused
REPLY_BIT = 0x80
OP_ACK = 0x80
OP_PROTO_GET = 0x01
OP_PROTO_REPLY = 0x81


class FrameError(ValueError):
    """Bytes that are not the frame that was expected (the message says why)."""


class AckStatus(IntEnum):
    """Status byte of the generic ACK (``include/xtalk/firmware_defs.h``)."""

    OK = 0x00
    FAILED = 0x01
    RESET_FAILED = 0x02
    NO_DESTINATION = 0x03
    MISMATCH = 0x04
    NO_ACCESS = 0x05
    BAD_COMMAND = 0x06
    TOO_SHORT = 0x07
    OFFSET_ERROR = 0x08
    NEVER_BURNED = 0x09
    NO_LARGE_EEPROM = 0x0A
    NO_EEPROM = 0x0B
    WRITE_FAILED = 0x0C
    FPGA_ERROR = 0x0D
    BAD_CAPS_KEY = 0x0E
    NO_CAPABILITY = 0x0F
    NOPWR = 0x10
    CAPS_FPGA = 0x11


ACK_MESSAGES: dict[int, str] = {
    AckStatus.OK: "OK",
    AckStatus.FAILED: "failed",
    AckStatus.RESET_FAILED: "reset failed",
    AckStatus.NO_DESTINATION: "no destination",
    AckStatus.MISMATCH: "mismatch",
    AckStatus.NO_ACCESS: "no access",
    AckStatus.BAD_COMMAND: "bad command",
    AckStatus.TOO_SHORT: "command too short",
    AckStatus.OFFSET_ERROR: "offset error",
    AckStatus.NEVER_BURNED: "source was never burned",
    AckStatus.NO_LARGE_EEPROM: "no large EEPROM",
    AckStatus.NO_EEPROM: "no EEPROM",
    AckStatus.WRITE_FAILED: "write failed",
    AckStatus.FPGA_ERROR: "FPGA error",
    AckStatus.BAD_CAPS_KEY: "bad capabilities key",
    AckStatus.NO_CAPABILITY: "no matching capability",
    AckStatus.NOPWR: "no power on the USB connector",
    AckStatus.CAPS_FPGA: "capabilities set while the FPGA is loaded",
}


def ack_message(status: int) -> str:
    """A readable text for an ACK status byte, also for codes the table does not know."""
    text = ACK_MESSAGES.get(status)
    return f"{text} (status 0x{status:02X})" if text else f"unknown status 0x{status:02X}"


class Frame(Value):
    """One XTALK message: sequence number, operation and payload."""

    __slots__ = ("seq", "op", "payload")

    def __init__(self, seq: int, op: int, payload: bytes = b"") -> None:
        if not 0 <= seq <= 0xFFFF:
            raise FrameError(f"sequence {seq} does not fit in 16 bits")
        if not 0 <= op <= 0xFF:
            raise FrameError(f"op {op} does not fit in 8 bits")
        if HEADER_LEN + len(payload) > MAX_FRAME:
            raise FrameError(f"frame of {HEADER_LEN + len(payload)} bytes exceeds the {MAX_FRAME}-byte limit")
        self.seq = seq
        self.op = op
        self.payload = payload

    @property
    def length(self) -> int:
        return HEADER_LEN + len(self.payload)

    @property
    def is_reply(self) -> bool:
        return bool(self.op & REPLY_BIT)

    def encode(self) -> bytes:
        return HEADER.pack(self.length, self.seq, self.op) + self.payload


def decode(data: bytes) -> Frame:
    """Parse one whole frame; the byte count must equal the header's ``len``."""
    if len(data) < HEADER_LEN:
        raise FrameError(f"{len(data)} bytes is shorter than the {HEADER_LEN}-byte header")
    length, seq, op = HEADER.unpack_from(data)
    if length != len(data):
        raise FrameError(f"header says {length} bytes but {len(data)} bytes arrived")
    return Frame(seq=seq, op=op, payload=bytes(data[HEADER_LEN:]))


def ack(seq: int, status: int) -> Frame:
    """The generic ACK a device sends for a SET command."""
    return Frame(seq=seq, op=OP_ACK, payload=bytes([status]))


def check_reply(
    request: Frame, reply: Frame, *, op_name: str, reply_op: int | None, min_payload: int
) -> Frame:
    """Check ``reply`` against ``request`` the way libxtalk's synchronous exchange does.

    ``reply_op`` None means the command has no reply op of its own and expects
    the generic ACK with status OK; otherwise the reply must carry that op,
    at least ``min_payload`` payload bytes and the request's sequence number.
    Raises :class:`FrameError`; an ACK with a non-OK status raises
    :class:`AckError` so callers can react to a specific status (NOPWR).
    """
    if not reply.is_reply:
        raise FrameError(f"reply to {op_name} has op 0x{reply.op:02X}, which is not a reply op")
    if reply.seq != request.seq:
        raise FrameError(f"reply to {op_name} has sequence {reply.seq}, expected {request.seq}")
    if reply.op == OP_ACK:
        if len(reply.payload) < 1:
            raise FrameError(f"ACK to {op_name} is {reply.length} bytes, expected at least {HEADER_LEN + 1}")
        status = reply.payload[0]
        if reply_op is None and status == AckStatus.OK:
            return reply
        raise AckError(op_name, status)
    expected = reply_op if reply_op is not None else OP_ACK
    if reply.op != expected:
        raise FrameError(f"reply to {op_name} has op 0x{reply.op:02X}, expected 0x{expected:02X}")
    if len(reply.payload) < min_payload:
        raise FrameError(
            f"reply to {op_name} is {reply.length} bytes, expected at least {HEADER_LEN + min_payload}"
        )
    return reply


class AckError(FrameError):
    """The device answered with an ACK whose status is not OK."""

    def __init__(self, op_name: str, status: int) -> None:
        super().__init__(f"{op_name} refused by the unit: {ack_message(status)}")
        self.op_name = op_name
        self.status = status
