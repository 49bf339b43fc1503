"""Which mail server wrote a log: Exim or Postfix, from the first lines of the file.

Each line that clearly belongs to one of them is a vote; a file with no such line is undecided.
"""

from __future__ import annotations

import re

from .parse import exim

EXIM = "exim"
POSTFIX = "postfix"
FORMATS = (EXIM, POSTFIX)

# A syslog line of a Postfix daemon: "Jun  3 10:40:57 mail postfix/submission/smtpd[9708]: ...",
# "2022-01-08T19:42:12.572958+00:00 mail postfix-out/smtp[19191]: ...", "... mx-in/cleanup[12]: ...".
_POSTFIX_RE = re.compile(
    r"(?:[A-Z][a-z]{2} {1,2}\d\d? \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)\S* \S+ "
    r"(?:postfix[^\s\[:]*|[^\s\[:]*/(?:smtpd?|qmgr|cleanup|pickup|bounce|local|virtual|lmtp|pipe|"
    r"postscreen|postsuper|error|discard))(?:\[\d+\])?: "
)


def line_format(line: str) -> str | None:
    """'postfix' or 'exim' when this one line shows it, else None (another program, junk, empty)."""
    if _POSTFIX_RE.match(line):
        return POSTFIX
    if exim.parse_exim_line(line).kind != exim.UNKNOWN and line.strip():
        return EXIM
    return None


def detect_format(head: bytes) -> str:
    """'exim' or 'postfix' for a file that starts with ``head`` (its first bytes, decompressed).

    The format with more lines in the head wins; Exim when no line tells (the format of old).
    """
    return decided_format(head) or EXIM


def decided_format(head: bytes) -> str | None:
    """Like detect_format, but None when no line of ``head`` belongs to either format."""
    votes = {EXIM: 0, POSTFIX: 0}
    lines = head.decode("utf-8", "replace").split("\n")
    if len(lines) > 1 and len(head) >= 4096:
        lines.pop()  # the last line may be cut in the middle
    for line in lines:
        fmt = line_format(line.rstrip("\r"))
        if fmt is not None:
            votes[fmt] += 1
    if votes[POSTFIX] > votes[EXIM]:
        return POSTFIX
    if votes[EXIM]:
        return EXIM
    return None
