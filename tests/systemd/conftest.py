"""Fixtures for the tests under a real systemd: nodes booted by :mod:`tests.support.nspawn`.

A booted node is shared by the tests of a module (``sd_node``, module scope)
where they do not interfere; :meth:`Node.reset` gives each test a node
without twinstar state or running twinstar units.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import require_root
from tests.support.nspawn import Node, boot_nodes


def require_nspawn() -> None:
    require_root("booting systemd in a container")
    if shutil.which("systemd-nspawn") is None:
        pytest.fail("systemd-nspawn is missing: install systemd-container (sh .ci/setup does)")


@pytest.fixture(scope="module")
def sd_node() -> Iterator[Node]:
    """One node under a real systemd with twinstar installed by ``make install``, shared by a module."""
    require_nspawn()
    with boot_nodes(1) as (node,):
        yield node


@pytest.fixture
def node(sd_node: Node) -> Node:
    """The module's node, reset: no twinstar unit running or failed, no state, no configuration."""
    sd_node.reset()
    return sd_node
