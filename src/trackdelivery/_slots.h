/* The slot offsets of a slots class's fields, and reading and writing a slot, for C code that reads or
 * writes its instances directly: the compiled parsers (parse/_fastparse.h), the correlators
 * (_correlc.c) and the store's row maker (store/_bulkc.c). */
#ifndef TRACKDELIVERY_SLOTS_H
#define TRACKDELIVERY_SLOTS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* The offsets of a slots dataclass's fields, checked to be object slots. */
static int slot_offsets(PyTypeObject *type, const char *const *names, int count, Py_ssize_t *offsets)
{
    for (int i = 0; i < count; i++) {
        PyObject *descr = PyObject_GetAttrString((PyObject *)type, names[i]);
        if (descr == NULL)
            return -1;
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type)
                 && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (ok)
            offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, names[i]);
            return -1;
        }
    }
    return 0;
}

/* The field of an instance at a slot offset (a borrowed reference; NULL if never set). */
#define SLOT_AT(o, offset) (*(PyObject **)((char *)(o) + (offset)))

/* Replace a slot's value; steals v (NULL: an error is set, nothing changes). */
static inline int set_slot_at(PyObject *o, Py_ssize_t offset, PyObject *v)
{
    if (v == NULL)
        return -1;
    PyObject *old = SLOT_AT(o, offset);
    SLOT_AT(o, offset) = v;
    Py_XDECREF(old);
    return 0;
}

#endif
