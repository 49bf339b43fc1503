"""pflogsumm (Debian's pflogsumm 1.1.5) as an independent oracle: our counts must agree with its totals.

Both tools read the same copy of each log. Definitional differences, each handled explicitly below:

- Program names. pflogsumm knows "postfix/<daemon>", "postfix/smtps/<daemon>" and
  "postfix/submission/<daemon>" only: it skips the lines of other instances ("postfix-out/smtp",
  "postfix-170.55.103.23/qmgr") and miscounts other services ("postfix/sender-cleanup/cleanup",
  "postfix/dkimmilter/smtpd"). The copy both tools read has every program renamed to
  "postfix/<daemon>" (``normalise``); we read the originals as well (tests/test_postfix.py).
- received: pflogsumm counts smtpd "client=" lines and pickup lines, including "NOQUEUE: client="
  lines of a before-queue content filter (no message yet: the filter's re-injection is the message).
  Ours: messages whose arrival we saw (protocol smtp or local); those NOQUEUE lines are subtracted.
  Both count a content filter's re-injected copy as a message of its own.
- delivered: pflogsumm counts "status=sent" lines whose recipient is in angle brackets and whose
  fields are exactly to, orig_to, relay, conn_use, delay, delays, dsn (a "tls=" field, or
  local(8)'s older bare "to=user@host", hides the line from it), except "forwarded as" lines
  (its "forwarded"). Ours: success events, plus the discard(8) transport's "status=sent", which we
  record as filtered. Lines pflogsumm cannot read are subtracted; forwards are added to its count.
- deferred: messages (queue ids) with at least one "status=deferred" line, in both.
- bounced: pflogsumm counts "status=bounced" lines it can read (the same unreadable shapes as for
  delivered are added to its count). Ours: failure events of a delivery agent (transport set);
  "status=expired" and postsuper deletions are failures without one.
- rejected: pflogsumm counts smtpd and postscreen "reject:" lines and cleanup's reject and
  milter-reject (header, body, END-OF-MESSAGE). Ours: rejected events, which also come from smtpd's
  "milter-reject:" and "proxy-reject:" lines; those are subtracted.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, find_corpora

from trackdelivery.ingest import ingest_files
from trackdelivery.store.sqlite import Store

TOTALS = ("received", "delivered", "forwarded", "deferred", "bounced", "rejected")
# "postfix-out/smtp[1]", "postfix/sender-cleanup/cleanup[2]", "/postfix-script[3]" → "postfix/<daemon>["
PROGRAM = re.compile(r"^(\S+ +\d+ \S+ \S+|\S+ \S+) (?:postfix[^/\s\[:]*)?/(?:[^/\s\[:]+/)?([^/\s\[:]+)\[", re.M)
SYSLOG = r"^(?:[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) \S+ postfix/"


def normalise(source: Path, target: Path, replace: tuple[str, str] | None = None) -> Path:
    text = source.read_text(errors="replace")
    if replace:
        text = text.replace(*replace)
    target.write_text(PROGRAM.sub(r"\1 postfix/\2[", text))
    return target


def pflogsumm(log: Path) -> dict[str, int]:
    exe = shutil.which("pflogsumm") or "/usr/sbin/pflogsumm"
    if not Path(exe).exists():
        pytest.fail("pflogsumm is missing: install Debian's pflogsumm.")
    out = subprocess.run([exe, str(log)], capture_output=True, text=True, check=True).stdout
    counts = {}
    for name in TOTALS:
        m = re.search(rf"^\s*(\d+)\s+{name}\b", out, re.M)
        assert m, out[:1500]
        counts[name] = int(m.group(1))
    return counts


def count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text, re.M))


def theirs_adjusted(log: Path) -> dict[str, int]:
    """pflogsumm's totals, with the differences in the module docstring taken out."""
    text = log.read_text(errors="replace")
    got = pflogsumm(log)

    def unreadable(status: str) -> int:
        """Delivery lines pflogsumm's pattern misses: a bare "to=user@host", or a "tls=" field."""
        return count(SYSLOG + rf"[^:]+\[\d+\]: \S+: to=(?:[^<]|<[^\n]*, tls=)[^\n]*\bstatus={status}\b", text)

    return {
        "received": got["received"] - count(SYSLOG + r"smtpd\[\d+\]: NOQUEUE: client=", text),
        "delivered": got["delivered"] + got["forwarded"] + unreadable("sent"),
        "deferred": got["deferred"],
        "bounced": got["bounced"] + unreadable("bounced"),
        "rejected": got["rejected"],
    }


def ours(log: Path, db_path: Path) -> dict[str, int]:
    with Store(db_path) as store:
        ingest_files(store, [str(log)], server="oracle")
    db = sqlite3.connect(db_path)
    q = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    text = log.read_text(errors="replace")
    return {
        "received": q("SELECT count(*) FROM messages WHERE protocol IN ('smtp', 'local')"),
        "delivered": q("SELECT count(*) FROM events WHERE type = 'success'"
                       " OR (type = 'filtered' AND transport = 'discard')"),
        "deferred": q("SELECT count(DISTINCT message_ref) FROM events WHERE type = 'defer'"),
        "bounced": q("SELECT count(*) FROM events WHERE type = 'failure' AND transport != ''"),
        "rejected": q("SELECT count(*) FROM events WHERE type = 'rejected'")
        - count(SYSLOG + r"smtpd\[\d+\]: \S+: (?:milter|proxy)-reject: ", text)
        - count(SYSLOG + r"smtpd\[\d+\]: proxy-reject: ", text),
    }  # fmt: skip


# Found like every other corpus test (conftest.find_corpora), wherever the clone lives.
LIGHTMETER = sorted(p.name for p in (find_corpora() / "postfix" / "lightmeter" / "individual_files").glob("*.log"))


@pytest.mark.parametrize("name", LIGHTMETER)
def test_lightmeter_scenarios_agree(corpora: Path, tmp_path: Path, name: str) -> None:
    log = normalise(corpora / "postfix" / "lightmeter" / "individual_files" / name, tmp_path / "maillog")
    assert ours(log, tmp_path / "db.sqlite3") == theirs_adjusted(log)


@pytest.mark.parametrize("path", [
    "postfix/msimerson/mail.log",
    "postfix/alaveteli/extracted-from-specs.log",
    "postfix/infohtreasure/maillog",
    "postfix/infohtreasure/mailog2",
    "postfix/fail2ban/postfix.log",
    "postfix/fail2ban/postfix.raw",
])  # fmt: skip
def test_other_corpora_agree(corpora: Path, tmp_path: Path, path: str) -> None:
    log = normalise(corpora / path, tmp_path / "maillog")
    assert ours(log, tmp_path / "db.sqlite3") == theirs_adjusted(log)


def test_modoboa_agrees(corpora: Path, tmp_path: Path) -> None:
    log = normalise(corpora / "postfix" / "modoboa" / "mail.log", tmp_path / "maillog", ("%(day)s", "Nov 16"))
    mine, theirs = ours(log, tmp_path / "db.sqlite3"), theirs_adjusted(log)
    assert theirs["received"] > 15 and theirs["rejected"] > 0
    assert mine == theirs


def test_grok_patterns_daemons_agree(corpora: Path, tmp_path: Path) -> None:
    rows = (corpora / "postfix" / "postfix-grok-patterns" / "messages-by-daemon.tsv").read_text().splitlines()
    lines = [f"Oct 26 18:13:50 mx postfix/{d}[42]: {m}" if t else row for row in rows for d, t, m in [row.partition("\t")]]
    source = tmp_path / "grok.log"
    source.write_text("\n".join(lines) + "\n")
    log = normalise(source, tmp_path / "maillog")
    assert ours(log, tmp_path / "db.sqlite3") == theirs_adjusted(log)


def test_generated_busy_server_agrees_on_every_total(tmp_path: Path) -> None:
    log = tmp_path / "maillog"
    subprocess.run([sys.executable, str(REPO / "bench" / "gen_postfix.py"), "--lines", "40000", "--seed", "3",
                    "--out", str(log)], check=True, capture_output=True, cwd=REPO / "bench")  # fmt: skip
    theirs = theirs_adjusted(log)
    assert theirs["received"] > 3000 and theirs["deferred"] > 100 and theirs["bounced"] > 30
    assert theirs["rejected"] > 400
    assert ours(log, tmp_path / "db.sqlite3") == theirs


def test_generator_is_deterministic_and_reports_what_it_wrote(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        log = tmp_path / name
        run = subprocess.run([sys.executable, str(REPO / "bench" / "gen_postfix.py"), "--lines", "5000", "--seed",
                              "9", "--out", str(log)], check=True, capture_output=True, text=True,
                             cwd=REPO / "bench")  # fmt: skip
        outputs.append((log.read_bytes(), run.stderr.splitlines()[-1]))
    assert outputs[0][0] == outputs[1][0]
    summary = json.loads(outputs[0][1])
    assert summary["lines"] == outputs[0][0].count(b"\n") and 4000 < summary["lines"] < 6000
