"""Submitting a test message to the MTA under test over SMTP with swaks, as the Exim and Postfix server
classes (exim.py, postfix.py) do: each names how its answer to DATA gives the queue id.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

import pytest

from .sinks import LOOPBACK

BODY = "A message from the trackdelivery MTA tests.\n"
# swaks after STARTTLS: "=== TLS started with cipher TLSv1.3:TLS_AES_256_GCM_SHA384:256" (OpenSSL's names).
_TLS_STARTED_RE = re.compile(r"^=== TLS started with cipher (?P<tls>\S+)", re.MULTILINE)


@dataclass(slots=True)
class Sent:
    msgid: str  # the MTA's queue id from its answer to DATA ("" when the message was refused)
    transcript: str  # swaks' output, for failure messages
    returncode: int

    @property
    def tls(self) -> str:
        """The TLS session as the client saw it, "protocol:cipher:bits"; "" when it sent in clear."""
        m = _TLS_STARTED_RE.search(self.transcript)
        return m["tls"] if m else ""


def submit(swaks: str, port: int, queue_id: re.Pattern[str], mta: str, sender: str, recipients: list[str],
           subject: str, auth: tuple[str, str] | None = None, expect_refusal: bool = False,
           tls: bool = False) -> Sent:
    """Submit one message to the MTA named ``mta`` on the loopback ``port`` with ``swaks`` (the program).

    ``queue_id`` finds the queue id (its group ``id``) in the MTA's answer; a message the MTA does not
    accept fails the test unless ``expect_refusal``. ``tls``: STARTTLS first (swaks fails without it)."""
    command = [swaks, "--server", f"{LOOPBACK}:{port}", "--helo", "client.test",
               "--from", sender, "--to", ",".join(recipients), "--header", f"Subject: {subject}",
               "--body", BODY, "--timeout", "20"]
    if tls:
        command += ["--tls"]
    if auth:
        command += ["--auth", "PLAIN", "--auth-user", auth[0], "--auth-password", auth[1]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    transcript = done.stdout + done.stderr
    m = queue_id.search(transcript)
    if m is None and not expect_refusal:
        pytest.fail(f"{mta} did not accept the message (swaks exit {done.returncode}):\n{transcript}",
                    pytrace=False)
    return Sent(m["id"] if m else "", transcript, done.returncode)
