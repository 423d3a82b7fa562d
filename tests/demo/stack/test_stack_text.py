"""The real stack's generated configuration and the parsing of its clients' records (pure).

Where a real program can judge the generated text (``kamailio -c``), it does.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from twinstar.demo.scenario import Collected
from twinstar.demo.stack import apache, kamailio, mariadb, phone, results, sipp

STAT_HEADER = "StartTime;LastResetTime;CurrentTime;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedTimeoutOnRecv(C);"


def stat_row(success: int, failed: int, timeout: int) -> str:
    stamp = "2026-12-05\t09:47:33.317879\t1796464053.317879"
    return f"{stamp};{stamp};{stamp};0;{success};0;{failed};{timeout};"


def test_kamailio_configuration_is_accepted_by_kamailio(tmp_path: Path) -> None:
    text = kamailio.config(kamailio.KamailioSettings("127.0.0.1", mariadb.kamailio_db_url()))
    assert 'append_to_reply("X-Node: $env(NODE)\\r\\n")' in text
    assert 'modparam("usrloc", "db_mode", 1)' in text
    assert "listen=udp:127.0.0.1:5060" in text
    path = os.path.join(str(tmp_path), "kamailio.cfg")
    with open(path, "w") as f:
        f.write(text)
    check = subprocess.run(kamailio.check_argv(path), capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr[-2000:]
    with open(path, "w") as f:
        f.write(text.replace("save(", "svae("))  # a broken one is refused: the check can fail
    assert subprocess.run(kamailio.check_argv(path), capture_output=True, timeout=60).returncode != 0


def test_setup_sql_creates_the_writer_table_and_usrloc_tables() -> None:
    sql = mariadb.setup_sql(kamailio.schema())
    assert "CREATE TABLE tw.t (id BIGINT PRIMARY KEY" in sql
    assert sql.index("CREATE TABLE `version`") < sql.index("INSERT INTO version (table_name, table_version) values ('location'")
    assert mariadb.kamailio_db_url("10.0.0.1") == "mysql://kamailio:twinstar-demo@10.0.0.1:3306/kamailio"
    assert "innodb_flush_log_at_trx_commit = 1" in mariadb.server_cnf()
    assert mariadb.parse_ids("3\n1\n2\n") == [3, 1, 2]


def test_apache_configuration_names_address_and_root() -> None:
    text = apache.config(apache.ApacheSettings("/run/x", "10.213.0.100", "/replica/var/www/html"))
    assert "Listen 10.213.0.100:80" in text and "DocumentRoot /replica/var/www/html" in text


def test_sipp_statistics_last_complete_line_counts() -> None:
    text = "\n".join([STAT_HEADER, stat_row(10, 0, 0), stat_row(90, 7, 6), "2026-12-05\t09:4"])
    start, counts = sipp.parse_stat(text)
    assert start == 1796464053.317879
    assert counts == {"SuccessfulCall": 90, "FailedCall": 7, "FailedTimeoutOnRecv": 6}
    assert sipp.parse_stat(STAT_HEADER) == (None, {})


def test_sipp_outage_from_the_answers_by_node() -> None:
    log = "\n".join(["10 answered 1 pbx-a", "20 answered 2 pbx-a", "garbage", "700 answered 70 pbx-b", "710 answered 71 pbx-b"])
    record = sipp.SippRecord(100.0, {"SuccessfulCall": 4, "FailedCall": 67}, sipp.parse_log(log))
    assert record.by_node() == {"pbx-a": 2, "pbx-b": 2}
    gap = sipp.outage(record, "pbx-a", "pbx-b")
    assert gap == sipp.SipOutage("pbx-a", "pbx-b", 20, 700, 67)
    assert gap.outage_ms == 680
    assert record.wall(700) == 100.7
    assert sipp.outage(record, "pbx-b", "pbx-a") is None


def test_sipp_argv_pings_every_10_ms_and_records_both_files() -> None:
    argv = sipp.argv("10.213.0.100", "10.213.0.10", scenario="s.xml", stat_file="s.csv", log_file="s.log")
    assert argv[:2] == ["sipp", "10.213.0.100:5060"]
    assert argv[argv.index("-r") + 1] == "100"
    assert argv[argv.index("-stf") + 1] == "s.csv" and argv[argv.index("-log_file") + 1] == "s.log"
    assert f'timeout="{sipp.ANSWER_TIMEOUT_MS}"' in sipp.SCENARIO and "X-Node:" in sipp.SCENARIO


def test_phone_request_and_answer() -> None:
    message = phone.request("REGISTER", "10.213.0.100", "10.213.0.10", 5071, call_id="c1", cseq=1).decode()
    assert message.startswith("REGISTER sip:10.213.0.100 SIP/2.0\r\n")
    assert "Contact: <sip:phone@10.213.0.10:5071>\r\n" in message and message.endswith("\r\n\r\n")
    lookup = phone.request("OPTIONS", "10.213.0.100", "10.213.0.10", 5071, call_id="c2", cseq=1).decode()
    assert lookup.startswith("OPTIONS sip:phone@10.213.0.100 SIP/2.0\r\n") and "Contact:" not in lookup
    answer = phone.parse_answer(b"SIP/2.0 200 Registered\r\nCall-ID: c2\r\nX-Node: pbx-b\r\nX-Contact: sip:phone@x\r\n\r\n")
    assert answer == phone.Answer(200, {"call-id": "c2", "x-node": "pbx-b", "x-contact": "sip:phone@x"})
    assert phone.parse_answer(b"OPTIONS sip:x SIP/2.0\r\n\r\n") is None


def test_database_result_counts_missing_acknowledged_rows() -> None:
    log = [{"t": 1.0, "connected": True}, {"t": 1.01, "ack": 1}, {"t": 1.02, "ack": 2},
           {"t": 1.3, "failed": 3, "error": "x"}, {"t": 1.72, "ack": 4}]  # fmt: skip
    r = results.database(log, [1, 2, 3, 4])
    assert (r.acknowledged, r.present, r.missing, r.unacknowledged_present, r.errors) == (3, 4, [], 1, 1)
    assert r.gap_ms == 700.0
    assert results.database(log, [1, 4]).missing == [2]


def test_registration_kept_only_when_found_on_the_new_server() -> None:
    log = [{"t": 1, "action": "register", "status": 200}, {"t": 2, "action": "lookup", "status": 200, "node": "pbx-a", "contact": "c"},
           {"t": 9, "action": "lookup", "status": 200, "node": "pbx-b", "contact": "c"}]  # fmt: skip
    assert results.registration(log, 5).kept
    assert not results.registration(log[:2], 5).kept
    assert not results.registration([log[0], log[1], {**log[2], "status": 404}], 5).kept


def test_web_outage_and_service_starts() -> None:
    fetches = [{"t": 1.0, "ok": True}, {"t": 1.05, "ok": False}, {"t": 1.6, "ok": True}]
    assert results.web(fetches) == (600.0, 1)
    assert results.service_starts({"ip:x": 1.0, "service:mariadb": 300.0}) == {"mariadb": 300.0}


def test_stack_problems_name_each_failed_guarantee() -> None:
    r = results.StackResult()
    problems = r.problems("pbx-a", "pbx-b")
    assert any("SIPp" in p for p in problems) and any("registered" in p for p in problems)
    r.db = results.database([{"t": 1, "ack": 1}], [])
    assert any("1 acknowledged row(s) missing" in p for p in r.problems("pbx-a", "pbx-b"))


def test_sipp_calls_become_probes_answered_or_due() -> None:
    from twinstar.demo.stack.pbx import probes

    record = sipp.SippRecord(100.0, {}, [sipp.Answer(5, 1, "pbx-a"), sipp.Answer(35, 4, "pbx-b")])
    assert probes(record) == [
        {"t": 100.005, "by": "pbx-a"},
        {"t": 100.01, "by": None},
        {"t": 100.02, "by": None},
        {"t": 100.035, "by": "pbx-b"},
    ]
    assert probes(sipp.SippRecord()) == []


def test_the_report_shows_the_real_stack_and_fails_on_a_missing_row() -> None:
    from twinstar.demo.report import render, summarize, to_json
    from twinstar.demo.scenario import Collected, Options, Scenario
    from twinstar.demo.stacks import StackKind
    from twinstar.demo.topology import plan

    c = Collected(Scenario.SWITCHOVER, Options(stack=StackKind.REAL), plan(1), started=0.0)
    record = sipp.SippRecord(1.0, {"SuccessfulCall": 3, "FailedCall": 50, "FailedTimeoutOnRecv": 50},
                             [sipp.Answer(10, 1, "pbx-a"), sipp.Answer(20, 2, "pbx-a"), sipp.Answer(700, 70, "pbx-b")])  # fmt: skip
    phone_log = [{"t": 1.0, "action": "register", "status": 200}, {"t": 1.1, "action": "lookup", "status": 200, "node": "pbx-a", "contact": "sip:p"},
                 {"t": 3.0, "action": "lookup", "status": 200, "node": "pbx-b", "contact": "sip:p"}]  # fmt: skip
    writer_log = [{"t": 1.0, "ack": 1}, {"t": 1.5, "ack": 2}]
    c.stack = results.Records(record, phone_log, 2.0, writer_log, [1, 2], [{"t": 1.0, "ok": True}, {"t": 2.0, "ok": True}])
    c.journals = {"pbx-b": [{"event": "end", "action": "takeover", "ts": 3.0, "result": "ok", "duration_ms": 900.0,
                             "steps": [{"step": "service:mariadb", "duration_ms": 400.0}]}]}  # fmt: skip
    c.built = True
    s = summarize(c)
    assert s.stack is not None and s.stack.service_start_ms == {"mariadb": 400.0}
    assert s.unanswered == 67
    text = render(c)
    assert "SIP outage (SIPp)   680 ms" in text and "2 acknowledged, 2 present, 0 missing" in text
    assert "found on pbx-b (sip:p) without registering again" in text
    data = to_json(c)
    assert data["stack"] == "real" and data["db_rows_missing"] == 0 and data["registration_found"] is True
    c.stack.present = [2]
    assert any("1 acknowledged row(s) missing at the end: 1" in p for p in summarize(c).problems)


def test_a_failed_takeover_on_the_real_stack_is_judged_by_the_rows_on_the_server_that_serves_at_the_end() -> None:
    """pbx-a served, was cut, served again: no registration move to judge, but every acknowledged row must be there."""
    from twinstar.demo.report import summarize, to_json
    from twinstar.demo.scenario import Collected, Options, Scenario
    from twinstar.demo.stacks import StackKind
    from twinstar.demo.topology import plan

    c = Collected(Scenario.FAILED_TAKEOVER, Options(stack=StackKind.REAL), plan(1), started=0.0)
    record = sipp.SippRecord(1.0, {"SuccessfulCall": 2, "FailedCall": 50}, [sipp.Answer(10, 1, "pbx-a"), sipp.Answer(900, 90, "pbx-a")])
    c.stack = results.Records(record, [], None, [{"t": 1.0, "ack": 1}, {"t": 1.5, "ack": 2}], [1, 2], [{"t": 1.0, "ok": True}, {"t": 2.0, "ok": True}])
    c.probes = probes_of(record)
    c.journals = {"pbx-a": [], "pbx-b": [{"event": "policy", "ts": 5.0, "detail": "hand-back (x): watchdog off; units jumped to the peer"}]}
    c.built = True
    s = summarize(c)
    assert s.problems == [] and s.stack is not None
    data = to_json(c)
    assert data["served_by"] == "pbx-a" and data["db_rows_missing"] == 0 and data["hand_backs"] == 1
    c.stack.present = [2]
    assert summarize(c).problems == ["1 acknowledged row(s) missing at the end: 1"]
    c.stack.present = None
    assert summarize(c).problems == ["the database writer left no record"]


def probes_of(record: sipp.SippRecord) -> list[dict[str, object]]:
    from twinstar.demo.stack.pbx import probes

    return probes(record)


def ping_pong_recovered() -> Collected:
    """Ping-pong on the real stack: pbx-a served, nobody did from t=1.5 on, the operator took over on pbx-b at 5.0."""
    from twinstar.demo.scenario import Collected, Options, Scenario
    from twinstar.demo.stacks import StackKind
    from twinstar.demo.topology import plan

    c = Collected(Scenario.PING_PONG, Options(stack=StackKind.REAL), plan(1), started=0.0)
    record = sipp.SippRecord(1.0, {"SuccessfulCall": 3, "FailedCall": 450},
                             [sipp.Answer(10, 1, "pbx-a"), sipp.Answer(400, 40, "pbx-a"), sipp.Answer(4600, 460, "pbx-b")])  # fmt: skip
    phone_log = [{"t": 1.0, "action": "register", "status": 200}, {"t": 1.1, "action": "lookup", "status": 200, "node": "pbx-a", "contact": "sip:p"},
                 {"t": 5.8, "action": "lookup", "status": 200, "node": "pbx-b", "contact": "sip:p"}]  # fmt: skip
    writer_log = [{"t": 1.0, "ack": 1}, {"t": 1.2, "ack": 2}, {"t": 3.0, "ack": 3}]  # 3: while a failed try had MariaDB up
    c.stack = results.Records(record, phone_log, 5.7, writer_log, [1, 2, 3], [{"t": 1.0, "ok": True}, {"t": 5.7, "ok": True}])
    c.probes = probes_of(record)
    hand_back = "hand-back (x): watchdog off; units jumped to the peer"
    c.journals = {
        "pbx-a": [{"event": "policy", "ts": 3.0, "detail": hand_back}, {"event": "policy", "ts": 3.1, "detail": "alarm: cannot serve: x"}],
        "pbx-b": [{"event": "policy", "ts": 2.0, "detail": hand_back},
                  {"event": "policy", "ts": 4.0, "detail": "alarm: cannot serve: x (no ping-pong)"},
                  {"event": "begin", "action": "takeover", "run": "r9", "ts": 5.0},
                  {"run": "r9", "step": "service:mariadb", "phase": "check", "start": 5.2},
                  {"run": "r9", "step": "service:apache2", "phase": "check", "start": 5.5},
                  {"run": "r9", "step": "service:kamailio", "phase": "check", "start": 5.5},
                  {"event": "end", "action": "takeover", "ts": 5.6, "result": "ok", "duration_ms": 600.0,
                   "steps": [{"step": "service:mariadb", "duration_ms": 300.0}, {"step": "service:kamailio", "duration_ms": 100.0},
                             {"step": "service:apache2", "duration_ms": 100.0}]}],
    }  # fmt: skip
    c.recovery = {"on": "pbx-b", "t": 5.0, "fixed": "the failing drop-in removed", "takeover_exit": 0}
    c.built = True
    return c


def test_ping_pong_on_the_real_stack_is_judged_before_the_recovery_and_its_rows_after_it() -> None:
    from twinstar.demo.report import render, summarize, to_json

    c = ping_pong_recovered()
    s = summarize(c)
    assert s.problems == [] and s.alarms == ["pbx-a", "pbx-b"] and s.served_before_recovery is None
    assert s.stack is not None and s.stack.service_started_at_ms == {"mariadb": 200.0, "kamailio": 500.0, "apache2": 500.0}
    text = render(c)
    assert "scenario's end      nobody serving (SIPp's last OPTIONS before the recovery), alarm on pbx-a, pbx-b" in text
    assert "recovery            from 5000 ms, the operator on pbx-b (docs/operations.md): the failing drop-in removed; twinstar takeover exit 0" in text
    assert "3 acknowledged, 3 present, 0 missing" in text and "found on pbx-b (sip:p) without registering again" in text
    assert "mariadb 300 ms from +200, kamailio 100 ms from +500, apache2 100 ms from +500" in text
    data = to_json(c)
    assert data["recovery"]["served_before"] is None and data["recovery"]["on"] == "pbx-b"
    assert data["db_rows_missing"] == 0 and data["registration_found"] is True
    # A row acknowledged during a failed try and missing at the end fails the run.
    c.stack.present = [1, 2]  # type: ignore[union-attr]
    assert summarize(c).problems == ["1 acknowledged row(s) missing at the end: 3"]


def test_ping_pong_fails_when_someone_served_at_the_scenarios_end_or_the_takeover_failed() -> None:
    from twinstar.demo.report import summarize

    c = ping_pong_recovered()
    assert c.stack is not None and c.recovery is not None
    c.stack.sip.answers.insert(2, sipp.Answer(3995, 400, "pbx-b"))  # pbx-b answered just before the recovery
    c.probes = probes_of(c.stack.sip)
    problems = summarize(c).problems
    assert "pbx-b was serving when the scenario ended; nobody can" in problems
    assert "before the recovery the client was served by pbx-a then pbx-b, expected pbx-a only" in problems
    c = ping_pong_recovered()
    assert c.recovery is not None
    c.recovery["takeover_exit"] = 1
    assert "the operator's twinstar takeover on pbx-b exited with status 1" in summarize(c).problems


def test_the_mariadb_units_in_the_docs_are_the_ones_the_real_stack_writes() -> None:
    """docs/steps.md shows the drop-in and the checks' unit; the real stack writes these texts (one copy)."""
    from tests.conftest import REPO

    steps = (REPO / "docs" / "steps.md").read_text()
    for path, text in ((mariadb.UNIT_DROPIN, mariadb.unit_dropin()), (mariadb.CHECKS_UNIT, mariadb.checks_unit())):
        assert f"`{path}`:\n\n```ini\n{text}```\n" in steps


def test_the_mariadb_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` (no systemd booted) of the checks' unit beside Debian's ``mariadb.service``
    with the drop-in: every directive known, the units they name found."""
    import shutil

    import pytest

    analyze = shutil.which("systemd-analyze")
    unit = Path("/lib/systemd/system/mariadb.service")
    if analyze is None or not unit.exists():
        pytest.fail("systemd-analyze and Debian's mariadb.service are needed (sh .ci/setup installs them)")
    shutil.copy(unit, tmp_path / "mariadb.service")
    (tmp_path / "mariadb.service.d").mkdir()
    (tmp_path / "mariadb.service.d" / os.path.basename(mariadb.UNIT_DROPIN)).write_text(mariadb.unit_dropin())
    (tmp_path / os.path.basename(mariadb.CHECKS_UNIT)).write_text(mariadb.checks_unit())
    result = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / "mariadb.service"), str(tmp_path / "mariadb-debian-start.service")],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"})  # fmt: skip
    assert result.returncode == 0 and "Unknown" not in result.stderr, result.stderr
