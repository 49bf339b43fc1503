#!/usr/bin/env python3
"""Generate a large, realistic Exim main log, as written by a busy cPanel/Debian mail server.

Deterministic for a given seed, stdlib only, fast (whole chunks written at once). At the end it
prints what it wrote, as one JSON object on stderr, so tests and bench/run_exim.py can check tools
against it (eximstats' "Received", "Delivered", "Delayed", "Failed" and "Rejects" numbers).

    python bench/gen_exim.py --lines 1000000 --seed 1 --out /tmp/mainlog
    python bench/gen_exim.py --lines 3000 --seed 42 --start 2026-11-16 --days 7 > exim_mainlog

Line shapes follow real logs (../shared/corpora/exim): alaveteli/ (Debian, [pid] prefix),
fail2ban/ (rejections, SMTP noise) and the Exim test suite (delivery, deferral, bounce forms).
"""

from __future__ import annotations

import argparse
import bisect
import calendar
import json
import math
import re
import sys
import time
from collections import defaultdict
from datetime import date
from random import Random
from typing import BinaryIO

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

# --------------------------------------------------------------------------------------------
# Message ids
# --------------------------------------------------------------------------------------------
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Every two-character base-62 number, so an id is a few table look-ups instead of a loop.
B62_PAIRS = [a + b for a in BASE62 for b in BASE62]
PID_MAX = 4_194_304  # Linux pid_max on 64-bit systems

ID_FORMS = ("new", "old", "mixed")
NEW, OLD, NO_ID = 0, 1, 2  # index of the counter set a line is counted in


def b62_time(epoch: int) -> str:
    """Six base-62 digits of the arrival second: the first part of both id forms."""
    high, low = divmod(epoch, 3844)
    top, mid = divmod(high, 3844)
    return B62_PAIRS[top] + B62_PAIRS[mid] + B62_PAIRS[low]


def new_message_id(time_part: str, pid: int, usec: int) -> str:
    """Exim ≥ 4.97 form, 6-11-4 characters, e.g. ``1smkL5-00000000e65-24eQ``."""
    return f"{time_part}-0000000{B62_PAIRS[pid // 3844]}{B62_PAIRS[pid % 3844]}-{B62_PAIRS[usec // 3844]}{B62_PAIRS[usec % 3844]}"


def old_message_id(time_part: str, pid: int, usec: int) -> str:
    """Exim ≤ 4.96 form, 6-6-2 characters, e.g. ``1ZeQYq-0000Wm-1V`` (sub-second in 500 µs steps)."""
    return f"{time_part}-00{B62_PAIRS[pid // 3844]}{B62_PAIRS[pid % 3844]}-{B62_PAIRS[usec // 500]}"


def wdhms(seconds: int) -> str:
    """Exim's duration format for QT= and DT=: ``0s``, ``38s``, ``11m38s``, ``2h5m``, ``1d3h``."""
    if seconds < 60:
        return f"{seconds}s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            out.append(f"{count}{unit}")
    return "".join(out)


PID_AFTER_TIMESTAMP = re.compile(r"(?<=^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )\[\d+\] ", re.MULTILINE)


class TimeOrderedWriter:
    """Collects log lines per second and writes them in time order, a megabyte at a time.

    Lines are added for any second not yet written; ``flush_before(t)`` writes every second before
    ``t``. Within one second, lines keep the order they were added in, so a message's own lines
    stay in causal order while other messages' lines interleave with them.
    """

    CHUNK = 1 << 20

    def __init__(self, out: BinaryIO, start: int, end: int, with_pid: bool) -> None:
        self.out = out
        self.end = end
        self.flushed = start
        self.with_pid = with_pid
        self.buckets: defaultdict[int, list[str]] = defaultdict(list)
        self.lines = 0
        self.bytes = 0
        self._parts: list[str] = []
        self._size = 0
        self._day = -1
        self._day_text = ""
        self._hms = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]

    def add(self, t: int, line: str) -> bool:
        """Queue a line for second ``t``; False (and nothing written) if ``t`` is past the end."""
        if t >= self.end:
            return False
        if t < self.flushed:
            t = self.flushed
        self.buckets[t].append(line)
        return True

    def flush_before(self, t: int) -> None:
        buckets = self.buckets
        for second in range(self.flushed, min(t, self.end)):
            lines = buckets.pop(second, None)
            if lines:
                self._emit(second, lines)
        if t > self.flushed:
            self.flushed = t

    def close(self) -> None:
        self.flush_before(self.end)
        self._write()
        self.out.flush()

    def _emit(self, second: int, lines: list[str]) -> None:
        day, sec_of_day = divmod(second, 86400)
        if day != self._day:
            self._day = day
            self._day_text = time.strftime("%Y-%m-%d ", time.gmtime(second))
        prefix = self._day_text + self._hms[sec_of_day] + " "
        chunk = prefix + ("\n" + prefix).join(lines) + "\n"
        self.lines += len(lines)
        self._parts.append(chunk)
        self._size += len(chunk)
        if self._size >= self.CHUNK:
            self._write()

    def _write(self) -> None:
        text = "".join(self._parts)
        if not self.with_pid:  # lines are made with "[pid] " after the timestamp; drop it in one pass
            text = PID_AFTER_TIMESTAMP.sub("", text)
        data = text.encode("utf-8")
        self.bytes += len(data)
        self.out.write(data)
        self._parts = []
        self._size = 0


class Mailbox:
    __slots__ = ("address", "local", "domain", "cpuser", "forward")

    def __init__(self, local: str, domain: str, cpuser: str, forward: str | None) -> None:
        self.address = f"{local}@{domain}"
        self.local = local
        self.domain = domain
        self.cpuser = cpuser
        self.forward = forward


class MailServer:
    """Plays a day (or days) in the life of a shared-hosting mail server and logs it."""

    QUEUE_RUN_EVERY = 3600  # cPanel runs "exim -bd -q1h" (Debian: -q30m)
    MAX_RETRY_GAP = 6 * 3600  # Exim's default retry rule ends with F,4d,6h

    def __init__(
        self, writer: TimeOrderedWriter, rng: Random, start: int, end: int, id_form: str, upgrade_at: int
    ) -> None:
        self.w = writer
        self.rng = rng
        self.rand = rng.random
        self.start = start
        self.end = end
        self.id_form = id_form
        # Messages arriving from here on get 23-char ids (Exim upgraded to 4.97+ during the log).
        self.upgrade_at = {"new": start, "old": end + 1}.get(id_form, upgrade_at)
        self.pid = 1000 + int(rng.random() * 900_000)
        self.daemon_pid = 1000 + int(rng.random() * 5000)
        self.conn_count = 0
        self.next_queue_run = (start // self.QUEUE_RUN_EVERY + 1) * self.QUEUE_RUN_EVERY
        self.queue_runs: list[int] = []
        self._time_part_second = -1
        self._time_part = ""
        self.counts = [defaultdict(int), defaultdict(int), defaultdict(int)]
        self._build_world()

    # ---- world ----------------------------------------------------------------------------
    def _build_world(self) -> None:
        rng = self.rng
        self.mailboxes: list[Mailbox] = []
        self.cpusers: list[str] = []
        for domain in HOSTED_DOMAINS:
            cpuser = "".join(ch for ch in domain.split(".")[0] if ch.isalnum())[:8]
            self.cpusers.append(cpuser)
            names = rng.sample(ROLE_MAILBOXES, rng.randint(2, 5)) + rng.sample(FIRST_NAMES, rng.randint(1, 6))
            for local in names:
                forward = None
                if rng.random() < 0.08:
                    forward = f"{rng.choice(FIRST_NAMES)}{rng.randint(1, 99)}@{rng.choice(PROVIDERS[:3])[0]}"
                self.mailboxes.append(Mailbox(local, domain, cpuser, forward))
        self.mailbox_of = {m.address: m for m in self.mailboxes}
        self.local_addresses = set(self.mailbox_of)

        # Remote people, weighted by provider share.
        self.remote_people: list[str] = []
        for name, _mx, share, _style in PROVIDERS:
            for _ in range(share * 12):
                local = rng.choice(FIRST_NAMES) + rng.choice(("", "", ".", "_")) + str(rng.randint(1, 999))
                self.remote_people.append(f"{local}@{name}")
        self.provider_of = {p[0]: p for p in PROVIDERS}
        self.mx_ip = {}
        for _name, mxs, _share, _style in PROVIDERS:
            for mx in mxs:
                self.mx_ip[mx] = self._ip(v6_share=0.25)
        # Hosts that send us mail: (name, ip, helo)
        self.senders_hosts: list[tuple[str, str, str]] = []
        for name, _mxs, _share, _style in PROVIDERS:
            for k in range(rng.randint(2, 6)):
                host = f"mail-out{k}.{name}" if rng.random() < 0.6 else f"smtp{k}.{name}"
                ip = self._ip(v6_share=0.15)
                self.senders_hosts.append((host, ip, host))
        self.newsletter_hosts = []
        for template, host in NEWSLETTER_SENDERS:
            for k in range(1, 31):
                self.newsletter_hosts.append((template, k, host.format(k=k), self._ip(0.1)))
        # The H=... (without port) and I=... parts of the hosts that send us mail, built once.
        self.inbound_hosts = [
            (host, ip, helo, f"H={self.host_part(host, ip, helo, port=False)}", self.interface(ip, 25))
            for host, ip, helo in self.senders_hosts
        ]
        self.inbound_hosts += [
            (host, ip, host, f"H={host} [{ip}]", self.interface(ip, 25))
            for _t, _k, host, ip in self.newsletter_hosts
        ]
        self.spam_hosts = []
        for _ in range(300):
            ip = self._ip(v6_share=0.02)
            dashed = ip.replace(".", "-").replace(":", "-")
            host = rng.choice(
                (
                    f"host-{dashed}.dyn.example-isp.net",
                    f"{dashed}.static.example-telecom.net",
                    f"ip{dashed}.example-broadband.net",
                    "",
                )
            )
            helo = rng.choice(HELO_NAMES + ("mail.example.com", "example.org", host or "localhost"))
            if not host and rng.random() < 0.4:
                helo = ""  # HELO [ip] matching the address: Exim logs just "H=[ip]"
            self.spam_hosts.append((host, ip, helo))
        self.clients = [(self._ip(v6_share=0.2), rng.choice(HELO_NAMES)) for _ in range(400)]
        # Mail clients of hosted users: (ip, helo, "H=(helo) [ip]", I= for port 587, I= for port 465)
        self.submit_hosts = [
            (
                ip,
                helo,
                f"H={self.host_part('', ip, helo, port=False)}",
                self.interface(ip, 587),
                self.interface(ip, 465),
            )
            for ip, helo in self.clients
        ]
        self.durations = [wdhms(n) for n in range(4 * 3600)]
        self.subjects = [self._subject(rng.choice(SUBJECTS)) for _ in range(4000)]
        self.sizes = [min(max(int(rng.lognormvariate(8.9, 1.25)), 380), 35_000_000) for _ in range(8192)]
        self.ham_scores = [f"{x / 10:.1f}" for x in range(-25, 45)]
        self.spam_subjects = [self._subject(s) for s in SPAM_SUBJECTS]
        provider_cum = []
        total = 0
        for p in PROVIDERS:
            total += p[2]
            provider_cum.append(total)
        self._provider_cum = [c / total for c in provider_cum]

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
            n=rng.randint(1000, 999999),
            k=rng.randint(2, 9),
            code="".join(rng.choices(BASE62[10:36], k=6)),
            Org=rng.choice(ORGS),
            month=rng.choice(MONTHS),
            First=rng.choice(FIRST_NAMES).split(".")[-1].title(),
            Last=rng.choice(LAST_NAMES),
            cpuser=rng.choice(self.cpusers) if hasattr(self, "cpusers") else "shop",
        )

    # ---- small helpers ----------------------------------------------------------------------
    def new_pid(self) -> int:
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
        if form == NEW:
            return new_message_id(self._time_part, pid, usec)
        return old_message_id(self._time_part, pid, usec)

    def header_id(self, domain: str) -> str:
        return f"{self.rng.getrandbits(64):016x}@{domain}"

    def size(self) -> int:
        return self.sizes[int(self.rand() * 8192)]

    def pick(self, seq):  # noqa: ANN001, ANN201 - hot path, any sequence
        return seq[int(self.rand() * len(seq))]

    def remote_address(self) -> str:
        return self.remote_people[int(self.rand() * len(self.remote_people))]

    def host_part(self, host: str, ip: str, helo: str, port: bool = True) -> str:
        """The H= value in its four shapes: ``host [ip]``, ``(helo) [ip]``, ``host (helo) [ip]``, ``[ip]``."""
        p = f":{1024 + int(self.rand() * 64000)}" if port else ""
        if not host:
            return f"({helo}) [{ip}]{p}" if helo else f"[{ip}]{p}"
        if helo and helo != host:
            return f"{host} ({helo}) [{ip}]{p}"
        return f"{host} [{ip}]{p}"

    def interface(self, ip: str, port: int) -> str:
        return f"I=[{SERVER_IP6 if ':' in ip else SERVER_IP}]:{port}"

    def mx_for(self, domain: str) -> tuple[str, str, str]:
        provider = self.provider_of.get(domain)
        if provider is None:
            return f"mail.{domain}", self.mx_ip.setdefault(f"mail.{domain}", self._ip(0.1)), "exim"
        mx = provider[1][0] if self.rand() < 0.85 else self.pick(provider[1])
        return mx, self.mx_ip[mx], provider[3]

    def smtp_reply(self, style: str, header_id: str, size: int) -> str:
        r = self.rng.getrandbits
        if style == "google":
            return f"250 2.0.0 OK  {self.w.flushed} {r(40):010x}.{1 + int(self.rand() * 400)} - gsmtp"
        if style == "microsoft":
            return (
                f"250 2.6.0 <{header_id}> [InternalId={r(44)}, Hostname=AM{r(16):04X}.eurprd0{1 + r(3)}.prod."
                f"example-cloud.com] {size + 2100} bytes in 0.{r(10) % 999:03d}, {r(12) % 2000}.{r(4)} KB/sec "
                f"Queued mail for delivery"
            )
        if style == "exim":
            t = self.w.flushed
            return f"250 OK id={new_message_id(b62_time(t), r(22) % PID_MAX, r(20) % 1_000_000)}"
        return f"250 2.0.0 Ok: queued as {r(40):010X}"

    def count(self, form: int, key: str, written: bool, n: int = 1) -> bool:
        if written:
            self.counts[form][key] += n
        return written

    # ---- the clock --------------------------------------------------------------------------
    def advance_to(self, t: int) -> None:
        """Write everything before ``t`` and log the queue runner's start/end lines up to ``t``."""
        while self.next_queue_run <= t:
            qt = self.next_queue_run
            pid = self.new_pid()
            self.queue_runs.append(qt)
            tag = f"[{pid}] "
            if self.w.add(qt, f"{tag}Start queue run: pid={pid}"):
                self.counts[NO_ID]["noise"] += 1
            if self.w.add(qt + 2 + int(self.rand() * 40), f"{tag}End queue run: pid={pid}"):
                self.counts[NO_ID]["noise"] += 1
            self.next_queue_run += self.QUEUE_RUN_EVERY
        self.w.flush_before(t)

    def retry_times(self, t: int, attempts: int, first_gap: int, growth: float) -> list[int]:
        """Times of queue runs at which a deferred address is tried again."""
        times = []
        gap = first_gap
        for _ in range(attempts):
            due = t + gap
            run = (due // self.QUEUE_RUN_EVERY + 1) * self.QUEUE_RUN_EVERY
            t = run + 1 + int(self.rand() * 25)
            times.append(t)
            if t >= self.end:
                break
            gap = min(int(gap * growth), self.MAX_RETRY_GAP)
        return times

    # ---- delivery -----------------------------------------------------------------------------
    def delivery_lines(
        self,
        kind: str,
        t_arrival: int,
        t: int,
        tag: str,
        mid: str,
        rcpts: list,
        route: tuple,
        sender: str,
        size: int,
        header_id: str,
    ) -> list[str]:
        """The ``=>``/``->`` lines of one successful delivery of ``rcpts`` at time ``t``."""
        if kind == "local":
            m = rcpts[0]
            token = f"{self.rng.getrandbits(64):016x}"
            return [
                f"{tag}{mid} => {m.local} <{m.address}> R=virtual_user T=dovecot_virtual_delivery "
                f'C="250 2.0.0 <{m.address}> {token} Saved"'
            ]
        if kind == "system":
            user = rcpts[0]
            return [f"{tag}{mid} => {user} <{user}@{HOSTNAME}> R=localuser T=local_delivery"]
        if kind == "blackhole":
            return [f"{tag}{mid} => :blackhole: <{rcpts[0].address}> R=virtual_aliases"]
        mx, ip, style, router, transport = route
        rand = self.rand
        tls = TLS_OUT[int(rand() * len(TLS_OUT))] if style != "exim" or rand() < 0.5 else ""
        reply = self.smtp_reply(style, header_id, size)
        queued = t - t_arrival
        qt = self.durations[queued] if queued < 14400 else wdhms(queued)
        dt = self.durations[int(rand() * rand() * 4)]
        tail = f' R={router} T={transport} H={mx} [{ip}]{tls} C="{reply}" QT={qt} DT={dt}'
        lines = []
        arrow = "=>"
        for a in rcpts:
            shown = f"{a[0]} <{a[1]}>" if isinstance(a, tuple) else a
            lines.append(f"{tag}{mid} {arrow} {shown}{tail}")
            arrow = "->"
        return lines

    def route_remote(self, domain: str, local_origin: bool) -> tuple:
        mx, ip, style = self.mx_for(domain)
        if local_origin:
            return mx, ip, style, "lookuphost", "remote_smtp"
        return mx, ip, style, "dkim_lookuphost", "dkim_remote_smtp"

    def deliver(
        self,
        form: int,
        mid: str,
        t0: int,
        sender: str,
        size: int,
        header_id: str,
        groups: list,
        trouble: tuple | None,
    ) -> None:
        """Deliver an arrived message: every group at once, except ``trouble`` (one group's fate).

        ``groups`` items: (kind, recipients, route). ``trouble``: (group, plan, error_kind) with plan
        ``defer_ok``/``defer_fail``/``defer_forever``/``fail``.
        """
        w, c, rand = self.w, self.counts[form], self.rand
        t1 = t0 + (0 if rand() < 0.55 else 1 + int(rand() * rand() * 4))
        self.pid = pid = self.pid + 1 + int(rand() * 12)
        if pid >= PID_MAX:
            pid = self.new_pid()
        tag = f"[{pid}] "
        if trouble is None and len(groups) == 1 and groups[0][0] == "local":
            # The most common case by far, written directly: one mailbox, delivered at once.
            if t1 < self.end:
                m = groups[0][1][0]
                w.buckets[t1] += (
                    f"{tag}{mid} => {m.local} <{m.address}> R=virtual_user T=dovecot_virtual_delivery "
                    f'C="250 2.0.0 <{m.address}> {self.rng.getrandbits(64):016x} Saved"',
                    f"{tag}{mid} Completed",
                )
                c["deliveries"] += 1
                c["completed"] += 1
            else:
                c["pending_recipients"] += 1
            return
        if t1 < self.end:  # t1 >= t0, and t0 is never before what the writer has written
            bucket = w.buckets[t1]
            for kind, rcpts, route in groups:
                if trouble is not None and trouble[0][1] is rcpts:
                    continue
                lines = self.delivery_lines(kind, t0, t1, tag, mid, rcpts, route, sender, size, header_id)
                bucket += lines
                c["deliveries"] += 1
                if len(lines) > 1:
                    c["extra_addresses"] += len(lines) - 1
                if kind == "blackhole":
                    c["blackholed"] += 1
            if trouble is None:
                bucket.append(f"{tag}{mid} Completed")
                c["completed"] += 1
                return
        else:
            c["pending_recipients"] += sum(len(g[1]) for g in groups)
            return

        (kind, rcpts, route), plan, error = trouble
        if plan == "fail":
            if self.fail_lines(form, t1, tag, mid, kind, rcpts, route, error, sender, size):
                self.after_failure(form, t1, tag, mid, sender, size)
            return

        # Deferred: first attempt now, then at queue runs.
        attempts = {
            "defer_ok": 1 + int(rand() * 2.2),
            "defer_fail": 3 + int(rand() * 3),
            "defer_forever": 1 << 30,
        }[plan]
        first_gap = {
            "greylist": 300,
            "ratelimit": 1800,
            "timeout": 1800,
            "mailbox_full": 3600,
            "retry_wait": 900,
        }.get(error, 1200)
        variant = rand()  # the remote server answers the same way at every attempt
        times = [t1] + self.retry_times(t1, attempts, first_gap, 1.5 if plan != "defer_forever" else 1.3)
        deferred = False
        for i, t in enumerate(times[:-1] if plan != "defer_forever" else times):
            if t >= self.end:
                break
            tag_i = tag if i == 0 else f"[{self.new_pid()}] "
            if i == 0 and error == "retry_wait":
                err = "retry_wait"
            elif i > 0 and kind != "local" and rand() < 0.25:
                err = "retry_wait"  # a queue run before the host's retry time came
            else:
                err = error if error != "retry_wait" else "greylist"
            if self.defer_lines(form, t, tag_i, mid, kind, rcpts, route, err, sender, size, variant):
                deferred = True
        if deferred:
            c["delayed_messages"] += 1
        t_last = times[-1]
        if plan == "defer_forever" or t_last >= self.end:
            c["pending_recipients"] += len(rcpts)
            return
        tag_last = f"[{self.new_pid()}] "
        if plan == "defer_ok":
            lines = self.delivery_lines(
                kind, t0, t_last, tag_last, mid, rcpts, route, sender, size, header_id
            )
            w.buckets[t_last] += lines + [f"{tag_last}{mid} Completed"]
            c["deliveries"] += 1
            c["extra_addresses"] += len(lines) - 1
            c["completed"] += 1
        elif self.fail_lines(form, t_last, tag_last, mid, kind, rcpts, route, "retry_timeout", sender, size):
            self.after_failure(form, t_last, tag_last, mid, sender, size)

    def address_text(self, kind: str, a) -> str:  # noqa: ANN001 - Mailbox, (target, original) or str
        if kind == "local" or kind == "blackhole":
            return f"{a.local} <{a.address}>"
        if isinstance(a, tuple):
            return f"{a[0]} <{a[1]}>"
        return a

    def bare_address(self, a) -> str:  # noqa: ANN001
        if isinstance(a, Mailbox):
            return a.address
        if isinstance(a, tuple):
            return a[0]
        return a

    def defer_lines(
        self,
        form: int,
        t: int,
        tag: str,
        mid: str,
        kind: str,
        rcpts: list,
        route: tuple,
        error: str,
        sender: str,
        size: int,
        variant: float,
    ) -> bool:
        w, c = self.w, self.counts[form]
        written = False
        if kind == "local":
            for m in rcpts:
                line = (
                    f"{tag}{mid} == {m.local} <{m.address}> R=virtual_user T=dovecot_virtual_delivery "
                    f"defer (-44): LMTP error after RCPT TO:<{m.address}>: 452 4.2.2 <{m.address}> "
                    f"Quota exceeded (mailbox for user is full)"
                )
                if w.add(t, line):
                    c["deferrals"] += 1
                    written = True
            return written
        mx, ip, _style, router, transport = route
        domain = self.bare_address(rcpts[0]).rpartition("@")[2]
        if error == "timeout":
            w.add(t, f"{tag}{mid} H={mx} [{ip}] Connection timed out")
        for a in rcpts:
            addr = self.bare_address(a)
            shown = self.address_text(kind, a)
            if error == "retry_wait":
                text = f" R={router} T={transport} defer (-53): retry time not reached for any host for '{domain}'"
            elif error == "timeout":
                text = f" R={router} T={transport} defer (110): Connection timed out"
            else:
                table = {"greylist": GREYLIST, "mailbox_full": MAILBOX_FULL_REMOTE, "ratelimit": RATE_LIMIT}[
                    error
                ]
                errno = "-45" if error == "ratelimit" else "-44"
                reply = table[int(variant * len(table))].format(
                    a=addr, d=domain, s=sender, z=size, ip=SERVER_IP
                )
                text = f" R={router} T={transport} defer ({errno}) H={mx} [{ip}]: {reply}"
            if w.add(t, f"{tag}{mid} == {shown}{text}"):
                c["deferrals"] += 1
                written = True
        return written

    def fail_lines(
        self,
        form: int,
        t: int,
        tag: str,
        mid: str,
        kind: str,
        rcpts: list,
        route: tuple,
        error: str,
        sender: str,
        size: int,
    ) -> bool:
        w, c = self.w, self.counts[form]
        written = False
        for a in rcpts:
            addr = self.bare_address(a)
            shown = self.address_text(kind, a)
            if kind == "local":
                text = (
                    f" R=virtual_user T=dovecot_virtual_delivery: LMTP error after end of data: "
                    f"552 5.2.2 <{addr}> Quota exceeded (mailbox for user is full)"
                )
            elif error == "retry_timeout":
                _mx, _ip, _style, router, transport = route
                text = (
                    ": retry timeout exceeded"
                    if self.rand() < 0.6
                    else f" R={router} T={transport}: retry timeout exceeded"
                )
            elif error == "unrouteable":
                text = (
                    ": Unrouteable address"
                    if self.rand() < 0.6
                    else ": all relevant MX records point to non-existent hosts"
                )
            else:
                mx, ip, _style, router, transport = route
                table = BLOCKLISTED if error == "blocklisted" else USER_UNKNOWN
                reply = self.pick(table).format(a=addr, s=sender, z=size, ip=SERVER_IP)
                tls = self.pick(TLS_OUT)
                text = f" R={router} T={transport} H={mx} [{ip}]{tls}: {reply}"
            if w.add(t, f"{tag}{mid} ** {shown}{text}"):
                c["failures"] += 1
                written = True
        if written:
            c["failed_messages"] += 1
        return written

    def after_failure(self, form: int, t: int, tag: str, mid: str, sender: str, size: int) -> None:
        """A bounce goes back to the sender; a failed bounce is frozen instead (Exim never bounces a bounce)."""
        if sender == "<>":
            self.count(form, "frozen", self.w.add(t, f"{tag}{mid} Frozen (delivery error message)"))
            return
        b_form = self.form_at(t)
        b_pid = self.new_pid()
        b_tag = f"[{b_pid}] "
        bid = self.message_id(t, b_pid, b_form)
        b_size = min(size, 60_000) + 1400 + int(self.rand() * 1200)
        arrived = self.w.add(
            t,
            f"{b_tag}{bid} <= <> R={mid} U=mailnull P=local S={b_size} "
            f'T="Mail delivery failed: returning message to sender" from <> for {sender}',
        )
        if arrived:
            bc = self.counts[b_form]
            bc["messages"] += 1
            bc["bounces"] += 1
            bc["volume"] += b_size
        self.count(form, "completed", self.w.add(t, f"{tag}{mid} Completed"))
        if not arrived:
            return
        domain = sender.rpartition("@")[2]
        if sender in self.local_addresses:
            group = ("local", [self.mailbox_of[sender]], None)
            self.deliver(b_form, bid, t, "<>", b_size, "", [group], None)
            return
        route = self.route_remote(domain, False)
        group = ("remote", [sender], route)
        # Spam with forged senders: the bounce itself fails and the bounce is frozen.
        if domain in SPAM_DOMAINS or domain in NONEXISTENT_DOMAINS:
            error = "unrouteable" if domain in NONEXISTENT_DOMAINS else "user_unknown"
            self.deliver(b_form, bid, t, "<>", b_size, "", [group], (group, "fail", error))
        else:
            self.deliver(b_form, bid, t, "<>", b_size, "", [group], None)

    # ---- arrivals --------------------------------------------------------------------------------
    def arrive(
        self,
        t: int,
        pid: int,
        sender: str,
        hostinfo: str,
        extra: str,
        size: int,
        header_id: str,
        subject: str,
        rcpt_text: str,
        pre: list[str] | None = None,
    ) -> tuple[int, str, bool]:
        """Log a ``<=`` line (and the lines the receiving process writes before it)."""
        form = NEW if t >= self.upgrade_at else OLD
        if t != self._time_part_second:
            self._time_part_second = t
            self._time_part = b62_time(t)
        usec = int(self.rand() * 1_000_000)
        if form == NEW:
            mid = new_message_id(self._time_part, pid, usec)
        else:
            mid = old_message_id(self._time_part, pid, usec)
        tag = f"[{pid}] "
        if t >= self.end:
            return form, mid, False
        bucket = self.w.buckets[t]  # arrivals happen "now": t is never before what was written
        if pre:
            for text in pre:
                bucket.append(f"{tag}{mid} {text}")
        hid = f" id={header_id}" if header_id else ""
        bucket.append(
            f'{tag}{mid} <= {sender}{hostinfo}{extra} S={size}{hid} T="{subject}" from <{sender}> '
            f"for {rcpt_text}"
        )
        c = self.counts[form]
        c["messages"] += 1
        c["volume"] += size
        return form, mid, True

    def pick_trouble(self, groups: list, mix: float) -> tuple | None:
        """Decide whether one group of this message (a remote domain, else a mailbox) has trouble, and which."""
        rand = self.rand
        if mix >= 0.82:  # ~18 % of accepted messages have some trouble (see SCENARIOS)
            remote = [g for g in groups if g[0] in ("remote", "forward")]
            local = [g for g in groups if g[0] == "local"]
            roll = rand()
            if mix < 0.93:  # deferred, later delivered
                if remote and roll < 0.85:
                    return (
                        remote[0],
                        "defer_ok",
                        self.pick(
                            (
                                "greylist",
                                "greylist",
                                "greylist",
                                "ratelimit",
                                "timeout",
                                "mailbox_full",
                                "retry_wait",
                            )
                        ),
                    )
                if local:
                    return local[0], "defer_ok", "mailbox_full"
            elif mix < 0.975:  # permanent failure now (user unknown, blocklisted, mailbox full)
                if remote:
                    return (
                        remote[0],
                        "fail",
                        self.pick(("user_unknown", "user_unknown", "user_unknown", "blocklisted")),
                    )
                if local:
                    return local[0], "fail", "mailbox_full"
            elif mix < 0.99:  # failure after retries
                if remote:
                    return (
                        remote[0],
                        "defer_fail",
                        self.pick(("timeout", "timeout", "mailbox_full", "ratelimit")),
                    )
            else:  # still being retried when the log ends
                if remote:
                    return remote[0], "defer_forever", self.pick(("timeout", "mailbox_full"))
                if local:
                    return local[0], "defer_forever", "mailbox_full"
        return None

    def inbound(self, t: int) -> None:
        """Mail from the Internet to hosted mailboxes (the bulk of a hosting server's traffic)."""
        rand = self.rand
        if rand() < 0.25:
            template, k, host, ip = self.newsletter_hosts[int(rand() * len(self.newsletter_hosts))]
            sender = template.format(n=100000 + int(rand() * 900000), k=k)
            hpart, iface = f"H={host} [{ip}]", self.interface(ip, 25)
        else:
            sender = self.remote_people[int(rand() * len(self.remote_people))]
            host, ip, _helo, hpart, iface = self.inbound_hosts[int(rand() * len(self.senders_hosts))]
        mailboxes = self.mailboxes
        m = mailboxes[int(rand() * len(mailboxes))]
        boxes = [m]
        if rand() < 0.15:
            for _ in range(1 + int(rand() * 3)):
                m = mailboxes[int(rand() * len(mailboxes))]
                if m not in boxes:
                    boxes.append(m)
        pid = self.new_pid()
        port = 1024 + int(rand() * 64000)
        core = f"{hpart}:{port} {iface}" if rand() < 0.95 else f"{hpart} {iface}"  # 5 %: no +incoming_port
        hostinfo = (
            f" {core} P=esmtps{TLS_IN[int(rand() * len(TLS_IN))]}" if rand() < 0.92 else f" {core} P=esmtp"
        )
        score = self.ham_scores[int(rand() * rand() * len(self.ham_scores))]
        pre = [f'{core} Warning: "SpamAssassin as {boxes[0].cpuser} detected message as NOT spam ({score})"']
        if rand() < 0.3:
            pre.append(
                f"{core} Warning: Message has been scanned: no virus or other harmful content was found"
            )
        if rand() < 0.35:
            self.smtp_connection(t, ip, port, iface)
        size = self.sizes[int(rand() * 8192)]
        mix = rand()
        hid = self.header_id(sender.rpartition("@")[2])
        rcpt_text = boxes[0].address if len(boxes) == 1 else " ".join(m.address for m in boxes)
        form, mid, ok = self.arrive(
            t, pid, sender, hostinfo, "", size, hid, self.subjects[int(rand() * 4000)], rcpt_text, pre
        )
        if not ok:
            return
        groups = []
        for m in boxes:
            if m.forward:
                groups.append(
                    (
                        "forward",
                        [(m.forward, m.address)],
                        self.route_remote(m.forward.rpartition("@")[2], False),
                    )
                )
            else:
                groups.append(("local", [m], None))
        self.deliver(
            form, mid, t, sender, size, hid, groups, self.pick_trouble(groups, mix) if mix >= 0.82 else None
        )
        if rand() < 0.4:
            # "SMTP connection from nil.ukcod.org.uk [127.0.0.1]:41019 I=[127.0.0.1]:25 closed by QUIT"
            if self.w.add(t + 1, f"[{pid}] SMTP connection from {core[2:]} closed by QUIT"):
                self.counts[NO_ID]["noise"] += 1

    def smtp_connection(self, t: int, ip: str, port: int, iface: str) -> None:
        # Logged by the daemon before the host name is looked up:
        # "SMTP connection from [127.0.0.1]:41019 I=[127.0.0.1]:25 (TCP/IP connection count = 1)"
        self.conn_count = max(1, min(60, self.conn_count + (1 if self.rand() < 0.5 else -1)))
        if self.w.add(
            t - (1 if self.rand() < 0.3 else 0),
            f"[{self.daemon_pid}] SMTP connection from [{ip}]:{port} {iface} "
            f"(TCP/IP connection count = {self.conn_count})",
        ):
            self.counts[NO_ID]["noise"] += 1

    def outbound(self, t: int, trouble: tuple[str, str] | None = None) -> None:
        """A hosted mailbox sends mail through us (mail client or webmail), mostly to the Internet."""
        rand = self.rand
        mailboxes, people = self.mailboxes, self.remote_people
        m = mailboxes[int(rand() * len(mailboxes))]
        sender = m.address
        if rand() < 0.7:
            rcpts = [people[int(rand() * len(people))]]
        else:
            rcpts = []
            for _ in range(2 + int(rand() * rand() * 8)):
                if rand() < 0.1:
                    a = mailboxes[int(rand() * len(mailboxes))].address
                else:
                    a = people[int(rand() * len(people))]
                if a not in rcpts:
                    rcpts.append(a)
        pid = self.new_pid()
        port = 1024 + int(rand() * 64000)
        if rand() < 0.3:  # webmail (Roundcube) on the same machine
            hostinfo = f" H=localhost (webmail.{m.domain}) [127.0.0.1]:{port} I=[127.0.0.1]:25 P=esmtpa"
        else:
            _ip, _helo, hpart, i587, i465 = self.submit_hosts[int(rand() * len(self.submit_hosts))]
            hostinfo = (
                f" {hpart}:{port} {i587 if rand() < 0.7 else i465} P=esmtpsa"
                f"{TLS_IN[int(rand() * len(TLS_IN))]}"
            )
        auth = "dovecot_login" if rand() < 0.8 else "dovecot_plain"
        size = self.sizes[int(rand() * 8192)]
        mix = rand()
        hid = self.header_id(m.domain)
        form, mid, ok = self.arrive(
            t,
            pid,
            sender,
            hostinfo,
            f" A={auth}:{sender}",
            size,
            hid,
            self.subjects[int(rand() * 4000)],
            " ".join(rcpts),
        )
        if ok:
            groups = self.group_recipients(rcpts, local_origin=False)
            remote = [g for g in groups if g[0] == "remote"]
            if trouble and remote:
                problem = (remote[0], *trouble)
            else:
                problem = self.pick_trouble(groups, mix)
            self.deliver(form, mid, t, sender, size, hid, groups, problem)

    def group_recipients(self, rcpts: list[str], local_origin: bool) -> list:
        """Local mailboxes one by one; remote addresses one SMTP transaction per domain (``=>`` then ``->``)."""
        groups: list = []
        by_domain: dict[str, list[str]] = {}
        for a in rcpts:
            if a in self.local_addresses:
                groups.append(("local", [self.mailbox_of[a]], None))
            else:
                by_domain.setdefault(a.rpartition("@")[2], []).append(a)
        for domain, addrs in by_domain.items():
            groups.append(("remote", addrs, self.route_remote(domain, local_origin)))
        return groups

    def local_origin(self, t: int) -> None:
        """A website script or cron job calls sendmail (P=local, U=<cPanel user>)."""
        rand = self.rand
        m = self.pick(self.mailboxes)
        pid = self.new_pid()
        tag = f"[{pid}] "
        if rand() < 0.7:  # PHP mail() from a web form
            self.w.add(t, f"{tag}cwd=/home/{m.cpuser}/public_html 3 args: /usr/sbin/sendmail -t -i")
            sender = m.address if rand() < 0.6 else f"{m.cpuser}@{HOSTNAME}"
            rcpts = [m.address] if rand() < 0.5 else [self.remote_address()]
        else:  # cron job output to the account owner
            self.w.add(
                t,
                f"{tag}cwd=/home/{m.cpuser} 7 args: /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem -oi -t",
            )
            sender = f"{m.cpuser}@{HOSTNAME}"
            rcpts = [f"{m.cpuser}@{HOSTNAME}"]
        self.counts[NO_ID]["noise"] += 1
        size = self.size() // 4 + 400
        mix = self.rand()
        form, mid, ok = self.arrive(
            t,
            pid,
            sender,
            f" U={m.cpuser} P=local",
            "",
            size,
            self.header_id(HOSTNAME),
            self.pick(self.subjects),
            " ".join(rcpts),
        )
        if not ok:
            return
        if rcpts[0].endswith("@" + HOSTNAME):
            groups = [("system", [m.cpuser], None)]
        else:
            groups = self.group_recipients(rcpts, local_origin=True)
        self.deliver(form, mid, t, sender, size, "", groups, self.pick_trouble(groups, mix))

    def spam_arrival(self, t: int) -> None:
        """Spam that passed the RCPT checks: the sender bounces (often to a forged address), or blackholed."""
        rand = self.rand
        host, ip, helo = self.pick(self.spam_hosts)
        sender = f"{self.pick(FIRST_NAMES).split('.')[-1]}{int(rand() * 9999)}@{self.pick(SPAM_DOMAINS)}"
        m = self.pick(self.mailboxes)
        pid = self.new_pid()
        port = 1024 + int(rand() * 64000)
        core = f"H={self.host_part(host, ip, helo, port=False)}:{port} {self.interface(ip, 25)}"
        if rand() < 0.05:  # logged without +incoming_port
            core = f"H={self.host_part(host, ip, helo, port=False)} {self.interface(ip, 25)}"
        score = round(5 + rand() * 12, 1)
        pre = [f'{core} Warning: "SpamAssassin as {m.cpuser} detected message as spam ({score})"']
        size = self.size()
        form, mid, ok = self.arrive(
            t,
            pid,
            sender,
            f" {core} P=esmtp",
            "",
            size,
            self.header_id(sender.rpartition("@")[2]),
            self.pick(self.spam_subjects),
            m.address,
            pre,
        )
        if not ok:
            return
        if rand() < 0.7:
            group = ("blackhole", [m], None)
            self.deliver(form, mid, t, sender, size, "", [group], None)
        else:  # delivered to a full mailbox: fails, the bounce to the forged sender fails, bounce frozen
            group = ("local", [m], None)
            self.deliver(form, mid, t, sender, size, "", [group], (group, "fail", "mailbox_full"))

    def in_progress(self, t: int) -> None:
        """A message the log leaves without outcome: retried until the end, or accepted moments before it."""
        if t < self.end - 600:
            self.outbound(t, trouble=("defer_forever", "timeout"))
            return
        m = self.pick(self.mailboxes)
        ip, helo = self.pick(self.clients)
        pid = self.new_pid()
        hostinfo = f" H={self.host_part('', ip, helo)} {self.interface(ip, 587)} P=esmtpsa{self.pick(TLS_IN)}"
        rcpt = self.remote_address()
        form, _mid, ok = self.arrive(
            t,
            pid,
            m.address,
            hostinfo,
            f" A=dovecot_login:{m.address}",
            self.size(),
            self.header_id(m.domain),
            self.pick(self.subjects),
            rcpt,
        )
        if ok:
            self.counts[form]["pending_recipients"] += 1

    def rcpt_rejection(self, t: int) -> None:
        """SMTP-time refusal of a recipient: no message id, the message never arrives."""
        rand = self.rand
        kind, reason = self.pick(RCPT_REJECTIONS)
        host, ip, helo = self.pick(self.spam_hosts)
        pid = self.new_pid()
        tag = f"[{pid}] "
        port = 1024 + int(rand() * 64000)
        sender = f"{self.pick(FIRST_NAMES).split('.')[-1]}{int(rand() * 999)}@{self.pick(SPAM_DOMAINS)}"
        if kind == "relay":
            rcpt = self.remote_address()
        elif kind == "nouser":
            rcpt = f"{self.pick(FIRST_NAMES)}{int(rand() * 99)}@{self.pick(HOSTED_DOMAINS)}"
        elif kind == "unrouteable":
            rcpt = f"{self.pick(ROLE_MAILBOXES)}@{self.pick(NONEXISTENT_DOMAINS)}"
        else:
            rcpt = self.pick(self.mailboxes).address
        if kind == "sender_verify":
            sender = f"{self.pick(ROLE_MAILBOXES)}@{self.pick(NONEXISTENT_DOMAINS)}"
        hp = f"{self.host_part(host, ip, helo, port=False)}:{port}"
        text = f"H={hp} {self.interface(ip, 25)} F=<{sender}> rejected RCPT <{rcpt}>: {reason.format(ip=ip)}"
        if not self.countable_by_eximstats(text):
            hp = f"[{ip}]:{port}"
            text = (
                f"H={hp} {self.interface(ip, 25)} F=<{sender}> rejected RCPT <{rcpt}>: {reason.format(ip=ip)}"
            )
        w = self.w
        if kind == "sender_verify":
            w.add(t, f"{tag}H={hp} sender verify fail for <{sender}>: Unrouteable address")
            self.counts[NO_ID]["noise"] += 1
        if w.add(t, tag + text):
            self.counts[NO_ID]["rejections"] += 1
            self.counts[NO_ID]["rejected_rcpt"] += 1
        if rand() < 0.3:
            if w.add(
                t + int(rand() * 3), f"{tag}SMTP connection from {hp} {self.interface(ip, 25)} closed by QUIT"
            ):
                self.counts[NO_ID]["noise"] += 1

    def countable_by_eximstats(self, text: str) -> bool:
        """False if eximstats would miss this id-less rejection line.

        eximstats reads a two-character "flag" 17 characters into every line (after the [pid]);
        ``SA`` or a run of ``<>=*-`` there hides the word "rejected" from it.
        """
        flag = text[17:19]
        return flag != "SA" and not all(ch in "<>=*-" for ch in flag)

    def data_rejection(self, t: int) -> None:
        """Refused after DATA (virus, spam, policy): has a message id, never arrives."""
        rand = self.rand
        host, ip, helo = self.pick(self.spam_hosts)
        pid = self.new_pid()
        form = self.form_at(t)
        mid = self.message_id(t, pid, form)
        tag = f"[{pid}] "
        port = 1024 + int(rand() * 64000)
        core = f"H={self.host_part(host, ip, helo, port=False)}:{port} {self.interface(ip, 25)}"
        sender = f"{self.pick(FIRST_NAMES).split('.')[-1]}{int(rand() * 999)}@{self.pick(SPAM_DOMAINS)}"
        m = self.pick(self.mailboxes)
        if rand() < 0.5:
            self.w.add(
                t,
                f'{tag}{mid} {core} Warning: "SpamAssassin as {m.cpuser} detected message as spam '
                f'({round(8 + rand() * 20, 1)})"',
            )
        if self.w.add(t, f"{tag}{mid} {core} F=<{sender}> rejected after DATA: {self.pick(DATA_REJECTIONS)}"):
            self.counts[form]["rejections"] += 1
            self.counts[form]["rejected_after_data"] += 1

    def noise(self, t: int) -> None:
        """Connections that never send mail: failed logins, dropped and idle clients, TLS errors."""
        rand = self.rand
        host, ip, helo = self.pick(self.spam_hosts)
        tag = f"[{self.new_pid()}] "
        port = 1024 + int(rand() * 64000)
        roll = rand()
        w = self.w
        if roll < 0.4:
            listen = self.pick((587, 465, 25))
            box = self.pick(self.mailboxes).address if rand() < 0.7 else self.pick(ROLE_MAILBOXES)
            line = (
                f"{tag}dovecot_login authenticator failed for {self.host_part(host, ip, helo, False)}:{port} "
                f"{self.interface(ip, listen)}: 535 Incorrect authentication data (set_id={box})"
            )
        elif roll < 0.7:
            line = (
                f"{tag}no MAIL in SMTP connection from {self.host_part(host, ip, helo, False)}:{port} "
                f"{self.interface(ip, 25)} D={int(rand() * 30)}s C=EHLO,STARTTLS,EHLO,QUIT"
            )
        elif roll < 0.85:
            line = (
                f"{tag}TLS error on connection from {self.host_part(host, ip, helo, False)}:{port} "
                f"{self.interface(ip, 25)} (SSL_accept): error:0A000126:SSL routines::unexpected eof while reading"
            )
        else:
            # "SMTP call from ... dropped: too many nonmail commands" counts as a rejection in eximstats.
            text = (
                f"SMTP call from {self.host_part(host, ip, helo, False)}:{port} {self.interface(ip, 25)} "
                f'dropped: too many nonmail commands (last was "RSET")'
            )
            if not self.countable_by_eximstats(text):
                text = (
                    f"SMTP call from [{ip}]:{port} {self.interface(ip, 25)} "
                    f'dropped: too many nonmail commands (last was "RSET")'
                )
            if w.add(t, f"{tag}{text}"):
                self.counts[NO_ID]["rejections"] += 1
                self.counts[NO_ID]["dropped_connections"] += 1
            return
        if w.add(t, line):
            self.counts[NO_ID]["noise"] += 1

    # ---- main loop ---------------------------------------------------------------------------------
    # What happens at each arrival of a client, by share. Accepted messages (inbound, outbound,
    # local_origin) then meet trouble in pick_trouble: ~11 % deferred then delivered, ~4.5 % failed at
    # once, ~1.5 % failed after retries, ~1 % still retried when the log ends. Overall, per message
    # or refused attempt: ~70 % delivered at once, ~10 % delayed, ~5 % failed (with a bounce),
    # ~11 % refused, the rest local (cron, scripts), :blackhole:, frozen or in progress.
    SCENARIOS = (
        (0.54, "inbound"),
        (0.23, "outbound"),
        (0.035, "local_origin"),
        (0.015, "spam_arrival"),  # → :blackhole:, or a bounce to a forged sender that is frozen
        (0.004, "in_progress"),
        (0.085, "rcpt_rejection"),
        (0.02, "data_rejection"),
        (0.071, "noise"),
    )
    LINES_PER_EVENT = 4.5  # measured average, to turn --lines into an arrival rate

    def run(self, target_lines: int) -> None:
        names = [getattr(self, name) for _share, name in self.SCENARIOS]
        cum = []
        total = 0.0
        for share, _name in self.SCENARIOS:
            total += share
            cum.append(total / sum(s for s, _ in self.SCENARIOS))
        cum[-1] = 1.0
        span_weight = sum(hour_weight(h) for h in range(self.start // 3600, -(-self.end // 3600)))
        queue_run_lines = 2 * (self.end - self.start) // self.QUEUE_RUN_EVERY
        events = max(1.0, (target_lines - queue_run_lines) / self.LINES_PER_EVENT)
        per_weight_hour = events / max(span_weight, 1e-9)
        rand, log, bisect_right, flush_before = self.rand, math.log, bisect.bisect, self.w.flush_before
        t = float(self.start)
        last_sec = -1
        end = self.end
        while t < end:
            hour = int(t) // 3600
            hour_end = (hour + 1) * 3600
            mean_gap = 3600.0 / (per_weight_hour * hour_weight(hour))
            while True:  # arrivals within this hour (the rate changes at the hour)
                t -= log(1.0 - rand()) * mean_gap  # exponential gaps: a Poisson process
                if t >= hour_end or t >= end:
                    break
                sec = int(t)
                if sec != last_sec:
                    if sec >= self.next_queue_run:
                        self.advance_to(sec)
                    else:
                        flush_before(sec)
                    last_sec = sec
                names[bisect_right(cum, rand())](sec)
            t = float(hour_end)
        self.advance_to(self.end)
        self.w.close()

    def summary(self) -> dict:
        totals: defaultdict[str, int] = defaultdict(int)
        for c in self.counts:
            for k, v in c.items():
                totals[k] += v
        keys = (
            "messages",
            "bounces",
            "volume",
            "deliveries",
            "extra_addresses",
            "deferrals",
            "delayed_messages",
            "failures",
            "failed_messages",
            "rejections",
            "rejected_rcpt",
            "rejected_after_data",
            "dropped_connections",
            "blackholed",
            "frozen",
            "completed",
            "pending_recipients",
            "noise",
        )
        out = {"lines": self.w.lines, "bytes": self.w.bytes}
        out.update({k: totals.get(k, 0) for k in keys})
        out["addresses"] = out["deliveries"] + out["extra_addresses"]
        out["in_progress"] = out["messages"] - out["completed"] - out["frozen"]  # no "Completed" by the end
        out["messages_old_id"] = self.counts[OLD].get("messages", 0)
        out["messages_new_id"] = self.counts[NEW].get("messages", 0)
        # What /usr/sbin/eximstats (Exim 4.96, Debian 12) can see: it reads the id as 16 characters,
        # so 23-character ids are invisible to it (its Rejects row also counts :blackhole: lines).
        old, none = self.counts[OLD], self.counts[NO_ID]
        out["eximstats_expected"] = {
            "received": old.get("messages", 0),
            "delivered_messages": old.get("deliveries", 0),
            "delivered_addresses": old.get("deliveries", 0) + old.get("extra_addresses", 0),
            "delayed": old.get("delayed_messages", 0),
            "failed": old.get("failed_messages", 0),
        }
        if self.id_form == "old":
            # With 23-char ids around, eximstats also counts any such line containing "rejected",
            # "refused" or "dropped" (a 550 reply, a greylisting 450...) as a rejection.
            out["eximstats_expected"]["rejects"] = (
                none.get("rejections", 0) + old.get("rejections", 0) + old.get("blackholed", 0)
            )
        return out


def hour_weight(hour_index: int) -> float:
    """Relative arrival rate in an hour (counted from the epoch): by hour of day, less at weekends."""
    weekday = (hour_index // 24 + 3) % 7  # 1970-01-01 was a Thursday; 5, 6 = Saturday, Sunday
    return HOURLY[hour_index % 24] * (WEEKEND_SHARE if weekday >= 5 else 1.0)


OLD_ID_SHARE = 0.12  # --id-form mixed: the upgrade to Exim 4.97 comes after ~12 % of the messages


def time_of_traffic_share(start: int, end: int, share: float) -> int:
    """The hour by which ``share`` of the log's arrivals have happened."""
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
        "--seed", type=int, default=1, help="random seed; same seed and options, same log (default 1)"
    )
    p.add_argument("--start", default="2026-11-01", help="first day, YYYY-MM-DD (default 2026-11-01)")
    p.add_argument("--days", type=float, default=1.0, help="how many days the log covers (default 1)")
    p.add_argument("--out", help="output file (default: standard output)")
    p.add_argument(
        "--id-form",
        choices=ID_FORMS,
        default="mixed",
        help="message ids: 23-char 'new' (Exim ≥ 4.97), 16-char 'old', or 'mixed' (default): the server "
        "is upgraded after ~12%% of the messages, earlier messages keep their old ids",
    )
    p.add_argument(
        "--pid",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the [pid] after the timestamp (log_selector +pid; default on)",
    )
    return p.parse_args(argv)


def generate(args: argparse.Namespace, out: BinaryIO) -> dict:
    start = calendar.timegm(date.fromisoformat(args.start).timetuple())
    end = start + int(args.days * 86400)
    if end <= start:
        raise SystemExit("gen_exim: --days must be positive")
    writer = TimeOrderedWriter(out, start, end, with_pid=args.pid)
    server = MailServer(
        writer,
        Random(args.seed),
        start,
        end,
        args.id_form,
        upgrade_at=time_of_traffic_share(start, end, OLD_ID_SHARE),
    )
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
