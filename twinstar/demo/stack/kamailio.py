"""Kamailio's configuration for a demo server: a SIP registrar that also answers pings.

* ``OPTIONS`` to the ping user (or to no user) is answered ``200`` with an
  ``X-Node`` header naming the server (from the ``NODE`` environment
  variable: Kamailio rejects ``$HN(n)`` here);
* ``REGISTER`` is saved by the registrar into usrloc, which writes every
  change through to MariaDB at once (``db_mode`` 1, write-through) and loads
  the table when Kamailio starts: a phone registered on one server is found
  by the other after a failover;
* ``OPTIONS`` to any other user is a lookup: ``200`` with the registered
  contact in ``X-Contact``, or ``404``.
"""

from __future__ import annotations

from dataclasses import dataclass

PORT = 5060
PING_USER = "ping"
NODE_HEADER = "X-Node"
CONTACT_HEADER = "X-Contact"
MODULES_DIR = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
MODULES = ("tm", "sl", "pv", "textops", "xlog", "maxfwd", "siputils", "db_mysql", "usrloc", "registrar")
#: usrloc's write-through mode: the cache and the database change together.
DB_MODE_WRITE_THROUGH = 1
#: Where the usrloc tables come from (Debian's kamailio-mysql-modules).
SCHEMA_FILES = ("/usr/share/kamailio/mysql/standard-create.sql", "/usr/share/kamailio/mysql/usrloc-create.sql")


@dataclass(frozen=True)
class KamailioSettings:
    listen: str  # the address Kamailio serves (the shared address)
    db_url: str  # mysql://user:password@host:port/database
    port: int = PORT
    children: int = 2


def config(s: KamailioSettings) -> str:
    """The text of ``kamailio.cfg`` (pure)."""
    modules = "\n".join(f'loadmodule "{m}.so"' for m in MODULES)
    return f"""#!KAMAILIO
# Written by twinstar demo: a registrar that answers OPTIONS pings with its node name.
debug=1
log_stderror=no
log_facility=LOG_DAEMON
memdbg=5
memlog=5
children={s.children}
auto_aliases=no
listen=udp:{s.listen}:{s.port}
mpath="{MODULES_DIR}"
{modules}
modparam("usrloc", "db_url", "{s.db_url}")
modparam("usrloc", "db_mode", {DB_MODE_WRITE_THROUGH})
modparam("registrar", "method_filtering", 0)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (is_method("REGISTER")) {{
        if (!save("location")) {{
            sl_reply_error();
        }}
        exit;
    }}
    if (is_method("OPTIONS")) {{
        append_to_reply("{NODE_HEADER}: $env(NODE)\\r\\n");
        if ($rU == $null || $rU == "{PING_USER}") {{
            sl_send_reply("200", "OK");
            exit;
        }}
        if (lookup("location")) {{
            append_to_reply("{CONTACT_HEADER}: $ru\\r\\n");
            sl_send_reply("200", "Registered");
            exit;
        }}
        sl_send_reply("404", "Not Registered");
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""


def check_argv(path: str) -> list[str]:
    """``kamailio -c``: parse the configuration and load its modules, start nothing."""
    return ["kamailio", "-c", "-f", path]


def foreground_argv(path: str, *, run_dir: str, shm_mb: int = 32, pkg_mb: int = 4) -> list[str]:
    """Kamailio in the foreground (without a service manager), logging to stderr."""
    return ["kamailio", "-DD", "-E", "-f", path, "-Y", run_dir, "-P", f"{run_dir}/kamailio.pid",
            "-m", str(shm_mb), "-M", str(pkg_mb)]  # fmt: skip


def schema() -> str:
    """The SQL creating usrloc's tables (``version`` first), read from the Debian package."""
    parts = []
    for path in SCHEMA_FILES:
        with open(path) as f:
            parts.append(f.read())
    return "\n".join(parts)


def unit_dropin(node: str) -> str:
    """A drop-in for Debian's ``kamailio.service``: the node name the pings are answered with, and
    MariaDB before it (usrloc connects to the database and loads the registrations when Kamailio
    starts): systemd starts Kamailio the moment MariaDB is up, and fails its start when MariaDB's fails."""
    return f"[Unit]\nRequires=mariadb.service\nAfter=mariadb.service\n\n[Service]\nEnvironment=NODE={node}\n"
