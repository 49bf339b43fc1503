"""Checks of bench/gen_exim.py: shapes, order, determinism, and its own counts against eximstats.

Run with ``pytest bench/test_gen_exim.py`` (not part of the default test paths).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GENERATOR = Path(__file__).resolve().parent / "gen_exim.py"
STAMP = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \[\d+\] ")
NEW_ID = rb"[0-9A-Za-z]{6}-[0-9A-Za-z]{11}-[0-9A-Za-z]{4}"
OLD_ID = rb"[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}"
ARRIVAL = re.compile(rb"^\S+ \S+ \[\d+\] (" + NEW_ID + rb"|" + OLD_ID + rb") <= ", re.M)


def generate(tmp_path: Path, *options: str) -> tuple[bytes, dict]:
    out = tmp_path / f"mainlog{len(list(tmp_path.iterdir()))}"
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), *options],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.read_bytes(), json.loads(done.stderr.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict]:
    return generate(tmp_path_factory.mktemp("mixed"), "--lines", "30000", "--seed", "3")


def test_same_seed_same_log_other_seed_other_log(tmp_path: Path) -> None:
    first, _ = generate(tmp_path, "--lines", "5000", "--seed", "9")
    again, _ = generate(tmp_path, "--lines", "5000", "--seed", "9")
    other, _ = generate(tmp_path, "--lines", "5000", "--seed", "10")
    assert first == again
    assert first != other


def test_every_line_has_a_timestamp_and_pid_and_time_never_goes_back(mixed: tuple[bytes, dict]) -> None:
    log, counts = mixed
    stamps = []
    for line in log.splitlines():
        m = STAMP.match(line)
        assert m, line
        stamps.append(m.group(1))
    assert stamps == sorted(stamps)
    assert len(stamps) == counts["lines"]


def test_line_count_is_near_the_target(mixed: tuple[bytes, dict]) -> None:
    assert 27_000 <= mixed[1]["lines"] <= 33_000


def test_mixed_ids_are_mostly_new_some_old_and_each_arrival_is_unique(mixed: tuple[bytes, dict]) -> None:
    log, counts = mixed
    ids = ARRIVAL.findall(log)
    assert len(ids) == counts["messages"] == len(set(ids))
    new = [i for i in ids if len(i) == 23]
    assert counts["messages_new_id"] == len(new)
    assert 0.7 < len(new) / len(ids) < 0.95


def test_counts_on_stderr_match_the_lines_written(mixed: tuple[bytes, dict]) -> None:
    log, c = mixed
    body = re.compile(rb"^\S+ \S+ \[\d+\] \S+ ", re.M)
    flags = re.findall(rb"^\S+ \S+ \[\d+\] \S+ (<=|=>|->|==|\*\*) ", log, re.M)
    assert flags.count(b"<=") == c["messages"]
    assert flags.count(b"=>") == c["deliveries"]
    assert flags.count(b"->") == c["extra_addresses"]
    assert flags.count(b"==") == c["deferrals"]
    assert flags.count(b"**") == c["failures"]
    assert log.count(b" rejected RCPT ") == c["rejected_rcpt"]
    assert log.count(b" rejected after DATA: ") == c["rejected_after_data"]
    assert log.count(b" => :blackhole: ") == c["blackholed"]
    assert log.count(b" Frozen (delivery error message)") == c["frozen"]
    assert len(re.findall(rb" \S+ Completed$", log, re.M)) == c["completed"]
    assert log.count(b' T="Mail delivery failed: returning message to sender"') == c["bounces"]
    assert body.search(log)


def test_every_shape_the_brief_asks_for_is_there(mixed: tuple[bytes, dict]) -> None:
    log = mixed[0]
    for needle in (
        rb" H=[\w.-]+ \[[\d.:a-f]+\]:\d+ I=",
        rb" H=\([^)]+\) \[[\d.:a-f]+\]:\d+ I=",
        rb" H=[\w.-]+ \([^)]+\) \[[\d.:a-f]+\]:\d+ I=",
        rb" H=\[[\d.:a-f]+\]:\d+ I=",
        rb" P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_login:",
        rb" U=\w+ P=local ",
        rb' Warning: "SpamAssassin as \w+ detected message as NOT spam \(-?[\d.]+\)"',
        rb" R=dkim_lookuphost T=dkim_remote_smtp H=\S+ \[[\d.:a-f]+\] X=\S+ CV=yes C=\"250 ",
        rb" => \S+ <\S+> R=virtual_user T=dovecot_virtual_delivery",
        rb" -> \S+ R=",
        rb" == \S+ .*451 4.7.1",
        rb" == \S+ .*452 4.2.2",
        rb" == \S+ .*421 4.7.0",
        rb" defer \(110\): Connection timed out",
        rb"retry time not reached",
        rb" \*\* \S+.*: retry timeout exceeded",
        rb" \*\* \S+ .*550 5.1.1",
        rb" <= <> R=\S+ U=mailnull P=local S=\d+ T=\"Mail delivery failed: returning message to sender\"",
        rb"relay not permitted",
        rb"rejected found in dnsbl zen.spamhaus.org",
        rb"Unrouteable address",
        rb"SMTP connection from ",
        rb'T="[^"]*\\"',
        rb'T="[^"\n]*[\x80-\xff]',
    ):
        assert re.search(needle, log), needle


def test_no_pid_option_drops_only_the_pid(tmp_path: Path) -> None:
    with_pid, _ = generate(tmp_path, "--lines", "3000", "--seed", "5")
    without, _ = generate(tmp_path, "--lines", "3000", "--seed", "5", "--no-pid")
    assert re.sub(rb"(?m)^(\S+ \S+ )\[\d+\] ", rb"\1", with_pid) == without


@pytest.mark.skipif(
    not (shutil.which("eximstats") or Path("/usr/sbin/eximstats").exists()),
    reason="eximstats (Debian exim4-base) is not installed",
)
@pytest.mark.parametrize("id_form", ["old", "mixed"])
def test_eximstats_summary_matches_the_generators_counts(tmp_path: Path, id_form: str) -> None:
    log_path = tmp_path / "mainlog"
    done = subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--lines",
            "40000",
            "--seed",
            "11",
            "--id-form",
            id_form,
            "--out",
            str(log_path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    want = json.loads(done.stderr.strip().splitlines()[-1])["eximstats_expected"]
    exe = shutil.which("eximstats") or "/usr/sbin/eximstats"
    report = subprocess.run(
        [exe, "-nr", "-t0", "-txt", str(log_path)], check=True, capture_output=True, text=True
    ).stdout
    received = re.search(r"^\s+Received\s+\S+\s+(\d+)\s+\d+\s+(\d+)\s+\S+\s+(\d+)", report, re.M)
    delivered = re.search(r"^\s+Delivered\s+\S+\s+(\d+)\s+(\d+)", report, re.M)
    rejects = re.search(r"^\s+Rejects\s+(\d+)", report, re.M)
    assert received and delivered and rejects, report[:1500]
    assert int(received.group(1)) == want["received"]
    assert int(received.group(2)) == want["delayed"]
    assert int(received.group(3)) == want["failed"]
    assert int(delivered.group(1)) == want["delivered_messages"]
    assert int(delivered.group(2)) == want["delivered_addresses"]
    if id_form == "old":
        assert int(rejects.group(1)) == want["rejects"]
