#include "CryKernels.h"

int cry_avx2_fma_available = 0;

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

// The CPU model is read by a constructor, so the hot path tests one int.
__attribute__((constructor)) static void cry_detect_cpu(void) {
    __builtin_cpu_init();
    cry_avx2_fma_available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/// [sum a0, sum a1, sum a2, sum a3] of four 8-lane accumulators.
__attribute__((target("avx2,fma")))
static inline __m128 cry_sum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

// Four rows at a time share each load of x; 16 columns per iteration give 8 independent
// FMA chains (enough to cover the FMA latency on two pipes).
__attribute__((target("avx2,fma")))
void cry_matvec_avx2_fma(const float *w, long rows, long cols,
                         const float *x, const float *bias, float *y) {
    const long end16 = cols & ~15L, end8 = cols & ~7L;
    long r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *w0 = w + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        long c = 0;
        for (; c < end16; c += 16) {
            __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + c), x0, a0);
            b0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + c + 8), x1, b0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + c), x0, a1);
            b1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + c + 8), x1, b1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + c), x0, a2);
            b2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + c + 8), x1, b2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + c), x0, a3);
            b3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + c + 8), x1, b3);
        }
        if (c < end8) {
            __m256 x0 = _mm256_loadu_ps(x + c);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + c), x0, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + c), x0, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + c), x0, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + c), x0, a3);
            c += 8;
        }
        __m128 s = cry_sum4(_mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1),
                            _mm256_add_ps(a2, b2), _mm256_add_ps(a3, b3));
        for (; c < cols; c++) {
            s = _mm_add_ps(s, _mm_mul_ps(_mm_setr_ps(w0[c], w1[c], w2[c], w3[c]), _mm_set1_ps(x[c])));
        }
        if (bias) s = _mm_add_ps(s, _mm_loadu_ps(bias + r));
        _mm_storeu_ps(y + r, s);
    }
    for (; r < rows; r++) {
        const float *wr = w + r * cols;
        __m256 a = _mm256_setzero_ps();
        long c = 0;
        for (; c < end8; c += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(wr + c), _mm256_loadu_ps(x + c), a);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        h = _mm_hadd_ps(h, h);
        h = _mm_hadd_ps(h, h);
        float sum = _mm_cvtss_f32(h);
        for (; c < cols; c++) sum += wr[c] * x[c];
        y[r] = (bias ? bias[r] : 0.0f) + sum;
    }
}

#else

void cry_matvec_avx2_fma(const float *w, long rows, long cols,
                         const float *x, const float *bias, float *y) {
    (void)w; (void)rows; (void)cols; (void)x; (void)bias; (void)y;   // never called: flag is 0
}

#endif
