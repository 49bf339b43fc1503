"""What the Exim and Postfix end-to-end tests (test_exim_e2e.py, test_postfix_e2e.py) share: the sender
of their mail, the sinks' host as both MTAs log it, subjects as a mail client encodes them, and TLS
sessions compared across TLS libraries."""

from __future__ import annotations

import base64

SENDER = "dave@local.test"
# Every sink listens on loopback: Exim logs H=127.0.0.1 [127.0.0.1]:port, Postfix relay=127.0.0.1[127.0.0.1]:port.
SINK_HOST = "127.0.0.1"
WAITING = "In the queue: not delivered yet"  # a message no delivery attempt has ended for yet


def mime_subject(text: str) -> str:
    """``text`` as an RFC 2047 encoded word (UTF-8, base64): how a non-ASCII subject travels."""
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def tls_version_and_bits(tls: str) -> tuple[str, str]:
    """("1.3", "256") for "TLSv1.3:TLS_AES_256_GCM_SHA384:256" (OpenSSL: Postfix, swaks, the sinks) and for
    "TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256" (Exim with GnuTLS): what two ends of one
    session agree on whatever their libraries call the cipher."""
    protocol, bits = tls.split(":", 1)[0], tls.rsplit(":", 1)[-1]
    return protocol.removeprefix("TLS").removeprefix("v"), bits
