"""The one shape of a delivery event, from the correlator to the JSON API.

Field names follow cPanel's ``emailtrack_search`` (see DESIGN.md); do not rename them on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

SUCCESS = "success"
DEFER = "defer"
FAILURE = "failure"
REJECTED = "rejected"
INPROGRESS = "inprogress"
ARCHIVE = "archive"
FILTERED = "filtered"

EVENT_TYPES: tuple[str, ...] = (SUCCESS, DEFER, FAILURE, REJECTED, INPROGRESS, ARCHIVE, FILTERED)
BLOCKED_TYPES: tuple[str, ...] = (FAILURE, REJECTED)
# Types after which a recipient is no longer "in progress".
FINAL_TYPES = frozenset((SUCCESS, FAILURE, ARCHIVE, FILTERED))

REMOTE_OWNER = "-remote-"


@dataclass(slots=True)
class DeliveryEvent:
    type: str
    msgid: str = ""
    email: str = ""
    sender: str = ""
    user: str = REMOTE_OWNER
    domain: str = REMOTE_OWNER
    senderhost: str = ""
    senderip: str = ""
    senderauth: str = ""
    size: int | None = None
    spamscore: float | None = None
    sendunixtime: int | None = None
    recipient: str = ""
    deliveredto: str = ""
    deliveryuser: str = REMOTE_OWNER
    deliverydomain: str = REMOTE_OWNER
    router: str = ""
    transport: str = ""
    host: str = ""
    ip: str = ""
    message: str = ""
    actionunixtime: int | None = None
    transport_is_remote: int = 0
    subject: str = ""
    message_id: str = ""
    dsn: str = ""
    reason: str = ""
    reason_text: str = ""
    tls: str = ""
    protocol: str = ""
    parent_msgid: str = ""
    server: str = ""
    queue_time: int | None = None
    attempt: int | None = None


EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(DeliveryEvent))
