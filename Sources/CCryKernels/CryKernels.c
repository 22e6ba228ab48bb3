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

/// Lanes i < n of p (n < 8) as a mask for maskload/maskstore.
__attribute__((target("avx2,fma")))
static inline __m256i cry_tail_mask(long n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// tanh: x clamped to [-7.9053, 7.9053], p(x)/q(x), x itself where |x| < 0.0004.
__attribute__((target("avx2,fma")))
static inline __m256 cry_tanh8(__m256 a) {
    const __m256 bound = _mm256_set1_ps(7.90531110763549805f);
    __m256 x = _mm256_min_ps(_mm256_max_ps(a, _mm256_sub_ps(_mm256_setzero_ps(), bound)), bound);
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-2.76076847742355e-16f);
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.00018790482477e-13f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-8.60467152213735e-11f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(5.12229709037114e-08f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(1.48572235717979e-05f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(6.37261928875436e-04f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(4.89352455891786e-03f));
    p = _mm256_mul_ps(p, x);
    __m256 q = _mm256_set1_ps(1.19825839466702e-06f);
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(1.18534705686654e-04f));
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(2.26843463243900e-03f));
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(4.89352518554385e-03f));
    __m256 absA = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a);
    __m256 tiny = _mm256_cmp_ps(absA, _mm256_set1_ps(0.0004f), _CMP_LT_OQ);
    return _mm256_blendv_ps(_mm256_div_ps(p, q), a, tiny);
}

/// e^x: x clamped to [-87.3, 88.3], x = k ln 2 + r, degree-6 polynomial, 2^k in the exponent.
__attribute__((target("avx2,fma")))
static inline __m256 cry_exp8(__m256 a) {
    __m256 x = _mm256_min_ps(_mm256_max_ps(a, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/// sigma(x) = (1 + tanh(x / 2)) / 2
__attribute__((target("avx2,fma")))
static inline __m256 cry_sigmoid8(__m256 a) {
    const __m256 half = _mm256_set1_ps(0.5f);
    return _mm256_fmadd_ps(cry_tanh8(_mm256_mul_ps(a, half)), half, half);
}

#define CRY_ELEMENTWISE(name, f)                                                       \
    __attribute__((target("avx2,fma"))) void name(float *p, long n) {                  \
        long i = 0;                                                                    \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(p + i, f(_mm256_loadu_ps(p + i))); \
        if (i < n) {                                                                   \
            __m256i m = cry_tail_mask(n - i);                                          \
            _mm256_maskstore_ps(p + i, m, f(_mm256_maskload_ps(p + i, m)));            \
        }                                                                              \
    }

CRY_ELEMENTWISE(cry_tanh_avx2_fma, cry_tanh8)
CRY_ELEMENTWISE(cry_sigmoid_avx2_fma, cry_sigmoid8)
CRY_ELEMENTWISE(cry_exp_avx2_fma, cry_exp8)

#else

// Never called: cry_avx2_fma_available stays 0 on other architectures.
void cry_matvec_avx2_fma(const float *w, long rows, long cols,
                         const float *x, const float *bias, float *y) {
    (void)w; (void)rows; (void)cols; (void)x; (void)bias; (void)y;
}
void cry_tanh_avx2_fma(float *p, long n) { (void)p; (void)n; }
void cry_sigmoid_avx2_fma(float *p, long n) { (void)p; (void)n; }
void cry_exp_avx2_fma(float *p, long n) { (void)p; (void)n; }

#endif
