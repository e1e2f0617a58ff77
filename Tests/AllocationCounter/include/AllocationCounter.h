#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H

/// Counts heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc) made by any
/// thread of the test process between start and stop. Test-only: the test executable defines
/// these allocator entry points, so every library in the process calls them first.
void allocation_counter_start(void);
/// Stops counting; returns the allocations made by anything but oneDNN.
long allocation_counter_stop(void);
/// Allocations oneDNN made itself in the last window (its sgemm allocates packing buffers per
/// call; that is the library's business, reported apart).
long allocation_counter_gemm(void);

#endif
