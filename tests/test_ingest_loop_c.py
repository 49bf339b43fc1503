"""The compiled reading loop (_ingestc.read_lines) and SyslogYear's compiled parse against their Python
references: the same databases, counts, checkpoints and warnings, line for line, on hostile bytes."""

from __future__ import annotations

import gzip
import logging
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trackdelivery import ingest, source
from trackdelivery.ingest import ingest_files
from trackdelivery.parse import postfix
from trackdelivery.store.sqlite import Store

EXIM = [
    b"2026-11-16 10:00:00 1tLoop-00000000001-AAAA <= a@example.net H=(x) [192.0.2.1] P=esmtp S=1 for b@example.com\n",
    b"2026-11-16 10:00:01 1tLoop-00000000001-AAAA => b <b@example.com> R=localuser T=local_delivery\n",
    b"2026-11-16 10:00:01 1tLoop-00000000001-AAAA Completed\n",
    b"2026-11-16 10:00:02 H=(\xff\xfe) [192.0.2.9] F=<x@example.net> rejected RCPT <y@example.com>: relay\n",
]
POSTFIX = [
    b"Nov 16 10:00:00 mx postfix/smtpd[1]: 4F5C64474F: client=mx.example.net[192.0.2.7]\n",
    b"Nov 16 10:00:00 mx postfix/qmgr[2]: 4F5C64474F: from=<a@example.net>, size=10, nrcpt=1 (queue active)\n",
    b"Nov 16 10:00:01 mx postfix/smtp[3]: 4F5C64474F: to=<b@example.org>, relay=mx.example.org[192.0.2.9]:25, "
    b"delay=1, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n",
    b"Nov 16 10:00:01 mx postfix/qmgr[2]: 4F5C64474F: removed\n",
    b"Nov 16 10:00:02 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.8]: 554 5.7.1 <c@example.org>: "
    b"Relay access denied; from=<d@example.net> to=<c@example.org> proto=ESMTP helo=<x>\n",
]
NOISE = [b"\n", b"\r\n", b"\x00", b"\xff\xfe", b"garbage\n", b"Z" * 90, b"\xc3\n", b"Nov 16 10:00:03 mx kernel: x\n"]


def pieces(lines: list[bytes]) -> st.SearchStrategy[bytes]:
    """Real lines (repeated ones too), in any order, with noise and hostile bytes between and inside them."""
    piece = st.one_of(st.sampled_from(lines), st.sampled_from(NOISE), st.binary(max_size=40),
                      st.sampled_from(lines).map(lambda line: line[: len(line) // 2]))  # fmt: skip
    return st.lists(piece, max_size=40).map(b"".join)


def ingest_once(data: bytes, name: str, compiled: bool, caplog: pytest.LogCaptureFixture, small: bool = True) -> dict:
    """Everything an ingest leaves: its summary, the checkpoints, every stored row, what it warned."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        if not compiled:
            mp.setattr(ingest, "LOOP", None)
        # Small enough that batch ends (and, when small, oversize lines) come up often.
        mp.setattr(ingest, "BATCH_LINES", 4 if small else 50)
        if small:
            mp.setattr(ingest, "MAX_LINE", 64)
            mp.setattr(source, "MAX_LINE", 64)
        log = Path(tmp, name)
        log.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="trackdelivery"), Store(Path(tmp, "db.sqlite3")) as store:
            summary = ingest_files(store, [str(log)], server="loop")
            again = ingest_files(store, [str(log)], server="loop")
            db = store.db
            tables = {table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608 - constants
                      for table in ("events", "messages", "message_raw", "message_raw_added")}  # fmt: skip
            tables["addresses"] = db.execute("SELECT address FROM addresses ORDER BY 1").fetchall()
            tables["files"] = db.execute("SELECT offset, lines, unparsed, duplicates, format FROM files").fetchall()
        warnings = [record.getMessage().replace(tmp, "TMP") for record in caplog.records]
    return {"summary": summary, "again": again.lines, "tables": tables, "warnings": warnings}


def same_both_ways(data: bytes, name: str, caplog: pytest.LogCaptureFixture, small: bool = True) -> dict:
    compiled = ingest_once(data, name, True, caplog, small)
    python = ingest_once(data, name, False, caplog, small)
    assert compiled == python
    return compiled


@pytest.fixture(scope="module")
def loop():
    assert ingest.LOOP is not None, (
        "the compiled reading loop (trackdelivery._ingestc) is not built: pip install -e . needs a C compiler"
    )
    return ingest.LOOP


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=pieces(EXIM + POSTFIX), name=st.sampled_from(["exim_mainlog", "mail.log", "mail.log.1.gz"]))
def test_the_compiled_loop_leaves_what_the_python_loop_leaves(loop, caplog, data: bytes, name: str) -> None:
    got = same_both_ways(data, name, caplog)
    assert got["again"] == 0


def test_a_mixed_hostile_log_is_read_alike_and_fully(loop, caplog) -> None:
    """Every line kind the loop meets: a batch end, an oversize line, NULs, bad UTF-8, a repeat, a line not
    understood (warned once, with its number), and a last line without its newline (held back)."""
    data = (b"".join(POSTFIX[:2]) + b"Nov 16 10:00:00 mx postfix/qmgr[2]: 4F5C64474F: \x00\xff" + b"x" * 300_000 + b"\n"
            + POSTFIX[1] + b"Nov 16 10:00:01 mx something else entirely\n" + b"".join(POSTFIX[2:]) + b"\r\n"
            + b"not a line of mail\n" + POSTFIX[0][:30])  # fmt: skip
    got = same_both_ways(data, "mail.log", caplog, small=False)
    summary = got["summary"]
    assert (summary.lines, summary.oversize, summary.duplicates, summary.held_partial) == (10, 1, 1, 1)
    assert summary.unparsed == 2  # "something else entirely" and "not a line of mail"
    assert got["tables"]["files"] == [(len(data) - 30, 10, 2, 1, "postfix")]
    assert len(got["warnings"]) == 1 and ":5: line not understood" in got["warnings"][0]
    assert [row[2] for row in got["tables"]["events"]] == ["success", "rejected"]


def test_a_damaged_archive_keeps_the_same_lines_both_ways(loop, caplog) -> None:
    noise = random.Random(5).randbytes(30_000).hex().encode()
    whole = gzip.compress(b"".join(EXIM[:3]) * 40 + b"\n".join(noise[i : i + 100] for i in range(0, len(noise), 100)))
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for compiled in (True, False):
            log = Path(tmp, f"exim_mainlog.{int(compiled)}.gz")
            log.write_bytes(whole[: len(whole) // 2])
            with pytest.MonkeyPatch.context() as mp, Store(Path(tmp, f"{compiled}.sqlite3")) as store:
                if not compiled:
                    mp.setattr(ingest, "LOOP", None)
                summary = ingest_files(store, [str(log)], server="loop")
                kept = store.db.execute("SELECT count(*), sum(lines) FROM messages, files").fetchone()
            results.append((summary.lines, len(summary.errors), kept))
    assert results[0] == results[1]
    assert results[0][0] > 0 and results[0][1] == 1


class Lines:
    """A readline over given chunks; an exception among them is raised when its turn comes."""

    def __init__(self, *chunks: object) -> None:
        self.chunks = list(chunks)

    def readline(self, limit: int) -> object:
        chunk = self.chunks.pop(0) if self.chunks else b""
        if isinstance(chunk, BaseException):
            raise chunk
        return chunk


class Kind:
    def __init__(self, kind: str) -> None:
        self.kind = kind


def parse(text: str) -> Kind:
    return Kind("unknown" if text.startswith("?") else "known")


def test_read_lines_returns_at_the_budget_a_tail_or_an_error(loop) -> None:
    fed: list[str] = []
    warned: list[tuple[int, str]] = []

    def feed(parsed: Kind, text: str) -> bool:
        fed.append(text)
        return text != "again"

    def warn(n: int, text: str) -> None:
        warned.append((n, text))

    def read(*chunks: object, budget: int = 10) -> tuple:
        return loop.read_lines(Lines(*chunks).readline, parse, feed, "unknown", budget, 64, lambda n, t: warn(n, t))

    assert read(b"a\n", b"b\n", b"c\n", budget=2) == (2, 4, 0, 0, None)
    assert read(b"a\n", b"?x\n", b"again\n", b"?y\n", b"\xff\x00z\n", b"partial") == (5, 18, 2, 1, b"partial")
    assert warned == [(2, "?x")]  # the first of a call only, with how many lines it had read
    assert fed == ["a", "b", "a", "again", "\ufffd\ufffdz"]
    assert read(b"") == (0, 0, 0, 0, b"")
    n, used, bad, dup, tail = read(b"a\n", b"b\n", OSError("disk gone"), b"c\n")
    assert (n, used, bad, dup) == (2, 4, 0, 0)
    assert isinstance(tail, OSError) and str(tail) == "disk gone" and tail.__traceback__ is not None
    with pytest.raises(TypeError, match="bytes"):
        read("text\n")
    with pytest.raises(ZeroDivisionError):
        loop.read_lines(Lines(b"a\n").readline, lambda text: 1 / 0, feed, "unknown", 5, 64, warn)
    with pytest.raises(TypeError):
        loop.read_lines(Lines(b"a\n").readline, parse, feed, "unknown", 5, 64)


# -- SyslogYear: the compiled parse ---------------------------------------------------------------------


def python_years(reference: float, lines: list[str]) -> list[tuple]:
    years = postfix.SyslogYear(reference)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(postfix, "parse_postfix_line", postfix.parse_postfix_line_py)
        return [(years.parse(line), years.year, years.last) for line in lines]


def compiled_years(reference: float, lines: list[str]) -> list[tuple]:
    years = postfix.SyslogYear(reference)
    parse = years.parser()
    return [(parse(line), years.year, years.last) for line in lines]


STAMPS = ["Dec 31 23:59:58", "Jan  1 00:00:01", "Jun 30 12:00:00", "Jul  2 12:00:00", "Feb 29 10:00:00",
          "2027-01-01T00:00:05+00:00", "2026-06-01T10:00:00.123456+02:00", "Dec 31 23:59:59", "Jan 01 00:00:02"]  # fmt: skip
BODIES = ["mail postfix/qmgr[1]: 4AA091855DA0: removed", "mail postfix/smtpd[2]: connect from x[192.0.2.1]",
          "mail kernel: not postfix", "mail postfix/cleanup[3]: 4AA091855DA1: message-id=<a@b>"]  # fmt: skip


def test_the_compiled_year_parse_is_what_the_ingest_uses(loop) -> None:
    assert postfix.COMPILED_YEAR is not None
    years = postfix.SyslogYear(0)
    assert years.parser().__func__ is postfix.COMPILED_YEAR  # type: ignore[attr-defined]
    assert not hasattr(years, "__dict__")  # slots: the compiled parse reads them by offset


@settings(max_examples=300, deadline=None)
@given(
    stamps=st.lists(st.sampled_from(STAMPS), min_size=1, max_size=12),
    bodies=st.lists(st.sampled_from(BODIES), min_size=12, max_size=12),
    reference=st.sampled_from([1830297600.0, 1798761600.0, 1782000000.0, 0.0, 4102444800.0]),
)
def test_syslog_year_compiled_and_python_agree_line_by_line(stamps, bodies, reference) -> None:
    lines = [f"{stamp} {body}" for stamp, body in zip(stamps, bodies, strict=False)] + ["garbage", ""]
    assert compiled_years(reference, lines) == python_years(reference, lines)


def test_syslog_year_compiled_on_every_postfix_corpus(corpora: Path) -> None:
    files = sorted(path for path in (corpora / "postfix").rglob("*") if path.is_file() and path.suffix != ".md")
    assert len(files) > 20
    for path in files:
        lines = path.read_bytes().decode("utf-8", "replace").replace("\x00", "\ufffd").splitlines()
        reference = path.stat().st_mtime
        assert compiled_years(reference, lines) == python_years(reference, lines), path


def test_the_year_is_left_to_python_where_it_changes() -> None:
    """New Year, a line logged late across it, and a file's first line in the future of its mtime."""
    lines = ["Dec 31 23:59:58 " + BODIES[0], "Jan  1 00:00:01 " + BODIES[0], "Dec 31 23:59:59 " + BODIES[0]]
    got = compiled_years(1830297600.0, lines)  # 2028-01-01
    assert [year for _, year, _ in got] == [2027, 2028, 2028]
    assert got[0][0].time < got[1][0].time and got[2][0].time < got[1][0].time
    future = compiled_years(1782000000.0, ["Dec 31 23:59:58 " + BODIES[0]])  # mtime mid-2026
    assert future[0][1] == 2025


@pytest.mark.parametrize("mta", ["exim", "postfix"])
def test_every_corpus_is_stored_alike_by_both_loops(loop, caplog, corpora: Path, mta: str) -> None:
    # The largest files of each source (the Exim test suite has a thousand small ones).
    files = sorted((path for path in (corpora / mta).rglob("*") if path.is_file() and path.suffix != ".md"),
                   key=lambda path: (-path.stat().st_size, path))[:40]  # fmt: skip
    lines = 0
    for path in files:
        data = path.read_bytes()
        got = same_both_ways(data, "mail.log" if mta == "postfix" else "exim_mainlog", caplog, small=False)
        assert got["summary"].lines == data.count(b"\n"), path
        lines += got["summary"].lines
    assert lines > 1000


class SlotKind:
    __slots__ = ("kind",)

    def __init__(self, kind: str | None) -> None:
        if kind is not None:  # the slot itself, whatever a subclass makes of the name
            SlotKind.__dict__["kind"].__set__(self, kind)


class PropertyKind(SlotKind):
    """A subclass whose kind is a property: the type's own lookup, not the base class's slot, decides."""

    __slots__ = ()

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "unknown"


class LoudKind(SlotKind):
    __slots__ = ()

    def __getattribute__(self, name: str) -> object:
        return "unknown" if name == "kind" else object.__getattribute__(self, name)


def test_read_lines_reads_a_lines_kind_as_getattr_does(loop) -> None:
    """The loop reads a slot's kind in place, for a type that reads it the generic way, and asks getattr
    for any other (a property, its own __getattribute__, a slot never set)."""
    fed: list[str] = []

    def feed(parsed: object, text: str) -> bool:
        fed.append(text)
        return True

    for make, fed_lines, bad in ((SlotKind, 3, 0), (PropertyKind, 0, 3), (LoudKind, 0, 3), (Kind, 3, 0)):
        fed.clear()
        lines = Lines(b"a\n", b"b\n", b"c\n")
        result = loop.read_lines(lines.readline, lambda text, make=make: make("known"), feed, "unknown", 10, 64,
                                 lambda n, t: None)  # fmt: skip
        assert result == (3, 6, bad, 0, b"") and len(fed) == fed_lines, make
    with pytest.raises(AttributeError):
        loop.read_lines(Lines(b"a\n").readline, lambda text: SlotKind(None), feed, "unknown", 10, 64, print)
