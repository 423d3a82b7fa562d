"""``read_link``: an interface read over rtnetlink gives what ``ip -j addr show`` prints.

Real: network namespaces (``tswd-...``) joined by a veth pair, addresses in
10.213.71.0/24 and 10.213.0.0/16 inside them only; the reader runs in the
namespace through ``ip netns exec``, ``ip`` prints the same interface for
comparison. Nothing is a stand-in.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import REPO
from tests.support.rigs import Pair, netns_pair, run

pytestmark = pytest.mark.privileged

READ = """
import json, sys
from twinstar.net.iproute import LinkError, read_link
try:
    link = read_link(sys.argv[1])
except LinkError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps({"flags": link.flags, "operstate": link.operstate, "addresses": [a.with_prefixlen for a in link.addresses],
                      "admin_up": link.admin_up, "carrier": link.carrier}))
"""


@pytest.fixture
def pair() -> Iterator[Pair]:
    with netns_pair("10.213.71.2/24", prefix="tswd") as p:
        yield p


def read(ns: str, interface: str) -> dict[str, object]:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", READ, interface], capture_output=True, text=True, timeout=60, cwd=REPO, check=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def shown_by_ip(ns: str, interface: str) -> dict[str, object]:
    (entry,) = json.loads(run("ip", "-n", ns, "-j", "addr", "show", "dev", interface))
    return {
        "flags": set(entry["flags"]) - {"NO-CARRIER"},  # ip's word for UP without LOWER_UP, not a kernel flag
        "operstate": entry["operstate"],
        "addresses": sorted(f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info", ()) if a["family"] == "inet"),
    }


def as_ip_shows(link: dict[str, object]) -> dict[str, object]:
    return {"flags": set(link["flags"]), "operstate": link["operstate"], "addresses": sorted(link["addresses"])}  # type: ignore[call-overload]


def test_addresses_flags_and_state_are_those_ip_prints(pair: Pair) -> None:
    """Primary, secondary and another prefix's addresses, the peer's too; up with carrier."""
    for address in ("10.213.71.10/24", "10.213.71.11/24", "10.213.72.1/16"):
        run("ip", "-n", pair.a, "addr", "add", address, "dev", pair.if_a)
    link = read(pair.a, pair.if_a)
    assert as_ip_shows(link) == shown_by_ip(pair.a, pair.if_a)
    assert link["admin_up"] is link["carrier"] is True
    assert ipaddress.IPv4Interface("10.213.71.11/24").with_prefixlen in link["addresses"]  # type: ignore[operator]
    assert as_ip_shows(read(pair.b, pair.if_b)) == shown_by_ip(pair.b, pair.if_b)


def test_a_peer_gone_down_leaves_no_carrier_and_a_link_set_down_is_not_up(pair: Pair) -> None:
    run("ip", "-n", pair.b, "link", "set", pair.if_b, "down")
    link = read(pair.a, pair.if_a)
    assert (link["admin_up"], link["carrier"]) == (True, False)
    assert as_ip_shows(link) == shown_by_ip(pair.a, pair.if_a)
    run("ip", "-n", pair.a, "link", "set", pair.if_a, "down")
    link = read(pair.a, pair.if_a)
    assert (link["admin_up"], link["carrier"], link["operstate"]) == (False, False, "DOWN")
    assert as_ip_shows(link) == shown_by_ip(pair.a, pair.if_a)


def test_a_missing_interface_is_named(pair: Pair) -> None:
    assert str(read(pair.a, "tswd-none0")["error"]).startswith("interface tswd-none0 does not exist")


def change(ns: str, what: str, interface: str, address: str) -> str:
    code = (
        "import ipaddress, sys\n"
        "from twinstar.net.iproute import LinkError, add_address, delete_address\n"
        "try:\n"
        f"    {what}(sys.argv[1], ipaddress.IPv4Interface(sys.argv[2]))\n"
        "except LinkError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", code, interface, address], capture_output=True, text=True, timeout=60, cwd=REPO, check=True
    )
    return out.stdout.strip()


def test_an_address_is_added_and_removed_as_ip_does_it_and_twice_is_refused(pair: Pair) -> None:
    assert change(pair.a, "add_address", pair.if_a, "10.213.71.10/24") == ""
    assert "10.213.71.10/24" in shown_by_ip(pair.a, pair.if_a)["addresses"]  # type: ignore[operator]
    assert change(pair.a, "add_address", pair.if_a, "10.213.71.10/24") == f"interface {pair.if_a}: File exists"
    assert change(pair.a, "add_address", pair.if_a, "10.213.72.1/16") == ""  # another address, another prefix: beside it
    assert change(pair.a, "delete_address", pair.if_a, "10.213.71.10/24") == ""
    assert shown_by_ip(pair.a, pair.if_a)["addresses"] == ["10.213.72.1/16"]
    assert change(pair.a, "delete_address", pair.if_a, "10.213.71.10/24").startswith(f"interface {pair.if_a}: ")
    assert change(pair.a, "add_address", "tswd-none0", "10.213.71.10/24").startswith("interface tswd-none0 does not exist")
