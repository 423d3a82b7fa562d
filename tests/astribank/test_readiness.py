"""Readiness: exact matching of listed entries against present units (pure)."""

from __future__ import annotations

from pathlib import Path

from twinstar.astribank import readiness, sysfs, xpporder
from twinstar.standins.fakesysfs import FakeSysfs


def _compute(tmp_path: Path, order: bytes) -> readiness.Readiness:
    return readiness.compute(xpporder.parse(order, "/x").entries, sysfs.scan(str(tmp_path)))


def test_states_and_the_summary_line(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(0, label="usb:00000001", connector="usb-0000:00:1d.7-1")
    fs.arrive(1, label="usb:00000002", connector="usb-0000:00:1d.7-2")
    fs.create_unit(2)
    fs.attach(2, label="usb:00000003", connector="usb-0000:00:1d.7-3")
    fs.set_state(2, "RECVD_DESC")
    fs.arrive(3, label="usb:00000099", connector="usb-0000:00:1d.7-9")
    fs.create_unit(4)  # still probing
    order = (
        b"usb:00000001\n"
        b"@usb-0000:00:1d.7-2\n"
        b"usb:00000003\n"
        b"usb:00000135\t# @usb-0000:00:1d.7-5 #(XBUS-05)\n"
    )
    r = _compute(tmp_path, order)
    assert [i.state for i in r.listed] == ["ready", "ready", "waiting", "missing"]
    assert r.ready_count == 2 and not r.all_ready and not r.none_present
    assert [u.name for u in r.unlisted] == ["xbus-03"] and [u.name for u in r.unidentified] == ["xbus-04"]
    assert r.summary() == (
        "2/4 ready, missing usb:00000135 (@usb-0000:00:1d.7-5), waiting usb:00000003 (RECVD_DESC, connected), "
        "unlisted usb:00000099 (xbus-03), unidentified xbus-04"
    )


def test_an_unidentified_unit_with_a_problem_is_named_once(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.create_unit(4)
    fs.write_attr(4, "label", "")
    (Path(fs.node(4)) / "label").unlink()
    (Path(fs.node(4)) / "label").mkdir()
    r = _compute(tmp_path, b"usb:1\n")
    assert r.summary() == "0/1 ready, missing usb:1, unidentified xbus-04 (label: is a directory, expected a regular file)"


def test_empty_label_never_matches(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(0, label="", connector="usb-1")  # a unit without a serial number
    r = _compute(tmp_path, b"usb:1\n")
    assert r.listed[0].state == "missing" and [u.name for u in r.unlisted] == ["xbus-00"]
    r = _compute(tmp_path, b"@usb-1\n")
    assert r.all_ready


def test_matching_is_exact_no_patterns(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(0, label="usb:a.c", connector="usb-0000:00:1d.7-1")
    for order in (b"usb:abc\n", b"usb:a\n", b"usb:.*\n", b"@usb-0000:00:1d.7-\n", b"@usb-0000X00:1d.7-1\n"):
        assert _compute(tmp_path, order).listed[0].state == "missing", order
    assert _compute(tmp_path, b"usb:a.c\n").all_ready


def test_hostile_and_non_utf8_labels_match_exactly(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    labels = [b"$(touch x)", b"`id`;x", b"a'b\"c d", b"usb:\xff\xfe", b"%s%n"]
    for i, lab in enumerate(labels):
        fs.arrive(i, label=lab, connector=f"usb-{i}")
    r = _compute(tmp_path, b"".join(lab + b"\n" for lab in labels))
    assert r.all_ready and r.ready_count == 5
    shown = _compute(tmp_path, b"usb:\xff\xfe\nnot-here\n").summary()
    assert shown.startswith("1/2 ready, missing not-here, unlisted '$(touch x)' (xbus-00)")
    assert "\n" not in shown


def test_a_unit_listed_twice_or_two_units_for_one_entry_is_a_conflict(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(0, label="usb:1", connector="usb-1")
    r = _compute(tmp_path, b"usb:1\n@usb-1\n")
    assert [i.state for i in r.listed] == ["ready", "conflict"] and not r.all_ready
    fs.arrive(1, label="usb:1", connector="usb-2")  # same serial twice
    r = _compute(tmp_path, b"usb:1\n")
    assert r.listed[0].state == "conflict" and "2 units match" in r.listed[0].detail and not r.all_ready


def test_leaving_units_count_as_gone(tmp_path: Path) -> None:
    fs = FakeSysfs(str(tmp_path))
    fs.arrive(0, label="usb:0", connector="usb-0")
    fs.arrive(1, label="usb:1", connector="usb-1")
    fs.offline(0)
    r = _compute(tmp_path, b"usb:0\nusb:1\n")
    assert not r.none_present
    fs.offline(1, state="FAIL")
    r = _compute(tmp_path, b"usb:0\nusb:1\n")
    assert r.none_present and [i.state for i in r.listed] == ["leaving", "leaving"]


def test_summary_is_bounded(tmp_path: Path) -> None:
    r = _compute(tmp_path, b"".join(f"usb:{i}\n".encode() for i in range(64)))
    assert r.summary().endswith("and 56 more") and r.none_present
