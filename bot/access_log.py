"""gunicorn's access log without a line per forged request: 401s are counted and summed up
in one line a minute, so a flood of unsigned junk cannot fill the disk."""

from __future__ import annotations

import threading
import time
from typing import Any

from gunicorn.glogging import Logger

SUMMARY_EVERY_SECONDS = 60.0


class QuietAccessLog(Logger):  # type: ignore[misc]
    """The usual access log, except that refused signatures (401) are counted, not listed."""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self._lock = threading.Lock()
        self._refused = 0
        self._logged_at: float | None = None

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Log one request, or count it when it was refused for its signature."""
        if not str(getattr(resp, "status", "")).startswith("401"):
            super().access(resp, req, environ, request_time)
            return
        with self._lock:
            self._refused += 1
            now = time.monotonic()
            if self._logged_at is not None and now - self._logged_at < SUMMARY_EVERY_SECONDS:
                return  # counted; said in the next line
            refused, self._refused, self._logged_at = self._refused, 0, now
        self.access_log.info(
            "%d request(s) refused with 401 (missing or wrong Slack signature) since the last "
            "such line",
            refused,
        )
