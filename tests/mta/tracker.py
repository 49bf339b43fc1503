"""The tracker as an operator runs it: ``trackdelivery serve`` following the MTA's live log (named in
its config file), asked through the JSON API with an API token and through ``trackdelivery search``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .maillog import LogLine, MailLog
from .sinks import LOOPBACK, free_port

# The fields every scenario states exactly, for every record (DESIGN.md's event record).
RECORD_FIELDS = ("type", "msgid", "email", "sender", "recipient", "host", "ip", "message", "reason")
# How soon after the MTA logs a line its records must be there (the follower polls every 0.2 s).
WITHIN_SECONDS = 2.0
# Loopback requests never go through an http_proxy a CI machine may set.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RecordsMismatch(AssertionError):
    """The tracker did not show the expected records in time (what an expected-failure test expects)."""


class _Any:
    def __repr__(self) -> str:
        return "(any)"


ANY: Any = _Any()  # an expected value that matches whatever the record has (checked by another test)


def record(type: str, **fields: Any) -> dict[str, Any]:
    """An expected record: every field of RECORD_FIELDS (and any extra named) — unnamed ones are "".

    ``ANY`` as a value leaves that field to another test."""
    out: dict[str, Any] = {name: "" for name in RECORD_FIELDS}
    out["type"] = type
    out.update(fields)
    return out


def project(records: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """The records cut to ``fields``, in a stable order (the API and CLI sort by time, ties vary)."""
    cut = [{name: r.get(name) for name in fields} for r in records]
    return sorted(cut, key=lambda r: json.dumps(r, sort_keys=True, default=repr))


def same_records(records: list[dict[str, Any]], expected: list[dict[str, Any]],
                 fields: tuple[str, ...]) -> bool:
    """Each expected record matches one record, and no record is left over.

    An expected record is compared on ``fields`` and on every other field it names.
    """
    left = list(records)
    for want in expected:
        names = dict.fromkeys((*fields, *want))
        match = next((r for r in left if all(want[n] is ANY or r.get(n) == want[n] for n in names)), None)
        if match is None:
            return False
        left.remove(match)
    return not left


class Tracker:
    def __init__(self, workdir: Path, logs: list[Path]) -> None:
        self.workdir = workdir
        self.logs = logs
        self.db = workdir / "td.sqlite3"
        self.config = workdir / "config.toml"
        self.serve_log = workdir / "serve.log"
        self.port = free_port()
        self.token = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.latencies: list[tuple[str, float]] = []  # scenario, seconds from the MTA's line to the records
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKDELIVERY_")} | {"TZ": "UTC"}

    # -- running it ----------------------------------------------------------------------------

    def _trackdelivery(self) -> list[str]:
        return [sys.executable, "-m", "trackdelivery", "--db", str(self.db), "--config", str(self.config)]

    def cli(self, *args: str, input: str | None = None) -> str:
        command = [*self._trackdelivery(), *args]
        done = subprocess.run(command, input=input, capture_output=True, text=True, timeout=120, env=self.env)
        assert done.returncode == 0, f"trackdelivery {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
        return done.stdout

    def start(self) -> None:
        logs = ", ".join(json.dumps(str(p)) for p in self.logs)
        self.config.write_text(f"logs = [{logs}]\nretention_days = 3650\nserver = \"mta-test\"\n")
        self.cli("users", "add", "operator", "--role", "admin", "--no-password")
        self.token = self.cli("users", "token", "operator", "--label", "mta-tests").strip().split()[-1]
        for attempt in range(1, 4):
            out = self.serve_log.open("wb")
            self.process = subprocess.Popen(
                [*self._trackdelivery(), "serve", "--host", LOOPBACK, "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
            out.close()
            if self._started():
                return
            said = self.serve_log.read_text(errors="replace")
            if self.process.poll() is not None and "already in use" in said and attempt < 3:
                self.port = free_port()  # taken between choosing it and serve binding it: choose again
                continue
            self.stop()
            pytest.fail(f"trackdelivery serve did not start:\n{said}", pytrace=False)

    def _started(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + 30
        while self.process.poll() is None and time.monotonic() < deadline:
            if "Serving " in self.serve_log.read_text(errors="replace"):
                try:
                    if self._get("/healthz")[0] == 200:
                        return True
                except OSError:
                    pass
            time.sleep(0.1)
        return False

    def _children(self, pid: int) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
        return found

    def stop(self) -> None:
        if self.process is None:
            return
        children = self._children(self.process.pid)  # the follower process serve started
        if self.process.poll() is None:
            self.process.terminate()  # serve stops its follower, which commits and exits
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid in children:  # gone already, unless serve could not stop them
            try:
                if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass

    # -- asking it -----------------------------------------------------------------------------

    def _get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://{LOOPBACK}:{self.port}{path}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        try:
            with _NO_PROXY.open(request, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def api(self, path: str, **params: str) -> Any:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        status, body = self._get(path + query)
        assert status == 200, f"GET {path}{query}: {status} {body[:500]!r}"
        return json.loads(body)

    def api_search(self, **filters: str) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/search", limit="1000", **filters)["events"])

    def cli_search(self, **filters: str) -> list[dict[str, Any]]:
        args = [part for name, value in filters.items() for part in (f"--{name}", value)]
        return list(json.loads(self.cli("search", "--format", "json", "--limit", "0", *args)))

    def expect(self, scenario: str, filters: dict[str, str], expected: list[dict[str, Any]], logged: LogLine,
               log: MailLog, fields: tuple[str, ...] = RECORD_FIELDS) -> list[dict[str, Any]]:
        """The records matching ``filters`` are exactly ``expected`` (in ``fields``) through the JSON API
        within WITHIN_SECONDS of the MTA logging ``logged``, and through the CLI; returns the API records."""
        shown = tuple(dict.fromkeys((*fields, *(k for e in expected for k in e))))
        deadline = logged.seen_at + WITHIN_SECONDS
        while True:
            records = self.api_search(**filters)
            now = time.monotonic()
            if same_records(records, expected, fields):
                self.latencies.append((scenario, now - logged.seen_at))
                break
            if now > deadline:
                __tracebackhide__ = True
                mentioned = next(iter(filters.values()))
                raise RecordsMismatch(
                    f"{scenario}: the JSON API did not show the expected records within "
                    f"{WITHIN_SECONDS:g} s of the mail server logging\n  {logged.text}\n"
                    f"expected:\n{_show(project(expected, shown))}\ngot:\n{_show(project(records, shown))}\n"
                    f"mail log lines about {mentioned}:\n  " + "\n  ".join(log.about(mentioned)) +
                    "\ntrackdelivery serve said:\n" + self.serve_log.read_text(errors="replace")[-2000:])
            time.sleep(0.05)
        from_cli = self.cli_search(**filters)
        assert same_records(from_cli, expected, fields), (
            f"{scenario}: trackdelivery search shows other records than the API:\n"
            f"{_show(project(from_cli, shown))}")
        return records


def _show(records: list[dict[str, Any]]) -> str:
    return "\n".join("  " + json.dumps(r, ensure_ascii=False, default=repr) for r in records)
