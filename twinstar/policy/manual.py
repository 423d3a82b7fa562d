"""An operator's ``twinstar takeover`` or ``release``: the transition, held until the units leave and come back.

The hold (``policy.json``) keeps the hook and the daemon from undoing what
the operator did: after a manual release no automatic takeover while the
units stay; after a manual takeover no automatic release or hand-back. It
ends when the units leave this host and come back, or with the other
command. The outcome is recorded like any transition
(:func:`twinstar.policy.consult.after_transition`: a takeover arms the
watchdog; every transition is announced).
"""

from __future__ import annotations

from twinstar.config import Config
from twinstar.engine.report import Report
from twinstar.engine.runner import Engine
from twinstar.errors import TwinstarError
from twinstar.fastpath.syslogsend import log_line
from twinstar.policy import store
from twinstar.policy.consult import after_transition


def by_hand(config: Config, action: str, engine: Engine) -> Report:
    """Hold ``action`` (takeover or release), run it, record and announce the outcome.

    Bad input (a program or ``xpp_order`` the engine refuses) is found before
    the hold is written: nothing changes.
    """
    engine.preflight()
    if action == "takeover":
        engine.check_inputs()
    try:
        store.set_hold(config.state_dir, action)
    except TwinstarError:
        pass  # a state_dir that cannot be written: the engine says so, before any step ("nothing was changed")
    report = engine.takeover() if action == "takeover" else engine.release()
    try:
        log_line(f"policy: operator's {action} holds until the units leave and come back; {after_transition(config, action, report)}")
    except TwinstarError as exc:
        log_line(f"policy: {exc}", error=True)
    return report
