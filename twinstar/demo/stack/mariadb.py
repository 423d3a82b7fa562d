"""MariaDB for a demo server: its data directory on the replica, the demo's schema and users.

The data directory is made once, with ``mariadb-install-db``, on the replica
of the first server; the other server reaches it through the same symlink
once the replica is mounted there. Every commit is on disk before it is
acknowledged (``innodb_flush_log_at_trx_commit=1``), so InnoDB's crash
recovery after a power loss keeps every acknowledged row.
"""

from __future__ import annotations

from dataclasses import dataclass

PORT = 3306
#: The writer's table: one row per acknowledged commit.
DATABASE = "tw"
TABLE = "t"
USER = "tw"
PASSWORD = "twinstar-demo"
#: Kamailio's registrations (usrloc).
KAMAILIO_DATABASE = "kamailio"
KAMAILIO_USER = "kamailio"
KAMAILIO_PASSWORD = "twinstar-demo"
#: InnoDB's redo log flushed at each commit. No binary log, as Debian ships MariaDB: nothing reads one
#: here (DRBD replicates the data directory), and with one each commit is a two-phase commit with a
#: flush of both logs, and the start after a crash reads the last binary log back.
DURABLE = {"innodb_flush_log_at_trx_commit": "1"}
#: Small enough for the demo's replica (the default redo log alone is 96 MB).
SIZES = {"innodb_log_file_size": "16M", "innodb_buffer_pool_size": "32M"}
#: Where :func:`unit_dropin` and :func:`checks_unit` go (docs/steps.md, "A service's own start is part of the outage").
UNIT_DROPIN = "/etc/systemd/system/mariadb.service.d/twinstar.conf"
CHECKS_UNIT = "/etc/systemd/system/mariadb-debian-start.service"


@dataclass(frozen=True)
class ServerPaths:
    """Where a MariaDB run without a service manager keeps its files."""

    datadir: str
    socket: str
    pidfile: str
    error_log: str


def install_argv(datadir: str) -> list[str]:
    """A new, empty data directory owned by ``mysql``."""
    sizes = [f"--{k.replace('_', '-')}={v}" for k, v in SIZES.items()]
    return ["mariadb-install-db", "--no-defaults", "--user=mysql", "--auth-root-authentication-method=socket",
            "--skip-test-db", f"--datadir={datadir}", *sizes]  # fmt: skip


def server_argv(p: ServerPaths, *, bind: str = "0.0.0.0") -> list[str]:
    """``mariadbd`` in the foreground, reading no option file (without a service manager)."""
    durable = [f"--{k.replace('_', '-')}={v}" for k, v in {**DURABLE, **SIZES}.items()]
    return ["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={p.datadir}", f"--socket={p.socket}",
            f"--pid-file={p.pidfile}", f"--bind-address={bind}", f"--port={PORT}", "--skip-name-resolve",
            f"--log-error={p.error_log}", *durable]  # fmt: skip


def client_argv(socket: str | None = None) -> list[str]:
    """``mariadb`` as root over the local socket, batch mode, no column names."""
    where = [f"--socket={socket}"] if socket else []
    return ["mariadb", "--no-defaults", "--user=root", *where, "--batch", "--skip-column-names"]


def server_cnf() -> str:
    """A drop-in for Debian's ``/etc/mysql/mariadb.conf.d``: reachable on every address, durable commits."""
    lines = ["[mysqld]", "bind-address = 0.0.0.0", "skip-name-resolve"]
    lines += [f"{k} = {v}" for k, v in {**DURABLE, **SIZES}.items()]
    return "\n".join(lines) + "\n"


def unit_dropin() -> str:
    """A drop-in for Debian's ``mariadb.service`` on a node without Galera: ``mariadbd`` started
    directly (not through a shell asking ``galera_recovery`` for a position it has none of), and
    ``/etc/mysql/debian-start`` run after the start by :func:`checks_unit` instead of before the unit
    is active. ``Upholds=``, not ``Wants=``: the checks are started once MariaDB is active, outside
    the start's transaction, which ``systemctl start`` would wait for to the end."""
    return (
        "[Unit]\n"
        "Upholds=mariadb-debian-start.service\n"
        "\n"
        "[Service]\n"
        "ExecStart=\n"
        "ExecStart=/usr/sbin/mariadbd $MYSQLD_OPTS\n"
        "ExecStartPost=\n"
    )


def checks_unit() -> str:
    """Debian's checks after MariaDB's start (system tables after an upgrade, root accounts), in a
    unit of their own ordered after ``mariadb.service`` and stopped with it, on idle CPU: they run
    while the services after MariaDB start."""
    return (
        "[Unit]\n"
        "Description=MariaDB's Debian checks after its start (system tables, root accounts)\n"
        "After=mariadb.service\n"
        "BindsTo=mariadb.service\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        "ExecStart=/etc/mysql/debian-start\n"
        "Nice=19\n"
        "CPUSchedulingPolicy=idle\n"
        "IOSchedulingClass=idle\n"
    )


def setup_sql(kamailio_schema: str) -> str:
    """The demo's databases, tables and users (run once, as root, on a new data directory)."""
    return f"""CREATE DATABASE {DATABASE};
CREATE TABLE {DATABASE}.{TABLE} (id BIGINT PRIMARY KEY, t DOUBLE NOT NULL) ENGINE=InnoDB;
CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';
GRANT INSERT, SELECT ON {DATABASE}.* TO '{USER}'@'%';
CREATE DATABASE {KAMAILIO_DATABASE};
CREATE USER '{KAMAILIO_USER}'@'%' IDENTIFIED BY '{KAMAILIO_PASSWORD}';
GRANT ALL ON {KAMAILIO_DATABASE}.* TO '{KAMAILIO_USER}'@'%';
USE {KAMAILIO_DATABASE};
{kamailio_schema}
"""


def kamailio_db_url(host: str = "127.0.0.1") -> str:
    return f"mysql://{KAMAILIO_USER}:{KAMAILIO_PASSWORD}@{host}:{PORT}/{KAMAILIO_DATABASE}"


def rows_query() -> str:
    return f"SELECT id FROM {DATABASE}.{TABLE} ORDER BY id"


def parse_ids(text: str) -> list[int]:
    """The ids printed by :func:`rows_query` in batch mode (one per line)."""
    return [int(line) for line in text.split() if line.strip()]
