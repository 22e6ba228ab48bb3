// Matrix-vector kernels for wider SIMD than the portable build's baseline, chosen at run
// time: the shipped binary stays x86-64-baseline / generic-ARM, and a CPU that has AVX2 and
// FMA (x86-64 since 2013) runs the 8-lane fused multiply-add kernel. Everywhere else
// cry_use_avx2_fma() is 0 and CryModel uses its Swift kernel.
#ifndef CRY_KERNELS_H
#define CRY_KERNELS_H

/// 1 when this CPU and OS run AVX2 + FMA code (set once at load time), else 0.
extern int cry_avx2_fma_available;

static inline int cry_use_avx2_fma(void) { return cry_avx2_fma_available; }

/// y = W x + b (W rows x cols row-major, any alignment; bias may be NULL: y = W x).
/// Only call when cry_use_avx2_fma() is 1.
void cry_matvec_avx2_fma(const float *w, long rows, long cols,
                         const float *x, const float *bias, float *y);

/// p[i] = tanh(p[i]), sigma(p[i]), e^p[i] for i < n: the same approximations as
/// CryModel's Swift versions (Eigen's 13/6 rational tanh, Cephes expf), in 8 lanes with FMA.
/// Only call when cry_use_avx2_fma() is 1.
void cry_tanh_avx2_fma(float *p, long n);
void cry_sigmoid_avx2_fma(float *p, long n);
void cry_exp_avx2_fma(float *p, long n);

#endif
