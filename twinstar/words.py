"""The words twinstar writes, logs and compares, as plain strings: one copy of each.

The udev hook's fast path compares these strings without importing
:mod:`enum`; the enums elsewhere (:class:`~twinstar.engine.state.Role`,
:class:`~twinstar.engine.report.Action`, :class:`~twinstar.config.Handoff`)
are built from the same constants, and a test checks that they agree.
Built-in modules only: this module imports nothing.
"""

# --- a node's role (state.json "role") ---------------------------------------------------
STANDBY = "standby"
STARTING = "starting"
ACTIVE = "active"
STOPPING = "stopping"
FAILED = "failed"
ROLES = (STANDBY, STARTING, ACTIVE, STOPPING, FAILED)
#: The roles of a takeover or release in progress.
TRANSITIONS = (STARTING, STOPPING)

# --- what a decision or a transition does ------------------------------------------------
TAKEOVER = "takeover"
RELEASE = "release"
#: The engine's two transitions.
ACTIONS = (TAKEOVER, RELEASE)
#: A decision that does nothing.
NOTHING = "nothing"

# --- how the hook hands a transition off (configuration key ``handoff``) -------------------
AUTO = "auto"
SYSTEMD = "systemd"
SPAWN = "spawn"
INLINE = "inline"
HANDOFF_MODES = (AUTO, SYSTEMD, SPAWN, INLINE)

# --- what made the hotplug path look at the units ---------------------------------------------
EVENT = "event"
PERIODIC = "periodic"
AFTER_TRANSITION = "after-transition"
#: The policy's retry of a takeover that failed, once its delay is over.
RETRY = "retry"
TRIGGERS = (EVENT, PERIODIC, AFTER_TRANSITION, RETRY)

# --- what the pair's policy does when a plain takeover or release is not the answer ------------
#: Release, disable the watchdog and jump the units to the peer.
HAND_BACK = "hand-back"
#: Wait (a retry's delay, a split's grace period) and look again.
WAIT = "wait"
#: Keep what this node has, and raise the alarm.
STAY = "stay"
POLICY_ACTIONS = (TAKEOVER, RELEASE, HAND_BACK, WAIT, STAY, NOTHING)
