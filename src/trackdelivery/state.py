"""What the correlators keep of an open message, and the batch of changes they hand the store.

Their own module, so that reading the store (a search, the web page) does not import the correlators and
the parsers and explanations they need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .record import DeliveryEvent


@dataclass(slots=True)
class MessageState:
    """What we know of one message (one row of ``messages``) while it is open."""

    id: int
    msgid: str
    server: str = ""
    email: str = ""
    sender: str = ""
    senderhost: str = ""
    senderip: str = ""
    senderauth: str = ""
    size: int | None = None
    spamscore: float | None = None
    sendunixtime: int | None = None
    lastunixtime: int | None = None
    subject: str = ""
    message_id: str = ""
    protocol: str = ""
    tls: str = ""
    parent_msgid: str = ""
    recipients: str = ""
    state: str = "open"
    raw: list[str] = field(default_factory=list)  # this message's log lines
    raw_stored: int = 0  # how many of them the store holds (Store.commit_batch writes only the others)
    # Recipients still waiting: lower-case address → [address, id of its stored "inprogress" event or
    # None while not yet stored, text]. The events are written only for recipients still waiting when
    # a batch is taken, so the common arrive-deliver-complete message never writes one.
    pending: dict[str, list] = field(default_factory=dict)  # type: ignore[type-arg]
    # recipient (lower case) → number of defers so far
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def arrived(self) -> bool:
        return self.sendunixtime is not None


@dataclass(slots=True)
class Batch:
    """Changes to write in one transaction, together with the checkpoint that covers them."""

    messages: dict[int, MessageState] = field(default_factory=dict)
    by_msgid: dict[str, MessageState] = field(default_factory=dict)  # the same states, by queue id
    events: dict[int, DeliveryEvent] = field(default_factory=dict)
    event_message: dict[int, int | None] = field(default_factory=dict)  # event id → message id
    deleted_events: list[int] = field(default_factory=list)
    updated_messages_text: dict[int, str] = field(default_factory=dict)  # event id → new message text
    event_raw: dict[int, str] = field(default_factory=dict)  # event id → its line (events without a message)
