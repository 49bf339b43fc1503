"""Readers while writing: 20 API clients keep getting answers while `serve` follows a log at full speed.

Everything is real: `trackdelivery serve` (uvicorn) following a log file named in its config, a log
written as fast as the generator can, and 20 threads of HTTP clients with an API token.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO

CLIENTS = 20


def _cli(db: Path, config: Path, *args: str, input: str | None = None) -> str:
    command = [sys.executable, "-m", "trackdelivery", "--db", str(db), "--config", str(config), *args]
    done = subprocess.run(command, input=input, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_twenty_api_clients_while_the_follower_ingests(tmp_path: Path) -> None:
    source = tmp_path / "generated.log"
    subprocess.run([sys.executable, str(REPO / "bench" / "gen_exim.py"), "--lines", "150000", "--seed", "11",
                    "--out", str(source)], check=True, capture_output=True)
    lines = source.read_bytes().splitlines(keepends=True)
    log, db, config = tmp_path / "exim_mainlog", tmp_path / "td.sqlite3", tmp_path / "config.toml"
    log.touch()
    config.write_text(f'logs = ["{log}"]\nretention_days = 100000\n', encoding="utf-8")
    _cli(db, config, "users", "add", "load", "--role", "admin", "--password-stdin", input="load test pw 123\n")
    token = _cli(db, config, "users", "token", "load", "--label", "load").strip().split()[-1]
    port = _free_port()
    server_log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "trackdelivery", "--db", str(db), "--config", str(config), "serve",
         "--host", "127.0.0.1", "--port", str(port)], stdout=server_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> tuple[int, bytes, float]:
        request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read(), time.perf_counter() - started
        except urllib.error.HTTPError as error:
            return error.code, error.read(), time.perf_counter() - started

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)

        done = threading.Event()
        latencies: list[float] = []
        failures: list[str] = []
        queries = ["/api/v1/search?limit=50", "/api/v1/search?types=failure,rejected&limit=50",
                   "/api/v1/search?q=example&match=contains&limit=25", "/api/v1/stats",
                   "/api/v1/new?after_id=0", "/api/v1/search?sort=size&order=asc&limit=10&offset=20"]

        def client(n: int) -> None:
            i = n
            while not done.is_set():
                status, body, seconds = get(queries[i % len(queries)])
                i += 1
                latencies.append(seconds)
                if status != 200:
                    failures.append(f"{status} {body[:200]!r}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        started = time.perf_counter()
        with log.open("ab") as f:  # as fast as the generator's lines can be written
            for i in range(0, len(lines), 2000):
                f.write(b"".join(lines[i : i + 2000]))
                f.flush()
        total = len(lines)
        while True:
            status, body, _ = get("/api/v1/stats")
            assert status == 200, body
            if json.loads(body)["lines"] == total:
                break
            assert time.perf_counter() - started < 600, f"follower stuck at {json.loads(body)['lines']}/{total}"
            time.sleep(0.2)
        ingest_seconds = time.perf_counter() - started
        done.set()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log.close()
    assert not failures, failures[:5]
    assert "database is locked" not in (tmp_path / "serve.log").read_text()
    assert len(latencies) >= CLIENTS * 5
    q = statistics.quantiles(latencies, n=100)
    report = (f"{CLIENTS} clients, {len(latencies)} requests while following {total} lines in "
              f"{ingest_seconds:.1f}s: p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms")
    print(report)
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    (REPO / "test-artifacts" / "load.txt").write_text(report + "\n")
    if q[94] > 5:
        pytest.fail("p95 latency over 5 s under load: " + report)
