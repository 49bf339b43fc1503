"""The SQLite schema and its migrations, numbered; ``PRAGMA user_version`` says which ones ran."""

from __future__ import annotations

# Columns of the events table, in DeliveryEvent order (record.EVENT_FIELDS), plus internal links.
EVENTS_TABLE = """
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

# The columns an address search looks in (search.ADDRESS_COLUMNS), as one text for the trigram index.
ADDRESS_TEXT_COLUMN = "addresses"
ADDRESS_TEXT_SQL = "recipient || ' ' || deliveredto || ' ' || email || ' ' || sender"

# The events table's secondary indexes (name, columns). A bulk ingest drops the search indexes and builds
# them again at its end (Store.defer_indexes / build_indexes): sorting once is several times cheaper than
# keeping nine B-trees up to date row by row once they outgrow the page cache. events_message stays: the
# correlator reads a stored message's open events by it while ingesting.
EVENT_INDEXES: list[tuple[str, str]] = [
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
DEFERRABLE_INDEXES = [index for index in EVENT_INDEXES if index[0] != "events_message"]

MIGRATIONS: list[list[str]] = [
    # 1: the first schema
    [
        """CREATE TABLE messages (
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
        )""",
        "CREATE INDEX messages_msgid ON messages(msgid)",
        "CREATE INDEX messages_parent ON messages(parent_msgid) WHERE parent_msgid != ''",
        EVENTS_TABLE,
        # Indexes that fit the searches: newest first overall, by type, and by the searched addresses.
        *(f"CREATE INDEX {name} ON events({columns})" for name, columns in EVENT_INDEXES),
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
    # 3: a trigram index of each event's addresses, so "contains" address searches need not read every
    # row. Contentless (it stores only the index); rows of deleted events are dropped when purge rebuilds
    # it, and never match meanwhile because search joins back to events and re-checks with LIKE.
    [
        f"CREATE VIRTUAL TABLE event_addresses USING fts5({ADDRESS_TEXT_COLUMN}, content='', "
        "tokenize='trigram', detail='none')",
        f"INSERT INTO event_addresses (rowid, {ADDRESS_TEXT_COLUMN}) SELECT id, {ADDRESS_TEXT_SQL} FROM events",  # noqa: S608
    ],
    # 4: sessions ended by "Log out": a copy of the cookie no longer works anywhere, until it would have
    # expired anyway (then the row is dropped).
    [
        """CREATE TABLE revoked_sessions (
            nonce TEXT PRIMARY KEY,        -- the session's random nonce (in the signed cookie)
            expires INTEGER NOT NULL       -- when the cookie would have expired: the row can go then
        )""",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
