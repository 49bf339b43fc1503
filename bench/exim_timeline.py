"""Exim message ids, durations, and a writer that turns out-of-order log lines into a time-ordered log.

Used by gen_exim.py; stdlib only.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from typing import BinaryIO

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Every two-digit base-62 number, so that an id is a few table look-ups instead of a loop.
B62_PAIRS = [a + b for a in BASE62 for b in BASE62]
PID_MAX = 4_194_304  # Linux pid_max on 64-bit systems


def b62_time(epoch: int) -> str:
    """Six base-62 digits of the second a message arrived: the first part of both id forms."""
    high, low = divmod(epoch, 3844)
    top, mid = divmod(high, 3844)
    return B62_PAIRS[top] + B62_PAIRS[mid] + B62_PAIRS[low]


def new_message_id(time_part: str, pid: int, usec: int) -> str:
    """Exim >= 4.97: 6-11-4 characters (time, pid, microseconds), e.g. ``1smkL5-00000000e65-24eQ``."""
    pid_part = B62_PAIRS[pid // 3844] + B62_PAIRS[pid % 3844]
    return f"{time_part}-0000000{pid_part}-{B62_PAIRS[usec // 3844]}{B62_PAIRS[usec % 3844]}"


def old_message_id(time_part: str, pid: int, usec: int) -> str:
    """Exim <= 4.96: 6-6-2 characters, sub-second in 500 µs steps, e.g. ``1ZeQYq-0000Wm-1V``."""
    return f"{time_part}-00{B62_PAIRS[pid // 3844]}{B62_PAIRS[pid % 3844]}-{B62_PAIRS[usec // 500]}"


def wdhms(seconds: int) -> str:
    """Exim's duration format in QT= and DT=: ``0s``, ``38s``, ``11m38s``, ``2h5m``, ``1d3h``."""
    if seconds < 60:
        return f"{seconds}s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            out.append(f"{count}{unit}")
    return "".join(out)


PID_AFTER_TIMESTAMP = re.compile(r"(?<=^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )\[\d+\] ", re.MULTILINE)


class TimeOrderedWriter:
    """Collects log lines per second and writes them in time order, a megabyte at a time.

    A line can be added for any second not written yet (``buckets[t].append(line)`` directly on
    hot paths, ``add`` elsewhere); ``flush_before(t)`` writes out every second before ``t``. Within
    a second, lines keep the order they were added in: a message's own lines stay in causal order
    while other messages' lines interleave with them. Lines carry "[pid] "; without ``with_pid``
    it is removed from each chunk in one regex pass.
    """

    CHUNK = 1 << 20

    def __init__(self, out: BinaryIO, start: int, end: int, with_pid: bool) -> None:
        self.out = out
        self.end = end
        self.flushed = start  # every second before this one has been written
        self.with_pid = with_pid
        self.buckets: defaultdict[int, list[str]] = defaultdict(list)
        self.lines = 0
        self.bytes = 0
        self._parts: list[str] = []
        self._size = 0
        self._day = -1
        self._day_text = ""

    def add(self, t: int, line: str) -> bool:
        """Queue a line for second ``t``; False, and nothing written, if ``t`` is past the end."""
        if t >= self.end:
            return False
        self.buckets[max(t, self.flushed)].append(line)
        return True

    def flush_before(self, t: int) -> None:
        buckets = self.buckets
        for second in range(self.flushed, min(t, self.end)):
            lines = buckets.pop(second, None)
            if lines:
                self._emit(second, lines)
        self.flushed = max(self.flushed, t)

    def close(self) -> None:
        self.flush_before(self.end)
        self._write()
        self.out.flush()

    def _day_prefix(self, second: int) -> str:
        """The date part of a line's stamp (computed once a day)."""
        return time.strftime("%Y-%m-%d ", time.gmtime(second))

    def _prefix(self, day_text: str, clock: str) -> str:
        """The whole stamp before a line: Exim's "2026-11-01 10:00:00 "."""
        return f"{day_text}{clock} "

    def _finish(self, text: str) -> str:
        return text if self.with_pid else PID_AFTER_TIMESTAMP.sub("", text)

    def _emit(self, second: int, lines: list[str]) -> None:
        day, second_of_day = divmod(second, 86400)
        if day != self._day:
            self._day = day
            self._day_text = self._day_prefix(second)
        hour, rest = divmod(second_of_day, 3600)
        prefix = self._prefix(self._day_text, f"{hour:02d}:{rest // 60:02d}:{rest % 60:02d}")
        chunk = prefix + ("\n" + prefix).join(lines) + "\n"
        self.lines += len(lines)
        self._parts.append(chunk)
        self._size += len(chunk)
        if self._size >= self.CHUNK:
            self._write()

    def _write(self) -> None:
        data = self._finish("".join(self._parts)).encode("utf-8")
        self.bytes += len(data)
        self.out.write(data)
        self._parts = []
        self._size = 0
