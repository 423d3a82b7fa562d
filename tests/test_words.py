"""The words of :mod:`twinstar.words` and the enums built from them agree."""

from __future__ import annotations

from twinstar import words
from twinstar.config import Handoff
from twinstar.engine.report import Action
from twinstar.engine.state import Role
from twinstar.fastpath import decision, statefile
from twinstar.hotplug import handoff


def test_roles() -> None:
    assert tuple(r.value for r in Role) == words.ROLES == statefile.ROLES
    assert statefile.TRANSITIONS == words.TRANSITIONS == (Role.STARTING.value, Role.STOPPING.value)


def test_actions() -> None:
    assert tuple(a.value for a in Action) == words.ACTIONS == (decision.TAKEOVER, decision.RELEASE)
    assert words.NOTHING == decision.NOTHING and words.NOTHING not in words.ACTIONS


def test_handoff_modes() -> None:
    assert tuple(m.value for m in Handoff) == words.HANDOFF_MODES == handoff.MODES


def test_triggers() -> None:
    assert decision.TRIGGERS == words.TRIGGERS == (decision.EVENT, decision.PERIODIC, decision.AFTER_TRANSITION, decision.RETRY)


def test_no_word_is_used_twice() -> None:
    every = [*words.ROLES, *words.ACTIONS, words.NOTHING, *words.HANDOFF_MODES, *words.TRIGGERS, words.HAND_BACK, words.WAIT, words.STAY]
    assert len(every) == len(set(every)), every
