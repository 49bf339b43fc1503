/* Compiled fast path of ingest.py's reading loop (Ingestor._consume): whole lines read, decoded, parsed
 * and fed to the correlator without a Python frame per line.
 *
 * read_lines(readline, parse, feed, unknown, budget, max_line, warn) reads at most ``budget`` lines with
 * ``readline(max_line)`` and does with each line that ends in its newline what the Python loop does: the
 * line without its newline, decoded as UTF-8 with U+FFFD for what is not, NULs made U+FFFD, parsed;
 * a line whose kind is ``unknown`` is counted as not understood (the first of a call is given to
 * ``warn(lines_read_so_far, text)``), every other line is fed, and a False from ``feed`` counts it as a
 * repeat. It returns (lines, bytes, unparsed, duplicates, tail):
 *
 *   tail None        ``budget`` lines were read;
 *   tail bytes       what readline gave that does not end in a newline (b"" at the end of the file, a
 *                    partial last line, the start of an oversize line): not counted, the Python loop's;
 *   tail exception   readline raised it (a damaged archive): the counts are of the lines before it.
 *
 * An exception of parse, feed or warn is raised at once, as the Python loop would. */

#include "_slots.h"    /* Python.h first, then slot_offsets and SLOT_AT */

#include <string.h>

static PyObject *s_kind, *s_nul, *s_replacement;

/* The type of the last line parsed, and where its kind is: the offset of a slot the instance's getattr
 * would read (a member descriptor found on the type, attributes looked up the generic way), 0 when
 * getattr must answer. */
static PyTypeObject *kind_type;
static Py_ssize_t kind_offset;

/* parsed.kind, a new reference */
static PyObject *kind_of(PyObject *parsed)
{
    PyTypeObject *type = Py_TYPE(parsed);
    if (type != kind_type) {
        static const char *const names[1] = {"kind"};
        Py_ssize_t offset = 0;
        if (type->tp_getattro != PyObject_GenericGetAttr || slot_offsets(type, names, 1, &offset) < 0) {
            PyErr_Clear();    /* not a slot read the generic way: getattr will say what it says */
            offset = 0;
        }
        Py_INCREF(type);
        Py_XSETREF(kind_type, type);
        kind_offset = offset;
    }
    PyObject *kind = kind_offset > 0 ? SLOT_AT(parsed, kind_offset) : NULL;
    return kind != NULL ? Py_NewRef(kind) : PyObject_GetAttr(parsed, s_kind);
}

/* The exception being raised, taken off (its traceback kept in it): a new reference. */
static PyObject *take_exception(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

/* One whole line (``n`` bytes before its newline) decoded, parsed and fed: 0, or -1 with an error set.
 * *bad and *dup count what it was; the first not understood of a call goes to warn. */
static int take_line(const char *s, Py_ssize_t n, PyObject *parse, PyObject *feed, PyObject *unknown, PyObject *warn,
                     Py_ssize_t lines, Py_ssize_t *bad, Py_ssize_t *dup)
{
    PyObject *text = PyUnicode_DecodeUTF8(s, n, "replace");
    if (text != NULL && memchr(s, 0, (size_t)n) != NULL)
        Py_SETREF(text, PyUnicode_Replace(text, s_nul, s_replacement, -1));
    if (text == NULL)
        return -1;
    PyObject *parsed = PyObject_CallOneArg(parse, text);
    PyObject *kind = parsed == NULL ? NULL : kind_of(parsed);
    int rc = -1;
    if (kind != NULL) {
        int is_unknown = kind == unknown ? 1 : PyObject_RichCompareBool(kind, unknown, Py_EQ);
        if (is_unknown > 0) {
            rc = 0;
            if (++*bad == 1) {
                PyObject *lines_read = PyLong_FromSsize_t(lines);
                PyObject *done = lines_read == NULL ? NULL : PyObject_CallFunctionObjArgs(warn, lines_read, text, NULL);
                rc = done == NULL ? -1 : 0;
                Py_XDECREF(done);
                Py_XDECREF(lines_read);
            }
        } else if (is_unknown == 0) {
            PyObject *argv[3] = {NULL, parsed, text};
            PyObject *fed = PyObject_Vectorcall(feed, argv + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
            int new_line = fed == NULL ? -1 : PyObject_IsTrue(fed);
            Py_XDECREF(fed);
            if (new_line >= 0) {
                rc = 0;
                if (!new_line)
                    ++*dup;
            }
        }
    }
    Py_XDECREF(kind);
    Py_XDECREF(parsed);
    Py_DECREF(text);
    return rc;
}

static PyObject *read_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "read_lines(readline, parse, feed, unknown, budget, max_line, warn)");
        return NULL;
    }
    PyObject *readline = args[0], *parse = args[1], *feed = args[2], *unknown = args[3], *max_line = args[5];
    PyObject *warn = args[6];
    Py_ssize_t budget = PyLong_AsSsize_t(args[4]);
    if (budget == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t lines = 0, used = 0, bad = 0, dup = 0;
    PyObject *tail = NULL;
    while (lines < budget) {
        PyObject *raw = PyObject_CallOneArg(readline, max_line);
        if (raw == NULL) {
            tail = take_exception();
            if (tail == NULL)
                return NULL;
            break;
        }
        if (!PyBytes_Check(raw)) {
            PyErr_Format(PyExc_TypeError, "readline must return bytes, not %.100s", Py_TYPE(raw)->tp_name);
            Py_DECREF(raw);
            return NULL;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(raw);
        const char *s = PyBytes_AS_STRING(raw);
        if (n == 0 || s[n - 1] != '\n') {
            tail = raw;
            break;
        }
        used += n;
        lines++;
        int rc = take_line(s, n - 1, parse, feed, unknown, warn, lines, &bad, &dup);
        Py_DECREF(raw);
        if (rc < 0)
            return NULL;
    }
    if (tail == NULL)
        tail = Py_NewRef(Py_None);
    return Py_BuildValue("nnnnN", lines, used, bad, dup, tail);
}

static PyMethodDef methods[] = {
    {"read_lines", (PyCFunction)(void (*)(void))read_lines, METH_FASTCALL,
     "read_lines(readline, parse, feed, unknown, budget, max_line, warn) -> (lines, bytes, unparsed, duplicates, "
     "tail)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_ingestc",
                                        "Compiled fast path of the ingest's reading loop.", -1, methods,
                                        NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ingestc(void)
{
    s_kind = PyUnicode_InternFromString("kind");
    s_nul = PyUnicode_FromOrdinal(0);
    s_replacement = PyUnicode_FromOrdinal(0xFFFD);
    if (s_kind == NULL || s_nul == NULL || s_replacement == NULL)
        return NULL;
    return PyModule_Create(&module_def);
}
