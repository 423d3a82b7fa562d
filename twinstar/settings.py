"""System-dependent paths, unit and file names, in one place.

External programs are found by name on :data:`SAFE_PATH`; the
configuration's ``programs:`` mapping overrides any of them.
"""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

CONFIG_PATH = "/etc/twinstar/twinstar.yaml"
CONFIG_ENV = "TWINSTAR_CONFIG"


def config_path(explicit: str | None = None, environ: "Mapping[str, str] | None" = None) -> str:
    """The configuration file every entry point reads: ``--config``, then ``$TWINSTAR_CONFIG``, then the default."""
    env = process_environ() if environ is None else environ
    return explicit or env.get(CONFIG_ENV) or CONFIG_PATH


_decoded: "dict[str, str] | None" = None


def process_environ() -> "Mapping[str, str]":
    """This process's environment: ``os.environ`` once :mod:`os` is loaded.

    The udev hook's fast path never loads :mod:`os` (its import is a sixth of
    a bare interpreter start); there, nothing has changed the environment
    since the start, so it is read from :mod:`posix`, decoded as :mod:`os` does.
    """
    global _decoded
    if "os" in sys.modules:
        from os import environ

        return environ
    if _decoded is None:
        import posix

        encoding = sys.getfilesystemencoding()
        _decoded = {k.decode(encoding, "surrogateescape"): v.decode(encoding, "surrogateescape") for k, v in posix.environ.items()}
    return _decoded

STATE_DIR = "/run/twinstar"
MAINTENANCE_FILE = "/etc/twinstar/maintenance"
SYSFS_ROOT = "/sys"
XPP_ORDER = "/etc/dahdi/xpp_order"
SYSTEMD_RUNTIME_DIR = "/run/systemd/system"

#: The fixed PATH every external program runs with.
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Unit names used by the ``systemd`` hand-off.
TAKEOVER_UNIT = "twinstar-takeover.service"
RELEASE_UNIT = "twinstar-release.service"
#: The prepared takeover runner under systemd (:mod:`twinstar.hotplug.prepared`), started at a unit's arrival.
PREPARED_UNIT = "twinstar-prepared.service"
#: The pair policy's runner under systemd (split units, retries, hand-back): udev kills what its hook leaves running.
POLICY_UNIT = "twinstar-policy.service"
#: Template unit for the ``systemd`` hand-off of a watchdog re-arm; the instance is ``BUS-DEV``.
REARM_UNIT = "twinstar-rearm@{}.service"

#: Where ``atribank_hook`` caches the parts of the configuration it needs, so a
#: udev event does not pay for YAML parsing; ``$TWINSTAR_CACHE_DIR`` overrides it.
HOOK_CACHE_DIR = "/run/twinstar/hook-cache"
HOOK_CACHE_ENV = "TWINSTAR_CACHE_DIR"

#: File names inside ``state_dir``.
LOCK_FILE = "lock"
STATE_FILE = "state.json"
JOURNAL_FILE = "journal.jsonl"
HANDOFF_LOCK_FILE = "handoff.lock"
HANDOFF_FILE = "handoff.json"
DAEMON_STATE_FILE = "daemon.json"
#: ``journal.jsonl``'s defaults: rotated before a line would take it past this
#: size (MiB), with this many rotated files (``journal.jsonl.1`` the newest) kept.
JOURNAL_MAX_MIB = 4
JOURNAL_KEEP = 3

#: The pair policy's memory: operator hold, takeover tries, hand-backs, split, alarm.
POLICY_FILE = "policy.json"

SYSLOG_IDENT = "twinstar"
