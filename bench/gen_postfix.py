#!/usr/bin/env python3
"""Generate a large, realistic Postfix mail log (syslog "maillog"), as written by a busy mail server.

Deterministic for a given seed, stdlib only, fast (lines are formatted once and written a megabyte at
a time). At the end it prints what it wrote as one JSON object on stderr, with the totals pflogsumm
prints for the very file ("pflogsumm_expected"), so tests and bench/run_postfix.py can hold tools to it.

    python bench/gen_postfix.py --lines 1000000 --seed 1 --out /tmp/maillog
    python bench/gen_postfix.py --lines 3000 --seed 42 --start 2026-11-16 --days 7 > maillog

Line shapes follow the real logs in ../shared/corpora/postfix: lightmeter (submission with SASL,
amavis on 127.0.0.1:10024 re-injecting on :10025, lmtp to dovecot, bounces, deferrals, expiry),
postfix-grok-patterns and fail2ban (postscreen, dnsblog, NOQUEUE rejects, milter and header checks).
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import sys
import time
from collections import defaultdict
from datetime import date
from random import Random
from typing import BinaryIO

from exim_timeline import TimeOrderedWriter
from exim_world import (
    FIRST_NAMES,
    HELO_NAMES,
    HOSTED_DOMAINS,
    HOURLY,
    NEWSLETTER_SENDERS,
    NONEXISTENT_DOMAINS,
    PROVIDERS,
    ROLE_MAILBOXES,
    SPAM_DOMAINS,
    WEEKEND_SHARE,
)

HOSTNAME = "mail"  # the syslog host name; the server is mail.hosting-example.net
FQDN = "mail.hosting-example.net"
SERVER_IP = "198.51.100.25"
FILTER = "127.0.0.1[127.0.0.1]:10024"  # amavis; it re-injects on 127.0.0.1:10025
LMTP = f"{FQDN}[private/dovecot-lmtp]"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MAX_QUEUE_LIFETIME = 12 * 3600  # this server's maximal_queue_lifetime (Postfix's default is 5d)
RETRY_GAPS = (300, 600, 1200, 2400, 4000)  # minimal_backoff_time doubling up to maximal_backoff_time
LINES_PER_EVENT = 10.4  # measured average, to turn --lines into an arrival rate

TLS_IN = (
    "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature "
    "RSA-PSS (2048 bits) server-digest SHA256",
    "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
    "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519 server-signature "
    "RSA-PSS (2048 bits) server-digest SHA256",
)
TLS_OUT = ("Trusted", "Trusted", "Verified", "Untrusted", "Anonymous")
# Remote replies, as Postfix words them in "status=... (...)"; {a} recipient, {mx} host, {ip} its address.
GREYLIST = (
    "host {mx}[{ip}] said: 450 4.2.0 <{a}>: Recipient address rejected: Greylisted, see "
    "http://postgrey.schweikert.ch/help/{d}.html (in reply to RCPT TO command)",
    "host {mx}[{ip}] said: 451 4.7.1 Greylisting in action, please come back later (in reply to RCPT TO command)",
)
TEMPORARY = (
    "connect to {mx}[{ip}]:25: Connection timed out",
    "host {mx}[{ip}] said: 452 4.2.2 <{a}>: Mailbox full (in reply to RCPT TO command)",
    "host {mx}[{ip}] said: 421 4.7.0 Try again later, closing connection. (EHLO) (in reply to EHLO command)",
    "lost connection with {mx}[{ip}] while receiving the initial server greeting",
)
PERMANENT = (
    "host {mx}[{ip}] said: 550 5.1.1 <{a}>: Recipient address rejected: User unknown in virtual mailbox table "
    "(in reply to RCPT TO command)",
    "host {mx}[{ip}] said: 550-5.1.1 The email account that you tried to reach does not exist. Please try "
    "550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. "
    "(in reply to RCPT TO command)",
    "host {mx}[{ip}] said: 554 5.7.1 Service unavailable; Client host [" + SERVER_IP + "] blocked using "
    "zen.spamhaus.org (in reply to RCPT TO command)",
    "Host or domain name not found. Name service error for name={d} type=MX: Host not found",
)
# Our own refusals: smtpd RCPT checks; (reply, whether it names the recipient first).
RCPT_REJECTS = (
    "554 5.7.1 <{a}>: Relay access denied",
    "550 5.1.1 <{a}>: Recipient address rejected: User unknown in virtual mailbox table",
    "450 4.7.1 Client host rejected: cannot find your hostname, [{ip}]",
    "554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; "
    "https://www.spamhaus.org/query/ip/{ip}",
    "450 4.1.8 <{s}>: Sender address rejected: Domain not found",
    "504 5.5.2 <{h}>: Helo command rejected: need fully-qualified hostname",
)
LMTP_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class SyslogWriter(TimeOrderedWriter):
    """Collects lines per second and writes them in time order with a classic syslog prefix.

    ``add(t, text)`` queues a line ("postfix/smtpd[123]: ...") for second ``t`` (never before what was
    written); ``flush_before(t)`` writes every second before ``t``, a megabyte at a time. Within a
    second lines keep the order they were added in.
    """

    def __init__(self, out: BinaryIO, start: int, end: int, iso: bool) -> None:
        super().__init__(out, start, end, with_pid=True)
        self.iso = iso

    def _day_prefix(self, second: int) -> str:
        tm = time.gmtime(second)
        return time.strftime("%Y-%m-%dT", tm) if self.iso else f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} "

    def _prefix(self, day_text: str, clock: str) -> str:
        return f"{day_text}{clock}{'+00:00' if self.iso else ''} {HOSTNAME} "


def hour_weight(hour_index: int) -> float:
    weekday = (hour_index // 24 + 3) % 7  # 1970-01-01 was a Thursday
    return HOURLY[hour_index % 24] * (WEEKEND_SHARE if weekday >= 5 else 1.0)


class MailServer:
    """Plays a day (or days) in the life of a Postfix + amavis + dovecot server and logs it."""

    # (share, scenario) of each arrival
    SCENARIOS = (
        (46, "inbound"),
        (26, "outbound"),
        (6, "local"),
        (9, "rejected_rcpt"),
        (4, "postscreen_reject"),
        (5, "noise"),
    )

    def __init__(self, writer: SyslogWriter, rng: Random, end: int, filter_share: float) -> None:
        self.w = writer
        self.rng = rng
        self.rand = rng.random
        self.end = end
        self.filter_share = filter_share
        self.pid = 2000
        self.qmgr = "postfix/qmgr[1187]: "
        self.inode = 0x10000
        self.counts: defaultdict[str, int] = defaultdict(int)
        self.deferred_ids: set[str] = set()
        self._build_world()

    # ---- the world -------------------------------------------------------------------------------
    def _build_world(self) -> None:
        rng = self.rng
        self.mailboxes = [f"{local}@{domain}" for domain in HOSTED_DOMAINS
                          for local in rng.sample(ROLE_MAILBOXES, 3) + rng.sample(FIRST_NAMES, 4)]  # fmt: skip
        self.remote_people: list[tuple[str, str, str]] = []  # (address, mx, ip)
        for name, mxs, share, _style in PROVIDERS:
            for _ in range(share * 12):
                local = rng.choice(FIRST_NAMES) + rng.choice(("", ".", "_")) + str(rng.randint(1, 999))
                self.remote_people.append((f"{local}@{name}", rng.choice(mxs), self._ip()))
        self.inbound_hosts = [(f"mail-out{k}.{name}", self._ip()) for name, *_ in PROVIDERS for k in range(4)]
        self.newsletters = [(t.format(n=100000 + k, k=k), h.format(k=k), self._ip())
                            for t, h in NEWSLETTER_SENDERS for k in range(1, 20)]  # fmt: skip
        self.bots = [(f"host-{k}.dyn.example-isp.net" if k % 3 else "unknown", self._ip()) for k in range(400)]
        self.clients = [(f"client{k}.example-broadband.net" if k % 4 else "unknown", self._ip()) for k in range(300)]
        self.sizes = [min(max(int(rng.lognormvariate(8.9, 1.25)), 380), 35_000_000) for _ in range(4096)]

    def _ip(self) -> str:
        r = self.rand
        if r() < 0.7:
            return f"198.{18 + int(r() * 2)}.{int(r() * 256)}.{1 + int(r() * 254)}"
        return f"203.0.113.{1 + int(r() * 254)}"

    def pick(self, seq):  # noqa: ANN001, ANN201 - any sequence
        return seq[int(self.rand() * len(seq))]

    def new_pid(self) -> int:
        self.pid += 1 + int(self.rand() * 9)
        if self.pid > 4_000_000:
            self.pid = 2000
        return self.pid

    def queue_id(self, t: int) -> str:
        """A short queue id as Postfix makes it: microseconds (5 hex digits), then the inode in hex."""
        self.inode += 1 + int(self.rand() * 3)
        return f"{int(self.rand() * 0xFFFFF):05X}{self.inode:X}"

    def message_id(self, domain: str) -> str:
        return f"{self.rng.getrandbits(64):016x}@{domain}"

    def add(self, t: int, text: str, count: str = "") -> bool:
        written = self.w.add(t, text)
        if written and count:
            self.counts[count] += 1
        return written

    def delays(self, total: float) -> str:
        a = round(total * 0.6, 2)
        return f"delay={total:g}, delays={a:g}/0.01/{round(total * 0.2, 2):g}/{round(total * 0.2, 2):g}"

    def token(self) -> str:
        return "".join(self.pick(LMTP_ALPHABET) for _ in range(22))

    # ---- one message through the queue -----------------------------------------------------------
    def queue(self, t: int, qid: str, sender: str, size: int, nrcpt: int, count: str = "") -> None:
        self.add(t, f"{self.qmgr}{qid}: from=<{sender}>, size={size}, nrcpt={nrcpt} (queue active)", count)

    def removed(self, t: int, qid: str) -> None:
        self.add(t, f"{self.qmgr}{qid}: removed")

    def receive(self, t: int, program: str, client: tuple[str, str], qid: str, extra: str = "") -> int:
        """smtpd's lines of one accepted message; returns the second its DATA ended."""
        pid = self.new_pid()
        host, ip = client
        tag = f"{program}[{pid}]: "
        add = self.add
        add(t, f"{tag}connect from {host}[{ip}]")
        if program != "postfix/smtpd" or self.rand() < 0.6:
            add(t, f"{tag}Anonymous TLS connection established from {host}[{ip}]: {self.pick(TLS_IN)}")
        add(t, f"{tag}{qid}: client={host}[{ip}]{extra}", "received")
        t_data = t + int(self.rand() * 2)
        add(t_data + 1, f"{tag}disconnect from {host}[{ip}] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7")
        return t_data

    def cleanup(self, t: int, qid: str, header_id: str) -> None:
        self.add(t, f"postfix/cleanup[{self.new_pid()}]: {qid}: message-id=<{header_id}>")

    def through_filter(self, t: int, qid: str, sender: str, rcpt: str, size: int, header_id: str) -> tuple[int, str]:
        """amavis: deliver to 127.0.0.1:10024, which re-injects on :10025 as a new queue id (returned)."""
        t1 = t + 1 + int(self.rand() * 3)
        child = self.queue_id(t1)
        pid = self.new_pid()
        add = self.add
        add(t1, f"postfix/smtpd[{pid}]: connect from localhost[127.0.0.1]")
        add(t1, f"postfix/smtpd[{pid}]: {child}: client=localhost[127.0.0.1]", "received")
        self.cleanup(t1, child, header_id)
        self.queue(t1, child, sender, size + 700, 1, "messages")
        add(t1, f"postfix/smtpd[{pid}]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 "
                f"commands=5")  # fmt: skip
        add(t1, f"postfix/smtp[{self.new_pid()}]: {qid}: to=<{rcpt}>, relay={FILTER}, {self.delays(t1 - t + 0.3)}, "
                f"dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as "
                f"{child})", "delivered")  # fmt: skip
        self.removed(t1, qid)
        return t1, child

    def deliver_local(self, t: int, qid: str, rcpt: str, delay: float) -> None:
        if self.rand() < 0.8:
            text = (f"postfix/lmtp[{self.new_pid()}]: {qid}: to=<{rcpt}>, relay={LMTP}, {self.delays(delay)}, "
                    f"dsn=2.0.0, status=sent (250 2.0.0 <{rcpt}> {self.token()} Saved)")  # fmt: skip
        else:
            text = (f"postfix/virtual[{self.new_pid()}]: {qid}: to=<{rcpt}>, relay=virtual, {self.delays(delay)}, "
                    f"dsn=2.0.0, status=sent (delivered to maildir)")  # fmt: skip
        self.add(t, text, "delivered")
        self.removed(t, qid)

    # ---- scenarios -------------------------------------------------------------------------------
    def inbound(self, t: int) -> None:
        rand = self.rand
        if rand() < 0.25:
            sender, host, ip = self.pick(self.newsletters)
        else:
            host, ip = self.pick(self.inbound_hosts)
            sender = self.pick(self.remote_people)[0]
        rcpt = self.pick(self.mailboxes)
        size = self.pick(self.sizes)
        qid = self.queue_id(t)
        pid, port = self.new_pid(), 40000 + int(rand() * 20000)
        self.add(t, f"postfix/postscreen[{pid}]: CONNECT from [{ip}]:{port} to [{SERVER_IP}]:25")
        self.add(t, f"postfix/postscreen[{pid}]: PASS OLD [{ip}]:{port}")
        t_data = self.receive(t, "postfix/smtpd", (host, ip), qid)
        header_id = self.message_id(sender.rpartition("@")[2])
        self.cleanup(t_data, qid, header_id)
        roll = rand()
        trailer = f"from=<{sender}> to=<{rcpt}> proto=ESMTP helo=<{host}>"
        if roll < 0.03:
            self.add(t_data, f"postfix/cleanup[{self.new_pid()}]: {qid}: milter-reject: END-OF-MESSAGE from "
                             f"{host}[{ip}]: 5.7.1 Spam message rejected; {trailer}", "rejected")  # fmt: skip
            return
        if roll < 0.04:
            self.add(t_data, f"postfix/cleanup[{self.new_pid()}]: {qid}: reject: header Subject: Cheap meds no "
                             f"prescription from {host}[{ip}]; {trailer}: 5.7.1 Message content rejected",
                     "rejected")  # fmt: skip
            return
        if roll < 0.045:
            self.add(t_data, f"postfix/cleanup[{self.new_pid()}]: {qid}: discard: header X-Spam-Flag: YES from "
                             f"{host}[{ip}]; {trailer}: spam", "discarded")  # fmt: skip
            return
        self.queue(t_data, qid, sender, size, 1, "messages")
        if rand() < self.filter_share:
            t_data, qid = self.through_filter(t_data, qid, sender, rcpt, size, header_id)
        self.deliver_local(t_data + int(rand() * 2), qid, rcpt, round(0.05 + rand(), 2))

    def outbound(self, t: int) -> None:
        rand = self.rand
        user = self.pick(self.mailboxes)
        client = self.pick(self.clients)
        recipients = [self.pick(self.remote_people) for _ in range(1 if rand() < 0.75 else 2 + int(rand() * 3))]
        size = self.pick(self.sizes)
        qid = self.queue_id(t)
        t_data = self.receive(t, "postfix/submission/smtpd", client, qid,
                              f", sasl_method={'PLAIN' if rand() < 0.7 else 'LOGIN'}, sasl_username={user}")
        self.cleanup(t_data, qid, self.message_id(user.rpartition("@")[2]))
        self.queue(t_data, qid, user, size, len(recipients), "messages")
        self.finish(t_data, qid, user, size, recipients)

    def finish(self, t0: int, qid: str, sender: str, size: int, recipients: list[tuple[str, str, str]]) -> None:
        """Deliver to each recipient; when all are done, one non-delivery notification for those that failed."""
        expires = t0 + MAX_QUEUE_LIFETIME + int(self.rand() * 300)
        outcomes = [self.remote_delivery(t0 + 1 + int(self.rand() * 2), t0, expires, qid, sender, size, rcpt, mx, ip)
                    for rcpt, mx, ip in recipients]  # fmt: skip
        last = max(t for t, _outcome in outcomes)
        if any(outcome == "pending" for _t, outcome in outcomes):
            return  # still in the queue when the log ends
        expired = sum(outcome == "expired" for _t, outcome in outcomes)
        if expired and self.add(expires, f"{self.qmgr}{qid}: from=<{sender}>, status=expired, returned to sender",
                                "expired_messages"):  # fmt: skip
            self.counts["expired"] += expired  # one failure per recipient still waiting
        if expired or any(outcome == "bounced" for _t, outcome in outcomes):
            self.bounce(last, qid, sender, size)
        self.removed(last, qid)

    def remote_delivery(self, t: int, t0: int, expires: int, qid: str, sender: str, size: int, rcpt: str, mx: str,
                        ip: str) -> tuple[int, str]:  # fmt: skip
        """One recipient at a remote MX, sent, bounced, or deferred and retried until sent or ``expires``.

        Returns its last second and outcome: "sent", "bounced", "expired" or "pending" (past the log's end).
        """
        rand = self.rand
        domain = rcpt.rpartition("@")[2]
        fill = {"a": rcpt, "d": domain, "mx": mx, "ip": ip}
        roll = rand()
        if roll < 0.04 or domain in NONEXISTENT_DOMAINS:
            self.smtp_line(t, t0, qid, rcpt, mx, ip, "5.1.1", "bounced", self.pick(PERMANENT).format(**fill))
            return t, "bounced"
        if roll < 0.15:
            hopeless = rand() < 0.08
            reasons = TEMPORARY if hopeless else GREYLIST + TEMPORARY
            at, gaps = t, iter(RETRY_GAPS)
            while True:
                self.smtp_line(at, t0, qid, rcpt, mx, ip, "4.0.0", "deferred", self.pick(reasons).format(**fill))
                gap = next(gaps, RETRY_GAPS[-1])
                if not hopeless and rand() < 0.7:
                    at += gap + int(rand() * 60)
                    self.queue(at, qid, sender, size, 1)
                    break
                if at + gap > expires:
                    return expires, ("expired" if expires < self.end else "pending")
                at += gap + int(rand() * 60)
                self.queue(at, qid, sender, size, 1)
                if at >= self.end:
                    return at, "pending"
            t = at
        if t >= self.end:
            return t, "pending"
        reply = (f"250 2.0.0 OK  {t} {self.rng.getrandbits(40):010x}.{1 + int(rand() * 99)} - gsmtp"
                 if rand() < 0.5 else f"250 2.0.0 Ok: queued as {self.rng.getrandbits(40):010X}")  # fmt: skip
        self.smtp_line(t, t0, qid, rcpt, mx, ip, "2.0.0", "sent", reply)
        return t, "sent"

    def smtp_line(self, t: int, t0: int, qid: str, rcpt: str, mx: str, ip: str, dsn: str, status: str,
                  text: str) -> None:  # fmt: skip
        pid = self.new_pid()
        relay = "none" if text.startswith(("Host or domain", "connect to")) else f"{mx}[{ip}]:25"
        if relay != "none":
            self.add(t, f"postfix/smtp[{pid}]: {self.pick(TLS_OUT)} TLS connection established to {mx}[{ip}]:25: "
                        f"{TLS_IN[1]}")  # fmt: skip
        count = {"sent": "delivered", "bounced": "bounced", "deferred": "deferrals"}[status]
        if self.add(t, f"postfix/smtp[{pid}]: {qid}: to=<{rcpt}>, relay={relay}, {self.delays(t - t0 + 0.4)}, "
                       f"dsn={dsn}, status={status} ({text})", count) and status == "deferred":  # fmt: skip
            self.deferred_ids.add(qid)

    def bounce(self, t: int, qid: str, sender: str, size: int) -> None:
        """The non-delivery notification to a local sender, delivered by lmtp."""
        bid = self.queue_id(t)
        self.cleanup(t, bid, f"{time.strftime('%Y%m%d%H%M%S', time.gmtime(t))}.{bid}@{FQDN}")
        self.queue(t, bid, "", size + 2400, 1, "messages")
        self.add(t, f"postfix/bounce[{self.new_pid()}]: {qid}: sender non-delivery notification: {bid}")
        self.deliver_local(t, bid, sender, 0.04)

    def local(self, t: int) -> None:
        """A cron job's or script's mail, picked up from the maildrop."""
        rand = self.rand
        qid = self.queue_id(t)
        user = self.pick(("root", "www-data", "backup", "nagios"))
        self.add(t, f"postfix/pickup[{self.new_pid()}]: {qid}: uid={0 if user == 'root' else 33} from=<{user}>",
                 "received")  # fmt: skip
        self.cleanup(t, qid, f"{t}.{qid}@{FQDN}")
        self.queue(t, qid, f"{user}@{FQDN}", 600 + int(rand() * 4000), 1, "messages")
        if rand() < 0.7:
            text = (f"postfix/local[{self.new_pid()}]: {qid}: to=<admin@{FQDN}>, orig_to=<{user}>, relay=local, "
                    f"{self.delays(0.02)}, dsn=2.0.0, status=sent (delivered to mailbox)")  # fmt: skip
            self.add(t, text, "delivered")
            self.removed(t, qid)
        else:
            self.finish(t, qid, f"{user}@{FQDN}", 2000, [self.pick(self.remote_people)])

    def rejected_rcpt(self, t: int) -> None:
        host, ip = self.pick(self.bots)
        helo = self.pick(HELO_NAMES)
        pid = self.new_pid()
        sender = f"{self.pick(FIRST_NAMES)}@{self.pick(SPAM_DOMAINS)}"
        rcpt = self.pick(self.mailboxes) if self.rand() < 0.6 else self.pick(self.remote_people)[0]
        reply = self.pick(RCPT_REJECTS).format(a=rcpt, ip=ip, s=sender, h=helo)
        self.add(t, f"postfix/smtpd[{pid}]: connect from {host}[{ip}]")
        self.add(t + 1, f"postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from {host}[{ip}]: {reply}; from=<{sender}> "
                        f"to=<{rcpt}> proto=ESMTP helo=<{helo}>", "rejected")  # fmt: skip
        self.add(t + 1, f"postfix/smtpd[{pid}]: disconnect from {host}[{ip}] ehlo=1 mail=1 rcpt=0/1 quit=1 "
                        f"commands=3/4")  # fmt: skip

    def postscreen_reject(self, t: int) -> None:
        _host, ip = self.pick(self.bots)
        pid, port = self.new_pid(), 1024 + int(self.rand() * 60000)
        rcpt = self.pick(self.mailboxes)
        add = self.add
        add(t, f"postfix/postscreen[{pid}]: CONNECT from [{ip}]:{port} to [{SERVER_IP}]:25")
        add(t, f"postfix/dnsblog[{self.new_pid()}]: addr {ip} listed by domain zen.spamhaus.org as 127.0.0.4")
        add(t + 1, f"postfix/postscreen[{pid}]: DNSBL rank 3 for [{ip}]:{port}")
        add(t + 6, f"postfix/postscreen[{pid}]: NOQUEUE: reject: RCPT from [{ip}]:{port}: 550 5.7.1 Service "
                   f"unavailable; client [{ip}] blocked using zen.spamhaus.org; from=<{self.pick(FIRST_NAMES)}@"
                   f"{self.pick(SPAM_DOMAINS)}>, to=<{rcpt}>, proto=ESMTP, helo=<{self.pick(HELO_NAMES)}>",
            "rejected")  # fmt: skip
        add(t + 6, f"postfix/postscreen[{pid}]: DISCONNECT [{ip}]:{port}")

    def noise(self, t: int) -> None:
        host, ip = self.pick(self.bots)
        pid = self.new_pid()
        roll = self.rand()
        if roll < 0.5:
            self.add(t, f"postfix/submission/smtpd[{pid}]: connect from {host}[{ip}]")
            self.add(t + 2, f"postfix/submission/smtpd[{pid}]: warning: {host}[{ip}]: SASL LOGIN authentication "
                            f"failed: UGFzc3dvcmQ6")  # fmt: skip
            self.add(t + 2, f"postfix/submission/smtpd[{pid}]: disconnect from {host}[{ip}] ehlo=1 auth=0/1 "
                            f"quit=1 commands=2/3")  # fmt: skip
        elif roll < 0.8:
            self.add(t, f"postfix/smtpd[{pid}]: connect from {host}[{ip}]")
            self.add(t + 1, f"postfix/smtpd[{pid}]: lost connection after CONNECT from {host}[{ip}]")
            self.add(t + 1, f"postfix/smtpd[{pid}]: disconnect from {host}[{ip}] commands=0/0")
        else:
            user = self.pick(self.mailboxes)
            self.add(t, f"dovecot: imap-login: Login: user=<{user}>, method=PLAIN, rip={ip}, lip={SERVER_IP}, "
                        f"mpid={pid}, TLS, session=<{self.token()[:16]}>")  # fmt: skip

    # ---- the clock -------------------------------------------------------------------------------
    def run(self, target_lines: int, start: int) -> None:
        handlers = [getattr(self, name) for _share, name in self.SCENARIOS]
        total = sum(share for share, _name in self.SCENARIOS)
        cum, acc = [], 0.0
        for share, _name in self.SCENARIOS:
            acc += share
            cum.append(acc / total)
        cum[-1] = 1.0
        span_weight = sum(hour_weight(h) for h in range(start // 3600, -(-self.end // 3600)))
        events_per_weight = max(1.0, target_lines / LINES_PER_EVENT) / max(span_weight, 1e-9)
        rand, log, flush_before = self.rand, math.log, self.w.flush_before
        t, last_sec, end = float(start), -1, self.end
        next_anvil = start + 600
        while t < end:
            hour = int(t) // 3600
            hour_end = (hour + 1) * 3600
            mean_gap = 3600.0 / (events_per_weight * hour_weight(hour))
            while True:  # a Poisson process within the hour; the rate changes at the hour
                t -= log(1.0 - rand()) * mean_gap
                if t >= hour_end or t >= end:
                    break
                sec = int(t)
                if sec != last_sec:
                    flush_before(sec)
                    last_sec = sec
                    if sec >= next_anvil:
                        self.add(sec, f"postfix/anvil[{self.new_pid()}]: statistics: max connection rate "
                                      f"{1 + int(rand() * 9)}/60s for (smtpd:{self.pick(self.bots)[1]}) at "
                                      f"{time.strftime('%b %e %H:%M:%S', time.gmtime(sec - 300))}")  # fmt: skip
                        next_anvil += 600
                roll, i = rand(), 0
                while cum[i] < roll:
                    i += 1
                handlers[i](sec)
            t = float(hour_end)
        self.w.close()

    def summary(self) -> dict:
        c = self.counts
        out = {"lines": self.w.lines, "bytes": self.w.bytes}
        for key in ("messages", "received", "delivered", "deferrals", "bounced", "expired", "expired_messages",
                    "rejected", "discarded"):  # fmt: skip
            out[key] = c[key]
        out["deferred_messages"] = len(self.deferred_ids)
        out["pflogsumm_expected"] = {
            "received": c["received"],
            "delivered": c["delivered"],
            "deferred": len(self.deferred_ids),
            "deferrals": c["deferrals"],
            "bounced": c["bounced"],
            "rejected": c["rejected"],
            "discarded": c["discarded"],
        }
        return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--lines", type=int, default=100_000, help="approximate number of lines (default 100000)")
    p.add_argument("--seed", type=int, default=1, help="random seed: same seed and options, same log (default 1)")
    p.add_argument("--start", default="2026-11-01", help="first day, YYYY-MM-DD (default 2026-11-01)")
    p.add_argument("--days", type=float, default=1.0, help="how many days the log covers (default 1)")
    p.add_argument("--out", help="output file (default: standard output)")
    p.add_argument("--filter-share", type=float, default=0.6,
                   help="share of inbound mail that goes through the amavis content filter (default 0.6)")  # fmt: skip
    p.add_argument("--iso", action="store_true", help="RFC 3339 timestamps instead of classic syslog ones")
    return p.parse_args(argv)


def generate(args: argparse.Namespace, out: BinaryIO) -> dict:
    start = calendar.timegm(date.fromisoformat(args.start).timetuple())
    end = start + int(args.days * 86400)
    if end <= start or args.lines < 1:
        raise SystemExit("gen_postfix: --days and --lines must be positive")
    writer = SyslogWriter(out, start, end, iso=args.iso)
    server = MailServer(writer, Random(args.seed), end, args.filter_share)
    server.run(args.lines, start)
    return server.summary()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    if args.out:
        with open(args.out, "wb") as fh:
            summary = generate(args, fh)
    else:
        summary = generate(args, sys.stdout.buffer)
    elapsed = time.perf_counter() - began
    summary["seconds"] = round(elapsed, 3)
    summary["lines_per_second"] = int(summary["lines"] / elapsed) if elapsed else 0
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
