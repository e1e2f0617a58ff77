#ifndef VAE_CORE_SHIMS_H
#define VAE_CORE_SHIMS_H

// The one thing the numeric core cannot say in Swift: the x86 floating-point control register.
// Adam's moments decay towards zero for parameters whose gradient has stopped (dead ReLU
// units, background pixels) and pass through the subnormal range, where every multiply costs a
// microcode assist: the update slowed to half speed over a run. Flush-to-zero and
// denormals-are-zero (MXCSR bits 15 and 6, what PyTorch's set_flush_denormal sets) turn those
// values into 0 instead. Elsewhere these are no-ops.

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
#else
static inline unsigned int vae_enter_flush_to_zero(void) { return 0; }
static inline void vae_restore_floating_point_mode(unsigned int previous) { (void)previous; }
#endif

#endif
