"""Remote mail servers for the MTA under test: small SMTP sinks on loopback, each on a port of its own.

- ``AcceptingSink``: takes every message ("250 2.0.0 Ok: queued as SINK-n").
- ``GreylistingSink``: answers 451 to a recipient until the test releases it, then accepts.
- ``RejectingSink``: answers 550 "User unknown" to every recipient (the MTA bounces).
- ``SilentSink``: completes the TCP handshake and never says a word (the MTA times out; the message
  waits in the queue).
- ``TlsSink``: takes every message like ``AcceptingSink``, and offers STARTTLS (not required).

The aiosmtpd sinks share one asyncio loop in a background thread; ports are chosen by the kernel.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from .certificate import Certificate

LOOPBACK = "127.0.0.1"


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    sock.listen(16)
    return sock


def free_port() -> int:
    """A port free right now on loopback (for servers that must bind it themselves)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    reply: str  # what the sink answered to DATA (the MTA logs it as C="...")
    # The TLS session the message came over as the sink's ssl module saw it, "protocol:cipher:bits" (the
    # form Postfix and swaks log, OpenSSL's names): "TLSv1.3:TLS_AES_256_GCM_SHA384:256"; "" in clear.
    tls: str = ""


class SinkLoop:
    """One event loop thread for all the aiosmtpd sinks of a test session."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="smtp-sinks", daemon=True)
        self.thread.start()

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class SmtpSink:
    """An aiosmtpd server on its own loopback port; subclasses decide how RCPT TO is answered."""

    name = "sink"
    tls_context: ssl.SSLContext | None = None  # set: STARTTLS is offered (not required)

    def __init__(self, loop: SinkLoop) -> None:
        self._loop = loop
        self._sock = listening_socket()
        self.host, self.port = self._sock.getsockname()[:2]
        self.received: list[ReceivedMessage] = []
        self._lock = threading.Lock()

        async def serve() -> asyncio.AbstractServer:
            return await loop.loop.create_server(
                lambda: SMTP(self, hostname=f"{self.name}.sink.test", ident="test sink",
                             tls_context=self.tls_context, require_starttls=False), sock=self._sock)

        self._server: asyncio.AbstractServer = loop.call(serve())

    def rcpt_reply(self, address: str) -> str | None:
        """The answer to RCPT TO:<address>; None accepts it."""
        return None

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        reply = self.rcpt_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            reply = f"250 2.0.0 Ok: queued as SINK-{self.port}-{len(self.received) + 1}"
            content = envelope.original_content or b""
            tls = ""
            if session.ssl is not None and server.transport is not None:  # the SSL transport after STARTTLS
                cipher, protocol, bits = server.transport.get_extra_info("cipher")
                tls = f"{protocol}:{cipher}:{bits}"
            self.received.append(ReceivedMessage(str(envelope.mail_from), list(envelope.rcpt_tos), content,
                                                 reply, tls))
        return reply

    def message_for(self, recipient: str) -> ReceivedMessage | None:
        with self._lock:
            for message in self.received:
                if recipient.lower() in (r.lower() for r in message.rcpt_tos):
                    return message
        return None

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        self._loop.call(stop())


class AcceptingSink(SmtpSink):
    name = "accept"


class TlsSink(SmtpSink):
    """Accepts every message and offers STARTTLS with the tests' self-signed certificate."""

    name = "tls"

    def __init__(self, loop: SinkLoop, certificate: Certificate) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # server side, no client certificate
        context.load_cert_chain(certificate.cert, certificate.key)
        self.tls_context = context
        super().__init__(loop)


class RejectingSink(SmtpSink):
    name = "reject"

    def rcpt_reply(self, address: str) -> str | None:
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"


class GreylistingSink(SmtpSink):
    name = "greylist"
    REPLY = "451 4.7.1 Greylisted, please try again later"

    def __init__(self, loop: SinkLoop) -> None:
        self.released: set[str] = set()
        super().__init__(loop)

    def rcpt_reply(self, address: str) -> str | None:
        return None if address.lower() in self.released else self.REPLY

    def release(self, address: str) -> None:
        """From now on accept ``address`` (the greylisting period is over)."""
        self.released.add(address.lower())


class SilentSink:
    """Listens and never accepts: the kernel completes the handshake, no banner ever comes.

    Closing it resets the waiting connections, so a client still waiting gives up at once.
    """

    name = "silent"

    def __init__(self) -> None:
        self._sock = listening_socket()
        self.host, self.port = self._sock.getsockname()[:2]

    def close(self) -> None:
        self._sock.close()
