/*
 * Optional C accelerator for websockets_typed: WebSocket masking (RFC 6455,
 * section 5.3). XOR with a repeating 4-byte key, 16 bytes at a time with SSE2
 * where available, 8 bytes at a time otherwise. The pure-Python version in
 * frames.py gives identical results and is used when this module is missing
 * or disabled with WEBSOCKETS_TYPED_SPEEDUPS=0.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

/* Below this size, releasing the GIL costs more than it lets others run. */
#define RELEASE_GIL_THRESHOLD 65536

static void
xor_mask(const uint8_t *in, uint8_t *out, Py_ssize_t size, const uint8_t key[4])
{
    Py_ssize_t i = 0;
    uint32_t key32;
    uint64_t key64;

    memcpy(&key32, key, 4);
    key64 = ((uint64_t)key32 << 32) | key32;

#ifdef HAVE_SSE2
    {
        __m128i key128 = _mm_set1_epi32((int)key32);
        for (; i + 16 <= size; i += 16) {
            __m128i block = _mm_loadu_si128((const __m128i *)(in + i));
            _mm_storeu_si128((__m128i *)(out + i), _mm_xor_si128(block, key128));
        }
    }
#endif
    /* i is a multiple of 16, so the key stays aligned with the data. */
    for (; i + 8 <= size; i += 8) {
        uint64_t block;
        memcpy(&block, in + i, 8);
        block ^= key64;
        memcpy(out + i, &block, 8);
    }
    for (; i < size; i++) {
        out[i] = in[i] ^ key[i & 3];
    }
}

PyDoc_STRVAR(apply_mask_doc,
"apply_mask(data, mask)\n"
"--\n"
"\n"
"XOR data with the 4-byte mask repeated; masking and unmasking are the same.");

static PyObject *
apply_mask(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"data", "mask", NULL};
    Py_buffer data, mask;
    PyObject *result = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*:apply_mask", keywords, &data, &mask)) {
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result == NULL) {
        goto done;
    }
    if (data.len >= RELEASE_GIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        xor_mask(data.buf, (uint8_t *)PyBytes_AS_STRING(result), data.len, mask.buf);
        Py_END_ALLOW_THREADS
    }
    else {
        xor_mask(data.buf, (uint8_t *)PyBytes_AS_STRING(result), data.len, mask.buf);
    }

done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_VARARGS | METH_KEYWORDS,
     apply_mask_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "websockets_typed._speedups",
    "C accelerator for websockets_typed.",
    -1,
    speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
