"""Until the demo stops a client: its probing loops run until SIGTERM (or Ctrl-C).

The database writer (``stack/writer.py``) keeps its own copy: it runs under
the system's Python as a script and imports nothing of twinstar.
"""

from __future__ import annotations

import signal


class StopSignal:
    """``requested`` turns true at the first SIGTERM or SIGINT; the handlers are set when it is made."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._request)
        signal.signal(signal.SIGINT, self._request)

    def _request(self, signum: int, frame: object) -> None:
        self.requested = True
