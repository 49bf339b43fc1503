/* The slot offsets of a slots class's fields, for C code that reads or writes its instances directly:
 * the compiled parsers (parse/_fastparse.h) and the store's row maker (store/_bulkc.c). */
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

#endif
