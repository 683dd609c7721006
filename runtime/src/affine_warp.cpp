// torchvision's affine warp of tensors, in torch's and Python's own roundings (affine_warp.hpp).
// The runtime builds with -ffp-contract=off: every fused multiply-add below is torch's, written out.
#include "ltrt/affine_warp.hpp"

#include <cmath>
#include <limits>

namespace ltrt {
namespace {

constexpr double kDegToRad = 3.141592653589793 / 180.0;  // CPython's math.radians multiplies by it

// cvtps2dq, which torch's convert_to_int_of_same_size is: the int of an integral float, or
// INT32_MIN (x86's "integer indefinite") for one out of range or NaN.
std::int32_t to_int32(float x) {
  if (!(x >= -2147483648.0f && x < 2147483648.0f)) return std::numeric_limits<std::int32_t>::min();
  return static_cast<std::int32_t>(x);
}

}  // namespace

double python_float_mod(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

std::array<double, 6> inverse_affine_matrix(double center_x, double center_y, double angle, double translate_x,
                                            double translate_y, double scale, double shear_x, double shear_y, bool v2) {
  const double rot = angle * kDegToRad, sx = shear_x * kDegToRad, sy = shear_y * kDegToRad;
  const double cx = center_x, cy = center_y, tx = translate_x, ty = translate_y;
  std::array<double, 6> m;
  if (v2) {
    const double cos_sy = std::cos(sy), tan_sx = std::tan(sx), rot_minus_sy = rot - sy;
    const double cx_plus_tx = cx + tx, cy_plus_ty = cy + ty;
    const double a = std::cos(rot_minus_sy) / cos_sy;
    const double b = -(a * tan_sx + std::sin(rot));
    const double c = std::sin(rot_minus_sy) / cos_sy;
    const double d = std::cos(rot) - c * tan_sx;
    m = {d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0};
    m[2] = m[2] + ((cx - m[0] * cx_plus_tx) - m[1] * cy_plus_ty);
    m[5] = m[5] + ((cy - m[3] * cx_plus_tx) - m[4] * cy_plus_ty);
    return m;
  }
  // v1: -cos(rot - sy) * tan(sx) / cos(sy) - sin(rot), Python's precedence
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  m = {d / scale, -b / scale, 0.0 / scale, -c / scale, a / scale, 0.0 / scale};
  m[2] = m[2] + (m[0] * (-cx - tx) + m[1] * (-cy - ty));
  m[5] = m[5] + (m[3] * (-cx - tx) + m[4] * (-cy - ty));
  m[2] = m[2] + cx;
  m[5] = m[5] + cy;
  return m;
}

void affine_warp(const float* in, float* out, std::int64_t images, std::int64_t channels, std::int64_t h,
                 std::int64_t w, const std::array<double, 6>& matrix, bool bilinear, const WarpFill& fill) {
  // theta (float32), its transpose divided by [w / 2, h / 2]: t[k][j] multiplies the base grid's
  // column k (x, y, 1) for the grid's coordinate j (x, y).
  float t[3][2];
  const float half[2] = {static_cast<float>(0.5 * static_cast<double>(w)),
                         static_cast<float>(0.5 * static_cast<double>(h))};
  for (int j = 0; j < 2; ++j)
    for (int k = 0; k < 3; ++k) t[k][j] = static_cast<float>(matrix[static_cast<std::size_t>(3 * j + k)]) / half[j];
  const float scale_w = static_cast<float>(w) / 2, scale_h = static_cast<float>(h) / 2;  // grid_sample's unnormalize
  const std::int64_t plane = h * w;
  const bool masked = fill.values != nullptr;
  for (std::int64_t i = 0; i < h; ++i) {
    // linspace's pixel centres about the middle: half-integers, exact below 2^24
    const auto yb = static_cast<float>(static_cast<double>(i) - 0.5 * static_cast<double>(h - 1));
    for (std::int64_t j = 0; j < w; ++j) {
      const auto xb = static_cast<float>(static_cast<double>(j) - 0.5 * static_cast<double>(w - 1));
      const float gx = (xb * t[0][0] + yb * t[1][0]) + t[2][0];
      const float gy = (xb * t[0][1] + yb * t[1][1]) + t[2][1];
      const float x = std::fma(gx + 1.0f, scale_w, -0.5f);
      const float y = std::fma(gy + 1.0f, scale_h, -0.5f);
      const std::int64_t p = i * w + j;
      if (!bilinear) {
        const std::int32_t ix = to_int32(std::nearbyint(x)), iy = to_int32(std::nearbyint(y));
        const bool inside = ix > -1 && ix < w && iy > -1 && iy < h;
        for (std::int64_t n = 0; n < images * channels; ++n) {
          float v = inside ? in[n * plane + iy * w + ix] : 0.0f;
          if (masked && !inside) v = fill.values[fill.count == 1 ? 0 : n % channels];  // mask < 0.5
          out[n * plane + p] = v;
        }
        continue;
      }
      const float x_w = std::floor(x), y_n = std::floor(y);
      const float dw = x - x_w, de = 1.0f - dw, dn = y - y_n, ds = 1.0f - dn;
      const float nw = ds * de, ne = ds * dw, sw = dn * de, se = dn * dw;
      const std::int32_t ixw = to_int32(x_w), iyn = to_int32(y_n);
      const std::int32_t ixe = ixw + 1, iys = iyn + 1;  // (INT32_MIN + 1 stays outside)
      const bool w_ok = ixw > -1 && ixw<w, e_ok = ixe> - 1 && ixe < w;
      const bool n_ok = iyn > -1 && iyn<h, s_ok = iys> - 1 && iys < h;
      const bool nw_ok = w_ok && n_ok, ne_ok = e_ok && n_ok, sw_ok = w_ok && s_ok, se_ok = e_ok && s_ok;
      // the four neighbours' sum, as the vectorised kernel contracts it
      const auto interpolate = [&](float v_nw, float v_ne, float v_sw, float v_se) {
        return std::fma(v_se, se, std::fma(v_sw, sw, std::fma(v_ne, ne, v_nw * nw)));
      };
      const float mask =
          interpolate(nw_ok ? 1.0f : 0.0f, ne_ok ? 1.0f : 0.0f, sw_ok ? 1.0f : 0.0f, se_ok ? 1.0f : 0.0f);
      for (std::int64_t n = 0; n < images * channels; ++n) {
        const float* src = in + n * plane;
        const float v_nw = nw_ok ? src[iyn * w + ixw] : 0.0f, v_ne = ne_ok ? src[iyn * w + ixe] : 0.0f;
        const float v_sw = sw_ok ? src[iys * w + ixw] : 0.0f, v_se = se_ok ? src[iys * w + ixe] : 0.0f;
        float v = interpolate(v_nw, v_ne, v_sw, v_se);
        if (masked) {
          const float f = fill.values[fill.count == 1 ? 0 : n % channels];
          v = fill.v2 ? (v - f) * mask + f : v * mask + (1.0f - mask) * f;
        }
        out[n * plane + p] = v;
      }
    }
  }
}

}  // namespace ltrt
