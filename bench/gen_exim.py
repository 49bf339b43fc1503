#!/usr/bin/env python3
"""Generate a large, realistic Exim main log, as written by a busy cPanel/Debian mail server.

Deterministic for a given seed, stdlib only, fast (lines are formatted once and written a megabyte at
a time). At the end it prints what it wrote as one JSON object on stderr, so that tests and
bench/run_exim.py can hold tools to it, eximstats included ("eximstats_expected").

    python bench/gen_exim.py --lines 1000000 --seed 1 --out /tmp/mainlog
    python bench/gen_exim.py --lines 3000 --seed 42 --start 2026-11-16 --days 7 > exim_mainlog

Line shapes follow real logs in ../shared/corpora/exim: alaveteli/ (Debian, "[pid]" after the time),
fail2ban/ (SMTP-time rejections, connection noise) and the Exim test suite (deliveries, deferrals,
bounces, frozen messages); cPanel's router, transport and SpamAssassin "Warning:" names.
"""

from __future__ import annotations

import argparse
import bisect
import calendar
import json
import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from random import Random
from typing import BinaryIO

from exim_timeline import PID_MAX, TimeOrderedWriter, b62_time, new_message_id, old_message_id, wdhms
from exim_world import (
    BLOCKLISTED,
    DATA_REJECTIONS,
    FIRST_NAMES,
    GREYLIST,
    HELO_NAMES,
    HOSTED_DOMAINS,
    HOSTNAME,
    HOURLY,
    LAST_NAMES,
    MAILBOX_FULL_REMOTE,
    MONTHS,
    NEWSLETTER_SENDERS,
    NONEXISTENT_DOMAINS,
    ORGS,
    PROVIDERS,
    RATE_LIMIT,
    RCPT_REJECTIONS,
    ROLE_MAILBOXES,
    SERVER_IP,
    SERVER_IP6,
    SPAM_DOMAINS,
    SPAM_SUBJECTS,
    SUBJECTS,
    TLS_IN,
    TLS_OUT,
    USER_UNKNOWN,
    WEEKEND_SHARE,
)

ID_FORMS = ("new", "old", "mixed")
OLD_ID_SHARE = 0.12  # --id-form mixed: Exim is upgraded to 4.97 after ~12 % of the messages
NEW, OLD, NO_ID = 0, 1, 2  # which counter set a line counts in (eximstats 4.96 only sees OLD and NO_ID)

BASE36_UPPER = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

TROUBLE_FROM = 0.82  # an accepted message whose roll is at least this meets trouble: ~18 %
# Why a group of recipients has trouble (see MailServer.pick_trouble), weighted by repetition.
DEFER_CAUSES = ("greylist", "greylist", "greylist", "ratelimit", "timeout", "mailbox_full", "retry_wait")
FAIL_CAUSES = ("user_unknown", "user_unknown", "user_unknown", "blocklisted")
RETRY_FAIL_CAUSES = ("timeout", "timeout", "mailbox_full", "ratelimit")
FIRST_RETRY_AFTER = {
    "greylist": 300,
    "ratelimit": 1800,
    "timeout": 1800,
    "mailbox_full": 3600,
    "retry_wait": 900,
}
DEFER_REPLIES = {"greylist": GREYLIST, "mailbox_full": MAILBOX_FULL_REMOTE, "ratelimit": RATE_LIMIT}


class Mailbox:
    """A hosted mailbox; ``forward`` is where a forwarder sends its mail on (else delivered here)."""

    __slots__ = ("address", "local", "domain", "cpuser", "forward", "delivered")

    def __init__(self, local: str, domain: str, cpuser: str, forward: str | None) -> None:
        self.address = f"{local}@{domain}"
        self.local = local
        self.domain = domain
        self.cpuser = cpuser
        self.forward = forward
        # A local delivery line after the id, up to dovecot's session token:
        # "=> info <info@shop-example.com> R=virtual_user T=dovecot_virtual_delivery C="250 2.0.0 <...> TOKEN Saved""
        self.delivered = (f" => {local} <{self.address}> R=virtual_user T=dovecot_virtual_delivery "
                          f'C="250 2.0.0 <{self.address}> ')  # fmt: skip


@dataclass(slots=True)
class Message:
    """An accepted message, as its deliveries need it."""

    form: int  # NEW or OLD id
    mid: str
    t0: int  # second of arrival
    sender: str  # "<>" for a bounce
    size: int
    header_id: str


# A delivery group: (kind, recipients, route). Kinds: "local" (one Mailbox), "system" (a cPanel
# user's own mailbox), "blackhole" (one Mailbox), "remote" (addresses of one domain, one SMTP
# transaction: "=>" then "->"), "forward" ((target, original) pairs). Route: (mx, ip, reply style,
# router, transport) for remote kinds, else None.
Group = tuple[str, list, tuple | None]


class MailServer:
    """Plays a day (or days) in the life of a shared-hosting mail server and logs it."""

    QUEUE_RUN_EVERY = 3600  # cPanel runs "exim -bd -q1h" (Debian: -q30m)
    MAX_RETRY_GAP = 6 * 3600  # Exim's default retry rule ends with F,4d,6h

    def __init__(
        self, writer: TimeOrderedWriter, rng: Random, end: int, id_form: str, upgrade_at: int
    ) -> None:
        self.w = writer
        self.rng = rng
        self.rand = rng.random
        self.start = writer.flushed
        self.end = end
        self.id_form = id_form
        self.upgrade_at = {"new": self.start, "old": end + 1}.get(
            id_form, upgrade_at
        )  # 23-char ids from here
        self.pid = 1000 + int(rng.random() * 900_000)
        self.daemon_pid = 1000 + int(rng.random() * 5000)
        self.conn_count = 0
        self.next_queue_run = (self.start // self.QUEUE_RUN_EVERY + 1) * self.QUEUE_RUN_EVERY
        self._time_part_second = -1
        self._time_part = ""
        self.counts: list[defaultdict[str, int]] = [defaultdict(int), defaultdict(int), defaultdict(int)]
        self._build_world()

    # ---- the world, built once ------------------------------------------------------------------
    def _build_world(self) -> None:
        rng = self.rng
        self.mailboxes: list[Mailbox] = []
        self.cpusers = ["".join(ch for ch in d.split(".")[0] if ch.isalnum())[:8] for d in HOSTED_DOMAINS]
        for domain, cpuser in zip(HOSTED_DOMAINS, self.cpusers, strict=True):
            names = rng.sample(ROLE_MAILBOXES, rng.randint(2, 5)) + rng.sample(FIRST_NAMES, rng.randint(1, 6))
            for local in names:
                forward = None
                if rng.random() < 0.08:
                    forward = f"{rng.choice(FIRST_NAMES)}{rng.randint(1, 99)}@{rng.choice(PROVIDERS[:3])[0]}"
                self.mailboxes.append(Mailbox(local, domain, cpuser, forward))
        self.mailbox_of = {m.address: m for m in self.mailboxes}

        self.remote_people = []  # weighted by each provider's share
        for name, _mxs, share, _style in PROVIDERS:
            for _ in range(share * 12):
                local = rng.choice(FIRST_NAMES) + rng.choice(("", "", ".", "_")) + str(rng.randint(1, 999))
                self.remote_people.append(f"{local}@{name}")
        self.provider_of = {p[0]: p for p in PROVIDERS}
        self.mx_ip = {mx: self._ip(v6_share=0.25) for _name, mxs, _share, _style in PROVIDERS for mx in mxs}

        # Hosts that send us mail, with the H= (no port) and I= parts built once:
        # (host, ip, "H=host [ip]", "I=[ours]:25"); newsletters: (sender template, k, host, ip).
        self.inbound_hosts = []
        for name, _mxs, _share, _style in PROVIDERS:
            for k in range(rng.randint(2, 6)):
                host = f"mail-out{k}.{name}" if rng.random() < 0.6 else f"smtp{k}.{name}"
                ip = self._ip(v6_share=0.15)
                self.inbound_hosts.append((host, ip, f"H={host} [{ip}]", self.interface(ip, 25)))
        self.newsletter_hosts = [
            (template, k, host.format(k=k), self._ip(0.1))
            for template, host in NEWSLETTER_SENDERS
            for k in range(1, 31)
        ]
        # Spammers and scanners: (ip, H= value without port, "I=[ours]:25")
        self.spam_hosts = []
        for _ in range(300):
            ip = self._ip(v6_share=0.02)
            dashed = ip.replace(".", "-").replace(":", "-")
            host = rng.choice((f"host-{dashed}.dyn.example-isp.net", f"{dashed}.static.example-telecom.net",
                               f"ip{dashed}.example-broadband.net", ""))  # fmt: skip
            helo = rng.choice(HELO_NAMES + ("mail.example.com", "example.org", host or "localhost"))
            if not host and rng.random() < 0.4:
                helo = ""  # HELO [ip] matching the address: Exim logs just "H=[ip]"
            self.spam_hosts.append((ip, self.host_part(host, ip, helo), self.interface(ip, 25)))
        # Hosted users' mail clients: ("H=(helo) [ip]", I= for port 587, I= for port 465)
        self.submit_hosts = []
        for _ in range(400):
            ip, helo = self._ip(v6_share=0.2), rng.choice(HELO_NAMES)
            self.submit_hosts.append((f"H=({helo}) [{ip}]", self.interface(ip, 587), self.interface(ip, 465)))

        self.subjects = [self._subject(rng.choice(SUBJECTS)) for _ in range(4000)]
        self.spam_subjects = [self._subject(s) for s in SPAM_SUBJECTS]
        self.sizes = [min(max(int(rng.lognormvariate(8.9, 1.25)), 380), 35_000_000) for _ in range(8192)]
        self.ham_scores = [f"{x / 10:.1f}" for x in range(-25, 45)]
        self.durations = [wdhms(n) for n in range(4 * 3600)]

    def _ip(self, v6_share: float) -> str:
        r = self.rng.random
        if r() < v6_share:
            return f"2001:db8:{int(r() * 0xFFFF):x}:{int(r() * 0xFFFF):x}::{int(r() * 0xFFF) + 1:x}"
        roll = r()
        if roll < 0.7:  # RFC 2544 benchmarking range: 131 072 addresses
            return f"198.{18 + int(r() * 2)}.{int(r() * 256)}.{1 + int(r() * 254)}"
        if roll < 0.85:
            return f"203.0.113.{1 + int(r() * 254)}"
        return f"192.0.2.{1 + int(r() * 254)}"

    def _subject(self, template: str) -> str:
        rng = self.rng
        return template.format(
            n=rng.randint(1000, 999999), k=rng.randint(2, 9), code="".join(rng.choices(BASE36_UPPER, k=6)),
            Org=rng.choice(ORGS), month=rng.choice(MONTHS), First=rng.choice(FIRST_NAMES).split(".")[-1].title(),
            Last=rng.choice(LAST_NAMES), cpuser=rng.choice(self.cpusers),
        )  # fmt: skip

    # ---- small helpers ---------------------------------------------------------------------------
    def pick(self, seq):  # noqa: ANN001, ANN201 - any sequence
        return seq[int(self.rand() * len(seq))]

    def new_pid(self) -> int:
        """Processes come and go: each new one gets a slightly higher pid, wrapping at pid_max."""
        self.pid += 1 + int(self.rand() * 12)
        if self.pid >= PID_MAX:
            self.pid = 1000 + int(self.rand() * 1000)
        return self.pid

    def form_at(self, t: int) -> int:
        return NEW if t >= self.upgrade_at else OLD

    def message_id(self, t: int, pid: int, form: int) -> str:
        if t != self._time_part_second:
            self._time_part_second = t
            self._time_part = b62_time(t)
        usec = int(self.rand() * 1_000_000)
        return (new_message_id if form == NEW else old_message_id)(self._time_part, pid, usec)

    def header_id(self, domain: str) -> str:
        return f"{self.rng.getrandbits(64):016x}@{domain}"

    def host_part(self, host: str, ip: str, helo: str) -> str:
        """The H= value in its shapes: ``host [ip]``, ``(helo) [ip]``, ``host (helo) [ip]``, ``[ip]``."""
        if not host:
            return f"({helo}) [{ip}]" if helo else f"[{ip}]"
        if helo and helo != host:
            return f"{host} ({helo}) [{ip}]"
        return f"{host} [{ip}]"

    def interface(self, ip: str, port: int) -> str:
        return f"I=[{SERVER_IP6 if ':' in ip else SERVER_IP}]:{port}"

    def route_remote(self, domain: str, local_origin: bool = False) -> tuple:
        """(mx, ip, reply style, router, transport); cPanel signs with DKIM except system mail."""
        provider = self.provider_of.get(domain)
        if provider is None:
            mx, style = f"mail.{domain}", "exim"
            ip = self.mx_ip.setdefault(mx, self._ip(0.1))
        else:
            mx, style = (provider[1][0] if self.rand() < 0.85 else self.pick(provider[1])), provider[3]
            ip = self.mx_ip[mx]
        if local_origin:
            return mx, ip, style, "lookuphost", "remote_smtp"
        return mx, ip, style, "dkim_lookuphost", "dkim_remote_smtp"

    def smtp_reply(self, style: str, msg: Message) -> str:
        """The remote server's "250" after DATA, as each kind of MTA words it."""
        r, now = self.rng.getrandbits, self.w.flushed
        if style == "google":
            return f"250 2.0.0 OK  {now} {r(40):010x}.{1 + r(8)} - gsmtp"
        if style == "microsoft":
            return (f"250 2.6.0 <{msg.header_id}> [InternalId={r(44)}, Hostname=AM{r(16):04X}.eurprd0{1 + r(3)}."
                    f"prod.example-cloud.com] {msg.size + 2100} bytes in 0.{r(10) % 999:03d}, {r(12) % 2000}.{r(4)} "
                    f"KB/sec Queued mail for delivery")  # fmt: skip
        if style == "exim":
            return f"250 OK id={new_message_id(b62_time(now), r(22) % PID_MAX, r(20) % 1_000_000)}"
        return f"250 2.0.0 Ok: queued as {r(40):010X}"

    def count_if(self, written: bool, form: int, key: str) -> None:
        if written:
            self.counts[form][key] += 1

    # ---- the clock ---------------------------------------------------------------------------------
    def advance_to(self, t: int) -> None:
        """Log the queue runner's start and end up to ``t``, and write out everything before ``t``."""
        while self.next_queue_run <= t:
            run_at, pid = self.next_queue_run, self.new_pid()
            self.count_if(self.w.add(run_at, f"[{pid}] Start queue run: pid={pid}"), NO_ID, "noise")
            self.count_if(self.w.add(run_at + 2 + int(self.rand() * 40), f"[{pid}] End queue run: pid={pid}"),
                          NO_ID, "noise")  # fmt: skip
            self.next_queue_run += self.QUEUE_RUN_EVERY
        self.w.flush_before(t)

    def retry_times(self, t: int, attempts: int, first_gap: int, growth: float) -> list[int]:
        """The queue runs at which a deferred address is tried again (the last one past the end, if any)."""
        times, gap = [], first_gap
        for _ in range(attempts):
            t = ((t + gap) // self.QUEUE_RUN_EVERY + 1) * self.QUEUE_RUN_EVERY + 1 + int(self.rand() * 25)
            times.append(t)
            if t >= self.end:
                break
            gap = min(int(gap * growth), self.MAX_RETRY_GAP)
        return times

    # ---- arrivals ----------------------------------------------------------------------------------
    def arrive(self, t: int, pid: int, sender: str, received: str, size: int, header_id: str, subject: str,
               rcpt_text: str, pre: list[str] | None = None) -> Message | None:  # fmt: skip
        """Log a ``<=`` line (after the lines the receiving process writes first); None past the end.

        ``received`` is what Exim logs between the sender and S=: H=, I=, U=, P=, X=, CV=, A=.
        """
        form = NEW if t >= self.upgrade_at else OLD
        mid = self.message_id(t, pid, form)
        if t >= self.end:
            return None
        bucket = self.w.buckets[t]  # arrivals happen "now": never before what has been written
        tag = f"[{pid}] "
        if pre:
            bucket += [f"{tag}{mid} {text}" for text in pre]
        hid = f" id={header_id}" if header_id else ""
        bucket.append(
            f'{tag}{mid} <= {sender}{received} S={size}{hid} T="{subject}" from <{sender}> for {rcpt_text}'
        )
        c = self.counts[form]
        c["messages"] += 1
        c["volume"] += size
        return Message(form, mid, t, sender, size, header_id)

    def inbound(self, t: int) -> None:
        """Mail from the Internet to hosted mailboxes: the bulk of a hosting server's traffic."""
        rand = self.rand
        if rand() < 0.25:
            template, k, host, ip = self.newsletter_hosts[int(rand() * len(self.newsletter_hosts))]
            sender = template.format(n=100000 + int(rand() * 900000), k=k)
            hpart, iface = f"H={host} [{ip}]", self.interface(ip, 25)
        else:
            sender = self.remote_people[int(rand() * len(self.remote_people))]
            host, ip, hpart, iface = self.inbound_hosts[int(rand() * len(self.inbound_hosts))]
        mailboxes = self.mailboxes
        boxes = [mailboxes[int(rand() * len(mailboxes))]]
        if rand() < 0.15:
            for _ in range(1 + int(rand() * 3)):
                m = mailboxes[int(rand() * len(mailboxes))]
                if m not in boxes:
                    boxes.append(m)
        pid = self.new_pid()
        port = 1024 + int(rand() * 64000)
        core = f"{hpart}:{port} {iface}" if rand() < 0.95 else f"{hpart} {iface}"  # 5 %: no +incoming_port
        tls = f" P=esmtps{TLS_IN[int(rand() * len(TLS_IN))]}" if rand() < 0.92 else " P=esmtp"
        score = self.ham_scores[int(rand() * rand() * len(self.ham_scores))]
        pre = [f'{core} Warning: "SpamAssassin as {boxes[0].cpuser} detected message as NOT spam ({score})"']
        if rand() < 0.3:
            pre.append(
                f"{core} Warning: Message has been scanned: no virus or other harmful content was found"
            )
        if rand() < 0.35:
            self.smtp_connection(t, ip, port, iface)
        mix = rand()
        rcpt_text = boxes[0].address if len(boxes) == 1 else " ".join(m.address for m in boxes)
        msg = self.arrive(t, pid, sender, f" {core}{tls}", self.sizes[int(rand() * 8192)],
                          self.header_id(sender.rpartition("@")[2]), self.subjects[int(rand() * 4000)], rcpt_text,
                          pre)  # fmt: skip
        if msg is None:
            return
        groups: list[Group] = [
            ("forward", [(m.forward, m.address)], self.route_remote(m.forward.rpartition("@")[2]))
            if m.forward else ("local", [m], None)
            for m in boxes
        ]  # fmt: skip
        self.deliver(msg, groups, self.pick_trouble(groups, mix) if mix >= TROUBLE_FROM else None)
        if rand() < 0.4:
            # "SMTP connection from nil.ukcod.org.uk [127.0.0.1]:41019 I=[127.0.0.1]:25 closed by QUIT"
            self.count_if(
                self.w.add(t + 1, f"[{pid}] SMTP connection from {core[2:]} closed by QUIT"), NO_ID, "noise"
            )

    def smtp_connection(self, t: int, ip: str, port: int, iface: str) -> None:
        # Logged by the daemon before the host name is looked up:
        # "SMTP connection from [127.0.0.1]:41019 I=[127.0.0.1]:25 (TCP/IP connection count = 1)"
        self.conn_count = max(1, min(60, self.conn_count + (1 if self.rand() < 0.5 else -1)))
        line = f"[{self.daemon_pid}] SMTP connection from [{ip}]:{port} {iface} (TCP/IP connection count = {self.conn_count})"
        self.count_if(self.w.add(t - (1 if self.rand() < 0.3 else 0), line), NO_ID, "noise")

    def outbound(self, t: int, trouble: tuple[str, str] | None = None) -> None:
        """A hosted mailbox sends through us (mail client or webmail), mostly to the Internet."""
        rand = self.rand
        mailboxes, people = self.mailboxes, self.remote_people
        m = mailboxes[int(rand() * len(mailboxes))]
        if rand() < 0.7:
            rcpts = [people[int(rand() * len(people))]]
        else:
            rcpts = []
            for _ in range(2 + int(rand() * rand() * 8)):
                a = (
                    mailboxes[int(rand() * len(mailboxes))].address
                    if rand() < 0.1
                    else people[int(rand() * len(people))]
                )
                if a not in rcpts:
                    rcpts.append(a)
        pid = self.new_pid()
        port = 1024 + int(rand() * 64000)
        if rand() < 0.3:  # webmail (Roundcube) on the same machine
            received = f" H=localhost (webmail.{m.domain}) [127.0.0.1]:{port} I=[127.0.0.1]:25 P=esmtpa"
        else:
            hpart, i587, i465 = self.submit_hosts[int(rand() * len(self.submit_hosts))]
            received = f" {hpart}:{port} {i587 if rand() < 0.7 else i465} P=esmtpsa{TLS_IN[int(rand() * len(TLS_IN))]}"
        auth = "dovecot_login" if rand() < 0.8 else "dovecot_plain"
        mix = rand()
        msg = self.arrive(t, pid, m.address, f"{received} A={auth}:{m.address}", self.sizes[int(rand() * 8192)],
                          self.header_id(m.domain), self.subjects[int(rand() * 4000)], " ".join(rcpts))  # fmt: skip
        if msg is None:
            return
        groups = self.group_recipients(rcpts)
        remote = [g for g in groups if g[0] == "remote"]
        if trouble and remote:
            self.deliver(msg, groups, (remote[0], *trouble))
        else:
            self.deliver(msg, groups, self.pick_trouble(groups, mix) if mix >= TROUBLE_FROM else None)

    def group_recipients(self, rcpts: list[str], local_origin: bool = False) -> list[Group]:
        """Local mailboxes one by one; remote addresses one SMTP transaction per domain."""
        groups: list[Group] = []
        by_domain: dict[str, list[str]] = {}
        for a in rcpts:
            if a in self.mailbox_of:
                groups.append(("local", [self.mailbox_of[a]], None))
            else:
                by_domain.setdefault(a.rpartition("@")[2], []).append(a)
        for domain, addrs in by_domain.items():
            groups.append(("remote", addrs, self.route_remote(domain, local_origin)))
        return groups

    def local_origin(self, t: int) -> None:
        """A website script or a cron job calls sendmail (P=local, U=<cPanel user>)."""
        rand = self.rand
        m = self.pick(self.mailboxes)
        pid = self.new_pid()
        if rand() < 0.7:  # PHP mail() from a web form
            self.w.add(t, f"[{pid}] cwd=/home/{m.cpuser}/public_html 3 args: /usr/sbin/sendmail -t -i")
            sender = m.address if rand() < 0.6 else f"{m.cpuser}@{HOSTNAME}"
            rcpts = [m.address] if rand() < 0.5 else [self.pick(self.remote_people)]
        else:  # cron output to the account's owner
            self.w.add(
                t,
                f"[{pid}] cwd=/home/{m.cpuser} 7 args: /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem -oi -t",
            )
            sender = f"{m.cpuser}@{HOSTNAME}"
            rcpts = [sender]
        self.counts[NO_ID]["noise"] += 1
        mix = rand()
        msg = self.arrive(t, pid, sender, f" U={m.cpuser} P=local", self.pick(self.sizes) // 4 + 400,
                          self.header_id(HOSTNAME), self.pick(self.subjects), " ".join(rcpts))  # fmt: skip
        if msg is None:
            return
        if rcpts[0].endswith("@" + HOSTNAME):
            groups: list[Group] = [("system", [m.cpuser], None)]
        else:
            groups = self.group_recipients(rcpts, local_origin=True)
        self.deliver(msg, groups, self.pick_trouble(groups, mix) if mix >= TROUBLE_FROM else None)

    def spam_arrival(self, t: int) -> None:
        """Spam that got past the RCPT checks: to :blackhole:, or to a full mailbox (bounce → frozen)."""
        rand = self.rand
        ip, hp, iface = self.pick(self.spam_hosts)
        sender = f"{self.pick(FIRST_NAMES).split('.')[-1]}{int(rand() * 9999)}@{self.pick(SPAM_DOMAINS)}"
        m = self.pick(self.mailboxes)
        pid = self.new_pid()
        port = f":{1024 + int(rand() * 64000)}" if rand() < 0.95 else ""
        core = f"H={hp}{port} {iface}"
        pre = [
            f'{core} Warning: "SpamAssassin as {m.cpuser} detected message as spam ({5 + rand() * 12:.1f})"'
        ]
        msg = self.arrive(t, pid, sender, f" {core} P=esmtp", self.pick(self.sizes),
                          self.header_id(sender.rpartition("@")[2]), self.pick(self.spam_subjects), m.address,
                          pre)  # fmt: skip
        if msg is None:
            return
        if rand() < 0.7:
            self.deliver(msg, [("blackhole", [m], None)])
        else:  # the mailbox is full: fails; the bounce to the forged sender fails too and is frozen
            group: Group = ("local", [m], None)
            self.deliver(msg, [group], (group, "fail", "mailbox_full"))

    def in_progress(self, t: int) -> None:
        """A message the log leaves without outcome: retried until the end, or accepted just before it."""
        if t < self.end - 600:
            self.outbound(t, trouble=("defer_forever", "timeout"))
            return
        m = self.pick(self.mailboxes)
        hpart, i587, _i465 = self.pick(self.submit_hosts)
        received = f" {hpart}:{1024 + int(self.rand() * 64000)} {i587} P=esmtpsa{self.pick(TLS_IN)} A=dovecot_login:{m.address}"
        msg = self.arrive(t, self.new_pid(), m.address, received, self.pick(self.sizes), self.header_id(m.domain),
                          self.pick(self.subjects), self.pick(self.remote_people))  # fmt: skip
        if msg is not None:
            self.counts[msg.form]["pending_recipients"] += 1

    def rcpt_rejection(self, t: int) -> None:
        """A recipient refused at SMTP time: no message id, the message never arrives."""
        rand = self.rand
        kind, reason = self.pick(RCPT_REJECTIONS)
        ip, hp, iface = self.pick(self.spam_hosts)
        tag = f"[{self.new_pid()}] "
        port = 1024 + int(rand() * 64000)
        sender = f"{self.pick(FIRST_NAMES).split('.')[-1]}{int(rand() * 999)}@{self.pick(SPAM_DOMAINS)}"
        if kind == "relay":
            rcpt = self.pick(self.remote_people)
        elif kind == "nouser":
            rcpt = f"{self.pick(FIRST_NAMES)}{int(rand() * 99)}@{self.pick(HOSTED_DOMAINS)}"
        elif kind == "unrouteable":
            rcpt = f"{self.pick(ROLE_MAILBOXES)}@{self.pick(NONEXISTENT_DOMAINS)}"
        else:
            rcpt = self.pick(self.mailboxes).address
        if kind == "sender_verify":
            sender = f"{self.pick(ROLE_MAILBOXES)}@{self.pick(NONEXISTENT_DOMAINS)}"
        hp = f"{hp}:{port}"
        # "H=(yakult.com.tw) [202.132.70.178]:3755 I=[1.2.3.4]:25 F=<x@y> rejected RCPT dir@ml3.ru: relay not permitted"
        text = f"H={hp} {iface} F=<{sender}> rejected RCPT <{rcpt}>: {reason.format(ip=ip)}"
        if not countable_by_eximstats(text):
            hp = f"[{ip}]:{port}"
            text = f"H={hp} {iface} F=<{sender}> rejected RCPT <{rcpt}>: {reason.format(ip=ip)}"
        if kind == "sender_verify":
            self.count_if(self.w.add(t, f"{tag}H={hp} sender verify fail for <{sender}>: Unrouteable address"),
                          NO_ID, "noise")  # fmt: skip
        if self.w.add(t, tag + text):
            self.counts[NO_ID]["rejections"] += 1
            self.counts[NO_ID]["rejected_rcpt"] += 1
        if rand() < 0.3:
            quit_line = f"{tag}SMTP connection from {hp} {iface} closed by QUIT"
            self.count_if(self.w.add(t + int(rand() * 3), quit_line), NO_ID, "noise")

    def data_rejection(self, t: int) -> None:
        """Refused after DATA (virus, spam, policy): it has a message id but never arrives."""
        rand = self.rand
        _ip, hp, iface = self.pick(self.spam_hosts)
        pid = self.new_pid()
        form = self.form_at(t)
        mid, tag = self.message_id(t, pid, form), f"[{pid}] "
        core = f"H={hp}:{1024 + int(rand() * 64000)} {iface}"
        sender = f"{self.pick(FIRST_NAMES).split('.')[-1]}{int(rand() * 999)}@{self.pick(SPAM_DOMAINS)}"
        if rand() < 0.5:
            cpuser = self.pick(self.mailboxes).cpuser
            self.w.add(t, f'{tag}{mid} {core} Warning: "SpamAssassin as {cpuser} detected message as spam '
                          f'({8 + rand() * 20:.1f})"')  # fmt: skip
        if self.w.add(t, f"{tag}{mid} {core} F=<{sender}> rejected after DATA: {self.pick(DATA_REJECTIONS)}"):
            self.counts[form]["rejections"] += 1
            self.counts[form]["rejected_after_data"] += 1

    def noise(self, t: int) -> None:
        """Connections that never send mail: failed logins, idle or dropped clients, TLS errors."""
        rand = self.rand
        ip, hp, iface = self.pick(self.spam_hosts)
        tag = f"[{self.new_pid()}] "
        peer = f"{hp}:{1024 + int(rand() * 64000)}"
        roll = rand()
        if roll < 0.4:
            box = self.pick(self.mailboxes).address if rand() < 0.7 else self.pick(ROLE_MAILBOXES)
            line = (f"dovecot_login authenticator failed for {peer} {self.interface(ip, self.pick((587, 465, 25)))}: "
                    f"535 Incorrect authentication data (set_id={box})")  # fmt: skip
        elif roll < 0.7:
            line = f"no MAIL in SMTP connection from {peer} {iface} D={int(rand() * 30)}s C=EHLO,STARTTLS,EHLO,QUIT"
        elif roll < 0.85:
            line = (f"TLS error on connection from {peer} {iface} (SSL_accept): "
                    f"error:0A000126:SSL routines::unexpected eof while reading")  # fmt: skip
        else:
            # eximstats counts "SMTP call from ... dropped: too many nonmail commands" as a rejection.
            line = f'SMTP call from {peer} {iface} dropped: too many nonmail commands (last was "RSET")'
            if not countable_by_eximstats(line):
                line = line.replace(peer, f"[{ip}]:{peer.rpartition(':')[2]}", 1)
            if self.w.add(t, tag + line):
                self.counts[NO_ID]["rejections"] += 1
                self.counts[NO_ID]["dropped_connections"] += 1
            return
        self.count_if(self.w.add(t, tag + line), NO_ID, "noise")

    # ---- deliveries ---------------------------------------------------------------------------------
    def pick_trouble(self, groups: list[Group], mix: float) -> tuple | None:
        """Which group of this message (a remote domain, else a mailbox) has trouble, and what trouble.

        ``mix`` >= TROUBLE_FROM. Returns (group, plan, cause): plan "defer_ok" (deferred, later
        delivered), "fail" (at once), "defer_fail" (after retries) or "defer_forever" (past the end).
        """
        remote = [g for g in groups if g[0] in ("remote", "forward")]
        local = [g for g in groups if g[0] == "local"]
        if mix < 0.93:
            if remote and self.rand() < 0.85:
                return remote[0], "defer_ok", self.pick(DEFER_CAUSES)
            if local:
                return local[0], "defer_ok", "mailbox_full"
        elif mix < 0.975:
            if remote:
                return remote[0], "fail", self.pick(FAIL_CAUSES)
            if local:
                return local[0], "fail", "mailbox_full"
        elif mix < 0.99:
            if remote:
                return remote[0], "defer_fail", self.pick(RETRY_FAIL_CAUSES)
        elif remote:
            return remote[0], "defer_forever", self.pick(("timeout", "mailbox_full"))
        elif local:
            return local[0], "defer_forever", "mailbox_full"
        return None

    def deliver(self, msg: Message, groups: list[Group], trouble: tuple | None = None) -> None:
        """Deliver every group at once, except the one in ``trouble`` (see pick_trouble), then Completed."""
        w, c, rand = self.w, self.counts[msg.form], self.rand
        t1 = msg.t0 + (0 if rand() < 0.55 else 1 + int(rand() * rand() * 4))
        tag = f"[{self.new_pid()}] "  # the delivery process
        if t1 >= self.end:
            c["pending_recipients"] += sum(len(g[1]) for g in groups)
            return
        bucket = w.buckets[t1]  # t1 >= arrival, never before what has been written
        if trouble is None and len(groups) == 1 and groups[0][0] == "local":
            # By far the most common case, written directly: one mailbox, delivered at once.
            mid = msg.mid
            bucket += (f'{tag}{mid}{groups[0][1][0].delivered}{self.rng.getrandbits(64):016x} Saved"',
                       f"{tag}{mid} Completed")  # fmt: skip
            c["deliveries"] += 1
            c["completed"] += 1
            return
        for group in groups:
            if trouble is not None and group is trouble[0]:
                continue
            lines = self.delivery_lines(msg, t1, tag, group)
            bucket += lines
            c["deliveries"] += 1
            c["extra_addresses"] += len(lines) - 1
            if group[0] == "blackhole":
                c["blackholed"] += 1
        if trouble is None:
            bucket.append(f"{tag}{msg.mid} Completed")
            c["completed"] += 1
            return

        group, plan, cause = trouble
        if plan == "fail":
            if self.fail_lines(msg, t1, tag, group, cause):
                self.after_failure(msg, t1, tag)
            return
        # Deferred: tried now, then again at later queue runs.
        attempts = {
            "defer_ok": 1 + int(rand() * 2.2),
            "defer_fail": 3 + int(rand() * 3),
            "defer_forever": 1 << 30,
        }
        times = [t1, *self.retry_times(t1, attempts[plan], FIRST_RETRY_AFTER.get(cause, 1200),
                                       1.3 if plan == "defer_forever" else 1.5)]  # fmt: skip
        variant = rand()  # the remote server words its reply the same way at every attempt
        deferred = False
        for i, t in enumerate(times if plan == "defer_forever" else times[:-1]):
            if t >= self.end:
                break
            if i == 0:
                why = cause
            elif group[0] != "local" and rand() < 0.25:
                why = "retry_wait"  # a queue run before the host's retry time came
            else:
                why = "greylist" if cause == "retry_wait" else cause
            deferred |= self.defer_lines(
                msg, t, tag if i == 0 else f"[{self.new_pid()}] ", group, why, variant
            )
        if deferred:
            c["delayed_messages"] += 1
        t_last = times[-1]
        if plan == "defer_forever" or t_last >= self.end:
            c["pending_recipients"] += len(group[1])
            return
        tag = f"[{self.new_pid()}] "
        if plan == "defer_ok":
            lines = self.delivery_lines(msg, t_last, tag, group)
            w.buckets[t_last] += [*lines, f"{tag}{msg.mid} Completed"]
            c["deliveries"] += 1
            c["extra_addresses"] += len(lines) - 1
            c["completed"] += 1
        elif self.fail_lines(msg, t_last, tag, group, "retry_timeout"):
            self.after_failure(msg, t_last, tag)

    def delivery_lines(self, msg: Message, t: int, tag: str, group: Group) -> list[str]:
        """The ``=>`` (and ``->``) lines of one successful delivery of a group at second ``t``."""
        kind, rcpts, route = group
        mid = msg.mid
        if kind == "local":
            return [f'{tag}{mid}{rcpts[0].delivered}{self.rng.getrandbits(64):016x} Saved"']
        if kind == "system":
            return [f"{tag}{mid} => {rcpts[0]} <{rcpts[0]}@{HOSTNAME}> R=localuser T=local_delivery"]
        if kind == "blackhole":
            return [f"{tag}{mid} => :blackhole: <{rcpts[0].address}> R=virtual_aliases"]
        mx, ip, style, router, transport = route  # type: ignore[misc]
        rand = self.rand
        tls = TLS_OUT[int(rand() * len(TLS_OUT))] if style != "exim" or rand() < 0.5 else ""
        queued = t - msg.t0
        qt = self.durations[queued] if queued < len(self.durations) else wdhms(queued)
        tail = (f' R={router} T={transport} H={mx} [{ip}]{tls} C="{self.smtp_reply(style, msg)}" QT={qt} '
                f"DT={self.durations[int(rand() * rand() * 4)]}")  # fmt: skip
        lines = []
        arrow = "=>"
        for a in rcpts:
            lines.append(
                f"{tag}{mid} {arrow} {a[0]} <{a[1]}>{tail}"
                if kind == "forward"
                else f"{tag}{mid} {arrow} {a}{tail}"
            )
            arrow = "->"
        return lines

    @staticmethod
    def shown_address(kind: str, a) -> tuple[str, str]:  # noqa: ANN001 - Mailbox, (target, original) or str
        """(the address as a log line shows it, the address itself)."""
        if kind == "local":
            return f"{a.local} <{a.address}>", a.address
        if kind == "forward":
            return f"{a[0]} <{a[1]}>", a[0]
        return a, a

    def defer_lines(self, msg: Message, t: int, tag: str, group: Group, cause: str, variant: float) -> bool:
        """One ``==`` line per address of the group (a connection timeout also logs the host first)."""
        kind, rcpts, route = group
        written = False
        if kind == "local":
            for m in rcpts:
                line = (f"{tag}{msg.mid} == {m.local} <{m.address}> R=virtual_user T=dovecot_virtual_delivery defer (-44): "
                        f"LMTP error after RCPT TO:<{m.address}>: 452 4.2.2 <{m.address}> Quota exceeded (mailbox for user is full)")  # fmt: skip
                if self.w.add(t, line):
                    self.counts[msg.form]["deferrals"] += 1
                    written = True
            return written
        mx, ip, _style, router, transport = route  # type: ignore[misc]
        domain = self.shown_address(kind, rcpts[0])[1].rpartition("@")[2]
        if cause == "timeout":
            self.w.add(t, f"{tag}{msg.mid} H={mx} [{ip}] Connection timed out")
        for a in rcpts:
            shown, addr = self.shown_address(kind, a)
            if cause == "retry_wait":
                text = f"defer (-53): retry time not reached for any host for '{domain}'"
            elif cause == "timeout":
                text = "defer (110): Connection timed out"
            else:
                replies = DEFER_REPLIES[cause]
                reply = replies[int(variant * len(replies))].format(
                    a=addr, d=domain, s=msg.sender, z=msg.size, ip=SERVER_IP
                )
                text = f"defer ({'-45' if cause == 'ratelimit' else '-44'}) H={mx} [{ip}]: {reply}"
            if self.w.add(t, f"{tag}{msg.mid} == {shown} R={router} T={transport} {text}"):
                self.counts[msg.form]["deferrals"] += 1
                written = True
        return written

    def fail_lines(self, msg: Message, t: int, tag: str, group: Group, cause: str) -> bool:
        """One ``**`` line per address of the group."""
        kind, rcpts, route = group
        c = self.counts[msg.form]
        written = False
        for a in rcpts:
            shown, addr = self.shown_address(kind, a)
            if kind == "local":
                text = (" R=virtual_user T=dovecot_virtual_delivery: LMTP error after end of data: "
                        f"552 5.2.2 <{addr}> Quota exceeded (mailbox for user is full)")  # fmt: skip
            elif cause == "retry_timeout":
                text = (
                    ": retry timeout exceeded"
                    if self.rand() < 0.6
                    else f" R={route[3]} T={route[4]}: retry timeout exceeded"
                )  # type: ignore[index]
            elif cause == "unrouteable":
                text = (
                    ": Unrouteable address"
                    if self.rand() < 0.6
                    else ": all relevant MX records point to non-existent hosts"
                )
            else:
                mx, ip, _style, router, transport = route  # type: ignore[misc]
                reply = self.pick(BLOCKLISTED if cause == "blocklisted" else USER_UNKNOWN)
                reply = reply.format(a=addr, s=msg.sender, z=msg.size, ip=SERVER_IP)
                text = f" R={router} T={transport} H={mx} [{ip}]{self.pick(TLS_OUT)}: {reply}"
            if self.w.add(t, f"{tag}{msg.mid} ** {shown}{text}"):
                c["failures"] += 1
                written = True
        if written:
            c["failed_messages"] += 1
        return written

    def after_failure(self, msg: Message, t: int, tag: str) -> None:
        """A bounce goes back to the sender, then Completed; a bounce that fails is frozen instead."""
        w = self.w
        if msg.sender == "<>":  # Exim never bounces a bounce
            self.count_if(w.add(t, f"{tag}{msg.mid} Frozen (delivery error message)"), msg.form, "frozen")
            return
        form, pid = self.form_at(t), self.new_pid()
        bounce = Message(
            form,
            self.message_id(t, pid, form),
            t,
            "<>",
            min(msg.size, 60_000) + 1400 + int(self.rand() * 1200),
            "",
        )
        arrived = w.add(t, f"[{pid}] {bounce.mid} <= <> R={msg.mid} U=mailnull P=local S={bounce.size} "
                           f'T="Mail delivery failed: returning message to sender" from <> for {msg.sender}')  # fmt: skip
        self.count_if(w.add(t, f"{tag}{msg.mid} Completed"), msg.form, "completed")
        if not arrived:
            return
        c = self.counts[form]
        c["messages"] += 1
        c["bounces"] += 1
        c["volume"] += bounce.size
        if msg.sender in self.mailbox_of:
            self.deliver(bounce, [("local", [self.mailbox_of[msg.sender]], None)])
            return
        domain = msg.sender.rpartition("@")[2]
        group: Group = ("remote", [msg.sender], self.route_remote(domain))
        if domain in NONEXISTENT_DOMAINS:
            self.deliver(bounce, [group], (group, "fail", "unrouteable"))
        elif domain in SPAM_DOMAINS:  # a forged sender
            self.deliver(bounce, [group], (group, "fail", "user_unknown"))
        else:
            self.deliver(bounce, [group])

    # ---- main loop ----------------------------------------------------------------------------------
    # What happens at each arrival of a client, by share. Accepted messages (inbound, outbound,
    # local_origin) then meet trouble (pick_trouble): ~11 % deferred then delivered, ~4.5 % failed at
    # once, ~1.5 % failed after retries, ~1 % still retried when the log ends. Overall, per message
    # or refused attempt: ~70 % delivered at once, ~10 % delayed, ~5 % failed (with a bounce),
    # ~11 % refused, the rest local (cron, scripts), :blackhole:, frozen or in progress.
    SCENARIOS = (
        (0.54, "inbound"),
        (0.23, "outbound"),
        (0.035, "local_origin"),
        (0.015, "spam_arrival"),
        (0.004, "in_progress"),
        (0.085, "rcpt_rejection"),
        (0.02, "data_rejection"),
        (0.071, "noise"),
    )
    LINES_PER_EVENT = 4.5  # measured average, to turn --lines into an arrival rate

    def run(self, target_lines: int) -> None:
        handlers = [getattr(self, name) for _share, name in self.SCENARIOS]
        total = sum(share for share, _name in self.SCENARIOS)
        cum, acc = [], 0.0
        for share, _name in self.SCENARIOS:
            acc += share
            cum.append(acc / total)
        cum[-1] = 1.0
        span_weight = sum(hour_weight(h) for h in range(self.start // 3600, -(-self.end // 3600)))
        queue_run_lines = min(2 * (self.end - self.start) // self.QUEUE_RUN_EVERY, target_lines // 2)
        events_per_weight = max(1.0, (target_lines - queue_run_lines) / self.LINES_PER_EVENT) / max(
            span_weight, 1e-9
        )
        rand, log, choose, flush_before = self.rand, math.log, bisect.bisect, self.w.flush_before
        t, last_sec, end = float(self.start), -1, self.end
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
                    if sec >= self.next_queue_run:
                        self.advance_to(sec)
                    else:
                        flush_before(sec)
                    last_sec = sec
                handlers[choose(cum, rand())](sec)
            t = float(hour_end)
        self.advance_to(self.end)
        self.w.close()

    def summary(self) -> dict:
        totals: defaultdict[str, int] = defaultdict(int)
        for counts in self.counts:
            for key, value in counts.items():
                totals[key] += value
        keys = ("messages", "bounces", "volume", "deliveries", "extra_addresses", "deferrals", "delayed_messages",
                "failures", "failed_messages", "rejections", "rejected_rcpt", "rejected_after_data",
                "dropped_connections", "blackholed", "frozen", "completed", "pending_recipients", "noise")  # fmt: skip
        out = {"lines": self.w.lines, "bytes": self.w.bytes, **{k: totals[k] for k in keys}}
        out["addresses"] = out["deliveries"] + out["extra_addresses"]
        out["in_progress"] = out["messages"] - out["completed"] - out["frozen"]  # no "Completed" by the end
        out["messages_old_id"] = self.counts[OLD]["messages"]
        out["messages_new_id"] = self.counts[NEW]["messages"]
        # What Debian 12's eximstats (Exim 4.96) reports on this very file: it reads ids as 16
        # characters, so messages with 23-character ids are invisible to it.
        old, none = self.counts[OLD], self.counts[NO_ID]
        expected = {
            "received": old["messages"],
            "delivered_messages": old["deliveries"],
            "delivered_addresses": old["deliveries"] + old["extra_addresses"],
            "delayed": old["delayed_messages"],
            "failed": old["failed_messages"],
        }
        if self.id_form == "old":
            # Its Rejects row also counts :blackhole: deliveries (a "=>" without T=). With 23-character
            # ids it would further count every such line that says "rejected", "refused" or "dropped".
            expected["rejects"] = none["rejections"] + old["rejections"] + old["blackholed"]
        out["eximstats_expected"] = expected
        return out


def countable_by_eximstats(text: str) -> bool:
    """False if eximstats would miss this id-less rejection line.

    eximstats takes the two characters 17 into every line (after the [pid]) for a "flag"; ``SA`` or
    a run of ``<>=*-`` there hides the word "rejected" from it.
    """
    flag = text[17:19]
    return flag != "SA" and not all(ch in "<>=*-" for ch in flag)


def hour_weight(hour_index: int) -> float:
    """Relative arrival rate in an hour (counted from the epoch): by hour of day, less at weekends."""
    weekday = (hour_index // 24 + 3) % 7  # 1970-01-01 was a Thursday; 5, 6 = Saturday, Sunday
    return HOURLY[hour_index % 24] * (WEEKEND_SHARE if weekday >= 5 else 1.0)


def time_of_traffic_share(start: int, end: int, share: float) -> int:
    """The end of the hour by which ``share`` of the log's arrivals have happened."""
    hours = range(start // 3600, -(-end // 3600))
    total = sum(hour_weight(h) for h in hours)
    seen = 0.0
    for h in hours:
        seen += hour_weight(h)
        if seen >= share * total:
            return max(start, (h + 1) * 3600)
    return end


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--lines", type=int, default=100_000, help="approximate number of lines (default 100000)")
    p.add_argument(
        "--seed", type=int, default=1, help="random seed: same seed and options, same log (default 1)"
    )
    p.add_argument("--start", default="2026-11-01", help="first day, YYYY-MM-DD (default 2026-11-01)")
    p.add_argument("--days", type=float, default=1.0, help="how many days the log covers (default 1)")
    p.add_argument("--out", help="output file (default: standard output)")
    p.add_argument("--id-form", choices=ID_FORMS, default="mixed",
                   help="message ids: 23-character 'new' (Exim >= 4.97), 16-character 'old', or 'mixed' (default): "
                        "Exim is upgraded after ~12%% of the messages, whose old ids stay in the log")  # fmt: skip
    p.add_argument("--pid", action=argparse.BooleanOptionalAction, default=True,
                   help="write [pid] after the timestamp, as log_selector +pid does (default: on)")  # fmt: skip
    return p.parse_args(argv)


def generate(args: argparse.Namespace, out: BinaryIO) -> dict:
    start = calendar.timegm(date.fromisoformat(args.start).timetuple())
    end = start + int(args.days * 86400)
    if end <= start or args.lines < 1:
        raise SystemExit("gen_exim: --days and --lines must be positive")
    writer = TimeOrderedWriter(out, start, end, with_pid=args.pid)
    upgrade_at = time_of_traffic_share(start, end, OLD_ID_SHARE)
    server = MailServer(writer, Random(args.seed), end, args.id_form, upgrade_at)
    server.run(args.lines)
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
