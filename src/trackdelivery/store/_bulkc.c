/* executemany() for the store's bulk INSERTs, without the per-value cost of Python's sqlite3 module.
 *
 * Python's Connection.executemany binds each value through its adapter machinery and lets SQLite copy
 * every string (SQLITE_TRANSIENT). Here the values of a row are bound as they are: a str's UTF-8 in
 * place (SQLITE_STATIC: the row is referenced until the statement is reset), an int, a float or NULL.
 * For the 1M-line Exim benchmark's rows that is 1.0 s less of 4.4 s.
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

/* executemany(connection, sql, rows): rows is a list of tuples, one value per parameter. */
static PyObject *executemany(PyObject *self, PyObject *args)
{
    PyObject *conn, *sql, *rows;
    if (!PyArg_ParseTuple(args, "OUO!:executemany", &conn, &sql, &PyList_Type, &rows))
        return NULL;
    sqlite3 *db = handle_of(conn);
    if (db == NULL)
        return NULL;
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
    int parameters = sql_bind_parameter_count(st);
    Py_INCREF(rows);
    Py_ssize_t i = 0;
    for (; i < PyList_GET_SIZE(rows); i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != parameters) {
            PyErr_Format(PyExc_ValueError, "row %zd: a tuple of %d values was expected", i, parameters);
            break;
        }
        Py_INCREF(row);    /* its strings are bound in place until the reset */
        int bound = 0;
        for (int p = 0; p < parameters; p++)
            if ((bound = bind(db, st, p + 1, PyTuple_GET_ITEM(row, p))) != 0)
                break;
        if (bound == 0) {
            Py_BEGIN_ALLOW_THREADS
            rc = sql_step(st);
            Py_END_ALLOW_THREADS
            if (rc != SQLITE_DONE)
                raise_sqlite(db, rc);
        }
        sql_reset(st);
        Py_DECREF(row);
        if (bound != 0 || rc != SQLITE_DONE)
            break;
    }
    sql_finalize(st);
    Py_DECREF(rows);
    if (PyErr_Occurred())
        return NULL;
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
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "setup(sqlite3, _sqlite3.__file__)"},
    {"executemany", executemany, METH_VARARGS, "executemany(connection, sql, rows: list of tuples)"},
    {"filename", filename, METH_O, "filename(connection): the main database file of the connection"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bulkc", "executemany for the store's bulk INSERTs.",
                                    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__bulkc(void) { return PyModule_Create(&module); }
