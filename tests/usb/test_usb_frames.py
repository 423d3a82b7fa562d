"""XTALK frames and MPP payloads: round trips, the fact sheet's byte vectors, and every mismatch."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinstar.usb import mpp, xtalk
from twinstar.usb.errors import NoPowerError, UsbProtocolError

frames = st.builds(
    xtalk.Frame,
    seq=st.integers(0, 0xFFFF),
    op=st.integers(0, 0xFF),
    payload=st.binary(max_size=xtalk.MAX_FRAME - xtalk.HEADER_LEN),
)


@given(frames)
def test_frame_round_trip(frame: xtalk.Frame) -> None:
    raw = frame.encode()
    assert len(raw) == frame.length == xtalk.HEADER_LEN + len(frame.payload)
    assert int.from_bytes(raw[0:2], "little") == len(raw)
    assert xtalk.decode(raw) == frame


@given(frames, st.integers(1, 4))
def test_truncated_or_padded_frames_are_refused(frame: xtalk.Frame, cut: int) -> None:
    raw = frame.encode()
    with pytest.raises(xtalk.FrameError, match="arrived|shorter"):
        xtalk.decode(raw[:-cut] if len(raw) - cut >= 0 else b"")
    with pytest.raises(xtalk.FrameError, match="header says"):
        xtalk.decode(raw + b"\0" * cut)


def test_watchdog_on_with_sequence_3_matches_the_fact_sheet() -> None:
    assert xtalk.Frame(seq=3, op=mpp.Op.WD_MODE_SET, payload=b"\x01").encode() == bytes.fromhex("060003003101")
    assert xtalk.ack(3, xtalk.AckStatus.OK).encode() == bytes.fromhex("060003008000")
    assert xtalk.decode(bytes.fromhex("060003008000")) == xtalk.Frame(3, 0x80, b"\x00")


def test_frames_are_little_endian() -> None:
    raw = xtalk.Frame(seq=0x1234, op=0x35).encode()
    assert raw == bytes([5, 0, 0x34, 0x12, 0x35])


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(xtalk.FrameError):
        xtalk.Frame(seq=0x10000, op=1)
    with pytest.raises(xtalk.FrameError):
        xtalk.Frame(seq=1, op=0x100)
    with pytest.raises(xtalk.FrameError, match="512"):
        xtalk.Frame(seq=1, op=1, payload=b"x" * 508)


@pytest.mark.parametrize("status", list(xtalk.AckStatus))
def test_every_ack_status_has_a_readable_message(status: xtalk.AckStatus) -> None:
    text = xtalk.ack_message(status)
    assert f"0x{int(status):02X}" in text
    assert not text.startswith("unknown")


def test_unknown_ack_status() -> None:
    assert xtalk.ack_message(0x7F) == "unknown status 0x7F"
    assert "no power on the USB connector" in xtalk.ack_message(0x10)


REQ = xtalk.Frame(seq=7, op=mpp.Op.PORT_GET)


@pytest.mark.parametrize(
    ("reply", "acked", "message"),
    [
        (xtalk.Frame(7, 0xB5, b"\x01"), False, None),
        (xtalk.Frame(8, 0xB5, b"\x01"), False, "sequence 8, expected 7"),
        (xtalk.Frame(7, 0xB6, b"\x01"), False, "op 0xB6, expected 0xB5"),
        (xtalk.Frame(7, 0x35, b"\x01"), False, "not a reply op"),
        (xtalk.Frame(7, 0xB5, b""), False, "5 bytes, expected at least 6"),
        (xtalk.Frame(7, 0x80, b"\x06"), False, "bad command"),
        (xtalk.Frame(7, 0x80, b"\x00"), True, None),
        (xtalk.Frame(7, 0x80, b""), True, "ACK to PORT_GET is 5 bytes"),
        (xtalk.Frame(7, 0x80, b"\x10"), True, "no power on the USB connector"),
    ],
)
def test_check_reply(reply: xtalk.Frame, acked: bool, message: str | None) -> None:
    kwargs = {"op_name": "PORT_GET", "reply_op": None if acked else 0xB5, "min_payload": 1}
    if message is None:
        assert xtalk.check_reply(REQ, reply, **kwargs) == reply
    else:
        with pytest.raises(xtalk.FrameError, match=message):
            xtalk.check_reply(REQ, reply, **kwargs)


@given(
    st.sampled_from(list(mpp.EepromType)),
    st.booleans(),
    st.text(alphabet="0123456789.", max_size=6),
    st.text(alphabet="0123456789.", max_size=6),
)
def test_status_round_trip(eeprom: mpp.EepromType, fpga: bool, usb_v: str, fpga_v: str) -> None:
    status = mpp.FirmwareStatus(eeprom, fpga, usb_v, fpga_v, "1.4")
    raw = mpp.encode_status(status)
    assert len(raw) == mpp.STATUS_LEN
    assert mpp.decode_status(raw) == status


@given(
    st.integers(0, 0xFFFF),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", max_size=8),
    st.booleans(),
    st.integers(0, 255),
)
def test_caps_round_trip(product: int, label: str, twinstar: bool, fxs: int) -> None:
    caps = mpp.Capabilities(0xC2, 0xE4E4, product, 0x0104, label, fxs, 0, 0, 0, twinstar, 0)
    raw = mpp.encode_caps(caps)
    assert len(raw) == mpp.CAPS_LEN
    assert mpp.decode_caps(raw) == caps


def test_caps_layout_matches_the_fact_sheet() -> None:
    caps = mpp.Capabilities(0xC2, 0xE4E4, 0x1162, 0x0104, "AB", 8, 4, 0, 0, True, 0)
    raw = mpp.encode_caps(caps)
    assert raw[:8] == bytes([0xC2, 0xE4, 0xE4, 0x62, 0x11, 0x04, 0x01, 0x00])
    assert raw[8:10] == b"AB"
    assert raw[16:20] == bytes([8, 4, 0, 0])
    assert raw[20] & 1 == 1  # extra_features bit0 = TwinStar


def test_device_text_is_sanitised() -> None:
    raw = bytearray(mpp.encode_status(mpp.FirmwareStatus(mpp.EepromType.LARGE, True, "", "", "")))
    raw[2:8] = b"1\n\x1b[2\xff"
    assert mpp.decode_status(bytes(raw)).usb_version == "1__[2"


def test_power_bits() -> None:
    assert mpp.decode_power(0) == (False, False)
    assert mpp.decode_power(1) == (True, False)
    assert mpp.decode_power(2) == (False, True)
    assert mpp.decode_power(3) == (True, True)


def _caps(**kw: object) -> mpp.Capabilities:
    base = dict(source=0xC2, vendor=0xE4E4, product=0x1162, release=0x104, label="", fxs=8, fxo=0,
                bri=0, pri=0, twinstar=True, echo=0)
    base.update(kw)
    return mpp.Capabilities(**base)  # type: ignore[arg-type]


LARGE = mpp.FirmwareStatus(mpp.EepromType.LARGE, True, "", "", "")


@pytest.mark.parametrize(
    ("pid", "status", "caps", "reason"),
    [
        (0x1162, LARGE, _caps(), None),
        (0x1161, LARGE, _caps(), None),
        (0x1160, LARGE, _caps(), "firmware not loaded"),
        (0x1163, LARGE, _caps(), "monitor"),
        (0x1152, LARGE, _caps(), "not of the TwinStar family"),
        (0x1162, mpp.FirmwareStatus(mpp.EepromType.SMALL, True, "", "", ""), _caps(), "large EEPROM"),
        (0x1162, LARGE, _caps(twinstar=False), "capability bit"),
        (0x1162, LARGE, _caps(product=0x1152), "EEPROM product is 1152"),
    ],
)
def test_twinstar_capability(pid: int, status: mpp.FirmwareStatus, caps: mpp.Capabilities, reason: str | None) -> None:
    result = mpp.twinstar_capability(pid, status, caps)
    if reason is None:
        assert result is None
    else:
        assert result is not None and reason in result


class ScriptedPipe:
    """A Pipe that replays device replies: the exchange logic without USB."""

    def __init__(self, *replies: bytes) -> None:
        self.replies = list(replies)
        self.sent: list[bytes] = []

    def write(self, data: bytes, *, timeout_ms: int, op_name: str) -> None:
        self.sent.append(data)

    def read(self, *, timeout_ms: int, op_name: str, silence_ok: bool = False) -> bytes:
        return self.replies.pop(0) if self.replies else b""


def test_session_numbers_requests_from_one() -> None:
    pipe = ScriptedPipe(xtalk.Frame(1, 0xB5, b"\x01").encode(), xtalk.ack(2, 0).encode())
    s = mpp.MppSession(pipe, "usb:001/002")
    assert s.port() == 1
    s.set_watchdog(True)
    assert pipe.sent == [bytes.fromhex("0500010035"), bytes.fromhex("060002003101")]


def test_session_protocol_errors_name_the_unit() -> None:
    s = mpp.MppSession(ScriptedPipe(xtalk.Frame(9, 0xB5, b"\x01").encode()), "usb:001/002")
    with pytest.raises(UsbProtocolError, match=r"^usb:001/002: protocol error: reply to PORT_GET has sequence 9, expected 1"):
        s.port()
    s = mpp.MppSession(ScriptedPipe(b"\x09\x00\x01"), "usb:001/002")
    with pytest.raises(UsbProtocolError, match="shorter than the 5-byte header"):
        s.port()
    s = mpp.MppSession(ScriptedPipe(xtalk.Frame(1, 0xB5, b"\x07").encode()), "usb:001/002")
    with pytest.raises(UsbProtocolError, match="port 7, expected 0 or 1"):
        s.port()


def test_port_set_silence_is_success_and_nopwr_is_a_refusal() -> None:
    s = mpp.MppSession(ScriptedPipe(), "usb:001/002")
    s.set_port(1)
    s = mpp.MppSession(ScriptedPipe(xtalk.ack(1, xtalk.AckStatus.NOPWR).encode()), "usb:001/002")
    with pytest.raises(NoPowerError, match="usb:001/002: the unit refused to switch to port 1") as info:
        s.set_port(1)
    assert info.value.exit_status == 3
    s = mpp.MppSession(ScriptedPipe(xtalk.ack(1, xtalk.AckStatus.FAILED).encode()), "usb:001/002")
    with pytest.raises(UsbProtocolError, match="PORT_SET refused by the unit: failed"):
        s.set_port(0)
