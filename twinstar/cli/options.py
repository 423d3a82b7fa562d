"""The options of the ``twinstar`` group and of the hardware commands, as data, without click.

Each option is written once here. :mod:`twinstar.cli.app` builds the click
options from these entries; :func:`parse` reads a command line with them for
``twinstar status``, which runs without loading click (its start is most of
its time). :func:`parse` accepts only what click parses the same way and
answers None for anything else (help, a mistyped option, a missing value,
``--``, short flags run together...), which then goes to click unchanged.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


class Option:
    """One option: its spellings, the parameter it sets, and its help."""

    __slots__ = ("names", "dest", "help", "flag", "multiple", "metavar", "hidden")

    def __init__(
        self,
        *names: str,
        dest: str,
        help: str,
        flag: bool = False,
        multiple: bool = False,
        metavar: str | None = None,
        hidden: bool = False,
    ) -> None:
        self.names = names
        self.dest = dest
        self.help = help
        self.flag = flag
        self.multiple = multiple
        self.metavar = metavar
        self.hidden = hidden

    def initial(self) -> object:
        """The parameter's value when the option is not given (click's default)."""
        return () if self.multiple else False if self.flag else None


# --- the group's options ---------------------------------------------------------------------

CONFIG = Option(
    "--config", "-c", dest="config_path", metavar="PATH",
    help="Configuration file (default: $TWINSTAR_CONFIG or /etc/twinstar/twinstar.yaml).",
)
VERBOSE = Option("--verbose", "-v", dest="verbose", flag=True, help="Log debugging detail.")
IGNORED_X = Option("-x", dest="_x", flag=True, hidden=True, help="Accepted and ignored, as the original twinstar did.")
GROUP = (CONFIG, VERBOSE, IGNORED_X)

# --- the hardware commands' options ----------------------------------------------------------

DEVICE = Option(
    "--device", "-D", dest="devices", multiple=True, metavar="D",
    help="A unit as usb:BBB/DDD or its label; repeatable. Default: every unit on this host.",
)
JSON = Option("--json", dest="as_json", flag=True, help="Print one JSON object with each unit's result.")
LONG = Option(
    "--long", "-v", dest="long", flag=True, help="Name each unit (usb:BBB/DDD and label) and say why one is left out."
)
#: ``twinstar status``'s options, in the order its help lists them.
STATUS = (DEVICE, LONG, JSON)


def parse(args: Sequence[str], options: Sequence[Option]) -> tuple[dict[str, Any], list[str]] | None:
    """The leading ``options`` of ``args`` and the arguments after them, as click reads them.

    Stops at the first argument that is not an option. None for anything that
    is not plainly one of ``options``: click then parses the command line (and
    reports what is wrong with it).
    """
    known = {name: option for option in options for name in option.names}
    values: dict[str, Any] = {option.dest: option.initial() for option in options}
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        arg = rest.pop(0)
        if arg.startswith("--"):
            name, attached, value = arg.partition("=")
        else:
            name, value = arg[:2], arg[2:]
            attached = "=" if value else ""
        option = known.get(name)
        if option is None:
            return None
        if option.flag:
            if attached:
                return None
            values[option.dest] = True
            continue
        if not attached:
            if not rest:
                return None
            value = rest.pop(0)
        previous = values[option.dest]
        values[option.dest] = (*previous, value) if isinstance(previous, tuple) else value
    return values, rest
