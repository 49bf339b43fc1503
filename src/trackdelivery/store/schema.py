"""The SQLite schema and its migrations, numbered; ``PRAGMA user_version`` says which ones ran."""

from __future__ import annotations

from ..record import EVENT_FIELDS

# The events table of migrations 1-4: every record field in every row (DeliveryEvent order), plus links.
EVENTS_TABLE_V1 = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    message_ref INTEGER,                 -- messages.id; NULL for SMTP-time rejections
    type TEXT NOT NULL,
    msgid TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    sender TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    user TEXT NOT NULL DEFAULT '-remote-',
    domain TEXT NOT NULL DEFAULT '-remote-' COLLATE NOCASE,
    senderhost TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    senderip TEXT NOT NULL DEFAULT '',
    senderauth TEXT NOT NULL DEFAULT '',
    size INTEGER,
    spamscore REAL,
    sendunixtime INTEGER,
    recipient TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    deliveredto TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    deliveryuser TEXT NOT NULL DEFAULT '-remote-',
    deliverydomain TEXT NOT NULL DEFAULT '-remote-' COLLATE NOCASE,
    router TEXT NOT NULL DEFAULT '',
    transport TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    ip TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    actionunixtime INTEGER,
    transport_is_remote INTEGER NOT NULL DEFAULT 0,
    subject TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    dsn TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    reason_text TEXT NOT NULL DEFAULT '',
    tls TEXT NOT NULL DEFAULT '',
    protocol TEXT NOT NULL DEFAULT '',
    parent_msgid TEXT NOT NULL DEFAULT '',
    server TEXT NOT NULL DEFAULT '',
    queue_time INTEGER,
    attempt INTEGER,
    raw TEXT,                            -- the log line, for events without a message (rejections)
    -- Lower-case domains of email and recipient: what --domain and tenant scopes search.
    sender_domain TEXT NOT NULL DEFAULT '',
    recipient_domain TEXT NOT NULL DEFAULT ''
)
"""

# The events table since migration 5: what is the event's own, and what searches need an index on.
# A message's fields (size, subject, sendunixtime, ...) live only in its messages row; senderhost,
# senderip, senderauth, tls, protocol and server hold a value only where the event's differs from its
# message's (a rejection's client, a delivery's TLS). The view EVENT_RECORDS_VIEW puts the record
# together again. Owner columns hold NULL for "-remote-". About half the bytes of the old rows.
EVENTS_TABLE = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    message_ref INTEGER,                 -- messages.id; NULL for SMTP-time rejections
    type TEXT NOT NULL,
    msgid TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    sender TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    user TEXT,                           -- NULL: -remote-
    domain TEXT,
    senderhost TEXT NOT NULL DEFAULT '', -- '' (with a message): the message's
    senderip TEXT NOT NULL DEFAULT '',
    senderauth TEXT NOT NULL DEFAULT '',
    recipient TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    deliveredto TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    deliveryuser TEXT,
    deliverydomain TEXT,
    router TEXT NOT NULL DEFAULT '',
    transport TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    ip TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    actionunixtime INTEGER,
    transport_is_remote INTEGER NOT NULL DEFAULT 0,
    dsn TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    reason_text TEXT NOT NULL DEFAULT '',
    tls TEXT NOT NULL DEFAULT '',
    protocol TEXT NOT NULL DEFAULT '',
    server TEXT NOT NULL DEFAULT '',
    queue_time INTEGER,
    attempt INTEGER,
    raw TEXT,                            -- the log line, for events without a message (rejections)
    -- Lower-case domains of email and recipient: what --domain and tenant scopes search.
    sender_domain TEXT NOT NULL DEFAULT '',
    recipient_domain TEXT NOT NULL DEFAULT ''
)
"""
# The event columns that hold a value only where it differs from the event's message's.
OVERRIDE_COLUMNS = ("senderhost", "senderip", "senderauth", "tls", "protocol", "server")
MESSAGE_COLUMNS = ("size", "spamscore", "sendunixtime", "subject", "message_id", "parent_msgid")
OWNER_COLUMNS = ("user", "domain", "deliveryuser", "deliverydomain")


def _record_column(name: str) -> str:
    """The view's expression for one record field."""
    nocase = " COLLATE NOCASE" if name in ("senderhost", "domain", "deliverydomain") else ""
    if name in OVERRIDE_COLUMNS:
        return f"(CASE WHEN e.{name} != '' OR m.id IS NULL THEN e.{name} ELSE m.{name} END){nocase} AS {name}"
    if name in MESSAGE_COLUMNS:
        if name in ("size", "spamscore", "sendunixtime"):
            return f"m.{name} AS {name}"
        return f"coalesce(m.{name}, '') AS {name}"
    if name in OWNER_COLUMNS:
        return f"coalesce(e.{name}, '-remote-'){nocase} AS {name}"
    return f"e.{name} AS {name}"


# Every record field (search, exports, the page read this; never the events table itself).
EVENT_RECORDS = "event_records"
EVENT_RECORDS_VIEW = (
    f"CREATE VIEW {EVENT_RECORDS} AS SELECT e.id AS id, e.message_ref AS message_ref, "  # noqa: S608 - constants
    + ", ".join(_record_column(name) for name in EVENT_FIELDS)
    + ", e.raw AS raw, e.sender_domain AS sender_domain, e.recipient_domain AS recipient_domain"
    " FROM events e LEFT JOIN messages m ON m.id = e.message_ref"
)
# The events table's columns, in order (the rows Store writes).
EVENT_COLUMNS = (
    "id", "message_ref", "type", "msgid", "email", "sender", "user", "domain", "senderhost", "senderip",
    "senderauth", "recipient", "deliveredto", "deliveryuser", "deliverydomain", "router", "transport", "host",
    "ip", "message", "actionunixtime", "transport_is_remote", "dsn", "reason", "reason_text", "tls", "protocol",
    "server", "queue_time", "attempt", "raw", "sender_domain", "recipient_domain",
)  # fmt: skip


def _v1_to_slim(name: str) -> str:
    if name in OVERRIDE_COLUMNS:
        return f"CASE WHEN m.id IS NULL OR e.{name} != m.{name} THEN e.{name} ELSE '' END"
    if name in OWNER_COLUMNS:
        return f"nullif(e.{name}, '-remote-')"
    return f"e.{name}"


# The messages table of migrations 1-4 (one row per message, its log lines included), and since
# migration 5, when its log lines moved to message_raw.
MESSAGES_TABLE_V1 = """CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    msgid TEXT NOT NULL,
    server TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    sender TEXT NOT NULL DEFAULT '',
    senderhost TEXT NOT NULL DEFAULT '',
    senderip TEXT NOT NULL DEFAULT '',
    senderauth TEXT NOT NULL DEFAULT '',
    size INTEGER,
    spamscore REAL,
    sendunixtime INTEGER,
    lastunixtime INTEGER,
    subject TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    protocol TEXT NOT NULL DEFAULT '',
    tls TEXT NOT NULL DEFAULT '',
    parent_msgid TEXT NOT NULL DEFAULT '',
    recipients TEXT NOT NULL DEFAULT '',  -- envelope recipients from "for ...", space separated
    state TEXT NOT NULL DEFAULT 'open',    -- open | completed
    raw TEXT NOT NULL DEFAULT ''           -- the message's log lines, newline separated
)"""
_RAW_COLUMN = "\n    raw TEXT NOT NULL DEFAULT ''           -- the message's log lines, newline separated"
MESSAGES_TABLE = MESSAGES_TABLE_V1.replace("'open',", "'open' ").replace(_RAW_COLUMN, "")
MESSAGE_FIELDS = (
    "id, msgid, server, email, sender, senderhost, senderip, senderauth, size, spamscore, sendunixtime, "
    "lastunixtime, subject, message_id, protocol, tls, parent_msgid, recipients, state"
)
# messages' indexes (name, statement); a bulk ingest sets them aside (DEFERRABLE_INDEXES, below)
MSGID_INDEX = ("messages_msgid", "CREATE INDEX IF NOT EXISTS messages_msgid ON messages(msgid)")
PARENT_INDEX = (
    "messages_parent", "CREATE INDEX IF NOT EXISTS messages_parent ON messages(parent_msgid) WHERE parent_msgid != ''"
)
MESSAGE_INDEXES = [statement.replace(" IF NOT EXISTS", "") for _, statement in (MSGID_INDEX, PARENT_INDEX)]
MESSAGE_RAW_TABLE = """CREATE TABLE message_raw (
    id INTEGER PRIMARY KEY,              -- messages.id
    raw TEXT NOT NULL DEFAULT ''         -- the message's log lines, newline separated
)"""
# Since migration 6 a message's row in message_raw holds the lines of the batch that first wrote it, and the
# lines logged after that are added here, a row per later batch with any: rewriting the whole text of a
# message at every batch that adds a line wrote a quarter more bytes, and left message_raw's pages a fifth
# empty (a longer row no longer fits where it was). A message's lines are its message_raw text, then these
# rows' texts in id order (Store.load_message, story.message_story).
MESSAGE_RAW_ADDED = [
    """CREATE TABLE message_raw_added (
    id INTEGER PRIMARY KEY,
    message_ref INTEGER NOT NULL,        -- messages.id
    raw TEXT NOT NULL                    -- lines logged after the message's earlier rows, newline separated
)""",
    "CREATE INDEX message_raw_added_message ON message_raw_added(message_ref)",
]

# The settings key that is set while a bulk ingest has set the search indexes aside (Store.defer_indexes).
DEFERRED_INDEXES = "deferred_indexes"

# Addresses seen in events (lower case, each once) and their trigram index: "contains" address searches
# find the matching addresses here, then the events through the address indexes.
# A bulk ingest drops the trigger (name, statement) and fills the trigram index once at its end: kept up to
# date transaction by transaction, FTS5 merges its segments again and again (1.3 s for 39,000 addresses).
ADDRESS_TRIGGER = (
    "addresses_trigrams",
    """CREATE TRIGGER IF NOT EXISTS addresses_trigrams AFTER INSERT ON addresses BEGIN
        INSERT INTO address_trigrams (rowid, address) VALUES (new.id, new.address);
    END""",
)
REBUILD_ADDRESS_TRIGRAMS = [
    "INSERT INTO address_trigrams (address_trigrams) VALUES ('delete-all')",
    "INSERT INTO address_trigrams (rowid, address) SELECT id, address FROM addresses",
]
ADDRESS_TABLES = [
    "CREATE TABLE addresses (id INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE address_trigrams USING fts5(address, content='', tokenize='trigram', detail='none')",
    ADDRESS_TRIGGER[1],
]
ADDRESS_COLUMNS = ("recipient", "deliveredto", "email", "sender")
FILL_ADDRESSES = "INSERT OR IGNORE INTO addresses (address) " + " UNION ".join(  # noqa: S608 - constants
    f"SELECT lower({column}) FROM events WHERE {column} != ''" for column in ADDRESS_COLUMNS  # noqa: S608
)
# Purge: the addresses that no event has any more.
DELETE_UNUSED_ADDRESSES = "DELETE FROM addresses WHERE " + " AND ".join(  # noqa: S608 - constants
    f"NOT EXISTS (SELECT 1 FROM events WHERE {column} = addresses.address)" for column in ADDRESS_COLUMNS  # noqa: S608
)

# The events table's secondary indexes (name, columns) of schemas 1-6. A bulk ingest drops them and builds
# them again at its end (Store.defer_indexes / build_indexes): sorting once is several times cheaper than
# keeping ten B-trees up to date row by row once they outgrow the page cache.
EVENT_INDEXES_V1: list[tuple[str, str]] = [
    ("events_time", "actionunixtime"),
    ("events_type_time", "type, actionunixtime"),
    ("events_recipient", "recipient, actionunixtime"),
    ("events_email", "email, actionunixtime"),
    ("events_sender", "sender, actionunixtime"),
    ("events_deliveredto", "deliveredto, actionunixtime"),
    ("events_msgid", "msgid"),
    ("events_message", "message_ref"),
    ("events_sender_domain", "sender_domain, actionunixtime"),
    ("events_recipient_domain", "recipient_domain, actionunixtime"),
]
# Since schema 7 three of them, events_<column>, hold only the rows no other index finds (column: condition):
# - a search never asks for sender without email (search._match, the scopes), nor for deliveredto without
#   recipient: a row whose sender is empty or equal to its email (NOCASE, the column's own collation; LIKE
#   folds the same ASCII letters) is found through email's index anyway, and likewise deliveredto's through
#   recipient's;
# - an event of a message has its message's id, and is found through messages' msgid index.
# A search names the condition with its column (search._term), so SQLite can use these indexes.
# Building them takes a fifth of the time: 0.28 s less for a million Postfix lines (docs/speed.md).
PARTIAL_INDEXES: dict[str, str] = {
    "sender": "sender != '' AND sender != email",
    "deliveredto": "deliveredto != '' AND deliveredto != recipient",
    "msgid": "msgid != '' AND message_ref IS NULL",
}


def _event_index(name: str, columns: str) -> str:
    where = PARTIAL_INDEXES.get(name.removeprefix("events_"))
    return f"CREATE INDEX IF NOT EXISTS {name} ON events({columns})" + (f" WHERE {where}" if where else "")


# The events' indexes now (name, statement).
EVENT_INDEXES: list[tuple[str, str]] = [(name, _event_index(name, columns)) for name, columns in EVENT_INDEXES_V1]
# What a bulk ingest sets aside and builds at its end (name, statement): every index of events, and messages'
# two too: queue ids come in no order, so each batch's messages landed all over them (0.4 s and 0.15 s of 6
# for a million Postfix lines, where a content filter gives every other message a parent). Keeping
# events_message up to date cost 0.1 s more than building it at the end.
# The correlator seldom looks a stored message up while ingesting (by its id, then its open events by
# message_ref: no time in either benchmark); the first time it does, those two are built at once
# (LOOKUP_INDEXES, Store.load_message).
MESSAGE_REF_INDEX = next(index for index in EVENT_INDEXES if index[0] == "events_message")
LOOKUP_INDEXES = [MSGID_INDEX, MESSAGE_REF_INDEX]
DEFERRABLE_INDEXES = [*EVENT_INDEXES, MSGID_INDEX, PARENT_INDEX]

MIGRATIONS: list[list[str]] = [
    # 1: the first schema
    [
        MESSAGES_TABLE_V1,
        *MESSAGE_INDEXES,
        EVENTS_TABLE_V1,
        # Indexes that fit the searches: newest first overall, by type, and by the searched addresses.
        *(f"CREATE INDEX {name} ON events({columns})" for name, columns in EVENT_INDEXES_V1),
        """CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            head_len INTEGER NOT NULL,   -- identity: hash of the first head_len bytes (decompressed)
            head_hash TEXT NOT NULL,
            device INTEGER,
            inode INTEGER,
            offset INTEGER NOT NULL DEFAULT 0,   -- bytes of (decompressed) content consumed, whole lines only
            lines INTEGER NOT NULL DEFAULT 0,
            unparsed INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,  -- repeated lines of a message, skipped
            format TEXT NOT NULL DEFAULT '',
            updated INTEGER
        )""",
        "CREATE INDEX files_head ON files(head_hash)",
        """CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        )""",
        """CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
    ],
    # 2: web logins: users with a role, the domains they own, API tokens, failed logins (rate limit)
    [
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,  -- a mailbox user's name is its address
            role TEXT NOT NULL CHECK (role IN ('admin', 'reseller', 'account', 'mailbox')),
            password_hash TEXT NOT NULL DEFAULT '',    -- '' = cannot log in with a password
            owner TEXT COLLATE NOCASE,                 -- the reseller that owns an account, else NULL
            created INTEGER NOT NULL
        )""",
        "CREATE INDEX users_owner ON users(owner) WHERE owner IS NOT NULL",
        """CREATE TABLE user_domains (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            domain TEXT NOT NULL COLLATE NOCASE,
            PRIMARY KEY (user_id, domain)
        )""",
        """CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            token_hash TEXT NOT NULL UNIQUE,           -- sha256 of the token; the token itself is never stored
            label TEXT NOT NULL DEFAULT '',
            created INTEGER NOT NULL,
            last_used INTEGER
        )""",
        """CREATE TABLE login_attempts (
            name TEXT NOT NULL COLLATE NOCASE,
            ip TEXT NOT NULL,
            at INTEGER NOT NULL
        )""",
        "CREATE INDEX login_attempts_at ON login_attempts(at)",
    ],
    # 3: a trigram index of each event's addresses (replaced by address_trigrams in 5)
    [
        "CREATE VIRTUAL TABLE event_addresses USING fts5(addresses, content='', tokenize='trigram', detail='none')",
        "INSERT INTO event_addresses (rowid, addresses)"
        " SELECT id, recipient || ' ' || deliveredto || ' ' || email || ' ' || sender FROM events",
    ],
    # 4: sessions ended by "Log out": a copy of the cookie no longer works anywhere, until it would have
    # expired anyway (then the row is dropped).
    [
        """CREATE TABLE revoked_sessions (
            nonce TEXT PRIMARY KEY,        -- the session's random nonce (in the signed cookie)
            expires INTEGER NOT NULL       -- when the cookie would have expired: the row can go then
        )""",
    ],
    # 5: slim events (a message's fields once, in its row; the view event_records joins them back), the
    # raw lines of a message in message_raw, and the trigram index over distinct addresses instead of
    # every event's (docs/architecture.md, docs/speed.md).
    [
        EVENTS_TABLE.replace("CREATE TABLE events (", "CREATE TABLE events_v5 ("),
        f"INSERT INTO events_v5 ({', '.join(EVENT_COLUMNS)}) SELECT "  # noqa: S608 - constants
        + ", ".join(_v1_to_slim(name) for name in EVENT_COLUMNS)
        + " FROM events e LEFT JOIN messages m ON m.id = e.message_ref",
        "DROP TABLE events",
        "ALTER TABLE events_v5 RENAME TO events",
        *(f"CREATE INDEX {name} ON events({columns})" for name, columns in EVENT_INDEXES_V1),
        "DROP TABLE event_addresses",
        # A message's log lines in their own table: scanning messages (a subject search) no longer reads them.
        MESSAGE_RAW_TABLE,
        "INSERT INTO message_raw (id, raw) SELECT id, raw FROM messages WHERE raw != ''",
        # Copied rather than ALTER TABLE DROP COLUMN, which leaves the rows' pages as large as before.
        MESSAGES_TABLE.replace("CREATE TABLE messages (", "CREATE TABLE messages_v5 ("),
        f"INSERT INTO messages_v5 SELECT {MESSAGE_FIELDS} FROM messages",  # noqa: S608 - constants
        "DROP TABLE messages",
        "ALTER TABLE messages_v5 RENAME TO messages",
        *MESSAGE_INDEXES,
        *ADDRESS_TABLES,
        FILL_ADDRESSES,
        EVENT_RECORDS_VIEW,
    ],
    # 6: a message's later lines added in their own rows instead of rewriting its whole text
    MESSAGE_RAW_ADDED,
    # 7: partial indexes on sender, deliveredto and msgid (PARTIAL_INDEXES). A search by message id finds a
    # message's events through its row, so the events an older purge left of a message it deleted (one
    # without a time) go too, as a purge does since.
    [
        "DELETE FROM events WHERE message_ref IS NOT NULL AND message_ref NOT IN (SELECT id FROM messages)",
        *(f"DROP INDEX IF EXISTS events_{column}" for column in PARTIAL_INDEXES),
        *(statement for name, statement in EVENT_INDEXES if name.removeprefix("events_") in PARTIAL_INDEXES),
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
