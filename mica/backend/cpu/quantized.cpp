// CPU kernel of QuantizedMatmul. Layout at entry: x (xbatch..., M, K) any strides and floating
// dtype; w (wbatch..., rows, words) uint32 and scales, biases (wbatch..., rows, groups) of a
// floating dtype (scales and biases of one dtype), each matrix's last two dims made row-major here (batch dims any strides, stride
// 0 included); out (batch..., M, N) row-major. A packed row holds the q values of one row of the
// dequantized matrix as one little-endian bit stream (value i at bits [b i, b i + b)), so every
// 32 values fill exactly `bits` words and a group (32, 64 or 128 values) starts on a word.
//
// Paths, the float weights never materialized as a whole:
//  - few rows of x (the decoding case), float32 compute, 2, 4 or 8 bits, AVX2 (the direct paths):
//    x @ W.T: out[m, n] = sum_g s[n, g] (sum_{k in g} x[m, k] q[n, k]) + sum_g b[n, g] xsum[m, g],
//    the inner sums over eight words at a time with the q unpacked in registers (lane l of the
//    j-th unpacked vector holds value (32 / bits) l + j, so x is permuted once to match);
//    x @ W: each packed row k adds (x[m, k] s[k, g]) q[k, :] to accumulators of a column stripe
//    (in the same lane order), the x[m, k] b[k, g] terms summed per group on the side;
//  - otherwise (more rows, 3, 5 or 6 bits, float64 results in double): blocks of the dequantized
//    matrix (128 x 1024 values, in cache) are made and multiplied by the GEMM, one column block
//    of out per task.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MICA_QMM_AVX2 1
#endif

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/gemm.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/primitives/quantized.h"
#include "mica/types/cast.h"

namespace mica {

namespace {

// Converts n elements of a floating array's storage (dtype d) at p into dst.
template <typename C>
void to_compute(Dtype d, const void* p, int64_t n, C* dst) {
  switch (d.val) {
    case Dtype::Val::float32: {
      const float* s = static_cast<const float*>(p);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<C>(s[i]);
      return;
    }
    case Dtype::Val::float64: {
      const double* s = static_cast<const double*>(p);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<C>(s[i]);
      return;
    }
    case Dtype::Val::float16: {
      const float16_t* s = static_cast<const float16_t*>(p);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<C>(static_cast<float>(s[i]));
      return;
    }
    case Dtype::Val::bfloat16: {
      const bfloat16_t* s = static_cast<const bfloat16_t*>(p);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<C>(static_cast<float>(s[i]));
      return;
    }
    default:
      throw std::runtime_error("[QuantizedMatmul] kernel got " + dtype_to_string(d) +
                               " data (the op should have rejected it).");
  }
}

// The scales and biases of one packed matrix: rows of G groups, in their storage dtype.
template <typename C>
struct GroupRows {
  const char* s;
  const char* b;
  Dtype dt = float32;
  int64_t G = 0;
  // Row r as compute-type pointers: straight into the arrays when their dtype is C, else
  // converted into buf (2 G values).
  std::pair<const C*, const C*> row(int64_t r, C* buf) const {
    const int64_t bytes = G * static_cast<int64_t>(dt.size);
    if (dt == Dtype(TypeToDtype<C>{})) {
      return {reinterpret_cast<const C*>(s + r * bytes), reinterpret_cast<const C*>(b + r * bytes)};
    }
    to_compute(dt, s + r * bytes, G, buf);
    to_compute(dt, b + r * bytes, G, buf + G);
    return {buf, buf + G};
  }
};

#ifdef MICA_QMM_AVX2
// dequant_range's float32 cases at 2, 4 and 8 bits: eight values per vector, in order.
bool dequant_range_avx2(const uint32_t* w, const float* s, const float* b, int bits, int gs, int64_t v0, int64_t n,
                        float* dst) {
  if (bits != 2 && bits != 4 && bits != 8) return false;
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(w);
  const __m256i lo4 = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  const __m256i lo2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), hi2 = _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30);
  const __m256i m4 = _mm256_set1_epi32(15), m2 = _mm256_set1_epi32(3);
  for (int64_t p = 0; p < n; p += 32) {
    const int64_t v = v0 + p;
    const __m256 sc = _mm256_set1_ps(s[v / gs]), bi = _mm256_set1_ps(b[v / gs]);
    float* d = dst + p;
    if (bits == 8) {
      for (int i = 0; i < 4; ++i) {
        const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + v + 8 * i));
        const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q8));
        _mm256_storeu_ps(d + 8 * i, _mm256_fmadd_ps(q, sc, bi));
      }
    } else if (bits == 4) {
      const uint32_t* pw = w + v / 8;
      for (int i = 0; i < 4; ++i) {
        const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(pw[i])), lo4), m4);
        _mm256_storeu_ps(d + 8 * i, _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), sc, bi));
      }
    } else {
      const uint32_t* pw = w + v / 16;
      for (int i = 0; i < 2; ++i) {
        const __m256i word = _mm256_set1_epi32(static_cast<int>(pw[i]));
        const __m256i qa = _mm256_and_si256(_mm256_srlv_epi32(word, lo2), m2);
        const __m256i qb = _mm256_and_si256(_mm256_srlv_epi32(word, hi2), m2);
        _mm256_storeu_ps(d + 16 * i, _mm256_fmadd_ps(_mm256_cvtepi32_ps(qa), sc, bi));
        _mm256_storeu_ps(d + 16 * i + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(qb), sc, bi));
      }
    }
  }
  return true;
}
#endif

// Values [v0, v0 + n) of a packed row (v0 and n multiples of 32), dequantized into dst.
template <typename C>
void dequant_range(const uint32_t* w, const C* s, const C* b, int bits, int gs, int64_t v0, int64_t n, C* dst) {
#ifdef MICA_QMM_AVX2
  if constexpr (std::is_same_v<C, float>) {
    if (dequant_range_avx2(w, s, b, bits, gs, v0, n, dst)) return;
  }
#endif
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(w);
  for (int64_t p = 0; p < n; p += 32) {
    const int64_t v = v0 + p;  // first value of this period of 32 (all in one group)
    const C sc = s[v / gs], bi = b[v / gs];
    C* d = dst + p;
    switch (bits) {
      case 8: {
        const uint8_t* q = bytes + v;
        for (int i = 0; i < 32; ++i) d[i] = sc * static_cast<C>(q[i]) + bi;
        break;
      }
      case 4: {
        const uint8_t* q = bytes + v / 2;
        for (int i = 0; i < 16; ++i) {
          d[2 * i] = sc * static_cast<C>(q[i] & 15) + bi;
          d[2 * i + 1] = sc * static_cast<C>(q[i] >> 4) + bi;
        }
        break;
      }
      case 2: {
        const uint8_t* q = bytes + v / 4;
        for (int i = 0; i < 8; ++i) {
          for (int j = 0; j < 4; ++j) d[4 * i + j] = sc * static_cast<C>((q[i] >> (2 * j)) & 3) + bi;
        }
        break;
      }
      default: {
        // 3, 5, 6 bits: value i of the period at bits [bits i, bits i + bits) of its words.
        const uint32_t* pw = w + v / 32 * bits;
        const uint32_t mask = (1u << bits) - 1u;
        for (int i = 0; i < 32; ++i) {
          const int pos = bits * i, word = pos >> 5, off = pos & 31;
          uint32_t q = pw[word] >> off;
          if (off + bits > 32) q |= pw[word + 1] << (32 - off);
          d[i] = sc * static_cast<C>(q & mask) + bi;
        }
      }
    }
  }
}

// One product: x (M, K) row-major times the packed matrix, into out (M, N) row-major.
template <typename C>
struct Problem {
  const C* x;
  const uint32_t* w;  // rows x words, row-major
  GroupRows<C> g;
  int64_t M, K, N, words;
  int bits, gs;
  bool transpose;
  C* out;
};

// The tile path: out[:, n0:n0+nb] accumulates x[:, k0:k0+kb] times the (nb x kb) block of W,
// dequantized into a buffer that stays in cache; tasks own disjoint column ranges of out.
// 128 x 1024 floats (512 KB) per task: measured best of 128..512 x 256..1024 at batch 32.
constexpr int64_t kTileN = 128, kTileK = 1024;

template <typename C>
void tile_path(const Problem<C>& P) {
  const int64_t tiles = (P.N + kTileN - 1) / kTileN;
  // Small products stay on the calling thread.
  const int64_t grain = P.M * P.N * P.K < (1 << 22) ? tiles : 1;
  cpu::parallel_for(tiles, grain, [&](int64_t t0, int64_t t1) {
    std::vector<C> buf(static_cast<size_t>(kTileN * std::min(kTileK, std::max<int64_t>(P.K, 1))));
    std::vector<C> sb(static_cast<size_t>(2 * P.g.G));
    std::vector<C> rows8(static_cast<size_t>(P.transpose ? 8 * kTileK : 0));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n0 = t * kTileN, nb = std::min(kTileN, P.N - n0);
      if (P.K == 0) cpu::gemm(false, false, P.M, nb, 0, C(1), P.x, 1, buf.data(), nb, C(0), P.out + n0, P.N);
      for (int64_t k0 = 0; k0 < P.K; k0 += kTileK) {
        const int64_t kb = std::min(kTileK, P.K - k0);
        const C beta = k0 == 0 ? C(0) : C(1);
        if (P.transpose) {
          // W (N, K): buf (kb, nb) = the block of rows n0.., values k0.. transposed (the GEMM
          // runs several times faster on a plain right operand than on a transposed one);
          // out[:, n0:] += x[:, k0:] @ buf. Rows go through `rows8` eight at a time.
          for (int64_t r = 0; r < nb; r += 8) {
            const int64_t rn = std::min<int64_t>(8, nb - r);
            for (int64_t i = 0; i < rn; ++i) {
              auto [s, b] = P.g.row(n0 + r + i, sb.data());
              dequant_range(P.w + (n0 + r + i) * P.words, s, b, P.bits, P.gs, k0, kb, rows8.data() + i * kb);
            }
            for (int64_t k = 0; k < kb; ++k) {
              C* d = buf.data() + k * nb + r;
              for (int64_t i = 0; i < rn; ++i) d[i] = rows8[i * kb + k];
            }
          }
          cpu::gemm(false, false, P.M, nb, kb, C(1), P.x + k0, P.K, buf.data(), nb, beta, P.out + n0, P.N);
        } else {
          // W (K, N): buf (kb, nb) from rows k0.., values n0..; out[:, n0:] += x[:, k0:] @ buf.
          for (int64_t k = 0; k < kb; ++k) {
            auto [s, b] = P.g.row(k0 + k, sb.data());
            dequant_range(P.w + (k0 + k) * P.words, s, b, P.bits, P.gs, n0, nb, buf.data() + k * nb);
          }
          cpu::gemm(false, false, P.M, nb, kb, C(1), P.x + k0, P.K, buf.data(), nb, beta, P.out + n0, P.N);
        }
      }
    }
  });
}

#ifdef MICA_QMM_AVX2
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float dot(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float r = hsum(acc);
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

template <int J, int BITS>
inline __m256 unpack(__m256i v) {
  constexpr uint32_t mask = (1u << BITS) - 1u;
  __m256i q = J == 0 ? v : _mm256_srli_epi32(v, BITS * J);
  if constexpr (BITS * J + BITS < 32) q = _mm256_and_si256(q, _mm256_set1_epi32(static_cast<int>(mask)));
  return _mm256_cvtepi32_ps(q);
}

// The scale of each lane of a block of eight words (lane l holds values VPW l .. VPW l + VPW - 1
// of the block, whose first value is v).
template <int BITS>
inline __m256 lane_scales(const float* s, int64_t v, int gs, int gs_shift) {
  constexpr int VPW = 32 / BITS, BS = 8 * VPW;
  if (gs >= BS) return _mm256_set1_ps(s[v >> gs_shift]);
  const int per = BS / gs;  // groups in the block: 2 or 4
  const float* p = s + (v >> gs_shift);
  if (per == 2) {
    return _mm256_set_m128(_mm_set1_ps(p[1]), _mm_set1_ps(p[0]));
  }
  const __m256i idx = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(p)), idx);
}

// x rows [m0, m0 + MT) of P against packed rows [r0, r1) of W (transpose), BITS in {2, 4, 8}.
// xp: x permuted per block (see the file comment), xs: group sums of x, both (M, K) / (M, G).
template <int BITS, int MT, size_t... J>
void direct_rows(const Problem<float>& P, const float* xp, const float* xs, int64_t m0, int64_t r0, int64_t r1,
                 float* sb, std::index_sequence<J...>) {
  constexpr int VPW = 32 / BITS, BS = 8 * VPW;
  constexpr int PARTS = MT == 1 ? 4 : (MT == 2 ? 2 : 1);  // independent sums per x row
  const int64_t blocks = P.K / BS;
  const int gs_shift = std::countr_zero(static_cast<unsigned>(P.gs));
  for (int64_t r = r0; r < r1; ++r) {
    auto [s, b] = P.g.row(r, sb);
    const uint32_t* wr = P.w + r * P.words;
    __m256 acc[MT];
    for (int m = 0; m < MT; ++m) acc[m] = _mm256_setzero_ps();
    for (int64_t k = 0; k < blocks; ++k) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + 8 * k));
      __m256 part[MT][PARTS];
      for (int m = 0; m < MT; ++m)
        for (int p = 0; p < PARTS; ++p) part[m][p] = _mm256_setzero_ps();
      (
          [&] {
            const __m256 q = unpack<J, BITS>(v);
            for (int m = 0; m < MT; ++m) {
              const float* xb = xp + (m0 + m) * P.K + k * BS;
              part[m][J % PARTS] = _mm256_fmadd_ps(q, _mm256_loadu_ps(xb + 8 * J), part[m][J % PARTS]);
            }
          }(),
          ...);
      const __m256 sv = lane_scales<BITS>(s, k * BS, P.gs, gs_shift);
      for (int m = 0; m < MT; ++m) {
        __m256 t = part[m][0];
        for (int p = 1; p < PARTS; ++p) t = _mm256_add_ps(t, part[m][p]);
        acc[m] = _mm256_fmadd_ps(t, sv, acc[m]);
      }
    }
    for (int m = 0; m < MT; ++m) {
      P.out[(m0 + m) * P.N + r] = hsum(acc[m]) + dot(b, xs + (m0 + m) * P.g.G, P.g.G);
    }
  }
}

template <int BITS>
void direct_path(const Problem<float>& P) {
  constexpr int VPW = 32 / BITS, BS = 8 * VPW;
  const int64_t K = P.K, G = P.g.G;
  // x permuted to the lane order of the unpacked words, and its group sums.
  std::unique_ptr<float[]> xp(new float[P.M * K]), xs(new float[P.M * G]);
  for (int64_t m = 0; m < P.M; ++m) {
    const float* x = P.x + m * K;
    float* d = xp.get() + m * K;
    for (int64_t k0 = 0; k0 < K; k0 += BS) {
      for (int j = 0; j < VPW; ++j)
        for (int l = 0; l < 8; ++l) d[k0 + 8 * j + l] = x[k0 + VPW * l + j];
    }
    for (int64_t g = 0; g < G; ++g) {
      float t = 0;
      for (int i = 0; i < P.gs; ++i) t += x[g * P.gs + i];
      xs[m * G + g] = t;
    }
  }
  const int64_t rows_per_task = 16;
  const int64_t tasks = (P.N + rows_per_task - 1) / rows_per_task;
  const int64_t grain = P.M * P.N * K < (1 << 20) ? tasks : 1;
  cpu::parallel_for(tasks, grain, [&](int64_t t0, int64_t t1) {
    std::vector<float> sb(static_cast<size_t>(2 * G));
    const int64_t r0 = t0 * rows_per_task, r1 = std::min(P.N, t1 * rows_per_task);
    auto seq = std::make_index_sequence<VPW>{};
    int64_t m = 0;
    for (; m + 4 <= P.M; m += 4) direct_rows<BITS, 4>(P, xp.get(), xs.get(), m, r0, r1, sb.data(), seq);
    for (; m + 2 <= P.M; m += 2) direct_rows<BITS, 2>(P, xp.get(), xs.get(), m, r0, r1, sb.data(), seq);
    for (; m < P.M; ++m) direct_rows<BITS, 1>(P, xp.get(), xs.get(), m, r0, r1, sb.data(), seq);
  });
}

// x @ W with W (K, N) packed along N, for rows [m0, m0 + MT) of x and the column blocks
// [c0, c1) (of 8 words each): every row k of W adds (x[m, k] * scale) * q + x[m, k] * bias to the
// block's accumulators (kept in the unpacked lane order, restored at the end); the bias terms
// are summed per group separately.
template <int BITS, int MT, size_t... J>
void direct_cols(const Problem<float>& P, int64_t m0, int64_t c0, int64_t c1, float* acc, float* bacc, float* sb,
                 std::index_sequence<J...>) {
  constexpr int VPW = 32 / BITS, BS = 8 * VPW;
  const int64_t nb = c1 - c0, g0 = c0 * BS / P.gs, ng = (nb * BS + P.gs - 1) / P.gs;
  const int gs_shift = std::countr_zero(static_cast<unsigned>(P.gs));
  std::fill(acc, acc + MT * nb * BS, 0.0f);
  std::fill(bacc, bacc + MT * ng, 0.0f);
  for (int64_t k = 0; k < P.K; ++k) {
    auto [s, b] = P.g.row(k, sb);
    const uint32_t* wr = P.w + k * P.words;
    float xk[MT];
    for (int m = 0; m < MT; ++m) {
      xk[m] = P.x[(m0 + m) * P.K + k];
      const float* bg = b + g0;
      for (int64_t g = 0; g < ng; ++g) bacc[m * ng + g] += xk[m] * bg[g];
    }
    for (int64_t c = c0; c < c1; ++c) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + 8 * c));
      const __m256 sv = lane_scales<BITS>(s, c * BS, P.gs, gs_shift);
      __m256 f[MT];
      for (int m = 0; m < MT; ++m) f[m] = _mm256_mul_ps(sv, _mm256_set1_ps(xk[m]));
      float* a = acc + (c - c0) * BS;
      (
          [&] {
            const __m256 q = unpack<J, BITS>(v);
            for (int m = 0; m < MT; ++m) {
              float* am = a + m * nb * BS + 8 * J;
              _mm256_storeu_ps(am, _mm256_fmadd_ps(q, f[m], _mm256_loadu_ps(am)));
            }
          }(),
          ...);
    }
  }
  for (int m = 0; m < MT; ++m) {
    float* out = P.out + (m0 + m) * P.N;
    for (int64_t c = c0; c < c1; ++c) {
      const float* a = acc + m * nb * BS + (c - c0) * BS;
      for (int j = 0; j < VPW; ++j)
        for (int l = 0; l < 8; ++l) {
          const int64_t n = c * BS + VPW * l + j;
          out[n] = a[8 * j + l] + bacc[m * ng + (n >> gs_shift) - g0];
        }
    }
  }
}

template <int BITS>
void direct_cols_path(const Problem<float>& P) {
  constexpr int VPW = 32 / BITS, BS = 8 * VPW;
  const int64_t blocks = P.N / BS;
  // Column stripes of ~512 values: a few cache lines of each packed row per task.
  const int64_t per_task = std::max<int64_t>(1, 512 / BS);
  const int64_t tasks = (blocks + per_task - 1) / per_task;
  const int64_t grain = P.M * P.N * P.K < (1 << 20) ? tasks : 1;
  cpu::parallel_for(tasks, grain, [&](int64_t t0, int64_t t1) {
    const int64_t width = per_task * BS;
    std::vector<float> acc(static_cast<size_t>(4 * width)), bacc(static_cast<size_t>(4 * (width / 32 + 2)));
    std::vector<float> sb(static_cast<size_t>(2 * P.g.G));
    auto seq = std::make_index_sequence<VPW>{};
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t c0 = t * per_task, c1 = std::min(blocks, c0 + per_task);
      int64_t m = 0;
      for (; m + 4 <= P.M; m += 4) direct_cols<BITS, 4>(P, m, c0, c1, acc.data(), bacc.data(), sb.data(), seq);
      for (; m + 2 <= P.M; m += 2) direct_cols<BITS, 2>(P, m, c0, c1, acc.data(), bacc.data(), sb.data(), seq);
      for (; m < P.M; ++m) direct_cols<BITS, 1>(P, m, c0, c1, acc.data(), bacc.data(), sb.data(), seq);
    }
  });
}

// Largest M that the direct path takes (beyond it the tile path's gemm reuses each block more).
constexpr int64_t kDirectMaxRows = 8;

bool try_direct(const Problem<float>& P) {
  if (P.M > kDirectMaxRows) return false;
  if (!P.transpose) {
    switch (P.bits) {
      case 4:
        if (P.N % 64) return false;
        direct_cols_path<4>(P);
        return true;
      case 8:
        direct_cols_path<8>(P);  // N is a multiple of 32
        return true;
      case 2:
        if (P.N % 128) return false;
        direct_cols_path<2>(P);
        return true;
      default:
        return false;
    }
  }
  switch (P.bits) {
    case 4:
      if (P.K % 64) return false;
      direct_path<4>(P);
      return true;
    case 8:
      if (P.K % 32) return false;
      direct_path<8>(P);
      return true;
    case 2:
      if (P.K % 128) return false;
      direct_path<2>(P);
      return true;
    default:
      return false;
  }
}
#else
bool try_direct(const Problem<float>&) { return false; }
#endif

bool try_direct(const Problem<double>&) { return false; }

// Byte offset of batch element i of `a` whose last two dims are the matrix.
int64_t batch_offset(const array& a, int64_t i) {
  int64_t off = 0;
  for (int d = a.ndim() - 3; d >= 0; --d) {
    off += (i % a.shape(d)) * a.strides()[d];
    i /= a.shape(d);
  }
  return off * static_cast<int64_t>(a.itemsize());
}

// `a` with its last two dims row-major (the batch dims keep their strides, broadcasts included).
array matrix_rows_contiguous(const array& a) {
  const int nd = a.ndim();
  const bool ok = a.strides()[nd - 1] == 1 && (a.shape(nd - 2) == 1 || a.strides()[nd - 2] == a.shape(nd - 1));
  return ok ? a : cpu::ensure_row_contiguous(a);
}

template <typename C>
void run(const QuantizedMatmul& prim, const std::vector<array>& inputs, array& out) {
  const array& xin = inputs[0];
  array w = matrix_rows_contiguous(inputs[1]);
  array sc = matrix_rows_contiguous(inputs[2]);
  array bi = matrix_rows_contiguous(inputs[3]);
  const int64_t K = xin.shape(-1), N = out.shape(-1), G = sc.shape(-1), words = w.shape(-1);
  const bool batched_w = w.ndim() > 2;
  const int64_t batches = batched_w ? static_cast<int64_t>(out.size()) / std::max<int64_t>(1, out.shape(-2) * N) : 1;
  const int64_t M = batched_w ? xin.shape(-2) : static_cast<int64_t>(xin.size()) / std::max<int64_t>(1, K);
  if (out.size() == 0) return;

  // x as row-major compute-type values.
  array xr = cpu::ensure_row_contiguous(xin);
  std::unique_ptr<C[]> xbuf;
  const C* x = nullptr;
  if (xr.dtype() == Dtype(TypeToDtype<C>{})) {
    x = xr.data<C>();
  } else {
    xbuf.reset(new C[xr.size()]);
    to_compute(xr.dtype(), xr.data<void>(), static_cast<int64_t>(xr.size()), xbuf.get());
    x = xbuf.get();
  }
  std::unique_ptr<C[]> obuf;
  C* o = out.dtype() == Dtype(TypeToDtype<C>{}) ? out.data<C>() : (obuf.reset(new C[out.size()]), obuf.get());

  for (int64_t i = 0; i < batches; ++i) {
    Problem<C> P;
    P.x = x + i * M * K;
    P.w = reinterpret_cast<const uint32_t*>(w.data<char>() + (batched_w ? batch_offset(w, i) : 0));
    P.g = GroupRows<C>{sc.data<char>() + (batched_w ? batch_offset(sc, i) : 0),
                       bi.data<char>() + (batched_w ? batch_offset(bi, i) : 0), sc.dtype(), G};
    P.M = M;
    P.K = K;
    P.N = N;
    P.words = words;
    P.bits = prim.bits();
    P.gs = prim.group_size();
    P.transpose = prim.transpose();
    P.out = o + i * M * N;
    if (!try_direct(P)) tile_path(P);
  }
  if (obuf) detail::convert_into(obuf.get(), out.size(), out.dtype(), out.data<void>());
}

}  // namespace

void QuantizedMatmul::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.dtype() == float64) {
    run<double>(*this, inputs, out);
  } else {
    run<float>(*this, inputs, out);
  }
}

}  // namespace mica
