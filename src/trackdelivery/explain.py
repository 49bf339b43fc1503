"""Why a delivery was deferred or refused: a remote reply or MTA error turned into a reason category.

Each category comes with a short label and advice a hosting customer can act on; ``explain`` never raises.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TypeAlias

from .parse.exim import compiled_helper


@dataclass(frozen=True, slots=True)
class Explanation:
    reason: str  # one of REASONS, "" when there was nothing to explain
    reason_text: str  # short label, e.g. "Blocklisted by Spamhaus (zen.spamhaus.org)"
    advice: str  # one or two plain sentences: what happened and what to do


MAILBOX_FULL = "mailbox_full"
UNKNOWN_USER = "unknown_user"
GREYLISTED = "greylisted"
BLOCKLISTED = "blocklisted"
SPF = "spf"
DKIM = "dkim"
DMARC = "dmarc"
TLS = "tls"
DNS = "dns"
CONNECTION_REFUSED = "connection_refused"
CONNECTION_TIMEOUT = "connection_timeout"
RATE_LIMITED = "rate_limited"
SPAM_CONTENT = "spam_content"
VIRUS = "virus"
RELAY_DENIED = "relay_denied"
SENDER_VERIFY = "sender_verify"
MESSAGE_TOO_BIG = "message_too_big"
POLICY = "policy"
LOCAL_CONFIG = "local_config"
OTHER = "other"

REASONS: tuple[str, ...] = (
    MAILBOX_FULL, UNKNOWN_USER, GREYLISTED, BLOCKLISTED, SPF, DKIM, DMARC, TLS, DNS, CONNECTION_REFUSED,
    CONNECTION_TIMEOUT, RATE_LIMITED, SPAM_CONTENT, VIRUS, RELAY_DENIED, SENDER_VERIFY, MESSAGE_TOO_BIG,
    POLICY, LOCAL_CONFIG, OTHER,
)  # fmt: skip

NOTHING_TO_EXPLAIN = Explanation("", "", "")

_LABEL = {
    MAILBOX_FULL: "Recipient mailbox is full",
    UNKNOWN_USER: "Recipient address does not exist",
    GREYLISTED: "Delayed by greylisting (normal for a first message)",
    BLOCKLISTED: "Sending server is on a blocklist",
    SPF: "SPF check failed",
    DKIM: "DKIM signature check failed",
    DMARC: "Rejected by the sender domain's DMARC policy",
    TLS: "Secure connection (TLS) failed",
    DNS: "Recipient domain not found in DNS",
    CONNECTION_REFUSED: "Receiving server refused the connection",
    CONNECTION_TIMEOUT: "Receiving server did not respond in time",
    RATE_LIMITED: "Rate limited: too much mail at once",
    SPAM_CONTENT: "Rejected as spam",
    VIRUS: "Virus or dangerous attachment detected",
    RELAY_DENIED: "Relaying denied: sender not logged in or not allowed",
    SENDER_VERIFY: "Sender address rejected or could not be verified",
    MESSAGE_TOO_BIG: "Message is too big",
    POLICY: "Refused by the receiving server's rules",
    LOCAL_CONFIG: "Problem in this server's own configuration",
    OTHER: "Delivery problem (see the server's reply)",
}

_ADVICE = {
    MAILBOX_FULL: "The recipient's mailbox is full: ask them to free space, then send again.",
    UNKNOWN_USER: "The recipient address does not exist: check it for typos, or confirm the right address "
    "with the recipient another way.",
    GREYLISTED: "The receiving server asked us to try again a little later, a usual anti-spam check for new "
    "senders: nothing to do, delivery is retried automatically.",
    BLOCKLISTED: "The receiving server refused mail from this server because its address is on a spam "
    "blocklist: contact your hosting provider so they can get it removed.",
    SPF: "The sender's domain does not list this server in its SPF record: ask whoever manages your domain's "
    "DNS (often your hosting provider) to fix the SPF record.",
    DKIM: "The message's DKIM signature was missing or invalid: ask your hosting provider to enable or "
    "repair DKIM signing for your domain.",
    DMARC: "The message did not pass the sender domain's SPF/DKIM (DMARC) checks: ask your hosting provider "
    "to set up SPF and DKIM for your domain, then send again.",
    TLS: "A secure (encrypted) connection to the receiving server could not be set up: delivery is retried "
    "automatically; contact your hosting provider if it keeps failing.",
    DNS: "The recipient's domain could not be found: check the part after the @ for typos; if it is right, "
    "the recipient's domain has a DNS problem only they can fix.",
    CONNECTION_REFUSED: "The receiving server would not take the connection: it may be down or blocking us; "
    "delivery is retried automatically, and if it keeps failing contact the recipient another way.",
    CONNECTION_TIMEOUT: "The receiving server did not answer: it may be down or overloaded; delivery is "
    "retried automatically, and if it keeps failing contact the recipient another way.",
    RATE_LIMITED: "The receiving server is limiting how much mail it accepts from this server: delivery is "
    "retried automatically; if you send to many people, send in smaller batches.",
    SPAM_CONTENT: "The receiving server judged the message to be spam: remove spam-like content (many links, "
    "shouting, unknown attachments), make sure your domain has SPF and DKIM, then send again.",
    VIRUS: "The receiving server found a virus or a risky attachment: scan your computer, remove the "
    "attachment or share it through a link instead, then send again.",
    RELAY_DENIED: "The server would not pass the message on because the sender was not logged in or not "
    "allowed to send through it: turn on SMTP authentication in your email program and log in with your "
    "full email address.",
    SENDER_VERIFY: "The receiving server could not confirm that the sender address exists: check the From "
    "address, and that its domain has working DNS, then send again.",
    MESSAGE_TOO_BIG: "The message is larger than the receiving server accepts: make the attachments smaller "
    "or share them through a link, then send again.",
    POLICY: "The receiving server refused the message because of its own rules: contact the recipient "
    "another way and ask their email administrator; the reply text above may name the rule.",
    LOCAL_CONFIG: "This server could not handle the message because of a problem in its own setup: contact "
    "your hosting provider's support and give them the message ID.",
    OTHER: "The delivery did not succeed for a reason not recognised here: the server's reply above has the "
    "details; contact your hosting provider if it keeps happening.",
}


def _explanation(reason: str, label: str = "", advice: str = "") -> Explanation:
    return Explanation(reason, label or _LABEL[reason], advice or _ADVICE[reason])


_TEMPORARY = _explanation(
    OTHER,
    "Temporary problem at the receiving server",
    "The receiving server reported a temporary problem: delivery is retried automatically, so usually "
    "nothing needs to be done.",
)

_MAIL_LOOP = _explanation(
    LOCAL_CONFIG,
    "Mail loop: the message kept coming back",
    "The message went round in a loop between forwarders or servers: check the recipient's forwarding "
    "rules and the domain's MX records, or contact your hosting provider.",
)
_NO_REVERSE_DNS = _explanation(
    DNS,
    "Sending server has no valid reverse DNS (PTR) name",
    "The receiving server could not look up this server's name from its IP address (reverse DNS): that is "
    "a hosting-provider setting, so contact your hosting provider.",
)
_GAVE_UP = _explanation(
    OTHER,
    "Gave up after retrying for too long",
    "This server kept trying to deliver the message for days and has now given up: the earlier attempts "
    "show why; check the address, then send again or contact the recipient another way.",
)
_DISABLED_ACCOUNT = _explanation(UNKNOWN_USER, "Recipient account is disabled or no longer active")
_OTHER = _explanation(OTHER)

# Rules in priority order: when a text holds keywords of several rules, the earliest rule wins, so the
# specific comes before the generic ("blocked using zen.spamhaus.org" is a blocklist even though the
# reply also says "Service unavailable"; "SPFBL" is a blocklist, not an SPF failure). Keywords are
# lowercase substrings; at one position the longest keyword wins, so "spamhaus" is not read as "spam".
# Weak rules are generic words: they decide only when neither a strong keyword nor the enhanced status
# code does ("550 5.2.2 mailbox unavailable" is a full mailbox, not an unknown user).
# The keyword tables read better packed than one word per line.
# fmt: off
_STRONG_RULES: tuple[tuple[Explanation, tuple[str, ...]], ...] = (
    (
        # Exim's own errors; they quote config text that can contain any other keyword:
        # 'error in redirect data: included file /etc/x is too big (max 1048576)'.
        _explanation(LOCAL_CONFIG),
        (
            "error in redirect data", "error in filter file", "syntax error in redirection data",
            "failed to expand", "expansion of", "tainted", "local configuration", "configuration error",
            "configuration problem", "library failure", "acl error", "unknown acl", "never_users",
            "transport unset", "transport filter", "child process of", "command not found",
            "failed to lock mailbox", "mailbox file format", "outside the home directory",
            "delivery to file forbidden", "delivery to pipe forbidden", "included files not permitted",
            "is not absolute", "permission denied", "no such file or directory", "failed to stat",
            "failed to open", "hintsdb", "unknown mail transport error", "mail transport unavailable",
            "mua_wrapper", "no_hosts transport", "is not defined for", "invalid message_size_limit",
            "malformed value", "failed to send message from", "smtp transport found host",
            "remote host address is the local host", "points to local host", "loops back to myself",
            "cannot use ", "cannot test ", 'invalid "', 'expected "', "in acl for", "is not local, and",
            "pipe delivery process timed out", "is unset", "no command specified", "not an absolute path",
            "while renaming", "named pipe", "argument list too long", "too many environment",
        ),
    ),
    (
        # Exim routers and filters told to stop: ":fail: forced failure", "This address has been forced
        # to defer.", "forcibly deferred".
        _explanation(
            LOCAL_CONFIG,
            "Stopped by a rule on this server",
            "A forwarding or filter rule on this server stopped the message on purpose: check the account's "
            "forwarders and filters, or ask your hosting provider.",
        ),
        ("forced to defer", "forcibly", "forced fail", "forced freeze", "forced defer"),
    ),
    (
        _MAIL_LOOP,
        ("mail loop", "forwarding loop", "routing loop", "too many hops", 'too many "received"'),
    ),
    (
        # Clients that break SMTP, refused at once: Exim "SMTP protocol synchronization error (input sent
        # without waiting for greeting): rejected connection from H=[1.2.3.4]", Postfix "550 5.5.1 Protocol
        # error"; "too many syntax or protocol errors" is about the client, not a rate.
        _explanation(
            POLICY,
            "Refused: the sending program broke the email protocol",
            "The sending program did not follow the email protocol, as spam software often does: if this was "
            "a real sender, their mail program or server needs fixing.",
        ),
        ("synchronization error", "protocol error", "syntax or protocol errors"),
    ),
    (
        # Exim as a client of a smarthost: "authentication required but authentication attempt(s) failed".
        _explanation(
            LOCAL_CONFIG,
            "Could not log in to the outgoing relay server",
            "This server could not log in to the relay server it sends through: the relay password or "
            "settings need fixing; contact your hosting provider.",
        ),
        ("authentication attempt(s) failed", "did not advertise auth", "sasl authentication failed"),
    ),
    (
        # Postfix/postgrey "450 4.2.0 <x>: Recipient address rejected: Greylisted, see http://postgrey..."
        _explanation(GREYLISTED),
        ("greylist", "graylist", "grey-list", "gray-list", "grey list", "gray list", "postgrey"),
    ),
    (
        # The list is named in reason_text by _name_blocklist().
        _explanation(BLOCKLISTED),
        (
            "blocked using", "blacklist", "black list", "blocklist", "block list", "black-list",
            "dnsbl", "rbl", "dnslist", "listed at", "listed in", "listed on", "listed by", "is listed",
            "black listed", "poor reputation", "bad reputation", "rejected due to listing",
            "spamhaus", "spamcop", "barracudacentral", "barracuda reputation",
            "barracudanetworks.com/reputation", "sorbs", "uceprotect", "spamrats", "mailspike",
            "surriel", "invaluement", "abusix", "hostkarma", "junkemailfilter", "backscatterer",
            "spfbl", "unsubscore", "lashback", "senderscore", "nixspam", "cloudmark",
            "ipcheck.proofpoint", "proofpoint.com/?ip", "mail-abuse.com", "banned sending ip",
            "banned sender", "sender.office.com", "messaging.microsoft.com", "s3140", "s3150",
            "traffic not accepted from this ip", "tss09", "bl21", "bl22", "bl23", "rtr:bl", "rly:bl",
        ),
    ),
    (
        # Gmail "550-5.7.26 This mail is unauthenticated ... DKIM checks did not pass and SPF check ...",
        # Outlook "550 5.7.509 Access denied, sending domain x does not pass DMARC verification".
        _explanation(DMARC),
        ("dmarc", "unauthenticated", "not aligned", "isn't aligned", "is not aligned", "alignment"),
    ),
    (
        # Gmail "550-5.7.23 ... Sender Policy Framework violation";
        # "Recipient address rejected: Message rejected due to: SPF fail - not authorized".
        _explanation(SPF),
        (
            "spf", "sender policy framework", "designate", "permitted sender",
            "is not allowed to send mail from",
        ),
    ),
    (
        _explanation(DKIM),
        ("dkim", "domainkeys", "domain keys"),
    ),
    (
        # Exim "TLS session: (SSL_connect): error: ...", "a TLS session is required, but the server did not
        # offer TLS support"; Gmail "421-4.7.0 TLS required for RCPT domain".
        _explanation(TLS),
        (
            "tls session", "tls handshake", "tls negotiation", "tls required", "tls is required",
            "tls error", "tls failure", "tls connection", "tls support", "tls 1.", "tlsv1",
            "starttls", "ssl_connect", "ssl routines", "ssl handshake", "ssl error", "ssl/tls",
            "certificate", "cipher", "encryption required", "must encrypt", "dane error", "tlsa",
            "tls lib", "tls-on-connect",
        ),
    ),
    (
        # Postfix "450 4.7.25 Client host rejected: cannot find your hostname, [1.2.3.4]",
        # Gmail "550-5.7.25 ... does not have a PTR record setup"; before relaying because sendmail says
        # "Relaying temporarily denied. Cannot resolve PTR record for 1.2.3.4".
        _NO_REVERSE_DNS,
        ("cannot find your hostname", "cannot find your reverse hostname", "reverse dns", "reverse hostname",
         "ptr record", "rdns", "reverse lookup"),
    ),
    (
        # Postfix "554 5.7.1 <x>: Relay access denied", Exim "relay not permitted",
        # Office 365 "530 5.7.57 Client not authenticated to send mail".
        _explanation(RELAY_DENIED),
        (
            "relay access denied", "relay not permitted", "relaying denied", "relay denied",
            "relaying not allowed", "relaying is not allowed", "relay not allowed", "unable to relay",
            "not permitted to relay", "we do not relay", "relaying", "unauthenticated relay",
            "not authenticated to send", "authentication required", "must authenticate first",
        ),
    ),
    (
        # Gmail "421-4.7.28 ... unusual rate of unsolicited mail", Yahoo "421 4.7.0 [TSS04] Messages from
        # x temporarily deferred due to user complaints", Outlook "451 4.7.650 ... rate limited".
        _explanation(RATE_LIMITED),
        (
            "rate limit", "ratelimit", "rate-limit", "rate that prevents", "receiving mail at a rate",
            "unusual rate", "mail too quickly", "too many", "too much mail", "too fast", "throttl",
            "slow down", "excessive", "sending limit", "sending quota", "daily quota", "hourly quota",
            "message limit", "recipient limit", "tss04", "tss11", "gl01", "rp-001", "rp-002", "rp-003",
            "temporarily deferred due to", "user complaints", "connection limit", "concurrency limit",
            "server ports busy",
        ),
    ),
    (
        # Gmail "452-4.2.2 The email account that you tried to reach is over quota",
        # Exim "mailbox is full (MTA-imposed quota exceeded while writing to ...)".
        _explanation(MAILBOX_FULL),
        (
            "mailbox full", "mailbox is full", "mailbox size", "quota", "over-quota", "overquota",
            "inbox is full", "account is full", "mailbox has exceeded", "storage space",
            "exceeded storage", "out of storage", "insufficient storage", "mailbox would exceed",
        ),
    ),
    (
        # Exim "message is too big (transport limit = 1024)",
        # Gmail "552-5.2.3 Your message exceeded Google's message size limits".
        _explanation(MESSAGE_TOO_BIG),
        (
            "too big", "too large", "message size", "size exceeds", "exceeds size", "exceeds the maximum",
            "exceeds maximum", "size limit", "length exceeds", "exceeded the maximum",
        ),
    ),
    (
        # Exim "This message contains a virus (Sanesecurity.Junk.39934.UNOFFICIAL).",
        # Gmail "552-5.7.0 This message was blocked because its content presents a potential security issue".
        _explanation(VIRUS),
        (
            "virus", "malware", "infected", "malicious", "potential security issue", "dangerous attachment",
            "attachment", "executable", "banned file",
        ),
    ),
    (
        # Gmail "550-5.7.1 ... this message is likely unsolicited mail", SpamAssassin via Exim local_scan
        # "Rejected: hits=7.5 required=5.0", amavis "554 5.7.0 Reject, id=31619-02 - spam".
        _explanation(SPAM_CONTENT),
        (
            "spam", "unsolicited", "junk mail", "hits=", "content rejected", "content filter",
            "low reputation", "suspicious", "phish", "bulk mail",
        ),
    ),
    (
        # Exim "rejected RCPT <x>: Sender verify failed", Postfix "450 4.1.8 <x>: Sender address rejected:
        # Domain not found".
        _explanation(SENDER_VERIFY),
        (
            "sender verify", "sender verification", "sender address rejected", "verify sender",
            "sender rejected", "invalid sender", "sender unknown", "unverifiable sender",
            "sender domain", "sender address domain", "domain of sender",
        ),
    ),
    (
        # Gmail "550-5.2.1 The email account that you tried to reach is disabled",
        # Yahoo "554 delivery error: dd This mailbox is disabled (554.30)".
        _DISABLED_ACCOUNT,
        (
            "is disabled", "account disabled", "disabled account", "has been disabled", "inactive",
            "deactivated", "expired account", "no longer active", "no longer available",
        ),
    ),
    (
        # Postfix "550 5.1.1 <x>: Recipient address rejected: User unknown in virtual mailbox table",
        # Gmail "The email account that you tried to reach does not exist", Yahoo "552 1 Requested mail
        # action aborted, mailbox not found", Exchange Online directory-based edge blocking
        # "550 5.4.1 Recipient address rejected: Access denied", Exim "Unrouteable address".
        _explanation(UNKNOWN_USER),
        (
            "user unknown", "unknown user", "unknown recipient", "recipient unknown", "no such user",
            "no such recipient", "no such mailbox", "no such account", "no such address", "no mailbox",
            "mailbox not found", "mailbox does not exist", "mailbox doesn't exist", "invalid recipient",
            "invalid mailbox", "not a valid mailbox", "recipient not found", "recipientnotfound",
            "user not found", "address unknown", "unknown address", "unknown local", "unrouteable address",
            "undeliverable address", "can't route to", "cannot route", "user doesn't have a", "bad user",
            "bad recipient", "bad destination mailbox", "tried to reach does not exist",
            "account does not exist", "address does not exist", "user does not exist",
            "recipient does not exist", "user doesn't exist", "recipient address rejected: access denied",
        ),
    ),
    (
        # Postfix "504 5.5.2 <x>: Helo command rejected: need fully-qualified hostname"; checked before DNS
        # because "Helo command rejected: Host not found" is about the sender, not the recipient's domain.
        _explanation(
            POLICY,
            "Sending server's greeting name (HELO) was refused",
            "The name the sending server introduced itself with was not accepted: that server's hostname "
            "setting needs fixing; if it is this server, contact your hosting provider.",
        ),
        ("helo command rejected", "ehlo command rejected", "rejected ehlo", "rejected helo", "invalid helo",
         "bad helo", "no helo", "syntactically invalid argument"),
    ),
    (
        # RFC 7505 null MX: Postfix "Domain example.com does not accept mail (nullMX)".
        _explanation(
            DNS,
            "Recipient domain does not accept email",
            "The recipient's domain says it receives no email at all: check the address for typos, or "
            "contact the recipient another way.",
        ),
        ("nullmx", "null mx", "does not accept mail"),
    ),
    (
        # Exim "all relevant MX records point to non-existent hosts",
        # "missing MX, or all MXs point to missing A records".
        _explanation(DNS, "Recipient domain has no working mail server (MX)"),
        ("mx records point", "mxs point to", "missing mx", "no mx", "mx record", "no valid mx"),
    ),
    (
        # Postfix "Host or domain name not found. Name service error for name=x type=MX: Host not found";
        # Exim 'unrouteable mail domain "x"', "failed to lookup IP address for x".
        _explanation(DNS),
        (
            "host or domain name not found", "name service error", "domain not found", "no such domain",
            "domain does not exist", "nxdomain", "servfail", "unrouteable mail domain",
            "can't route by dns", "non-existent domain", "failed to lookup ip address", "lookup of host",
            "host lookup", "host not found", "dns error", "dns lookup", "dns failure", "dns timeout",
            "dns query", "name resolution",
        ),
    ),
    (
        _explanation(CONNECTION_REFUSED),
        ("connection refused", "refused to talk"),
    ),
    (
        # Postfix "lost connection with mx.x[1.2.3.4] while receiving the initial server greeting",
        # Exim "Remote host closed connection in response to end of data".
        _explanation(CONNECTION_REFUSED, "Receiving server closed the connection"),
        ("lost connection", "connection closed", "closed connection", "connection reset", "reset by peer",
         "connection dropped", "unexpectedly closed", "broken pipe"),
    ),
    (
        # Postfix "connect to mx.x[1.2.3.4]:25: No route to host".
        _explanation(CONNECTION_TIMEOUT, "Receiving server could not be reached"),
        ("no route to host", "network is unreachable", "host is unreachable", "host unreachable",
         "network error", "netwk addr not available", "could not connect", "unable to connect"),
    ),
    (
        # Postfix "connect to mx.x[1.2.3.4]:25: Connection timed out",
        # Exim "SMTP timeout after RCPT TO:<x>".
        _explanation(CONNECTION_TIMEOUT),
        ("timed out", "timeout", "time out"),
    ),
    (
        # Gmail "550-5.7.1 ... is not authorized to send email directly to our servers",
        # Yahoo "554 5.7.9 Message not accepted for policy reasons", Exim "550 Administrative prohibition".
        _explanation(POLICY),
        (
            "administrative prohibition", "access denied", "not authorized", "not allowed", "prohibited",
            "policy", "forbidden", "closed mailing list", "command rejected", "client host rejected",
            "not permitted", "denied", "blocked",
        ),
    ),
    (
        _explanation(
            OTHER,
            "Receiving server cannot handle international (UTF-8) addresses",
            "The receiving server does not support addresses with non-English characters: use a plain "
            "address if the recipient has one, or contact them another way.",
        ),
        ("utf8 support", "smtputf8"),
    ),
    (
        _explanation(
            OTHER,
            "Message has lines too long for the receiving server",
            "The message has text lines longer than email allows: send it again from a normal email "
            "program, or as an attachment.",
        ),
        ("lines too long",),
    ),
    (
        _explanation(OTHER, "Receiving server sent an invalid reply", _TEMPORARY.advice),
        ("malformed smtp reply",),
    ),
    (
        # Exim defers without a new attempt: "retry time not reached for any host for 'example.com'".
        _explanation(
            OTHER,
            "Waiting for the next delivery attempt",
            "An earlier attempt failed and this server is waiting before it tries again: nothing to do; the "
            "earlier attempts show the cause.",
        ),
        ("retry time not reached", "retry time not yet reached", "failing for a long time",
         "explicitly queued", "domain is held", "queue_domains", "queue_smtp_domains"),
    ),
    (
        # Last of the strong rules: a line that names the real cause too ("Connection timed out: retry
        # timeout exceeded") is better explained by that cause.
        _GAVE_UP,
        ("retry timeout exceeded", "message expired", "delivery time expired", "too long in queue"),
    ),
)

_WEAK_RULES: tuple[tuple[Explanation, tuple[str, ...]], ...] = (
    (
        # Exchange "550 5.5.0 Requested action not taken: mailbox unavailable" usually means no such user.
        _explanation(UNKNOWN_USER, "Recipient address rejected (probably does not exist)"),
        ("mailbox unavailable", "recipient address rejected", "does not exist", "recipient rejected",
         "recipient refused", "rcpt refused", "recipient not ok"),
    ),
    (
        _TEMPORARY,
        ("temporar", "try again", "try later", "not right now", "not now", "not just now", "not yet",
         "busy", "service unavailable", "service not available", "currently unavailable"),
    ),
    (
        _explanation(POLICY),
        ("reject", "refused", "deny", "go away", "not wanted", "don't like", "not like"),
    ),
)

# fmt: on

# Neutral words that only stop a shorter keyword from matching inside them: a spam-filter service's name
# is not a spam verdict ("mx.spamexperts.com").
_NEUTRAL_WORDS = ("spamexperts", "mailspamprotection", "antispamcloud")

# Enhanced status code (RFC 3463) fallback, used when no strong keyword matched. Keys are "subject.detail".
_BY_STATUS_CODE: dict[str, Explanation] = {
    "1.0": _explanation(UNKNOWN_USER),
    "1.1": _explanation(UNKNOWN_USER),
    "1.3": _explanation(UNKNOWN_USER, "Recipient address is not valid"),
    "1.6": _explanation(UNKNOWN_USER, "Recipient has moved and left no forwarding address"),
    "1.10": _explanation(UNKNOWN_USER),
    "1.2": _explanation(DNS),
    "1.7": _explanation(SENDER_VERIFY),
    "1.8": _explanation(SENDER_VERIFY),
    "2.1": _DISABLED_ACCOUNT,
    "2.2": _explanation(MAILBOX_FULL),
    "2.3": _explanation(MESSAGE_TOO_BIG),
    "3.4": _explanation(MESSAGE_TOO_BIG),
    "4.1": _explanation(CONNECTION_TIMEOUT),
    "4.2": _explanation(CONNECTION_REFUSED, "Receiving server closed the connection"),
    "4.3": _explanation(DNS),
    "4.4": _explanation(DNS),
    "4.6": _MAIL_LOOP,
    "4.7": _GAVE_UP,
    "5.3": _explanation(RATE_LIMITED, "Too many recipients for the receiving server"),
    "7.0": _explanation(POLICY),
    "7.1": _explanation(POLICY),
    "7.2": _explanation(POLICY),
    "7.10": _explanation(TLS),
    "7.11": _explanation(TLS),
    "7.20": _explanation(DKIM),
    "7.21": _explanation(DKIM),
    "7.22": _explanation(DKIM),
    "7.23": _explanation(SPF),
    "7.24": _explanation(SPF),
    "7.25": _NO_REVERSE_DNS,
    "7.26": _explanation(DMARC),
    "7.28": _explanation(RATE_LIMITED),
    "7.57": _explanation(RELAY_DENIED),
}

# Named blocklists for reason_text, most specific first: Yahoo's "[BL21] ... because the ip is in
# Spamhaus's list" names Spamhaus, Outlook's "blocked using Spamhaus ... (AS3130)" too.
_BLOCKLIST_NAMES: tuple[tuple[str, str], ...] = (
    ("spfbl", "SPFBL"),
    ("spamhaus", "Spamhaus"),
    ("spamcop", "SpamCop"),
    ("barracuda", "Barracuda"),
    ("sorbs", "SORBS"),
    ("uceprotect", "UCEPROTECT"),
    ("spamrats", "SpamRATS"),
    ("mailspike", "Mailspike"),
    ("surriel", "PSBL"),
    ("psbl", "PSBL"),
    ("invaluement", "Invaluement"),
    ("abusix", "Abusix"),
    ("hostkarma", "Hostkarma"),
    ("junkemailfilter", "Hostkarma"),
    ("backscatterer", "Backscatterer"),
    ("lashback", "LashBack"),
    ("unsubscore", "LashBack"),
    ("senderscore", "Sender Score"),
    ("nixspam", "NiX Spam"),
    ("manitu", "NiX Spam"),
    ("cloudmark", "Cloudmark"),
    ("proofpoint", "Proofpoint"),
    ("mimecast", "Mimecast"),
    ("mail-abuse.com", "Trend Micro"),
    ("trend micro", "Trend Micro"),
    ("s3140", "Microsoft"),
    ("s3150", "Microsoft"),
    ("banned sending ip", "Microsoft"),
    ("banned sender", "Microsoft"),
    ("sender.office.com", "Microsoft"),
    ("messaging.microsoft.com", "Microsoft"),
    ("traffic not accepted from this ip", "Microsoft"),
    ("outlook.com", "Microsoft"),
    ("yahoo", "Yahoo"),
    ("rtr:bl", "AOL"),
    ("rly:bl", "AOL"),
)
_BLOCKLIST_NAME_RANK = {marker: (rank, name) for rank, (marker, name) in enumerate(_BLOCKLIST_NAMES)}

# Phrases after which a reply names the list's DNS zone: Postfix "blocked using zen.spamhaus.org;",
# Exim "rejected because 1.2.3.4 is in a black list at dnsbl.sorbs.net", "found in dnsbl zen.spamhaus.org",
# Exim ACL "DNSLIST (rbl.example.net: ...)", "is in an RBL on csi.cloudmark.com/reset-request/?ip=...".
_BLOCKLIST_ZONE_PHRASES = (
    "blocked using", "blocked by", "rejected using", "listed at", "listed in", "listed on", "listed by",
    "listed in the rbl at", "black list at", "black list in", "black list on", "blacklist at",
    "blacklisted at", "blacklisted by", "blacklisted in", "blocklisted at", "blocklisted by",
    "blocklisted in", "found in", "found in dnsbl", "in an rbl on", "dnslist (",
)  # fmt: skip


_Trie: TypeAlias = "dict[str, _Trie]"


def _keyword_regex(keywords: list[str]) -> str:
    """One alternation shaped as a trie, so the regex engine tests each position in a few steps."""
    trie: _Trie = {}
    for keyword in keywords:
        node = trie
        for char in keyword:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: _Trie) -> str:
        ends_here = "" in node
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends_here:  # greedy: prefer the longer keyword ("spamhaus" over "spam")
            body = (body if len(branches) > 1 else "(?:" + body + ")") + "?"
        return body

    return pattern(trie)


_STRONG_COUNT = len(_STRONG_RULES)
_RULE_BY_KEYWORD: dict[str, tuple[int, Explanation]] = {}
for _rank, (_rule, _words) in enumerate(_STRONG_RULES + _WEAK_RULES):
    for _word in _words:
        if _word in _RULE_BY_KEYWORD:
            raise ValueError(f"keyword {_word!r} belongs to two rules")
        _RULE_BY_KEYWORD[_word] = (_rank, _rule)

# Keywords are looked for only where a word starts, right after a space or punctuation (the text gets a
# leading space), so the regex engine skips the letters inside words quickly. A keyword is ignored when
# its word runs on into an address or a "host[ip]" ("<spam@x.com>", Postfix's "host mx.spamexperts.com
# [1.2.3.4] said:"): those name a mailbox or server, not what went wrong. findall returns "" for the
# bracketed addresses, which are skipped whole.
_WORD_START = r"[\t\n\r -/:-@\[-`{-~]"
_KEYWORDS_RE = re.compile(
    _WORD_START
    + r"(?:<[^<>]*>|("
    + _keyword_regex([*_RULE_BY_KEYWORD, *_NEUTRAL_WORDS])
    + r")(?![\w.+=-]*+[@\[]))"
)

_BLOCKLIST_NAME_RE = re.compile(_WORD_START + "(" + _keyword_regex([m for m, _ in _BLOCKLIST_NAMES]) + ")")
_BLOCKLIST_ZONE_RE = re.compile(
    _WORD_START
    + "(?:"
    + _keyword_regex(list(_BLOCKLIST_ZONE_PHRASES))
    + r")\s*'?(?P<zone>[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.[a-z]{2,})(?![a-z0-9-])"
)

# RFC 3463 "class.subject.detail": "550 5.1.1 <bob@x>", "550-5.7.26", "dsn=4.2.2"; the subject is one
# digit 0-7, so neither an IP address ("5.6.7.8") nor a version ("Exim 4.96.2") is taken for a code.
# It starts with the class digit so the regex engine can skip every other character quickly.
_STATUS_CODE_RE = re.compile(r"[245](?<![\w.][245])\.[0-7]\.\d{1,3}(?!\d|\.\d)")
_TEMPORARY_REPLY_RE = re.compile(r"4(?<![\w.]4)\d\d(?:[ -]|$)")

# Long replies are cut here: the reason is always near the start, and ingest speed must not depend on
# a pathological line.
_MAX_CHARS = 4000


def extract_dsn(text: str) -> str:
    """The first enhanced status code in a reply ("5.1.1"), else ""."""
    if _extract_dsn_fast is not None:
        code: str | None = _extract_dsn_fast(text)  # None: not ASCII, the regex decides
        if code is not None:
            return code
    return extract_dsn_py(text)


def extract_dsn_py(text: str) -> str:
    """extract_dsn by the regex: the reference of _eximc.extract_dsn_fast, and what reads non-ASCII text."""
    match = _STATUS_CODE_RE.search(text[:_MAX_CHARS]) if text else None
    return match.group(0) if match else ""


_extract_dsn_fast = compiled_helper("extract_dsn_fast")


def explain(text: str, dsn: str = "") -> Explanation:
    """Classify a remote reply or MTA error; ``dsn`` is the enhanced status code when the log gives one.

    The same replies come back again and again (a retried deferral, a blocklist's rejections): answers
    for texts of up to _MAX_CHARS are remembered, the _EXPLAINED most recently used (16M characters at most).
    """
    if len(text) <= _MAX_CHARS:
        return _explained(text, dsn)
    return _explain(text, dsn)


def _explain(text: str, dsn: str) -> Explanation:
    if not text or text.isspace():
        return NOTHING_TO_EXPLAIN
    lowered = " " + text[:_MAX_CHARS].lower()
    best_rank = len(_STRONG_RULES) + len(_WEAK_RULES)
    best: Explanation | None = None
    for word in _KEYWORDS_RE.findall(lowered):
        found = _RULE_BY_KEYWORD.get(word)
        if found is not None and found[0] < best_rank:
            best_rank, best = found
    if best is not None and best_rank < _STRONG_COUNT:
        return _name_blocklist(lowered, best) if best.reason == BLOCKLISTED else best
    code = dsn.strip() if dsn else ""
    code = code if _STATUS_CODE_RE.fullmatch(code) else extract_dsn(text)
    if code:
        by_code = _BY_STATUS_CODE.get(code[2:])
        if by_code is not None:
            return by_code
    if best is not None:
        return best
    if code.startswith("4") or _TEMPORARY_REPLY_RE.search(lowered):
        return _TEMPORARY
    return _OTHER


_EXPLAINED = 4096
_explained = functools.lru_cache(maxsize=_EXPLAINED)(_explain)


def _name_blocklist(lowered: str, generic: Explanation) -> Explanation:
    """'Blocklisted by Spamhaus (zen.spamhaus.org)': the list's name and zone when the reply gives them."""
    names = [_BLOCKLIST_NAME_RANK[marker] for marker in _BLOCKLIST_NAME_RE.findall(lowered)]
    name = min(names)[1] if names else ""
    zone_match = _BLOCKLIST_ZONE_RE.search(lowered)
    zone = zone_match.group("zone") if zone_match else ""
    if name and zone:
        label = f"Blocklisted by {name} ({zone})"
    elif name or zone:
        label = f"Blocklisted by {name or zone}"
    else:
        return generic
    return Explanation(BLOCKLISTED, label, generic.advice)
