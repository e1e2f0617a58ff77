// Interposes glibc's allocator in the test executable. Symbols defined in an executable take
// precedence over libc's for every shared library, so Swift's runtime, Foundation and oneDNN
// all come through here; the real work is done by glibc's exported __libc_* entry points (no
// dlsym, which itself allocates).
#define _GNU_SOURCE
#include "AllocationCounter.h"
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_int counting;
static atomic_long ours;
static atomic_long gemm;

// Bytes: what is live now (allocated minus freed since the start) and its peak, in the sizes
// the allocator really reserved (malloc_usable_size).
static atomic_int weighing;
static atomic_long live;
static atomic_long peak;

static void weigh(void *p, long sign) {
    if (!p || !atomic_load_explicit(&weighing, memory_order_relaxed)) return;
    long bytes = sign * (long)malloc_usable_size(p);
    long now = atomic_fetch_add(&live, bytes) + bytes;
    long seen = atomic_load(&peak);
    while (now > seen && !atomic_compare_exchange_weak(&peak, &seen, now)) {}
}

/// Attributes the allocation to the shared object of the allocator's caller.
static void note(void *caller) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed)) return;
    Dl_info info;
    if (dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "libdnnl"))
        atomic_fetch_add_explicit(&gemm, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&ours, 1, memory_order_relaxed);
}

#define CALLER __builtin_return_address(0)
static void *weighed(void *p) { weigh(p, 1); return p; }
void *malloc(size_t size) { note(CALLER); return weighed(__libc_malloc(size)); }
void *calloc(size_t n, size_t size) { note(CALLER); return weighed(__libc_calloc(n, size)); }
void *realloc(void *p, size_t size) {
    note(CALLER);
    weigh(p, -1);
    void *q = __libc_realloc(p, size);
    // A failed realloc leaves p allocated.
    weigh(q ? q : (size ? p : NULL), 1);
    return q;
}
void *aligned_alloc(size_t alignment, size_t size) {
    note(CALLER);
    return weighed(__libc_memalign(alignment, size));
}
void free(void *p) { weigh(p, -1); __libc_free(p); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    note(CALLER);
    void *p = weighed(__libc_memalign(alignment, size));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void allocation_counter_start(void) {
    atomic_store(&ours, 0);
    atomic_store(&gemm, 0);
    atomic_store(&counting, 1);
}

long allocation_counter_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&ours);
}

long allocation_counter_gemm(void) { return atomic_load(&gemm); }

void allocation_bytes_start(void) {
    atomic_store(&live, 0);
    atomic_store(&peak, 0);
    atomic_store(&weighing, 1);
}

long allocation_bytes_live(void) { return atomic_load(&live); }

long allocation_bytes_peak(void) { return atomic_load(&peak); }

void allocation_bytes_stop(void) { atomic_store(&weighing, 0); }
