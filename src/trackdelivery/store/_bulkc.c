/* The store's bulk INSERTs, without the per-value cost of Python's sqlite3 module.
 *
 * Python's Connection.executemany binds each value through its adapter machinery and lets SQLite copy
 * every string (SQLITE_TRANSIENT). Here the values of a row are bound as they are: a str's UTF-8 in
 * place (SQLITE_STATIC: the row is referenced until the statement is reset), an int, a float or NULL.
 * For the 1M-line Exim benchmark's rows that is 1.0 s less of 4.4 s.
 *
 * rows() makes those rows from the correlator's objects by a recipe (EVENT_ROWS and MESSAGE_ROWS in
 * store/sqlite.py), reading their slots directly: 0.5 s instead of 1.2 s for the same benchmark's
 * events. The Python functions beside each recipe (event_rows, message_rows) are the reference it is
 * tested against. insert() binds the same rows as it makes them, with no tuple or list in between, and
 * insert_raw() writes a batch's log lines: what the store uses (Store.commit_batch). executemany() and
 * rows() bind and make through the same code as insert(); the store no longer calls them, the tests do
 * (tests/test_store_bulk.py compares them with Python's executemany and the reference rows).
 *
 * It runs on the very connection the store's Python code uses (same transaction, same locks):
 *  - the sqlite3 handle is the first field of Python's Connection object (CPython's _sqlite module,
 *    Modules/_sqlite/connection.h, unchanged from 3.8 to 3.13); setup() is told which type that is and
 *    Store checks the handle once by its file name (sqlite3_db_filename) before using it;
 *  - the SQLite functions are looked up through the _sqlite3 module's own library (dlopen RTLD_NOLOAD,
 *    dlsym), so they are those of the SQLite that made the handle. No SQLite header or library is
 *    needed to build this file. Where any of this does not hold, setup() fails and the store uses
 *    Python's executemany.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>

#include "../_slots.h"

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

#define SQLITE_OK 0
#define SQLITE_DONE 101

static int (*sql_prepare)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
static int (*sql_bind_int64)(sqlite3_stmt *, int, long long);
static int (*sql_bind_double)(sqlite3_stmt *, int, double);
static int (*sql_bind_text)(sqlite3_stmt *, int, const char *, int, void (*)(void *));
static int (*sql_bind_blob)(sqlite3_stmt *, int, const void *, int, void (*)(void *));
static int (*sql_bind_null)(sqlite3_stmt *, int);
static int (*sql_bind_parameter_count)(sqlite3_stmt *);
static int (*sql_step)(sqlite3_stmt *);
static int (*sql_reset)(sqlite3_stmt *);
static int (*sql_finalize)(sqlite3_stmt *);
static int (*sql_extended_errcode)(sqlite3 *);
static const char *(*sql_errmsg)(sqlite3 *);
static const char *(*sql_db_filename)(sqlite3 *, const char *);

static PyTypeObject *connection_type;    /* sqlite3.Connection */
static PyObject *errors;                 /* sqlite3 module: its exception classes */

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
} Connection;

static sqlite3 *handle_of(PyObject *conn)
{
    if (connection_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_bulkc.setup() was not called");
        return NULL;
    }
    if (!Py_IS_TYPE(conn, connection_type)) {
        PyErr_SetString(PyExc_TypeError, "not a sqlite3.Connection");
        return NULL;
    }
    sqlite3 *db = ((Connection *)conn)->db;
    if (db == NULL)
        PyErr_SetString(PyExc_ValueError, "the connection is closed");
    return db;
}

/* The sqlite3 exception Python's own module raises for this result code (Modules/_sqlite/util.c). */
static void raise_sqlite(sqlite3 *db, int rc)
{
    const char *name;
    switch (rc & 0xff) {
    case 2: case 12: name = "InternalError"; break;                  /* INTERNAL, NOTFOUND */
    case 7: PyErr_NoMemory(); return;                               /* NOMEM */
    case 19: case 20: name = "IntegrityError"; break;               /* CONSTRAINT, MISMATCH */
    case 21: case 25: name = "InterfaceError"; break;               /* MISUSE, RANGE */
    case 18: name = "DataError"; break;                             /* TOOBIG */
    case 11: case 26: name = "DatabaseError"; break;                /* CORRUPT, NOTADB */
    default: name = "OperationalError";
    }
    PyObject *type = PyObject_GetAttrString(errors, name);
    if (type == NULL)
        return;
    PyObject *exc = PyObject_CallFunction(type, "s", sql_errmsg(db));
    if (exc != NULL) {
        PyObject *code = PyLong_FromLong(sql_extended_errcode(db));
        if (code == NULL || PyObject_SetAttrString(exc, "sqlite_errorcode", code) == 0)
            PyErr_SetObject(type, exc);
        Py_XDECREF(code);
        Py_DECREF(exc);
    }
    Py_DECREF(type);
}

static int bind(sqlite3 *db, sqlite3_stmt *st, int i, PyObject *v)
{
    int rc;
    if (PyUnicode_CheckExact(v)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (s == NULL)
            return -1;
        if (n > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError, "string longer than INT_MAX bytes");
            return -1;
        }
        rc = sql_bind_text(st, i, s, (int)n, NULL);    /* NULL: SQLITE_STATIC */
    } else if (PyLong_CheckExact(v)) {
        long long x = PyLong_AsLongLong(v);
        if (x == -1 && PyErr_Occurred())
            return -1;
        rc = sql_bind_int64(st, i, x);
    } else if (v == Py_None) {
        rc = sql_bind_null(st, i);
    } else if (PyFloat_CheckExact(v)) {
        rc = sql_bind_double(st, i, PyFloat_AS_DOUBLE(v));
    } else if (PyBytes_CheckExact(v)) {
        if (PyBytes_GET_SIZE(v) > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError, "bytes longer than INT_MAX");
            return -1;
        }
        rc = sql_bind_blob(st, i, PyBytes_AS_STRING(v), (int)PyBytes_GET_SIZE(v), NULL);
    } else {
        PyErr_Format(PyExc_TypeError, "cannot bind a %.100s (str, int, float, bytes or None only)",
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    if (rc != SQLITE_OK) {
        raise_sqlite(db, rc);
        return -1;
    }
    return 0;
}

/* The one statement of ``sql``, prepared; NULL with an exception set. */
static sqlite3_stmt *prepare(sqlite3 *db, PyObject *sql)
{
    Py_ssize_t sql_len;
    const char *sql_text = PyUnicode_AsUTF8AndSize(sql, &sql_len);
    if (sql_text == NULL)
        return NULL;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sql_prepare(db, sql_text, (int)sql_len + 1, &st, &tail);
    if (rc != SQLITE_OK) {
        raise_sqlite(db, rc);
        return NULL;
    }
    if (st == NULL || (tail != NULL && *tail != '\0')) {
        sql_finalize(st);
        PyErr_SetString(PyExc_ValueError, "executemany() takes one SQL statement");
        return NULL;
    }
    return st;
}

/* Bind the values, step, reset.
 *
 * ``bound`` (count slots, NULLs at first; free it with unbind() after finalizing the statement) holds
 * what each parameter was last bound to, with a reference. A statement keeps its bindings across a reset,
 * so a value that is the very object bound for the row before (the same "", None, type, second, server,
 * dsn or domain: most of a row) is not bound again: binding is most of the time spent per row. Texts are
 * bound in place (SQLITE_STATIC): each stays alive, here, as long as SQLite may read it. */
/* sqlite3_step of the row bound, then reset: 0, or -1 with SQLite's error raised. */
static int step(sqlite3 *db, sqlite3_stmt *st)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = sql_step(st);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_DONE)
        raise_sqlite(db, rc);
    sql_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int step_row(sqlite3 *db, sqlite3_stmt *st, PyObject *const *values, int count, PyObject **bound)
{
    for (int p = 0; p < count; p++) {
        if (bound[p] == values[p])
            continue;
        if (bind(db, st, p + 1, values[p]) != 0) {
            sql_reset(st);
            return -1;
        }
        Py_INCREF(values[p]);
        Py_XSETREF(bound[p], values[p]);
    }
    return step(db, st);
}

static void unbind(PyObject **bound, Py_ssize_t count)
{
    if (bound == NULL)
        return;
    for (Py_ssize_t p = 0; p < count; p++)
        Py_XDECREF(bound[p]);
    PyMem_Free(bound);
}

/* executemany(connection, sql, rows): rows is a list of tuples, one value per parameter. */
static PyObject *executemany(PyObject *self, PyObject *args)
{
    PyObject *conn, *sql, *rows;
    if (!PyArg_ParseTuple(args, "OUO!:executemany", &conn, &sql, &PyList_Type, &rows))
        return NULL;
    sqlite3 *db = handle_of(conn);
    if (db == NULL)
        return NULL;
    sqlite3_stmt *st = prepare(db, sql);
    if (st == NULL)
        return NULL;
    int parameters = sql_bind_parameter_count(st);
    PyObject **bound = PyMem_Calloc((size_t)(parameters ? parameters : 1), sizeof(PyObject *));
    if (bound == NULL) {
        sql_finalize(st);
        return PyErr_NoMemory();
    }
    Py_INCREF(rows);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rows); i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != parameters) {
            PyErr_Format(PyExc_ValueError, "row %zd: a tuple of %d values was expected", i, parameters);
            break;
        }
        Py_INCREF(row);    /* its strings are bound in place until the reset */
        int rc = step_row(db, st, &PyTuple_GET_ITEM(row, 0), parameters, bound);
        Py_DECREF(row);
        if (rc < 0)
            break;
    }
    sql_finalize(st);
    unbind(bound, parameters);
    Py_DECREF(rows);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* -- rows of the correlator's objects, by a recipe ---------------------------------------------------- */

enum {
    OP_KEY,        /* the dict key (event id) */
    OP_FIELD,      /* the field as it is */
    OP_OR_EMPTY,   /* the field; "" for None (the store's NULL sentinel) */
    OP_OWN,        /* the field; "" where it equals the same field of the event's message (in states) */
    OP_REF,        /* refs[key]; "" when missing or None */
    OP_RAW,        /* raws[key]; "" when missing */
    OP_DOMAIN,     /* the lower-case part after the field's last "@"; "" without one (domain_of) */
    OP_COUNT
};

typedef struct {
    int op;
    Py_ssize_t offset;        /* of the field in the item */
    Py_ssize_t state_offset;  /* of the same field in the message (OP_OWN) */
} Step;

static PyObject *s_empty;

/* The offset of a slots class's field (a str naming it), checked to be an object slot. */
static int member_offset(PyTypeObject *type, PyObject *name, Py_ssize_t *offset)
{
    const char *text = PyUnicode_AsUTF8(name);
    return text == NULL ? -1 : slot_offsets(type, &text, 1, offset);
}

/* A slot's value as a new reference; AttributeError when it was never set (as Python would say). */
static PyObject *slot(PyObject *o, Py_ssize_t offset, const char *what)
{
    PyObject *v = *(PyObject **)((char *)o + offset);
    if (v == NULL) {
        PyErr_Format(PyExc_AttributeError, "a %s field is not set", what);
        return NULL;
    }
    Py_INCREF(v);
    return v;
}

/* str.lower() of text[start:] (new reference): ASCII in place, anything else by str.lower's Unicode rules. */
static PyObject *lowered(PyObject *text, Py_ssize_t start)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(text) - start;
    if (PyUnicode_IS_ASCII(text)) {
        const char *s = (const char *)PyUnicode_DATA(text) + start;
        Py_ssize_t upper = 0;
        while (upper < len && !(s[upper] >= 'A' && s[upper] <= 'Z'))
            upper++;
        if (upper == len && start == 0 && PyUnicode_CheckExact(text)) {    /* lower case already: itself */
            Py_INCREF(text);
            return text;
        }
        PyObject *u = PyUnicode_New(len, 127);
        if (u == NULL)
            return NULL;
        char *d = (char *)PyUnicode_DATA(u);
        for (Py_ssize_t i = 0; i < len; i++)
            d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
        return u;
    }
    PyObject *tail = PyUnicode_Substring(text, start, start + len);
    if (tail == NULL)
        return NULL;
    PyObject *lower = PyObject_CallMethod(tail, "lower", NULL);
    Py_DECREF(tail);
    return lower;
}

/* domain_of(address): 'Bob@Example.COM' -> 'example.com'; '' when there is no "@". */
static PyObject *domain_of(PyObject *address)
{
    if (!PyUnicode_Check(address)) {
        PyErr_SetString(PyExc_TypeError, "an address must be a str");
        return NULL;
    }
    Py_ssize_t at = PyUnicode_FindChar(address, '@', 0, PyUnicode_GET_LENGTH(address), -1);
    if (at == -2)
        return NULL;
    if (at < 0) {
        Py_INCREF(s_empty);
        return s_empty;
    }
    return lowered(address, at + 1);
}

/* new_addresses(items, item_type, fields, known): the set of the lower-cased non-empty values of the
 * named str fields of every value of the dict ``items`` that are not in the set ``known``
 * (store/sqlite.py's new_addresses is the Python reference). */
static PyObject *new_addresses(PyObject *self, PyObject *args)
{
    PyObject *items, *item_type, *fields, *known;
    if (!PyArg_ParseTuple(args, "O!O!O!O!:new_addresses", &PyDict_Type, &items, &PyType_Type, &item_type,
                          &PyTuple_Type, &fields, &PySet_Type, &known))
        return NULL;
    Py_ssize_t offsets[8];
    Py_ssize_t count = PyTuple_GET_SIZE(fields);
    if (count > 8) {
        PyErr_SetString(PyExc_ValueError, "new_addresses reads at most 8 fields");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++)
        if (member_offset((PyTypeObject *)item_type, PyTuple_GET_ITEM(fields, i), &offsets[i]) < 0)
            return NULL;
    PyObject *found = PySet_New(NULL);
    if (found == NULL)
        return NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *item;
    while (PyDict_Next(items, &pos, &key, &item)) {
        if (!Py_IS_TYPE(item, (PyTypeObject *)item_type)) {
            PyErr_Format(PyExc_TypeError, "an item is not a %s", ((PyTypeObject *)item_type)->tp_name);
            goto fail;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *v = slot(item, offsets[i], ((PyTypeObject *)item_type)->tp_name);
            if (v == NULL)
                goto fail;
            int text = PyUnicode_Check(v);
            PyObject *address = text && PyUnicode_GET_LENGTH(v) > 0 ? lowered(v, 0) : NULL;
            Py_DECREF(v);
            if (!text) {
                PyErr_SetString(PyExc_TypeError, "an address must be a str");
                goto fail;
            }
            if (address == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                continue;
            }
            int seen = PySet_Contains(known, address);
            int rc = seen != 0 ? seen : PySet_Add(found, address);
            Py_DECREF(address);
            if (rc < 0)
                goto fail;
        }
    }
    return found;
fail:
    Py_DECREF(found);
    return NULL;
}

static PyObject *lookup_or_empty(PyObject *dict, PyObject *key)
{
    PyObject *v = PyDict_GetItemWithError(dict, key);
    if (v == NULL && PyErr_Occurred())
        return NULL;
    if (v == NULL || v == Py_None)
        v = s_empty;
    Py_INCREF(v);
    return v;
}

static PyObject *value_of(const Step *step, PyObject *key, PyObject *item, PyObject *state,
                          PyObject *refs, PyObject *raws)
{
    PyObject *v;
    switch (step->op) {
    case OP_KEY:
        Py_INCREF(key);
        return key;
    case OP_REF:
        return lookup_or_empty(refs, key);
    case OP_RAW:
        return lookup_or_empty(raws, key);
    default:
        break;
    }
    v = slot(item, step->offset, Py_TYPE(item)->tp_name);
    if (v == NULL)
        return NULL;
    switch (step->op) {
    case OP_OR_EMPTY:
        if (v == Py_None) {
            Py_DECREF(v);
            Py_INCREF(s_empty);
            return s_empty;
        }
        return v;
    case OP_OWN:
        if (state != NULL) {
            PyObject *theirs = slot(state, step->state_offset, Py_TYPE(state)->tp_name);
            int same = theirs == NULL ? -1 : PyObject_RichCompareBool(v, theirs, Py_EQ);
            Py_XDECREF(theirs);
            if (same != 0) {
                Py_DECREF(v);
                if (same < 0)
                    return NULL;
                Py_INCREF(s_empty);
                return s_empty;
            }
        }
        return v;
    case OP_DOMAIN: {
        PyObject *domain = domain_of(v);
        Py_DECREF(v);
        return domain;
    }
    default:
        return v;
    }
}

/* The steps of a recipe ((op, field, message field), ...) for items of item_type; *own when a step needs
 * the event's message. NULL with an exception set when the recipe does not fit the types. */
static Step *read_recipe(PyObject *recipe, PyTypeObject *item_type, PyTypeObject *state_type, int *own)
{
    Py_ssize_t width = PyTuple_GET_SIZE(recipe);
    Step *steps = PyMem_Calloc((size_t)(width ? width : 1), sizeof(Step));
    if (steps == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    *own = 0;
    for (Py_ssize_t i = 0; i < width; i++) {
        PyObject *spec = PyTuple_GET_ITEM(recipe, i);
        PyObject *field, *state_field;
        if (!PyArg_ParseTuple(spec, "iOO:recipe step", &steps[i].op, &field, &state_field))
            goto fail;
        int op = steps[i].op;
        if (op < 0 || op >= OP_COUNT) {
            PyErr_Format(PyExc_ValueError, "recipe step %zd: no operation %d", i, op);
            goto fail;
        }
        if (op != OP_KEY && op != OP_REF && op != OP_RAW && member_offset(item_type, field, &steps[i].offset) < 0)
            goto fail;
        if (op == OP_OWN) {
            *own = 1;
            if (member_offset(state_type, state_field, &steps[i].state_offset) < 0)
                goto fail;
        }
    }
    return steps;
fail:
    PyMem_Free(steps);
    return NULL;
}

/* The values of one item's row (new references) into values[0..width); 0, or -1 with none left. */
static int row_values(const Step *steps, Py_ssize_t width, int own, PyObject *key, PyObject *item,
                      PyTypeObject *item_type, PyObject *refs, PyObject *raws, PyObject *states,
                      PyTypeObject *state_type, PyObject **values)
{
    if (!Py_IS_TYPE(item, item_type)) {
        PyErr_Format(PyExc_TypeError, "a %s, not a %s", item_type->tp_name, Py_TYPE(item)->tp_name);
        return -1;
    }
    PyObject *state = NULL;
    if (own) {    /* the event's message, when this batch writes it */
        PyObject *ref = PyDict_GetItemWithError(refs, key);
        if (ref != NULL && ref != Py_None)
            state = PyDict_GetItemWithError(states, ref);
        if (PyErr_Occurred())
            return -1;
        if (state != NULL && !Py_IS_TYPE(state, state_type)) {
            PyErr_Format(PyExc_TypeError, "a %s, not a %s", state_type->tp_name, Py_TYPE(state)->tp_name);
            return -1;
        }
    }
    Py_INCREF(key);
    Py_INCREF(item);
    Py_XINCREF(state);
    Py_ssize_t i = 0;
    for (; i < width; i++)
        if ((values[i] = value_of(&steps[i], key, item, state, refs, raws)) == NULL)
            break;
    Py_XDECREF(state);
    Py_DECREF(item);
    Py_DECREF(key);
    if (i == width)
        return 0;
    while (i-- > 0)
        Py_CLEAR(values[i]);
    return -1;
}

#define ROW_ARGS "O!O!O!O!O!O!O!"

/* rows(items, item_type, recipe, refs, raws, states, state_type): one tuple per value of the dict
 * ``items``, a value per recipe step (op, field, message field); see EVENT_ROWS in store/sqlite.py. */
static PyObject *rows(PyObject *self, PyObject *args)
{
    PyObject *items, *recipe, *refs, *raws, *states;
    PyTypeObject *item_type, *state_type;
    if (!PyArg_ParseTuple(args, ROW_ARGS ":rows", &PyDict_Type, &items, &PyType_Type, &item_type, &PyTuple_Type,
                          &recipe, &PyDict_Type, &refs, &PyDict_Type, &raws, &PyDict_Type, &states, &PyType_Type,
                          &state_type))
        return NULL;
    int own;
    Step *steps = read_recipe(recipe, item_type, state_type, &own);
    if (steps == NULL)
        return NULL;
    Py_ssize_t width = PyTuple_GET_SIZE(recipe), pos = 0;
    PyObject *out = PyList_New(0), *key, *item;
    while (out != NULL && PyDict_Next(items, &pos, &key, &item)) {
        PyObject *row = PyTuple_New(width);
        if (row == NULL || row_values(steps, width, own, key, item, item_type, refs, raws, states, state_type,
                                      &PyTuple_GET_ITEM(row, 0)) < 0
            || PyList_Append(out, row) < 0)
            Py_CLEAR(out);
        Py_XDECREF(row);
    }
    PyMem_Free(steps);
    return out;
}

/* insert(connection, sql, items, item_type, recipe, refs, raws, states, state_type): executemany(sql)
 * with the rows that rows() would make, each bound as it is made, without a tuple or a list. */
static PyObject *insert(PyObject *self, PyObject *args)
{
    PyObject *conn, *sql, *items, *recipe, *refs, *raws, *states;
    PyTypeObject *item_type, *state_type;
    if (!PyArg_ParseTuple(args, "OU" ROW_ARGS ":insert", &conn, &sql, &PyDict_Type, &items, &PyType_Type,
                          &item_type, &PyTuple_Type, &recipe, &PyDict_Type, &refs, &PyDict_Type, &raws,
                          &PyDict_Type, &states, &PyType_Type, &state_type))
        return NULL;
    sqlite3 *db = handle_of(conn);
    if (db == NULL)
        return NULL;
    int own;
    Step *steps = read_recipe(recipe, item_type, state_type, &own);
    if (steps == NULL)
        return NULL;
    Py_ssize_t width = PyTuple_GET_SIZE(recipe);
    PyObject **values = PyMem_Calloc((size_t)(width ? width : 1), sizeof(PyObject *));
    PyObject **bound = PyMem_Calloc((size_t)(width ? width : 1), sizeof(PyObject *));
    sqlite3_stmt *st = values == NULL || bound == NULL ? NULL : prepare(db, sql);
    if (st != NULL && sql_bind_parameter_count(st) != width) {
        PyErr_Format(PyExc_ValueError, "the statement takes %d values, the recipe makes %zd",
                     sql_bind_parameter_count(st), width);
    } else if (st != NULL) {
        Py_INCREF(items);    /* kept whole while its values are bound in place */
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        while (PyDict_Next(items, &pos, &key, &item)) {
            if (row_values(steps, width, own, key, item, item_type, refs, raws, states, state_type, values) < 0)
                break;
            if (step_row(db, st, values, (int)width, bound) < 0) {
                for (Py_ssize_t i = 0; i < width; i++)
                    Py_DECREF(values[i]);
                break;
            }
            for (Py_ssize_t i = 0; i < width; i++)
                Py_DECREF(values[i]);
        }
        Py_DECREF(items);
    } else if (values == NULL || bound == NULL) {
        PyErr_NoMemory();
    }
    if (st != NULL)
        sql_finalize(st);
    unbind(bound, width);
    PyMem_Free(values);
    PyMem_Free(steps);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* -- a message's log lines ------------------------------------------------------------------------ */

/* The UTF-8 of lines[from:] joined by newlines, in a buffer the caller frees (*size: its length). */
static char *joined(PyObject *lines, Py_ssize_t from, Py_ssize_t *size)
{
    Py_ssize_t n = PyList_GET_SIZE(lines), total = 0;
    for (Py_ssize_t k = from; k < n; k++) {
        PyObject *line = PyList_GET_ITEM(lines, k);
        Py_ssize_t len;
        if (!PyUnicode_Check(line) || PyUnicode_AsUTF8AndSize(line, &len) == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "a log line must be a str, not %.100s", Py_TYPE(line)->tp_name);
            return NULL;
        }
        total += len + (k > from);
    }
    if (total > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "a message's log lines are longer than INT_MAX bytes");
        return NULL;
    }
    char *buffer = PyMem_Malloc((size_t)total + 1), *at = buffer;
    if (buffer == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t k = from; k < n; k++) {    /* the lines' UTF-8 is cached in them by now */
        Py_ssize_t len;
        const char *text = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(lines, k), &len);
        if (k > from)
            *at++ = '\n';
        memcpy(at, text, (size_t)len);
        at += len;
    }
    *size = total;
    return buffer;
}

/* insert_raw(connection, first_sql, added_sql, states, state_type): message_raw_rows(batch) and the two
 * executemany of Store.commit_batch in one: for each message not stored before, (id, its lines joined) by
 * first_sql; for each stored one with lines since, (id, those lines joined) by added_sql. */
static PyObject *insert_raw(PyObject *self, PyObject *args)
{
    PyObject *conn, *sql[2], *states;
    PyTypeObject *state_type;
    if (!PyArg_ParseTuple(args, "OUUO!O!:insert_raw", &conn, &sql[0], &sql[1], &PyDict_Type, &states, &PyType_Type,
                          &state_type))
        return NULL;
    sqlite3 *db = handle_of(conn);
    Py_ssize_t at[3];
    const char *names[3] = {"id", "raw", "raw_stored"};
    if (db == NULL || slot_offsets(state_type, names, 3, at) < 0)
        return NULL;
    Py_INCREF(states);
    for (int added = 0; added < 2 && !PyErr_Occurred(); added++) {
        sqlite3_stmt *st = prepare(db, sql[added]);
        if (st == NULL)
            break;
        Py_ssize_t pos = 0;
        PyObject *key, *state;
        while (PyDict_Next(states, &pos, &key, &state)) {
            if (!PyObject_TypeCheck(state, state_type)) {
                PyErr_Format(PyExc_TypeError, "not a %.100s: %.100s", state_type->tp_name, Py_TYPE(state)->tp_name);
                break;
            }
            PyObject *id = SLOT_AT(state, at[0]), *lines = SLOT_AT(state, at[1]), *stored_obj = SLOT_AT(state, at[2]);
            if (id == NULL || lines == NULL || stored_obj == NULL || !PyList_Check(lines)) {
                PyErr_SetString(PyExc_TypeError, "a message needs its id, raw (a list) and raw_stored");
                break;
            }
            Py_ssize_t stored = PyLong_AsSsize_t(stored_obj);
            if (stored == -1 && PyErr_Occurred())
                break;
            if (added ? !(stored && stored < PyList_GET_SIZE(lines)) : stored != 0)
                continue;
            Py_ssize_t size;
            Py_INCREF(lines);
            char *text = joined(lines, added ? stored : 0, &size);
            Py_DECREF(lines);    /* the state keeps it; the text is ours */
            if (text == NULL)
                break;
            int rc = bind(db, st, 1, id), bound = rc == 0 ? sql_bind_text(st, 2, text, (int)size, NULL) : SQLITE_OK;
            if (rc == 0 && bound == SQLITE_OK) {
                rc = step(db, st);    /* the text is bound in place: freed only after */
            } else {
                if (rc == 0) {
                    raise_sqlite(db, bound);
                    rc = -1;
                }
                sql_reset(st);
            }
            PyMem_Free(text);
            if (rc < 0)
                break;
        }
        sql_finalize(st);
    }
    Py_DECREF(states);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* mark_raw_stored(states, state_type): state.raw_stored = len(state.raw) for each (a batch committed) */
static PyObject *mark_raw_stored(PyObject *self, PyObject *args)
{
    PyObject *states;
    PyTypeObject *state_type;
    if (!PyArg_ParseTuple(args, "O!O!:mark_raw_stored", &PyDict_Type, &states, &PyType_Type, &state_type))
        return NULL;
    Py_ssize_t at[2];
    const char *names[2] = {"raw", "raw_stored"};
    if (slot_offsets(state_type, names, 2, at) < 0)
        return NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *state;
    while (PyDict_Next(states, &pos, &key, &state)) {
        PyObject *lines = PyObject_TypeCheck(state, state_type) ? SLOT_AT(state, at[0]) : NULL;
        if (lines == NULL || !PyList_Check(lines)) {
            PyErr_SetString(PyExc_TypeError, "a message with its raw lines (a list) was expected");
            return NULL;
        }
        PyObject *count = PyLong_FromSsize_t(PyList_GET_SIZE(lines));
        if (count == NULL)
            return NULL;
        Py_XSETREF(SLOT_AT(state, at[1]), count);
    }
    Py_RETURN_NONE;
}

/* filename(connection): the main database's file name as SQLite knows it ("" for a temporary one). */
static PyObject *filename(PyObject *self, PyObject *conn)
{
    sqlite3 *db = handle_of(conn);
    if (db == NULL)
        return NULL;
    const char *name = sql_db_filename(db, "main");
    return PyUnicode_DecodeFSDefault(name != NULL ? name : "");
}

/* setup(sqlite3_module, _sqlite3_module_file): find SQLite's functions in the library Python's uses. */
static PyObject *setup(PyObject *self, PyObject *args)
{
    PyObject *module;
    const char *library;
    if (!PyArg_ParseTuple(args, "Os:setup", &module, &library))
        return NULL;
    void *h = dlopen(library, RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL) {
        PyErr_Format(PyExc_ImportError, "_sqlite3 is not loaded from %s", library);
        return NULL;
    }
#define FIND_SQLITE(var, name)                                                             \
    if ((*(void **)&(var) = dlsym(h, name)) == NULL) {                                      \
        PyErr_Format(PyExc_ImportError, "%s not found through %s", name, library);         \
        return NULL;                                                                        \
    }
    FIND_SQLITE(sql_prepare, "sqlite3_prepare_v2")
    FIND_SQLITE(sql_bind_int64, "sqlite3_bind_int64")
    FIND_SQLITE(sql_bind_double, "sqlite3_bind_double")
    FIND_SQLITE(sql_bind_text, "sqlite3_bind_text")
    FIND_SQLITE(sql_bind_blob, "sqlite3_bind_blob")
    FIND_SQLITE(sql_bind_null, "sqlite3_bind_null")
    FIND_SQLITE(sql_bind_parameter_count, "sqlite3_bind_parameter_count")
    FIND_SQLITE(sql_step, "sqlite3_step")
    FIND_SQLITE(sql_reset, "sqlite3_reset")
    FIND_SQLITE(sql_finalize, "sqlite3_finalize")
    FIND_SQLITE(sql_extended_errcode, "sqlite3_extended_errcode")
    FIND_SQLITE(sql_errmsg, "sqlite3_errmsg")
    FIND_SQLITE(sql_db_filename, "sqlite3_db_filename")
    PyObject *type = PyObject_GetAttrString(module, "Connection");
    if (type == NULL)
        return NULL;
    if (!PyType_Check(type)) {
        Py_DECREF(type);
        PyErr_SetString(PyExc_ImportError, "sqlite3.Connection is not a type");
        return NULL;
    }
    Py_XSETREF(connection_type, (PyTypeObject *)type);
    Py_INCREF(module);
    Py_XSETREF(errors, module);
    if (s_empty == NULL && (s_empty = PyUnicode_InternFromString("")) == NULL)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "setup(sqlite3, _sqlite3.__file__)"},
    {"executemany", executemany, METH_VARARGS, "executemany(connection, sql, rows: list of tuples)"},
    {"rows", rows, METH_VARARGS, "rows(items, item_type, recipe, refs, raws, states, state_type): see store/sqlite.py"},
    {"insert", insert, METH_VARARGS,
     "insert(connection, sql, items, item_type, recipe, refs, raws, states, state_type): executemany of rows()"},
    {"insert_raw", insert_raw, METH_VARARGS,
     "insert_raw(connection, first_sql, added_sql, states, state_type): the rows of message_raw_rows, inserted"},
    {"mark_raw_stored", mark_raw_stored, METH_VARARGS, "mark_raw_stored(states, state_type): raw_stored = len(raw)"},
    {"new_addresses", new_addresses, METH_VARARGS, "new_addresses(items, item_type, fields, known): see store/sqlite.py"},
    {"filename", filename, METH_O, "filename(connection): the main database file of the connection"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bulkc", "executemany for the store's bulk INSERTs.",
                                    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__bulkc(void) { return PyModule_Create(&module); }
