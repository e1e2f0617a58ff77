#ifndef VAE_CORE_SHIMS_H
#define VAE_CORE_SHIMS_H

// The two things the numeric core cannot say in Swift.
//
// 1. The x86 floating-point control register (MXCSR): flush-to-zero (bit 15) and
// denormals-are-zero (bit 6), what PyTorch's set_flush_denormal sets. Why every computing thread
// sets them, and where: `SubnormalFlush` (VAECore/Training/SubnormalFlush.swift). Elsewhere
// these are no-ops and report no flush.

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

/// Sets flush-to-zero and denormals-are-zero on this thread; returns the previous mode.
static inline unsigned int vae_enter_flush_to_zero(void) {
    unsigned int previous = _mm_getcsr();
    _mm_setcsr(previous | 0x8040u);
    return previous;
}

/// Restores the mode `vae_enter_flush_to_zero` returned.
static inline void vae_restore_floating_point_mode(unsigned int previous) { _mm_setcsr(previous); }

/// Whether this thread flushes subnormal results and reads subnormal inputs as zero (both bits).
static inline int vae_flushes_subnormals(void) { return (_mm_getcsr() & 0x8040u) == 0x8040u; }
#else
static inline unsigned int vae_enter_flush_to_zero(void) { return 0; }
static inline void vae_restore_floating_point_mode(unsigned int previous) { (void)previous; }
static inline int vae_flushes_subnormals(void) { return 0; }
#endif

// 2. A vector square root. Swift's `SIMD16<Float>.squareRoot()` is scalarised on Linux: sixteen
// scalar square roots, each with a branch to libm's `sqrtf` (for errno). Clang's element-wise
// builtin is the IEEE square root of every lane, correctly rounded, one instruction per register
// (sqrtps with SSE, vsqrtps with AVX). Swift imports this 16-float ext_vector_type as
// SIMD16<Float>, and the static inline body is inlined into the Swift caller.
typedef float vae_float_x16 __attribute__((ext_vector_type(16)));

#if !__has_builtin(__builtin_elementwise_sqrt)
#error "_VAECoreShims needs a Clang with __builtin_elementwise_sqrt (a newer Swift toolchain)"
#endif

/// The square root of each lane (NaN for negative lanes, as IEEE sqrt).
static inline vae_float_x16 vae_sqrt_x16(vae_float_x16 x) { return __builtin_elementwise_sqrt(x); }

#endif
