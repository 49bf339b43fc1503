/* A compiled fast path for parse/exim.py's parse_exim_line (the Python parser stays the reference).
 *
 * parse(line) answers every line: it reads the common line forms itself (arrivals, deliveries,
 * deferrals, failures, Completed, notes, SMTP-time rejections) and hands every other line to the Python
 * parser. It reads a line itself only when the line is printable ASCII, where str and byte semantics
 * agree, or an arrival whose only other characters are in its subject (parse_masked); anything else
 * (other non-ASCII text, control characters, syslog wrappers, split [n/m] lines, frozen and cancelled
 * lines, a host inside a deferral's text) goes to Python.
 *
 * fast(line) is the same but returns None instead of asking Python: the tests compare it with the
 * Python parser on every corpus line and on generated lines (tests/test_parse_exim_c.py).
 *
 * Each helper below names the Python function or regular expression it reads like; the comments say
 * why a greedy, one-pass scan gives the same match as the backtracking regex.
 */
#include "_fastparse.h"

enum { F_KIND, F_TIME, F_MSGID, F_FLAG, F_ADDRESS, F_ORIG, F_PARENT, F_FIELDS, F_RECIPIENTS, F_MESSAGE,
       F_PART, F_PARTS, NFIELDS };
static const char *const field_names[NFIELDS] = {
    "kind", "time", "msgid", "flag", "address", "orig", "parent", "fields", "recipients", "message",
    "part", "parts"};

static PyTypeObject *line_type;          /* parse.exim.EximLine (a slots dataclass) */
static Py_ssize_t offsets[NFIELDS];      /* where each slot lives in an instance */
static PyObject *k_arrival, *k_delivery, *k_defer, *k_failure, *k_completed, *k_note, *k_unknown, *k_spamscore,
    *k_rejected;
static PyObject *fl_arrival, *fl_defer, *fl_failure, *fl_deliv[4];  /* "<=", "==", "**", "=>" "->" ">>" "*>" */
static PyObject *s_H, *s_from, *s_errno, *s_DT, *s_F;
static PyObject *local_epoch;            /* parse.exim.local_epoch */
static PyObject *python_parse;           /* parse.exim.parse_exim_line_py */
static char **note_prefixes;             /* parse.exim._NOTE_PREFIXES */
static Py_ssize_t *note_prefix_lens;
static Py_ssize_t note_prefix_count;

/* The epoch of the last minute read without a zone: "YYYY-MM-DD HH:MM". */
static MinuteCache local_minute;

#define SLOT(o, i) SLOT_AT(o, offsets[i])
#define set_slot(o, i, v) set_slot_at(o, offsets[i], v)

static PyObject *new_line(void)
{
    PyObject *o = line_type->tp_alloc(line_type, 0);
    if (o == NULL)
        return NULL;
    PyObject *fields = PyDict_New(), *recipients = PyList_New(0);
    if (fields == NULL || recipients == NULL) {
        Py_XDECREF(fields);
        Py_XDECREF(recipients);
        Py_DECREF(o);
        return NULL;
    }
    Py_INCREF(k_note); SLOT(o, F_KIND) = k_note;
    Py_INCREF(Py_None); SLOT(o, F_TIME) = Py_None;
    for (int i = F_MSGID; i <= F_PARENT; i++) {
        Py_INCREF(s_empty);
        SLOT(o, i) = s_empty;
    }
    SLOT(o, F_FIELDS) = fields;
    SLOT(o, F_RECIPIENTS) = recipients;
    Py_INCREF(s_empty); SLOT(o, F_MESSAGE) = s_empty;
    SLOT(o, F_PART) = PyLong_FromLong(0);
    SLOT(o, F_PARTS) = PyLong_FromLong(0);
    return o;
}

static int set_kind(PyObject *o, PyObject *kind)
{
    Py_INCREF(kind);
    return set_slot(o, F_KIND, kind);
}

/* _QUOTED = "[^"\\]*(?:\\.[^"\\]*)*" at s[i]: the index after the closing quote, or -1. A backslash
 * takes the next character whatever it is; no shorter match can end at an earlier quote, so the one
 * scan is the regex's answer. */
static Py_ssize_t quoted_end(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    if (i >= n || s[i] != '"')
        return -1;
    for (i++; i < n; i++) {
        if (s[i] == '\\') {
            if (++i >= n)
                return -1;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return -1;
}

/* " key=" at s[i] ([A-Za-z][A-Za-z0-9_]*=): the index after '=', or -1. */
static Py_ssize_t key_end(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    if (i + 2 >= n || s[i] != ' ' || !is_alpha(s[i + 1]))
        return -1;
    Py_ssize_t j = i + 2;
    while (j < n && is_word(s[j]))
        j++;
    return j < n && s[j] == '=' ? j + 1 : -1;
}

/* _HELO = \((?:[^()]|\([^()]*\))*\) at s[i]: the index after it, or -1. */
static Py_ssize_t helo_end(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    if (i >= n || s[i] != '(')
        return -1;
    for (Py_ssize_t r = i + 1; r < n; r++) {
        if (s[r] == ')')
            return r + 1;
        if (s[r] == '(') {
            Py_ssize_t t = r + 1;
            while (t < n && s[t] != '(' && s[t] != ')')
                t++;
            if (t >= n || s[t] != ')')
                return -1;
            r = t;
        }
    }
    return -1;
}

/* The group of _H_RE, " H=((?:[^\s(\[]\S* ?)?(?:DS )?(?:_HELO ?)?(?:\[[^\]]*\](?::\w+)?\*?)?)", from s[i]:
 * its end. Every part is optional and nothing follows, so each part is taken where it matches. */
static Py_ssize_t h_value_end(const char *s, Py_ssize_t n, Py_ssize_t q)
{
    if (q < n && s[q] != ' ' && s[q] != '(' && s[q] != '[') {
        q++;
        while (q < n && s[q] != ' ')
            q++;
        if (q < n && s[q] == ' ')
            q++;
    }
    if (q + 3 <= n && memcmp(s + q, "DS ", 3) == 0)
        q += 3;
    Py_ssize_t h = helo_end(s, n, q);
    if (h >= 0) {
        q = h;
        if (q < n && s[q] == ' ')
            q++;
    }
    if (q < n && s[q] == '[') {
        Py_ssize_t r = q + 1;
        while (r < n && s[r] != ']')
            r++;
        if (r < n) {
            q = r + 1;
            if (q + 1 < n && s[q] == ':' && is_word(s[q + 1])) {
                q += 2;
                while (q < n && is_word(s[q]))
                    q++;
            }
            if (q < n && s[q] == '*')
                q++;
        }
    }
    return q;
}

/* What parse_masked checks after reading a stand-in line: where the T="..." values were (the quotes
 * included) and where the H= value's scan went. */
#define MAX_SUBJECTS 4
static Py_ssize_t subject_at[MAX_SUBJECTS], subject_end[MAX_SUBJECTS], h_at, h_end;
static int subjects, subjects_overflow;

/* _fields(text): dict(_FIELD_RE.findall(text)), then H= from the first " H=" (_H_RE.search) with its
 * trailing blanks and colons stripped. _FIELD_RE = ' ([A-Za-z][A-Za-z0-9_]*)=(_QUOTED|\S*)'. */
static int read_fields(PyObject *fields, const char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t v = key_end(s, n, i);
        if (v < 0) {
            i++;
            continue;
        }
        Py_ssize_t end = quoted_end(s, n, v);
        if (end < 0) {
            end = v;
            while (end < n && s[end] != ' ')
                end++;
        } else if (masked_line != NULL && v - 1 - (i + 1) == 1 && s[i + 1] == 'T') {
            if (subjects == MAX_SUBJECTS)
                subjects_overflow = 1;
            else
                subject_at[subjects] = s + v - masked_base, subject_end[subjects++] = s + end - masked_base;
        }
        PyObject *key = str_of(s + i + 1, v - 1 - (i + 1));
        PyObject *value = str_of(s + v, end - v);
        int rc = (key && value) ? PyDict_SetItem(fields, key, value) : -1;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc < 0)
            return -1;
        i = end;
    }
    int has_h = PyDict_Contains(fields, s_H);
    if (has_h <= 0)
        return has_h;
    Py_ssize_t h = FIND(s, 0, n, " H=");
    if (h < 0)
        return 0;
    Py_ssize_t start = h + 3, end = h_value_end(s, n, start);
    if (masked_line != NULL)
        h_at = s + h - masked_base, h_end = s + end - masked_base;
    while (end > start && (s[end - 1] == ' ' || s[end - 1] == ':'))
        end--;
    PyObject *value = str_of(s + start, end - start);
    if (value == NULL)
        return -1;
    int rc = PyDict_SetItem(fields, s_H, value);
    Py_DECREF(value);
    return rc;
}

static int set_fields(PyObject *out, const char *s, Py_ssize_t n)
{
    return read_fields(SLOT(out, F_FIELDS), s, n);
}

static int set_str(PyObject *out, int slot, const char *p, Py_ssize_t n)
{
    return set_slot(out, slot, str_of(p, n));
}

/* _quoted_values_end(rest): the index of the closing quote of the last ' key="value"' found by
 * finditer (-1 if none). */
static Py_ssize_t quoted_values_end(const char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0, last = 0;
    while (i < n) {
        Py_ssize_t v = key_end(s, n, i);
        Py_ssize_t end = v >= 0 ? quoted_end(s, n, v) : -1;
        if (end < 0) {
            i++;
            continue;
        }
        last = end;
        i = end;
    }
    return last - 1;
}

/* out.recipients from the tail after " for ": _RECIPIENT_RE.findall (_QUOTED\S*|\S+) when it has a
 * quote, else split(); on printable ASCII both split at spaces. */
static int read_recipients(PyObject *out, const char *s, Py_ssize_t n)
{
    PyObject *list = SLOT(out, F_RECIPIENTS);
    int quotes = memchr(s, '"', (size_t)n) != NULL;
    Py_ssize_t i = 0;
    while (i < n) {
        if (s[i] == ' ') {
            i++;
            continue;
        }
        Py_ssize_t end = quotes ? quoted_end(s, n, i) : -1;
        if (end < 0)
            end = i;
        while (end < n && s[end] != ' ')
            end++;
        PyObject *word = str_of(s + i, end - i);
        if (word == NULL || PyList_Append(list, word) < 0) {
            Py_XDECREF(word);
            return -1;
        }
        Py_DECREF(word);
        i = end;
    }
    return 0;
}

/* _parse_arrival(out, rest) */
static PyObject *parse_arrival(PyObject *out, const char *r, Py_ssize_t n)
{
    Py_ssize_t sp = FIND(r, 3, n, " ");
    Py_ssize_t a_end = sp > 0 ? sp : n;
    if (!(a_end - 3 == 2 && r[3] == '<' && r[4] == '>'))
        if (set_str(out, F_ADDRESS, r + 3, a_end - 3) < 0)
            return NULL;
    if (sp < 0)
        return out;
    Py_ssize_t last_quote = RFIND(r, 0, n, "\"");
    Py_ssize_t tail_at = n;
    Py_ssize_t i = RFIND(r, 0, n, " for ");
    if (i >= 0 && i < last_quote)
        last_quote = quoted_values_end(r, n);
    if (i > last_quote) {
        if (read_recipients(out, r + i + 5, n - (i + 5)) < 0)
            return NULL;
        tail_at = i;
    }
    Py_ssize_t j = RFIND(r, 0, tail_at, " from <");
    if (j > last_quote) {
        Py_ssize_t k = FIND(r, j, n, ">");
        if (k > 0) {
            if (set_fields(out, r + sp, j - sp) < 0)
                return NULL;
            PyObject *from = str_of(r + j + 7, k - (j + 7));
            if (from == NULL)
                return NULL;
            PyObject *had = PyDict_SetDefault(SLOT(out, F_FIELDS), s_from, from);
            Py_DECREF(from);
            return had == NULL ? NULL : out;
        }
        tail_at = j;
    }
    if (set_fields(out, r + sp, tail_at - sp) < 0)
        return NULL;
    return out;
}

/* The lookahead of _ADDR_RE at s[q]: (?=:? KEY=|: | :| defer \(| routing defer|:?\Z) */
static int addr_follows(const char *s, Py_ssize_t n, Py_ssize_t q)
{
    Py_ssize_t r = (q < n && s[q] == ':') ? q + 1 : q;
    if (key_end(s, n, r) >= 0)
        return 1;
    if (q + 2 <= n && (memcmp(s + q, ": ", 2) == 0 || memcmp(s + q, " :", 2) == 0))
        return 1;
    if (q + 8 <= n && memcmp(s + q, " defer (", 8) == 0)
        return 1;
    if (q + 14 <= n && memcmp(s + q, " routing defer", 14) == 0)
        return 1;
    return q == n || (q + 1 == n && s[q] == ':');
}

/* The lookahead of _DELIVERED_ADDR_RE at s[q]: (?= KEY=| PRDR| K |\Z) */
static int delivered_follows(const char *s, Py_ssize_t n, Py_ssize_t q)
{
    if (key_end(s, n, q) >= 0)
        return 1;
    if (q + 5 <= n && memcmp(s + q, " PRDR", 5) == 0)
        return 1;
    if (q + 3 <= n && memcmp(s + q, " K ", 3) == 0)
        return 1;
    return q == n;
}

typedef struct {
    Py_ssize_t addr_end, parent_start, parent_end, orig_start, orig_end, end;
} AddrMatch;

/* The optional " <orig>" then the lookahead, with and without orig (the regex's order). */
static int try_orig(const char *s, Py_ssize_t n, Py_ssize_t p, int delivered, AddrMatch *m)
{
    if (p + 2 <= n && s[p] == ' ' && s[p + 1] == '<') {
        Py_ssize_t t = p + 2;
        while (t < n && s[t] != '<' && s[t] != '>')
            t++;
        if (t < n && s[t] == '>' && (delivered ? delivered_follows(s, n, t + 1) : addr_follows(s, n, t + 1))) {
            m->orig_start = p + 2, m->orig_end = t, m->end = t + 1;
            return 1;
        }
    }
    if (delivered ? delivered_follows(s, n, p) : addr_follows(s, n, p)) {
        m->orig_start = m->orig_end = -1, m->end = p;
        return 1;
    }
    return 0;
}

/* After the address ends at e: the optional " (parent)" (taken first), then try_orig. */
static int try_after_addr(const char *s, Py_ssize_t n, Py_ssize_t e, int delivered, AddrMatch *m)
{
    m->addr_end = e;
    if (e + 2 <= n && s[e] == ' ' && s[e + 1] == '(') {
        Py_ssize_t t = e + 2;
        while (t < n && s[t] != '(' && s[t] != ')')
            t++;
        if (t < n && s[t] == ')') {
            m->parent_start = e + 2, m->parent_end = t;
            if (try_orig(s, n, t + 1, delivered, m))
                return 1;
        }
    }
    m->parent_start = m->parent_end = -1;
    return try_orig(s, n, e, delivered, m);
}

/* _ADDR_RE / _DELIVERED_ADDR_RE .match(body): (?P<addr>:[a-z]+:|.+?)(?: \((?P<parent>[^()]*)\))?
 * (?: <(?P<orig>[^<>]*)>)? and the lookahead, tried in the regex's order. */
static int match_addr(const char *s, Py_ssize_t n, int delivered, AddrMatch *m)
{
    if (n >= 3 && s[0] == ':' && s[1] >= 'a' && s[1] <= 'z') {
        Py_ssize_t e = 2;
        while (e < n && s[e] >= 'a' && s[e] <= 'z')
            e++;
        if (e < n && s[e] == ':' && try_after_addr(s, n, e + 1, delivered, m))
            return 1;
    }
    for (Py_ssize_t e = 1; e <= n; e++)
        if (try_after_addr(s, n, e, delivered, m))
            return 1;
    return 0;
}

/* The address (b[0:end]) and the parent and original address the match found. */
static int set_address(PyObject *out, const char *b, Py_ssize_t end, const AddrMatch *m)
{
    if (set_str(out, F_ADDRESS, b, end) < 0)
        return -1;
    if (m->parent_start >= 0 && set_str(out, F_PARENT, b + m->parent_start, m->parent_end - m->parent_start) < 0)
        return -1;
    if (m->orig_start >= 0 && set_str(out, F_ORIG, b + m->orig_start, m->orig_end - m->orig_start) < 0)
        return -1;
    return 0;
}

/* _parse_outcome(out, rest) */
static PyObject *parse_outcome(PyObject *out, int delivery, int defer, const char *r, Py_ssize_t rn)
{
    const char *b = r + 3;
    Py_ssize_t n = rn - 3;
    AddrMatch m;
    if (!match_addr(b, n, delivery, &m)) {
        if (set_kind(out, k_unknown) < 0)
            return NULL;
        return out;
    }
    Py_ssize_t addr_end = m.addr_end;
    Py_ssize_t pos = m.end;
    if (delivery) {
        if (pos == n && m.orig_start == m.orig_end) {  /* no orig, or an empty "<>" */
            /* "=> blackhole (DATA ACL discarded recipients): <log_message>": no fields follow */
            Py_ssize_t c = FIND(b, 0, addr_end, "): ");
            if (c >= 0) {
                Py_ssize_t paren = FIND(b, 0, c, " (");
                if (paren >= 0) {
                    if (set_str(out, F_ADDRESS, b, paren) < 0 || set_str(out, F_PARENT, b + paren + 2, c - paren - 2) < 0
                        || set_str(out, F_MESSAGE, b + c + 3, addr_end - c - 3) < 0)
                        return NULL;
                } else if (set_str(out, F_ADDRESS, b, addr_end) < 0) {
                    return NULL;
                }
                if (m.parent_start >= 0 && paren < 0
                    && set_str(out, F_PARENT, b + m.parent_start, m.parent_end - m.parent_start) < 0)
                    return NULL;
                return out;
            }
        }
        if (set_address(out, b, addr_end, &m) < 0)
            return NULL;
        return set_fields(out, b + pos, n - pos) < 0 ? NULL : out;
    }
    /* The error text follows the first ": " after the address ("[ip]: ", "(-44): ", " : ", "addr: "). */
    Py_ssize_t colon = FIND(b, pos ? pos - 1 : 0, n, ": ");
    Py_ssize_t ft_end = colon < 0 ? n : (colon < pos ? pos : colon);
    const char *ft = b + pos;
    Py_ssize_t ftn = ft_end - pos;
    Py_ssize_t msg_start = n, msg_end = n;
    if (colon >= 0) {
        msg_start = colon + 2;
        while (msg_start < n && b[msg_start] == ' ')
            msg_start++;
    }
    if (set_fields(out, ft, ftn) < 0)
        return NULL;
    PyObject *fields = SLOT(out, F_FIELDS);
    /* A host inside the text ("defer (110): Connection timed out H=mx [ip] ...") is Python's to read. */
    int has_h = PyDict_Contains(fields, s_H);
    if (has_h < 0)
        return NULL;
    if (!has_h && FIND(b, msg_start, msg_end, " H=") >= 0)
        return DECLINE;
    Py_ssize_t a_end = addr_end;
    if (a_end > 0 && b[a_end - 1] == ':')
        a_end--;
    if (set_address(out, b, a_end, &m) < 0)
        return NULL;
    if (defer) {
        Py_ssize_t d = FIND(ft, 0, ftn, "defer (");
        if (d >= 0) {
            Py_ssize_t e = FIND(ft, d, ftn, ")");
            if (e > 0) {
                PyObject *errno_ = str_of(ft + d + 7, e - d - 7);
                if (errno_ == NULL || PyDict_SetItem(fields, s_errno, errno_) < 0) {
                    Py_XDECREF(errno_);
                    return NULL;
                }
                Py_DECREF(errno_);
            }
        }
    }
    /* Exim 4.96 logs the delivery time after a failure's text: "...: 550 User unknown DT=0.000s" */
    Py_ssize_t dt = RFIND(b, msg_start, msg_end, " DT=");
    if (dt >= 0) {
        Py_ssize_t q = dt + 4, v = q;
        while (q < msg_end && is_digit(b[q]))
            q++;
        if (q > v) {
            if (q + 1 < msg_end && b[q] == '.' && is_digit(b[q + 1])) {
                q += 2;
                while (q < msg_end && is_digit(b[q]))
                    q++;
            }
            while (q < msg_end && b[q] >= 'a' && b[q] <= 'z')
                q++;
            if (q == msg_end) {
                PyObject *value = str_of(b + v, q - v);
                if (value == NULL)
                    return NULL;
                PyObject *had = PyDict_SetDefault(fields, s_DT, value);
                Py_DECREF(value);
                if (had == NULL)
                    return NULL;
                msg_end = dt;
            }
        }
    }
    if (set_str(out, F_MESSAGE, b + msg_start, msg_end - msg_start) < 0)
        return NULL;
    return out;
}

/* -?\d+(?:\.\d+)? at s[i]: its end, or -1. */
static Py_ssize_t number_end(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !is_digit(s[i]))
        return -1;
    while (i < n && is_digit(s[i]))
        i++;
    if (i + 1 < n && s[i] == '.' && is_digit(s[i + 1])) {
        i += 2;
        while (i < n && is_digit(s[i]))
            i++;
    }
    return i;
}

/* _SPAM_SCORE_RE.search: \((?P<score>-?\d+(?:\.\d+)?)\)"?\s*\Z on a line without trailing blanks: the
 * text ends in "(score)" or "(score)\"", and the only start that can match is the last "(". */
static int spam_score(const char *s, Py_ssize_t n, Py_ssize_t *start, Py_ssize_t *end)
{
    Py_ssize_t close = n > 0 && s[n - 1] == '"' ? n - 2 : n - 1;
    if (close < 0 || s[close] != ')')
        return 0;
    Py_ssize_t open = RFIND(s, 0, close, "(");
    if (open < 0 || number_end(s, close, open + 1) != close)
        return 0;
    *start = open + 1, *end = close;
    return 1;
}

/* _SA_SCORE_RE.search: the first "score=" followed by -?\d+(?:\.\d+)? */
static int sa_score(const char *s, Py_ssize_t n, Py_ssize_t *start, Py_ssize_t *end)
{
    for (Py_ssize_t i = FIND(s, 0, n, "score="); i >= 0; i = FIND(s, i + 1, n, "score=")) {
        Py_ssize_t e = number_end(s, n, i + 6);
        if (e >= 0) {
            *start = i + 6, *end = e;
            return 1;
        }
    }
    return 0;
}

/* _read_fields(text, 0, False)'s fields: _TOKEN_RE.finditer, where _TOKEN_RE =
 * (?:([A-Za-z][A-Za-z0-9_]*)=(_QUOTED|\S*)|(_QUOTED|\S+)); the first value of a key is kept, and the bare
 * words "(helo)" and "[ip]:port" that follow H= are added to it. finditer tries a position only after
 * the previous match; a space starts no token, and each alternative matches in one way at most. */
static int read_tokens(PyObject *fields, const char *s, Py_ssize_t n)
{
    int after_h = 0;    /* last_key == "H" */
    Py_ssize_t i = 0;
    while (i < n) {
        if (s[i] == ' ') {
            i++;
            continue;
        }
        Py_ssize_t v = -1;
        if (is_alpha(s[i])) {
            Py_ssize_t j = i + 1;
            while (j < n && is_word(s[j]))
                j++;
            if (j < n && s[j] == '=')
                v = j + 1;
        }
        Py_ssize_t start = v >= 0 ? v : i, end = quoted_end(s, n, start);
        if (end < 0)
            for (end = start; end < n && s[end] != ' '; end++)
                ;
        int rc = 0;
        if (v >= 0) {    /* key=value */
            PyObject *key = str_of(s + i, v - 1 - i), *value = str_of(s + v, end - v);
            PyObject *had = key && value ? PyDict_SetDefault(fields, key, value) : NULL;
            rc = had == NULL ? -1 : 0;
            Py_XDECREF(key);
            Py_XDECREF(value);
            after_h = v - 1 - i == 1 && s[i] == 'H';
        } else if (after_h && (s[i] == '(' || s[i] == '[')) {    /* fields["H"] += " " + word */
            PyObject *h = PyDict_GetItemWithError(fields, s_H);
            if (h == NULL) {
                rc = PyErr_Occurred() ? -1 : 0;
                after_h = 0;
            } else {
                PyObject *word = str_of(s + i, end - i);
                PyObject *joined = word ? PyUnicode_FromFormat("%U %U", h, word) : NULL;
                rc = joined == NULL ? -1 : PyDict_SetItem(fields, s_H, joined);
                Py_XDECREF(word);
                Py_XDECREF(joined);
            }
        } else {
            after_h = 0;
        }
        if (rc < 0)
            return -1;
        i = end;
    }
    return 0;
}

/* Where _REJECT_RE's tail matches after its "what" ends at w:
 * (?: (?P<addr><[^>]*>|\S+?))?(?::\s?(?P<reason>.*)|\s*\Z), tried in the regex's order (the address
 * first; "<...>" before the shortest non-blank run; then none). The line has no trailing blanks, so
 * \s*\Z is the end. 1 and the groups' bounds (-1: the group did not take part), or 0. */
typedef struct { Py_ssize_t addr, addr_end, reason; } RejectTail;

static int reject_end(const char *s, Py_ssize_t n, Py_ssize_t e, RejectTail *t)
{
    if (e == n) {
        t->reason = -1;
        return 1;
    }
    if (s[e] != ':')
        return 0;
    t->reason = e + 1 < n && s[e + 1] == ' ' ? e + 2 : e + 1;
    return 1;
}

static int reject_tail(const char *s, Py_ssize_t n, Py_ssize_t w, RejectTail *t)
{
    if (w < n && s[w] == ' ') {
        Py_ssize_t a = w + 1;
        t->addr = a;
        if (a < n && s[a] == '<') {
            Py_ssize_t g = a + 1;
            while (g < n && s[g] != '>')
                g++;
            if (g < n && reject_end(s, n, g + 1, t)) {
                t->addr_end = g + 1;
                return 1;
            }
        }
        for (Py_ssize_t e = a + 1; e <= n && s[e - 1] != ' '; e++)
            if (reject_end(s, n, e, t)) {
                t->addr_end = e;
                return 1;
            }
    }
    t->addr = t->addr_end = -1;
    return reject_end(s, n, w, t);
}

/* _REJECT_RE's "what" alternatives after "rejected " at q, in the regex's order, each with the tail:
 * RCPT|MAIL|after DATA|by local_scan\(\)|by non-SMTP ACL|\(?by [^:]*ACL\)?|EHLO|HELO|connection.
 * The end of "what" (and 1), or 0 when no alternative matches with its tail. */
static int reject_what(const char *s, Py_ssize_t n, Py_ssize_t q, Py_ssize_t *w, RejectTail *t)
{
    static const char *const fixed[] = {"RCPT", "MAIL", "after DATA", "by local_scan()", "by non-SMTP ACL"};
    static const char *const last[] = {"EHLO", "HELO", "connection"};
    for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++)
        if (starts(s + q, n - q, fixed[k]) && reject_tail(s, n, *w = q + (Py_ssize_t)strlen(fixed[k]), t))
            return 1;
    /* \(?by [^:]*ACL\)? : "(" taken when there (without it "by " cannot follow), [^:]* from the longest */
    Py_ssize_t b = q + (q < n && s[q] == '(');
    if (starts(s + b, n - b, "by ")) {
        Py_ssize_t colon = b + 3;
        while (colon < n && s[colon] != ':')
            colon++;
        for (Py_ssize_t y = (colon < n - 3 ? colon : n - 3); y >= b + 3; y--) {
            if (memcmp(s + y, "ACL", 3) != 0)
                continue;
            if (y + 3 < n && s[y + 3] == ')' && reject_tail(s, n, *w = y + 4, t))
                return 1;
            if (reject_tail(s, n, *w = y + 3, t))
                return 1;
        }
    }
    for (size_t k = 0; k < sizeof last / sizeof *last; k++)
        if (starts(s + q, n - q, last[k]) && reject_tail(s, n, *w = q + (Py_ssize_t)strlen(last[k]), t))
            return 1;
    return 0;
}

static inline int is_text(const char *s, Py_ssize_t n, const char *text)
{
    return n == (Py_ssize_t)strlen(text) && memcmp(s, text, (size_t)n) == 0;
}

#define NO_MATCH ((PyObject *)2)    /* _REJECT_RE found nothing: the line is read on as Python does */

/* _REJECT_RE.search(rest), then _parse_rejection(out, rest, m), or a NOTE for EHLO, HELO and connection. */
static PyObject *parse_rejection(PyObject *out, const char *r, Py_ssize_t n)
{
    for (Py_ssize_t p = FIND(r, 0, n, "rejected "); p >= 0; p = FIND(r, p + 1, n, "rejected ")) {
        Py_ssize_t q = p + 9, w;
        RejectTail t;
        if (!reject_what(r, n, q, &w, &t))
            continue;
        if (is_text(r + q, w - q, "EHLO") || is_text(r + q, w - q, "HELO") || is_text(r + q, w - q, "connection"))
            return out;    /* a NOTE */
        PyObject *what = str_of(r + q, w - q);
        if (what == NULL || set_kind(out, k_rejected) < 0 || set_slot(out, F_FLAG, what) < 0)
            return NULL;
        if (read_tokens(SLOT(out, F_FIELDS), r, p) < 0)
            return NULL;
        Py_ssize_t a = t.addr, e = t.addr_end;    /* .strip("<>") */
        if (a < 0)
            a = e = 0;
        while (a < e && (r[a] == '<' || r[a] == '>'))
            a++;
        while (e > a && (r[e - 1] == '<' || r[e - 1] == '>'))
            e--;
        int rcpt = is_text(r + q, w - q, "RCPT"), mail = is_text(r + q, w - q, "MAIL");
        if (rcpt && set_str(out, F_ADDRESS, r + a, e - a) < 0)
            return NULL;
        if (mail) {
            PyObject *address = str_of(r + a, e - a);
            PyObject *had = address ? PyDict_SetDefault(SLOT(out, F_FIELDS), s_F, address) : NULL;
            Py_XDECREF(address);
            if (had == NULL)
                return NULL;
        }
        Py_ssize_t m = t.reason < 0 ? n : t.reason, m_end = n;    /* (reason or "").strip() */
        while (m < m_end && r[m] == ' ')
            m++;
        if (m < m_end)
            return set_str(out, F_MESSAGE, r + m, m_end - m) < 0 ? NULL : out;
        PyObject *message = PyUnicode_FromFormat("rejected %U", SLOT(out, F_FLAG));
        return message == NULL || set_slot(out, F_MESSAGE, message) < 0 ? NULL : out;
    }
    return NO_MATCH;
}

static PyObject *parse_body(PyObject *out, int has_msgid, const char *r, Py_ssize_t n)
{
    if (has_msgid && n >= 3 && r[2] == ' ') {
        if (r[0] == '<' && r[1] == '=') {
            Py_INCREF(fl_arrival);
            if (set_kind(out, k_arrival) < 0 || set_slot(out, F_FLAG, fl_arrival) < 0)
                return NULL;
            return parse_arrival(out, r, n);
        }
        static const char *const flags[4] = {"=>", "->", ">>", "*>"};
        for (int i = 0; i < 4; i++)
            if (r[0] == flags[i][0] && r[1] == flags[i][1]) {
                Py_INCREF(fl_deliv[i]);
                if (set_kind(out, k_delivery) < 0 || set_slot(out, F_FLAG, fl_deliv[i]) < 0)
                    return NULL;
                return parse_outcome(out, 1, 0, r, n);
            }
        if ((r[0] == '=' && r[1] == '=') || (r[0] == '*' && r[1] == '*')) {
            int defer = r[0] == '=';
            PyObject *flag = defer ? fl_defer : fl_failure;
            Py_INCREF(flag);
            if (set_kind(out, defer ? k_defer : k_failure) < 0 || set_slot(out, F_FLAG, flag) < 0)
                return NULL;
            return parse_outcome(out, 0, defer, r, n);
        }
    }
    if (has_msgid) {
        if (starts(r, n, "Completed"))
            return set_kind(out, k_completed) < 0 ? NULL : out;
        if (starts(r, n, "Frozen") || starts(r, n, "frozen") || starts(r, n, "unfrozen")
            || starts(r, n, "cancelled by") || starts(r, n, "removed by") || starts(r, n, "has been removed")
            || starts(r, n, "Sender identification"))
            return DECLINE;
        int spamassassin = FIND(r, 0, n, "SpamAssassin") >= 0;
        if (spamassassin || starts(r, n, "SA: ")) {
            Py_ssize_t start, end;
            if (spamassassin ? spam_score(r, n, &start, &end) : sa_score(r, n, &start, &end)) {
                if (set_kind(out, k_spamscore) < 0 || set_str(out, F_MESSAGE, r + start, end - start) < 0)
                    return NULL;
                return out;
            }
        }
    }
    if (FIND(r, 0, n, " rejected ") >= 0 || starts(r, n, "rejected ")) {
        PyObject *rejection = parse_rejection(out, r, n);
        if (rejection != NO_MATCH)
            return rejection;
    }
    if (has_msgid)
        return out;  /* a NOTE, whatever line about a known message it is */
    for (Py_ssize_t i = 0; i < note_prefix_count; i++)
        if (n >= note_prefix_lens[i] && memcmp(r, note_prefixes[i], (size_t)note_prefix_lens[i]) == 0)
            return out;
    if (FIND(r, 0, n, "authenticator failed") >= 0 || FIND(r, 0, n, "sender verify") >= 0)
        return out;
    if (set_kind(out, k_unknown) < 0 || set_str(out, F_MESSAGE, r, n) < 0)
        return NULL;
    return out;
}

/* MSGID (23 or 16 characters) at s[i], followed by a space or the end: its end, or -1. */
static Py_ssize_t msgid_end(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    static const int long_form[3] = {6, 11, 4}, short_form[3] = {6, 6, 2};
    const int *forms[2] = {long_form, short_form};
    for (int f = 0; f < 2; f++) {
        Py_ssize_t j = i;
        int ok = 1;
        for (int part = 0; part < 3 && ok; part++) {
            if (part > 0) {
                if (j >= n || s[j] != '-') {
                    ok = 0;
                    break;
                }
                j++;
            }
            for (int k = 0; k < forms[f][part]; k++, j++)
                if (j >= n || !is_alnum(s[j])) {
                    ok = 0;
                    break;
                }
        }
        if (ok && (j == n || s[j] == ' '))
            return j;
    }
    return -1;
}

static int epoch_of(PyObject *out, const char *ts, const char *tz)
{
    char key[MINUTE_KEY] = {0};
    memcpy(key, ts, 16);
    long long seconds = (ts[17] - '0') * 10 + (ts[18] - '0'), epoch;
    if (tz == NULL && minute_hit(&local_minute, key, seconds, &epoch))
        return set_slot(out, F_TIME, PyLong_FromLongLong(epoch));
    PyObject *t = str_of(ts, 19);
    PyObject *z = tz ? str_of(tz, 5) : (Py_INCREF(Py_None), Py_None);
    PyObject *result = (t && z) ? PyObject_CallFunctionObjArgs(local_epoch, t, z, NULL) : NULL;
    Py_XDECREF(t);
    Py_XDECREF(z);
    if (result == NULL || (tz == NULL && remember_minute(&local_minute, key, result, seconds) < 0))
        return -1;
    return set_slot(out, F_TIME, result);
}

/* The fast path: an EximLine, DECLINE, or NULL with an exception set. */
static PyObject *parse_fast(PyObject *line)
{
    Py_ssize_t n;
    const char *s = ascii_text(line, &n);
    if (s == NULL)
        return DECLINE;
    if (n == 0)
        return new_line();
    /* _PREFIX_RE: "2026-11-01 10:00:00.123 +0100 [1234] 1smkL5-00000000e65-24eQ " */
    static const char shape[] = "dddd-dd-dd dd:dd:dd";
    if (n < 19)
        return DECLINE;
    for (int i = 0; i < 19; i++)
        if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i])
            return DECLINE;
    Py_ssize_t i = 19;
    if (i + 1 < n && s[i] == '.' && is_digit(s[i + 1])) {
        i += 2;
        while (i < n && is_digit(s[i]))
            i++;
    }
    const char *tz = NULL;
    if (i + 6 <= n && s[i] == ' ' && (s[i + 1] == '-' || s[i + 1] == '+') && is_digit(s[i + 2]) && is_digit(s[i + 3])
        && is_digit(s[i + 4]) && is_digit(s[i + 5])) {
        tz = s + i + 1;
        i += 6;
    }
    if (i + 3 < n && s[i] == ' ' && s[i + 1] == '[' && is_digit(s[i + 2])) {
        Py_ssize_t j = i + 2;
        while (j < n && is_digit(s[j]))
            j++;
        if (j < n && s[j] == ']')
            i = j + 1;
    }
    if (i + 1 < n && s[i] == ' ' && s[i + 1] == '[')
        return DECLINE;  /* maybe a split "[n/m]" line: Python reads those */
    Py_ssize_t id_start = -1, id_end = -1;
    if (i < n && s[i] == ' ') {
        Py_ssize_t e = msgid_end(s, n, i + 1);
        if (e >= 0) {
            id_start = i + 1, id_end = e;
            i = e;
        }
    }
    if (i < n && s[i] == ' ')
        i++;
    if (id_start < 0) {
        /* _looks_syslog: "2019-10-22 03:39:17 mx1.fqdn.local exim[29786]: ..." is Python's */
        Py_ssize_t window = n - i < 80 ? n - i : 80;
        if (FIND(s + i, 0, window, "exim") >= 0)
            return DECLINE;
    }
    PyObject *out = new_line();
    if (out == NULL)
        return NULL;
    if (epoch_of(out, s, tz) < 0 || (id_start >= 0 && set_str(out, F_MSGID, s + id_start, id_end - id_start) < 0)) {
        Py_DECREF(out);
        return NULL;
    }
    PyObject *result = parse_body(out, id_start >= 0, s + i, n - i);
    if (result != out)
        Py_DECREF(out);
    return result;
}

/* An arrival whose only non-ASCII characters are inside its subject (T="..."), read like an ASCII line.
 *
 * The line is read as a stand-in of its own length: each non-ASCII character replaced by '~', and every
 * string taken from the stand-in cut from the line at the same offsets (str_of). The two readings agree
 * where nothing decides on a non-ASCII character, and inside a quoted value _QUOTED only asks whether a
 * character is a quote or a backslash. What could look at a replaced character elsewhere (the class
 * checks of \s, \S, \w and \d, which are wider in Python) is ruled out: every non-ASCII character must
 * lie between the quotes of a T= value that the fields reader took as quoted, the H= value's scan must
 * not reach into one, and no character may be Unicode whitespace or unprintable (str.rstrip and strip).
 * Anything else is DECLINE. tests/test_parse_exim_c.py compares the two parsers on such lines. */
static PyObject *parse_masked(PyObject *line)
{
    if (!PyUnicode_CheckExact(line) || PyUnicode_READY(line) < 0)
        return DECLINE;
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    int kind = PyUnicode_KIND(line);
    const void *data = PyUnicode_DATA(line);
    char *stand_in = PyMem_Malloc((size_t)(n ? n : 1));
    Py_ssize_t *wide = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n ? n : 1));
    if (stand_in == NULL || wide == NULL) {
        PyMem_Free(stand_in);
        PyMem_Free(wide);
        return PyErr_NoMemory();
    }
    Py_ssize_t count = 0;
    PyObject *result = DECLINE;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            stand_in[i] = (char)c;
            continue;
        }
        if (!Py_UNICODE_ISPRINTABLE(c) || Py_UNICODE_ISSPACE(c))
            goto done;
        stand_in[i] = '~';
        wide[count++] = i;
    }
    PyObject *ascii = PyUnicode_New(n, 127);    /* the stand-in as a str, for parse_fast */
    if (ascii == NULL) {
        result = NULL;
        goto done;
    }
    memcpy(PyUnicode_DATA(ascii), stand_in, (size_t)n);
    masked_line = line;
    masked_base = PyUnicode_DATA(ascii);
    masked_len = n;
    subjects = subjects_overflow = 0;
    h_at = h_end = -1;
    result = parse_fast(ascii);
    masked_line = NULL;
    Py_DECREF(ascii);
    if (result == NULL || result == DECLINE)
        goto done;
    int ok = SLOT(result, F_KIND) == k_arrival && !subjects_overflow;
    for (Py_ssize_t k = 0; ok && k < count; k++) {    /* inside the quotes of a T= value */
        int inside = 0;
        for (int t = 0; t < subjects && !inside; t++)
            inside = wide[k] > subject_at[t] && wide[k] < subject_end[t] - 1;
        ok = inside;
    }
    for (int t = 0; ok && h_at >= 0 && t < subjects; t++)    /* the H= scan stayed out of them */
        ok = h_end <= subject_at[t] || h_at >= subject_end[t];
    if (!ok) {
        Py_DECREF(result);
        result = DECLINE;
    }
done:
    PyMem_Free(stand_in);
    PyMem_Free(wide);
    return result;
}

/* The fast path's answer; for a line it leaves, None (ask_python == 0) or the Python parser's answer. */
static PyObject *answer(PyObject *line, int ask_python)
{
    if (line_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_eximc.setup() was not called");
        return NULL;
    }
    PyObject *result = parse_fast(line);
    if (result == DECLINE && PyUnicode_CheckExact(line) && !PyUnicode_IS_ASCII(line))
        result = parse_masked(line);
    if (result != DECLINE)
        return result;
    if (ask_python)
        return PyObject_CallOneArg(python_parse, line);
    Py_RETURN_NONE;
}

static PyObject *fast(PyObject *self, PyObject *line) { return answer(line, 0); }

static PyObject *parse(PyObject *self, PyObject *line) { return answer(line, 1); }

/* setup(EximLine, kinds, note_prefixes, local_epoch, python_parse) */
static PyObject *setup(PyObject *self, PyObject *args)
{
    PyObject *type, *kinds, *prefixes, *epoch, *fallback;
    if (!PyArg_ParseTuple(args, "O!O!O!OO", &PyType_Type, &type, &PyDict_Type, &kinds, &PyTuple_Type, &prefixes,
                          &epoch, &fallback))
        return NULL;
    if (slot_offsets((PyTypeObject *)type, field_names, NFIELDS, offsets) < 0)
        return NULL;
    if (!(k_arrival = kind_of(kinds, "arrival")) || !(k_delivery = kind_of(kinds, "delivery"))
        || !(k_defer = kind_of(kinds, "defer")) || !(k_failure = kind_of(kinds, "failure"))
        || !(k_completed = kind_of(kinds, "completed")) || !(k_note = kind_of(kinds, "note"))
        || !(k_unknown = kind_of(kinds, "unknown")) || !(k_spamscore = kind_of(kinds, "spamscore"))
        || !(k_rejected = kind_of(kinds, "rejected")))
        return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(prefixes);
    note_prefixes = PyMem_Calloc((size_t)count, sizeof(char *));
    note_prefix_lens = PyMem_Calloc((size_t)count, sizeof(Py_ssize_t));
    if (note_prefixes == NULL || note_prefix_lens == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t len;
        const char *text = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(prefixes, i), &len);
        if (text == NULL)
            return NULL;
        note_prefixes[i] = PyMem_Malloc((size_t)len + 1);
        if (note_prefixes[i] == NULL)
            return PyErr_NoMemory();
        memcpy(note_prefixes[i], text, (size_t)len + 1);
        note_prefix_lens[i] = len;
    }
    note_prefix_count = count;
    fl_arrival = interned("<="), fl_defer = interned("=="), fl_failure = interned("**");
    fl_deliv[0] = interned("=>"), fl_deliv[1] = interned("->"), fl_deliv[2] = interned(">>"), fl_deliv[3] = interned("*>");
    s_H = interned("H"), s_from = interned("from"), s_errno = interned("errno");
    s_DT = interned("DT"), s_F = interned("F");
    Py_INCREF(epoch);
    local_epoch = epoch;
    Py_INCREF(fallback);
    python_parse = fallback;
    Py_INCREF(type);
    line_type = (PyTypeObject *)type;
    local_minute.valid = 0;
    Py_RETURN_NONE;
}

static PyObject *forget_times(PyObject *self, PyObject *unused)
{
    local_minute.valid = 0;
    Py_RETURN_NONE;
}

/* -- helpers the correlators call for every delivery ------------------------------------------------ */

/* The text of a str made of printable ASCII (and spaces), else NULL. */
static const char *printable(PyObject *value, Py_ssize_t *n)
{
    if (!PyUnicode_CheckExact(value) || !PyUnicode_IS_COMPACT_ASCII(value))
        return NULL;
    const char *s = (const char *)PyUnicode_DATA(value);
    *n = PyUnicode_GET_LENGTH(value);
    for (Py_ssize_t i = 0; i < *n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return NULL;
    return s;
}

static inline int host_name_char(char c) { return c != ' ' && c != '(' && c != ')' && c != '[' && c != ']'; }

/* split_host_fast(value) -> (name, helo, ip, port) where _HOST_FAST_RE matches the value, else None (the
 * Python split_host decides). Each optional part of that regex is taken exactly when its first character
 * is there (a name character, "(", ":"), since without it the next part cannot match either: so one
 * pass without backtracking finds the regex's match. Printable ASCII only, where \s is the space. */
static PyObject *split_host_fast(PyObject *self, PyObject *value)
{
    Py_ssize_t n, pos = 0, k;
    const char *s = printable(value, &n);
    if (s == NULL)
        Py_RETURN_NONE;
    Py_ssize_t name_end = 0, helo_at = 0, helo_end = 0, ip_at, ip_end, port_at = 0, port_end = 0;
    if (pos < n && host_name_char(s[pos])) {    /* "name " */
        for (k = pos; k < n && host_name_char(s[k]); k++)
            ;
        if (k >= n || s[k] != ' ')
            Py_RETURN_NONE;
        name_end = k;
        pos = k + 1;
    }
    if (pos < n && s[pos] == '(') {             /* "(helo) " */
        for (k = pos + 1; k < n && s[k] != '(' && s[k] != ')'; k++)
            ;
        if (k + 1 >= n || s[k] != ')' || s[k + 1] != ' ')
            Py_RETURN_NONE;
        helo_at = pos + 1, helo_end = k;
        pos = k + 2;
    }
    if (pos >= n || s[pos] != '[')              /* "[ip]" */
        Py_RETURN_NONE;
    for (k = pos + 1; k < n && s[k] != ']'; k++)
        ;
    if (k >= n)
        Py_RETURN_NONE;
    ip_at = pos + 1, ip_end = k;
    pos = k + 1;
    if (pos < n && s[pos] == ':') {             /* ":port" */
        for (k = pos + 1; k < n && is_word(s[k]); k++)
            ;
        if (k == pos + 1)
            Py_RETURN_NONE;
        port_at = pos + 1, port_end = k;
        pos = k;
    }
    if (pos < n && s[pos] == '*')               /* a reused connection */
        pos++;
    if (pos != n)
        Py_RETURN_NONE;
    PyObject *parts = PyTuple_New(4);
    if (parts == NULL)
        return NULL;
    const Py_ssize_t at[4] = {0, helo_at, ip_at, port_at}, end[4] = {name_end, helo_end, ip_end, port_end};
    for (int i = 0; i < 4; i++) {
        PyObject *part = str_of(s + at[i], end[i] - at[i]);
        if (part == NULL) {
            Py_DECREF(parts);
            return NULL;
        }
        PyTuple_SET_ITEM(parts, i, part);
    }
    return parts;
}

/* extract_dsn_fast(text) -> the first match of explain._STATUS_CODE_RE in text[:4000] ("" for none), or
 * None for a text that is not ASCII (\w and \d are wider there). At a candidate digit the regex's
 * \d{1,3} can only end where the digits end (a shorter match is followed by a digit, which its
 * lookahead refuses), so more than three digits means no match there. */
#define DSN_MAX_CHARS 4000      /* explain._MAX_CHARS */
static PyObject *extract_dsn_fast(PyObject *self, PyObject *text)
{
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_COMPACT_ASCII(text))
        Py_RETURN_NONE;
    const char *s = (const char *)PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n > DSN_MAX_CHARS)
        n = DSN_MAX_CHARS;
    for (Py_ssize_t i = 0; i + 4 < n; i++) {
        char c = s[i];
        if (c != '2' && c != '4' && c != '5')
            continue;
        if (i > 0 && (is_word(s[i - 1]) || s[i - 1] == '.'))
            continue;
        if (s[i + 1] != '.' || s[i + 2] < '0' || s[i + 2] > '7' || s[i + 3] != '.')
            continue;
        Py_ssize_t j = i + 4;
        while (j < n && is_digit(s[j]))
            j++;
        Py_ssize_t digits = j - (i + 4);
        if (digits < 1 || digits > 3 || (j + 1 < n && s[j] == '.' && is_digit(s[j + 1])))
            continue;
        return str_of(s + i, j - i);
    }
    Py_INCREF(s_empty);
    return s_empty;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "setup(EximLine, kinds, note_prefixes, local_epoch, python_parse)"},
    {"parse", parse, METH_O, "parse(line) -> EximLine: the fast path, else the Python parser"},
    {"fast", fast, METH_O, "fast(line) -> EximLine or None where the line is the Python parser's to read"},
    {"forget_times", forget_times, METH_NOARGS, "forget the cached minute (after the time zone changes)"},
    {"split_host_fast", split_host_fast, METH_O, "split_host_fast(value) -> (name, helo, ip, port) or None"},
    {"extract_dsn_fast", extract_dsn_fast, METH_O, "extract_dsn_fast(text) -> status code, \"\" or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_eximc", "Compiled fast path of the Exim parser.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__eximc(void)
{
    if (s_empty == NULL && (s_empty = PyUnicode_New(0, 0)) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
