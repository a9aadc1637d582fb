/* Hashed word n-grams of cleaned review texts, as scikit-learn's HashingVectorizer finds them.
 *
 * Python's `re.findall(r"(?u)\b\w[\w']*\b", text)`, the n-gram joins and one mmh3 call per
 * n-gram took about 140 us of a review's 220: the pool's processes spent most of their time
 * there. Here a review takes about 10 us. Tokens are maximal runs of word characters and
 * apostrophes that start with a word character, less their trailing apostrophes: what that
 * pattern matches, with `\w` defined as Python's `re` defines it (Py_UNICODE_ISALNUM or '_').
 * Each n-gram's UTF-8 bytes, its tokens joined by one space, are hashed with MurmurHash3
 * (x86, 32 bit, seed 0) and folded into [0, n_features) as scikit-learn folds them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static int32_t murmur3_32(const unsigned char *data, Py_ssize_t len) {
    const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
    uint32_t h = 0;
    Py_ssize_t blocks = len / 4;
    for (Py_ssize_t i = 0; i < blocks; i++) {
        uint32_t k;
        memcpy(&k, data + 4 * i, 4); /* little-endian, as mmh3 and scikit-learn read it */
        k *= c1;
        k = rotl32(k, 15);
        k *= c2;
        h ^= k;
        h = rotl32(h, 13);
        h = h * 5 + 0xe6546b64;
    }
    const unsigned char *tail = data + 4 * blocks;
    uint32_t k = 0;
    switch (len & 3) {
    case 3: k ^= (uint32_t)tail[2] << 16; /* fall through */
    case 2: k ^= (uint32_t)tail[1] << 8;  /* fall through */
    case 1:
        k ^= tail[0];
        k *= c1;
        k = rotl32(k, 15);
        k *= c2;
        h ^= k;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;
    return (int32_t)h;
}

static inline int32_t fold(int32_t h, int32_t n_features) {
    if (h == INT32_MIN) /* abs() does not fit; scikit-learn's value for it */
        return (int32_t)((2147483647 - (n_features - 1)) % n_features);
    return (h < 0 ? -h : h) % n_features;
}

/* The code point at s[*i] (valid UTF-8, as Python encoded it); moves *i past it. */
static inline Py_UCS4 next_code_point(const unsigned char *s, Py_ssize_t *i) {
    unsigned char c = s[*i];
    if (c < 0x80) {
        *i += 1;
        return c;
    }
    if (c < 0xE0) {
        *i += 2;
        return ((Py_UCS4)(c & 0x1F) << 6) | (s[*i - 1] & 0x3F);
    }
    if (c < 0xF0) {
        *i += 3;
        return ((Py_UCS4)(c & 0x0F) << 12) | ((Py_UCS4)(s[*i - 2] & 0x3F) << 6) |
               (s[*i - 1] & 0x3F);
    }
    *i += 4;
    return ((Py_UCS4)(c & 0x07) << 18) | ((Py_UCS4)(s[*i - 3] & 0x3F) << 12) |
           ((Py_UCS4)(s[*i - 2] & 0x3F) << 6) | (s[*i - 1] & 0x3F);
}

static inline int is_word(Py_UCS4 ch) {
    if (ch < 0x80)
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
               (ch >= 'A' && ch <= 'Z');
    return Py_UNICODE_ISALNUM(ch);
}

typedef struct {
    char *data;
    Py_ssize_t size, capacity; /* in bytes */
} Buffer;

static int reserve(Buffer *b, Py_ssize_t more) {
    if (b->size + more <= b->capacity)
        return 0;
    Py_ssize_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity < b->size + more)
        capacity *= 2;
    char *data = PyMem_RawRealloc(b->data, (size_t)capacity);
    if (data == NULL)
        return -1;
    b->data = data;
    b->capacity = capacity;
    return 0;
}

/* Appends the folded hash of every n-gram of the UTF-8 text `s` to `out`; returns how many,
 * or -1 when out of memory. Touches no Python object, so it runs without the GIL. */
static Py_ssize_t text_ngrams(const unsigned char *s, Py_ssize_t len, int low, int high,
                              int32_t n_features, Buffer *spans, Buffer *scratch, Buffer *out) {
    spans->size = 0;
    Py_ssize_t i = 0;
    while (i < len) {
        Py_ssize_t start = i;
        if (!is_word(next_code_point(s, &i)))
            continue;
        Py_ssize_t end = i; /* just past the token's last word character */
        while (i < len) {
            Py_ssize_t at = i;
            Py_UCS4 ch = next_code_point(s, &i);
            if (is_word(ch))
                end = i;
            else if (ch != '\'') {
                i = at;
                break;
            }
        }
        i = end; /* trailing apostrophes are not part of it, nor of the next token */
        if (reserve(spans, 2 * (Py_ssize_t)sizeof(Py_ssize_t)) < 0)
            return -1;
        Py_ssize_t *span = (Py_ssize_t *)(spans->data + spans->size);
        span[0] = start;
        span[1] = end;
        spans->size += 2 * (Py_ssize_t)sizeof(Py_ssize_t);
    }
    const Py_ssize_t *span = (const Py_ssize_t *)spans->data;
    Py_ssize_t tokens = spans->size / (2 * (Py_ssize_t)sizeof(Py_ssize_t)), grams = 0;
    for (int n = low; n <= high; n++)
        grams += tokens >= n ? tokens - n + 1 : 0;
    if (reserve(out, grams * (Py_ssize_t)sizeof(int32_t)) < 0 ||
        reserve(scratch, len + high) < 0)
        return -1;
    int32_t *folded = (int32_t *)(out->data + out->size);
    Py_ssize_t g = 0;
    for (int n = low; n <= high; n++) {
        for (Py_ssize_t t = 0; t + n <= tokens; t++) {
            const unsigned char *gram;
            Py_ssize_t gram_len;
            if (n == 1) {
                gram = s + span[2 * t];
                gram_len = span[2 * t + 1] - span[2 * t];
            } else {
                char *w = scratch->data;
                for (int j = 0; j < n; j++) {
                    Py_ssize_t a = span[2 * (t + j)], b = span[2 * (t + j) + 1];
                    if (j)
                        *w++ = ' ';
                    memcpy(w, s + a, (size_t)(b - a));
                    w += b - a;
                }
                gram = (const unsigned char *)scratch->data;
                gram_len = w - scratch->data;
            }
            folded[g++] = fold(murmur3_32(gram, gram_len), n_features);
        }
    }
    out->size += grams * (Py_ssize_t)sizeof(int32_t);
    return grams;
}

PyDoc_STRVAR(hashed_ngrams_doc,
"hashed_ngrams(texts, low, high, n_features) -> (indices, counts)\n\n"
"Feature indices (int32 bytes) of every word n-gram, n in [low, high], of each text in\n"
"turn, and how many each text has (int64 bytes).");

static PyObject *hashed_ngrams(PyObject *self, PyObject *args) {
    PyObject *texts;
    int low, high;
    int n_features;
    if (!PyArg_ParseTuple(args, "Oiii:hashed_ngrams", &texts, &low, &high, &n_features))
        return NULL;
    if (low < 1 || high < low || n_features < 1) {
        PyErr_SetString(PyExc_ValueError, "need 1 <= low <= high and n_features >= 1");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(texts, "texts must be a sequence of str");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *counts = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    Buffer utf8 = {0}, spans = {0}, scratch = {0}, out = {0};
    PyObject *result = NULL;
    if (counts == NULL)
        goto done;
    /* The texts' UTF-8 (kept alive by `seq`) first, with the GIL; then the work without it,
     * so a thread executor's threads hash in parallel. */
    if (reserve(&utf8, n * (Py_ssize_t)(sizeof(char *) + sizeof(Py_ssize_t))) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    const char **starts = (const char **)utf8.data;
    Py_ssize_t *lengths = (Py_ssize_t *)(utf8.data + n * (Py_ssize_t)sizeof(char *));
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *text = PySequence_Fast_GET_ITEM(seq, k);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "texts[%zd] is %.80s, not str", k,
                         Py_TYPE(text)->tp_name);
            goto done;
        }
        starts[k] = PyUnicode_AsUTF8AndSize(text, &lengths[k]);
        if (starts[k] == NULL)
            goto done;
    }
    int64_t *count = (int64_t *)PyBytes_AS_STRING(counts);
    Py_ssize_t failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n && !failed; k++) {
        count[k] = text_ngrams((const unsigned char *)starts[k], lengths[k], low, high,
                               n_features, &spans, &scratch, &out);
        failed = count[k] < 0;
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *indices = PyBytes_FromStringAndSize(out.data ? out.data : "", out.size);
    if (indices != NULL) {
        result = PyTuple_Pack(2, indices, counts);
        Py_DECREF(indices);
    }
done:
    Py_XDECREF(counts);
    Py_DECREF(seq);
    PyMem_RawFree(utf8.data);
    PyMem_RawFree(spans.data);
    PyMem_RawFree(scratch.data);
    PyMem_RawFree(out.data);
    return result;
}

static PyMethodDef methods[] = {
    {"hashed_ngrams", hashed_ngrams, METH_VARARGS, hashed_ngrams_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ngrams", "Hashed word n-grams, as HashingVectorizer finds them.",
    -1, methods,
};

PyMODINIT_FUNC PyInit__ngrams(void) { return PyModule_Create(&module); }
