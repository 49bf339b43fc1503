/* A compiled fast path for parse/postfix.py's parse_postfix_line (the Python parser stays the reference).
 *
 * parse(line, year_hint=None) answers every line: it reads the common forms itself (the syslog prefix
 * in its classic and RFC 3339 shapes; deliveries, client=, qmgr's from=, message-id=, removed, pickup's
 * uid=, bounce notices; connect, TLS sessions, dnsblog listings and other notes without a queue id;
 * NOQUEUE rejections of smtpd and postscreen; other programs' lines) and hands every other line to the
 * Python parser: other rejections, header checks, expiries, postsuper and proxy lines, a line without a
 * year hint, and any line that is not printable ASCII. fast(line, year_hint=None) returns None for those instead; the tests compare it with the
 * Python parser line for line (tests/test_parse_postfix_c.py).
 *
 * Each helper names the Python function or regular expression it reads like.
 */
#include "_fastparse.h"

enum { F_KIND, F_TIME, F_QUEUE_ID, F_PROGRAM, F_SERVICE, F_HOST, F_FIELDS, F_MESSAGE, F_YEARLESS, F_PID,
       NFIELDS };
static const char *const field_names[NFIELDS] = {
    "kind", "time", "queue_id", "program", "service", "host", "fields", "message", "yearless", "pid"};

static PyTypeObject *line_type;          /* parse.postfix.PostfixLine (a slots dataclass) */
static Py_ssize_t offsets[NFIELDS];
static PyObject *k_connect, *k_client, *k_queued, *k_message_id, *k_removed, *k_deleted, *k_delivery, *k_tls,
    *k_note, *k_other, *k_reject, *k_pickup, *k_notification, *k_dnsbl;
static PyObject *classic_epoch, *iso_epoch;  /* parse.postfix._classic_epoch, _iso_epoch */
static PyObject *services, *service_of;      /* parse.postfix._services (program -> service), _service_of */
static PyObject *python_parse;               /* parse.postfix.parse_postfix_line_py */
static PyObject *s_to, *s_relay, *s_status, *s_from, *s_size, *s_nrcpt, *s_message_id, *s_tls, *s_client,
    *s_orig_client;
static PyObject *s_notification, *s_notice_id, *s_ip, *s_list, *s_reply;
static PyObject *s_action, *s_stage, *s_proto, *s_helo, *s_reject, *s_milter_reject;
static PyObject *s_client_host, *s_client_ip, *s_client_port, *s_orig_client_host, *s_orig_client_ip,
    *s_orig_client_port, *s_peer_host, *s_peer_ip, *s_peer_port;

/* The epoch of the last minute read: classic (month, day, HH:MM, year) and ISO (date, HH:MM, zone). */
static MinuteCache classic_minute, iso_minute;

#define SLOT(o, i) SLOT_AT(o, offsets[i])
#define set_slot(o, i, v) set_slot_at(o, offsets[i], v)

static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* The last line made, kept: when nothing else holds it or its fields any more (the ingest drops each
 * line once fed), the next line is made in it, without allocating an object and a dict per line. */
static PyObject *spare;

static PyObject *new_line(PyObject *kind)
{
    PyObject *o = NULL, *fields = NULL;
    if (spare != NULL && Py_REFCNT(spare) == 1) {
        PyObject *old = SLOT(spare, F_FIELDS);
        if (old != NULL && PyDict_CheckExact(old) && Py_REFCNT(old) == 1) {
            o = spare;    /* spare's reference becomes the caller's */
            spare = NULL;
            fields = Py_NewRef(old);
            PyDict_Clear(fields);
            for (int i = 0; i < NFIELDS; i++)
                Py_CLEAR(SLOT(o, i));
        }
    }
    if (o == NULL) {
        o = line_type->tp_alloc(line_type, 0);
        fields = o == NULL ? NULL : PyDict_New();
        if (fields == NULL) {
            Py_XDECREF(o);
            return NULL;
        }
    }
    Py_INCREF(kind); SLOT(o, F_KIND) = kind;
    Py_INCREF(Py_None); SLOT(o, F_TIME) = Py_None;
    for (int i = F_QUEUE_ID; i <= F_HOST; i++) {
        Py_INCREF(s_empty);
        SLOT(o, i) = s_empty;
    }
    SLOT(o, F_FIELDS) = fields;
    Py_INCREF(s_empty); SLOT(o, F_MESSAGE) = s_empty;
    Py_INCREF(Py_False); SLOT(o, F_YEARLESS) = Py_False;
    Py_INCREF(s_empty); SLOT(o, F_PID) = s_empty;
    Py_XSETREF(spare, Py_NewRef(o));
    return o;
}

static int set_kind(PyObject *o, PyObject *kind)
{
    Py_INCREF(kind);
    return set_slot(o, F_KIND, kind);
}

/* Whether a str made by str_of (compact ASCII) holds the text p[0:n]. */
static inline int holds(PyObject *text, const char *p, Py_ssize_t n)
{
    return PyUnicode_GET_LENGTH(text) == n && memcmp(PyUnicode_DATA(text), p, (size_t)n) == 0;
}

/* p[0:n] as a str; a short one that was made lately is made again from a small table of them (a queue
 * id, a pid, a status or dsn, a client's address: a message's lines repeat them), new reference. The
 * same text is the same value: nothing else can tell, and the str keeps its hash for the dicts it keys. */
#define RECENT 512
#define RECENT_LONGEST 24
static PyObject *recent[RECENT];

static PyObject *recent_str(const char *p, Py_ssize_t n)
{
    if (n > RECENT_LONGEST || n <= 0 || masked_line != NULL)
        return str_of(p, n);
    unsigned h = 2166136261u;    /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    PyObject **slot = &recent[h % RECENT], *was = *slot;
    if (was != NULL && holds(was, p, n))
        return Py_NewRef(was);
    PyObject *text = str_of(p, n);
    if (text != NULL)
        Py_XSETREF(*slot, Py_NewRef(text));
    return text;
}

static int set_str(PyObject *out, int slot, const char *p, Py_ssize_t n)
{
    return set_slot(out, slot, recent_str(p, n));
}

static int put(PyObject *dict, PyObject *key, const char *p, Py_ssize_t n)
{
    PyObject *value = recent_str(p, n);
    if (value == NULL)
        return -1;
    int rc = PyDict_SetItem(dict, key, value);
    Py_DECREF(value);
    return rc;
}

/* The key of a "key=value" field (new reference): the names of delivery and client= lines are made once,
 * with their hash (no str to allocate, hash and free per field); any other name is made. */
static PyObject *k_orig_to, *k_delay, *k_delays, *k_dsn, *k_conn_use, *k_sasl_method, *k_sasl_sender,
    *k_sasl_username;

static PyObject *key_of(const char *p, Py_ssize_t n)
{
    PyObject *known = NULL;
    switch (n) {
    case 2:
        known = p[0] == 't' && p[1] == 'o' ? s_to : NULL;
        break;
    case 3:
        known = memcmp(p, "dsn", 3) == 0 ? k_dsn : NULL;
        break;
    case 5:
        known = memcmp(p, "relay", 5) == 0 ? s_relay : memcmp(p, "delay", 5) == 0 ? k_delay : NULL;
        break;
    case 6:
        known = memcmp(p, "delays", 6) == 0 ? k_delays : NULL;
        break;
    case 7:
        known = memcmp(p, "orig_to", 7) == 0 ? k_orig_to : NULL;
        break;
    case 8:
        known = memcmp(p, "conn_use", 8) == 0 ? k_conn_use : NULL;
        break;
    case 11:
        known = memcmp(p, "sasl_method", 11) == 0 ? k_sasl_method : memcmp(p, "sasl_sender", 11) == 0 ? k_sasl_sender : NULL;
        break;
    case 13:
        known = memcmp(p, "sasl_username", 13) == 0 ? k_sasl_username : NULL;
        break;
    }
    return known != NULL ? Py_NewRef(known) : str_of(p, n);
}

/* dict[key] = p[0:n] as a str, for a key made by the caller (taken over; NULL: an error is set). */
static int put_key(PyObject *dict, PyObject *key, const char *p, Py_ssize_t n)
{
    if (key == NULL)
        return -1;
    int rc = put(dict, key, p, n);
    Py_DECREF(key);
    return rc;
}

/* A new empty fields dict for the line (the Python parser replaces out.fields in these places). */
static PyObject *fresh_fields(PyObject *out)
{
    PyObject *fields = PyDict_New();
    if (fields == NULL || set_slot(out, F_FIELDS, fields) < 0)
        return NULL;
    return fields;
}

/* _client_fields(fields, value, prefix) with split_endpoint: "mx.example.com[192.0.2.1]:25" */
static int client_fields(PyObject *fields, const char *v, Py_ssize_t n, PyObject *k_host, PyObject *k_ip,
                         PyObject *k_port)
{
    Py_ssize_t start = FIND(v, 0, n, "[");
    Py_ssize_t end = FIND(v, start + 1, n, "]");
    if (start < 0 || end < 0)
        return put(fields, k_host, v, n) < 0 || put(fields, k_ip, v, 0) < 0 ? -1 : 0;
    if (put(fields, k_host, v, start) < 0 || put(fields, k_ip, v + start + 1, end - start - 1) < 0)
        return -1;
    if (end + 1 < n && v[end + 1] == ':' && end + 2 < n)
        return put(fields, k_port, v + end + 2, n - end - 2);
    return 0;
}

/* _parse_delivery(out, body): "to=<b>, orig_to=<c>, relay=mx[ip]:25, delay=0.3, ..., status=sent (250 Ok)" */
static PyObject *parse_delivery(PyObject *out, const char *b, Py_ssize_t n)
{
    Py_ssize_t end = FIND(b, 0, n, ", status=");
    if (end < 0)
        return DECLINE;
    PyObject *f = SLOT(out, F_FIELDS);
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t comma = FIND(b, i, end, ", ");
        Py_ssize_t part_end = comma < 0 ? end : comma;
        Py_ssize_t eq = FIND(b, i, part_end, "=");
        if (eq >= 0) {
            const char *v = b + eq + 1;
            Py_ssize_t vn = part_end - eq - 1;
            if (vn >= 2 && v[0] == '<' && v[vn - 1] == '>')
                v++, vn -= 2;
            if (put_key(f, key_of(b + i, eq - i), v, vn) < 0)
                return NULL;
        }
        if (comma < 0)
            break;
        i = comma + 2;
    }
    int has_to = PyDict_Contains(f, s_to), has_relay = PyDict_Contains(f, s_relay);
    if (has_to < 0 || has_relay < 0)
        return NULL;
    if (!has_to || !has_relay)
        return DECLINE;  /* a NOTE with the whole body: Python's */
    if (set_kind(out, k_delivery) < 0)
        return NULL;
    const char *r = b + end + 9;
    Py_ssize_t rn = n - end - 9;
    Py_ssize_t space = FIND(r, 0, rn, " ");
    if (space < 0)
        return put(f, s_status, r, rn) < 0 ? NULL : out;
    if (put(f, s_status, r, space) < 0)
        return NULL;
    const char *t = r + space + 1;
    Py_ssize_t tn = rn - space - 1;
    if (tn > 0 && t[0] == '(') {
        /* "(250 2.0.0 Ok: queued as 4E8FF30001C8)"; a line cut by a newline inside has no ")" */
        if (t[tn - 1] == ')' && tn >= 2)
            t++, tn -= 2;
        else
            t++, tn -= 1;
    }
    return set_str(out, F_MESSAGE, t, tn) < 0 ? NULL : out;
}

/* _parse_client(out, body): "client=mx[ip], sasl_method=PLAIN, sasl_username=alice" */
static PyObject *parse_client(PyObject *out, const char *b, Py_ssize_t n)
{
    if (set_kind(out, k_client) < 0)
        return NULL;
    PyObject *f = SLOT(out, F_FIELDS);
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t comma = FIND(b, i, n, ", ");
        Py_ssize_t part_end = comma < 0 ? n : comma;
        Py_ssize_t eq = FIND(b, i, part_end, "=");
        if (eq >= 0) {
            const char *v = b + eq + 1;
            Py_ssize_t vn = part_end - eq - 1, kn = eq - i;
            int rc;
            if (kn == 6 && memcmp(b + i, "client", 6) == 0)
                rc = client_fields(f, v, vn, s_client_host, s_client_ip, s_client_port);
            else if (kn == 11 && memcmp(b + i, "orig_client", 11) == 0)
                rc = client_fields(f, v, vn, s_orig_client_host, s_orig_client_ip, s_orig_client_port);
            else
                rc = put_key(f, key_of(b + i, kn), v, vn);
            if (rc < 0)
                return NULL;
        }
        if (comma < 0)
            break;
        i = comma + 2;
    }
    return out;
}

static Py_ssize_t digits_end(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    while (i < n && is_digit(s[i]))
        i++;
    return i;
}

/* pickup "uid=0 from=<root>" (older: "sender=root"): for part in body.split(" "): key=value, "<>" stripped
 * from the value's ends; "sender" is named "from" */
static PyObject *parse_pickup(PyObject *out, const char *b, Py_ssize_t n)
{
    if (set_kind(out, k_pickup) < 0)
        return NULL;
    PyObject *f = SLOT(out, F_FIELDS);
    Py_ssize_t i = 0;
    while (i <= n) {
        Py_ssize_t end = i;
        while (end < n && b[end] != ' ')
            end++;
        Py_ssize_t eq = i;
        while (eq < end && b[eq] != '=')
            eq++;
        if (eq < end) {
            const char *v = b + eq + 1, *v_end = b + end;
            while (v < v_end && (*v == '<' || *v == '>'))
                v++;
            while (v_end > v && (v_end[-1] == '<' || v_end[-1] == '>'))
                v_end--;
            int sender = eq - i == 6 && memcmp(b + i, "sender", 6) == 0;
            if (put_key(f, sender ? Py_NewRef(s_from) : key_of(b + i, eq - i), v, v_end - v) < 0)
                return NULL;
        }
        i = end + 1;
    }
    return out;
}

/* bounce "sender non-delivery notification: 766F310031" (and the other _NOTIFICATIONS) */
static PyObject *parse_notification(PyObject *out, const char *b, Py_ssize_t n)
{
    static const char *const notices[] = {"sender non-delivery notification: ", "sender delay notification: ",
                                          "sender delivery status notification: ",
                                          "postmaster non-delivery notification: ", "postmaster delay notification: "};
    for (size_t k = 0; k < sizeof notices / sizeof notices[0]; k++) {
        Py_ssize_t len = (Py_ssize_t)strlen(notices[k]);
        if (!starts(b, n, notices[k]))
            continue;
        /* .strip(): a printable ASCII line has no whitespace but spaces, and none at its end (rstripped) */
        Py_ssize_t i = len, e = n;
        while (i < e && b[i] == ' ')
            i++;
        PyObject *f = fresh_fields(out);
        PyObject *id = f == NULL ? NULL : str_of(b + i, e - i);
        PyObject *what = id == NULL ? NULL : PyUnicode_FromStringAndSize(notices[k], len - 2);
        int rc = what == NULL || set_kind(out, k_notification) < 0 || PyDict_SetItem(f, s_notification, what) < 0
                 || PyDict_SetItem(f, s_notice_id, id) < 0 ? -1 : set_slot(out, F_MESSAGE, Py_NewRef(id));
        Py_XDECREF(what);
        Py_XDECREF(id);
        return rc < 0 ? NULL : out;
    }
    return DECLINE;
}

/* _DNSBLOG_RE.match(body): addr (?P<ip>\S+) listed by domain (?P<list>\S+) as (?P<reply>\S+) ; the line is
 * printable ASCII, so \S is anything but a space. 1 (the fields set), 0 (no match), -1 */
static int dnsblog(PyObject *out, const char *b, Py_ssize_t n)
{
    if (!starts(b, n, "addr "))
        return 0;
    Py_ssize_t ip = 5, ip_end = ip;
    while (ip_end < n && b[ip_end] != ' ')
        ip_end++;
    if (ip_end == ip || !starts(b + ip_end, n - ip_end, " listed by domain "))
        return 0;
    Py_ssize_t list = ip_end + 18, list_end = list;
    while (list_end < n && b[list_end] != ' ')
        list_end++;
    if (list_end == list || !starts(b + list_end, n - list_end, " as "))
        return 0;
    Py_ssize_t reply = list_end + 4, reply_end = reply;
    while (reply_end < n && b[reply_end] != ' ')
        reply_end++;
    if (reply_end == reply)
        return 0;
    PyObject *f = fresh_fields(out);
    if (f == NULL || set_kind(out, k_dnsbl) < 0 || put(f, s_ip, b + ip, ip_end - ip) < 0
        || put(f, s_list, b + list, list_end - list) < 0 || put(f, s_reply, b + reply, reply_end - reply) < 0)
        return -1;
    return 1;
}

/* _parse_queue_line(out, qid, body, service) for the forms read here. */
static PyObject *parse_queue_line(PyObject *out, PyObject *service, const char *b, Py_ssize_t n)
{
    if (starts(b, n, "to="))
        return parse_delivery(out, b, n);
    if (starts(b, n, "client="))
        return parse_client(out, b, n);
    if (starts(b, n, "from=<")) {
        /* _QUEUED_RE: from=<(?P<from>[^>]*)>, size=(?P<size>\d+), nrcpt=(?P<nrcpt>\d+) */
        Py_ssize_t gt = 6;
        while (gt < n && b[gt] != '>')
            gt++;
        if (gt >= n || !starts(b + gt, n - gt, ">, size="))
            return DECLINE;
        Py_ssize_t size = gt + 8, size_end = digits_end(b, n, size);
        if (size_end == size || !starts(b + size_end, n - size_end, ", nrcpt="))
            return DECLINE;
        Py_ssize_t nrcpt = size_end + 8, nrcpt_end = digits_end(b, n, nrcpt);
        if (nrcpt_end == nrcpt)
            return DECLINE;
        PyObject *f = fresh_fields(out);
        if (f == NULL || set_kind(out, k_queued) < 0 || put(f, s_from, b + 6, gt - 6) < 0
            || put(f, s_size, b + size, size_end - size) < 0 || put(f, s_nrcpt, b + nrcpt, nrcpt_end - nrcpt) < 0)
            return NULL;
        return out;
    }
    if (starts(b, n, "message-id=")) {
        Py_ssize_t i = 11, e = n;
        while (i < e && b[i] == ' ')
            i++;
        if (i < e && b[i] == '<') {
            i++;
            if (e > i && b[e - 1] == '>')
                e--;
        }
        PyObject *f = fresh_fields(out);
        if (f == NULL || set_kind(out, k_message_id) < 0 || put(f, s_message_id, b + i, e - i) < 0)
            return NULL;
        return out;
    }
    if (n == 7 && memcmp(b, "removed", 7) == 0) {
        int postsuper = PyUnicode_CompareWithASCIIString(service, "postsuper") == 0;
        return set_kind(out, postsuper ? k_deleted : k_removed) < 0 ? NULL : out;
    }
    if (starts(b, n, "uid=") || starts(b, n, "sender="))
        return parse_pickup(out, b, n);
    /* the actions (reject:, discard:, hold: ...), info: and warning: lines are Python's */
    if (PyUnicode_CompareWithASCIIString(service, "bounce") == 0 && (starts(b, n, "sender ") || starts(b, n, "postmaster ")))
        return parse_notification(out, b, n);
    return DECLINE;
}

/* _TLS_RE.match(body): (?:\w+ )?TLS connection established (?:from|to) (?P<peer>\S+?): (?P<protocol>\S+)
 * with cipher (?P<cipher>\S+) \((?P<bits>\d+)/ ; the peer cannot hold a space, so it ends at the first
 * ": ". Returns 1 and the fields, 0 when it does not match, -1 on error. */
static int tls_at(PyObject *out, const char *b, Py_ssize_t n, Py_ssize_t i)
{
    static const char head[] = "TLS connection established ";
    if (!starts(b + i, n - i, head))
        return 0;
    i += (Py_ssize_t)sizeof(head) - 1;
    if (starts(b + i, n - i, "from "))
        i += 5;
    else if (starts(b + i, n - i, "to "))
        i += 3;
    else
        return 0;
    Py_ssize_t peer = i;
    while (i < n && b[i] != ' ' && !(b[i] == ':' && i + 1 < n && b[i + 1] == ' '))
        i++;
    if (i == peer || i >= n || b[i] != ':')
        return 0;
    Py_ssize_t peer_end = i, protocol = i + 2, protocol_end = protocol;
    while (protocol_end < n && b[protocol_end] != ' ')
        protocol_end++;
    if (protocol_end == protocol || !starts(b + protocol_end, n - protocol_end, " with cipher "))
        return 0;
    Py_ssize_t cipher = protocol_end + 13, cipher_end = cipher;
    while (cipher_end < n && b[cipher_end] != ' ')
        cipher_end++;
    if (cipher_end == cipher || !starts(b + cipher_end, n - cipher_end, " ("))
        return 0;
    Py_ssize_t bits = cipher_end + 2, bits_end = digits_end(b, n, bits);
    if (bits_end == bits || bits_end >= n || b[bits_end] != '/')
        return 0;
    PyObject *f = SLOT(out, F_FIELDS);
    if (set_kind(out, k_tls) < 0
        || client_fields(f, b + peer, peer_end - peer, s_peer_host, s_peer_ip, s_peer_port) < 0)
        return -1;
    /* "protocol:cipher:bits" */
    Py_ssize_t pn = protocol_end - protocol, cn = cipher_end - cipher, bn = bits_end - bits;
    PyObject *tls = PyUnicode_New(pn + 1 + cn + 1 + bn, 127);
    if (tls == NULL)
        return -1;
    char *d = (char *)PyUnicode_DATA(tls);
    memcpy(d, b + protocol, (size_t)pn);
    d[pn] = ':';
    memcpy(d + pn + 1, b + cipher, (size_t)cn);
    d[pn + 1 + cn] = ':';
    memcpy(d + pn + 2 + cn, b + bits, (size_t)bn);
    int rc = PyDict_SetItem(f, s_tls, tls);
    Py_DECREF(tls);
    return rc < 0 ? -1 : 1;
}

static int tls_line(PyObject *out, const char *b, Py_ssize_t n)
{
    /* the optional (?:\w+ ) first, as the regex tries it */
    Py_ssize_t w = 0;
    while (w < n && is_word(b[w]))
        w++;
    if (w > 0 && w < n && b[w] == ' ') {
        int rc = tls_at(out, b, n, w + 1);
        if (rc != 0)
            return rc;
    }
    return tls_at(out, b, n, 0);
}

/* [+-]\d\d(?::?\d\d)? or Z at s[i]: its end, or i when there is none. */
static Py_ssize_t zone_end(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    if (i < n && s[i] == 'Z')
        return i + 1;
    if (i + 2 < n && (s[i] == '+' || s[i] == '-') && is_digit(s[i + 1]) && is_digit(s[i + 2])) {
        Py_ssize_t j = i + 3;
        if (j < n && s[j] == ':')
            j++;
        if (j + 1 < n && is_digit(s[j]) && is_digit(s[j + 1]))
            return j + 2;
        return i + 3;
    }
    return i;
}

static int set_time(PyObject *out, PyObject *stamp)
{
    return set_slot(out, F_TIME, stamp);
}

/* -- texts and times that repeat from line to line, made once ------------------------------------------
 * Most lines of a log name the same host, one of a dozen programs, and the second of the line before.
 * Reusing the str (and its hash: the correlator's keys) or the int saves making, hashing and freeing
 * them per line; what is the same is the same value, so nothing else can tell. */

/* p[0:n] as a str: *last when it holds that text, else a new one that becomes *last (new reference). */
static PyObject *as_before(PyObject **last, const char *p, Py_ssize_t n)
{
    PyObject *was = *last;
    if (was != NULL && holds(was, p, n))
        return Py_NewRef(was);
    PyObject *text = str_of(p, n);
    if (text != NULL && PyUnicode_IS_COMPACT_ASCII(text))
        Py_XSETREF(*last, Py_NewRef(text));
    return text;
}

static PyObject *last_host;
#define PROGRAMS 16
static PyObject *programs[PROGRAMS], *program_services[PROGRAMS];    /* program -> its service */
static int next_program;

/* The program of a line and its service (_services, else _service_of): 0, or -1 with an error set. */
static int program_of(const char *p, Py_ssize_t n, PyObject **program, PyObject **service)
{
    for (int k = 0; k < PROGRAMS && programs[k] != NULL; k++)
        if (holds(programs[k], p, n)) {
            *program = Py_NewRef(programs[k]);
            *service = Py_NewRef(program_services[k]);
            return 0;
        }
    *program = str_of(p, n);
    if (*program == NULL)
        return -1;
    *service = PyDict_GetItemWithError(services, *program);
    if (*service != NULL)
        Py_INCREF(*service);
    else if (PyErr_Occurred() || (*service = PyObject_CallOneArg(service_of, *program)) == NULL) {
        Py_CLEAR(*program);
        return -1;
    }
    if (PyUnicode_CheckExact(*service) && PyUnicode_IS_COMPACT_ASCII(*program)) {
        Py_XSETREF(programs[next_program], Py_NewRef(*program));
        Py_XSETREF(program_services[next_program], Py_NewRef(*service));
        next_program = (next_program + 1) % PROGRAMS;
    }
    return 0;
}

static long long last_epoch = -1;
static PyObject *last_stamp;

/* epoch as an int: the one before when it is the same second (new reference) */
static PyObject *stamp_of(long long epoch)
{
    if (last_stamp != NULL && epoch == last_epoch)
        return Py_NewRef(last_stamp);
    PyObject *stamp = PyLong_FromLongLong(epoch);
    if (stamp != NULL) {
        Py_XSETREF(last_stamp, Py_NewRef(stamp));
        last_epoch = epoch;
    }
    return stamp;
}

/* stamp of a classic "Jun  3 10:40:57" time in year_hint: _classic_epoch, cached per minute. */
static int classic_time(PyObject *out, const char *mon, const char *day, Py_ssize_t day_len, const char *hms,
                        long long year)
{
    char key[MINUTE_KEY] = {0};
    memcpy(key, mon, 3);
    memcpy(key + 3, day, (size_t)day_len);
    memcpy(key + 5, hms, 5);
    memcpy(key + 16, &year, sizeof year);
    long long seconds = (hms[6] - '0') * 10 + (hms[7] - '0'), epoch;
    if (minute_hit(&classic_minute, key, seconds, &epoch))
        return set_time(out, stamp_of(epoch));
    PyObject *m = str_of(mon, 3), *d = str_of(day, day_len), *t = str_of(hms, 8), *y = PyLong_FromLongLong(year);
    PyObject *stamp = (m && d && t && y) ? PyObject_CallFunctionObjArgs(classic_epoch, m, d, t, y, NULL) : NULL;
    Py_XDECREF(m);
    Py_XDECREF(d);
    Py_XDECREF(t);
    Py_XDECREF(y);
    if (stamp == NULL || remember_minute(&classic_minute, key, stamp, seconds) < 0)
        return -1;
    return set_time(out, stamp);
}

/* stamp of an ISO "2022-01-08T19:42:12" time with its zone ("" = local): _iso_epoch, cached per minute. */
static int iso_time(PyObject *out, const char *date, const char *hms, const char *zone, Py_ssize_t zone_len)
{
    char key[MINUTE_KEY] = {0};
    memcpy(key, date, 10);
    memcpy(key + 10, hms, 5);
    memcpy(key + 15, zone, (size_t)zone_len);  /* at most 6: "+01:00" */
    long long seconds = (hms[6] - '0') * 10 + (hms[7] - '0'), epoch;
    if (minute_hit(&iso_minute, key, seconds, &epoch))
        return set_time(out, stamp_of(epoch));
    PyObject *d = str_of(date, 10), *t = str_of(hms, 8);
    PyObject *z = zone_len ? str_of(zone, zone_len) : (Py_INCREF(Py_None), Py_None);
    PyObject *stamp = (d && t && z) ? PyObject_CallFunctionObjArgs(iso_epoch, d, t, z, NULL) : NULL;
    Py_XDECREF(d);
    Py_XDECREF(t);
    Py_XDECREF(z);
    if (stamp == NULL || remember_minute(&iso_minute, key, stamp, seconds) < 0)
        return -1;
    return set_time(out, stamp);
}

static int is_qid_hex(char c) { return is_digit(c) || (c >= 'A' && c <= 'F'); }

/* [0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]: base 52 without vowels, and digits */
static int is_qid_long(char c)
{
    if (is_digit(c))
        return 1;
    char l = (char)(c | 0x20);
    return is_alpha(c) && l != 'a' && l != 'e' && l != 'i' && l != 'o' && l != 'u';
}

/* _TRAILER_RE.match(text) into the fields: "from=<a> to=<b> proto=ESMTP helo=<h>", postscreen's with
 * commas. Every group is optional and nothing has to follow, so each is taken where it matches. */
static int trailer(PyObject *f, const char *t, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    static const char *const bracketed[2] = {"from=<", "to=<"};
    PyObject *const keys[2] = {s_from, s_to};
    for (int k = 0; k < 3; k++) {
        Py_ssize_t v = -1, e = -1;
        if (k < 2 && starts(t + i, n - i, bracketed[k])) {           /* (?:KEY=<([^>]*)>,? ?)? */
            v = i + (Py_ssize_t)strlen(bracketed[k]);
            for (e = v; e < n && t[e] != '>'; e++)
                ;
            if (e >= n)
                continue;
            if (put(f, keys[k], t + v, e - v) < 0)
                return -1;
            i = e + 1;
        } else if (k == 2 && starts(t + i, n - i, "proto=")) {      /* (?:proto=([^\s,]+),? ?)? */
            v = i + 6;
            for (e = v; e < n && t[e] != ' ' && t[e] != ','; e++)
                ;
            if (e == v)
                continue;
            if (put(f, s_proto, t + v, e - v) < 0)
                return -1;
            i = e;
        } else {
            continue;
        }
        if (i < n && t[i] == ',')
            i++;
        if (i < n && t[i] == ' ')
            i++;
    }
    if (starts(t + i, n - i, "helo=<")) {                           /* (?:helo=<([^>]*)>)? */
        Py_ssize_t v = i + 6, e = v;
        while (e < n && t[e] != '>')
            e++;
        if (e < n && put(f, s_helo, t + v, e - v) < 0)
            return -1;
    }
    return 0;
}

/* _find_trailer(text): where "; from=<" (else "; to=<", else "; proto=") last begins, -1 if nowhere. */
static Py_ssize_t find_trailer(const char *r, Py_ssize_t n)
{
    Py_ssize_t at = RFIND(r, 0, n, "; from=<");
    if (at < 0)
        at = RFIND(r, 0, n, "; to=<");
    if (at < 0)
        at = RFIND(r, 0, n, "; proto=");
    return at;
}

/* _parse_action(out, action, body) for reject and milter-reject lines read by _STAGE_RE:
 * "RCPT from mx.example.net[192.0.2.7]:25: 554 5.7.1 <b@x>: Relay access denied; from=<a> to=<b> ..."
 * _STAGE_RE = (?P<stage>[A-Za-z-]+) from (?P<client>[^\s\[]*\[[^\]]*\](?::\d+)?|local): ; each of its
 * runs stops at the one character that may follow it, so the first way it matches is the only one.
 * Header and body checks (_CHECK_RE) are Python's. */
static PyObject *parse_action(PyObject *out, PyObject *action, const char *b, Py_ssize_t n)
{
    PyObject *f = SLOT(out, F_FIELDS);
    if (starts(b, n, "header ") || starts(b, n, "body "))
        return DECLINE;
    if (set_kind(out, k_reject) < 0 || PyDict_SetItem(f, s_action, action) < 0)
        return NULL;
    Py_ssize_t stage_end = 0;
    while (stage_end < n && (is_alpha(b[stage_end]) || b[stage_end] == '-'))
        stage_end++;
    Py_ssize_t c = stage_end + 6, client_end = -1;
    int local = 0;
    if (stage_end > 0 && starts(b + stage_end, n - stage_end, " from ")) {
        Py_ssize_t e = c;
        while (e < n && b[e] != ' ' && b[e] != '[')
            e++;
        if (e < n && b[e] == '[') {
            Py_ssize_t r = e + 1;
            while (r < n && b[r] != ']')
                r++;
            Py_ssize_t q = r + 1;
            if (q + 1 < n && b[q] == ':' && is_digit(b[q + 1]))
                for (q += 2; q < n && is_digit(b[q]); q++)
                    ;
            if (r < n && starts(b + q, n - q, ": "))
                client_end = q;
        }
        if (client_end < 0 && starts(b + c, n - c, "local: "))
            client_end = c + 5, local = 1;
    }
    if (client_end < 0)
        return set_str(out, F_MESSAGE, b, n) < 0 ? NULL : out;
    if (put(f, s_stage, b, stage_end) < 0
        || (!local && client_fields(f, b + c, client_end - c, s_client_host, s_client_ip, s_client_port) < 0))
        return NULL;
    const char *rest = b + client_end + 2;
    Py_ssize_t rn = n - (client_end + 2), at = find_trailer(rest, rn), start = 0;
    if (at >= 0) {
        if (trailer(f, rest + at + 2, rn - at - 2) < 0)
            return NULL;
        rn = at;
    }
    while (start < rn && rest[start] == ' ')    /* .strip() */
        start++;
    while (rn > start && rest[rn - 1] == ' ')
        rn--;
    return set_str(out, F_MESSAGE, rest + start, rn - start) < 0 ? NULL : out;
}

/* _parse_noqueue(out, body): reject and milter-reject lines here, the other actions Python's; any other
 * body is a NOTE with it as the message. */
static PyObject *parse_noqueue(PyObject *out, const char *b, Py_ssize_t n)
{
    static const char *const others[] = {"proxy-reject: ", "discard: ", "milter-discard: ", "hold: ", "milter-hold: "};
    if (starts(b, n, "reject: "))
        return parse_action(out, s_reject, b + 8, n - 8);
    if (starts(b, n, "milter-reject: "))
        return parse_action(out, s_milter_reject, b + 15, n - 15);
    for (size_t k = 0; k < sizeof others / sizeof *others; k++)
        if (starts(b, n, others[k]))
            return DECLINE;
    return set_str(out, F_MESSAGE, b, n) < 0 ? NULL : out;
}

/* The fast path: a PostfixLine, DECLINE, or NULL with an exception set. */
static PyObject *parse_fast(PyObject *line, PyObject *year_hint)
{
    Py_ssize_t n;
    const char *s = ascii_text(line, &n);
    if (s == NULL || n == 0)
        return DECLINE;
    /* _PREFIX_RE, part 1: "Jun  3 10:40:57" | "2022-01-08T19:42:12+00:00" */
    const char *mon = NULL, *day = NULL, *hms, *date = NULL, *zone = NULL;
    Py_ssize_t day_len = 0, zone_len = 0, i;
    if (n > 16 && is_alpha(s[0])) {
        const char *found = NULL;
        for (int k = 0; k < 12 && found == NULL; k++)
            if (memcmp(s, months + 3 * k, 3) == 0)
                found = months + 3 * k;
        if (found == NULL || s[3] != ' ')
            return DECLINE;
        mon = s;
        i = s[4] == ' ' ? 5 : 4;
        day = s + i;
        while (i < n && is_digit(s[i]) && s + i - day < 3)
            i++;
        day_len = s + i - day;
        if (day_len < 1 || day_len > 2 || i >= n || s[i] != ' ')
            return DECLINE;
        i++;
    } else if (n > 20 && is_digit(s[0])) {
        static const char shape[] = "dddd-dd-dd";
        for (int k = 0; k < 10; k++)
            if (shape[k] == 'd' ? !is_digit(s[k]) : s[k] != shape[k])
                return DECLINE;
        if (s[10] != 'T' && s[10] != ' ')
            return DECLINE;
        date = s;
        i = 11;
    } else {
        return DECLINE;
    }
    if (i + 8 > n || !is_digit(s[i]) || !is_digit(s[i + 1]) || s[i + 2] != ':' || !is_digit(s[i + 3])
        || !is_digit(s[i + 4]) || s[i + 5] != ':' || !is_digit(s[i + 6]) || !is_digit(s[i + 7]))
        return DECLINE;
    hms = s + i;
    i += 8;
    if (date != NULL) {
        Py_ssize_t z = zone_end(s, n, i);
        if (z > i)
            zone = s + i, zone_len = z - i, i = z;
    }
    /* (?:[.,]\d+(Z|[+-]\d\d(?::?\d\d)?)?)? — the second zone counts only where the first is absent */
    if (i + 1 < n && (s[i] == '.' || s[i] == ',') && is_digit(s[i + 1])) {
        i = digits_end(s, n, i + 1);
        Py_ssize_t z = zone_end(s, n, i);
        if (z > i) {
            if (zone == NULL)
                zone = s + i, zone_len = z - i;
            i = z;
        }
    }
    if (mon != NULL && zone != NULL)
        return DECLINE;
    if (zone_len > 6)
        return DECLINE;
    /* part 2: " host program[pid]: " */
    if (i >= n || s[i] != ' ')
        return DECLINE;
    Py_ssize_t host = ++i;
    while (i < n && s[i] != ' ')
        i++;
    Py_ssize_t host_end = i;
    if (host_end == host || i >= n)
        return DECLINE;
    Py_ssize_t program = ++i;
    while (i < n && s[i] != ' ' && s[i] != '[' && s[i] != ':')
        i++;
    Py_ssize_t program_end = i, pid = -1, pid_end = -1;
    if (program_end == program)
        return DECLINE;
    if (i < n && s[i] == '[') {
        Py_ssize_t d = digits_end(s, n, i + 1);
        if (d > i + 1 && d < n && s[d] == ']')
            pid = i + 1, pid_end = d, i = d + 1;
    }
    if (i + 1 >= n || s[i] != ':' || s[i + 1] != ' ')
        return DECLINE;
    i += 2;
    /* part 3: the queue id "4AA091855DA0: " | "3mPVKl0Mhjz7sXv: " | "NOQUEUE: " */
    Py_ssize_t qid = -1, qid_end = -1;
    int noqueue = 0;
    {
        Py_ssize_t e = i;
        while (e < n && is_qid_hex(s[e]))
            e++;
        if (e - i >= 6 && e + 1 < n && s[e] == ':' && s[e + 1] == ' ')
            qid = i, qid_end = e;
        else {
            e = i;
            while (e < n && is_qid_long(s[e]))
                e++;
            if (e - i >= 10 && e + 1 < n && s[e] == ':' && s[e + 1] == ' ')
                qid = i, qid_end = e;
            else if (starts(s + i, n - i, "NOQUEUE: "))
                noqueue = 1, i += 9;
        }
        if (qid >= 0)
            i = qid_end + 2;
    }
    PyObject *program_str, *service;
    if (program_of(s + program, program_end - program, &program_str, &service) < 0)
        return NULL;
    PyObject *out = NULL;
    if (!PyUnicode_Check(service)) {
        PyErr_SetString(PyExc_TypeError, "_service_of gave no str");
        goto fail;
    }
    if (PyUnicode_GET_LENGTH(service) == 0) {
        /* another program's line: PostfixLine(OTHER, program=program, host=host) */
        out = new_line(k_other);
        if (out == NULL || set_slot(out, F_PROGRAM, program_str) < 0)
            goto fail_program_taken;
        Py_DECREF(service);
        return set_slot(out, F_HOST, as_before(&last_host, s + host, host_end - host)) < 0 ? (Py_DECREF(out), NULL) : out;
    }
    if (mon != NULL && year_hint == Py_None)
        goto decline;
    out = new_line(k_note);
    if (out == NULL)
        goto fail;
    if (set_slot(out, F_PROGRAM, program_str) < 0)
        goto fail_program_taken;
    program_str = NULL;
    if (set_slot(out, F_SERVICE, service) < 0) {
        service = NULL;
        goto fail;
    }
    service = SLOT(out, F_SERVICE);  /* borrowed from here on */
    if (set_slot(out, F_HOST, as_before(&last_host, s + host, host_end - host)) < 0
        || (pid >= 0 && set_str(out, F_PID, s + pid, pid_end - pid) < 0)
        || (qid >= 0 && set_str(out, F_QUEUE_ID, s + qid, qid_end - qid) < 0))
        goto fail_out;
    if (mon != NULL) {
        long long year = PyLong_AsLongLong(year_hint);
        if (year == -1 && PyErr_Occurred())
            goto fail_out;
        Py_INCREF(Py_True);
        if (set_slot(out, F_YEARLESS, Py_True) < 0 || classic_time(out, mon, day, day_len, hms, year) < 0)
            goto fail_out;
    } else if (iso_time(out, date, hms, zone ? zone : "", zone_len) < 0) {
        goto fail_out;
    }
    const char *b = s + i;
    Py_ssize_t bn = n - i;
    PyObject *result;
    if (noqueue) {
        result = parse_noqueue(out, b, bn);
    } else if (qid >= 0) {
        result = parse_queue_line(out, service, b, bn);
    } else if (starts(b, bn, "connect from ") && PyUnicode_CompareWithASCIIString(service, "smtpd") == 0) {
        result = set_kind(out, k_connect) < 0
                         || client_fields(SLOT(out, F_FIELDS), b + 13, bn - 13, s_client_host, s_client_ip,
                                          s_client_port) < 0
                     ? NULL
                     : out;
    } else if (FIND(b, 0, bn, "TLS connection established ") >= 0) {
        int rc = tls_line(out, b, bn);
        result = rc < 0 ? NULL : rc == 0 ? DECLINE : out;
    } else if (starts(b, bn, "proxy-")) {
        result = DECLINE;
    } else if (PyUnicode_CompareWithASCIIString(service, "dnsblog") == 0) {
        int rc = dnsblog(out, b, bn);
        result = rc < 0 ? NULL : rc == 1 ? out : set_str(out, F_MESSAGE, b, bn) < 0 ? NULL : out;
    } else {
        result = set_str(out, F_MESSAGE, b, bn) < 0 ? NULL : out;
    }
    if (result != out)
        Py_DECREF(out);
    return result;

decline:
    Py_DECREF(program_str);
    Py_DECREF(service);
    return DECLINE;
fail_program_taken:
    Py_XDECREF(out);
    Py_DECREF(service);
    return NULL;
fail_out:
    Py_DECREF(out);
    return NULL;
fail:
    Py_XDECREF(program_str);
    Py_XDECREF(service);
    Py_XDECREF(out);
    return NULL;
}

static int read_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **line, PyObject **year)
{
    *year = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw < 1 || nargs + nkw > 2) {
        PyErr_SetString(PyExc_TypeError, "parse(line, year_hint=None)");
        return -1;
    }
    *line = args[0];
    if (nargs == 2)
        *year = args[1];
    for (Py_ssize_t k = 0; k < nkw; k++) {
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, k), "year_hint") != 0 || nargs != 1) {
            PyErr_SetString(PyExc_TypeError, "parse(line, year_hint=None)");
            return -1;
        }
        *year = args[nargs + k];
    }
    if (*year != Py_None && !PyLong_CheckExact(*year)) {
        PyErr_SetString(PyExc_TypeError, "year_hint must be an int or None");
        return -1;
    }
    return 0;
}

/* The fast path's answer; for a line it leaves, None (ask_python == 0) or the Python parser's answer. */
static PyObject *answer(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int ask_python)
{
    PyObject *line, *year;
    if (line_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_postfixc.setup() was not called");
        return NULL;
    }
    if (read_args(args, nargs, kwnames, &line, &year) < 0)
        return NULL;
    PyObject *result = parse_fast(line, year);
    if (result != DECLINE)
        return result;
    if (ask_python)
        return PyObject_CallFunctionObjArgs(python_parse, line, year, NULL);
    Py_RETURN_NONE;
}

/* -- SyslogYear.parse ------------------------------------------------------------------------------
 * year_parse(years, line): SyslogYear.parse for a line whose time needs no change of year: a line with
 * its own year, or a yearless one within half a year of the line before. Every other line (the first
 * yearless one of a file, New Year, a line logged late across it) goes to the Python method, which
 * parses it again from the same state: nothing is changed here before that is decided. */
enum { Y_REFERENCE, Y_YEAR, Y_LAST, Y_COUNT };
static const char *const year_names[Y_COUNT] = {"reference", "year", "last"};
static PyTypeObject *year_type;       /* parse.postfix.SyslogYear (slots) */
static Py_ssize_t year_at[Y_COUNT];
static PyObject *python_year_parse;   /* SyslogYear.parse, the function */
#define HALF_YEAR (183LL * 86400)

static PyObject *year_parse(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "year_parse(years, line)");
        return NULL;
    }
    PyObject *years = args[0], *line = args[1];
    if (year_type == NULL || line_type == NULL || !Py_IS_TYPE(years, year_type)) {
        PyErr_SetString(PyExc_TypeError, "year_parse needs setup_years() and a SyslogYear");
        return NULL;
    }
    PyObject *year = SLOT_AT(years, year_at[Y_YEAR]), *last = SLOT_AT(years, year_at[Y_LAST]);
    if (year == NULL || last == NULL || !PyLong_CheckExact(year) || !PyUnicode_Check(line))
        return PyObject_CallFunctionObjArgs(python_year_parse, years, line, NULL);
    PyObject *parsed = parse_fast(line, year);
    if (parsed == DECLINE)
        parsed = PyObject_CallFunctionObjArgs(python_parse, line, year, NULL);
    if (parsed == NULL || !Py_IS_TYPE(parsed, line_type))
        return parsed;
    PyObject *stamp = SLOT(parsed, F_TIME), *yearless = SLOT(parsed, F_YEARLESS);
    if (stamp == NULL || yearless == NULL || stamp == Py_None)
        return parsed;
    if (yearless == Py_False) {
        Py_INCREF(stamp);
        Py_SETREF(SLOT_AT(years, year_at[Y_LAST]), stamp);
        return parsed;
    }
    if (yearless == Py_True && PyLong_CheckExact(stamp) && PyLong_CheckExact(last)) {
        int over_s, over_l;
        long long t = PyLong_AsLongLongAndOverflow(stamp, &over_s), l = PyLong_AsLongLongAndOverflow(last, &over_l);
        if (PyErr_Occurred()) {
            Py_DECREF(parsed);
            return NULL;
        }
        if (!over_s && !over_l && t <= LLONG_MAX / 2 && t >= LLONG_MIN / 2 && l <= LLONG_MAX / 2
            && l >= LLONG_MIN / 2 && t >= l - HALF_YEAR && t <= l + HALF_YEAR) {
            Py_INCREF(stamp);
            Py_SETREF(SLOT_AT(years, year_at[Y_LAST]), stamp);
            return parsed;
        }
    }
    Py_DECREF(parsed);
    return PyObject_CallFunctionObjArgs(python_year_parse, years, line, NULL);
}

/* setup_years(SyslogYear, SyslogYear.parse): after setup() */
static PyObject *setup_years(PyObject *self, PyObject *args)
{
    PyObject *type, *fallback;
    if (!PyArg_ParseTuple(args, "O!O", &PyType_Type, &type, &fallback))
        return NULL;
    if (slot_offsets((PyTypeObject *)type, year_names, Y_COUNT, year_at) < 0)
        return NULL;
    Py_INCREF(fallback);
    Py_XSETREF(python_year_parse, fallback);
    Py_INCREF(type);
    Py_XSETREF(year_type, (PyTypeObject *)type);
    Py_RETURN_NONE;
}

static PyObject *fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return answer(args, nargs, kwnames, 0);
}

static PyObject *parse(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return answer(args, nargs, kwnames, 1);
}

/* setup(PostfixLine, kinds, _classic_epoch, _iso_epoch, _services, _service_of, parse_postfix_line_py) */
static PyObject *setup(PyObject *self, PyObject *args)
{
    PyObject *type, *kinds, *classic, *iso, *cache, *of, *fallback;
    if (!PyArg_ParseTuple(args, "O!O!OOO!OO", &PyType_Type, &type, &PyDict_Type, &kinds, &classic, &iso,
                          &PyDict_Type, &cache, &of, &fallback))
        return NULL;
    if (slot_offsets((PyTypeObject *)type, field_names, NFIELDS, offsets) < 0)
        return NULL;
    if (!(k_connect = kind_of(kinds, "connect")) || !(k_client = kind_of(kinds, "client"))
        || !(k_queued = kind_of(kinds, "queued")) || !(k_message_id = kind_of(kinds, "message_id"))
        || !(k_removed = kind_of(kinds, "removed")) || !(k_deleted = kind_of(kinds, "deleted"))
        || !(k_delivery = kind_of(kinds, "delivery")) || !(k_tls = kind_of(kinds, "tls"))
        || !(k_note = kind_of(kinds, "note")) || !(k_other = kind_of(kinds, "other"))
        || !(k_reject = kind_of(kinds, "reject")) || !(k_pickup = kind_of(kinds, "pickup"))
        || !(k_notification = kind_of(kinds, "notification")) || !(k_dnsbl = kind_of(kinds, "dnsbl")))
        return NULL;
    if (s_empty == NULL)
        s_empty = PyUnicode_New(0, 0);
    s_to = interned("to"), s_relay = interned("relay"), s_status = interned("status"), s_from = interned("from");
    s_size = interned("size"), s_nrcpt = interned("nrcpt"), s_message_id = interned("message_id");
    s_tls = interned("tls"), s_client = interned("client"), s_orig_client = interned("orig_client");
    s_client_host = interned("client_host"), s_client_ip = interned("client_ip"), s_client_port = interned("client_port");
    s_orig_client_host = interned("orig_client_host"), s_orig_client_ip = interned("orig_client_ip");
    s_orig_client_port = interned("orig_client_port");
    k_orig_to = interned("orig_to"), k_delay = interned("delay"), k_delays = interned("delays");
    k_dsn = interned("dsn"), k_conn_use = interned("conn_use"), k_sasl_method = interned("sasl_method");
    k_sasl_sender = interned("sasl_sender"), k_sasl_username = interned("sasl_username");
    s_notification = interned("notification"), s_notice_id = interned("notice_id");
    s_ip = interned("ip"), s_list = interned("list"), s_reply = interned("reply");
    s_action = interned("action"), s_stage = interned("stage"), s_proto = interned("proto"), s_helo = interned("helo");
    s_reject = interned("reject"), s_milter_reject = interned("milter-reject");
    s_peer_host = interned("peer_host"), s_peer_ip = interned("peer_ip"), s_peer_port = interned("peer_port");
    Py_INCREF(classic), classic_epoch = classic;
    Py_INCREF(iso), iso_epoch = iso;
    Py_INCREF(cache), services = cache;
    Py_INCREF(of), service_of = of;
    Py_INCREF(fallback), python_parse = fallback;
    Py_INCREF(type), line_type = (PyTypeObject *)type;
    classic_minute.valid = iso_minute.valid = 0;
    for (int k = 0; k < PROGRAMS; k++) {    /* the programs' services came from the _services before */
        Py_CLEAR(programs[k]);
        Py_CLEAR(program_services[k]);
    }
    Py_RETURN_NONE;
}

static PyObject *forget_times(PyObject *self, PyObject *unused)
{
    classic_minute.valid = iso_minute.valid = 0;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS,
     "setup(PostfixLine, kinds, classic_epoch, iso_epoch, services, service_of, python_parse)"},
    {"parse", (PyCFunction)(void (*)(void))parse, METH_FASTCALL | METH_KEYWORDS,
     "parse(line, year_hint=None) -> PostfixLine: the fast path, else the Python parser"},
    {"fast", (PyCFunction)(void (*)(void))fast, METH_FASTCALL | METH_KEYWORDS,
     "fast(line, year_hint=None) -> PostfixLine or None where the line is the Python parser's to read"},
    {"year_parse", (PyCFunction)(void (*)(void))year_parse, METH_FASTCALL,
     "year_parse(years, line) -> PostfixLine: SyslogYear.parse, compiled for lines in the year of the one before"},
    {"setup_years", setup_years, METH_VARARGS, "setup_years(SyslogYear, SyslogYear.parse)"},
    {"forget_times", forget_times, METH_NOARGS, "forget the cached minutes (after the time zone changes)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_postfixc", "Compiled fast path of the Postfix parser.",
                                    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__postfixc(void) { return PyModule_Create(&module); }
