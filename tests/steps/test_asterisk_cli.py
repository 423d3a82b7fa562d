"""The parsers of ``asterisk -rx`` output, on output recorded from real Asterisk systems.

The samples are verbatim tables from operators' notes and monitoring plugins
(Asterisk 1.8/11 without the ``Span`` columns, 13.15 with ``dahdi show
status``'s ``Fra Codi Options LBO`` columns) and, for the current layout,
chan_dahdi's own ``FORMAT2``/``FORMAT`` (``channels/chan_dahdi.c``): the
stand-in prints that layout, and these tests read both.
"""

from __future__ import annotations

import pytest

from twinstar.standins import asterisk as standin
from twinstar.steps import asterisk_cli as cli
from twinstar.steps.asterisk_cli import Channel, CliOutputError, StatusSpan

# Asterisk 1.8 (a Digium wiki how-to): no Span column, three columns of counters.
STATUS_18 = """\
Description                              Alarms     IRQ        bpviol     CRC4
Wildcard TDM410P Board 1                 OK         0          0          0
Wildcard TDM800P Board 2                 OK         0          0          0
"""
# Asterisk 1.8 with a span in alarm (a troubleshooting guide).
STATUS_18_RED = """\
Description                              Alarms     IRQ        bpviol     CRC4
Sangoma Wildcard E100P E1/PRA Card 0      OK         0          0          0
Wildcard X100P Board 1                   OK         0          0          0
Wildcard X100P Board 2                   RED        0          0          0
"""
# Asterisk 13.15 (a SwitchPi forum post).
STATUS_13 = """\
Description                              Alarms  IRQ    bpviol CRC    Fra Codi Options  LBO
SwitchPi DAWN TDM BUS 0                  OK      0      0      0      CAS Unk           0 db (CSU)/0-133 feet (DSX-1)
SwitchPi DAWN TDM BUS 1                  OK      0      0      0      CAS Unk           0 db (CSU)/0-133 feet (DSX-1)
"""
# A monitoring plugin's comment: a digital span in blue and red alarm.
STATUS_BLU_RED = """\
Description                              Alarms  IRQ    bpviol CRC    Fra Codi Options  LBO
Wildcard TE131/TE133 Card 0              BLU/RED 0      0      0      CCS HDB3          0 db (CSU)/0-133 feet (DSX-1)
"""
# Asterisk 1.8 (a Digium wiki how-to).
CHANNELS_18 = """\
   Chan Extension  Context         Language   MOH Interpret
 pseudo            default                    default
      1            from-pstn       de         default
      2            from-pstn       de         default
"""
# Asterisk 13.15: Blocked and In Service columns, still no Span.
CHANNELS_13 = """\
   Chan Extension       Context         Language   MOH Interpret        Blocked    In Service Description
 pseudo                 default                    default                         Yes
      1                 from-pstn                  default                         Yes
"""
# Asterisk 13.15 with chan_dahdi loaded before DAHDI had any span: the pseudo channel only.
CHANNELS_13_EMPTY = """\
   Chan Extension       Context         Language   MOH Interpret        Blocked    In Service Description
 pseudo                 default                    default                         Yes
"""
# A later Asterisk (an installer's log): the Span and Signalling columns.
CHANNELS_SPAN = """\
   Chan Span Signalling           Extension  Context         Language MOH Interpret        Blocked    In Service Alarms       Description
 pseudo    0 Pseudo                          default                  default                         Yes        No Alarm
      1    1 FXO Kewlstart                   from-internal            default                         Yes        Yellow Alarm
      2    1 FXO Kewlstart                   from-internal            default                         Yes        Yellow Alarm
      3    1 FXO Kewlstart                   from-internal            default                         Yes        Yellow Alarm
"""
NOT_LOADED = "No such command 'dahdi show channels' (type 'core show help dahdi show channels' for other possible commands)\n"
NO_DAHDI = "No DAHDI found. Unable to open /dev/dahdi/ctl: No such file or directory\n"


def test_status_without_span_numbers() -> None:
    assert cli.parse_status(STATUS_18) == [
        StatusSpan(None, "Wildcard TDM410P Board 1", "OK"),
        StatusSpan(None, "Wildcard TDM800P Board 2", "OK"),
    ]
    assert [s.alarms for s in cli.parse_status(STATUS_18_RED)] == ["OK", "OK", "RED"]
    assert [s.description for s in cli.parse_status(STATUS_13)] == ["SwitchPi DAWN TDM BUS 0", "SwitchPi DAWN TDM BUS 1"]
    assert cli.parse_status(STATUS_BLU_RED)[0].alarms == "BLU/RED"


def test_status_with_span_numbers_as_chan_dahdi_prints_it() -> None:
    header = standin.STATUS_HEADER % ("Span", "Description", "Alarms", "IRQ", "bpviol", "CRC", "Framing", "Coding", "Options", "LBO")
    rows = [
        standin.STATUS_ROW % (1, "Xorcom XPD [usb-0000:00:1d.7-1].1: FXS", "OK", 0, 0, 0, "CAS", "Unknown", "", standin.LBO),
        standin.STATUS_ROW % (12, "A description longer than forty characters, cut", "UNCONFIGURED", 0, 0, 0, "CAS", "Unknown", "", standin.LBO),
    ]
    assert header.startswith("Span Description                              Alarms  IRQ    bpviol CRC    Fra Codi Options  LBO")
    assert cli.parse_status("\n".join([header, *rows]) + "\n") == [
        StatusSpan(1, "Xorcom XPD [usb-0000:00:1d.7-1].1: FXS", "OK"),
        StatusSpan(12, "A description longer than forty characte", "UNCONFI"),  # %-7.7s cuts UNCONFIGURED
    ]


def test_channels_of_every_layout() -> None:
    assert cli.parse_channels(CHANNELS_18) == [Channel(1, None), Channel(2, None)]
    assert cli.parse_channels(CHANNELS_13) == [Channel(1, None)]
    assert cli.parse_channels(CHANNELS_13_EMPTY) == []
    assert cli.parse_channels(CHANNELS_SPAN) == [Channel(1, 1), Channel(2, 1), Channel(3, 1)]


@pytest.mark.parametrize(
    ("parse", "text", "says"),
    [
        (cli.parse_channels, NOT_LOADED, "dahdi show channels: expected its table, found \"No such command 'dahdi show channels'"),
        (cli.parse_status, NO_DAHDI, "dahdi show status: expected its table, found 'No DAHDI found."),
        (cli.parse_status, STATUS_18.replace("OK  ", "GOOD"), "expected the alarms after the description"),
        (cli.parse_channels, CHANNELS_SPAN.replace("      2    1", "     2x    1"), "expected a channel number and its span"),
    ],
)
def test_what_is_not_the_table_is_named(parse: object, text: str, says: str) -> None:
    with pytest.raises(CliOutputError) as err:
        parse(text)  # type: ignore[operator]
    assert says in str(err.value)


def test_missing_channels() -> None:
    spans = [StatusSpan(1, "XPD 1", "OK"), StatusSpan(2, "XPD 2", "OK")]
    assert cli.missing_channels(spans, [Channel(1, 1), Channel(9, 2)]) == []
    assert cli.missing_channels(spans, [Channel(1, 1)]) == ["span 2 (XPD 2) has no channel in chan_dahdi"]
    assert cli.missing_channels(spans, []) == ["chan_dahdi shows no DAHDI channel"]
    assert cli.missing_channels([], [Channel(1, 1)]) == ["DAHDI shows no span"]
    assert cli.missing_channels(cli.parse_status(STATUS_18), cli.parse_channels(CHANNELS_18)) == []
    assert cli.missing_channels(cli.parse_status(STATUS_13), cli.parse_channels(CHANNELS_13_EMPTY)) == ["chan_dahdi shows no DAHDI channel"]


def test_module_table() -> None:
    loaded = (
        "Module                         Description                              Use Count  Status      Support Level\n"
        "chan_dahdi.so                  DAHDI Telephony w/PRI & SS7 & MFC/R2     0          Running              core\n"
        "1 modules loaded\n"
    )
    assert cli.module_loaded(loaded, "chan_dahdi.so")
    assert not cli.module_loaded("Module                         Description                              Use Count\n0 modules loaded\n", "chan_dahdi.so")
    with pytest.raises(CliOutputError, match="expected 'N modules loaded' last"):
        cli.module_loaded(standin.NOT_RUNNING, "chan_dahdi.so")
    assert cli.answers(standin.VERSION) and not cli.answers(standin.NOT_RUNNING)
