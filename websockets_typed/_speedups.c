/*
 * Optional C accelerator for websockets_typed: WebSocket masking (RFC 6455,
 * section 5.3). XOR with a repeating 4-byte key, 128 bytes per turn with AVX2
 * where the CPU has it (AVX2 is 1 then), 16 with SSE2, 8 otherwise. The
 * pure-Python versions in frames.py and _receivebuffer.py give identical
 * results and are used when this module is missing or disabled with
 * WEBSOCKETS_TYPED_SPEEDUPS=0.
 *
 * Besides apply_mask: mask_in_place (unmask a received payload where it
 * lies), mask_frame (a masked frame in one allocation, header in front),
 * mask_into (the same into a bytearray that the caller reuses) and
 * writable_bytes (a bytes object that the kernel fills before anyone sees
 * it: a large message is allocated once, at its final size), and new_frame
 * (the parser's Frame, without a call per field), new_instance (the same
 * for the handshake's Request and Response), usual_fields (the header
 * lines of a usual handshake request, in one call), and usual_request and
 * usual_response (the whole usual opening handshake of a server, with
 * SHA-1 for Sec-WebSocket-Accept).
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

PyDoc_STRVAR(mask_into_doc,
"mask_into(buffer, header, data, mask)\n"
"--\n"
"\n"
"Write header, then data XORed with the 4-byte mask, at the start of the\n"
"bytearray buffer, grown if it is too short (never shrunk); return the\n"
"number of bytes written, or -1 without writing anything if a view of the\n"
"buffer exists: someone may still read it.");

static PyObject *
mask_into(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer header, data, mask;
    PyObject *buffer;
    Py_ssize_t total = -1;
    char *out;

    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "mask_into takes 4 arguments");
        return NULL;
    }
    buffer = args[0];
    if (!PyByteArray_CheckExact(buffer)) {
        PyErr_SetString(PyExc_TypeError, "buffer must be a bytearray");
        return NULL;
    }
    if (((PyByteArrayObject *)buffer)->ob_exports > 0) {
        return PyLong_FromLong(-1);
    }
    if (PyObject_GetBuffer(args[1], &header, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &data, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&header);
        return NULL;
    }
    if (PyObject_GetBuffer(args[3], &mask, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&header);
        PyBuffer_Release(&data);
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto error;
    }
    if (data.len > PY_SSIZE_T_MAX - header.len) {
        PyErr_NoMemory();
        goto error;
    }
    total = header.len + data.len;
    if (PyByteArray_GET_SIZE(buffer) < total && PyByteArray_Resize(buffer, total) < 0) {
        goto error;
    }
    out = PyByteArray_AS_STRING(buffer);
    memcpy(out, header.buf, header.len);
    xor_mask_maybe_threaded(data.buf, (uint8_t *)out + header.len, data.len, mask.buf);
    PyBuffer_Release(&header);
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return PyLong_FromSsize_t(total);

error:
    PyBuffer_Release(&header);
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return NULL;
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

/* A Frame with its FRAME_FIELDS slots set to new references to fields, in
 * order; frame_fields() must have been called. */
static PyObject *
build_frame(PyObject *const *fields)
{
    PyObject *frame = frame_type->tp_alloc(frame_type, 0);

    if (frame == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < FRAME_FIELDS; i++) {
        PyObject **slot = (PyObject **)((char *)frame + frame_offsets[i]);
        *slot = Py_NewRef(fields[i]);
    }
    return frame;
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
    if (nargs != FRAME_FIELDS) {
        PyErr_Format(PyExc_TypeError, "new_frame() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    if (frame_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "frame_fields() wasn't called");
        return NULL;
    }
    return build_frame(args);
}

/* What read_frame() needs besides frame_fields(): the 16 opcodes, None
 * where undefined, and the pure-Python read_frame(), which handles whatever
 * isn't a complete, valid frame with a 7- or 16-bit length. Set once by
 * frame_parser(). */
static PyObject *frame_opcodes = NULL;
static PyObject *py_read_frame = NULL;

PyDoc_STRVAR(frame_parser_doc,
"frame_parser(opcodes, fallback, /)\n"
"--\n"
"\n"
"Make read_frame() use the 16-tuple opcodes (None where undefined) and call\n"
"fallback, with the same arguments, for anything but a complete valid frame.");

static PyObject *
frame_parser(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "frame_parser() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != 16) {
        PyErr_SetString(PyExc_TypeError, "opcodes must be a tuple of 16 items");
        return NULL;
    }
    if (!PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "fallback must be callable");
        return NULL;
    }
    Py_XSETREF(frame_opcodes, Py_NewRef(args[0]));
    Py_XSETREF(py_read_frame, Py_NewRef(args[1]));
    Py_RETURN_NONE;
}

/* The length of the payload of the frame whose header starts at head, with
 * avail bytes there, if it is written in 7 bits or, at its shortest, in 16,
 * and the mask bit is mask; *offset is then where the payload starts,
 * counted from head. -1 otherwise: the frame is the Python parser's. */
static Py_ssize_t
short_payload_length(const uint8_t *head, Py_ssize_t avail, int mask, Py_ssize_t *offset)
{
    Py_ssize_t length;

    if (avail < 2 || ((head[1] & 0x80) != 0) != mask) {
        return -1;
    }
    length = head[1] & 0x7F;
    *offset = 2;
    if (length == 126) {
        if (avail < 4) {
            return -1;
        }
        length = ((Py_ssize_t)head[2] << 8) | head[3];
        if (length < 126) {
            return -1;
        }
        *offset = 4;
    }
    else if (length == 127) {
        return -1;
    }
    if (mask) {
        *offset += 4;
    }
    return length;
}

/* The Frame whose header starts with head1 and whose payload is the length
 * bytes at payload, unmasked with the 4 bytes before them if mask: a new
 * reference, or NULL with an exception set. */
static PyObject *
wire_frame(uint8_t head1, const uint8_t *payload, Py_ssize_t length, int mask)
{
    PyObject *data, *frame;

    if (mask) {
        data = PyBytes_FromStringAndSize(NULL, length);
        if (data != NULL) {
            xor_mask_maybe_threaded(payload, (uint8_t *)PyBytes_AS_STRING(data), length,
                                    payload - 4);
        }
    }
    else {
        data = PyBytes_FromStringAndSize((const char *)payload, length);
    }
    if (data == NULL) {
        return NULL;
    }
    {
        PyObject *fields[FRAME_FIELDS] = {
            PyTuple_GET_ITEM(frame_opcodes, head1 & 0x0F),
            data,
            head1 & 0x80 ? Py_True : Py_False,
            head1 & 0x40 ? Py_True : Py_False,
            head1 & 0x20 ? Py_True : Py_False,
            head1 & 0x10 ? Py_True : Py_False,
        };
        frame = build_frame(fields);
    }
    Py_DECREF(data);
    return frame;
}

PyDoc_STRVAR(read_frame_doc,
"read_frame(buffer, start, mask, max_size, /)\n"
"--\n"
"\n"
"frames.read_frame(): (frame, end, payload) for the frame at start of buffer.");

/* frames.py_read_frame() in one call for a complete frame whose length takes
 * 7 or 16 bits and breaks no rule: about 5,000 instructions fewer per
 * message received (bench/run.py --callgrind, S1). Anything else (an
 * incomplete frame, a 64-bit length, any error) goes to the fallback, which
 * returns or raises what frames.py_read_frame() does: one behaviour. */
static PyObject *
read_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const uint8_t *buf;
    Py_ssize_t size, start, length, offset, end, limit = -1;
    PyObject *frame, *result;
    uint8_t head1;
    int mask;

    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "read_frame() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    if (frame_type == NULL || py_read_frame == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "frame_fields() or frame_parser() wasn't called");
        return NULL;
    }
    /* Arguments of other types than the parser's, to the fallback too. */
    if (!PyLong_CheckExact(args[1]) || !PyBool_Check(args[2])
        || !(args[3] == Py_None || PyLong_CheckExact(args[3]))) {
        goto fallback;
    }
    start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        goto fallback;
    }
    mask = args[2] == Py_True;
    if (args[3] != Py_None) {
        limit = PyLong_AsSsize_t(args[3]);
        if (limit == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            goto fallback; /* not an int, or a huge one */
        }
        if (limit < 0) {
            goto fallback;
        }
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    buf = view.buf;
    size = view.len;
    if (start < 0 || start > size - 2) {
        goto release_fallback;
    }
    head1 = buf[start];
    if (PyTuple_GET_ITEM(frame_opcodes, head1 & 0x0F) == Py_None) {
        goto release_fallback;
    }
    length = short_payload_length(buf + start, size - start, mask, &offset);
    if (length < 0) {
        goto release_fallback;
    }
    offset += start;
    if ((head1 & 0x0F) >= 8) {
        if (length > 125 || !(head1 & 0x80)) {
            goto release_fallback;
        }
    }
    else if (limit >= 0) {
        /* The allowance for compressed frames of py_read_frame(). */
        if (head1 & 0x40) {
            limit = limit > (PY_SSIZE_T_MAX - 64) / 2 ? PY_SSIZE_T_MAX : limit + (limit >> 12) + 64;
        }
        if (length > limit) {
            goto release_fallback;
        }
    }
    end = offset + length;
    if (end > size) {
        goto release_fallback; /* the header for the caller, from the fallback */
    }
    frame = wire_frame(head1, buf + offset, length, mask);
    PyBuffer_Release(&view);
    if (frame == NULL) {
        return NULL;
    }
    result = PyTuple_New(3);
    if (result == NULL) {
        Py_DECREF(frame);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, frame);
    PyTuple_SET_ITEM(result, 1, PyLong_FromSsize_t(end));
    PyTuple_SET_ITEM(result, 2, PyLong_FromSsize_t(offset));
    if (PyTuple_GET_ITEM(result, 1) == NULL || PyTuple_GET_ITEM(result, 2) == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    return result;

release_fallback:
    PyBuffer_Release(&view);
fallback:
    return PyObject_Vectorcall(py_read_frame, args, (size_t)nargs, NULL);
}

/* Whether the size bytes at in, unmasked with key unless it's NULL, are all
 * ASCII: 8 bytes per turn, without writing them anywhere. */
static int
is_ascii_unmasked(const uint8_t *in, Py_ssize_t size, const uint8_t *key)
{
    uint64_t key64 = 0, word, seen = 0;
    Py_ssize_t i = 0;

    if (key != NULL) {
        memcpy(&key64, key, 4);
        memcpy((uint8_t *)&key64 + 4, key, 4);
    }
    for (; i + 8 <= size; i += 8) {
        memcpy(&word, in + i, 8);
        seen |= word ^ key64;
    }
    if (seen & UINT64_C(0x8080808080808080)) {
        return 0;
    }
    for (; i < size; i++) {
        if ((in[i] ^ (key != NULL ? key[i & 3] : 0)) & 0x80) {
            return 0;
        }
    }
    return 1;
}

PyDoc_STRVAR(read_messages_doc,
"read_messages(buffer, start, stop, mask, max_size, budget, append, /)\n"
"--\n"
"\n"
"Pass each whole message in one frame at the start of buffer[start:stop] to\n"
"append; return (end, count): where the frames taken end, and how many.");

/* The receiving end of the usual read, in one call (bench/run.py, S1 and
 * S2): complete frames with FIN set and no RSV bit, Binary, or Text whose
 * payload is ASCII (valid UTF-8 without decoding it), with a 7- or 16-bit
 * length of at most max_size (-1: no limit), masked as mask says, each built
 * as read_frame() builds it and passed to append, at most budget of them (-1:
 * no limit). It stops at the first frame that isn't one, or isn't complete:
 * the caller parses the rest with read_frame(), which applies every rule. */
static PyObject *
read_messages(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const uint8_t *buf;
    Py_ssize_t start, stop, limit, budget, count = 0, length, offset;
    PyObject *append, *frame, *called;
    uint8_t head1;
    int mask;

    if (nargs != 7) {
        PyErr_Format(PyExc_TypeError, "read_messages() takes 7 arguments (%zd given)", nargs);
        return NULL;
    }
    if (frame_type == NULL || frame_opcodes == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "frame_fields() or frame_parser() wasn't called");
        return NULL;
    }
    start = PyLong_AsSsize_t(args[1]);
    stop = PyLong_AsSsize_t(args[2]);
    mask = PyObject_IsTrue(args[3]);
    limit = PyLong_AsSsize_t(args[4]);
    budget = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred() || mask < 0) {
        return NULL;
    }
    append = args[6];
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (start < 0 || stop > view.len || start > stop) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start and stop must be within the buffer");
        return NULL;
    }
    buf = view.buf;
    while (count != budget && stop - start >= 2) {
        head1 = buf[start];
        /* FIN, no RSV bit, Text or Binary. */
        if (head1 != 0x81 && head1 != 0x82) {
            break;
        }
        length = short_payload_length(buf + start, stop - start, mask, &offset);
        if (length < 0 || (limit >= 0 && length > limit)) {
            break;
        }
        offset += start;
        if (offset + length > stop) {
            break;
        }
        if (head1 == 0x81 && !is_ascii_unmasked(buf + offset, length, mask ? buf + offset - 4 : NULL)) {
            break;
        }
        frame = wire_frame(head1, buf + offset, length, mask);
        if (frame == NULL) {
            goto error;
        }
        called = PyObject_CallOneArg(append, frame);
        Py_DECREF(frame);
        if (called == NULL) {
            goto error;
        }
        Py_DECREF(called);
        start = offset + length;
        count++;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nn)", start, count);

error:
    PyBuffer_Release(&view);
    return NULL;
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

/* A str of the size printable ASCII characters at text. */
static PyObject *
ascii_str(const char *text, Py_ssize_t size)
{
    PyObject *result = PyUnicode_New(size, 127);

    if (result != NULL) {
        memcpy(PyUnicode_DATA(result), text, (size_t)size);
    }
    return result;
}

/* A snapshot of a dict whose keys are ASCII str: handshake_types() takes
 * one of the shared names and one of the shared values of
 * datastructures.py, for split_fields() to find a name or a value by its
 * text, without making a str and hashing it: that costs a third of
 * splitting the fields (bench/micro.py --callgrind, S4). */
#define TABLE_SIZE 64
typedef struct {
    PyObject *dict; /* the dict it was taken from */
    Py_ssize_t count;
    struct {
        Py_ssize_t size;
        const char *text;
        PyObject *key, *value;
    } entries[TABLE_SIZE];
} Table;

static Table name_table, value_table;

static void
table_clear(Table *table)
{
    for (Py_ssize_t i = 0; i < table->count; i++) {
        Py_DECREF(table->entries[i].key);
        Py_DECREF(table->entries[i].value);
    }
    table->count = 0;
    Py_CLEAR(table->dict);
}

/* Fill table with the items of dict; -1 with an exception set if they
 * don't fit, or a key isn't an ASCII str. */
static int
table_fill(Table *table, PyObject *dict)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;

    table_clear(table);
    if (PyDict_GET_SIZE(dict) > TABLE_SIZE) {
        PyErr_SetString(PyExc_ValueError, "too many shared names or values");
        return -1;
    }
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_ASCII(key)) {
            table_clear(table);
            PyErr_SetString(PyExc_TypeError, "shared names and values must be ASCII str");
            return -1;
        }
        table->entries[table->count].size = PyUnicode_GET_LENGTH(key);
        table->entries[table->count].text = (const char *)PyUnicode_DATA(key);
        table->entries[table->count].key = Py_NewRef(key);
        table->entries[table->count].value = Py_NewRef(value);
        table->count++;
    }
    table->dict = Py_NewRef(dict);
    return 0;
}

/* The value of the key with the size characters at text (borrowed), or NULL. */
static PyObject *
table_find(const Table *table, const char *text, Py_ssize_t size)
{
    for (Py_ssize_t i = 0; i < table->count; i++) {
        if (table->entries[i].size == size && memcmp(table->entries[i].text, text, size) == 0) {
            return table->entries[i].value;
        }
    }
    return NULL;
}

/* The pair that names maps the size characters at text to (borrowed), from
 * the table when tables, or NULL if there is none; -1 on error. */
static int
find_name(int tables, PyObject *names, const char *text, Py_ssize_t size, PyObject **pair)
{
    PyObject *key;

    if (tables) {
        *pair = table_find(&name_table, text, size);
    }
    else {
        key = ascii_str(text, size);
        if (key == NULL) {
            return -1;
        }
        *pair = PyDict_GetItemWithError(names, key);
        Py_DECREF(key);
        if (*pair == NULL && PyErr_Occurred()) {
            return -1;
        }
    }
    if (*pair != NULL && (!PyTuple_CheckExact(*pair) || PyTuple_GET_SIZE(*pair) != 2)) {
        PyErr_SetString(PyExc_TypeError, "names must map to pairs");
        return -1;
    }
    return 0;
}

/* Whether the size characters at text are a token (RFC 7230, 3.2.6). */
static int
is_token(const char *text, Py_ssize_t size)
{
    if (size == 0) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL))) {
            return 0;
        }
    }
    return 1;
}

/* The name at text (size characters), as given and lower-cased, as new
 * references, the way Headers.__setitem__ keeps them: a common name is
 * the shared strings names maps it to, or its lower-cased form to; another
 * token is copied. Returns 1, 0 if the name isn't a token, -1 on error. */
static int
field_name(int tables, PyObject *names, const char *text, Py_ssize_t size, PyObject **name,
           PyObject **lower)
{
    PyObject *pair;
    char *data;

    if (find_name(tables, names, text, size, &pair) < 0) {
        return -1;
    }
    if (pair != NULL) {
        *name = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
        *lower = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
        return 1;
    }
    if (!is_token(text, size)) {
        return 0;
    }
    *name = ascii_str(text, size);
    *lower = ascii_str(text, size);
    if (*name == NULL || *lower == NULL) {
        goto error;
    }
    data = (char *)PyUnicode_DATA(*lower);
    for (Py_ssize_t i = 0; i < size; i++) {
        if (data[i] >= 'A' && data[i] <= 'Z') {
            data[i] += 'a' - 'A';
        }
    }
    if (find_name(tables, names, data, size, &pair) < 0) {
        goto error;
    }
    if (pair != NULL) {
        Py_SETREF(*lower, Py_NewRef(PyTuple_GET_ITEM(pair, 1)));
    }
    return 1;

error:
    Py_CLEAR(*name);
    Py_CLEAR(*lower);
    return -1;
}

/* The splitting of usual_fields(), on the characters of text from pos to
 * size, all ASCII, into the dict fields and the list items. Returns 1 if the
 * lines are usual, 0 if not, -1 with an exception set on error. */
static int
split_fields(const char *text, Py_ssize_t pos, Py_ssize_t size, Py_ssize_t max_line_length,
             Py_ssize_t max_num_headers, PyObject *names, PyObject *values, PyObject *fields,
             PyObject *items)
{
    Py_ssize_t count = 0;
    /* The snapshots when they are of these dicts. */
    int tables = name_table.dict == names && value_table.dict == values;

    while (pos < size) {
        const char *line = text + pos;
        const char *eol = memchr(line, '\r', (size_t)(size - pos));
        const char *separator;
        Py_ssize_t length = eol == NULL ? size - pos : eol - line;
        Py_ssize_t colon, first, last;
        PyObject *name, *lower, *value, *shared;
        int known;

        if (eol != NULL && (length + 1 == size - pos || eol[1] != '\n')) {
            return 0; /* a CR without LF */
        }
        if (length > max_line_length || ++count > max_num_headers) {
            return 0;
        }
        for (Py_ssize_t i = 0; i < length; i++) {
            if (line[i] < 0x20 || line[i] > 0x7e) {
                return 0;
            }
        }
        separator = memchr(line, ':', (size_t)length);
        if (separator == NULL) {
            return 0;
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
        known = field_name(tables, names, line, colon, &name, &lower);
        if (known <= 0) {
            return known;
        }
        known = PyDict_Contains(fields, lower);
        if (known != 0) {
            Py_DECREF(name);
            Py_DECREF(lower);
            return known < 0 ? -1 : 0; /* a name given twice */
        }
        shared = tables ? table_find(&value_table, line + first, last - first) : NULL;
        value = shared != NULL ? Py_NewRef(shared) : ascii_str(line + first, last - first);
        if (value != NULL && !tables) {
            shared = PyDict_GetItemWithError(values, value);
            if (shared != NULL) {
                Py_SETREF(value, Py_NewRef(shared));
            }
            else if (PyErr_Occurred()) {
                Py_CLEAR(value);
            }
        }
        known = value == NULL || PyDict_SetItem(fields, lower, value) < 0
                || PyList_Append(items, name) < 0 || PyList_Append(items, value) < 0;
        Py_DECREF(name);
        Py_DECREF(lower);
        Py_XDECREF(value);
        if (known) {
            return -1;
        }
        if (eol == NULL) {
            break;
        }
        pos += length + 2;
        if (pos == size) {
            return 0; /* a CRLF at the end: an empty line follows */
        }
    }
    return 1;
}

PyDoc_STRVAR(usual_fields_doc,
"usual_fields(head, start, max_line_length, max_num_headers, names, values, /)\n"
"--\n"
"\n"
"Return the values by lower-cased name and the list of names and values of\n"
"the field lines of head from start on, or None unless they are usual.");

/* datastructures.py_usual_fields() in C: the header lines of a handshake
 * request, usually a handful of names with printable ASCII values. Anything
 * else returns None, for the Python parser to decide: a line longer than
 * max_line_length, more than max_num_headers lines, a character other than
 * printable ASCII (HTAB included), a line without a colon, a name that isn't
 * a token, a name given twice (whatever its case). A name in names (which
 * maps it to itself and its lower-cased form, as shared strings) or whose
 * lower-cased form is there, and a value in values, take the shared strings. Python does this with a few calls per line, a tenth of
 * a handshake (bench/run.py --callgrind, S4). */
static PyObject *
usual_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *head, *names, *values, *fields, *items, *result = NULL;
    Py_ssize_t start, max_line_length, max_num_headers, size;
    int usual;

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
    fields = PyDict_New();
    items = PyList_New(0);
    if (fields != NULL && items != NULL) {
        /* ASCII: one byte per character. */
        usual = split_fields((const char *)PyUnicode_DATA(head), start, size, max_line_length,
                             max_num_headers, names, values, fields, items);
        if (usual > 0) {
            result = PyTuple_Pack(2, fields, items);
        }
        else if (usual == 0) {
            result = Py_NewRef(Py_None);
        }
    }
    Py_XDECREF(fields);
    Py_XDECREF(items);
    return result;
}

/*
 * The usual opening handshake, server side (RFC 6455, 4.2): usual_request()
 * parses and checks a request that needs no decision in Python, and
 * computes its Sec-WebSocket-Accept; usual_response() builds the 101 that
 * answers it. Their pure-Python twins, in _usual_handshake.py, give the
 * same results; anything unusual returns None, for the Python code to
 * decide, with its error messages and status codes. In Python, the steps of
 * the usual handshake cost about half of S4's sans-I/O part (bench/micro.py
 * --callgrind).
 */

/* SHA-1 (RFC 3174): Sec-WebSocket-Accept is a checksum, not a security
 * feature. Calling hashlib from here costs more than these few lines. */
#define ROTATE(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

/* The rounds of SHA-1, five at a time so that the five words take turns
 * rather than move; wk holds the message schedule plus the constants. */
#define SHA1_F1(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define SHA1_F2(b, c, d) ((b) ^ (c) ^ (d))
#define SHA1_F3(b, c, d) (((b) & (c)) | ((d) & ((b) | (c))))
#define SHA1_STEP(F, a, b, c, d, e, i)                                                        \
    e += ROTATE(a, 5) + F(b, c, d) + wk[i];                                                   \
    b = ROTATE(b, 30);
#define SHA1_ROUNDS(first, F)                                                                 \
    for (int i = (first); i < (first) + 20; i += 5) {                                         \
        SHA1_STEP(F, a, b, c, d, e, i)                                                        \
        SHA1_STEP(F, e, a, b, c, d, i + 1)                                                    \
        SHA1_STEP(F, d, e, a, b, c, i + 2)                                                    \
        SHA1_STEP(F, c, d, e, a, b, i + 3)                                                    \
        SHA1_STEP(F, b, c, d, e, a, i + 4)                                                    \
    }

/* The message schedule of a 64-byte block, plus the constant of each round. */
static void
sha1_schedule(const uint8_t *block, uint32_t wk[80])
{
    static const uint32_t k[4] = {0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6};
    uint32_t w[80];

    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16
               | (uint32_t)block[4 * i + 2] << 8 | (uint32_t)block[4 * i + 3];
    }
    for (int i = 16; i < 80; i++) {
        w[i] = ROTATE(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }
    for (int round = 0; round < 4; round++) {
        for (int i = 20 * round; i < 20 * round + 20; i++) {
            wk[i] = w[i] + k[round];
        }
    }
}

static void
sha1_compress(uint32_t state[5], const uint32_t wk[80])
{
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];

    SHA1_ROUNDS(0, SHA1_F1)
    SHA1_ROUNDS(20, SHA1_F2)
    SHA1_ROUNDS(40, SHA1_F3)
    SHA1_ROUNDS(60, SHA1_F2)
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
}

/* RFC 6455, 1.3 and 4.2.2, point 5.4: base64 of the SHA-1 of the 24-character
 * key followed by this GUID. */
#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define KEY_SIZE 24
#define ACCEPT_SIZE 28

/* 60 bytes take two blocks (RFC 3174, 4): the key, the GUID, the 0x80 that
 * ends them and three zeros; then the second block, the same for every key,
 * zeros and the length in bits, 480. Its schedule is computed once. */
static uint32_t last_block_schedule[80];

static void
sha1_init_last_block(void)
{
    uint8_t block[64] = {0};

    block[62] = 480 >> 8;
    block[63] = 480 & 0xff;
    sha1_schedule(block, last_block_schedule);
}

static void
accept_value(const char key[KEY_SIZE], char accept[ACCEPT_SIZE])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t state[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    uint32_t wk[80];
    uint8_t block[64] = {0}, digest[21];
    int i, j;

    memcpy(block, key, KEY_SIZE);
    memcpy(block + KEY_SIZE, GUID, sizeof(GUID) - 1);
    block[KEY_SIZE + sizeof(GUID) - 1] = 0x80;
    sha1_schedule(block, wk);
    sha1_compress(state, wk);
    sha1_compress(state, last_block_schedule);
    for (i = 0; i < 20; i++) {
        digest[i] = (uint8_t)(state[i / 4] >> (24 - 8 * (i % 4)));
    }
    digest[20] = 0;
    /* 20 bytes: six groups of 3, then 2 bytes and one "=". */
    for (i = 0, j = 0; i < 21; i += 3, j += 4) {
        uint32_t group = (uint32_t)digest[i] << 16 | (uint32_t)digest[i + 1] << 8 | digest[i + 2];
        accept[j] = alphabet[group >> 18];
        accept[j + 1] = alphabet[(group >> 12) & 63];
        accept[j + 2] = alphabet[(group >> 6) & 63];
        accept[j + 3] = alphabet[group & 63];
    }
    accept[ACCEPT_SIZE - 1] = '=';
}

/* What handshake_types() sets: the classes, where their fields are, the
 * shared names and values of datastructures.py. */
static PyTypeObject *request_type = NULL, *headers_type, *response_type;
static Py_ssize_t request_offsets[3], headers_offsets[3], response_offsets[4];
static PyObject *shared_names, *shared_values;
/* The lower-cased names that usual_request() reads, as the keys of fields;
 * the names, lower-cased names and values of the 101 response. */
enum {
    CONNECTION, UPGRADE, KEY, VERSION, CONTENT_LENGTH, ORIGIN,
    DATE, ACCEPT, LOWER_NAMES,
};
static PyObject *lower_names[LOWER_NAMES];
static PyObject *response_names[4], *value_websocket, *value_upgrade, *method_get,
    *reason_switching, *code_101;
/* Not a common name, hence not shared: found by equality. */
static PyObject *transfer_encoding;

static const char *const lower_name_texts[LOWER_NAMES] = {
    "connection", "upgrade", "sec-websocket-key", "sec-websocket-version",
    "content-length", "origin", "date",
    "sec-websocket-accept",
};

/* The offsets of count slots of cls, or -1 with an exception set. */
static int
slot_offsets(PyObject *cls, PyObject *slots, Py_ssize_t count, Py_ssize_t *offsets)
{
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "classes must be classes");
        return -1;
    }
    if (!PyTuple_Check(slots) || PyTuple_GET_SIZE(slots) != count) {
        PyErr_Format(PyExc_TypeError, "%s needs a tuple of %zd slots",
                     ((PyTypeObject *)cls)->tp_name, count);
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyMemberDef *member = object_slot(PyTuple_GET_ITEM(slots, i), (PyTypeObject *)cls);
        if (member == NULL) {
            return -1;
        }
        offsets[i] = member->offset;
    }
    return 0;
}

/* The pair that names maps text to, or NULL with an exception set. */
static PyObject *
shared_pair(PyObject *names, const char *text)
{
    PyObject *pair = PyDict_GetItemString(names, text);

    if (pair == NULL || !PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
        PyErr_Format(PyExc_ValueError, "names must map %s to a pair", text);
        return NULL;
    }
    return pair;
}

PyDoc_STRVAR(handshake_types_doc,
"handshake_types(request, request_slots, headers, headers_slots, response,\n"
"                response_slots, names, values, /)\n"
"--\n"
"\n"
"Make usual_request() and usual_response() build instances of these classes,\n"
"setting the slots given by their member descriptors, in the order of their\n"
"fields; names and values are the shared names and values of headers.");

static PyObject *
handshake_types(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t offsets[3][4];
    PyObject *names, *values, *pair, *lowers[LOWER_NAMES], *websocket, *upgrade;
    static const char *const response_texts[4] = {
        "Date", "Upgrade", "Connection", "Sec-WebSocket-Accept"};

    if (nargs != 8) {
        PyErr_Format(PyExc_TypeError, "handshake_types() takes 8 arguments (%zd given)", nargs);
        return NULL;
    }
    names = args[6];
    values = args[7];
    if (!PyDict_CheckExact(names) || !PyDict_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "names and values must be dicts");
        return NULL;
    }
    if (slot_offsets(args[0], args[1], 3, offsets[0]) < 0
        || slot_offsets(args[2], args[3], 3, offsets[1]) < 0
        || slot_offsets(args[4], args[5], 4, offsets[2]) < 0) {
        return NULL;
    }
    for (int i = 0; i < LOWER_NAMES; i++) {
        pair = shared_pair(names, lower_name_texts[i]);
        if (pair == NULL) {
            return NULL;
        }
        lowers[i] = PyTuple_GET_ITEM(pair, 1);
    }
    websocket = PyDict_GetItemString(values, "websocket");
    upgrade = PyDict_GetItemString(values, "Upgrade");
    if (websocket == NULL || upgrade == NULL) {
        PyErr_SetString(PyExc_ValueError, "values must hold websocket and Upgrade");
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        pair = shared_pair(names, response_texts[i]);
        if (pair == NULL) {
            return NULL;
        }
        Py_XSETREF(response_names[i], Py_NewRef(PyTuple_GET_ITEM(pair, 0)));
    }
    if (table_fill(&name_table, names) < 0 || table_fill(&value_table, values) < 0) {
        return NULL;
    }
    for (int i = 0; i < LOWER_NAMES; i++) {
        Py_XSETREF(lower_names[i], Py_NewRef(lowers[i]));
    }
    Py_XSETREF(value_websocket, Py_NewRef(websocket));
    Py_XSETREF(value_upgrade, Py_NewRef(upgrade));
    Py_XSETREF(shared_names, Py_NewRef(names));
    Py_XSETREF(shared_values, Py_NewRef(values));
    memcpy(request_offsets, offsets[0], sizeof(request_offsets));
    memcpy(headers_offsets, offsets[1], sizeof(headers_offsets));
    memcpy(response_offsets, offsets[2], sizeof(response_offsets));
    Py_XSETREF(headers_type, (PyTypeObject *)Py_NewRef(args[2]));
    Py_XSETREF(response_type, (PyTypeObject *)Py_NewRef(args[4]));
    Py_XSETREF(request_type, (PyTypeObject *)Py_NewRef(args[0]));
    Py_RETURN_NONE;
}

/* An instance of cls with these count values in its slots at offsets; the
 * references to the values are stolen, even on error. */
static PyObject *
filled(PyTypeObject *cls, const Py_ssize_t *offsets, Py_ssize_t count, PyObject **values)
{
    PyObject *instance = cls->tp_alloc(cls, 0);

    for (Py_ssize_t i = 0; i < count; i++) {
        if (instance == NULL) {
            Py_XDECREF(values[i]);
        }
        else {
            *(PyObject **)((char *)instance + offsets[i]) = values[i];
        }
    }
    if (instance != NULL) {
        for (Py_ssize_t i = 0; i < count; i++) {
            if (values[i] == NULL) {
                Py_DECREF(instance);
                return NULL;
            }
        }
    }
    return instance;
}

/* Whether the str value holds exactly the size characters at text. */
static int
is_text(PyObject *value, const char *text, Py_ssize_t size)
{
    return value != NULL && PyUnicode_GET_LENGTH(value) == size
           && memcmp(PyUnicode_DATA(value), text, (size_t)size) == 0;
}

#define IS(value, literal) is_text((value), (literal), (Py_ssize_t)sizeof(literal) - 1)

/* RFC 6455, 4.2.1, point 5: 16 bytes in base64, canonical: 21 characters of
 * the alphabet, one that holds the last 2 bits followed by 4 zero bits,
 * "==" (handshake._KEY). */
static int
is_key(PyObject *value)
{
    const char *text;

    if (value == NULL || PyUnicode_GET_LENGTH(value) != KEY_SIZE) {
        return 0;
    }
    text = (const char *)PyUnicode_DATA(value);
    for (int i = 0; i < 21; i++) {
        char c = text[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '+' || c == '/')) {
            return 0;
        }
    }
    return strchr("AQgw", text[21]) != NULL && text[21] != 0 && text[22] == '='
           && text[23] == '=';
}

/* Where "\r\n\r\n" starts in the size bytes at data, or -1. */
static Py_ssize_t
find_head_end(const char *data, Py_ssize_t size)
{
    const char *p = data, *end = data + size;

    while (end - p >= 4) {
        p = memchr(p, '\r', (size_t)(end - p - 3));
        if (p == NULL) {
            return -1;
        }
        if (memcmp(p, "\r\n\r\n", 4) == 0) {
            return p - data;
        }
        p++;
    }
    return -1;
}

PyDoc_STRVAR(usual_request_doc,
"usual_request(buffer, max_line_length, max_num_headers, /)\n"
"--\n"
"\n"
"Parse and check the usual handshake request at the start of the bytearray\n"
"buffer: return the request, its Sec-WebSocket-Accept, its Origin, its\n"
"headers' list of names and values and its length, and remove it from\n"
"buffer. Return None, leaving buffer alone, unless it is usual.");

static PyObject *
usual_request(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *buffer, *fields = NULL, *items = NULL, *result = NULL, *parts[3];
    Py_ssize_t max_line_length, max_num_headers, size, window, end, line_end, count;
    const char *data, *crlf;
    char accept[ACCEPT_SIZE];
    int usual;

    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "usual_request() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    buffer = args[0];
    if (!PyByteArray_CheckExact(buffer)) {
        PyErr_SetString(PyExc_TypeError, "buffer must be a bytearray");
        return NULL;
    }
    max_line_length = PyLong_AsSsize_t(args[1]);
    max_num_headers = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (max_line_length < 0 || max_num_headers < 0) {
        PyErr_SetString(PyExc_ValueError, "limits must not be negative");
        return NULL;
    }
    if (request_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "handshake_types() wasn't called");
        return NULL;
    }
    data = PyByteArray_AS_STRING(buffer);
    size = PyByteArray_GET_SIZE(buffer);
    /* No need to look further than the longest head within the limits
     * (http11.parse_whole_request). */
    window = size;
    if (max_line_length + 2 <= size && max_num_headers + 1 <= size / (max_line_length + 2)
        && (max_line_length + 2) * (max_num_headers + 1) + 2 < size) {
        window = (max_line_length + 2) * (max_num_headers + 1) + 2;
    }
    end = find_head_end(data, window);
    if (end < 0) {
        Py_RETURN_NONE;
    }
    /* RFC 7230, 3.1.1 and RFC 6455, 4.1: GET request-target HTTP/1.1. */
    crlf = memchr(data, '\r', (size_t)end);
    if (crlf == NULL || crlf[1] != '\n') {
        Py_RETURN_NONE; /* no field, or a CR without LF */
    }
    line_end = crlf - data;
    if (line_end > max_line_length || line_end < 14 || memcmp(data, "GET ", 4) != 0
        || memcmp(crlf - 9, " HTTP/1.1", 9) != 0) {
        Py_RETURN_NONE;
    }
    for (const char *p = data + 4; p < crlf - 9; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            Py_RETURN_NONE;
        }
    }
    fields = PyDict_New();
    items = PyList_New(0);
    if (fields == NULL || items == NULL) {
        goto done;
    }
    usual = split_fields(data, line_end + 2, end, max_line_length, max_num_headers, shared_names,
                         shared_values, fields, items);
    if (usual <= 0) {
        if (usual == 0) {
            result = Py_NewRef(Py_None);
        }
        goto done;
    }
    /* A body (Content-Length or Transfer-Encoding) needs Python
     * (http11._check_no_body). The others, as handshake._usual_key wants
     * them. */
    {
        PyObject *found[ORIGIN + 1]; /* borrowed; NULL when absent */
        PyObject *connection, *upgrade, *key, *origin, *body;

        for (int i = 0; i <= ORIGIN; i++) {
            found[i] = PyDict_GetItemWithError(fields, lower_names[i]);
        }
        body = PyDict_GetItemWithError(fields, transfer_encoding);
        if (PyErr_Occurred()) {
            goto done;
        }
        connection = found[CONNECTION];
        upgrade = found[UPGRADE];
        key = found[KEY];
        origin = found[ORIGIN];
        if (found[CONTENT_LENGTH] != NULL || body != NULL
            || !(IS(connection, "Upgrade") || IS(connection, "upgrade")
                 || IS(connection, "keep-alive, Upgrade"))
            || !(IS(upgrade, "websocket") || IS(upgrade, "WebSocket"))
            || !IS(found[VERSION], "13") || !is_key(key)) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        accept_value((const char *)PyUnicode_DATA(key), accept);
        count = PyList_GET_SIZE(items);
        parts[0] = ascii_str(data + 4, line_end - 13); /* the request-target */
        parts[1] = filled(headers_type, headers_offsets, 3,
                          (PyObject *[]){Py_NewRef(fields), Py_NewRef(items), Py_NewRef(Py_None)});
        parts[2] = Py_NewRef(method_get);
        if (parts[1] == NULL) {
            Py_XDECREF(parts[0]);
            Py_DECREF(parts[2]);
            goto done;
        }
        result = PyTuple_New(5);
        if (result == NULL) {
            Py_XDECREF(parts[0]);
            Py_DECREF(parts[1]);
            Py_DECREF(parts[2]);
            goto done;
        }
        PyTuple_SET_ITEM(result, 1, ascii_str(accept, ACCEPT_SIZE));
        PyTuple_SET_ITEM(result, 2, Py_NewRef(origin == NULL ? Py_None : origin));
        PyTuple_SET_ITEM(result, 3, Py_NewRef(items));
        PyTuple_SET_ITEM(result, 4, PyLong_FromSsize_t(count));
        PyTuple_SET_ITEM(result, 0, filled(request_type, request_offsets, 3, parts));
        for (int i = 0; i < 5; i++) {
            if (PyTuple_GET_ITEM(result, i) == NULL) {
                Py_CLEAR(result);
                goto done;
            }
        }
    }
    /* Usually, the request was all the buffer held. */
    if (result != NULL
        && (end + 4 == size ? PyByteArray_Resize(buffer, 0)
                            : PySequence_DelSlice(buffer, 0, end + 4)) < 0) {
        Py_CLEAR(result);
    }

done:
    Py_XDECREF(fields);
    Py_XDECREF(items);
    return result;
}

PyDoc_STRVAR(usual_response_doc,
"usual_response(accept, date, lines, /)\n"
"--\n"
"\n"
"Return the 101 response with the headers Date, Upgrade, Connection and\n"
"Sec-WebSocket-Accept, given the values of the first and the last, and the\n"
"lines of the first three and the name of the last, serialized.");

static PyObject *
usual_response(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *accept, *date, *lines, *fields, *items, *serialized, *headers;
    Py_ssize_t size;

    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "usual_response() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    accept = args[0];
    date = args[1];
    lines = args[2];
    if (!PyUnicode_CheckExact(accept) || !PyUnicode_IS_ASCII(accept)
        || !PyUnicode_CheckExact(date) || !PyBytes_CheckExact(lines)) {
        PyErr_SetString(PyExc_TypeError, "usual_response() takes an ASCII str, a str and bytes");
        return NULL;
    }
    if (request_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "handshake_types() wasn't called");
        return NULL;
    }
    fields = PyDict_New();
    if (fields == NULL) {
        return NULL;
    }
    if (PyDict_SetItem(fields, lower_names[DATE], date) < 0
        || PyDict_SetItem(fields, lower_names[UPGRADE], value_websocket) < 0
        || PyDict_SetItem(fields, lower_names[CONNECTION], value_upgrade) < 0
        || PyDict_SetItem(fields, lower_names[ACCEPT], accept) < 0) {
        Py_DECREF(fields);
        return NULL;
    }
    items = PyList_New(8);
    if (items == NULL) {
        Py_DECREF(fields);
        return NULL;
    }
    {
        PyObject *values[8] = {response_names[0], date, response_names[1], value_websocket,
                               response_names[2], value_upgrade, response_names[3], accept};
        for (int i = 0; i < 8; i++) {
            PyList_SET_ITEM(items, i, Py_NewRef(values[i]));
        }
    }
    /* lines + accept + CRLF, as Headers.serialize() writes them. */
    size = PyBytes_GET_SIZE(lines);
    serialized = PyBytes_FromStringAndSize(NULL, size + PyUnicode_GET_LENGTH(accept) + 2);
    if (serialized != NULL) {
        char *out = PyBytes_AS_STRING(serialized);
        memcpy(out, PyBytes_AS_STRING(lines), (size_t)size);
        memcpy(out + size, PyUnicode_DATA(accept), (size_t)PyUnicode_GET_LENGTH(accept));
        memcpy(out + size + PyUnicode_GET_LENGTH(accept), "\r\n", 2);
        serialized = Py_BuildValue("(nN)", (Py_ssize_t)8, serialized);
    }
    headers = filled(headers_type, headers_offsets, 3, (PyObject *[]){fields, items, serialized});
    if (headers == NULL) {
        return NULL;
    }
    return filled(response_type, response_offsets, 4,
                  (PyObject *[]){Py_NewRef(code_101), Py_NewRef(reason_switching), headers,
                                 Py_NewRef(Py_None)});
}

static PyMethodDef speedups_methods[] = {
    {"handshake_types", (PyCFunction)(void (*)(void))handshake_types, METH_FASTCALL,
     handshake_types_doc},
    {"usual_request", (PyCFunction)(void (*)(void))usual_request, METH_FASTCALL,
     usual_request_doc},
    {"usual_response", (PyCFunction)(void (*)(void))usual_response, METH_FASTCALL,
     usual_response_doc},
    {"usual_fields", (PyCFunction)(void (*)(void))usual_fields, METH_FASTCALL, usual_fields_doc},
    {"new_instance", (PyCFunction)(void (*)(void))new_instance, METH_FASTCALL, new_instance_doc},
    {"frame_fields", (PyCFunction)(void (*)(void))frame_fields, METH_FASTCALL, frame_fields_doc},
    {"new_frame", (PyCFunction)(void (*)(void))new_frame, METH_FASTCALL, new_frame_doc},
    {"frame_parser", (PyCFunction)(void (*)(void))frame_parser, METH_FASTCALL, frame_parser_doc},
    {"read_frame", (PyCFunction)(void (*)(void))read_frame, METH_FASTCALL, read_frame_doc},
    {"read_messages", (PyCFunction)(void (*)(void))read_messages, METH_FASTCALL,
     read_messages_doc},
    {"head_bytes", (PyCFunction)(void (*)(void))head_bytes, METH_FASTCALL, head_bytes_doc},
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_VARARGS | METH_KEYWORDS,
     apply_mask_doc},
    {"mask_in_place", (PyCFunction)(void (*)(void))mask_in_place, METH_VARARGS | METH_KEYWORDS,
     mask_in_place_doc},
    {"mask_frame", (PyCFunction)(void (*)(void))mask_frame, METH_VARARGS | METH_KEYWORDS,
     mask_frame_doc},
    {"mask_into", (PyCFunction)(void (*)(void))mask_into, METH_FASTCALL, mask_into_doc},
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
    sha1_init_last_block();
    /* Constants of the usual handshake; "GET" is the string Python interns. */
    method_get = PyUnicode_InternFromString("GET");
    transfer_encoding = PyUnicode_InternFromString("transfer-encoding");
    reason_switching = PyUnicode_InternFromString("Switching Protocols");
    code_101 = PyLong_FromLong(101);
    if (method_get == NULL || transfer_encoding == NULL || reason_switching == NULL
        || code_101 == NULL) {
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
