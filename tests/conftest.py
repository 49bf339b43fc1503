"""Shared fixtures: UTC clock, the real corpora, a fresh database, and a CLI runner."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

os.environ["TZ"] = "UTC"
time.tzset()

# CI runs the same examples every time (a red build must be reproducible); HYPOTHESIS_PROFILE=explore
# searches new ones, as a developer's machine should now and then.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parent.parent


def find_corpora() -> Path:
    """The real logs in ../shared/corpora (never copied into the repo)."""
    candidates = [os.environ.get("TRACKDELIVERY_CORPORA", ""), REPO.parent / "shared" / "corpora",
                  "/work/shared/corpora"]
    for candidate in candidates:
        if candidate and Path(candidate, "exim").is_dir():
            return Path(candidate)
    pytest.fail("The real log corpora were not found: set TRACKDELIVERY_CORPORA to the shared/corpora folder.")


@pytest.fixture(scope="session")
def corpora() -> Path:
    return find_corpora()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "td.sqlite3"


CliCall = Callable[..., Result]


@pytest.fixture
def cli(db_path: Path) -> CliCall:
    """Run ``trackdelivery --db <tmp db> ARGS...`` in-process; fails the test on an unexpected exit code."""
    from trackdelivery.cli import main

    runner = CliRunner()

    def call(*args: str, expect: int = 0, input: str | None = None) -> Result:
        result = runner.invoke(main, ["--db", str(db_path), *args], input=input, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result

    return call


@pytest.fixture
def search_json(cli: CliCall) -> Callable[..., list[dict]]:
    def call(*args: str) -> list[dict]:
        return json.loads(cli("search", "--format", "json", "--limit", "0", *args).stdout)

    return call


def write_log(path: Path, lines: list[str], newline_at_end: bool = True) -> Path:
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    path.write_text(text, encoding="utf-8")
    return path
