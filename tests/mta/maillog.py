"""Watching an MTA's live log: every line with the moment it was written (to within POLL_SECONDS), and
waits with deadlines. A background thread reads the file all the time, so "within 2 s of the MTA
logging it" is measured from the write, not from when a test got round to looking.

MTA-agnostic: Exim's main log and Postfix's mail log are read the same way.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

POLL_SECONDS = 0.02


@dataclass(slots=True)
class LogLine:
    text: str
    seen_at: float  # time.monotonic() when the watcher first read it (within POLL_SECONDS of the write)


class MailLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: list[LogLine] = []
        self._lock = threading.Lock()
        self._offset = 0
        self._partial = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"watch {path.name}", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._read()
            self._stop.wait(POLL_SECONDS)

    def _read(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        if not data:
            return
        now = time.monotonic()
        self._offset += len(data)
        chunks = (self._partial + data).split(b"\n")
        self._partial = chunks.pop()
        with self._lock:
            self._lines.extend(LogLine(c.decode("utf-8", "replace"), now) for c in chunks)

    @property
    def lines(self) -> list[LogLine]:
        with self._lock:
            return list(self._lines)

    def find(self, pattern: str | re.Pattern[str]) -> LogLine | None:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        return next((line for line in self.lines if regex.search(line.text)), None)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 15.0, what: str = "") -> LogLine:
        """The first line matching ``pattern``, waiting up to ``timeout`` seconds for it to be written."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(pattern)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                shown = what or (pattern if isinstance(pattern, str) else pattern.pattern)
                pytest.fail(f"The mail server did not log {shown} within {timeout:g} s. "
                            f"Its log ends with:\n{self.tail()}", pytrace=False)
            time.sleep(POLL_SECONDS)

    def about(self, text: str) -> list[str]:
        """The lines that mention ``text`` (a message id, an address), for failure messages."""
        return [line.text for line in self.lines if text in line.text]

    def tail(self, n: int = 25) -> str:
        return "\n".join(line.text for line in self.lines[-n:])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
