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

/// Starts weighing heap memory: from now on, bytes allocated minus bytes freed (in the sizes the
/// allocator reserved) by any thread, and the peak of that sum.
void allocation_bytes_start(void);
/// Bytes allocated and not freed since the start (negative if more was freed than allocated).
long allocation_bytes_live(void);
/// The largest `allocation_bytes_live` since the start.
long allocation_bytes_peak(void);
void allocation_bytes_stop(void);

#endif
