"""How crowded the machine's cores are, for the webhook runner's rests: money first, so
the busier the cores, the longer the runner leaves them to the server."""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["PRESSURE", "Crowding"]

# Linux's pressure stall information for the CPU: its first line's ``total`` is the
# microseconds in which some task waited for a core.
PRESSURE = Path("/proc/pressure/cpu")
# Waiting this share of the time or more counts as fully crowded.
CROWDED = 0.5


def _stalled_micros(path: Path) -> int | None:
    try:
        return int(path.read_text().splitlines()[0].rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


class Crowding:
    """How crowded the cores have been since it was last asked, from 0 (idle) to 1 (some
    task waited for a core half the time or more). The first answer is 1: until it has
    measured, it assumes the worst. Where the kernel does not tell, the load average
    over the cores: a load of one per core is fully crowded."""

    def __init__(self, path: Path = PRESSURE) -> None:
        self.path = path
        self._last: tuple[float, int] | None = None

    def factor(self) -> float:
        now, stalled = time.monotonic(), _stalled_micros(self.path)
        if stalled is None:
            return min(os.getloadavg()[0] / (os.cpu_count() or 1), 1.0)
        last, self._last = self._last, (now, stalled)
        if last is None or now <= last[0]:
            return 1.0
        waited = (stalled - last[1]) / 1e6 / (now - last[0])
        return min(max(waited, 0.0) / CROWDED, 1.0)
