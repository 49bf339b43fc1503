"""A self-signed certificate for the STARTTLS scenarios: the test Exim, the test Postfix and the TLS sink
present it. Made with ``openssl`` when the tests start, in a temporary directory; never kept or committed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import packages

OPENSSL_PACKAGE = "openssl"
HOSTNAME = "mta.test"  # every test server calls itself this (Exim's primary_hostname, Postfix's myhostname)


@dataclass(slots=True)
class Certificate:
    cert: Path  # PEM certificate, mode 644
    key: Path  # PEM private key without a passphrase, mode 600 (root's: copy it for another user)


def openssl() -> str:
    return packages.require_program("openssl", OPENSSL_PACKAGE,
                                    "openssl (makes the TLS tests' self-signed certificate)")


def make_certificate(directory: Path) -> Certificate:
    """A fresh RSA key and a self-signed certificate for HOSTNAME and 127.0.0.1, valid for two days."""
    made = Certificate(directory / "tls.crt", directory / "tls.key")
    done = subprocess.run(
        [openssl(), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOSTNAME}",
         "-addext", f"subjectAltName=DNS:{HOSTNAME},IP:127.0.0.1",
         "-keyout", str(made.key), "-out", str(made.cert)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if done.returncode != 0 or not made.key.exists() or not made.cert.exists():
        pytest.fail(f"openssl could not make the TLS tests' certificate:\n{done.stdout}{done.stderr}",
                    pytrace=False)
    made.key.chmod(0o600)
    made.cert.chmod(0o644)
    return made
