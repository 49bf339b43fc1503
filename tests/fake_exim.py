"""A stand-in ``exim`` command for the web trace tests: it answers ``-bt ADDRESS`` with outputs captured
from a real Exim 4.96 (tests/test_trace.py) and ``-bP transports`` with a transport list, and writes
down every call, so a test can prove that a refused address never started it.

The real Exim answers the same API in tests/mta/test_exim_trace.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCRIPT = """#!{python}
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
with open(os.path.join(here, "calls.jsonl"), "a") as log:
    log.write(json.dumps(args) + "\\n")
with open(os.path.join(here, "answers.json")) as f:
    answers = json.load(f)
if "-bP" in args:
    sys.stdout.write(answers["transports"])
    sys.exit(0)
address = args[-1]
# Exim's own answer for an address no router accepts.
answer = answers["addresses"].get(address.lower(),
                                 {{"stdout": address + " is undeliverable: Unrouteable address\\n", "status": 2}})
time.sleep(answer.get("sleep", 0))
sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(answer.get("status", 0))
"""


class FakeExim:
    """``DIRECTORY/exim``: put DIRECTORY first on PATH and the tracker runs it as Exim."""

    def __init__(self, directory: Path, transports: str) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "exim"
        self.path.write_text(SCRIPT.format(python=sys.executable), encoding="utf-8")
        self.path.chmod(0o755)
        self._answers: dict[str, object] = {"transports": transports, "addresses": {}}
        self._save()

    def answer(self, address: str, stdout: str = "", *, status: int = 0, stderr: str = "",
               sleep: float = 0.0) -> None:
        """What ``exim -bt ADDRESS`` prints (and its exit status)."""
        addresses = self._answers["addresses"]
        assert isinstance(addresses, dict)
        # Looked up without case, as Exim compares addresses.
        addresses[address.lower()] = {"stdout": stdout, "status": status, "stderr": stderr, "sleep": sleep}
        self._save()

    def calls(self) -> list[list[str]]:
        log = self.directory / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]

    def traced(self) -> list[str]:
        """The addresses ``-bt`` was run for, in order."""
        return [call[-1] for call in self.calls() if "-bt" in call]

    def _save(self) -> None:
        (self.directory / "answers.json").write_text(json.dumps(self._answers), encoding="utf-8")
