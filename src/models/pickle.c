/*
 * pickle.c — the pickle stack machine of pickle.h, for the opcodes torch.save emits.
 *
 * The machine keeps a value stack, a stack of MARK positions, and the memo. Every opcode
 * creates at most one object, so the objects built are bounded by the input's length; the
 * stacks and the nesting depth have fixed limits on top of that. A failing opcode stops the
 * run with a message naming the source, the opcode and its offset.
 */
#include "models/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_STACK = 1 << 18,
    MAX_MARKS = 256,
    MAX_DEPTH = 256,
    MAX_GLOBAL_NAME = 256,
    HIGHEST_PROTOCOL = 5,
};

/* Opcodes, named as in CPython's pickle module. */
enum {
    OP_MARK = '(',
    OP_STOP = '.',
    OP_POP = '0',
    OP_POP_MARK = '1',
    OP_DUP = '2',
    OP_BININT = 'J',
    OP_BININT1 = 'K',
    OP_BININT2 = 'M',
    OP_NONE = 'N',
    OP_BINPERSID = 'Q',
    OP_REDUCE = 'R',
    OP_BINSTRING = 'T',
    OP_SHORT_BINSTRING = 'U',
    OP_BINUNICODE = 'X',
    OP_APPEND = 'a',
    OP_BUILD = 'b',
    OP_GLOBAL = 'c',
    OP_DICT = 'd',
    OP_EMPTY_DICT = '}',
    OP_APPENDS = 'e',
    OP_BINGET = 'h',
    OP_LONG_BINGET = 'j',
    OP_LIST = 'l',
    OP_EMPTY_LIST = ']',
    OP_BINPUT = 'q',
    OP_LONG_BINPUT = 'r',
    OP_SETITEM = 's',
    OP_TUPLE = 't',
    OP_EMPTY_TUPLE = ')',
    OP_SETITEMS = 'u',
    OP_BINFLOAT = 'G',
    OP_BINBYTES = 'B',
    OP_SHORT_BINBYTES = 'C',
    OP_PROTO = 0x80,
    OP_NEWOBJ = 0x81,
    OP_TUPLE1 = 0x85,
    OP_TUPLE2 = 0x86,
    OP_TUPLE3 = 0x87,
    OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89,
    OP_LONG1 = 0x8a,
    OP_LONG4 = 0x8b,
    OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE8 = 0x8d,
    OP_BINBYTES8 = 0x8e,
    OP_EMPTY_SET = 0x8f,
    OP_ADDITEMS = 0x90,
    OP_FROZENSET = 0x91,
    OP_NEWOBJ_EX = 0x92,
    OP_STACK_GLOBAL = 0x93,
    OP_MEMOIZE = 0x94,
    OP_FRAME = 0x95,
    OP_BYTEARRAY8 = 0x96,
};

typedef struct machine {
    const uint8_t *data;
    size_t size, pos;
    size_t op_at; /* offset of the opcode being run */
    uint8_t op;
    const char *source;
    st_error *err;
    st_pickle *out;
    st_pickle_object **stack;
    size_t sp, stack_capacity;
    size_t marks[MAX_MARKS];
    size_t n_marks;
    st_pickle_object **memo;
    size_t memo_capacity, memo_count;
} machine;

__attribute__((format(printf, 2, 3))) static steno_status fail(machine *m, const char *format, ...) {
    char reason[256];
    va_list args;
    va_start(args, format);
    vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    return st_error_set(m->err, STENO_ERR_FORMAT, "%s: pickle opcode 0x%02x at offset %zu: %s", m->source, m->op,
                        m->op_at, reason);
}

static steno_status need(machine *m, size_t n, const uint8_t **out) {
    if (n > m->size - m->pos) return fail(m, "needs %zu bytes of argument, %zu remain", n, m->size - m->pos);
    *out = m->data + m->pos;
    m->pos += n;
    return STENO_OK;
}

static uint64_t read_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static st_pickle_object *new_object(machine *m, st_pickle_kind kind) {
    st_pickle *p = m->out;
    if (p->n_objects == p->capacity) {
        size_t capacity = p->capacity ? p->capacity * 2 : 64;
        st_pickle_object **objects = realloc(p->objects, capacity * sizeof *objects);
        if (!objects) return NULL;
        p->objects = objects;
        p->capacity = capacity;
    }
    st_pickle_object *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->kind = kind;
    p->objects[p->n_objects++] = o;
    return o;
}

static steno_status no_memory(machine *m) {
    return st_error_set(m->err, STENO_ERR_NO_MEMORY, "%s: out of memory at pickle offset %zu", m->source, m->op_at);
}

static steno_status push(machine *m, st_pickle_object *o) {
    if (!o) return no_memory(m);
    if (m->sp == m->stack_capacity) {
        if (m->sp == MAX_STACK) return fail(m, "more than %d values on the stack", MAX_STACK);
        size_t capacity = m->stack_capacity ? m->stack_capacity * 2 : 256;
        st_pickle_object **stack = realloc(m->stack, capacity * sizeof *stack);
        if (!stack) return no_memory(m);
        m->stack = stack;
        m->stack_capacity = capacity;
    }
    m->stack[m->sp++] = o;
    return STENO_OK;
}

/* The lowest stack slot the current opcode may touch: values under a MARK belong to an
 * enclosing construction. */
static size_t floor_of(const machine *m) {
    return m->n_marks ? m->marks[m->n_marks - 1] : 0;
}

static steno_status pop(machine *m, st_pickle_object **out) {
    if (m->sp <= floor_of(m)) return fail(m, "stack underflow");
    *out = m->stack[--m->sp];
    return STENO_OK;
}

static steno_status top(machine *m, st_pickle_object **out) {
    if (m->sp <= floor_of(m)) return fail(m, "stack underflow");
    *out = m->stack[m->sp - 1];
    return STENO_OK;
}

static steno_status pop_mark(machine *m, size_t *base) {
    if (m->n_marks == 0) return fail(m, "no MARK to close");
    *base = m->marks[--m->n_marks];
    return STENO_OK;
}

/* Appends item to a TUPLE/LIST/DICT under construction, keeping the nesting depth bounded. */
static steno_status add_item(machine *m, st_pickle_object *container, st_pickle_object *item) {
    if (item->depth + 1 > MAX_DEPTH) return fail(m, "containers nested deeper than %d", MAX_DEPTH);
    if (item->depth + 1 > container->depth) container->depth = item->depth + 1;
    if (container->as.sequence.count == container->as.sequence.capacity) {
        size_t capacity = container->as.sequence.capacity ? container->as.sequence.capacity * 2 : 4;
        st_pickle_object **items = realloc(container->as.sequence.items, capacity * sizeof *items);
        if (!items) return no_memory(m);
        container->as.sequence.items = items;
        container->as.sequence.capacity = capacity;
    }
    container->as.sequence.items[container->as.sequence.count++] = item;
    return STENO_OK;
}

/* A new TUPLE (or LIST) of the n values on top of the stack. */
static steno_status collect(machine *m, st_pickle_kind kind, size_t n) {
    if (m->sp - floor_of(m) < n) return fail(m, "stack underflow");
    st_pickle_object *o = new_object(m, kind);
    if (!o) return no_memory(m);
    for (size_t i = m->sp - n; i < m->sp; i++) {
        steno_status status = add_item(m, o, m->stack[i]);
        if (status != STENO_OK) return status;
    }
    m->sp -= n;
    return push(m, o);
}

static steno_status collect_to_mark(machine *m, st_pickle_kind kind) {
    size_t base = 0;
    steno_status status = pop_mark(m, &base);
    return status != STENO_OK ? status : collect(m, kind, m->sp - base);
}

static steno_status push_string(machine *m, st_pickle_kind kind, size_t length) {
    const uint8_t *p = NULL;
    steno_status status = need(m, length, &p);
    if (status != STENO_OK) return status;
    st_pickle_object *o = new_object(m, kind);
    if (!o) return no_memory(m);
    o->as.string.bytes = malloc(length + 1);
    if (!o->as.string.bytes) return no_memory(m);
    memcpy(o->as.string.bytes, p, length);
    o->as.string.bytes[length] = '\0';
    o->as.string.length = length;
    return push(m, o);
}

/* A string whose length is a little-endian field of `width` bytes. */
static steno_status push_counted(machine *m, st_pickle_kind kind, int width) {
    const uint8_t *p = NULL;
    steno_status status = need(m, (size_t)width, &p);
    if (status != STENO_OK) return status;
    uint64_t length = read_le(p, width);
    if (length > m->size - m->pos) {
        return fail(m, "a string of %llu bytes, %zu remain", (unsigned long long)length, m->size - m->pos);
    }
    return push_string(m, kind, (size_t)length);
}

static steno_status push_int(machine *m, int64_t value) {
    st_pickle_object *o = new_object(m, ST_PICKLE_INT);
    if (!o) return no_memory(m);
    o->as.integer = value;
    return push(m, o);
}

/* LONG1/LONG4: a little-endian two's-complement integer of n bytes; steno keeps 64 bits. */
static steno_status push_long(machine *m, int width) {
    const uint8_t *p = NULL;
    steno_status status = need(m, (size_t)width, &p);
    if (status != STENO_OK) return status;
    uint64_t n = read_le(p, width);
    if (n > 8) return fail(m, "an integer of %llu bytes; steno reads up to 8", (unsigned long long)n);
    if ((status = need(m, (size_t)n, &p)) != STENO_OK) return status;
    uint64_t v = read_le(p, (int)n);
    if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    int64_t value;
    memcpy(&value, &v, sizeof value);
    return push_int(m, n == 0 ? 0 : value);
}

static steno_status read_line(machine *m, char *out, const char *what) {
    size_t left = m->size - m->pos;
    const uint8_t *start = m->data + m->pos;
    const uint8_t *end = memchr(start, '\n', left < MAX_GLOBAL_NAME ? left : MAX_GLOBAL_NAME);
    if (!end) return fail(m, "%s is not a line of at most %d bytes", what, MAX_GLOBAL_NAME - 1);
    size_t n = (size_t)(end - start);
    if (memchr(start, '\0', n)) return fail(m, "%s contains a NUL byte", what);
    memcpy(out, start, n);
    out[n] = '\0';
    m->pos += n + 1;
    return STENO_OK;
}

/* Whether Python's unpickler, importing module.name, would hand a pickle a way to run code or
 * touch the system: what a malicious checkpoint calls through REDUCE (os.system, eval,
 * subprocess.Popen...). steno never imports anything; this is only for warning people whose
 * Python tools would. */
static int runs_code(const char *module, const char *name) {
    static const char *const modules[] = {"os",
                                          "posix",
                                          "nt",
                                          "subprocess",
                                          "sys",
                                          "shutil",
                                          "socket",
                                          "importlib",
                                          "runpy",
                                          "pty",
                                          "ctypes",
                                          "code",
                                          "marshal",
                                          "pickle",
                                          "_pickle",
                                          "webbrowser",
                                          "commands",
                                          "asyncio",
                                          "multiprocessing",
                                          "platform",
                                          "signal",
                                          "tempfile",
                                          "urllib",
                                          "http"};
    static const char *const builtins[] = {"eval",    "exec",    "execfile", "compile", "open",  "__import__",
                                           "getattr", "setattr", "delattr",  "apply",   "input", "breakpoint",
                                           "globals", "locals",  "vars",     "exit",    "quit"};
    size_t length = strcspn(module, ".");
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
        if (strlen(modules[i]) == length && !strncmp(module, modules[i], length)) return 1;
    }
    if (!strcmp(module, "builtins") || !strcmp(module, "__builtin__")) {
        for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
            if (!strcmp(name, builtins[i])) return 1;
        }
    }
    return (!strcmp(module, "types") && (!strcmp(name, "CodeType") || !strcmp(name, "FunctionType"))) ||
           (!strcmp(module, "operator") && (!strcmp(name, "attrgetter") || !strcmp(name, "methodcaller")));
}

static steno_status push_global(machine *m, const char *module, const char *name) {
    if (!m->out->code_global[0] && runs_code(module, name)) {
        snprintf(m->out->code_global, sizeof m->out->code_global, "%.100s.%.100s", module, name);
    }
    st_pickle_object *o = new_object(m, ST_PICKLE_GLOBAL);
    if (!o) return no_memory(m);
    o->as.global.module = strdup(module);
    o->as.global.name = strdup(name);
    if (!o->as.global.module || !o->as.global.name) return no_memory(m);
    return push(m, o);
}

static steno_status memo_put(machine *m, uint64_t index) {
    st_pickle_object *value = NULL;
    steno_status status = top(m, &value);
    if (status != STENO_OK) return status;
    /* Picklers number memo slots from 0 and every slot costs at least one opcode byte, so an
     * index beyond the input's length can only come from a crafted file. */
    if (index >= m->size) return fail(m, "memo index %llu is beyond the pickle's length", (unsigned long long)index);
    if (index >= m->memo_capacity) {
        size_t capacity = m->memo_capacity ? m->memo_capacity : 64;
        while (capacity <= index)
            capacity *= 2;
        st_pickle_object **memo = realloc(m->memo, capacity * sizeof *memo);
        if (!memo) return no_memory(m);
        memset(memo + m->memo_capacity, 0, (capacity - m->memo_capacity) * sizeof *memo);
        m->memo = memo;
        m->memo_capacity = capacity;
    }
    if (!m->memo[index]) m->memo_count++;
    m->memo[index] = value;
    return STENO_OK;
}

static steno_status memo_get(machine *m, uint64_t index) {
    if (index >= m->memo_capacity || !m->memo[index]) {
        return fail(m, "memo slot %llu was never set", (unsigned long long)index);
    }
    return push(m, m->memo[index]);
}

static int is_int(const st_pickle_object *o) {
    return o->kind == ST_PICKLE_INT;
}

/* ('storage', <storage class>, key, location, numel) → STORAGE. */
static steno_status persistent_load(machine *m, const st_pickle_object *pid) {
    st_pickle_object *const *items = pid->kind == ST_PICKLE_TUPLE ? pid->as.sequence.items : NULL;
    if (!items || pid->as.sequence.count != 5 || !st_pickle_is_text(items[0]) ||
        strcmp(items[0]->as.string.bytes, "storage") != 0 || items[1]->kind != ST_PICKLE_GLOBAL ||
        !st_pickle_is_text(items[2]) || !st_pickle_is_text(items[3]) || !is_int(items[4]) || items[4]->as.integer < 0) {
        return fail(m, "persistent id is not ('storage', class, key, location, numel)");
    }
    st_pickle_object *o = new_object(m, ST_PICKLE_STORAGE);
    if (!o) return no_memory(m);
    o->as.storage.storage_class = items[1];
    o->as.storage.key = items[2]->as.string.bytes;
    o->as.storage.location = items[3]->as.string.bytes;
    o->as.storage.numel = items[4]->as.integer;
    return push(m, o);
}

/* torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, meta]) */
static steno_status rebuild_tensor(machine *m, const st_pickle_object *args) {
    st_pickle_object *const *a = args->as.sequence.items;
    if (args->as.sequence.count < 4 || a[0]->kind != ST_PICKLE_STORAGE || !is_int(a[1]) || a[1]->as.integer < 0 ||
        a[2]->kind != ST_PICKLE_TUPLE || a[3]->kind != ST_PICKLE_TUPLE ||
        a[2]->as.sequence.count != a[3]->as.sequence.count) {
        return fail(m, "_rebuild_tensor_v2 expects (storage, offset, size tuple, stride tuple, ...)");
    }
    size_t n_dims = a[2]->as.sequence.count;
    if (n_dims > ST_PICKLE_MAX_DIMS)
        return fail(m, "a tensor of %zu dimensions (at most %d)", n_dims, ST_PICKLE_MAX_DIMS);
    st_pickle_object *o = new_object(m, ST_PICKLE_TENSOR);
    if (!o) return no_memory(m);
    o->as.tensor.storage = a[0];
    o->as.tensor.offset = a[1]->as.integer;
    o->as.tensor.n_dims = (int)n_dims;
    for (size_t i = 0; i < n_dims; i++) {
        const st_pickle_object *size = a[2]->as.sequence.items[i], *stride = a[3]->as.sequence.items[i];
        if (!is_int(size) || size->as.integer < 0 || !is_int(stride)) {
            return fail(m, "_rebuild_tensor_v2 dimension %zu is not a size and stride", i);
        }
        o->as.tensor.shape[i] = size->as.integer;
        o->as.tensor.stride[i] = stride->as.integer;
    }
    return push(m, o);
}

static steno_status push_opaque(machine *m, const st_pickle_object *callable, const st_pickle_object *args) {
    st_pickle_object *o = new_object(m, ST_PICKLE_OPAQUE);
    if (!o) return no_memory(m);
    o->as.opaque.callable = callable;
    o->as.opaque.args = args;
    o->depth = args ? args->depth + 1 : 1;
    if (o->depth > MAX_DEPTH) return fail(m, "objects nested deeper than %d", MAX_DEPTH);
    return push(m, o);
}

/* REDUCE: interprets the few callables torch needs; anything else stays an inert record. */
static steno_status reduce(machine *m) {
    st_pickle_object *args = NULL, *callable = NULL;
    steno_status status = pop(m, &args);
    if (status == STENO_OK) status = pop(m, &callable);
    if (status != STENO_OK) return status;
    if (args->kind != ST_PICKLE_TUPLE)
        return fail(m, "REDUCE arguments are a %s, not a tuple", st_pickle_kind_name(args->kind));
    size_t n = args->as.sequence.count;
    if (st_pickle_is_global(callable, "collections", "OrderedDict") && n == 0) {
        return push(m, new_object(m, ST_PICKLE_DICT));
    }
    if (st_pickle_is_global(callable, "torch._utils", "_rebuild_tensor_v2")) return rebuild_tensor(m, args);
    if (st_pickle_is_global(callable, "torch._utils", "_rebuild_parameter") ||
        st_pickle_is_global(callable, "torch._utils", "_rebuild_parameter_with_state")) {
        if (n < 1 || args->as.sequence.items[0]->kind != ST_PICKLE_TENSOR) {
            return fail(m, "%s expects a tensor first", callable->as.global.name);
        }
        return push(m, args->as.sequence.items[0]); /* a parameter is its tensor */
    }
    return push_opaque(m, callable, args);
}

static steno_status set_items(machine *m, size_t base) {
    if (base == 0 || (m->sp - base) % 2 != 0) return fail(m, "SETITEMS needs a dict and key/value pairs");
    st_pickle_object *target = m->stack[base - 1];
    steno_status status = STENO_OK;
    if (target->kind == ST_PICKLE_DICT) {
        for (size_t i = base; i < m->sp && status == STENO_OK; i++)
            status = add_item(m, target, m->stack[i]);
    } else if (target->kind != ST_PICKLE_OPAQUE) { /* an unknown mapping type: its items are not needed */
        status = fail(m, "SETITEM on a %s", st_pickle_kind_name(target->kind));
    }
    m->sp = base;
    return status;
}

static steno_status append_items(machine *m, size_t base) {
    if (base == 0) return fail(m, "APPENDS needs a list");
    st_pickle_object *target = m->stack[base - 1];
    steno_status status = STENO_OK;
    if (target->kind == ST_PICKLE_LIST) {
        for (size_t i = base; i < m->sp && status == STENO_OK; i++)
            status = add_item(m, target, m->stack[i]);
    } else if (target->kind != ST_PICKLE_OPAQUE) {
        status = fail(m, "APPEND on a %s", st_pickle_kind_name(target->kind));
    }
    m->sp = base;
    return status;
}

/* Runs one opcode; *stop is set by STOP. */
static steno_status step(machine *m, int *stop) {
    const uint8_t *p = NULL;
    steno_status status;
    st_pickle_object *a = NULL, *b = NULL, *c = NULL;
    size_t base = 0;
    m->op_at = m->pos;
    m->op = m->data[m->pos++];
    switch (m->op) {
    case OP_PROTO:
        if ((status = need(m, 1, &p)) != STENO_OK) return status;
        if (p[0] > HIGHEST_PROTOCOL) return fail(m, "protocol %d (steno reads up to %d)", p[0], HIGHEST_PROTOCOL);
        return STENO_OK;
    case OP_FRAME: /* framing only groups opcodes for buffered reading */
        if ((status = need(m, 8, &p)) != STENO_OK) return status;
        if (read_le(p, 8) > m->size - m->pos) return fail(m, "a frame longer than the rest of the pickle");
        return STENO_OK;
    case OP_STOP:
        if ((status = pop(m, &a)) != STENO_OK) return status;
        m->out->root = a;
        *stop = 1;
        return STENO_OK;
    case OP_MARK:
        if (m->n_marks == MAX_MARKS) return fail(m, "more than %d nested MARKs", MAX_MARKS);
        m->marks[m->n_marks++] = m->sp;
        return STENO_OK;
    case OP_POP:
        return pop(m, &a);
    case OP_POP_MARK:
        if ((status = pop_mark(m, &base)) != STENO_OK) return status;
        m->sp = base;
        return STENO_OK;
    case OP_DUP:
        if ((status = top(m, &a)) != STENO_OK) return status;
        return push(m, a);
    case OP_NONE:
        return push(m, new_object(m, ST_PICKLE_NONE));
    case OP_NEWTRUE:
    case OP_NEWFALSE:
        if (!(a = new_object(m, ST_PICKLE_BOOL))) return no_memory(m);
        a->as.boolean = m->op == OP_NEWTRUE;
        return push(m, a);
    case OP_BININT:
        if ((status = need(m, 4, &p)) != STENO_OK) return status;
        return push_int(m, (int32_t)(uint32_t)read_le(p, 4));
    case OP_BININT1:
        if ((status = need(m, 1, &p)) != STENO_OK) return status;
        return push_int(m, p[0]);
    case OP_BININT2:
        if ((status = need(m, 2, &p)) != STENO_OK) return status;
        return push_int(m, (int64_t)read_le(p, 2));
    case OP_LONG1:
        return push_long(m, 1);
    case OP_LONG4:
        return push_long(m, 4);
    case OP_BINFLOAT: {
        if ((status = need(m, 8, &p)) != STENO_OK) return status;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++)
            bits = bits << 8 | p[i]; /* big-endian */
        if (!(a = new_object(m, ST_PICKLE_FLOAT))) return no_memory(m);
        memcpy(&a->as.real, &bits, sizeof a->as.real);
        return push(m, a);
    }
    case OP_SHORT_BINUNICODE:
        return push_counted(m, ST_PICKLE_STRING, 1);
    case OP_BINUNICODE:
        return push_counted(m, ST_PICKLE_STRING, 4);
    case OP_BINUNICODE8:
        return push_counted(m, ST_PICKLE_STRING, 8);
    case OP_SHORT_BINSTRING:
    case OP_SHORT_BINBYTES:
        return push_counted(m, ST_PICKLE_BYTES, 1);
    case OP_BINSTRING:
    case OP_BINBYTES:
        return push_counted(m, ST_PICKLE_BYTES, 4);
    case OP_BINBYTES8:
    case OP_BYTEARRAY8:
        return push_counted(m, ST_PICKLE_BYTES, 8);
    case OP_EMPTY_TUPLE:
        return collect(m, ST_PICKLE_TUPLE, 0);
    case OP_TUPLE1:
        return collect(m, ST_PICKLE_TUPLE, 1);
    case OP_TUPLE2:
        return collect(m, ST_PICKLE_TUPLE, 2);
    case OP_TUPLE3:
        return collect(m, ST_PICKLE_TUPLE, 3);
    case OP_TUPLE:
        return collect_to_mark(m, ST_PICKLE_TUPLE);
    case OP_EMPTY_LIST:
    case OP_EMPTY_SET:
        return push(m, new_object(m, ST_PICKLE_LIST));
    case OP_LIST:
    case OP_FROZENSET:
        return collect_to_mark(m, ST_PICKLE_LIST);
    case OP_EMPTY_DICT:
        return push(m, new_object(m, ST_PICKLE_DICT));
    case OP_DICT:
        if ((status = pop_mark(m, &base)) != STENO_OK) return status;
        if ((m->sp - base) % 2 != 0) return fail(m, "DICT with an odd number of items");
        if (!(a = new_object(m, ST_PICKLE_DICT))) return no_memory(m);
        for (size_t i = base; i < m->sp && status == STENO_OK; i++)
            status = add_item(m, a, m->stack[i]);
        m->sp = base;
        return status == STENO_OK ? push(m, a) : status;
    case OP_APPEND:
        if (m->sp - floor_of(m) < 2) return fail(m, "stack underflow");
        return append_items(m, m->sp - 1);
    case OP_APPENDS:
    case OP_ADDITEMS:
        if ((status = pop_mark(m, &base)) != STENO_OK) return status;
        if (base <= floor_of(m)) return fail(m, "APPENDS without a list below its MARK");
        return append_items(m, base);
    case OP_SETITEM:
        if (m->sp - floor_of(m) < 3) return fail(m, "stack underflow");
        return set_items(m, m->sp - 2);
    case OP_SETITEMS:
        if ((status = pop_mark(m, &base)) != STENO_OK) return status;
        if (base <= floor_of(m)) return fail(m, "SETITEMS without a dict below its MARK");
        return set_items(m, base);
    case OP_GLOBAL: {
        char module[MAX_GLOBAL_NAME], name[MAX_GLOBAL_NAME];
        if ((status = read_line(m, module, "GLOBAL module")) != STENO_OK) return status;
        if ((status = read_line(m, name, "GLOBAL name")) != STENO_OK) return status;
        return push_global(m, module, name);
    }
    case OP_STACK_GLOBAL:
        if ((status = pop(m, &b)) != STENO_OK || (status = pop(m, &a)) != STENO_OK) return status;
        if (!st_pickle_is_text(a) || !st_pickle_is_text(b)) return fail(m, "STACK_GLOBAL needs two strings");
        return push_global(m, a->as.string.bytes, b->as.string.bytes);
    case OP_REDUCE:
        return reduce(m);
    case OP_NEWOBJ:
        if ((status = pop(m, &b)) != STENO_OK || (status = pop(m, &a)) != STENO_OK) return status;
        if (b->kind != ST_PICKLE_TUPLE) return fail(m, "NEWOBJ arguments are not a tuple");
        return push_opaque(m, a, b);
    case OP_NEWOBJ_EX:
        if ((status = pop(m, &c)) != STENO_OK || (status = pop(m, &b)) != STENO_OK ||
            (status = pop(m, &a)) != STENO_OK) {
            return status;
        }
        if (b->kind != ST_PICKLE_TUPLE || c->kind != ST_PICKLE_DICT)
            return fail(m, "NEWOBJ_EX needs a tuple and a dict");
        return push_opaque(m, a, b);
    case OP_BUILD:
        if ((status = pop(m, &b)) != STENO_OK || (status = top(m, &a)) != STENO_OK) return status;
        /* An unknown object records its state; a dict's or a tensor's state only holds Python
         * attributes (an OrderedDict's _metadata), which steno has no use for. */
        if (a->kind == ST_PICKLE_OPAQUE) {
            if (b->depth + 1 > MAX_DEPTH) return fail(m, "objects nested deeper than %d", MAX_DEPTH);
            a->as.opaque.state = b;
            if (b->depth + 1 > a->depth) a->depth = b->depth + 1;
        }
        return STENO_OK;
    case OP_BINPERSID:
        if ((status = pop(m, &a)) != STENO_OK) return status;
        return persistent_load(m, a);
    case OP_BINPUT:
        if ((status = need(m, 1, &p)) != STENO_OK) return status;
        return memo_put(m, p[0]);
    case OP_LONG_BINPUT:
        if ((status = need(m, 4, &p)) != STENO_OK) return status;
        return memo_put(m, read_le(p, 4));
    case OP_MEMOIZE:
        return memo_put(m, m->memo_count);
    case OP_BINGET:
        if ((status = need(m, 1, &p)) != STENO_OK) return status;
        return memo_get(m, p[0]);
    case OP_LONG_BINGET:
        if ((status = need(m, 4, &p)) != STENO_OK) return status;
        return memo_get(m, read_le(p, 4));
    default:
        return fail(m, "unknown or unsupported opcode");
    }
}

steno_status st_pickle_load(const uint8_t *data, size_t size, const char *source, st_pickle *out, st_error *err) {
    memset(out, 0, sizeof *out);
    machine m = {.data = data, .size = size, .source = source, .err = err, .out = out};
    steno_status status = STENO_OK;
    int stop = 0;
    while (status == STENO_OK && !stop) {
        if (m.pos >= m.size) {
            status =
                st_error_set(err, STENO_ERR_FORMAT, "%s: the pickle ends at offset %zu without STOP", source, m.pos);
            break;
        }
        status = step(&m, &stop);
    }
    free(m.stack);
    free(m.memo);
    if (status != STENO_OK) st_pickle_free(out);
    return status;
}

void st_pickle_free(st_pickle *pickle) {
    for (size_t i = 0; i < pickle->n_objects; i++) {
        st_pickle_object *o = pickle->objects[i];
        switch (o->kind) {
        case ST_PICKLE_STRING:
        case ST_PICKLE_BYTES:
            free(o->as.string.bytes);
            break;
        case ST_PICKLE_TUPLE:
        case ST_PICKLE_LIST:
        case ST_PICKLE_DICT:
            free(o->as.sequence.items);
            break;
        case ST_PICKLE_GLOBAL:
            free(o->as.global.module);
            free(o->as.global.name);
            break;
        default:
            break;
        }
        free(o);
    }
    free(pickle->objects);
    memset(pickle, 0, sizeof *pickle);
}

const st_pickle_object *st_pickle_dict_get(const st_pickle_object *dict, const char *key) {
    if (!dict || dict->kind != ST_PICKLE_DICT) return NULL;
    for (size_t i = dict->as.sequence.count; i >= 2; i -= 2) {
        const st_pickle_object *k = dict->as.sequence.items[i - 2];
        if (st_pickle_is_text(k) && strcmp(k->as.string.bytes, key) == 0) return dict->as.sequence.items[i - 1];
    }
    return NULL;
}

int st_pickle_is_text(const st_pickle_object *o) {
    return o && o->kind == ST_PICKLE_STRING && strlen(o->as.string.bytes) == o->as.string.length;
}

int st_pickle_is_global(const st_pickle_object *o, const char *module, const char *name) {
    return o && o->kind == ST_PICKLE_GLOBAL && strcmp(o->as.global.module, module) == 0 &&
           strcmp(o->as.global.name, name) == 0;
}

const char *st_pickle_kind_name(st_pickle_kind kind) {
    static const char *const names[] = {"None", "bool", "int",    "float",  "str",     "bytes", "tuple",
                                        "list", "dict", "global", "object", "storage", "tensor"};
    return (size_t)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}
