"""Load and validate ``twinstar.yaml`` into frozen, typed objects.

Every error names the file, the line and the key path (``takeover[2].ip.address``)
and, for an unknown key, suggests the closest known one. Unknown keys are
errors: a typo must never be silently ignored on a PBX.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import yaml

from twinstar import settings, words
from twinstar.errors import ConfigError
from twinstar.fastpath import safefile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")

# Every takeover loads this module (the hook's inline hand-off among them):
# modules needed only for an error message or a default (difflib, socket)
# are imported where they are used.

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader


class Handoff(StrEnum):
    """How the hook hands a takeover or release off out of udev."""

    AUTO = words.AUTO
    SYSTEMD = words.SYSTEMD
    SPAWN = words.SPAWN
    INLINE = words.INLINE


class OnStepDown(StrEnum):
    """What the daemon does when a periodic check finds an active step down."""

    LOG = "log"
    RESTART = "restart"


class FsckMode(StrEnum):
    """When the drbd step checks the filesystem before mounting it."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


class ServiceManager(StrEnum):
    """Which service manager the service step drives."""

    AUTO = "auto"
    SYSTEMD = "systemd"
    SYSV = "sysv"


# --- step specifications --------------------------------------------------------------


@dataclass(frozen=True)
class DahdiSpec:
    """Register the Astribanks with DAHDI in ``xpp_order`` order, then run dahdi_cfg."""

    timeout: float = 60.0
    dahdi_cfg: tuple[str, ...] = ("dahdi_cfg",)

    kind = "dahdi"

    @property
    def name(self) -> str:
        return "dahdi"


@dataclass(frozen=True)
class DrbdSpec:
    """Promote a DRBD resource and mount its device."""

    resource: str
    device: str
    mountpoint: str
    fstype: str = "ext4"
    mount_options: str = "defaults"
    fsck: FsckMode = FsckMode.AUTO
    timeout: float = 60.0
    kill_grace: float = 5.0

    kind = "drbd"

    @property
    def name(self) -> str:
        return f"drbd:{self.resource}"


@dataclass(frozen=True)
class IpSpec:
    """Bring up the shared cluster address and announce it."""

    address: ipaddress.IPv4Interface
    interface: str
    arp_count: int = 5
    arp_interval: float = 1.0
    dad_timeout: float = 0.5
    timeout: float = 10.0

    kind = "ip"

    @property
    def name(self) -> str:
        return f"ip:{self.address.with_prefixlen}"


@dataclass(frozen=True)
class ServiceSpec:
    """Start a system service and wait until it reports active."""

    service: str
    manager: ServiceManager = ServiceManager.AUTO
    timeout: float = 60.0

    kind = "service"

    @property
    def name(self) -> str:
        return f"service:{self.service}"


@dataclass(frozen=True)
class CommandSpec:
    """An operator-provided start/stop/check command triple."""

    command: str
    start: tuple[str, ...]
    stop: tuple[str, ...]
    check: tuple[str, ...] | None = None
    timeout: float = 10.0

    kind = "command"

    @property
    def name(self) -> str:
        return f"command:{self.command}"


StepSpec = DahdiSpec | DrbdSpec | IpSpec | ServiceSpec | CommandSpec


# --- sections ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AstribanksConfig:
    sysfs: str = settings.SYSFS_ROOT
    xpp_order: str = settings.XPP_ORDER
    rearm_watchdog: bool = True


@dataclass(frozen=True)
class UsbConfig:
    simulator: str | None = None
    simulator_port: int = 0


@dataclass(frozen=True)
class DaemonConfig:
    """Settings of ``twinstar daemon``."""

    evaluate_interval: float = 30.0
    check_interval: float = 10.0
    arp_refresh_interval: float = 0.0
    on_step_down: OnStepDown = OnStepDown.LOG
    release_on_stop: bool = False


@dataclass(frozen=True)
class SwitchoverConfig:
    """Settings of ``twinstar switchover``."""

    drain_check: tuple[str, ...] | None = None
    #: The words labelling the count's line in the drain check's output (None: the output is one number).
    drain_count_line: str | None = None
    drain_timeout: float = 300.0
    drain_poll: float = 2.0
    leave_timeout: float = 15.0


@dataclass(frozen=True)
class Config:
    """A validated twinstar configuration."""

    source: str
    node: str
    state_dir: str = settings.STATE_DIR
    maintenance_file: str = settings.MAINTENANCE_FILE
    handoff: Handoff = Handoff.AUTO
    lock_timeout: float = 600.0
    astribanks: AstribanksConfig = field(default_factory=AstribanksConfig)
    usb: UsbConfig = field(default_factory=UsbConfig)
    programs: tuple[tuple[str, str], ...] = ()
    takeover: tuple[StepSpec, ...] = ()
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    switchover: SwitchoverConfig = field(default_factory=SwitchoverConfig)

    @property
    def program_map(self) -> dict[str, str]:
        return dict(self.programs)


# --- numbers ----------------------------------------------------------------------------

DAY = 86400.0


@dataclass(frozen=True)
class Range:
    """The finite values a number of the configuration (or an option) may take."""

    minimum: float
    maximum: float
    integer: bool = False
    #: 0 is allowed too and means "off" (an interval of 0 is not "as often as possible").
    zero_is_off: bool = False

    def text(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        return f"{'0 (off) or ' if self.zero_is_off else ''}{kind} from {self.minimum:g} to {self.maximum:g}"

    def contains(self, value: float) -> bool:
        return self.minimum <= value <= self.maximum or (self.zero_is_off and value == 0)


#: The shortest interval of a loop that repeats until something changes (seconds):
#: anything shorter, 0 above all, would keep a CPU busy polling.
MIN_INTERVAL = 0.05

#: Every number of the configuration, once: a step's keys as ``STEP.key``. The
#: README's "Numbers" table lists the same ranges; the command line uses them too.
NUMBERS: dict[str, Range] = {
    "lock_timeout": Range(0, DAY),
    "usb.simulator_port": Range(0, 1, integer=True),
    "daemon.evaluate_interval": Range(MIN_INTERVAL, DAY),
    "daemon.check_interval": Range(MIN_INTERVAL, DAY, zero_is_off=True),
    "daemon.arp_refresh_interval": Range(MIN_INTERVAL, DAY, zero_is_off=True),
    "switchover.drain_timeout": Range(0, DAY),
    "switchover.drain_poll": Range(MIN_INTERVAL, 3600),
    "switchover.leave_timeout": Range(0, 3600),
    "dahdi.timeout": Range(0.1, DAY),
    "drbd.timeout": Range(0.1, DAY),
    "drbd.kill_grace": Range(0.1, 3600),
    "ip.arp_count": Range(0, 1000, integer=True),
    "ip.arp_interval": Range(MIN_INTERVAL, 60),
    "ip.dad_timeout": Range(0, 60),
    "ip.timeout": Range(0.01, DAY),
    "service.timeout": Range(0.1, DAY),
    "command.timeout": Range(0.01, DAY),
}


def check_number(value: object, rng: Range) -> str | None:
    """Why ``value`` is not a number within ``rng``; None when it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = f" {value!r:.40}" if isinstance(value, str) else ""
        return f"expected {rng.text()}, found {_typename(value)}{shown}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected {rng.text()}, found {value} (not a finite number)"
    if rng.integer and not isinstance(value, int):
        return f"expected a whole number, found {value}"
    if not rng.contains(value):
        off = "0 (off) or " if rng.zero_is_off else ""
        return f"must be {off}from {rng.minimum:g} to {rng.maximum:g}, found {value!r:.40}"
    return None


# --- loading ----------------------------------------------------------------------------


def config_path(explicit: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The configuration file to use: ``--config``, then $TWINSTAR_CONFIG, then the default."""
    env = os.environ if environ is None else environ
    return explicit or env.get(settings.CONFIG_ENV) or settings.CONFIG_PATH


def load(path: str, *, strict_modes: bool | None = None) -> Config:
    """Read, check and parse the configuration file at ``path``.

    It must be a regular file, not a symbolic link (``--config`` names the file
    itself), of at most :data:`~twinstar.fastpath.safefile.CONFIG_LIMIT` bytes. As root
    (``strict_modes``), it and every directory above it must be owned by root and
    not writable by group or others.
    """
    try:
        data = safefile.read_regular(path, safefile.CONFIG_LIMIT)
    except FileNotFoundError:
        raise ConfigError(
            "configuration file not found",
            path=path,
            hint="create it from examples/twinstar.yaml or pass --config PATH",
        ) from None
    except safefile.FileRefused as exc:
        raise ConfigError(f"configuration file {exc.reason}", path=path) from None
    if strict_modes is None:
        strict_modes = os.geteuid() == 0
    if strict_modes:
        why = safefile.replaceable(path)
        if why is not None:
            raise ConfigError(
                f"insecure configuration file: {why}",
                path=path,
                hint="make the file and its directories owned by root and not writable by group or others",
            )
    return parse(data, path)


def parse(data: bytes | str, path: str) -> Config:
    """Parse configuration text; ``path`` is only used in messages."""
    try:
        root = yaml.compose(data, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"YAML syntax error: {exc.problem}", path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", path=path) from None
    except UnicodeDecodeError:
        raise ConfigError("configuration is not valid UTF-8", path=path) from None
    if root is None:
        raise ConfigError("configuration is empty", path=path)
    parser = _Parser(path)
    parser.check_tags(root)
    return parser.config(root)


Node = yaml.Node


class _Parser:
    def __init__(self, path: str) -> None:
        self.path = path

    # -- errors --

    def fail(self, node: Node | None, key: str, message: str, hint: str | None = None) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        return ConfigError(message, path=self.path, line=line, key=key or None, hint=hint)

    # -- tags --

    def check_tags(self, root: Node) -> None:
        """Refuse every explicit YAML tag but the plain types' (``!foo``, ``!!python/...``, ``!!binary``)."""
        todo, seen = [root], set()
        while todo:
            node = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            allowed = _COLLECTION_TAGS if isinstance(node, yaml.MappingNode | yaml.SequenceNode) else _SCALAR_TAGS
            if node.tag not in allowed:
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                raise self.fail(node, "", f"unsupported YAML tag {tag}", "write the plain value without a tag")
            if isinstance(node, yaml.MappingNode):
                todo += [n for pair in node.value for n in pair]
            elif isinstance(node, yaml.SequenceNode):
                todo += node.value

    # -- scalars --

    def mapping(
        self, node: Node, key: str, known: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, f"expected a mapping, found {_kind(node)}")
        out: dict[str, Node] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode) or knode.tag != "tag:yaml.org,2002:str":
                raise self.fail(knode, key, "keys must be plain strings")
            name = knode.value
            sub = f"{key}.{name}" if key else name
            if name in out:
                raise self.fail(knode, sub, "duplicate key")
            if name not in known:
                import difflib

                close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(known)
                raise self.fail(knode, sub, "unknown key", hint)
            out[name] = vnode
        for name in required:
            if name not in out:
                raise self.fail(node, f"{key}.{name}" if key else name, "required key is missing")
        return out

    def scalar(self, node: Node, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, key, f"expected a single value, found {_kind(node)}")
        try:
            return _construct(node)
        except (ValueError, OverflowError, yaml.YAMLError):
            raise self.fail(node, key, f"{node.value!r:.60} is not a valid {node.tag.rpartition(':')[2]}") from None

    def string(self, node: Node, key: str, *, allow_empty: bool = False) -> str:
        value = self.scalar(node, key)
        if not isinstance(value, str):
            raise self.fail(node, key, f"expected a string, found {_typename(value)}")
        if not allow_empty and not value.strip():
            raise self.fail(node, key, "must not be empty")
        if "\x00" in value:
            raise self.fail(node, key, "must not contain NUL characters")
        return value

    def boolean(self, node: Node, key: str) -> bool:
        value = self.scalar(node, key)
        if not isinstance(value, bool):
            raise self.fail(node, key, f"expected true or false, found {_typename(value)}")
        return value

    def number(self, node: Node, key: str, name: str) -> Any:
        """The number at ``node``, within ``NUMBERS[name]``."""
        value = self.scalar(node, key)
        why = check_number(value, NUMBERS[name])
        if why is not None:
            raise self.fail(node, key, why)
        return value

    def seconds(self, node: Node, key: str, name: str) -> float:
        return float(self.number(node, key, name))

    def abspath(self, node: Node, key: str) -> str:
        value = self.string(node, key)
        if not os.path.isabs(value):
            raise self.fail(node, key, f"must be an absolute path, found {value!r}")
        return os.path.normpath(value)

    def optional_abspath(self, node: Node, key: str) -> str | None:
        if _is_null(node):
            return None
        return self.abspath(node, key)

    def enum(self, node: Node, key: str, cls: type[T]) -> T:
        value = self.string(node, key)
        try:
            return cls(value)  # type: ignore[call-arg]
        except ValueError:
            choices = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
            raise self.fail(node, key, f"must be one of {choices}, found {value!r}") from None

    def argv(self, node: Node, key: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.fail(
                node, key, "expected a command as a non-empty list, e.g. [/usr/bin/foo, --bar]"
            )
        items = []
        for i, item in enumerate(node.value):
            v = self.scalar(item, f"{key}[{i}]")
            if isinstance(v, bool) or v is None or isinstance(v, list | dict):
                raise self.fail(item, f"{key}[{i}]", f"expected a string, found {_typename(v)}")
            items.append(str(v))
        if "/" in items[0] and not os.path.isabs(items[0]):
            raise self.fail(node, f"{key}[0]", f"must be an absolute path or a program name, found {items[0]!r}")
        return tuple(items)

    def optional_argv(self, node: Node, key: str) -> tuple[str, ...] | None:
        return None if _is_null(node) else self.argv(node, key)

    # -- sections --

    def config(self, root: Node) -> Config:
        m = self.mapping(
            root,
            "",
            (
                "node",
                "state_dir",
                "maintenance_file",
                "handoff",
                "lock_timeout",
                "astribanks",
                "usb",
                "programs",
                "takeover",
                "daemon",
                "switchover",
            ),
            required=("takeover",),
        )
        kw: dict[str, Any] = {}
        if "node" in m:
            kw["node"] = self.string(m["node"], "node")
        else:
            import socket

            kw["node"] = socket.gethostname()
        if "state_dir" in m:
            kw["state_dir"] = self.abspath(m["state_dir"], "state_dir")
        if "maintenance_file" in m:
            kw["maintenance_file"] = self.abspath(m["maintenance_file"], "maintenance_file")
        if "handoff" in m:
            kw["handoff"] = self.enum(m["handoff"], "handoff", Handoff)
        if "lock_timeout" in m:
            kw["lock_timeout"] = self.seconds(m["lock_timeout"], "lock_timeout", "lock_timeout")
        if "astribanks" in m:
            kw["astribanks"] = self.astribanks(m["astribanks"])
        if "usb" in m:
            kw["usb"] = self.usb(m["usb"])
        if "programs" in m:
            kw["programs"] = self.programs(m["programs"])
        if "daemon" in m:
            kw["daemon"] = self.daemon(m["daemon"])
        if "switchover" in m:
            kw["switchover"] = self.switchover(m["switchover"])
        kw["takeover"] = self.takeover(m["takeover"])
        return Config(source=self.path, **kw)

    def astribanks(self, node: Node) -> AstribanksConfig:
        m = self.mapping(node, "astribanks", ("sysfs", "xpp_order", "rearm_watchdog"))
        kw: dict[str, Any] = {}
        for k in ("sysfs", "xpp_order"):
            if k in m:
                kw[k] = self.abspath(m[k], f"astribanks.{k}")
        if "rearm_watchdog" in m:
            kw["rearm_watchdog"] = self.boolean(m["rearm_watchdog"], "astribanks.rearm_watchdog")
        return AstribanksConfig(**kw)

    def usb(self, node: Node) -> UsbConfig:
        m = self.mapping(node, "usb", ("simulator", "simulator_port"))
        kw: dict[str, Any] = {}
        if "simulator" in m:
            kw["simulator"] = self.optional_abspath(m["simulator"], "usb.simulator")
        if "simulator_port" in m:
            kw["simulator_port"] = self.number(m["simulator_port"], "usb.simulator_port", "usb.simulator_port")
        return UsbConfig(**kw)

    def programs(self, node: Node) -> tuple[tuple[str, str], ...]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, "programs", f"expected a mapping, found {_kind(node)}")
        out: dict[str, str] = {}
        for knode, vnode in node.value:
            name = self.string(knode, "programs")
            key = f"programs.{name}"
            if name in out:
                raise self.fail(knode, key, "duplicate key")
            if "/" in name or name.startswith("-"):
                raise self.fail(knode, key, "program names must not contain '/' or start with '-'")
            out[name] = self.abspath(vnode, key)
        return tuple(sorted(out.items()))

    def daemon(self, node: Node) -> DaemonConfig:
        m = self.mapping(
            node,
            "daemon",
            ("evaluate_interval", "check_interval", "arp_refresh_interval", "on_step_down", "release_on_stop"),
        )
        kw: dict[str, Any] = {}
        for k in ("evaluate_interval", "check_interval", "arp_refresh_interval"):
            if k in m:
                kw[k] = self.seconds(m[k], f"daemon.{k}", f"daemon.{k}")
        if "on_step_down" in m:
            kw["on_step_down"] = self.enum(m["on_step_down"], "daemon.on_step_down", OnStepDown)
        if "release_on_stop" in m:
            kw["release_on_stop"] = self.boolean(m["release_on_stop"], "daemon.release_on_stop")
        return DaemonConfig(**kw)

    def switchover(self, node: Node) -> SwitchoverConfig:
        m = self.mapping(
            node, "switchover", ("drain_check", "drain_count_line", "drain_timeout", "drain_poll", "leave_timeout")
        )
        kw: dict[str, Any] = {}
        if "drain_check" in m:
            kw["drain_check"] = self.optional_argv(m["drain_check"], "switchover.drain_check")
        if "drain_count_line" in m and not _is_null(m["drain_count_line"]):
            kw["drain_count_line"] = " ".join(self.string(m["drain_count_line"], "switchover.drain_count_line").split())
        for k in ("drain_timeout", "drain_poll", "leave_timeout"):
            if k in m:
                kw[k] = self.seconds(m[k], f"switchover.{k}", f"switchover.{k}")
        return SwitchoverConfig(**kw)

    # -- steps --

    def takeover(self, node: Node) -> tuple[StepSpec, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, "takeover", f"expected a list of steps, found {_kind(node)}")
        steps: list[StepSpec] = []
        seen: dict[str, int] = {}
        parsers: dict[str, Callable[[Node, str], StepSpec]] = {
            "dahdi": self.step_dahdi,
            "drbd": self.step_drbd,
            "ip": self.step_ip,
            "service": self.step_service,
            "command": self.step_command,
        }
        if not node.value:
            raise self.fail(
                node, "takeover", "lists no steps: a takeover would do nothing", "list at least one step"
            )
        for i, item in enumerate(node.value):
            key = f"takeover[{i}]"
            if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
                raise self.fail(
                    item, key, "each step is a mapping with exactly one step type, e.g. '- service: asterisk'"
                )
            knode, vnode = item.value[0]
            kind = self.string(knode, key)
            if kind not in parsers:
                import difflib

                close = difflib.get_close_matches(kind, list(parsers), n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else "step types: " + ", ".join(parsers)
                raise self.fail(knode, f"{key}.{kind}", "unknown step type", hint)
            spec = parsers[kind](vnode, f"{key}.{kind}")
            if spec.name in seen:
                raise self.fail(
                    item, key, f"duplicate step {spec.name} (already takeover[{seen[spec.name]}])"
                )
            seen[spec.name] = i
            steps.append(spec)
        return tuple(steps)

    def step_dahdi(self, node: Node, key: str) -> DahdiSpec:
        if _is_null(node):
            return DahdiSpec()
        m = self.mapping(node, key, ("timeout", "dahdi_cfg"))
        kw: dict[str, Any] = {}
        if "timeout" in m:
            kw["timeout"] = self.seconds(m["timeout"], f"{key}.timeout", "dahdi.timeout")
        if "dahdi_cfg" in m:
            kw["dahdi_cfg"] = self.argv(m["dahdi_cfg"], f"{key}.dahdi_cfg")
        return DahdiSpec(**kw)

    def step_drbd(self, node: Node, key: str) -> DrbdSpec:
        m = self.mapping(
            node,
            key,
            ("resource", "device", "mountpoint", "fstype", "mount_options", "fsck", "timeout", "kill_grace"),
            required=("resource", "device", "mountpoint"),
        )
        resource = self.string(m["resource"], f"{key}.resource")
        if resource.startswith("-") or not all(c.isascii() and c.isalnum() or c in "_-." for c in resource):
            raise self.fail(
                m["resource"], f"{key}.resource",
                f"invalid DRBD resource name {resource!r} (letters, digits, _ - ., not starting with -)",
            )
        kw: dict[str, Any] = {
            "resource": resource,
            "device": self.abspath(m["device"], f"{key}.device"),
            "mountpoint": self.abspath(m["mountpoint"], f"{key}.mountpoint"),
        }
        if kw["mountpoint"] == "/":
            raise self.fail(m["mountpoint"], f"{key}.mountpoint", "must not be /")
        if "fstype" in m:
            fstype = self.string(m["fstype"], f"{key}.fstype")
            if not all(c.isalnum() or c in "_." for c in fstype):
                raise self.fail(m["fstype"], f"{key}.fstype", f"invalid filesystem type {fstype!r}")
            kw["fstype"] = fstype
        if "mount_options" in m:
            opts = self.string(m["mount_options"], f"{key}.mount_options")
            if any(c.isspace() for c in opts):
                raise self.fail(m["mount_options"], f"{key}.mount_options", "must not contain spaces")
            kw["mount_options"] = opts
        if "fsck" in m:
            kw["fsck"] = self.enum(m["fsck"], f"{key}.fsck", FsckMode)
        for k in ("timeout", "kill_grace"):
            if k in m:
                kw[k] = self.seconds(m[k], f"{key}.{k}", f"drbd.{k}")
        return DrbdSpec(**kw)

    def step_ip(self, node: Node, key: str) -> IpSpec:
        m = self.mapping(
            node,
            key,
            ("address", "interface", "arp_count", "arp_interval", "dad_timeout", "timeout"),
            required=("address", "interface"),
        )
        raw = self.string(m["address"], f"{key}.address")
        if "/" not in raw:
            raise self.fail(
                m["address"], f"{key}.address", f"expected an address with prefix length, e.g. 192.0.2.10/24, found {raw!r}"
            )
        try:
            address = ipaddress.IPv4Interface(raw)
        except ValueError as exc:
            raise self.fail(m["address"], f"{key}.address", f"invalid IPv4 address/prefix {raw!r}: {exc}") from None
        ip = address.ip
        if (
            address.network.prefixlen == 0
            or ip.is_multicast
            or ip.is_unspecified
            or ip.is_loopback
            or ip == address.network.broadcast_address and address.network.prefixlen < 31
            or ip == address.network.network_address and address.network.prefixlen < 31
        ):
            raise self.fail(m["address"], f"{key}.address", f"{raw} cannot be a host address")
        iface = self.string(m["interface"], f"{key}.interface")
        if len(iface) > 15:
            raise self.fail(
                m["interface"], f"{key}.interface", f"interface name {iface!r} is longer than 15 characters"
            )
        if iface in (".", "..") or iface.startswith("-") or any(c in iface for c in "/: ") or not iface.isprintable():
            raise self.fail(m["interface"], f"{key}.interface", f"invalid interface name {iface!r}")
        kw: dict[str, Any] = {"address": address, "interface": iface}
        if "arp_count" in m:
            kw["arp_count"] = self.number(m["arp_count"], f"{key}.arp_count", "ip.arp_count")
        for k in ("arp_interval", "dad_timeout", "timeout"):
            if k in m:
                kw[k] = self.seconds(m[k], f"{key}.{k}", f"ip.{k}")
        return IpSpec(**kw)

    def step_service(self, node: Node, key: str) -> ServiceSpec:
        if isinstance(node, yaml.ScalarNode):
            return ServiceSpec(service=self._service_name(node, key))
        m = self.mapping(node, key, ("name", "manager", "timeout"), required=("name",))
        kw: dict[str, Any] = {"service": self._service_name(m["name"], f"{key}.name")}
        if "manager" in m:
            kw["manager"] = self.enum(m["manager"], f"{key}.manager", ServiceManager)
        if "timeout" in m:
            kw["timeout"] = self.seconds(m["timeout"], f"{key}.timeout", "service.timeout")
        return ServiceSpec(**kw)

    def _service_name(self, node: Node, key: str) -> str:
        name = self.string(node, key)
        if name.startswith("-") or not all(c.isalnum() or c in "_-.@:" for c in name):
            raise self.fail(node, key, f"invalid service name {name!r}")
        return name

    def step_command(self, node: Node, key: str) -> CommandSpec:
        m = self.mapping(node, key, ("name", "start", "stop", "check", "timeout"), required=("name", "start", "stop"))
        name = self.string(m["name"], f"{key}.name")
        if not all(c.isalnum() or c in "_-." for c in name):
            raise self.fail(m["name"], f"{key}.name", f"invalid command step name {name!r} (letters, digits, _ - .)")
        kw: dict[str, Any] = {
            "command": name,
            "start": self.argv(m["start"], f"{key}.start"),
            "stop": self.argv(m["stop"], f"{key}.stop"),
        }
        if "check" in m:
            kw["check"] = self.optional_argv(m["check"], f"{key}.check")
        if "timeout" in m:
            kw["timeout"] = self.seconds(m["timeout"], f"{key}.timeout", "command.timeout")
        return CommandSpec(**kw)


def _is_null(node: Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


_SCALAR_LOADER = yaml.SafeLoader("")
_SCALAR_TAGS = frozenset(
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "timestamp", "merge")
)
_COLLECTION_TAGS = frozenset(("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"))


def _construct(node: Node) -> Any:
    return _SCALAR_LOADER.construct_object(node, deep=True)


def _kind(node: Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    try:
        value = _construct(node)
    except (ValueError, OverflowError, yaml.YAMLError):
        return repr(node.value)
    return f"{_typename(value)} {node.value!r}"


def _typename(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "a mapping"}.get(
        type(value), type(value).__name__
    )
