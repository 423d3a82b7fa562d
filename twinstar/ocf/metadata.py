"""The meta-data of ``ocf:twinstar:astribank``, valid against resource-agents' ``ra-api-1.dtd``."""

from __future__ import annotations

from xml.sax.saxutils import escape

from twinstar import settings

NAME = "astribank"

#: Action -> its attributes; the timeouts are defaults Pacemaker proposes.
ACTIONS = (
    ("start", 'timeout="60s"'),
    ("stop", 'timeout="60s"'),
    ("monitor", 'timeout="20s" interval="10s" depth="0"'),
    ("meta-data", 'timeout="5s"'),
    ("validate-all", 'timeout="20s"'),
)

LONGDESC = (
    "Moves the Astribank TwinStar units between the two servers of a pair and brings DAHDI up "
    "on them. start waits (within its timeout) until the units are on this server's port and "
    "READY (a server cannot pull units from a live peer: the peer's stop sends them, or their "
    "hardware watchdog does when the peer dies), arms their watchdog and runs the twinstar "
    "takeover of the configuration (normally only its dahdi step). stop runs the release, turns "
    "the watchdog off and switches the units to the peer's port when it has power, confirming "
    "that they left. monitor: every unit here, READY, watchdog on, every takeover step up. "
    "validate-all runs the checks of twinstar check."
)

PARAMETERS = (
    (
        "config",
        "twinstar configuration",
        "The twinstar configuration file of this node (its xpp_order lists the units; its takeover "
        "is run by start and undone by stop).",
        settings.CONFIG_PATH,
    ),
    (
        "units",
        "unit labels",
        "The units this resource moves: their labels (usb:SERIAL, as listed in xpp_order), "
        "separated by blanks. Empty: every unit in xpp_order and every TwinStar unit this host sees.",
        "",
    ),
)


def meta_data(version: str) -> str:
    """The XML Pacemaker reads with the ``meta-data`` action."""
    params = "".join(
        f'<parameter name="{name}" unique="0" required="0">\n'
        f'<longdesc lang="en">{escape(long)}</longdesc>\n'
        f'<shortdesc lang="en">{escape(short)}</shortdesc>\n'
        f'<content type="string" default="{escape(default)}"/>\n'
        "</parameter>\n"
        for name, short, long, default in PARAMETERS
    )
    actions = "".join(f'<action name="{name}" {attributes}/>\n' for name, attributes in ACTIONS)
    return (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">\n'
        f'<resource-agent name="{NAME}" version="{escape(version)}">\n'
        "<version>1.0</version>\n"
        f'<longdesc lang="en">{escape(LONGDESC)}</longdesc>\n'
        '<shortdesc lang="en">Astribank TwinStar units and DAHDI (twinstar)</shortdesc>\n'
        f"<parameters>\n{params}</parameters>\n"
        f"<actions>\n{actions}</actions>\n"
        "</resource-agent>\n"
    )
