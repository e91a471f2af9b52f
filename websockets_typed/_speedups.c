/*
 * Optional C accelerator for websockets_typed: WebSocket masking (RFC 6455,
 * section 5.3). XOR with a repeating 4-byte key, 128 bytes per turn with AVX2
 * where the CPU has it (AVX2 is 1 then), 16 with SSE2, 8 otherwise. The
 * pure-Python versions in frames.py and _receivebuffer.py give identical
 * results and are used when this module is missing or disabled with
 * WEBSOCKETS_TYPED_SPEEDUPS=0.
 *
 * Besides apply_mask: mask_in_place (unmask a received payload where it
 * lies), mask_frame (a masked frame in one allocation, header in front) and
 * writable_bytes (a bytes object that the kernel fills before anyone sees
 * it: a large message is allocated once, at its final size), and new_frame
 * (the parser's Frame, without a call per field), new_instance (the same
 * for the handshake's Request and Response), and usual_fields (the header
 * lines of a usual handshake request, in one call).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

/* AVX2, 128 bytes per turn, where the CPU has it: chosen at run time, since
 * wheels are built for any x86-64. GCC and Clang only. */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_AVX2_DISPATCH 1
static int cpu_has_avx2 = 0;

__attribute__((target("avx2"))) static Py_ssize_t
xor_mask_avx2(const uint8_t *in, uint8_t *out, Py_ssize_t size, uint32_t key32)
{
    /* 256 bytes per iteration, through pointers: the compiler then folds
       every load into its XOR, 19 instructions per 256 bytes where an
       indexed loop of 128 took 15 per 128 (callgrind, bench/run.py C2). */
    const uint8_t *p = in;
    const uint8_t *end = in + (size & ~(Py_ssize_t)255);
    uint8_t *q = out;
    __m256i key256 = _mm256_set1_epi32((int)key32);
    for (; p < end; p += 256, q += 256) {
        _mm256_storeu_si256((__m256i *)q,
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), key256));
        _mm256_storeu_si256((__m256i *)(q + 32),
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 32)), key256));
        _mm256_storeu_si256((__m256i *)(q + 64),
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 64)), key256));
        _mm256_storeu_si256((__m256i *)(q + 96),
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 96)), key256));
        _mm256_storeu_si256((__m256i *)(q + 128),
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 128)), key256));
        _mm256_storeu_si256((__m256i *)(q + 160),
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 160)), key256));
        _mm256_storeu_si256((__m256i *)(q + 192),
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 192)), key256));
        _mm256_storeu_si256((__m256i *)(q + 224),
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 224)), key256));
    }
    end = in + (size & ~(Py_ssize_t)31);
    for (; p < end; p += 32, q += 32) {
        _mm256_storeu_si256((__m256i *)q,
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), key256));
    }
    /* A multiple of 32: the key stays aligned with the data. */
    return p - in;
}
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

#ifdef HAVE_AVX2_DISPATCH
    if (cpu_has_avx2 && size >= 128) {
        i = xor_mask_avx2(in, out, size, key32);
    }
#endif
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

/* xor_mask() on size bytes, without the GIL when that is worth it. */
static void
xor_mask_maybe_threaded(const uint8_t *in, uint8_t *out, Py_ssize_t size, const uint8_t key[4])
{
    if (size >= RELEASE_GIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        xor_mask(in, out, size, key);
        Py_END_ALLOW_THREADS
    }
    else {
        xor_mask(in, out, size, key);
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
    xor_mask_maybe_threaded(data.buf, (uint8_t *)PyBytes_AS_STRING(result), data.len, mask.buf);

done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;
}

PyDoc_STRVAR(mask_in_place_doc,
"mask_in_place(data, mask)\n"
"--\n"
"\n"
"XOR the writable buffer data with the 4-byte mask repeated, in place.");

static PyObject *
mask_in_place(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"data", "mask", NULL};
    Py_buffer data, mask;
    PyObject *result = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "w*y*:mask_in_place", keywords, &data,
                                     &mask)) {
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto done;
    }
    /* Reading and writing the same address is what xor_mask does anyway:
     * each block is loaded before it is stored. */
    xor_mask_maybe_threaded(data.buf, data.buf, data.len, mask.buf);
    result = Py_NewRef(Py_None);

done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;
}

PyDoc_STRVAR(mask_frame_doc,
"mask_frame(header, data, mask)\n"
"--\n"
"\n"
"Return header followed by data XORed with the 4-byte mask, in one bytes object.");

static PyObject *
mask_frame(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"header", "data", "mask", NULL};
    Py_buffer header, data, mask;
    PyObject *result = NULL;
    char *out;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*y*:mask_frame", keywords, &header,
                                     &data, &mask)) {
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto done;
    }
    if (data.len > PY_SSIZE_T_MAX - header.len) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, header.len + data.len);
    if (result == NULL) {
        goto done;
    }
    out = PyBytes_AS_STRING(result);
    memcpy(out, header.buf, header.len);
    xor_mask_maybe_threaded(data.buf, (uint8_t *)out + header.len, data.len, mask.buf);

done:
    PyBuffer_Release(&header);
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;
}

/*
 * writable_bytes(size) returns (message, view): a new bytes object of size
 * uninitialized bytes, and a writable memoryview of its contents.
 *
 * A bytes object is immutable once other code can see it, not before:
 * CPython itself fills the result of PyBytes_FromStringAndSize(NULL, n)
 * after creating it. Here the filling is done through the view, by the
 * kernel (recv_into) and by mask_in_place, while the receiving parser is the
 * only holder of the message; it hands the bytes out once every byte was
 * written, and never writes through the view afterwards. This saves
 * allocating a bytearray and copying it into the bytes object at the end:
 * for a large message, one allocation at its final size and no copy.
 *
 * The view exports a small WritableBytes object that holds a reference to
 * the bytes: the memory stays valid as long as any view of it exists, even
 * if the message was dropped (say, the connection closed mid-frame). Sizes
 * 0 and 1 are refused: CPython may share such bytes objects.
 */

typedef struct {
    PyObject_HEAD
    PyObject *bytes;
} WritableBytes;

static int
writable_bytes_getbuffer(WritableBytes *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, PyBytes_AS_STRING(self->bytes),
                             PyBytes_GET_SIZE(self->bytes), 0, flags);
}

static void
writable_bytes_dealloc(WritableBytes *self)
{
    Py_XDECREF(self->bytes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyBufferProcs writable_bytes_as_buffer = {
    (getbufferproc)writable_bytes_getbuffer,
    NULL,
};

static PyTypeObject WritableBytesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "websockets_typed._speedups.WritableBytes",
    .tp_basicsize = sizeof(WritableBytes),
    .tp_dealloc = (destructor)writable_bytes_dealloc,
    .tp_as_buffer = &writable_bytes_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The owner of a writable view of a bytes object being filled.",
};

PyDoc_STRVAR(writable_bytes_doc,
"writable_bytes(size)\n"
"--\n"
"\n"
"Return a new bytes object of size uninitialized bytes and a writable view of it.\n"
"\n"
"Write every byte through the view before anyone else sees the bytes object.");

static PyObject *
writable_bytes(PyObject *module, PyObject *arg)
{
    Py_ssize_t size = PyLong_AsSsize_t(arg);
    WritableBytes *owner;
    PyObject *bytes, *view, *result;

    if (size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (size < 2) {
        PyErr_SetString(PyExc_ValueError, "size must be at least 2");
        return NULL;
    }
    bytes = PyBytes_FromStringAndSize(NULL, size);
    if (bytes == NULL) {
        return NULL;
    }
    owner = PyObject_New(WritableBytes, &WritableBytesType);
    if (owner == NULL) {
        Py_DECREF(bytes);
        return NULL;
    }
    owner->bytes = Py_NewRef(bytes);
    view = PyMemoryView_FromObject((PyObject *)owner);
    Py_DECREF(owner);
    if (view == NULL) {
        Py_DECREF(bytes);
        return NULL;
    }
    result = PyTuple_Pack(2, bytes, view);
    Py_DECREF(bytes);
    Py_DECREF(view);
    return result;
}

PyDoc_STRVAR(head_bytes_doc,
"head_bytes(data, size, /)\n"
"--\n"
"\n"
"Return the first size bytes of the buffer data as a bytes object.");

/* bytes(data[:size]) without the intermediate memoryview: called for every
 * read from the shared read buffer (bench/run.py --callgrind, S1). */
static PyObject *
head_bytes(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    Py_ssize_t size;
    PyObject *result = NULL;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "head_bytes() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    size = PyLong_AsSsize_t(args[1]);
    if (size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (size < 0 || size > data.len) {
        PyErr_SetString(PyExc_ValueError, "size out of range");
    }
    else {
        result = PyBytes_FromStringAndSize(data.buf, size);
    }
    PyBuffer_Release(&data);
    return result;
}

/* The member of a writable object slot of cls (or of a base of cls) that
 * its descriptor slot describes, or NULL with a TypeError set. */
static PyMemberDef *
object_slot(PyObject *slot, PyTypeObject *cls)
{
    PyMemberDef *member;

    if (!Py_IS_TYPE(slot, &PyMemberDescr_Type)
        || !PyType_IsSubtype(cls, ((PyDescrObject *)slot)->d_type)) {
        PyErr_SetString(PyExc_TypeError, "slots must be member descriptors of cls");
        return NULL;
    }
    member = ((PyMemberDescrObject *)slot)->d_member;
    if (member->type != T_OBJECT_EX || (member->flags & READONLY)) {
        PyErr_SetString(PyExc_TypeError, "slots must be writable object slots");
        return NULL;
    }
    return member;
}

/* The class of frames and where new_frame() stores each field, set once by
 * frame_fields(). */
#define FRAME_FIELDS 6
static PyTypeObject *frame_type = NULL;
static Py_ssize_t frame_offsets[FRAME_FIELDS];

PyDoc_STRVAR(frame_fields_doc,
"frame_fields(cls, slots, /)\n"
"--\n"
"\n"
"Make new_frame() build instances of cls, setting the 6 slots given by their\n"
"member descriptors, in order.");

static PyObject *
frame_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t offsets[FRAME_FIELDS];
    PyObject *slots;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "frame_fields() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "cls must be a class");
        return NULL;
    }
    slots = args[1];
    if (!PyTuple_Check(slots) || PyTuple_GET_SIZE(slots) != FRAME_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "slots must be a tuple of 6 member descriptors");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < FRAME_FIELDS; i++) {
        PyMemberDef *member = object_slot(PyTuple_GET_ITEM(slots, i), (PyTypeObject *)args[0]);
        if (member == NULL) {
            return NULL;
        }
        offsets[i] = member->offset;
    }
    memcpy(frame_offsets, offsets, sizeof(offsets));
    Py_XSETREF(frame_type, (PyTypeObject *)Py_NewRef(args[0]));
    Py_RETURN_NONE;
}

PyDoc_STRVAR(new_frame_doc,
"new_frame(opcode, data, fin, rsv1, rsv2, rsv3, /)\n"
"--\n"
"\n"
"Return an instance of the class given to frame_fields() with these fields,\n"
"without calling __init__ nor checking them.");

/* What frames.new_frame() does in Python, object.__new__() then a descriptor
 * call per slot, costs about 5,500 instructions; the parser builds a frame
 * for every message received (bench/run.py --callgrind, S1 and S2). */
static PyObject *
new_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *frame;

    if (nargs != FRAME_FIELDS) {
        PyErr_Format(PyExc_TypeError, "new_frame() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    if (frame_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "frame_fields() wasn't called");
        return NULL;
    }
    frame = frame_type->tp_alloc(frame_type, 0);
    if (frame == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < FRAME_FIELDS; i++) {
        PyObject **slot = (PyObject **)((char *)frame + frame_offsets[i]);
        *slot = Py_NewRef(args[i]);
    }
    return frame;
}

PyDoc_STRVAR(new_instance_doc,
"new_instance(cls, slots, /, *values)\n"
"--\n"
"\n"
"Return an instance of cls whose slots, given by their member descriptors,\n"
"hold values, in order, without calling __init__ nor checking them.");

/* What object.__new__() then a descriptor call per slot does in Python, in
 * one call: about 3,000 instructions fewer for each of the parser's Request
 * and the server's 101 Response, built for every connection (bench/run.py
 * --callgrind, S4). The descriptors are checked at each call, which costs
 * far less than the call itself. */
static PyObject *
new_instance(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyTypeObject *cls;
    PyObject *slots, *instance;
    Py_ssize_t count;

    if (nargs < 2) {
        PyErr_Format(PyExc_TypeError, "new_instance() takes at least 2 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    if (!PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "cls must be a class");
        return NULL;
    }
    cls = (PyTypeObject *)args[0];
    slots = args[1];
    count = nargs - 2;
    if (!PyTuple_Check(slots) || PyTuple_GET_SIZE(slots) != count) {
        PyErr_SetString(PyExc_TypeError,
                        "slots must be a tuple of as many member descriptors as values");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (object_slot(PyTuple_GET_ITEM(slots, i), cls) == NULL) {
            return NULL;
        }
    }
    instance = cls->tp_alloc(cls, 0);
    if (instance == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyMemberDef *member = ((PyMemberDescrObject *)PyTuple_GET_ITEM(slots, i))->d_member;
        PyObject **field = (PyObject **)((char *)instance + member->offset);
        /* A slot given twice keeps the last value, as in Python. */
        Py_XSETREF(*field, Py_NewRef(args[i + 2]));
    }
    return instance;
}

PyDoc_STRVAR(usual_fields_doc,
"usual_fields(head, start, max_line_length, max_num_headers, names, values, /)\n"
"--\n"
"\n"
"Return the values by lower-cased name and the list of names and values of\n"
"the field lines of head from start on, or None unless they are usual.");

/* datastructures.py_usual_fields() in C: the header lines of a handshake
 * request, usually a handful of common names with printable ASCII values.
 * Anything else returns None, for the Python parser to decide: a line longer
 * than max_line_length, more than max_num_headers lines, a character other
 * than printable ASCII (HTAB included), a line without a colon, a name that
 * isn't a key of names (which maps it to itself and its lower-cased form, as
 * shared strings), a name given twice. A value in values is replaced by the
 * shared string there. Python does this with a few calls per line, a tenth of
 * a handshake (bench/run.py --callgrind, S4). */
static PyObject *
usual_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *head, *names, *values, *fields, *items, *result;
    Py_ssize_t start, max_line_length, max_num_headers, size, pos, count = 0;
    const char *text;

    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "usual_fields() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    head = args[0];
    names = args[4];
    values = args[5];
    if (!PyUnicode_CheckExact(head) || !PyDict_CheckExact(names) || !PyDict_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "usual_fields() takes a str and two dicts");
        return NULL;
    }
    start = PyLong_AsSsize_t(args[1]);
    max_line_length = PyLong_AsSsize_t(args[2]);
    max_num_headers = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    size = PyUnicode_GET_LENGTH(head);
    if (start < 0 || start > size) {
        PyErr_SetString(PyExc_ValueError, "start out of range");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(head)) {
        Py_RETURN_NONE;
    }
    /* ASCII: one byte per character. */
    text = (const char *)PyUnicode_DATA(head);
    fields = PyDict_New();
    items = PyList_New(0);
    if (fields == NULL || items == NULL) {
        goto error;
    }
    for (pos = start; pos < size;) {
        const char *line = text + pos;
        const char *eol = memchr(line, '\r', (size_t)(size - pos));
        const char *separator;
        Py_ssize_t length = eol == NULL ? size - pos : eol - line;
        Py_ssize_t colon, first, last;
        PyObject *name, *common, *value, *shared;
        int known;

        if (eol != NULL && (length + 1 == size - pos || eol[1] != '\n')) {
            goto unusual; /* a CR without LF */
        }
        if (length > max_line_length || ++count > max_num_headers) {
            goto unusual;
        }
        for (Py_ssize_t i = 0; i < length; i++) {
            if (line[i] < 0x20 || line[i] > 0x7e) {
                goto unusual;
            }
        }
        separator = memchr(line, ':', (size_t)length);
        if (separator == NULL) {
            goto unusual;
        }
        colon = separator - line;
        first = colon + 1;
        while (first < length && line[first] == ' ') {
            first++;
        }
        last = length;
        while (last > first && line[last - 1] == ' ') {
            last--;
        }
        /* Substrings of an ASCII str are copied as they are, where
         * PyUnicode_FromStringAndSize would decode UTF-8. */
        name = PyUnicode_Substring(head, pos, pos + colon);
        if (name == NULL) {
            goto error;
        }
        common = PyDict_GetItemWithError(names, name);
        Py_DECREF(name);
        if (common == NULL) {
            if (PyErr_Occurred()) {
                goto error;
            }
            goto unusual;
        }
        if (!PyTuple_CheckExact(common) || PyTuple_GET_SIZE(common) != 2) {
            PyErr_SetString(PyExc_TypeError, "names must map to pairs");
            goto error;
        }
        known = PyDict_Contains(fields, PyTuple_GET_ITEM(common, 1));
        if (known < 0) {
            goto error;
        }
        if (known) {
            goto unusual; /* a name given twice */
        }
        value = PyUnicode_Substring(head, pos + first, pos + last);
        if (value == NULL) {
            goto error;
        }
        shared = PyDict_GetItemWithError(values, value);
        if (shared != NULL) {
            Py_SETREF(value, Py_NewRef(shared));
        }
        else if (PyErr_Occurred()) {
            Py_DECREF(value);
            goto error;
        }
        if (PyDict_SetItem(fields, PyTuple_GET_ITEM(common, 1), value) < 0
            || PyList_Append(items, PyTuple_GET_ITEM(common, 0)) < 0
            || PyList_Append(items, value) < 0) {
            Py_DECREF(value);
            goto error;
        }
        Py_DECREF(value);
        if (eol == NULL) {
            break;
        }
        pos += length + 2;
        if (pos == size) {
            goto unusual; /* a CRLF at the end: an empty line follows */
        }
    }
    result = PyTuple_Pack(2, fields, items);
    Py_DECREF(fields);
    Py_DECREF(items);
    return result;

unusual:
    Py_DECREF(fields);
    Py_DECREF(items);
    Py_RETURN_NONE;

error:
    Py_XDECREF(fields);
    Py_XDECREF(items);
    return NULL;
}

static PyMethodDef speedups_methods[] = {
    {"usual_fields", (PyCFunction)(void (*)(void))usual_fields, METH_FASTCALL, usual_fields_doc},
    {"new_instance", (PyCFunction)(void (*)(void))new_instance, METH_FASTCALL, new_instance_doc},
    {"frame_fields", (PyCFunction)(void (*)(void))frame_fields, METH_FASTCALL, frame_fields_doc},
    {"new_frame", (PyCFunction)(void (*)(void))new_frame, METH_FASTCALL, new_frame_doc},
    {"head_bytes", (PyCFunction)(void (*)(void))head_bytes, METH_FASTCALL, head_bytes_doc},
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_VARARGS | METH_KEYWORDS,
     apply_mask_doc},
    {"mask_in_place", (PyCFunction)(void (*)(void))mask_in_place, METH_VARARGS | METH_KEYWORDS,
     mask_in_place_doc},
    {"mask_frame", (PyCFunction)(void (*)(void))mask_frame, METH_VARARGS | METH_KEYWORDS,
     mask_frame_doc},
    {"writable_bytes", writable_bytes, METH_O, writable_bytes_doc},
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
    PyObject *module;
    int avx2 = 0;

    if (PyType_Ready(&WritableBytesType) < 0) {
        return NULL;
    }
#ifdef HAVE_AVX2_DISPATCH
    {
        /* WEBSOCKETS_TYPED_AVX2=0 keeps SSE2, e.g. to test that path. */
        const char *setting = getenv("WEBSOCKETS_TYPED_AVX2");
        __builtin_cpu_init();
        cpu_has_avx2 = __builtin_cpu_supports("avx2") && !(setting && strcmp(setting, "0") == 0);
        avx2 = cpu_has_avx2;
    }
#endif
    module = PyModule_Create(&speedups_module);
    if (module != NULL && PyModule_AddIntConstant(module, "AVX2", avx2) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
