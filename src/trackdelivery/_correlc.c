/* Compiled fast paths for correlate.py's Correlator.feed and correlate_postfix.py's
 * PostfixCorrelator.feed (the Python methods stay the reference).
 *
 * feed(correlator, line, raw) takes the lines that make most of an Exim log's work: the arrival of a
 * new message, an SMTP-time rejection without a message id (exim_rejected), and the deliveries
 * (=> -> >> *>), deferrals, failures, spam scores, notes and Completed of a message that is in the
 * correlator's cache (or new). It does what Correlator.feed and its
 * handlers (_message, _new_message, _forget, _arrival, _delivery, _problem, _completed, _spam_score,
 * _touch, _add_event, _close_recipient, _drop_pending, _set_text) do, step for step, on the same Python
 * objects: it reads and writes the slots of the slots dataclasses (MessageState, DeliveryEvent,
 * EximLine, Batch) and the correlator's attributes. Every other line (a message's rejections, frozen, cancelled, an
 * arrival for an id that arrived already, an id that may be in the store, "=> blackhole (… discarded
 * recipients)") goes to Correlator.feed, before anything is changed. Explanations, H= values and quoted
 * values with escapes are left to the Python functions that the Python path calls (explain,
 * split_host, unquote).
 *
 * feed_postfix(correlator, line, raw) is the same for Postfix: see its section below.
 *
 * tests/test_correlate_c.py feeds the corpora, generated logs, mutated lines and corner cases through
 * both paths and compares every batch, field by field.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#include "_slots.h"

#define SLOT(o, offset) SLOT_AT(o, offset)

/* MessageState */
enum { S_ID, S_MSGID, S_SERVER, S_EMAIL, S_SENDER, S_SENDERHOST, S_SENDERIP, S_SENDERAUTH, S_SIZE, S_SPAMSCORE,
       S_SENDUNIXTIME, S_LASTUNIXTIME, S_SUBJECT, S_MESSAGE_ID, S_PROTOCOL, S_TLS, S_PARENT_MSGID, S_RECIPIENTS,
       S_STATE, S_RAW, S_PENDING, S_ATTEMPTS, S_COUNT };
static const char *const state_names[S_COUNT] = {
    "id", "msgid", "server", "email", "sender", "senderhost", "senderip", "senderauth", "size", "spamscore",
    "sendunixtime", "lastunixtime", "subject", "message_id", "protocol", "tls", "parent_msgid", "recipients",
    "state", "raw", "pending", "attempts"};
/* DeliveryEvent: the fields set here; the others keep the template's defaults */
enum { E_TYPE, E_MSGID, E_EMAIL, E_SENDER, E_SENDERHOST, E_SENDERIP, E_SENDERAUTH, E_SIZE, E_SPAMSCORE,
       E_SENDUNIXTIME, E_RECIPIENT, E_ACTIONUNIXTIME, E_SUBJECT, E_MESSAGE_ID, E_PROTOCOL, E_TLS, E_PARENT_MSGID,
       E_SERVER, E_QUEUE_TIME, E_DELIVEREDTO, E_ROUTER, E_TRANSPORT, E_HOST, E_IP, E_TRANSPORT_IS_REMOTE,
       E_MESSAGE, E_DSN, E_REASON, E_REASON_TEXT, E_ATTEMPT, E_COUNT };
static const char *const event_names[E_COUNT] = {
    "type", "msgid", "email", "sender", "senderhost", "senderip", "senderauth", "size", "spamscore",
    "sendunixtime", "recipient", "actionunixtime", "subject", "message_id", "protocol", "tls", "parent_msgid",
    "server", "queue_time", "deliveredto", "router", "transport", "host", "ip", "transport_is_remote",
    "message", "dsn", "reason", "reason_text", "attempt"};
/* the state fields _event_for copies into an event, pairwise */
static const int copied[][2] = {
    {E_MSGID, S_MSGID}, {E_EMAIL, S_EMAIL}, {E_SENDER, S_SENDER}, {E_SENDERHOST, S_SENDERHOST},
    {E_SENDERIP, S_SENDERIP}, {E_SENDERAUTH, S_SENDERAUTH}, {E_SIZE, S_SIZE}, {E_SPAMSCORE, S_SPAMSCORE},
    {E_SENDUNIXTIME, S_SENDUNIXTIME}, {E_SUBJECT, S_SUBJECT}, {E_MESSAGE_ID, S_MESSAGE_ID},
    {E_PROTOCOL, S_PROTOCOL}, {E_TLS, S_TLS}, {E_PARENT_MSGID, S_PARENT_MSGID}, {E_SERVER, S_SERVER}};
/* EximLine */
enum { L_KIND, L_TIME, L_MSGID, L_FLAG, L_ADDRESS, L_ORIG, L_PARENT, L_FIELDS, L_RECIPIENTS, L_MESSAGE, L_COUNT };
static const char *const line_names[L_COUNT] = {
    "kind", "time", "msgid", "flag", "address", "orig", "parent", "fields", "recipients", "message"};
/* Batch */
enum { B_MESSAGES, B_BY_MSGID, B_EVENTS, B_EVENT_MESSAGE, B_DELETED_EVENTS, B_UPDATED_TEXT, B_EVENT_RAW, B_COUNT };
static const char *const batch_names[B_COUNT] = {
    "messages", "by_msgid", "events", "event_message", "deleted_events", "updated_messages_text", "event_raw"};

static PyTypeObject *state_type, *event_type, *line_type, *batch_type;
static Py_ssize_t state_at[S_COUNT], event_at[E_COUNT], line_at[L_COUNT], batch_at[B_COUNT];
static Py_ssize_t *template_at;          /* every DeliveryEvent slot */
static Py_ssize_t *state_template_at;    /* every MessageState slot */
static Py_ssize_t state_template_count;
static PyObject *state_template;         /* MessageState(id=0, msgid="") : the defaults */
static Py_ssize_t max_evicted;           /* correlate._MAX_EVICTED */
static Py_ssize_t template_count;
static PyObject *template_event;         /* DeliveryEvent(type="") : the defaults */
static PyObject *python_feed;            /* Correlator.feed */
static PyObject *host_fields;            /* correlate._host_fields */
static PyObject *parse_duration;         /* correlate.parse_duration */
static PyObject *unquote;                /* parse.exim.unquote */
static PyObject *extract_dsn;            /* explain.extract_dsn */
static PyObject *k_delivery, *k_defer, *k_failure, *k_completed, *k_arrival, *k_rejected, *k_unknown,
    *k_spamscore, *k_note;                                                   /* line kinds */
static PyObject *t_success, *t_defer, *t_failure, *t_filtered, *t_archive, *t_inprogress, *t_rejected;  /* event types */
static PyObject *s_empty, *s_completed, *s_blackhole, *s_acl_blackhole, *s_bypassed,
    *s_archiver, *s_star_flag, *s_accepted, *s_discarded_text, *s_bypassed_text, *s_other, *s_retry,
    *s_local, *s_localuser, *s_inprogress_text, *s_colon, *s_space;
static PyObject *a_cache, *a_batch, *a_next_event_id, *a_events_by_type, *a_explain,
    *a_evicted, *a_horizon, *a_next_message_id, *a_server, *a_cache_size, *m_move_to_end, *m_pop, *m_popitem,
    *m_lower;
static PyObject *f_R, *f_T, *f_H, *f_X, *f_QT, *f_C, *f_A, *f_U, *f_P, *f_S, *f_id, *f_F;
static PyObject *one;

/* A slot's value, borrowed; AttributeError when it was never set. */
static PyObject *get(PyObject *o, Py_ssize_t offset)
{
    PyObject *v = SLOT(o, offset);
    if (v == NULL)
        PyErr_Format(PyExc_AttributeError, "a %s field is not set", Py_TYPE(o)->tp_name);
    return v;
}


static int put_borrowed(PyObject *o, Py_ssize_t offset, PyObject *v)
{
    Py_INCREF(v);
    return set_slot_at(o, offset, v);
}

static PyObject *pa_tls, *pa_host, *pa_state_for, *pa_follow_hop, *pa_forget, *pa_lookup_all, *pa_parents,
    *pa_listed;    /* PostfixCorrelator's attributes and methods */

/* The correlators' own attributes are slots (Correlator.__slots__, PostfixCorrelator.__slots__), read and
 * written in place for an instance of exactly those classes (setup_self); anything else, getattr. */
typedef struct {
    PyObject **name;
    PyTypeObject **type;
    Py_ssize_t offset;
} SelfSlot;
static PyTypeObject *correlator_type, *postfix_correlator_type;
static SelfSlot self_slots[] = {
    {&a_cache, &correlator_type, 0}, {&a_batch, &correlator_type, 0}, {&a_next_event_id, &correlator_type, 0},
    {&a_events_by_type, &correlator_type, 0}, {&a_evicted, &correlator_type, 0},
    {&a_horizon, &correlator_type, 0}, {&a_next_message_id, &correlator_type, 0},
    {&a_server, &correlator_type, 0}, {&a_cache_size, &correlator_type, 0},
    {&pa_tls, &postfix_correlator_type, 0}, {&pa_host, &postfix_correlator_type, 0},
    {&pa_lookup_all, &postfix_correlator_type, 0}, {&pa_parents, &postfix_correlator_type, 0},
    {&pa_listed, &postfix_correlator_type, 0},
};
#define SELF_SLOTS ((int)(sizeof self_slots / sizeof self_slots[0]))

static const SelfSlot *self_slot(PyObject *self, PyObject *name)
{
    PyTypeObject *t = Py_TYPE(self);
    for (int i = 0; i < SELF_SLOTS; i++)
        if (*self_slots[i].name == name) {
            PyTypeObject *owner = *self_slots[i].type;
            int mine = owner != NULL
                       && (t == owner || (owner == correlator_type && t == postfix_correlator_type));
            return mine ? &self_slots[i] : NULL;
        }
    return NULL;
}

/* getattr(self, name), new reference */
static PyObject *self_get(PyObject *self, PyObject *name)
{
    const SelfSlot *at = self_slot(self, name);
    PyObject *v = at == NULL ? NULL : SLOT(self, at->offset);
    return v == NULL ? PyObject_GetAttr(self, name) : Py_NewRef(v);
}

/* setattr(self, name, v); v borrowed */
static int self_set(PyObject *self, PyObject *name, PyObject *v)
{
    const SelfSlot *at = self_slot(self, name);
    return at == NULL ? PyObject_SetAttr(self, name, v) : set_slot_at(self, at->offset, Py_NewRef(v));
}

static int truthy_str(PyObject *v) { return PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v) > 0; }

static int same_str(PyObject *a, PyObject *b)
{
    return a == b || (PyUnicode_Check(a) && PyUnicode_Compare(a, b) == 0);
}

/* raw in lines, for a message's log lines (a list of str): a line is a repeat only when it has the same
 * length and text, so most are passed over on their length (list.__contains__ compares each in full
 * generality). 1, 0, or -1 with an error set. */
static int has_line(PyObject *lines, PyObject *raw)
{
    if (!PyList_CheckExact(lines) || !PyUnicode_CheckExact(raw) || PyUnicode_READY(raw) < 0)
        return PySequence_Contains(lines, raw);
    Py_ssize_t length = PyUnicode_GET_LENGTH(raw);
    int kind = PyUnicode_KIND(raw);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lines); i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (line == raw)
            return 1;
        if (!PyUnicode_CheckExact(line)) {
            Py_INCREF(line);
            int same = PyObject_RichCompareBool(line, raw, Py_EQ);
            Py_DECREF(line);
            if (same != 0)
                return same;
            continue;
        }
        if (PyUnicode_GET_LENGTH(line) == length && PyUnicode_KIND(line) == kind
            && memcmp(PyUnicode_DATA(line), PyUnicode_DATA(raw), (size_t)(length * kind)) == 0)
            return 1;
    }
    return 0;
}

/* counts[key] = counts.get(key, 0) + delta */
static int count(PyObject *counts, PyObject *key, long delta)
{
    PyObject *old = PyDict_GetItemWithError(counts, key);
    if (old == NULL && PyErr_Occurred())
        return -1;
    PyObject *d = PyLong_FromLong(delta);
    PyObject *sum = d == NULL ? NULL : old == NULL ? (Py_INCREF(d), d) : PyNumber_Add(old, d);
    Py_XDECREF(d);
    if (sum == NULL)
        return -1;
    int rc = PyDict_SetItem(counts, key, sum);
    Py_DECREF(sum);
    return rc;
}

/* f.get(key, "") as a borrowed reference (NULL with an error set on failure). */
static PyObject *field_or_empty(PyObject *fields, PyObject *key)
{
    PyObject *v = PyDict_GetItemWithError(fields, key);
    if (v == NULL && !PyErr_Occurred())
        v = s_empty;
    return v;
}

/* parse.exim.unquote(value) (new reference): a quoted value with nothing escaped in C, the rest by Python. */
static PyObject *unquoted(PyObject *value)
{
    Py_ssize_t n = PyUnicode_Check(value) ? PyUnicode_GET_LENGTH(value) : 0;
    if (n >= 2 && PyUnicode_READ_CHAR(value, 0) == '"' && PyUnicode_READ_CHAR(value, n - 1) == '"'
        && PyUnicode_FindChar(value, '\\', 1, n - 1, 1) == -1)
        return PyUnicode_Substring(value, 1, n - 1);
    return PyObject_CallOneArg(unquote, value);
}

/* correlate.parse_duration(value): QT=1m38s -> 98 (new reference). re.findall("([0-9]+)([wdhms])")
 * matches where the whole run of digits starting there is followed by a unit (a shorter run is followed
 * by a digit, and a later start in the same run by the same character), so the one scan below takes the
 * same runs. A run of over 15 digits, or a total of 2**53 or more, is None, as there. */
static PyObject *duration(PyObject *value)
{
    if (!PyUnicode_Check(value))
        return PyObject_CallOneArg(parse_duration, value);
    Py_ssize_t n = PyUnicode_GET_LENGTH(value), i = 0;
    int kind = PyUnicode_KIND(value), found = 0;
    const void *data = PyUnicode_DATA(value);
    const long long limit = 1LL << 53;
    long long total = 0;
    while (i < n) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch < '0' || ch > '9') {
            i++;
            continue;
        }
        Py_ssize_t j = i;
        long long number = 0;
        while (j < n && (ch = PyUnicode_READ(kind, data, j)) >= '0' && ch <= '9') {
            if (j - i < 15)
                number = number * 10 + (long long)(ch - '0');
            j++;
        }
        Py_UCS4 after = j < n ? PyUnicode_READ(kind, data, j) : 0;
        long long unit = after == 'w' ? 604800 : after == 'd' ? 86400 : after == 'h' ? 3600 : after == 'm' ? 60
                         : after == 's' ? 1 : 0;
        if (unit == 0) {
            i = j;
            continue;
        }
        if (j - i > 15 || number > (limit - total) / unit)
            Py_RETURN_NONE;    /* too many digits, or the total would reach 2**53 */
        total += number * unit;
        found = 1;
        i = j + 1;
    }
    if (!found || total >= limit)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(total);
}

/* What one call works on. */
typedef struct {
    PyObject *self, *batch, *counts;     /* borrowed */
    PyObject *state, *line, *fields;     /* borrowed */
} Feed;

/* A new instance of the template's type with every slot (``at``) set to the template's value. */
static PyObject *from_template(PyObject *template, const Py_ssize_t *at, Py_ssize_t count)
{
    PyTypeObject *type = Py_TYPE(template);
    PyObject *o = type->tp_alloc(type, 0);
    if (o == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *v = SLOT(template, at[i]);
        Py_XINCREF(v);
        SLOT(o, at[i]) = v;
    }
    return o;
}

/* The compiled helpers the Python ones try first (parse.exim._split_host_fast, explain._extract_dsn_fast),
 * called here directly, without the Python frames of the functions that call them (setup_helpers); NULL:
 * not built, the Python functions only. */
static PyObject *split_host_c, *extract_dsn_c;

/* o.<host>, o.<ip> = _host_fields(value) (an H= value or None): 0, or -1 with an exception set. */
static int put_host_fields(PyObject *o, PyObject *value, Py_ssize_t host_at, Py_ssize_t ip_at)
{
    if (value == Py_None || (PyUnicode_CheckExact(value) && PyUnicode_GET_LENGTH(value) == 0))    /* not value */
        return put_borrowed(o, host_at, s_empty) < 0 ? -1 : put_borrowed(o, ip_at, s_empty);
    if (split_host_c != NULL && PyUnicode_CheckExact(value)) {
        /* name, helo, ip, _port = split_host(value); name or helo, ip: where the compiled split answers */
        PyObject *parts = PyObject_CallOneArg(split_host_c, value);
        if (parts == NULL)
            return -1;
        if (PyTuple_CheckExact(parts) && PyTuple_GET_SIZE(parts) == 4) {
            PyObject *name = PyTuple_GET_ITEM(parts, 0);
            int named = PyObject_IsTrue(name);
            int rc = named < 0 ? -1 : put_borrowed(o, host_at, named ? name : PyTuple_GET_ITEM(parts, 1));
            rc = rc < 0 ? rc : put_borrowed(o, ip_at, PyTuple_GET_ITEM(parts, 2));
            Py_DECREF(parts);
            return rc;
        }
        Py_DECREF(parts);    /* None: a shape the compiled split leaves to Python */
    }
    PyObject *pair = PyObject_CallOneArg(host_fields, value);
    if (pair == NULL)
        return -1;
    int rc = PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2 ? 0 : -1;
    if (rc < 0)
        PyErr_SetString(PyExc_TypeError, "_host_fields must return a pair");
    rc = rc < 0 ? rc : put_borrowed(o, host_at, PyTuple_GET_ITEM(pair, 0));
    rc = rc < 0 ? rc : put_borrowed(o, ip_at, PyTuple_GET_ITEM(pair, 1));
    Py_DECREF(pair);
    return rc;
}

/* explain.extract_dsn(text): the compiled answer where there is one (new reference) */
static PyObject *dsn_of(PyObject *text)
{
    if (extract_dsn_c != NULL) {
        PyObject *code = PyObject_CallOneArg(extract_dsn_c, text);
        if (code != Py_None)
            return code;    /* the code, or NULL with an error set */
        Py_DECREF(code);    /* None: not ASCII, the regex decides */
    }
    return PyObject_CallOneArg(extract_dsn, text);
}

/* Correlator._event_for(state, type_, when, recipient): a new event (new reference). */
static PyObject *event_for(Feed *c, PyObject *type, PyObject *when, PyObject *recipient)
{
    PyObject *e = from_template(template_event, template_at, template_count);
    if (e == NULL)
        return NULL;
    PyObject *send = NULL;
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
        PyObject *v = get(c->state, state_at[copied[i][1]]);
        if (v == NULL || put_borrowed(e, event_at[copied[i][0]], v) < 0)
            goto fail;
        if (copied[i][1] == S_SENDUNIXTIME)
            send = v;
    }
    if (put_borrowed(e, event_at[E_TYPE], type) < 0 || put_borrowed(e, event_at[E_RECIPIENT], recipient) < 0
        || put_borrowed(e, event_at[E_ACTIONUNIXTIME], when) < 0)
        goto fail;
    PyObject *queue_time = when != Py_None && send != Py_None ? PyNumber_Subtract(when, send)
                                                              : (Py_INCREF(Py_None), Py_None);
    if (set_slot_at(e, event_at[E_QUEUE_TIME], queue_time) < 0)
        goto fail;
    return e;
fail:
    Py_DECREF(e);
    return NULL;
}

/* Correlator._outcome_event(state, line, type_) (new reference). */
static PyObject *outcome_event(Feed *c, PyObject *type)
{
    PyObject *line = c->line, *f = c->fields;
    PyObject *recipient = get(line, line_at[L_ORIG]);
    if (recipient != NULL && !truthy_str(recipient))
        recipient = get(line, line_at[L_PARENT]);
    if (recipient != NULL && !truthy_str(recipient))
        recipient = get(line, line_at[L_ADDRESS]);
    PyObject *when = get(line, line_at[L_TIME]), *address = get(line, line_at[L_ADDRESS]);
    if (recipient == NULL || when == NULL || address == NULL)
        return NULL;
    PyObject *e = event_for(c, type, when, recipient);
    if (e == NULL)
        return NULL;
    PyObject *router = field_or_empty(f, f_R), *transport = field_or_empty(f, f_T);
    if (router == NULL || transport == NULL || put_borrowed(e, event_at[E_DELIVEREDTO], address) < 0
        || put_borrowed(e, event_at[E_ROUTER], router) < 0 || put_borrowed(e, event_at[E_TRANSPORT], transport) < 0)
        goto fail;
    PyObject *host = PyDict_GetItemWithError(f, f_H);
    if (host == NULL && PyErr_Occurred())
        goto fail;
    if (host != NULL && PyObject_IsTrue(host) == 1
        && (put_host_fields(e, host, event_at[E_HOST], event_at[E_IP]) < 0
            || put_borrowed(e, event_at[E_TRANSPORT_IS_REMOTE], one) < 0))
        goto fail;
    PyObject *tls = PyDict_GetItemWithError(f, f_X);
    if ((tls == NULL && PyErr_Occurred()) || (tls != NULL && put_borrowed(e, event_at[E_TLS], tls) < 0))
        goto fail;
    PyObject *qt = PyDict_GetItemWithError(f, f_QT);
    if (qt == NULL && PyErr_Occurred())
        goto fail;
    if (qt != NULL) {
        PyObject *seconds = duration(qt);
        if (seconds == NULL)
            goto fail;
        if (seconds == Py_None)
            Py_DECREF(seconds);
        else if (set_slot_at(e, event_at[E_QUEUE_TIME], seconds) < 0)
            goto fail;
    }
    return e;
fail:
    Py_DECREF(e);
    return NULL;
}

/* id = self.<counter>; self.<counter> += 1; the id (new reference) */
static PyObject *take_id(PyObject *self, PyObject *counter)
{
    PyObject *id = self_get(self, counter);
    PyObject *next = id == NULL ? NULL : PyNumber_Add(id, one);
    int rc = next == NULL ? -1 : self_set(self, counter, next);
    Py_XDECREF(next);
    if (rc < 0)
        Py_CLEAR(id);
    return id;
}

/* dict.pop(key, None) for a dict: the value (new reference), or NULL (with an error set on failure). */
static PyObject *dict_pop(PyObject *dict, PyObject *key)
{
    PyObject *value = PyDict_GetItemWithError(dict, key);
    if (value == NULL)
        return NULL;
    Py_INCREF(value);
    if (PyDict_DelItem(dict, key) < 0)
        Py_CLEAR(value);
    return value;
}

/* [recipient, None, INPROGRESS_MESSAGE]: a recipient waiting, with no stored event yet (new reference) */
static PyObject *waiting_entry(PyObject *recipient)
{
    PyObject *entry = PyList_New(3);
    if (entry == NULL)
        return NULL;
    PyObject *items[3] = {recipient, Py_None, s_inprogress_text};
    for (Py_ssize_t i = 0; i < 3; i++) {
        Py_INCREF(items[i]);
        PyList_SET_ITEM(entry, i, items[i]);
    }
    return entry;
}

/* Correlator._add_event(event, state.id): stores the event under the next event id. */
static int add_event(Feed *c, PyObject *event)
{
    PyObject *id = take_id(c->self, a_next_event_id);
    if (id == NULL)
        return -1;
    PyObject *events = get(c->batch, batch_at[B_EVENTS]), *refs = get(c->batch, batch_at[B_EVENT_MESSAGE]);
    PyObject *state_id = get(c->state, state_at[S_ID]), *type = get(event, event_at[E_TYPE]);
    int rc = events == NULL || refs == NULL || state_id == NULL || type == NULL ? -1 : 0;
    if (rc == 0)
        rc = PyDict_SetItem(events, id, event);
    if (rc == 0)
        rc = PyDict_SetItem(refs, id, state_id);
    if (rc == 0)
        rc = count(c->counts, type, 1);
    Py_DECREF(id);
    return rc;
}

/* Correlator._drop_pending(entry) */
static int drop_pending(Feed *c, PyObject *entry)
{
    if (!PyList_Check(entry) || PyList_GET_SIZE(entry) < 3) {
        PyErr_SetString(PyExc_TypeError, "a pending entry must be a list of 3");
        return -1;
    }
    PyObject *event_id = PyList_GET_ITEM(entry, 1);
    if (event_id == Py_None)
        return 0;
    PyObject *deleted = get(c->batch, batch_at[B_DELETED_EVENTS]), *texts = get(c->batch, batch_at[B_UPDATED_TEXT]);
    if (deleted == NULL || texts == NULL || PyList_Append(deleted, event_id) < 0)
        return -1;
    if (PyDict_DelItem(texts, event_id) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_KeyError))
            return -1;
        PyErr_Clear();
    }
    return count(c->counts, t_inprogress, -1);
}

/* Correlator._close_recipient(state, recipient) */
static int close_recipient(Feed *c, PyObject *recipient)
{
    PyObject *pending = get(c->state, state_at[S_PENDING]);
    PyObject *key = pending == NULL ? NULL : PyObject_CallMethodNoArgs(recipient, m_lower);
    if (key == NULL)
        return -1;
    PyObject *entry = dict_pop(pending, key);
    Py_DECREF(key);
    int rc = entry == NULL ? (PyErr_Occurred() ? -1 : 0) : drop_pending(c, entry);
    Py_XDECREF(entry);
    return rc;
}

/* Correlator._delivery(state, line), for every line but "=> blackhole (… discarded recipients)". */
static int delivery(Feed *c)
{
    PyObject *line = c->line;
    PyObject *transport = field_or_empty(c->fields, f_T);
    PyObject *address = get(line, line_at[L_ADDRESS]), *flag = get(line, line_at[L_FLAG]);
    if (transport == NULL || address == NULL || flag == NULL)
        return -1;
    int blackhole = same_str(address, s_blackhole);
    PyObject *type = t_success;
    if (same_str(transport, s_bypassed) || blackhole || same_str(flag, s_star_flag))
        type = t_filtered;
    else if (PyUnicode_Check(transport) && PyUnicode_Tailmatch(transport, s_archiver, 0, PY_SSIZE_T_MAX, -1) == 1)
        type = t_archive;
    PyObject *e = outcome_event(c, type);
    if (e == NULL)
        return -1;
    PyObject *reply = PyDict_GetItemWithError(c->fields, f_C);
    int rc = 0;
    if (reply == NULL && PyErr_Occurred()) {
        rc = -1;
    } else if (reply != NULL && PyObject_IsTrue(reply) == 1) {
        PyObject *text = unquoted(reply);
        PyObject *dsn = text == NULL ? NULL : dsn_of(text);
        if (dsn == NULL) {
            Py_XDECREF(text);
            rc = -1;
        } else {
            rc = set_slot_at(e, event_at[E_MESSAGE], text);
            rc = rc < 0 ? rc : set_slot_at(e, event_at[E_DSN], dsn);
        }
    } else if (type == t_filtered) {
        rc = put_borrowed(e, event_at[E_MESSAGE], blackhole ? s_discarded_text : s_bypassed_text);
    } else {
        rc = put_borrowed(e, event_at[E_MESSAGE], s_accepted);
    }
    if (rc == 0)
        rc = add_event(c, e);
    if (rc == 0)
        rc = close_recipient(c, SLOT(e, event_at[E_RECIPIENT]));
    Py_DECREF(e);
    return rc;
}

/* event.attempt = state.attempts.get(key, 0) + 1; state.attempts[key] = event.attempt (a deferral) */
static int count_attempt(Feed *c, PyObject *e, PyObject *key)
{
    PyObject *attempts = get(c->state, state_at[S_ATTEMPTS]);
    if (attempts == NULL)
        return -1;
    if (!PyDict_Check(attempts)) {
        PyErr_SetString(PyExc_TypeError, "attempts must be a dict");
        return -1;
    }
    PyObject *before = PyDict_GetItemWithError(attempts, key);
    PyObject *attempt = before != NULL ? PyNumber_Add(before, one) : PyErr_Occurred() ? NULL : Py_NewRef(one);
    int rc = attempt == NULL || put_borrowed(e, event_at[E_ATTEMPT], attempt) < 0
             || PyDict_SetItem(attempts, key, attempt) < 0 ? -1 : 0;
    Py_XDECREF(attempt);
    return rc;
}

/* Correlator._set_text(entry, text): a waiting recipient's text, and its stored event's when it has one */
static int set_text(Feed *c, PyObject *entry, PyObject *text)
{
    if (!PyList_Check(entry) || PyList_GET_SIZE(entry) < 3) {
        PyErr_SetString(PyExc_TypeError, "a pending entry must be a list of 3");
        return -1;
    }
    PyObject *event_id = PyList_GET_ITEM(entry, 1);
    Py_INCREF(text);
    PyList_SetItem(entry, 2, text);    /* steals the reference just taken */
    if (event_id == Py_None)
        return 0;
    PyObject *texts = get(c->batch, batch_at[B_UPDATED_TEXT]);
    return texts == NULL ? -1 : PyDict_SetItem(texts, event_id, text);
}

/* Correlator._problem(state, line, type_): a deferral or a failure. */
static int problem(Feed *c, PyObject *type)
{
    PyObject *e = outcome_event(c, type);
    if (e == NULL)
        return -1;
    PyObject *text = get(c->line, line_at[L_MESSAGE]);
    PyObject *done = text == NULL || put_borrowed(e, event_at[E_MESSAGE], text) < 0
                         ? NULL : PyObject_CallMethodOneArg(c->self, a_explain, e);
    PyObject *recipient = SLOT(e, event_at[E_RECIPIENT]);
    PyObject *key = done == NULL ? NULL : PyObject_CallMethodNoArgs(recipient, m_lower);
    Py_XDECREF(done);
    int rc = key == NULL ? -1 : 0;
    if (rc == 0 && type == t_defer) {
        PyObject *pending = get(c->state, state_at[S_PENDING]);
        rc = pending == NULL ? -1 : count_attempt(c, e, key);
        PyObject *entry = rc < 0 ? NULL : PyDict_GetItemWithError(pending, key);
        if (entry == NULL && PyErr_Occurred())
            rc = -1;
        if (entry != NULL) {
            /* why = event.reason_text if event.reason and event.reason != "other" else line.message */
            PyObject *reason = SLOT(e, event_at[E_REASON]), *why = SLOT(e, event_at[E_REASON_TEXT]);
            if (reason == NULL || why == NULL || !truthy_str(reason) || same_str(reason, s_other))
                why = text;
            PyObject *waiting = PyUnicode_FromFormat("%U (%S)", s_retry, why);
            rc = waiting == NULL ? -1 : set_text(c, entry, waiting);
            Py_XDECREF(waiting);
        }
    }
    if (rc == 0)
        rc = add_event(c, e);
    if (rc == 0 && type != t_defer)
        rc = close_recipient(c, recipient);
    Py_XDECREF(key);
    Py_DECREF(e);
    return rc;
}

/* Correlator._completed(state, line) */
static int completed(Feed *c)
{
    if (put_borrowed(c->state, state_at[S_STATE], s_completed) < 0)
        return -1;
    PyObject *pending = get(c->state, state_at[S_PENDING]);
    if (pending == NULL || !PyDict_Check(pending))
        return pending == NULL ? -1 : (PyErr_SetString(PyExc_TypeError, "pending must be a dict"), -1);
    PyObject *entries = PyDict_Values(pending);
    if (entries == NULL)
        return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(entries); i++)
        rc = drop_pending(c, PyList_GET_ITEM(entries, i));
    Py_DECREF(entries);
    if (rc == 0)
        PyDict_Clear(pending);
    return rc;
}

static long long id_time(PyObject *msgid);

/* correlate._int(value): S=1234 -> 1234; None for anything but 1 to 15 ASCII digits (new reference). */
static PyObject *small_int(PyObject *value)
{
    Py_ssize_t n = value != NULL && PyUnicode_Check(value) ? PyUnicode_GET_LENGTH(value) : 0;
    int digits = n > 0 && n <= 15 && PyUnicode_IS_ASCII(value);
    for (Py_ssize_t i = 0; digits && i < n; i++)
        digits = PyUnicode_1BYTE_DATA(value)[i] >= '0' && PyUnicode_1BYTE_DATA(value)[i] <= '9';
    if (!digits)
        Py_RETURN_NONE;
    return PyLong_FromUnicodeObject(value, 10);
}

/* Set a state's slot to f.get(key, ""). */
static int put_field(PyObject *state, int slot, PyObject *f, PyObject *key)
{
    PyObject *v = field_or_empty(f, key);
    return v == NULL ? -1 : put_borrowed(state, state_at[slot], v);
}

/* Correlator._arrival(line) after _message found nothing anywhere: c->state is the new message. */
static int arrival(Feed *c)
{
    PyObject *state = c->state, *line = c->line, *f = c->fields;
    PyObject *address = get(line, line_at[L_ADDRESS]), *when = get(line, line_at[L_TIME]);
    PyObject *rcpts = get(line, line_at[L_RECIPIENTS]), *pending = get(state, state_at[S_PENDING]);
    if (address == NULL || when == NULL || rcpts == NULL || pending == NULL)
        return -1;
    if (!PyList_Check(rcpts) || !PyDict_Check(pending)) {
        PyErr_SetString(PyExc_TypeError, "recipients must be a list and pending a dict");
        return -1;
    }
    if (put_borrowed(state, state_at[S_EMAIL], address) < 0 || put_borrowed(state, state_at[S_SENDUNIXTIME], when) < 0)
        return -1;
    /* state.senderhost, state.senderip = _host_fields(f.get("H")) */
    PyObject *host = PyDict_GetItemWithError(f, f_H);
    if (host == NULL && PyErr_Occurred())
        return -1;
    if (put_host_fields(state, host == NULL ? Py_None : host, state_at[S_SENDERHOST], state_at[S_SENDERIP]) < 0)
        return -1;
    int rc = 0;
    PyObject *auth = PyDict_GetItemWithError(f, f_A), *user = NULL, *sender = get(state, state_at[S_SENDER]);
    if ((auth == NULL && PyErr_Occurred()) || sender == NULL)
        return -1;
    if (auth != NULL && PyObject_IsTrue(auth) == 1) {
        /* authenticator, _, auth_id = auth.partition(":") */
        PyObject *parts = PyUnicode_Partition(auth, s_colon);
        if (parts == NULL)
            return -1;
        PyObject *id = PyTuple_GET_ITEM(parts, 2);
        rc = put_borrowed(state, state_at[S_SENDERAUTH], PyTuple_GET_ITEM(parts, 0));
        if (rc == 0 && truthy_str(id))
            rc = put_borrowed(state, state_at[S_SENDER], id);
        Py_DECREF(parts);
        if (rc < 0)
            return -1;
    } else if ((user = PyDict_GetItemWithError(f, f_U)) != NULL && PyObject_IsTrue(sender) == 0) {
        PyObject *protocol = field_or_empty(f, f_P);
        if (protocol == NULL || put_borrowed(state, state_at[S_SENDER], user) < 0)
            return -1;
        if (PyUnicode_Check(protocol) && PyUnicode_Tailmatch(protocol, s_local, 0, PY_SSIZE_T_MAX, -1) == 1
            && put_borrowed(state, state_at[S_SENDERAUTH], s_localuser) < 0)
            return -1;
    } else if (PyErr_Occurred()) {
        return -1;
    }
    PyObject *size_text = PyDict_GetItemWithError(f, f_S);
    if ((size_text == NULL && PyErr_Occurred()) || set_slot_at(state, state_at[S_SIZE], small_int(size_text)) < 0)
        return -1;
    if (put_field(state, S_PROTOCOL, f, f_P) < 0 || put_field(state, S_TLS, f, f_X) < 0
        || put_field(state, S_MESSAGE_ID, f, f_id) < 0)
        return -1;
    PyObject *subject = PyDict_GetItemWithError(f, f_T);
    if (subject == NULL && PyErr_Occurred())
        return -1;
    PyObject *text = subject == NULL ? (Py_INCREF(s_empty), s_empty) : unquoted(subject);
    if (set_slot_at(state, state_at[S_SUBJECT], text) < 0)
        return -1;
    PyObject *parent = PyDict_GetItemWithError(f, f_R);
    if (parent == NULL && PyErr_Occurred())
        return -1;
    if (parent != NULL && PyObject_IsTrue(address) == 0 && put_borrowed(state, state_at[S_PARENT_MSGID], parent) < 0)
        return -1;
    /* every recipient once (case-insensitively), in order, each waiting */
    PyObject *seen = PySet_New(NULL), *kept = PyList_New(0);
    rc = seen == NULL || kept == NULL ? -1 : 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(rcpts); i++) {
        PyObject *rcpt = PyList_GET_ITEM(rcpts, i);
        PyObject *key = PyObject_CallMethodNoArgs(rcpt, m_lower);
        int known = key == NULL ? -1 : PySet_Contains(seen, key);
        if (known == 0) {
            PyObject *entry = waiting_entry(rcpt);
            if (entry == NULL) {
                known = -1;
            } else {
                if (PySet_Add(seen, key) < 0 || PyList_Append(kept, rcpt) < 0
                    || PyDict_SetItem(pending, key, entry) < 0)
                    known = -1;
                Py_DECREF(entry);
            }
        }
        Py_XDECREF(key);
        rc = known < 0 ? -1 : 0;
    }
    if (rc == 0)
        rc = set_slot_at(state, state_at[S_RECIPIENTS], PyUnicode_Join(s_space, kept));
    Py_XDECREF(seen);
    Py_XDECREF(kept);
    return rc;
}

/* Correlator._spam_score(state, line) */
static int spam_score(Feed *c)
{
    PyObject *text = get(c->line, line_at[L_MESSAGE]);
    if (text == NULL)
        return -1;
    PyObject *score = PyFloat_FromString(text);
    if (score == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    if (!isfinite(PyFloat_AS_DOUBLE(score))) {
        Py_DECREF(score);
        return 0;
    }
    return set_slot_at(c->state, state_at[S_SPAMSCORE], score);
}

/* Correlator._forget(msgid): remember that it left the cache; past max_evicted such ids, forget the
 * longest-gone one and look up every id as old as it from now on. */
static int forget(PyObject *self, PyObject *msgid)
{
    PyObject *evicted = self_get(self, a_evicted);
    if (evicted == NULL)
        return -1;
    PyObject *popped = PyObject_CallMethodObjArgs(evicted, m_pop, msgid, Py_None, NULL);
    int rc = popped == NULL ? -1 : PyObject_SetItem(evicted, msgid, Py_None);
    Py_XDECREF(popped);
    Py_ssize_t size = rc < 0 ? -1 : PyObject_Length(evicted);
    if (size > max_evicted) {
        PyObject *item = PyObject_CallMethodOneArg(evicted, m_popitem, Py_False);
        PyObject *horizon = item == NULL ? NULL : self_get(self, a_horizon);
        rc = -1;
        if (horizon != NULL && PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2
            && PyUnicode_Check(PyTuple_GET_ITEM(item, 0))) {
            PyObject *oldest = PyLong_FromLongLong(id_time(PyTuple_GET_ITEM(item, 0)));
            int later = oldest == NULL ? -1 : PyObject_RichCompareBool(oldest, horizon, Py_GT);
            rc = later < 0 ? -1 : later ? self_set(self, a_horizon, oldest) : 0;
            Py_XDECREF(oldest);
        } else if (horizon != NULL) {
            PyErr_SetString(PyExc_TypeError, "the evicted ids must be str keys");
        }
        Py_XDECREF(horizon);
        Py_XDECREF(item);
    } else if (size < 0) {
        rc = -1;
    }
    Py_DECREF(evicted);
    return rc;
}

/* Correlator._new_message(msgid) (new reference): a MessageState numbered on, remembered in the cache,
 * which forgets its oldest entries past cache_size (by the correlator's _forget, ``forgetter``). */
typedef int (*Forgetter)(PyObject *self, PyObject *msgid);

static PyObject *new_message(PyObject *self, PyObject *cache, PyObject *msgid, Forgetter forgetter)
{
    PyObject *state = from_template(state_template, state_template_at, state_template_count);
    if (state == NULL)
        return NULL;
    int rc = set_slot_at(state, state_at[S_ID], take_id(self, a_next_message_id));
    rc = rc < 0 ? rc : put_borrowed(state, state_at[S_MSGID], msgid);
    rc = rc < 0 ? rc : set_slot_at(state, state_at[S_SERVER], self_get(self, a_server));
    rc = rc < 0 ? rc : set_slot_at(state, state_at[S_RAW], PyList_New(0));
    rc = rc < 0 ? rc : set_slot_at(state, state_at[S_PENDING], PyDict_New());
    rc = rc < 0 ? rc : set_slot_at(state, state_at[S_ATTEMPTS], PyDict_New());
    /* _remember: a new key goes to the cache's end */
    rc = rc < 0 ? rc : PyObject_SetItem(cache, msgid, state);
    PyObject *limit = rc < 0 ? NULL : self_get(self, a_cache_size);
    Py_ssize_t size = limit == NULL ? -1 : PyLong_AsSsize_t(limit);
    Py_XDECREF(limit);
    if (size == -1 && PyErr_Occurred())
        rc = -1;
    while (rc == 0 && PyObject_Length(cache) > size) {
        PyObject *item = PyObject_CallMethodOneArg(cache, m_popitem, Py_False);
        if (item == NULL || !PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            if (item != NULL)
                PyErr_SetString(PyExc_TypeError, "popitem must return a pair");
            rc = -1;
        } else {
            rc = forgetter(self, PyTuple_GET_ITEM(item, 0));
        }
        Py_XDECREF(item);
    }
    if (rc < 0)
        Py_CLEAR(state);
    return state;
}

/* Correlator._touch(state, line.time) */
static int touch(Feed *c, PyObject *when)
{
    PyObject *state = c->state, *last = get(state, state_at[S_LASTUNIXTIME]);
    if (last == NULL)
        return -1;
    if (when != Py_None) {
        int later = last == Py_None ? 1 : PyObject_RichCompareBool(when, last, Py_GT);
        if (later < 0 || (later && put_borrowed(state, state_at[S_LASTUNIXTIME], when) < 0))
            return -1;
    }
    PyObject *messages = get(c->batch, batch_at[B_MESSAGES]), *by_msgid = get(c->batch, batch_at[B_BY_MSGID]);
    PyObject *id = get(state, state_at[S_ID]), *msgid = get(state, state_at[S_MSGID]);
    if (messages == NULL || by_msgid == NULL || id == NULL || msgid == NULL)
        return -1;
    /* Most lines of a message come in the batch that already has it: two lookups, no stores. */
    PyObject *had = PyDict_CheckExact(messages) ? PyDict_GetItemWithError(messages, id) : NULL;
    if (had == state && PyDict_CheckExact(by_msgid) && PyDict_GetItemWithError(by_msgid, msgid) == state)
        return 0;
    if (PyErr_Occurred())
        return -1;
    return PyDict_SetItem(messages, id, state) < 0 || PyDict_SetItem(by_msgid, msgid, state) < 0 ? -1 : 0;
}

/* What feed does with a line. */
enum { PYTHON, TRUE, ARRIVAL, DELIVERY, DEFER, FAILURE, COMPLETED, SPAM_SCORE, PLAIN, NEW = 16 /* | a new message */ };

/* id_time(msgid): the arrival time in the first six base-62 characters of an Exim id (others count 0). */
static long long id_time(PyObject *msgid)
{
    long long value = 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(msgid);
    for (Py_ssize_t i = 0; i < 6 && i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ_CHAR(msgid, i);
        int d = ch >= '0' && ch <= '9' ? (int)(ch - '0')
                    : ch >= 'A' && ch <= 'Z' ? (int)(ch - 'A') + 10
                    : ch >= 'a' && ch <= 'z' ? (int)(ch - 'a') + 36 : 0;
        value = value * 62 + d;
    }
    return value;
}

/* Whether an id not in the cache was seen before in this run: its message waits in the batch, or it
 * left the cache (_evicted). 1 when seen or when that cannot be told (wrong types), 0 when not, -1: an
 * error. */
static int seen_this_run(PyObject *self, PyObject *batch, PyObject *msgid)
{
    PyObject *by_msgid = Py_IS_TYPE(batch, batch_type) ? SLOT(batch, batch_at[B_BY_MSGID]) : NULL;
    int seen = by_msgid != NULL && PyDict_Check(by_msgid) ? PyDict_Contains(by_msgid, msgid) : 1;
    PyObject *evicted = seen == 0 ? self_get(self, a_evicted) : NULL;
    if (seen == 0)
        seen = evicted == NULL ? -1 : PyDict_Check(evicted) ? PyDict_Contains(evicted, msgid) : 1;
    Py_XDECREF(evicted);
    return seen;
}

/* Whether Correlator._message(msgid) would make a new message for an id not in the cache: not seen in
 * this run, and newer than anything that may be in the store. -1: an error. */
static int unknown_id(PyObject *self, PyObject *msgid)
{
    PyObject *batch = self_get(self, a_batch);
    int seen = batch == NULL ? -1 : seen_this_run(self, batch, msgid);
    Py_XDECREF(batch);
    if (seen < 0)
        return -1;
    int unknown = !seen;
    PyObject *horizon = unknown ? self_get(self, a_horizon) : NULL;
    if (unknown) {
        int overflow = 0;
        long long h = horizon == NULL || !PyLong_Check(horizon) ? 0 : PyLong_AsLongLongAndOverflow(horizon, &overflow);
        if (horizon == NULL || !PyLong_Check(horizon) || overflow || (h >= 0 && id_time(msgid) <= h))
            unknown = 0;
    }
    Py_XDECREF(horizon);
    if (PyErr_Occurred())
        return -1;
    return unknown;
}

/* What a rejection without a message needs of the correlator: its batch, events_by_type and server (new
 * references, each NULL when it could not be had); -1 with an exception set when any is missing or
 * of the wrong type. */
static int rejection_context(PyObject *self, PyObject **batch, PyObject **counts, PyObject **server)
{
    *batch = self_get(self, a_batch);
    *counts = self_get(self, a_events_by_type);
    *server = self_get(self, a_server);
    if (*batch != NULL && *counts != NULL && *server != NULL && Py_IS_TYPE(*batch, batch_type) && PyDict_Check(*counts))
        return 0;
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "a correlator's batch or events_by_type has the wrong type");
    return -1;
}

/* The end of both correlators' _rejected/_refused for a rejection without a message: the event explained
 * (self._explain), stored under the next event id with no message, and its log line kept with it. */
static int add_rejection(PyObject *self, PyObject *batch, PyObject *counts, PyObject *e, PyObject *raw)
{
    PyObject *explained = PyObject_CallMethodOneArg(self, a_explain, e);
    if (explained == NULL)
        return -1;
    Py_DECREF(explained);
    PyObject *events = get(batch, batch_at[B_EVENTS]), *refs = get(batch, batch_at[B_EVENT_MESSAGE]);
    PyObject *raws = get(batch, batch_at[B_EVENT_RAW]), *type = get(e, event_at[E_TYPE]), *id = NULL;
    if (events == NULL || refs == NULL || raws == NULL || type == NULL
        || (id = take_id(self, a_next_event_id)) == NULL)
        return -1;
    int rc = PyDict_SetItem(events, id, e) == 0 && PyDict_SetItem(refs, id, Py_None) == 0
             && count(counts, type, 1) == 0 && PyDict_SetItem(raws, id, raw) == 0 ? 0 : -1;
    Py_DECREF(id);
    return rc;
}

/* Correlator._rejected(line, raw) for an SMTP-time rejection without a message id. */
static int exim_rejected(PyObject *self, PyObject *line, PyObject *raw, PyObject *f)
{
    PyObject *batch, *counts, *server, *e = NULL, *email = NULL;
    int rc = -1;
    if (rejection_context(self, &batch, &counts, &server) < 0)
        goto done;
    PyObject *when = get(line, line_at[L_TIME]), *address = get(line, line_at[L_ADDRESS]);
    PyObject *message = get(line, line_at[L_MESSAGE]), *from = field_or_empty(f, f_F);
    PyObject *host = PyDict_GetItemWithError(f, f_H);
    if (when == NULL || address == NULL || message == NULL || from == NULL || (host == NULL && PyErr_Occurred()))
        goto done;
    /* _strip_angle(f.get("F", "")) */
    Py_ssize_t n = PyUnicode_GET_LENGTH(from);
    if (n >= 2 && PyUnicode_READ_CHAR(from, 0) == '<' && PyUnicode_READ_CHAR(from, n - 1) == '>')
        email = PyUnicode_Substring(from, 1, n - 1);
    else
        email = (Py_INCREF(from), from);
    if (email == NULL || (e = from_template(template_event, template_at, template_count)) == NULL)
        goto done;
    if (put_borrowed(e, event_at[E_TYPE], t_rejected) < 0 || put_borrowed(e, event_at[E_SERVER], server) < 0
        || put_borrowed(e, event_at[E_ACTIONUNIXTIME], when) < 0 || put_borrowed(e, event_at[E_EMAIL], email) < 0
        || put_borrowed(e, event_at[E_RECIPIENT], address) < 0
        || put_host_fields(e, host == NULL ? Py_None : host, event_at[E_SENDERHOST], event_at[E_SENDERIP]) < 0
        || put_borrowed(e, event_at[E_MESSAGE], message) < 0)
        goto done;
    PyObject *auth = PyDict_GetItemWithError(f, f_A), *user = NULL;
    if (auth == NULL && PyErr_Occurred())
        goto done;
    if (auth != NULL && PyObject_IsTrue(auth) == 1) {
        /* event.senderauth, _, event.sender = auth.partition(":") */
        PyObject *parts = PyUnicode_Partition(auth, s_colon);
        int set = parts == NULL || put_borrowed(e, event_at[E_SENDERAUTH], PyTuple_GET_ITEM(parts, 0)) < 0
                  || put_borrowed(e, event_at[E_SENDER], PyTuple_GET_ITEM(parts, 2)) < 0 ? -1 : 0;
        Py_XDECREF(parts);
        if (set < 0)
            goto done;
    } else if ((user = PyDict_GetItemWithError(f, f_U)) != NULL) {
        if (put_borrowed(e, event_at[E_SENDER], user) < 0)
            goto done;
    } else if (PyErr_Occurred()) {
        goto done;
    }
    rc = add_rejection(self, batch, counts, e, raw);
done:
    Py_XDECREF(e);
    Py_XDECREF(email);
    Py_XDECREF(server);
    Py_XDECREF(counts);
    Py_XDECREF(batch);
    return rc;
}

/* What to do with the line; sets *state (a new reference) for every answer but PYTHON and TRUE. */
static int dispatch(PyObject *self, PyObject *cache, PyObject *line, PyObject **state)
{
    PyObject *kind = SLOT(line, line_at[L_KIND]), *msgid = SLOT(line, line_at[L_MSGID]);
    PyObject *fields = SLOT(line, line_at[L_FIELDS]);
    if (kind == NULL || msgid == NULL || fields == NULL || !PyUnicode_CheckExact(msgid) || !PyDict_CheckExact(fields)
        || !PyDict_Check(cache))
        return PYTHON;
    if (kind == k_unknown)
        return TRUE;
    if (kind == k_rejected)
        return PYTHON;
    if (PyUnicode_GET_LENGTH(msgid) == 0)
        return TRUE;
    int what = kind == k_delivery ? DELIVERY : kind == k_defer ? DEFER : kind == k_failure ? FAILURE
               : kind == k_completed ? COMPLETED : kind == k_spamscore ? SPAM_SCORE : kind == k_note ? PLAIN
               : kind == k_arrival ? ARRIVAL : PYTHON;
    if (what == DELIVERY) {    /* "=> blackhole (DATA ACL discarded recipients)": Python's */
        PyObject *address = SLOT(line, line_at[L_ADDRESS]);
        if (address == NULL || same_str(address, s_acl_blackhole))
            return PYTHON;
    }
    if (what == PYTHON)
        return PYTHON;
    *state = PyDict_GetItemWithError(cache, msgid);
    if (*state != NULL) {
        if (!Py_IS_TYPE(*state, state_type))
            return PYTHON;
        if (what == ARRIVAL) {    /* an arrival for a message that arrived or completed: a reused id */
            PyObject *send = SLOT(*state, state_at[S_SENDUNIXTIME]), *done = SLOT(*state, state_at[S_STATE]);
            if (send != Py_None || done == NULL || same_str(done, s_completed))
                return PYTHON;
        }
        Py_INCREF(*state);
        return what;
    }
    if (PyErr_Occurred())
        return -1;
    /* _message: an id seen nowhere and newer than the store is a new message */
    int unknown = unknown_id(self, msgid);
    if (unknown <= 0)
        return unknown < 0 ? -1 : PYTHON;
    *state = new_message(self, cache, msgid, forget);
    return *state == NULL ? -1 : what | NEW;
}

static PyObject *feed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "feed(correlator, line, raw)");
        return NULL;
    }
    PyObject *self = args[0], *line = args[1], *raw = args[2];
    if (state_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_correlc.setup() was not called");
        return NULL;
    }
    if (!Py_IS_TYPE(line, line_type) || !PyUnicode_CheckExact(raw))
        return PyObject_Vectorcall(python_feed, args, 3, NULL);
    PyObject *kind = SLOT(line, line_at[L_KIND]), *line_msgid = SLOT(line, line_at[L_MSGID]);
    PyObject *line_fields = SLOT(line, line_at[L_FIELDS]);
    if (kind == k_rejected && line_msgid != NULL && PyUnicode_CheckExact(line_msgid)
        && PyUnicode_GET_LENGTH(line_msgid) == 0 && line_fields != NULL && PyDict_CheckExact(line_fields))
        return exim_rejected(self, line, raw, line_fields) < 0 ? NULL : (Py_INCREF(Py_True), Py_True);
    PyObject *cache = self_get(self, a_cache);
    if (cache == NULL)
        return NULL;
    PyObject *state = NULL;
    int what = dispatch(self, cache, line, &state);
    if (what < 0 || what == PYTHON || what == TRUE) {
        Py_DECREF(cache);
        if (what < 0)
            return NULL;
        return what == TRUE ? (Py_INCREF(Py_True), Py_True) : PyObject_Vectorcall(python_feed, args, 3, NULL);
    }
    PyObject *batch = self_get(self, a_batch), *counts = self_get(self, a_events_by_type);
    PyObject *msgid = SLOT(line, line_at[L_MSGID]);
    PyObject *result = NULL, *raws = NULL;
    Feed c = {self, batch, counts, state, line, SLOT(line, line_at[L_FIELDS])};
    int repeated = 0, rc = 0;
    if (batch == NULL || counts == NULL || !Py_IS_TYPE(batch, batch_type) || !PyDict_Check(counts)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a correlator's batch or events_by_type has the wrong type");
        goto done;
    }
    if (!(what & NEW)) {    /* _message: a cache hit moves to the end (a new message is there already) */
        PyObject *moved = PyObject_CallMethodOneArg(cache, m_move_to_end, msgid);
        if (moved == NULL)
            goto done;
        Py_DECREF(moved);
    }
    what &= ~NEW;
    raws = get(state, state_at[S_RAW]);
    repeated = raws == NULL ? -1 : what == ARRIVAL ? 0 : has_line(raws, raw);
    if (repeated < 0)
        goto done;
    switch (what) {
    case ARRIVAL: rc = arrival(&c); break;
    case DELIVERY: rc = delivery(&c); break;
    case DEFER: rc = problem(&c, t_defer); break;
    case FAILURE: rc = problem(&c, t_failure); break;
    case COMPLETED: rc = completed(&c); break;
    case SPAM_SCORE: rc = spam_score(&c); break;
    default: break;    /* PLAIN: a note, kept with the message's lines */
    }
    PyObject *when = rc < 0 ? NULL : get(line, line_at[L_TIME]);
    if (when == NULL || touch(&c, when) < 0 || PyList_Append(raws, raw) < 0)
        goto done;
    if (what == COMPLETED) {
        /* Finished messages rarely get more lines; free the cache slot (the store has it). */
        PyObject *popped = PyObject_CallMethodObjArgs(cache, m_pop, msgid, Py_None, NULL);
        if (popped == NULL)
            goto done;
        int forgot = popped == Py_None ? 0 : forget(self, msgid);
        Py_DECREF(popped);
        if (forgot < 0)
            goto done;
    }
    result = PyBool_FromLong(!repeated);
done:
    Py_XDECREF(batch);
    Py_XDECREF(counts);
    Py_DECREF(state);
    Py_DECREF(cache);
    return result;
}

static int offsets_of(PyObject *type, const char *const *names, int n, Py_ssize_t *at, PyTypeObject **kept)
{
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "setup() wants the classes");
        return -1;
    }
    if (slot_offsets((PyTypeObject *)type, names, n, at) < 0)
        return -1;
    Py_INCREF(type);
    Py_XSETREF(*kept, (PyTypeObject *)type);
    return 0;
}

static PyObject *take(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

/* A str that setup() keeps: *to = from[key] */
typedef struct {
    PyObject **to;
    PyObject *from;
    const char *key;
} Named;

static int take_named(const Named *named, size_t count, const char *who)
{
    for (size_t i = 0; i < count; i++) {
        PyObject *v = PyDict_GetItemString(named[i].from, named[i].key);
        if (v == NULL || !PyUnicode_Check(v)) {
            PyErr_Format(PyExc_KeyError, "%s() needs a str for %s", who, named[i].key);
            return -1;
        }
        Py_XSETREF(*named[i].to, take(v));
    }
    return 0;
}

/* The offsets of every field of a slots class (names: a sequence of str) and a template instance of it
 * with every field set: *at is replaced (PyMem). */
static int template_slots(PyTypeObject *type, PyObject *fields, PyObject *template, Py_ssize_t **at, Py_ssize_t *count)
{
    PyObject *seq = PySequence_Fast(fields, "the field names must be a sequence");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    const char **names = PyMem_Calloc((size_t)n + 1, sizeof *names);
    Py_ssize_t *offsets = PyMem_Calloc((size_t)n + 1, sizeof *offsets);
    int ok = names != NULL && offsets != NULL;
    for (Py_ssize_t i = 0; ok && i < n; i++)
        ok = (names[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i))) != NULL;
    ok = ok && slot_offsets(type, names, (int)n, offsets) == 0 && Py_IS_TYPE(template, type);
    for (Py_ssize_t i = 0; ok && i < n; i++)
        ok = SLOT(template, offsets[i]) != NULL;
    PyMem_Free(names);
    Py_DECREF(seq);
    if (!ok) {
        PyMem_Free(offsets);
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "the template must be a %s with every field set", type->tp_name);
        return -1;
    }
    PyMem_Free(*at);
    *at = offsets, *count = n;
    return 0;
}

/* setup(MessageState, its fields, a template, DeliveryEvent, its fields, a template, EximLine, Batch,
 *       Correlator.feed, _host_fields, parse_duration, unquote, extract_dsn, kinds, types, texts,
 *       max_evicted): see correlate._compiled_feed */
static PyObject *setup(PyObject *module, PyObject *args)
{
    PyObject *state_cls, *state_fields, *state_tmpl, *event_cls, *event_fields, *event_tmpl, *line_cls, *batch_cls,
        *py_feed, *hosts, *duration, *unq, *dsn, *kinds, *types, *texts;
    Py_ssize_t evicted;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOO!O!O!n", &state_cls, &state_fields, &state_tmpl, &event_cls,
                          &event_fields, &event_tmpl, &line_cls, &batch_cls, &py_feed, &hosts, &duration, &unq,
                          &dsn, &PyDict_Type, &kinds, &PyDict_Type, &types, &PyDict_Type, &texts, &evicted))
        return NULL;
    if (offsets_of(state_cls, state_names, S_COUNT, state_at, &state_type) < 0
        || offsets_of(event_cls, event_names, E_COUNT, event_at, &event_type) < 0
        || offsets_of(line_cls, line_names, L_COUNT, line_at, &line_type) < 0
        || offsets_of(batch_cls, batch_names, B_COUNT, batch_at, &batch_type) < 0
        || template_slots(state_type, state_fields, state_tmpl, &state_template_at, &state_template_count) < 0
        || template_slots(event_type, event_fields, event_tmpl, &template_at, &template_count) < 0)
        return NULL;
    Py_XSETREF(state_template, take(state_tmpl));
    Py_XSETREF(template_event, take(event_tmpl));
    max_evicted = evicted;
    Py_XSETREF(python_feed, take(py_feed));
    Py_XSETREF(host_fields, take(hosts));
    Py_XSETREF(parse_duration, take(duration));
    Py_XSETREF(unquote, take(unq));
    Py_XSETREF(extract_dsn, take(dsn));
    Named named[] = {
        {&k_delivery, kinds, "delivery"}, {&k_defer, kinds, "defer"}, {&k_failure, kinds, "failure"},
        {&k_completed, kinds, "completed"}, {&k_arrival, kinds, "arrival"}, {&k_rejected, kinds, "rejected"},
        {&k_unknown, kinds, "unknown"}, {&k_spamscore, kinds, "spamscore"}, {&k_note, kinds, "note"},
        {&t_success, types, "success"}, {&t_defer, types, "defer"}, {&t_failure, types, "failure"},
        {&t_filtered, types, "filtered"}, {&t_archive, types, "archive"}, {&t_inprogress, types, "inprogress"},
        {&t_rejected, types, "rejected"},
        {&s_completed, texts, "completed"}, {&s_blackhole, texts, "blackhole"},
        {&s_acl_blackhole, texts, "acl_blackhole"},
        {&s_bypassed, texts, "bypassed"}, {&s_archiver, texts, "archiver"}, {&s_star_flag, texts, "star_flag"},
        {&s_accepted, texts, "accepted"}, {&s_discarded_text, texts, "discarded_text"},
        {&s_bypassed_text, texts, "bypassed_text"}, {&s_other, texts, "other"}, {&s_retry, texts, "retry"},
        {&s_local, texts, "local"}, {&s_localuser, texts, "localuser"}, {&s_inprogress_text, texts, "inprogress"},
    };
    if (take_named(named, sizeof named / sizeof named[0], "setup") < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* -- Postfix: PostfixCorrelator.feed ----------------------------------------------------------------
 *
 * feed_postfix(correlator, line, raw) takes connect and TLS lines, lines without a queue id, and the
 * lines of a message it finds the way PostfixCorrelator.feed does; it does what that method does, with
 * its handlers for client=, qmgr's from=, message-id=, removed and status=sent|deferred|SOFTBOUNCE|
 * bounced deliveries (_delivered, with _link and _inherit_client for a content filter's "queued as") in
 * C, the explanations by the correlator's _explain, and every other handler called in Python. A message's first line (or a completed or reused queue id)
 * goes through PostfixCorrelator._state_for. NOQUEUE rejections are PostfixCorrelator._refused's work
 * here (postfix_refused); the rejections of a queued message, discards and dnsblog lines go to
 * PostfixCorrelator.feed. Shared with the Exim path: event_for, add_event, drop_pending,
 * close_recipient and touch. */

enum { P_KIND, P_TIME, P_QUEUE_ID, P_PROGRAM, P_SERVICE, P_HOST, P_FIELDS, P_MESSAGE, P_PID, P_COUNT };
static const char *const pline_names[P_COUNT] = {
    "kind", "time", "queue_id", "program", "service", "host", "fields", "message", "pid"};
static PyTypeObject *pline_type;
static Py_ssize_t pline_at[P_COUNT];
static PyObject *postfix_feed;           /* PostfixCorrelator.feed */
static PyObject *postfix_handlers;       /* correlate_postfix._HANDLERS: kind -> function */
static PyObject *pk_connect, *pk_tls, *pk_reject, *pk_discard, *pk_dnsbl, *pk_client, *pk_pickup, *pk_queued,
    *pk_delivery, *pk_removed, *pk_message_id;
static PyObject *ps_deferred, *ps_softbounce, *ps_bounced;
static PyObject *ps_completed, *ps_sent, *ps_discard, *ps_smtp, *ps_unknown, *ps_none, *ps_local, *ps_virtual,
    *ps_discarded, *ps_queued_as, *ps_forwarded_as, *ps_loopback4, *ps_loopback6, *ps_mapped4, *ps_slash,
    *ps_private, *ps_public, *ps_discarded_prefix, *ps_postscreen, *ps_blocked_using;
static PyObject *pf_peer_ip, *pf_peer_port, *pf_tls, *pf_status, *pf_to, *pf_orig_to, *pf_relay, *pf_delay,
    *pf_dsn, *pf_from, *pf_size, *pf_message_id, *pf_client_host, *pf_client_ip, *pf_orig_client_ip,
    *pf_orig_queue_id, *pf_sasl_username, *pf_sasl_method, *pf_proto, *pf_helo;
static Py_ssize_t max_remembered;        /* correlate_postfix._MAX_REMEMBERED */

static int starts_with(PyObject *text, PyObject *prefix)
{
    return PyUnicode_Check(text) && PyUnicode_Tailmatch(text, prefix, 0, PY_SSIZE_T_MAX, -1) == 1;
}

static int contains_text(PyObject *text, PyObject *part)
{
    return PyUnicode_Check(text) && PyUnicode_Find(text, part, 0, PY_SSIZE_T_MAX, 1) >= 0;
}

/* (line.host, line.program, line.pid): the key of a process's TLS session (new reference) */
static PyObject *process_key(PyObject *line)
{
    PyObject *host = get(line, pline_at[P_HOST]), *program = get(line, pline_at[P_PROGRAM]);
    PyObject *pid = get(line, pline_at[P_PID]);
    return host == NULL || program == NULL || pid == NULL ? NULL : PyTuple_Pack(3, host, program, pid);
}

/* PostfixCorrelator._session_tls(line, peer_ip, peer_port) (borrowed; s_empty when none) */
static PyObject *session_tls(PyObject *self, PyObject *line, PyObject *peer_ip, PyObject *peer_port)
{
    PyObject *sessions = self_get(self, pa_tls), *key = process_key(line);
    PyObject *session = sessions == NULL || key == NULL || !PyDict_Check(sessions)
                            ? NULL : PyDict_GetItemWithError(sessions, key);
    PyObject *tls = NULL;
    if (session != NULL && PyTuple_Check(session) && PyTuple_GET_SIZE(session) == 3) {
        PyObject *ip = PyTuple_GET_ITEM(session, 0), *port = PyTuple_GET_ITEM(session, 1);
        if (truthy_str(peer_ip) && same_str(ip, peer_ip)
            && (!(truthy_str(peer_port) && truthy_str(port)) || same_str(port, peer_port)))
            tls = PyTuple_GET_ITEM(session, 2);    /* the dict keeps it alive: borrowed */
    } else if (session != NULL) {
        PyErr_SetString(PyExc_TypeError, "a TLS session must be a tuple of 3");
    }
    if (sessions != NULL && !PyDict_Check(sessions) && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "_tls must be a dict");
    Py_XDECREF(sessions);
    Py_XDECREF(key);
    if (PyErr_Occurred())
        return NULL;
    return tls == NULL ? s_empty : tls;
}

/* parse.postfix.split_endpoint(value): (name, address, port) (new reference) */
static PyObject *split_endpoint(PyObject *value)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    Py_ssize_t start = PyUnicode_FindChar(value, '[', 0, n, 1);
    Py_ssize_t end = start < -1 ? -2 : PyUnicode_FindChar(value, ']', start + 1, n, 1);
    if (start < -1 || end < -1)
        return NULL;
    if (start < 0 || end < 0)
        return PyTuple_Pack(3, value, s_empty, s_empty);
    PyObject *name = PyUnicode_Substring(value, 0, start), *address = PyUnicode_Substring(value, start + 1, end);
    PyObject *port = end + 1 < n && PyUnicode_READ_CHAR(value, end + 1) == ':' ? PyUnicode_Substring(value, end + 2, n)
                                                                              : (Py_INCREF(s_empty), s_empty);
    PyObject *parts = name == NULL || address == NULL || port == NULL ? NULL : PyTuple_Pack(3, name, address, port);
    Py_XDECREF(name);
    Py_XDECREF(address);
    Py_XDECREF(port);
    return parts;
}

/* correlate_postfix._seconds(value): delay=0.38 -> 0; None for no value or what is not a sane number */
static PyObject *seconds(PyObject *value)
{
    if (value == NULL || value == Py_None || PyObject_IsTrue(value) != 1)
        Py_RETURN_NONE;
    PyObject *number = PyFloat_FromString(value);    /* float(value) */
    if (number == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    double d = PyFloat_AS_DOUBLE(number);
    Py_DECREF(number);
    if (!isfinite(d))    /* int() refuses inf and nan */
        Py_RETURN_NONE;
    double whole = trunc(d);
    if (whole < 0 || whole >= 9007199254740992.0)    /* 0 <= seconds < 2**53 */
        Py_RETURN_NONE;
    return PyLong_FromDouble(whole);
}

/* parse.postfix.queued_as(text): the first "queued as " followed by letters and digits (new reference) */
static PyObject *queued_as(PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), from = 0, len = PyUnicode_GET_LENGTH(ps_queued_as);
    while (1) {
        Py_ssize_t at = PyUnicode_Find(text, ps_queued_as, from, n, 1);
        if (at < 0)
            return at == -1 ? (Py_INCREF(s_empty), s_empty) : NULL;
        Py_ssize_t i = at + len;
        while (i < n) {
            Py_UCS4 ch = PyUnicode_READ_CHAR(text, i);
            if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')))
                break;
            i++;
        }
        if (i > at + len)
            return PyUnicode_Substring(text, at + len, i);
        from = at + 1;
    }
}

static int is_loopback(PyObject *ip)
{
    return starts_with(ip, ps_loopback4) || starts_with(ip, ps_mapped4) || same_str(ip, ps_loopback6);
}

/* PostfixCorrelator._known(msgid): an open message of this run (borrowed), or NULL (maybe an error) */
static PyObject *known(Feed *c, PyObject *cache, PyObject *msgid)
{
    PyObject *state = PyDict_GetItemWithError(cache, msgid);
    if (state == NULL && !PyErr_Occurred()) {
        PyObject *by_msgid = get(c->batch, batch_at[B_BY_MSGID]);
        state = by_msgid == NULL ? NULL : PyDict_GetItemWithError(by_msgid, msgid);
    }
    return state;
}

/* PostfixCorrelator._forget(msgid), in Python (rare: Postfix frees a message's slot when it is removed) */
static int postfix_forget(PyObject *self, PyObject *msgid)
{
    PyObject *result = PyObject_CallMethodOneArg(self, pa_forget, msgid);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* PostfixCorrelator._state_for(line) for a queue id seen nowhere, when _message would not look it up in
 * the store: _new_message (server: the correlator's, or the line's host; parent: a "queued as" or
 * bounce notice seen before). NULL without an error: not such an id, Python's _state_for decides. */
static PyObject *postfix_new_state(PyObject *self, PyObject *cache, PyObject *batch, PyObject *qid)
{
    PyObject *everything = self_get(self, pa_lookup_all);
    int lookup = everything == NULL ? -1 : PyObject_IsTrue(everything);
    Py_XDECREF(everything);
    if (lookup != 0 || seen_this_run(self, batch, qid) != 0)
        return NULL;    /* an error is left set where there was one */
    PyObject *state = new_message(self, cache, qid, postfix_forget);
    PyObject *server = state == NULL ? NULL : self_get(self, a_server);
    int own = server == NULL ? -1 : PyObject_IsTrue(server);
    if (own == 0) {
        Py_DECREF(server);
        server = self_get(self, pa_host);
    }
    int rc = own < 0 || server == NULL ? -1 : set_slot_at(state, state_at[S_SERVER], server);
    PyObject *parents = rc < 0 ? NULL : self_get(self, pa_parents);
    PyObject *parent = parents == NULL || !PyDict_Check(parents) ? NULL : dict_pop(parents, qid);
    if (parent != NULL) {
        rc = set_slot_at(state, state_at[S_PARENT_MSGID], parent);
    } else if (parents == NULL || !PyDict_Check(parents) || PyErr_Occurred()) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "_parents must be a dict");
        rc = -1;
    }
    Py_XDECREF(parents);
    if (rc < 0) {
        Py_XDECREF(state);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "a new message could not be made");
        return NULL;
    }
    return state;
}

static int call_method3(PyObject *self, PyObject *name, PyObject *a, PyObject *b, PyObject *d)
{
    PyObject *result = PyObject_CallMethodObjArgs(self, name, a, b, d, NULL);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* PostfixCorrelator._inherit_client(child, parent): a content filter's re-injection comes from localhost;
 * it keeps the original client and login. */
static int inherit_client(PyObject *child, PyObject *parent)
{
    PyObject *ip = get(child, state_at[S_SENDERIP]), *sender = get(child, state_at[S_SENDER]);
    if (ip == NULL || sender == NULL)
        return -1;
    if (!truthy_str(ip) || is_loopback(ip)) {
        PyObject *host = get(parent, state_at[S_SENDERHOST]), *their_ip = get(parent, state_at[S_SENDERIP]);
        PyObject *tls = get(child, state_at[S_TLS]), *their_tls = get(parent, state_at[S_TLS]);
        if (host == NULL || their_ip == NULL || tls == NULL || their_tls == NULL)
            return -1;
        int keep = PyObject_IsTrue(tls);    /* child.tls = child.tls or parent.tls */
        if (keep < 0 || put_borrowed(child, state_at[S_SENDERHOST], host) < 0
            || put_borrowed(child, state_at[S_SENDERIP], their_ip) < 0
            || (!keep && put_borrowed(child, state_at[S_TLS], their_tls) < 0))
            return -1;
    }
    PyObject *their_sender = get(parent, state_at[S_SENDER]);
    if (their_sender == NULL)
        return -1;
    int have = PyObject_IsTrue(sender), theirs = PyObject_IsTrue(their_sender);
    if (have < 0 || theirs < 0)
        return -1;
    if (!have && theirs) {
        PyObject *auth = get(parent, state_at[S_SENDERAUTH]);
        if (auth == NULL || put_borrowed(child, state_at[S_SENDER], their_sender) < 0
            || put_borrowed(child, state_at[S_SENDERAUTH], auth) < 0)
            return -1;
    }
    return 0;
}

/* PostfixCorrelator._link(child_id, state, inherit=True), for a "queued as" hop */
static int link_hop(Feed *c, PyObject *cache, PyObject *child_id)
{
    PyObject *parent = c->state, *parent_id = get(parent, state_at[S_MSGID]);
    if (parent_id == NULL)
        return -1;
    if (same_str(child_id, parent_id))
        return 0;
    PyObject *child = known(c, cache, child_id);
    if (child == NULL) {
        if (PyErr_Occurred())
            return -1;
        PyObject *parents = self_get(c->self, pa_parents);
        int rc = parents == NULL ? -1 : 0;
        if (rc == 0 && !PyDict_Check(parents)) {
            PyErr_SetString(PyExc_TypeError, "_parents must be a dict");
            rc = -1;
        }
        if (rc == 0 && PyDict_GET_SIZE(parents) > max_remembered)
            PyDict_Clear(parents);
        if (rc == 0)
            rc = PyDict_SetItem(parents, child_id, parent_id);
        Py_XDECREF(parents);
        return rc;
    }
    if (!Py_IS_TYPE(child, state_type)) {
        PyErr_SetString(PyExc_TypeError, "a message must be a MessageState");
        return -1;
    }
    Py_INCREF(child);    /* the cache may be changed below */
    PyObject *linked = get(child, state_at[S_PARENT_MSGID]);
    int rc = linked == NULL ? -1 : 0;
    if (rc == 0 && !truthy_str(linked))
        rc = put_borrowed(child, state_at[S_PARENT_MSGID], parent_id);
    if (rc == 0)
        rc = inherit_client(child, parent);
    if (rc == 0) {
        Feed other = *c;
        other.state = child;
        rc = touch(&other, Py_None);
    }
    Py_DECREF(child);
    return rc;
}

/* PostfixCorrelator._follow_hop(state, text, ip) */
static int follow_hop(Feed *c, PyObject *cache, PyObject *text, PyObject *ip)
{
    if (contains_text(text, ps_queued_as)) {
        PyObject *child_id = queued_as(text);
        if (child_id == NULL)
            return -1;
        int rc = 0;
        if (truthy_str(child_id)) {
            if (is_loopback(ip)) {
                rc = link_hop(c, cache, child_id);
            } else {
                PyObject *child = known(c, cache, child_id);
                if (child == NULL && PyErr_Occurred()) {
                    rc = -1;
                } else if (child != NULL && truthy_str(ip) && child != c->state) {
                    PyObject *their_ip = Py_IS_TYPE(child, state_type) ? get(child, state_at[S_SENDERIP]) : NULL;
                    if (their_ip == NULL)
                        rc = -1;
                    else if (same_str(their_ip, ip))
                        rc = link_hop(c, cache, child_id);
                }
            }
            Py_DECREF(child_id);
            return rc;
        }
        Py_DECREF(child_id);
    }
    if (contains_text(text, ps_forwarded_as))    /* local(8) forwarding: Python's */
        return call_method3(c->self, pa_follow_hop, c->state, text, ip);
    return 0;
}

/* PostfixCorrelator._note_recipient(state, recipient) */
static int note_recipient(Feed *c, PyObject *recipient)
{
    PyObject *state = c->state, *pending = get(state, state_at[S_PENDING]);
    PyObject *recipients = get(state, state_at[S_RECIPIENTS]);
    if (pending == NULL || recipients == NULL)
        return -1;
    if (!PyDict_Check(pending)) {
        PyErr_SetString(PyExc_TypeError, "pending must be a dict");
        return -1;
    }
    PyObject *placeholder = dict_pop(pending, s_empty);
    int dropped = placeholder == NULL ? (PyErr_Occurred() ? -1 : 0) : drop_pending(c, placeholder);
    Py_XDECREF(placeholder);
    if (dropped < 0)
        return -1;
    if (!truthy_str(recipient))
        return 0;
    PyObject *listed = PyUnicode_Split(recipients, s_space, -1);
    int present = listed == NULL ? -1 : PySequence_Contains(listed, recipient);
    Py_XDECREF(listed);
    if (present != 0)
        return present < 0 ? -1 : 0;
    PyObject *joined = truthy_str(recipients) ? PyUnicode_FromFormat("%U %U", recipients, recipient)
                                              : (Py_INCREF(recipient), recipient);
    return set_slot_at(state, state_at[S_RECIPIENTS], joined);
}

/* The end of _delivered for a deferral (``type`` t_defer) or a failure: the reply explained (by the
 * correlator's _explain, in Python), the attempt counted and the recipient left waiting, or closed. */
static int postfix_problem(Feed *c, PyObject *e, PyObject *type, PyObject *recipient, PyObject *text)
{
    PyObject *dsn = field_or_empty(c->fields, pf_dsn);
    if (dsn == NULL || put_borrowed(e, event_at[E_MESSAGE], text) < 0)
        return -1;
    PyObject *done = PyObject_CallMethodObjArgs(c->self, a_explain, e, dsn, NULL);
    if (done == NULL)
        return -1;
    Py_DECREF(done);
    if (type != t_defer)
        return add_event(c, e) < 0 ? -1 : close_recipient(c, recipient);
    PyObject *state = c->state, *key = PyObject_CallMethodNoArgs(recipient, m_lower);
    PyObject *pending = get(state, state_at[S_PENDING]), *now = get(state, state_at[S_STATE]);
    int rc = -1;
    if (key == NULL || pending == NULL || now == NULL)
        goto done;
    if (!PyDict_Check(pending)) {
        PyErr_SetString(PyExc_TypeError, "pending must be a dict");
        goto done;
    }
    if (count_attempt(c, e, key) < 0)
        goto done;
    PyObject *waiting = PyUnicode_FromFormat("%U (%S)", s_retry, text);    /* DEFERRED_PREFIX + text + ")" */
    PyObject *entry = waiting == NULL ? NULL : PyDict_GetItemWithError(pending, key);
    if (waiting == NULL || (entry == NULL && PyErr_Occurred())) {
        Py_XDECREF(waiting);
        goto done;
    }
    if (entry != NULL) {
        if (set_text(c, entry, waiting) < 0) {
            Py_DECREF(waiting);
            goto done;
        }
    } else if (!same_str(now, ps_completed)) {    /* a late line of a removed message leaves no one waiting */
        PyObject *fresh = PyList_New(3);
        if (fresh == NULL) {
            Py_DECREF(waiting);
            goto done;
        }
        PyList_SET_ITEM(fresh, 0, Py_NewRef(recipient));
        PyList_SET_ITEM(fresh, 1, Py_NewRef(Py_None));
        PyList_SET_ITEM(fresh, 2, Py_NewRef(waiting));
        int set = PyDict_SetItem(pending, key, fresh);
        Py_DECREF(fresh);
        if (set < 0) {
            Py_DECREF(waiting);
            goto done;
        }
    }
    Py_DECREF(waiting);
    rc = add_event(c, e);
done:
    Py_XDECREF(key);
    return rc;
}

/* PostfixCorrelator._delivered(state, line) for status=sent (type t_success), deferred or SOFTBOUNCE
 * (t_defer) and bounced (t_failure) */
static int postfix_delivered(Feed *c, PyObject *cache, PyObject *type)
{
    PyObject *line = c->line, *f = c->fields;
    PyObject *to = PyDict_GetItemWithError(f, pf_to), *orig = PyDict_GetItemWithError(f, pf_orig_to);
    PyObject *service = get(line, pline_at[P_SERVICE]), *when = get(line, pline_at[P_TIME]);
    PyObject *text = get(line, pline_at[P_MESSAGE]);
    if (to == NULL || service == NULL || when == NULL || text == NULL || (orig == NULL && PyErr_Occurred())) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_KeyError, "to");
        return -1;
    }
    PyObject *recipient = orig != NULL && PyObject_IsTrue(orig) == 1 ? orig : to;
    if (type == t_success && same_str(service, ps_discard))
        type = t_filtered;
    if (note_recipient(c, recipient) < 0)
        return -1;
    PyObject *e = event_for(c, type, when, recipient);
    if (e == NULL)
        return -1;
    int rc = put_borrowed(e, event_at[E_DELIVEREDTO], to);
    rc = rc < 0 ? rc : put_borrowed(e, event_at[E_TRANSPORT], service);
    PyObject *relay = rc < 0 ? NULL : field_or_empty(f, pf_relay);
    PyObject *parts = relay == NULL ? NULL : split_endpoint(relay);
    if (parts == NULL) {
        Py_DECREF(e);
        return -1;
    }
    PyObject *host = PyTuple_GET_ITEM(parts, 0), *address = PyTuple_GET_ITEM(parts, 1);
    PyObject *port = PyTuple_GET_ITEM(parts, 2);
    if (truthy_str(address) && !starts_with(address, ps_slash) && !starts_with(address, ps_private)
        && !starts_with(address, ps_public)) {
        rc = put_borrowed(e, event_at[E_HOST], host);
        rc = rc < 0 ? rc : put_borrowed(e, event_at[E_IP], address);
        rc = rc < 0 ? rc : put_borrowed(e, event_at[E_TRANSPORT_IS_REMOTE], one);
        PyObject *tls = rc < 0 ? NULL : session_tls(c->self, line, address, port);
        if (tls == NULL)
            rc = -1;
        else if (truthy_str(tls))
            rc = put_borrowed(e, event_at[E_TLS], tls);
    } else if (!same_str(relay, ps_none) && !same_str(relay, ps_local) && !same_str(relay, ps_virtual)) {
        rc = put_borrowed(e, event_at[E_HOST], truthy_str(host) ? host : relay);
    }
    Py_DECREF(parts);
    PyObject *own_tls = rc < 0 ? NULL : PyDict_GetItemWithError(f, pf_tls);
    if (rc == 0 && own_tls == NULL && PyErr_Occurred())
        rc = -1;
    if (rc == 0 && own_tls != NULL)
        rc = put_borrowed(e, event_at[E_TLS], own_tls);
    PyObject *delay = rc < 0 ? NULL : PyDict_GetItemWithError(f, pf_delay);
    if (rc == 0 && !(delay == NULL && PyErr_Occurred())) {
        PyObject *queue_time = seconds(delay);
        if (queue_time == NULL)
            rc = -1;
        else if (queue_time == Py_None)
            Py_DECREF(queue_time);
        else
            rc = set_slot_at(e, event_at[E_QUEUE_TIME], queue_time);
    } else if (rc == 0) {
        rc = -1;
    }
    if (rc == 0 && type != t_success && type != t_filtered) {
        rc = postfix_problem(c, e, type, recipient, text);
        Py_DECREF(e);
        return rc;
    }
    if (rc == 0) {
        PyObject *message;
        if (type == t_filtered)
            message = truthy_str(text) ? PyUnicode_FromFormat("%U%U", ps_discarded_prefix, text)
                                       : (Py_INCREF(ps_discarded), ps_discarded);
        else
            message = truthy_str(text) ? (Py_INCREF(text), text) : (Py_INCREF(s_accepted), s_accepted);
        rc = set_slot_at(e, event_at[E_MESSAGE], message);
    }
    PyObject *dsn = rc < 0 ? NULL : field_or_empty(f, pf_dsn);
    rc = dsn == NULL ? -1 : put_borrowed(e, event_at[E_DSN], dsn);
    rc = rc < 0 ? rc : add_event(c, e);
    rc = rc < 0 ? rc : close_recipient(c, recipient);
    if (rc == 0 && type == t_success)
        rc = follow_hop(c, cache, text, SLOT(e, event_at[E_IP]));
    Py_DECREF(e);
    return rc;
}

/* if state.sendunixtime is None: state.sendunixtime = line.time (a message's first Postfix lines) */
static int arrived_by(Feed *c)
{
    PyObject *send = get(c->state, state_at[S_SENDUNIXTIME]), *when = get(c->line, pline_at[P_TIME]);
    if (send == NULL || when == NULL)
        return -1;
    return send == Py_None ? put_borrowed(c->state, state_at[S_SENDUNIXTIME], when) : 0;
}

/* PostfixCorrelator._client(state, line), without orig_client_ip and orig_queue_id (those are Python's) */
static int postfix_client(Feed *c)
{
    PyObject *state = c->state, *line = c->line, *f = c->fields;
    if (arrived_by(c) < 0)
        return -1;
    PyObject *host = field_or_empty(f, pf_client_host), *ip = field_or_empty(f, pf_client_ip);
    if (host == NULL || ip == NULL || put_borrowed(state, state_at[S_PROTOCOL], ps_smtp) < 0
        || put_borrowed(state, state_at[S_SENDERHOST], same_str(host, ps_unknown) ? s_empty : host) < 0
        || put_borrowed(state, state_at[S_SENDERIP], ip) < 0)
        return -1;
    PyObject *tls = session_tls(c->self, line, ip, s_empty);
    if (tls == NULL || (truthy_str(tls) && put_borrowed(state, state_at[S_TLS], tls) < 0))
        return -1;
    PyObject *username = PyDict_GetItemWithError(f, pf_sasl_username);
    if (username == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (PyObject_IsTrue(username) == 1) {
        PyObject *method = field_or_empty(f, pf_sasl_method);
        if (method == NULL || put_borrowed(state, state_at[S_SENDER], username) < 0
            || put_borrowed(state, state_at[S_SENDERAUTH], method) < 0)
            return -1;
    }
    return 0;
}

/* PostfixCorrelator._queued(state, line) */
static int postfix_queued(Feed *c)
{
    PyObject *state = c->state, *f = c->fields;
    PyObject *from = PyDict_GetItemWithError(f, pf_from), *size = PyDict_GetItemWithError(f, pf_size);
    PyObject *pending = get(state, state_at[S_PENDING]), *recipients = get(state, state_at[S_RECIPIENTS]);
    if (from == NULL || size == NULL || pending == NULL || recipients == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_KeyError, "from, size");
        return -1;
    }
    if (arrived_by(c) < 0)
        return -1;
    if (put_borrowed(state, state_at[S_EMAIL], from) < 0 || set_slot_at(state, state_at[S_SIZE], small_int(size)) < 0)
        return -1;
    if (PyObject_IsTrue(pending) == 0 && PyObject_IsTrue(recipients) == 0) {
        /* Postfix names recipients only when it delivers to them: one event waits for them all */
        PyObject *entry = waiting_entry(s_empty);
        if (entry == NULL)
            return -1;
        int rc = PyDict_SetItem(pending, s_empty, entry);
        Py_DECREF(entry);
        return rc;
    }
    return 0;
}

/* PostfixCorrelator._message_id(state, line) */
static int postfix_message_id(Feed *c)
{
    PyObject *id = PyDict_GetItemWithError(c->fields, pf_message_id);
    if (id == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_KeyError, "message_id");
        return -1;
    }
    if (arrived_by(c) < 0)
        return -1;
    return put_borrowed(c->state, state_at[S_MESSAGE_ID], id);
}

/* PostfixCorrelator._removed(state, line): Exim's _completed with Postfix's word */
static int postfix_removed(Feed *c) { return completed(c); }

/* connect (forget the process's TLS session) and TLS (remember it): 1 when handled, 0 when not, -1 */
static int postfix_session(PyObject *self, PyObject *line, PyObject *kind)
{
    PyObject *sessions = self_get(self, pa_tls);
    if (sessions == NULL)
        return -1;
    PyObject *key = PyDict_CheckExact(sessions) ? process_key(line) : NULL;
    int rc = key == NULL ? (PyErr_Occurred() ? -1 : 0) : 1;
    if (rc == 1 && kind == pk_connect) {
        if (PyDict_DelItem(sessions, key) < 0) {
            if (PyErr_ExceptionMatches(PyExc_KeyError))
                PyErr_Clear();
            else
                rc = -1;
        }
    } else if (rc == 1) {
        PyObject *f = SLOT(line, pline_at[P_FIELDS]);
        PyObject *ip = f == NULL ? NULL : PyDict_GetItemWithError(f, pf_peer_ip);
        PyObject *port = ip == NULL ? NULL : PyDict_GetItemWithError(f, pf_peer_port);
        PyObject *tls = ip == NULL ? NULL : PyDict_GetItemWithError(f, pf_tls);
        if (ip == NULL || tls == NULL) {
            rc = PyErr_Occurred() ? -1 : 0;    /* a field missing: Python says what */
        } else if (port == NULL && PyErr_Occurred()) {
            rc = -1;
        } else {
            if (PyDict_GET_SIZE(sessions) > max_remembered)
                PyDict_Clear(sessions);
            PyObject *session = PyTuple_Pack(3, ip, port == NULL ? s_empty : port, tls);
            rc = session == NULL || PyDict_SetItem(sessions, key, session) < 0 ? -1 : 1;
            Py_XDECREF(session);
        }
    }
    Py_XDECREF(key);
    Py_DECREF(sessions);
    return rc;
}

/* PostfixCorrelator._refused(line, raw) for a rejection without a queue id (NOQUEUE): an event of its
 * own, with no message. */
static int postfix_refused(PyObject *self, PyObject *line, PyObject *raw, PyObject *f)
{
    PyObject *batch, *counts, *server, *e = NULL, *text = NULL;
    int rc = -1;
    if (rejection_context(self, &batch, &counts, &server) < 0)
        goto done;
    PyObject *host = get(line, pline_at[P_HOST]), *when = get(line, pline_at[P_TIME]);
    PyObject *service = get(line, pline_at[P_SERVICE]), *message = get(line, pline_at[P_MESSAGE]);
    PyObject *from = field_or_empty(f, pf_from), *to = field_or_empty(f, pf_to), *ip = field_or_empty(f, pf_client_ip);
    PyObject *client = field_or_empty(f, pf_client_host), *helo = field_or_empty(f, pf_helo);
    PyObject *proto = field_or_empty(f, pf_proto);
    if (host == NULL || when == NULL || service == NULL || message == NULL || from == NULL || to == NULL
        || ip == NULL || client == NULL || helo == NULL || proto == NULL || self_set(self, pa_host, host) < 0)
        goto done;
    if ((e = from_template(template_event, template_at, template_count)) == NULL)
        goto done;
    PyObject *lower_proto = PyObject_CallMethodNoArgs(proto, m_lower);
    /* _client_name: smtpd's "unknown" (no reverse DNS) shows the HELO instead */
    PyObject *name = same_str(client, ps_unknown) ? helo : client;
    if (lower_proto == NULL || set_slot_at(e, event_at[E_PROTOCOL], lower_proto) < 0
        || put_borrowed(e, event_at[E_TYPE], t_rejected) < 0
        || put_borrowed(e, event_at[E_SERVER], truthy_str(server) ? server : host) < 0
        || put_borrowed(e, event_at[E_ACTIONUNIXTIME], when) < 0 || put_borrowed(e, event_at[E_EMAIL], from) < 0
        || put_borrowed(e, event_at[E_RECIPIENT], to) < 0 || put_borrowed(e, event_at[E_SENDERIP], ip) < 0
        || put_borrowed(e, event_at[E_SENDERHOST], name) < 0)
        goto done;
    Py_INCREF(message);
    text = message;
    if (same_str(service, ps_postscreen)) {    /* the blocklist dnsblog saw the client on */
        PyObject *listed_by = self_get(self, pa_listed);
        PyObject *listed = listed_by == NULL ? NULL : PyObject_GetItem(listed_by, ip);
        Py_XDECREF(listed_by);
        if (listed == NULL) {
            if (listed_by == NULL || !PyErr_ExceptionMatches(PyExc_KeyError))
                goto done;
            PyErr_Clear();
        } else {
            if (PyObject_IsTrue(listed) == 1 && !contains_text(text, ps_blocked_using))
                Py_SETREF(text, PyUnicode_FromFormat("%U (client listed by %S)", text, listed));
            Py_DECREF(listed);
            if (text == NULL)
                goto done;
        }
    }
    if (put_borrowed(e, event_at[E_MESSAGE], text) < 0)
        goto done;
    rc = add_rejection(self, batch, counts, e, raw);
done:
    Py_XDECREF(text);
    Py_XDECREF(e);
    Py_XDECREF(server);
    Py_XDECREF(counts);
    Py_XDECREF(batch);
    return rc;
}

static PyObject *feed_postfix(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "feed_postfix(correlator, line, raw)");
        return NULL;
    }
    PyObject *self = args[0], *line = args[1], *raw = args[2];
    if (pline_type == NULL || state_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_correlc.setup() and setup_postfix() were not called");
        return NULL;
    }
    PyObject *kind = Py_IS_TYPE(line, pline_type) && PyUnicode_CheckExact(raw) ? SLOT(line, pline_at[P_KIND]) : NULL;
    PyObject *qid = kind == NULL ? NULL : SLOT(line, pline_at[P_QUEUE_ID]);
    PyObject *fields = qid == NULL ? NULL : SLOT(line, pline_at[P_FIELDS]);
    if (fields != NULL && kind == pk_reject && PyUnicode_CheckExact(qid) && PyUnicode_GET_LENGTH(qid) == 0
        && PyDict_CheckExact(fields))
        return postfix_refused(self, line, raw, fields) < 0 ? NULL : (Py_INCREF(Py_True), Py_True);
    if (fields == NULL || !PyUnicode_CheckExact(qid) || !PyDict_CheckExact(fields) || kind == pk_reject
        || kind == pk_discard || kind == pk_dnsbl)
        return PyObject_Vectorcall(postfix_feed, args, 3, NULL);
    if (kind == pk_connect || kind == pk_tls) {
        int handled = postfix_session(self, line, kind);
        if (handled == 0)
            return PyObject_Vectorcall(postfix_feed, args, 3, NULL);
        return handled < 0 ? NULL : (Py_INCREF(Py_True), Py_True);
    }
    if (PyUnicode_GET_LENGTH(qid) == 0)
        Py_RETURN_TRUE;
    PyObject *handler = PyDict_GetItemWithError(postfix_handlers, kind);    /* borrowed */
    if (handler == NULL && PyErr_Occurred())
        return NULL;
    PyObject *cache = self_get(self, a_cache), *batch = self_get(self, a_batch);
    PyObject *counts = self_get(self, a_events_by_type);
    PyObject *state = NULL, *result = NULL;
    if (cache == NULL || batch == NULL || counts == NULL || !PyDict_Check(cache) || !Py_IS_TYPE(batch, batch_type)
        || !PyDict_Check(counts)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a correlator's cache, batch or events_by_type has the wrong type");
        goto done;
    }
    state = PyDict_GetItemWithError(cache, qid);
    if (state == NULL && PyErr_Occurred())
        goto done;
    Py_XINCREF(state);
    if (handler == NULL) {
        /* Notes about a message ("host mx said: 451 ...", header rewrites): kept with its lines. */
        if (state == NULL) {
            PyObject *by_msgid = get(batch, batch_at[B_BY_MSGID]);
            state = by_msgid == NULL ? NULL : PyDict_GetItemWithError(by_msgid, qid);
            if (state == NULL) {
                if (!PyErr_Occurred())
                    result = (Py_INCREF(Py_True), Py_True);
                goto done;
            }
            Py_INCREF(state);
        }
    } else {
        PyObject *done_state = state == NULL ? NULL : get(state, state_at[S_STATE]);
        if (state != NULL && done_state == NULL)
            goto done;
        if (state == NULL || same_str(done_state, ps_completed) || kind == pk_client || kind == pk_pickup) {
            PyObject *host = get(line, pline_at[P_HOST]);
            if (host == NULL || self_set(self, pa_host, host) < 0)
                goto done;
            PyObject *made = state == NULL ? postfix_new_state(self, cache, batch, qid) : NULL;
            if (made == NULL && PyErr_Occurred())
                goto done;
            Py_XDECREF(state);
            state = made != NULL ? made : PyObject_CallMethodOneArg(self, pa_state_for, line);
            if (state == NULL)
                goto done;
        } else {
            PyObject *moved = PyObject_CallMethodOneArg(cache, m_move_to_end, qid);
            if (moved == NULL)
                goto done;
            Py_DECREF(moved);
        }
    }
    if (!Py_IS_TYPE(state, state_type)) {
        PyErr_SetString(PyExc_TypeError, "a message must be a MessageState");
        goto done;
    }
    Feed c = {self, batch, counts, state, line, fields};
    PyObject *raws = get(state, state_at[S_RAW]);
    int repeated = raws == NULL ? -1 : has_line(raws, raw), rc = 0;
    if (repeated < 0)
        goto done;
    if (handler != NULL) {
        PyObject *status = kind == pk_delivery ? PyDict_GetItemWithError(fields, pf_status) : NULL;
        int forwarded = kind == pk_client && (PyDict_Contains(fields, pf_orig_client_ip) != 0
                                              || PyDict_Contains(fields, pf_orig_queue_id) != 0);
        PyObject *outcome = status == NULL ? NULL
                            : same_str(status, ps_sent) ? t_success
                            : same_str(status, ps_deferred) || same_str(status, ps_softbounce) ? t_defer
                            : same_str(status, ps_bounced) ? t_failure : NULL;
        if (kind == pk_delivery && outcome != NULL)
            rc = postfix_delivered(&c, cache, outcome);
        else if (kind == pk_client && !forwarded)
            rc = postfix_client(&c);
        else if (kind == pk_queued)
            rc = postfix_queued(&c);
        else if (kind == pk_removed)
            rc = postfix_removed(&c);
        else if (kind == pk_message_id)
            rc = postfix_message_id(&c);
        else if (PyErr_Occurred())
            rc = -1;
        else {
            PyObject *done_by = PyObject_CallFunctionObjArgs(handler, self, state, line, NULL);
            rc = done_by == NULL ? -1 : 0;
            Py_XDECREF(done_by);
        }
    }
    PyObject *when = rc < 0 ? NULL : get(line, pline_at[P_TIME]);
    if (when == NULL || touch(&c, when) < 0 || PyList_Append(raws, raw) < 0)
        goto done;
    PyObject *now = get(state, state_at[S_STATE]), *msgid = get(state, state_at[S_MSGID]);
    if (now == NULL || msgid == NULL)
        goto done;
    if (same_str(now, ps_completed)) {
        /* Done: free the cache slot. A reused id then starts a new message without a lookup. */
        PyObject *popped = PyObject_CallMethodObjArgs(cache, m_pop, msgid, Py_None, NULL);
        if (popped == NULL)
            goto done;
        Py_DECREF(popped);
    }
    result = PyBool_FromLong(!repeated);
done:
    Py_XDECREF(state);
    Py_XDECREF(cache);
    Py_XDECREF(batch);
    Py_XDECREF(counts);
    return result;
}

/* setup_postfix(PostfixLine, PostfixCorrelator.feed, _HANDLERS, kinds, texts, max_remembered): after setup() */
static PyObject *setup_postfix(PyObject *module, PyObject *args)
{
    PyObject *line_cls, *py_feed, *handlers, *kinds, *texts;
    Py_ssize_t remembered;
    if (!PyArg_ParseTuple(args, "OOO!O!O!n", &line_cls, &py_feed, &PyDict_Type, &handlers, &PyDict_Type, &kinds,
                          &PyDict_Type, &texts, &remembered))
        return NULL;
    if (state_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() first");
        return NULL;
    }
    if (offsets_of(line_cls, pline_names, P_COUNT, pline_at, &pline_type) < 0)
        return NULL;
    Py_XSETREF(postfix_feed, take(py_feed));
    Py_XSETREF(postfix_handlers, take(handlers));
    max_remembered = remembered;
    Named named[] = {
        {&pk_connect, kinds, "connect"}, {&pk_tls, kinds, "tls"}, {&pk_reject, kinds, "reject"},
        {&pk_discard, kinds, "discard"}, {&pk_dnsbl, kinds, "dnsbl"}, {&pk_client, kinds, "client"},
        {&pk_pickup, kinds, "pickup"}, {&pk_queued, kinds, "queued"}, {&pk_delivery, kinds, "delivery"},
        {&pk_removed, kinds, "removed"}, {&pk_message_id, kinds, "message_id"},
        {&ps_deferred, texts, "deferred"}, {&ps_softbounce, texts, "softbounce"}, {&ps_bounced, texts, "bounced"},
        {&ps_completed, texts, "completed"}, {&ps_sent, texts, "sent"}, {&ps_discard, texts, "discard"},
        {&ps_smtp, texts, "smtp"}, {&ps_unknown, texts, "unknown"}, {&ps_none, texts, "none"},
        {&ps_local, texts, "local"}, {&ps_virtual, texts, "virtual"}, {&ps_discarded, texts, "discarded"},
        {&ps_discarded_prefix, texts, "discarded_prefix"}, {&ps_queued_as, texts, "queued_as"},
        {&ps_forwarded_as, texts, "forwarded_as"}, {&ps_loopback4, texts, "loopback4"},
        {&ps_loopback6, texts, "loopback6"}, {&ps_mapped4, texts, "mapped4"}, {&ps_slash, texts, "slash"},
        {&ps_private, texts, "private"}, {&ps_public, texts, "public"}, {&ps_postscreen, texts, "postscreen"},
        {&ps_blocked_using, texts, "blocked_using"},
    };
    if (take_named(named, sizeof named / sizeof named[0], "setup_postfix") < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* setup_helpers(split_host_fast, extract_dsn_fast): the compiled helpers, or None where not built. */
static PyObject *setup_helpers(PyObject *module, PyObject *args)
{
    PyObject *split, *dsn;
    if (!PyArg_ParseTuple(args, "OO:setup_helpers", &split, &dsn))
        return NULL;
    Py_XSETREF(split_host_c, split == Py_None ? NULL : Py_NewRef(split));
    Py_XSETREF(extract_dsn_c, dsn == Py_None ? NULL : Py_NewRef(dsn));
    Py_RETURN_NONE;
}

/* setup_self(cls, postfix): the slot offsets of Correlator's own attributes (postfix false) or of
 * PostfixCorrelator's (true), after setup() / setup_postfix(). */
static PyObject *setup_self(PyObject *module, PyObject *args)
{
    PyObject *cls;
    int postfix;
    if (!PyArg_ParseTuple(args, "O!p:setup_self", &PyType_Type, &cls, &postfix))
        return NULL;
    PyTypeObject **owner = postfix ? &postfix_correlator_type : &correlator_type;
    Py_ssize_t offsets[SELF_SLOTS];
    for (int i = 0; i < SELF_SLOTS; i++) {
        if (self_slots[i].type != owner)
            continue;
        const char *name = *self_slots[i].name == NULL ? NULL : PyUnicode_AsUTF8(*self_slots[i].name);
        if (name == NULL || slot_offsets((PyTypeObject *)cls, &name, 1, &offsets[i]) < 0)
            return NULL;
    }
    for (int i = 0; i < SELF_SLOTS; i++)
        if (self_slots[i].type == owner)
            self_slots[i].offset = offsets[i];
    Py_INCREF(cls);
    Py_XSETREF(*owner, (PyTypeObject *)cls);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "setup(...): see correlate._compiled_feed"},
    {"setup_self", setup_self, METH_VARARGS, "setup_self(cls, postfix): see correlate._compiled_feed"},
    {"setup_helpers", setup_helpers, METH_VARARGS,
     "setup_helpers(split_host_fast, extract_dsn_fast): see correlate._compiled_feed"},
    {"feed", (PyCFunction)(void (*)(void))feed, METH_FASTCALL,
     "feed(correlator, line, raw): Correlator.feed, compiled for the common lines"},
    {"setup_postfix", setup_postfix, METH_VARARGS, "setup_postfix(...): see correlate_postfix._compiled_feed"},
    {"feed_postfix", (PyCFunction)(void (*)(void))feed_postfix, METH_FASTCALL,
     "feed_postfix(correlator, line, raw): PostfixCorrelator.feed, compiled for the common lines"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_correlc",
                                        "Compiled fast paths of the Exim and Postfix correlators.", -1, methods,
                                        NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__correlc(void)
{
    const char *names[] = {"", ":", " ", "_cache", "batch", "_next_event_id", "events_by_type", "_explain",
                           "_evicted", "_horizon", "_next_message_id", "server", "cache_size", "move_to_end",
                           "pop", "popitem", "lower", "R", "T", "H", "X", "QT", "C", "A", "U", "P", "S", "id",
                           "_tls", "_host", "_state_for", "_follow_hop", "peer_ip", "peer_port", "tls",
                           "status", "to", "orig_to", "relay", "delay", "dsn", "from", "size", "message_id",
                           "client_host", "client_ip", "orig_client_ip", "orig_queue_id", "sasl_username",
                           "sasl_method", "_forget", "_lookup_all", "_parents", "proto", "helo", "_listed", "F"};
    PyObject **to[] = {&s_empty, &s_colon, &s_space, &a_cache, &a_batch, &a_next_event_id, &a_events_by_type,
                       &a_explain, &a_evicted, &a_horizon, &a_next_message_id, &a_server, &a_cache_size,
                       &m_move_to_end, &m_pop, &m_popitem, &m_lower, &f_R, &f_T, &f_H, &f_X, &f_QT, &f_C, &f_A,
                       &f_U, &f_P, &f_S, &f_id, &pa_tls, &pa_host, &pa_state_for, &pa_follow_hop,
                       &pf_peer_ip, &pf_peer_port, &pf_tls, &pf_status, &pf_to, &pf_orig_to, &pf_relay, &pf_delay,
                       &pf_dsn, &pf_from, &pf_size, &pf_message_id, &pf_client_host, &pf_client_ip,
                       &pf_orig_client_ip, &pf_orig_queue_id, &pf_sasl_username, &pf_sasl_method, &pa_forget,
                       &pa_lookup_all, &pa_parents, &pf_proto, &pf_helo, &pa_listed, &f_F};
    _Static_assert(sizeof names / sizeof names[0] == sizeof to / sizeof to[0], "a name for every string");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*to[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return NULL;
    if ((one = PyLong_FromLong(1)) == NULL)
        return NULL;
    return PyModule_Create(&module_def);
}
