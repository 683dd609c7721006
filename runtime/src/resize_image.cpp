// torchvision's tensor Resize of a float32 image as PyPI torch 2.15's CPU kernels compute it
// (aten/src/ATen/native/cpu/UpSampleKernel.cpp, UpSample.h). That file is compiled once per CPU
// capability; the AVX2 and AVX512 builds that x86 machines run contract a * b + c into a fused
// multiply-add wherever GCC can, so each such place here is a std::fma (rounding once, whatever
// this file's build does), and the rest is written to round exactly where torch rounds.
#include "ltrt/resize_image.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernel_clones.hpp"
#include "ltrt/linear_interpolation.hpp"

namespace ltrt {

namespace {

// area_pixel_compute_scale with align_corners=False and no scale_factor (torchvision passes the
// size): float32(in) / out, in float32 (the kernels' opmath type for float).
float size_scale(int in, int out) { return static_cast<float>(in) / static_cast<float>(out); }

// --- nearest ---------------------------------------------------------------------------------

// Torch's "vectorized" choice (_use_vectorized_kernel_cond_2d) for nearest and bilinear: the
// channels-last kernel when the input is channels-last contiguous with more than 3 channels (an
// NCHW-contiguous 1CHW tensor is, when h = w = 1, but not a crop's view of one pixel of a larger
// image) or when the output is small (out_h + out_w <= 128, benchmarks' threshold); otherwise the
// generic TensorIterator kernel.
bool channels_last_kernel(std::int64_t planes, int h, int w, int out_h, int out_w, bool strided_view) {
  return (h == 1 && w == 1 && planes > 3 && !strided_view) || out_h + out_w <= 128;
}

// The source of output o. nearest: floor(o * scale) in float32, the same in both kernels.
// nearest_exact: the channels-last kernel (nearest_exact_idx) rounds (o + 0.5) * scale once to
// float32; the generic one goes through area_pixel_compute_source_index, scale * (o + 0.5) - 0.5
// fused and clamped at 0, then adds 0.5 back (in double, rounded to float32) before the floor.
int nearest_index(float scale, int o, int in, bool exact, bool channels_last) {
  float src;
  if (!exact) {
    src = static_cast<float>(o) * scale;
  } else if (channels_last) {
    src = (static_cast<float>(o) + 0.5f) * scale;
  } else {
    float centre = std::fma(scale, static_cast<float>(o) + 0.5f, -0.5f);
    if (centre < 0.0f) centre = 0.0f;
    src = static_cast<float>(static_cast<double>(centre) + 0.5);
  }
  const int i = static_cast<int>(std::floor(src));
  return i < in - 1 ? i : in - 1;
}

void resize_nearest(const float* src, std::int64_t planes, int h, int w, float* dst, int out_h, int out_w, bool exact,
                    bool strided_view) {
  const bool cl = channels_last_kernel(planes, h, w, out_h, out_w, strided_view);
  const float sh = size_scale(h, out_h), sw = size_scale(w, out_w);
  for (std::int64_t p = 0; p < planes; ++p) {
    const float* plane = src + p * h * w;
    for (int oy = 0; oy < out_h; ++oy) {
      const float* row = plane + static_cast<std::int64_t>(nearest_index(sh, oy, h, exact, cl)) * w;
      for (int ox = 0; ox < out_w; ++ox) *dst++ = row[nearest_index(sw, ox, w, exact, cl)];
    }
  }
}

// --- bilinear, no antialias ------------------------------------------------------------------

// compute_source_index_and_lambda: the source index scale * (o + 0.5) - 0.5 clamped at 0, its
// floor (capped at in - 1) and the next input, the fraction clamped to [0, 1]; the same input twice
// with weights 1 and 0 when the size is unchanged. Where the channels-last kernel inlines it, GCC
// fuses the index's multiply-add (as linear_source); the weight tables the generic kernel
// precomputes (HelperInterpLinear::compute_indices_weights) round the product first.
LinearSource linear_taps(float scale, int o, int in, int out, bool fused) {
  if (fused || out == in) return linear_source(scale, o, in, out, false);
  const float product = scale * (static_cast<float>(o) + 0.5f);
  float src = product - 0.5f;
  if (src < 0.0f) src = 0.0f;
  const int floor_src = static_cast<int>(std::floor(src));
  const int i0 = floor_src < in - 1 ? floor_src : in - 1;
  const float l1 = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
  return {i0, i0 + (i0 < in - 1 ? 1 : 0), 1.0f - l1, l1};
}

// Both kernels take the weights of compute_source_index_and_lambda (linear_source), but sum the
// four taps differently:
//   generic (Interpolate<2, ..., 2>): each row t = x0 * w0 + x1 * w1, then t0 * h0 + t1 * h1, GCC
//     fusing the first product of each sum into the second's addition;
//   channels-last (cpu_upsample_linear_channels_last): four float32 products of the weights
//     (h * w), then x00 * w00 + x01 * w01 + x10 * w10 + x11 * w11 left to right, likewise fused;
//     but the channels are its contiguous dim, and whole groups of 8 (the kernel's Vectorized<float>
//     in the build that runs, AVX2's) go through interpolate(), which nests the sum the other way:
//     x00 * w00 + (x01 * w01 + (x10 * w10 + x11 * w11)), the inner pair fusing its second product.
LTRT_KERNEL_CLONES
void resize_bilinear(const float* src, std::int64_t planes, int h, int w, float* dst, int out_h, int out_w, bool cl) {
  const float sh = size_scale(h, out_h), sw = size_scale(w, out_w);
  const std::int64_t vector_planes = planes - planes % 8;
  for (std::int64_t p = 0; p < planes; ++p) {
    const float* plane = src + p * h * w;
    for (int oy = 0; oy < out_h; ++oy) {
      const LinearSource r = linear_taps(sh, oy, h, out_h, cl);
      const float* row0 = plane + static_cast<std::int64_t>(r.i0) * w;
      const float* row1 = plane + static_cast<std::int64_t>(r.i1) * w;
      for (int ox = 0; ox < out_w; ++ox) {
        const LinearSource c = linear_taps(sw, ox, w, out_w, cl);
        float out;
        if (cl) {
          const float w00 = r.l0 * c.l0, w01 = r.l0 * c.l1, w10 = r.l1 * c.l0, w11 = r.l1 * c.l1;
          if (p < vector_planes) {
            out = std::fma(row1[c.i1], w11, row1[c.i0] * w10);
            out = std::fma(row0[c.i1], w01, out);
            out = std::fma(row0[c.i0], w00, out);
          } else {
            out = std::fma(row0[c.i0], w00, row0[c.i1] * w01);
            out = std::fma(row1[c.i0], w10, out);
            out = std::fma(row1[c.i1], w11, out);
          }
        } else {
          const float t0 = std::fma(row0[c.i0], c.l0, row0[c.i1] * c.l1);
          const float t1 = std::fma(row1[c.i0], c.l0, row1[c.i1] * c.l1);
          out = std::fma(t0, r.l0, t1 * r.l1);
        }
        *dst++ = out;
      }
    }
  }
}

// --- bicubic, no antialias -------------------------------------------------------------------

// Keys' cubic convolution with a = -0.75 (UpSample.h's cubic_convolution1/2, as OpenCV), as
// torch's build evaluates it in HelperInterpCubic::compute_indices_weights: the inner Horner
// steps fused, the last one not (probed against PyPI's binary; the first step of cubic1 rounds
// alike either way for the fractions these sizes give).
constexpr float kA = -0.75f;
float cubic1(float x) { return std::fma(kA + 2.0f, x, -(kA + 3.0f)) * x * x + 1.0f; }
float cubic2(float x) { return std::fma(std::fma(kA, x, -5.0f * kA), x, 8.0f * kA) * x - 4.0f * kA; }

struct CubicTaps {
  int i[4];
  float w[4];
};

// HelperInterpCubic::compute_indices_weights: the source index unclamped (cubic=true), its floor
// capped at in - 1, the fraction clamped to [0, 1], the four taps clamped to the edges.
CubicTaps cubic_taps(float scale, int o, int in) {
  const float src = std::fma(scale, static_cast<float>(o) + 0.5f, -0.5f);
  int base = static_cast<int>(std::floor(src));
  if (base > in - 1) base = in - 1;
  const float t = std::min(std::max(src - static_cast<float>(base), 0.0f), 1.0f);
  const float u = 1.0f - t;
  CubicTaps c;
  c.w[0] = cubic2(t + 1.0f);
  c.w[1] = cubic1(t);
  c.w[2] = cubic1(u);
  c.w[3] = cubic2(u + 1.0f);
  for (int k = 0; k < 4; ++k) c.i[k] = std::min(std::max(base - 1 + k, 0), in - 1);
  return c;
}

// InterpolateNonSeparable<2, ..., 4>: each of the four rows summed over its four columns, then
// the four rows, alike: GCC fuses the first product with the second's rounded product, then the
// third and fourth products in turn.
LTRT_KERNEL_CLONES
void resize_bicubic(const float* src, std::int64_t planes, int h, int w, float* dst, int out_h, int out_w) {
  const float sh = size_scale(h, out_h), sw = size_scale(w, out_w);
  for (std::int64_t p = 0; p < planes; ++p) {
    const float* plane = src + p * h * w;
    for (int oy = 0; oy < out_h; ++oy) {
      const CubicTaps r = cubic_taps(sh, oy, h);
      for (int ox = 0; ox < out_w; ++ox) {
        const CubicTaps c = cubic_taps(sw, ox, w);
        float t[4];
        for (int k = 0; k < 4; ++k) {
          const float* row = plane + static_cast<std::int64_t>(r.i[k]) * w;
          t[k] = std::fma(row[c.i[0]], c.w[0], row[c.i[1]] * c.w[1]);
          t[k] = std::fma(row[c.i[2]], c.w[2], t[k]);
          t[k] = std::fma(row[c.i[3]], c.w[3], t[k]);
        }
        float out = std::fma(t[0], r.w[0], t[1] * r.w[1]);
        out = std::fma(t[2], r.w[2], out);
        *dst++ = std::fma(t[3], r.w[3], out);
      }
    }
  }
}

// --- antialias (separable) -------------------------------------------------------------------

// PIL's filters (HelperInterpLinear/Cubic::aa_filter): the triangle, and Keys' cubic with a = -0.5.
float triangle(float x) {
  x = std::fabs(x);
  return x < 1.0f ? 1.0f - x : 0.0f;
}
constexpr float kAaA = -0.5f;
float keys_half(float x) {
  x = std::fabs(x);
  if (x < 1.0f) return std::fma(std::fma(kAaA + 2.0f, x, -(kAaA + 3.0f)) * x, x, 1.0f);
  if (x < 2.0f) return std::fma(std::fma(std::fma(kAaA, x, -5.0f * kAaA), x, 8.0f * kAaA), x, -4.0f * kAaA);
  return 0.0f;
}

// The filter's half-width in input pixels (widened by the scale when downscaling) and the most
// taps an output can have (_compute_index_ranges_weights): support is computed in double, kept as
// float32.
struct AaDim {
  float scale, support;
  int window;
};
AaDim aa_dim(int in, int out, bool cubic) {
  const float scale = size_scale(in, out);
  const double half = cubic ? 2.0 : 1.0;  // interp_size * 0.5
  const float support = static_cast<float>(scale >= 1.0f ? half * static_cast<double>(scale) : half);
  return {scale, support, static_cast<int>(std::ceil(support)) * 2 + 1};
}

// One output's taps (_compute_indices_min_size_weights_aa), stored as xmin, xsize, then `window`
// weights (floats: indices below 2^24 are exact). The centre, the inverse scale and the filter's
// argument go through double (torch's 0.5 literals) and are rounded to float32; the weights sum
// and are normalised in float32, in order.
void aa_weights(const AaDim& d, int in, int out, bool cubic, float* table) {
  const float invscale = d.scale >= 1.0f ? static_cast<float>(1.0 / static_cast<double>(d.scale)) : 1.0f;
  const std::int64_t window = d.window;
  for (int o = 0; o < out; ++o, table += window + 2) {
    const float centre = static_cast<float>(static_cast<double>(d.scale) * (o + 0.5));
    const std::int64_t xmin =
        std::max(static_cast<std::int64_t>(static_cast<double>(centre - d.support) + 0.5), std::int64_t{0});
    std::int64_t xsize =
        std::min(static_cast<std::int64_t>(static_cast<double>(centre + d.support) + 0.5), std::int64_t{in}) - xmin;
    xsize = std::min(std::max(xsize, std::int64_t{0}), window);  // a rounding can give one too many
    float* wt = table + 2;
    float total = 0.0f;
    std::int64_t j = 0;
    for (; j < xsize; ++j) {
      const float dist = static_cast<float>(j + xmin) - centre;
      const float x = static_cast<float>((static_cast<double>(dist) + 0.5) * static_cast<double>(invscale));
      wt[j] = cubic ? keys_half(x) : triangle(x);
      total += wt[j];
    }
    if (total != 0.0f)
      for (j = 0; j < xsize; ++j) wt[j] /= total;
    for (j = xsize; j < window; ++j) wt[j] = 0.0f;
    table[0] = static_cast<float>(xmin);
    table[1] = static_cast<float>(xsize);
  }
}

// One pass over `lines` lines of `n` outputs each: output o of a line reads the inputs xmin ..
// xmin + xsize - 1 of its line, `step` apart (1 along a row, the row length down a column).
// interpolate_separable_1d sums in float32 from the first product on; GCC vectorises that loop as
// an in-order reduction: after the first tap, whole groups of four taps have their products
// rounded (one vmulps) and added one by one, and only the last (xsize - 1) % 4 taps are fused
// multiply-adds (all of them when there are fewer than four after the first).
LTRT_KERNEL_CLONES
void aa_pass(const float* src, float* dst, std::int64_t lines, std::int64_t src_line, std::int64_t dst_line,
             std::int64_t src_step, std::int64_t dst_step, int n, const float* table, int window) {
  for (std::int64_t l = 0; l < lines; ++l) {
    const float* in = src + l * src_line;
    float* out = dst + l * dst_line;
    const float* t = table;
    for (int o = 0; o < n; ++o, t += window + 2) {
      const float* x = in + static_cast<std::int64_t>(t[0]) * src_step;
      const int size = static_cast<int>(t[1]);
      const float* wt = t + 2;
      float acc = x[0] * wt[0];
      const int grouped = size - 1 >= 4 ? (size - 1) / 4 * 4 : 0;
      int j = 1;
      for (; j < 1 + grouped; ++j) {
        const float product = x[j * src_step] * wt[j];
        acc = acc + product;
      }
      for (; j < size; ++j) acc = std::fma(x[j * src_step], wt[j], acc);
      out[o * dst_step] = acc;
    }
  }
}

std::size_t aa_table_size(int in, int out, bool cubic) {
  if (in == out) return 0;
  return static_cast<std::size_t>(out) * static_cast<std::size_t>(aa_dim(in, out, cubic).window + 2);
}

// separable_upsample_generic_Nd_kernel_impl: the width (the contiguous dim) first, then the height,
// each pass only if its size changes, the intermediate stored as float32.
void resize_antialias(const float* src, std::int64_t planes, int h, int w, float* dst, int out_h, int out_w, bool cubic,
                      float* scratch) {
  float* table_w = scratch;
  float* table_h = table_w + aa_table_size(w, out_w, cubic);
  float* temp = table_h + aa_table_size(h, out_h, cubic);
  const float* rows = src;
  if (out_w != w) {
    const AaDim d = aa_dim(w, out_w, cubic);
    aa_weights(d, w, out_w, cubic, table_w);
    float* into = out_h != h ? temp : dst;
    // Each input row is a line; its outputs are adjacent.
    aa_pass(src, into, planes * h, w, out_w, 1, 1, out_w, table_w, d.window);
    rows = into;
  }
  if (out_h != h) {
    const AaDim d = aa_dim(h, out_h, cubic);
    aa_weights(d, h, out_h, cubic, table_h);
    // A quirk of torch's height pass (basic_loop_separable_1d_vertical): it reads the taps of the
    // first output of each inner loop, assuming that loop runs along the width; with an output one
    // pixel wide, TensorIterator folds the width into the height and the loop runs down the column,
    // so every output row repeats row 0's taps (output row 0 of its plane, copied).
    if (out_w == 1)
      for (int o = 1; o < out_h; ++o) std::copy(table_h, table_h + d.window + 2, table_h + o * (d.window + 2));
    // Each column of each plane is a line: lines of a plane start a float apart.
    for (std::int64_t p = 0; p < planes; ++p)
      aa_pass(rows + p * h * out_w, dst + p * out_h * out_w, out_w, 1, 1, out_w, out_w, out_h, table_h, d.window);
  }
}

}  // namespace

std::size_t resize_scratch_size(std::int64_t planes, int h, int w, int out_h, int out_w, ResizeMode mode,
                                bool antialias) {
  const bool aa = antialias && (mode == ResizeMode::bilinear || mode == ResizeMode::bicubic);
  if (!aa || (h == out_h && w == out_w)) return 0;
  const bool cubic = mode == ResizeMode::bicubic;
  std::size_t n = aa_table_size(w, out_w, cubic) + aa_table_size(h, out_h, cubic);
  if (h != out_h && w != out_w)
    n += static_cast<std::size_t>(planes) * static_cast<std::size_t>(h) * static_cast<std::size_t>(out_w);
  return n;
}

void resize_image(const float* src, std::int64_t planes, int h, int w, float* dst, int out_h, int out_w,
                  ResizeMode mode, bool antialias, float* scratch, bool torch_single_thread, bool strided_view) {
  if (h == out_h && w == out_w) {  // torchvision returns the image unchanged
    std::memcpy(dst, src, static_cast<std::size_t>(planes) * h * w * sizeof(float));
    return;
  }
  switch (mode) {
    case ResizeMode::nearest:
    case ResizeMode::nearest_exact:
      resize_nearest(src, planes, h, w, dst, out_h, out_w, mode == ResizeMode::nearest_exact, strided_view);
      return;
    case ResizeMode::bilinear:
      if (antialias) {
        resize_antialias(src, planes, h, w, dst, out_h, out_w, false, scratch);
      } else {
        // upsample_bilinear2d_kernel_impl_float: one thread and three channels also pick the
        // channels-last kernel (faster for RGB images there).
        const bool cl =
            channels_last_kernel(planes, h, w, out_h, out_w, strided_view) || (torch_single_thread && planes == 3);
        resize_bilinear(src, planes, h, w, dst, out_h, out_w, cl);
      }
      return;
    case ResizeMode::bicubic:
      if (antialias)
        resize_antialias(src, planes, h, w, dst, out_h, out_w, true, scratch);
      else
        resize_bicubic(src, planes, h, w, dst, out_h, out_w);
      return;
  }
}

}  // namespace ltrt
