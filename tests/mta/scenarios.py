"""What the Exim and Postfix end-to-end tests (test_exim_e2e.py, test_postfix_e2e.py) share: the sender
of their mail, the sinks' host as both MTAs log it, and subjects as a mail client encodes them."""

from __future__ import annotations

import base64

SENDER = "dave@local.test"
# Every sink listens on loopback: Exim logs H=127.0.0.1 [127.0.0.1]:port, Postfix relay=127.0.0.1[127.0.0.1]:port.
SINK_HOST = "127.0.0.1"
WAITING = "In the queue: not delivered yet"  # a message no delivery attempt has ended for yet


def mime_subject(text: str) -> str:
    """``text`` as an RFC 2047 encoded word (UTF-8, base64): how a non-ASCII subject travels."""
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="
