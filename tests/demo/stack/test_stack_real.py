"""Each real part of the demo's PBX stack, run by hand in a namespace of the test's own (no systemd).

Real parts: MariaDB (``mariadb-install-db``, ``mariadbd``, the ``mariadb``
client), the database writer under the system's Python with PyMySQL,
Kamailio with usrloc in MariaDB, SIPp, our SIP phone, Apache and the web
fetcher. Everything listens on 127.0.0.1 inside the namespace.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from tests.conftest import require_root
from tests.demo.stack.plain import LOCAL, Database, Namespace, json_lines, namespace, wait_until
from twinstar.demo.stack import apache, kamailio, mariadb, results, sipp, writer

PY = sys.executable
SYSTEM_PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def ns() -> Iterator[Namespace]:
    require_root("the real stack's parts")  # module scope: set up before the privileged marker's check
    # Not below pytest's 0700 temporary directory: mysql, kamailio and www-data work below it.
    root = tempfile.mkdtemp(prefix="tsr-stack-")
    os.chmod(root, 0o755)
    try:
        with namespace(root) as n:
            yield n
    finally:
        shutil.rmtree(root)


@pytest.fixture(scope="module")
def db(ns: Namespace) -> Database:
    return Database.create(ns)


def acks(path: str) -> int:
    return sum(1 for r in json_lines(path) if "ack" in r)


def test_no_acknowledged_row_is_lost_when_mariadb_is_killed(ns: Namespace, db: Database) -> None:
    out = os.path.join(ns.root, "writer.jsonl")
    proc = ns.start("writer", [SYSTEM_PYTHON, writer.__file__, "--host", LOCAL, "--out", out])
    wait_until("50 acknowledged commits", lambda: acks(out) >= 50)
    db.crash()
    wait_until("the writer noticing", lambda: any("failed" in r for r in json_lines(out)))
    before = acks(out)
    db.start()
    wait_until("50 more acknowledged commits", lambda: acks(out) >= before + 50)
    ns.stop(proc)
    present = mariadb.parse_ids(db.sql(mariadb.rows_query()))
    r = results.database(json_lines(out), present)
    assert r.acknowledged >= before + 50 and r.errors >= 1
    assert r.missing == []
    assert r.gap_ms is not None and r.gap_ms > 0
    # Ids go on after a reconnection, so none is written twice.
    ids = [x["ack"] for x in json_lines(out) if "ack" in x]
    assert ids == sorted(set(ids))


def start_kamailio(ns: Namespace, node: str) -> subprocess.Popen[bytes]:
    cfg = os.path.join(ns.root, "kamailio.cfg")
    with open(cfg, "w") as f:
        f.write(kamailio.config(kamailio.KamailioSettings(LOCAL, mariadb.kamailio_db_url(LOCAL))))
    check = subprocess.run(kamailio.check_argv(cfg), capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr[-2000:]
    run_dir = os.path.join(ns.root, f"kamailio-{node}")
    os.makedirs(run_dir, exist_ok=True)
    proc = ns.start(f"kamailio-{node}", kamailio.foreground_argv(cfg, run_dir=run_dir), env={"NODE": node})
    wait_until(f"Kamailio of {node} listening", lambda: f"udp:{LOCAL}" in listening(ns) or bool(proc.poll()))
    assert proc.poll() is None, ns.log(f"kamailio-{node}")
    return proc


def listening(ns: Namespace) -> str:
    return ns.run(["ss", "-Hlun"]).replace(" ", "").replace(f"{LOCAL}:{kamailio.PORT}", f"udp:{LOCAL}")


def phone(ns: Namespace, action: str, out: str, port: int) -> int:
    argv = [PY, "-m", "twinstar.demo.stack.phone", action, "--server", LOCAL, "--local", LOCAL,
            "--port", str(port), "--out", out]  # fmt: skip
    return subprocess.run(ns.argv(argv), capture_output=True, timeout=60).returncode


def test_a_registration_made_on_one_kamailio_is_found_by_the_next(ns: Namespace, db: Database) -> None:
    out = os.path.join(ns.root, "phone.jsonl")
    a = start_kamailio(ns, "pbx-a")
    assert phone(ns, "register", out, 5071) == 0
    assert phone(ns, "lookup", out, 5072) == 0
    assert "sip:phone@127.0.0.1:5071" in db.sql("SELECT contact FROM kamailio.location")
    ns.stop(a, signal.SIGKILL)
    failover = json_lines(out)[-1]["t"]
    b = start_kamailio(ns, "pbx-b")
    assert phone(ns, "lookup", out, 5072) == 0
    ns.stop(b)
    reg = results.registration(json_lines(out), failover + 1e-6)
    assert (reg.registered_on, reg.found_on, reg.contact) == ("pbx-a", "pbx-b", "sip:phone@127.0.0.1:5071")
    assert reg.kept


def test_an_unknown_phone_is_not_found(ns: Namespace, db: Database) -> None:
    a = start_kamailio(ns, "pbx-a")
    db.sql("DELETE FROM kamailio.location")
    out = os.path.join(ns.root, "nobody.jsonl")
    ns.stop(a)
    a = start_kamailio(ns, "pbx-a")  # usrloc reads the (now empty) table at start
    assert phone(ns, "lookup", out, 5073) == 1
    ns.stop(a)
    assert json_lines(out)[-1]["status"] == 404


def test_sipp_statistics_show_the_gap_between_two_servers(ns: Namespace, db: Database) -> None:
    scenario = os.path.join(ns.root, "options.xml")
    with open(scenario, "w") as f:
        f.write(sipp.SCENARIO)
    stat, log = os.path.join(ns.root, "sipp.csv"), os.path.join(ns.root, "sipp.log")
    a = start_kamailio(ns, "pbx-a")
    pinger = ns.start("sipp", sipp.argv(LOCAL, LOCAL, scenario=scenario, stat_file=stat, log_file=log))

    def answered(node: str) -> int:
        return sipp.read(stat, log).by_node().get(node, 0)

    wait_until("20 answers from pbx-a", lambda: answered("pbx-a") >= 20)
    ns.stop(a, signal.SIGKILL)
    wait_until("a timed-out OPTIONS in SIPp's statistics", lambda: sipp.read(stat, log).timed_out > 0)
    b = start_kamailio(ns, "pbx-b")
    wait_until("20 answers from pbx-b", lambda: answered("pbx-b") >= 20)
    pinger.send_signal(signal.SIGUSR1)  # SIPp: no new calls, finish, write the last statistics, exit
    assert pinger.wait(timeout=30) in (0, 1), ns.log("sipp")
    ns.stop(b)
    record = sipp.read(stat, log)
    gap = sipp.outage(record, "pbx-a", "pbx-b")
    assert gap is not None and gap.outage_ms > sipp.ANSWER_TIMEOUT_MS
    assert gap.unanswered >= 1
    assert record.failed >= gap.unanswered and record.timed_out >= 1
    assert record.successful == len(record.answers)
    assert record.start is not None


def test_apache_serves_the_page_and_the_fetcher_sees_it_stop(ns: Namespace) -> None:
    root = os.path.join(ns.root, "apache")
    www = os.path.join(ns.root, "www")
    os.makedirs(root)
    os.makedirs(www)
    with open(os.path.join(www, apache.PAGE), "w") as f:
        f.write(apache.page("pbx"))
    conf = os.path.join(root, "apache2.conf")
    with open(conf, "w") as f:
        f.write(apache.config(apache.ApacheSettings(root, LOCAL, www)))
    server = ns.start("apache2", apache.foreground_argv(conf))
    out = os.path.join(ns.root, "web.jsonl")
    fetcher = ns.start("web", [PY, "-m", "twinstar.demo.stack.web", "--url", f"http://{LOCAL}/", "--out", out])
    wait_until("3 good fetches", lambda: sum(1 for r in json_lines(out) if r["ok"]) >= 3)
    ns.stop(server)
    wait_until("a failed fetch", lambda: any(not r["ok"] for r in json_lines(out)))
    server = ns.start("apache2", apache.foreground_argv(conf))
    seen = len(json_lines(out))
    wait_until("a good fetch again", lambda: any(r["ok"] for r in json_lines(out)[seen:]))
    ns.stop(fetcher)
    ns.stop(server)
    outage, failed = results.web(json_lines(out))
    assert failed >= 1 and outage is not None and outage > 50
