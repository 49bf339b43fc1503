/* Helpers shared by the compiled parsers (_eximc.c, _postfixc.c): ASCII character classes, searches
 * in a byte range, Python strings of ASCII bytes, and writing the slots of a slots dataclass. */
#ifndef TRACKDELIVERY_FASTPARSE_H
#define TRACKDELIVERY_FASTPARSE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "../_slots.h"

static PyObject *s_empty;                /* "" */

#define DECLINE ((PyObject *)1)          /* "let Python read this line" */

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }
static inline int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline int is_alnum(char c) { return is_alpha(c) || is_digit(c); }
static inline int is_word(char c) { return is_alnum(c) || c == '_'; }

/* While a parser reads a stand-in of a non-ASCII line (one ASCII character for each character of the
 * line: see _eximc.c's parse_masked), the line itself and where the stand-in is: strings made from the
 * stand-in are then cut from the line at the same character offsets. */
static PyObject *masked_line;
static const char *masked_base;
static Py_ssize_t masked_len;

static PyObject *str_of(const char *p, Py_ssize_t n)
{
    if (n <= 0) {
        Py_INCREF(s_empty);
        return s_empty;
    }
    if (masked_line != NULL && p >= masked_base && p + n <= masked_base + masked_len)
        return PyUnicode_Substring(masked_line, p - masked_base, p - masked_base + n);
    PyObject *u = PyUnicode_New(n, 127);
    if (u != NULL)
        memcpy(PyUnicode_DATA(u), p, (size_t)n);
    return u;
}

static inline Py_ssize_t find(const char *s, Py_ssize_t from, Py_ssize_t to, const char *needle, Py_ssize_t len)
{
    if (from < 0)
        from = 0;
    /* the needle's first byte by memchr (many at a time), then the rest */
    for (Py_ssize_t i = from; i + len <= to; i++) {
        const char *at = memchr(s + i, needle[0], (size_t)(to - len - i + 1));
        if (at == NULL)
            return -1;
        i = at - s;
        if (memcmp(s + i, needle, (size_t)len) == 0)
            return i;
    }
    return -1;
}

static inline Py_ssize_t rfind(const char *s, Py_ssize_t from, Py_ssize_t to, const char *needle, Py_ssize_t len)
{
    for (Py_ssize_t i = to - len; i >= from; i--)
        if (s[i] == needle[0] && memcmp(s + i, needle, (size_t)len) == 0)
            return i;
    return -1;
}

static inline int starts(const char *s, Py_ssize_t n, const char *prefix)
{
    Py_ssize_t len = (Py_ssize_t)strlen(prefix);
    return n >= len && memcmp(s, prefix, (size_t)len) == 0;
}

#define FIND(s, from, to, lit) find((s), (from), (to), (lit), (Py_ssize_t)(sizeof(lit) - 1))
#define RFIND(s, from, to, lit) rfind((s), (from), (to), (lit), (Py_ssize_t)(sizeof(lit) - 1))


static PyObject *interned(const char *text)
{
    return PyUnicode_InternFromString(text);
}

/* A one-entry cache of the epoch of a minute: the key is the time's text up to its minute, and whatever
 * else the epoch depends on (zone, year), zero-padded to MINUTE_KEY bytes. Parsers compute a time with
 * a Python function once per minute and add the seconds to the remembered epoch. */
#define MINUTE_KEY 32
typedef struct {
    char key[MINUTE_KEY];
    long long base;    /* the epoch of the minute's second 0 */
    int valid;
} MinuteCache;

/* 1 and *epoch = the epoch of `seconds` past the cached minute when `key` names it, else 0. */
static int minute_hit(const MinuteCache *cache, const char *key, long long seconds, long long *epoch)
{
    if (!cache->valid || memcmp(cache->key, key, MINUTE_KEY) != 0)
        return 0;
    *epoch = cache->base + seconds;
    return 1;
}

/* Remember the minute of `stamp`, the epoch a Python function returned for `seconds` past the minute
 * `key` names, where it is an int (None: no such time). 0, or -1 on error (stamp is then released). */
static int remember_minute(MinuteCache *cache, const char *key, PyObject *stamp, long long seconds)
{
    if (!PyLong_CheckExact(stamp))
        return 0;
    long long value = PyLong_AsLongLong(stamp);
    if (value == -1 && PyErr_Occurred()) {
        Py_DECREF(stamp);
        return -1;
    }
    memcpy(cache->key, key, MINUTE_KEY);
    cache->base = value - seconds;
    cache->valid = 1;
    return 0;
}

/* A str value of a kinds dict (new reference), or NULL with KeyError. */
static PyObject *kind_of(PyObject *kinds, const char *name)
{
    PyObject *value = PyDict_GetItemString(kinds, name);
    if (value == NULL || !PyUnicode_Check(value)) {
        PyErr_Format(PyExc_KeyError, "kinds[%s]", name);
        return NULL;
    }
    Py_INCREF(value);
    return value;
}

/* The printable-ASCII text of a line without its trailing blanks (str.rstrip()), or NULL when the line
 * is not compact ASCII or holds a control character: such lines are Python's to read. */
static const char *ascii_text(PyObject *line, Py_ssize_t *length)
{
    if (!PyUnicode_CheckExact(line) || !PyUnicode_IS_COMPACT_ASCII(line))
        return NULL;
    const char *s = (const char *)PyUnicode_DATA(line);
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    /* ASCII whitespace for str.rstrip() is \t \n \v \f \r \x1c-\x1f and the space */
    while (n > 0 && (s[n - 1] == ' ' || (s[n - 1] >= 0x09 && s[n - 1] <= 0x0d) || (s[n - 1] >= 0x1c && s[n - 1] <= 0x1f)))
        n--;
    /* any byte below 0x20, eight at a time: (x - 0x20..) & ~x & 0x80.. is not 0 exactly when one is
     * (every byte is ASCII, below 0x80) */
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if ((x - 0x2020202020202020ULL) & ~x & 0x8080808080808080ULL)
            return NULL;
    }
    for (; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return NULL;
    *length = n;
    return s;
}

#endif
