"""The fake world around the generated mail server: its domains, mailboxes, peers, and their replies.

Names are made up but shaped like a shared-hosting server's real traffic; addresses come from the
documentation ranges, RFC 2544's benchmarking range 198.18.0.0/15 and 2001:db8::/32.
Used by gen_exim.py.
"""

from __future__ import annotations

HOSTNAME = "server1.hosting-example.net"
SERVER_IP = "198.51.100.25"
SERVER_IP6 = "2001:db8:25::25"

# Hosting customers' domains; the cPanel user is the first 8 letters of the name.
HOSTED_DOMAINS = tuple(
    """
    shop-example.com bakery-example.net example-dental.com lawfirm-example.org greenleaf-example.com
    example-photo.net cafe-example.com example-builders.com example-travel.org yoga-example.net
    autorepair-example.com example-school.org florist-example.com example-consulting.net petcare-example.com
    example-realty.com brewery-example.com example-fitness.net bookshop-example.org example-plumbing.com
    weddings-example.com example-accountants.co.uk hotel-example.de example-vet.net design-studio-example.com
    example-charity.org garage-example.net example-music.com example.com example.org
""".split()
)
ROLE_MAILBOXES = tuple(
    """
    info sales support office admin billing orders contact hello jobs bookings accounts webmaster newsletter noreply
""".split()
)
FIRST_NAMES = tuple(
    """
    anna ben carlos diana erik fatima george hana ivan julia kenji laura mehmet nina oscar priya quentin rosa
    sven tanya umar vera walter xenia yusuf zoe j.smith m.garcia peter.mueller l.dubois a.rossi k.nowak
""".split()
)
LAST_NAMES = ("Smith", "García", "Müller", "Dubois", "Rossi", "Nowak", "Tanaka", "Okafor", "Ivanova")

# Remote mail providers: (domain, MX hosts, share of the remote people, style of their "250" reply)
PROVIDERS = (
    ("example-webmail.com", ("mx1.example-webmail.com", "mx2.example-webmail.com", "alt1.mx.example-webmail.com"),
     30, "google"),
    ("example-mail.net", ("example-mail-net.mail.protection.example-cloud.com",), 16, "microsoft"),
    ("example-isp.net", ("mx.example-isp.net", "mx-in-02.example-isp.net"), 10, "postfix"),
    ("example.net", ("mail.example.net",), 6, "postfix"),
    ("mail-example.org", ("mx00.mail-example.org", "mx01.mail-example.org"), 6, "postfix"),
    ("bigcorp-example.com", ("bigcorp-example-com.mail.protection.example-cloud.com",), 5, "microsoft"),
    ("example-university.org", ("mx1.example-university.org", "mx2.example-university.org"), 4, "exim"),
    ("example-bank.com", ("mx-a.example-bank.com",), 3, "postfix"),
    ("example-hosting.co.uk", ("mail.example-hosting.co.uk",), 4, "exim"),
    ("example-provider.de", ("mx.example-provider.de", "mx01.example-provider.de"), 5, "postfix"),
    ("example-fastmail.org", ("in1-smtp.example-fastmail.org", "in2-smtp.example-fastmail.org"), 4, "postfix"),
    ("example-shop-supplies.com", ("mail.example-shop-supplies.com",), 3, "exim"),
    ("example-news.com", ("mx.example-news.com",), 2, "postfix"),
    ("example-city.gov.example", ("mailgw.example-city.gov.example",), 2, "postfix"),
)  # fmt: skip
# Bulk senders: (envelope sender template, sending host template); {n} a number, {k} a shard
NEWSLETTER_SENDERS = (
    ("bounce-{n}-{k}@mailer.example-news.com", "o1.mailer.example-news.com"),
    ("noreply@notifications.example-bank.com", "out-3.smtp.example-bank.com"),
    ("newsletter@example-shop-supplies.com", "mail.example-shop-supplies.com"),
    ("msprvs1=19999{n}=bounces-{k}@bounce.example-crm.com", "mta-{k}.bounce.example-crm.com"),
    ("no-reply@accounts.example-webmail.com", "mail-sor-f{k}.example-webmail.com"),
)
SPAM_DOMAINS = tuple(
    """
    cheap-pills-example.info win-prize-example.top example-lottery.xyz seo-offers-example.biz
    crypto-example.click example-loans.online
""".split()
)
NONEXISTENT_DOMAINS = (
    "exmaple.example",
    "gmial.example",
    "example-closed.example",
    "old-shop.example",
)  # RFC 2606
HELO_NAMES = tuple(
    """
    User ylmf-pc DESKTOP-7K2M9QX WIN-5RT4UJ8HD2L localhost laptop MacBook-Pro.local [192.168.1.23] [10.0.0.12]
    android-2f8b9c1d iPhone
""".split()
)

TLS_IN = (  # what our clients negotiate (we do not verify their certificates: CV=no)
    " X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no",
    " X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no",
    " X=TLS1.3:TLS_AES_128_GCM_SHA256:128 CV=no",
    " X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=no",
    " X=TLS1.2:ECDHE-RSA-AES128-GCM-SHA256:128 CV=no",
)
TLS_OUT = (  # what remote MX hosts negotiate with us; "" = no TLS at all
    " X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes",
    " X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes",
    " X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=yes",
    ' X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=yes DN="CN=*.example-cloud.com"',
    " X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no",
    " X=TLS1.2:ECDHE-RSA-AES128-GCM-SHA256:128 CV=no",
    "",
)

# Subjects as Exim logs them in T="...": quotes escaped, UTF-8 as is or octal-escaped, raw RFC 2047.
SUBJECTS = (
    """
Re: Meeting tomorrow
Invoice {n} from {Org}
Your order #{n} has shipped
Quote request
Re: Re: Website update
Fwd: photos from the weekend
Booking confirmation {code}
Password reset request
Weekly newsletter - {month} edition
Re: contract draft v{k}
Payment received - thank you
New contact form submission
Appointment reminder
Re: \\"Spring sale\\" banner
Your \\"{Org}\\" account statement
Delivery failed? Re: parcel {n}
Table reservation for Friday
Job application - {First} {Last}
Re: question about pricing
[Ticket #{n}] Cannot log in
Cron <{cpuser}@server1> /usr/local/bin/php /home/{cpuser}/cron.php
Réservation confirmée n°{n}
Grüße aus München
Заказ №{n} оформлен
ご注文ありがとうございます ({n})
Überweisung erhalten ✔
Café menu – new season 🍂
Factura {n} - pendiente de pago
R\\303\\251union de lundi
=?UTF-8?B?W1NQQU1dIE9mZXJ0YQ==?=
Newsletter: 10 tips for {month}
Your statement is ready
Security alert for {First}
Re: Re: Re: Fwd: the plan
URGENT: please review
Photos
Hi
Thanks!
""".strip("\n").split("\n")
    + [""]
)  # and one without a subject
SPAM_SUBJECTS = (
    "You have WON $1,000,000!!!", "Re: your invoice is overdue", "Cheap meds no prescription",
    "Account suspended - verify now", "Increase your website traffic 500%", "=?utf-8?B?0J/RgNC40LLQtdGC?=",
    "Dear friend",
)  # fmt: skip
ORGS = ("Example Bank", "Shop Example", "Acme Example", "Example Energy", "Example Telecom")
MONTHS = tuple(
    "January February March April May June July August September October November December".split()
)

# Remote replies, as Exim logs them after "defer (-44) H=host [ip]: " or "** addr ... : ".
# {a} = recipient, {d} = its domain, {s} = sender, {z} = size, {ip} = our IP.
GREYLIST = (
    "SMTP error from remote mail server after RCPT TO:<{a}>: 451 4.7.1 Greylisting in action, please come back later",
    "SMTP error from remote mail server after RCPT TO:<{a}>: 450 4.2.0 <{a}>: Recipient address rejected: "
    "Greylisted, see http://postgrey.schweikert.ch/help/{d}.html",
    "SMTP error from remote mail server after RCPT TO:<{a}>: 451 4.7.1 Please try again later",
)
MAILBOX_FULL_REMOTE = (
    "SMTP error from remote mail server after RCPT TO:<{a}>: 452 4.2.2 The email account that you tried to reach "
    "is over quota.",
    "SMTP error from remote mail server after RCPT TO:<{a}>: 452 4.2.2 <{a}>: Mailbox full",
)
RATE_LIMIT = (
    "SMTP error from remote mail server after pipelined MAIL FROM:<{s}> SIZE={z}: 421 4.7.0 Too many messages "
    "from {ip}, try again later",
    "SMTP error from remote mail server after initial connection: 421 4.7.0 [{ip}] Our system has detected an "
    "unusual rate of unsolicited mail originating from your IP address. Try again later.",
)
USER_UNKNOWN = (
    "SMTP error from remote mail server after RCPT TO:<{a}>: 550 5.1.1 <{a}>: Recipient address rejected: "
    "User unknown in virtual mailbox table",
    # A multi-line reply: Exim joins the lines with a literal "\n".
    "SMTP error from remote mail server after RCPT TO:<{a}>: 550-5.1.1 The email account that you tried to reach "
    "does not exist. Please try\\n550-5.1.1 double-checking the recipient's email address for typos or\\n"
    "550 5.1.1 unnecessary spaces.",
    "SMTP error from remote mail server after RCPT TO:<{a}>: 550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
    "SMTP error from remote mail server after RCPT TO:<{a}>: 550 No Such User Here",
)
BLOCKLISTED = (
    "SMTP error from remote mail server after RCPT TO:<{a}>: 554 5.7.1 Service unavailable; Client host [{ip}] "
    "blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/{ip}",
    "SMTP error from remote mail server after MAIL FROM:<{s}> SIZE={z}: 550 5.7.1 Client host [{ip}] blocked "
    "using bl.spamcop.net",
    "SMTP error from remote mail server after RCPT TO:<{a}>: 550 5.7.606 Access denied, banned sending IP [{ip}]. "
    "To request removal from this list please visit https://sender.example-cloud.com/",
)

# Our own SMTP-time refusals (no message id): (kind, text). Every text is one eximstats classifies
# (its "Rejected mail by reason" shows none as "Unknown").
RCPT_REJECTIONS = (
    ("relay", "relay not permitted"),
    ("dnsbl", "rejected found in dnsbl zen.spamhaus.org"),
    ("dnsbl", "JunkMail rejected - {ip} is listed at zen.spamhaus.org (127.0.0.4)"),
    ("dnsbl", "{ip} is listed at bl.spamcop.net (127.0.0.2)"),
    ("nouser", "No Such User Here"),
    ("unrouteable", "Unrouteable address"),
    ("sender_verify", "Sender verify failed"),
)
DATA_REJECTIONS = (
    "This message contains a virus (Sanesecurity.Phishing.Bank.4217.UNOFFICIAL).",
    "This message contains a virus (Win.Trojan.Agent-1076542).",
    "Your message has been rejected because it appears to be spam",
    "Message rejected: SPF check failed for sending domain",
)

# Relative arrival rate by hour of day (local time): quiet nights, busy office hours.
HOURLY = (0.25, 0.2, 0.18, 0.18, 0.2, 0.3, 0.55, 0.9, 1.35, 1.6, 1.65, 1.6,
          1.4, 1.5, 1.6, 1.55, 1.45, 1.25, 1.0, 0.85, 0.75, 0.6, 0.45, 0.33)  # fmt: skip
WEEKEND_SHARE = 0.6  # a Saturday or Sunday carries 60 % of a weekday's mail
