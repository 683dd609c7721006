// torchvision's affine warp of float32 images (F.rotate and F.affine on tensors, v1 and v2), which
// RandomRotation and RandomAffine apply:
//  - the inverse matrix in Python's double arithmetic (_get_inverse_affine_matrix; v1 and v2 write
//    it as different formulas, which round apart), each entry then rounded to float32 (theta);
//  - the sampling grid (_gen_affine_grid / _affine_grid): the output's pixel centres, half-integers
//    about the image's centre, times theta's columns divided by half the width and height, summed
//    as MKL's sgemm sums three products, (x a + y b) + c with each product rounded;
//  - grid_sample (zeros padding, align_corners False) of the image and a channel of ones beside it,
//    as torch's vectorised CPU kernel rounds: the coordinate unnormalised with a fused
//    multiply-add, ((g + 1) * size / 2 - 0.5), then either the nearest pixel (halves to even) or the
//    four neighbours' bilinear weights summed with fused multiply-adds in nw, ne, sw, se order;
//  - the fill: where the ones channel says the pixel fell outside, v1 mixes img * mask + (1 - mask) *
//    fill (bilinear) or puts the fill (nearest, mask < 0.5); v2 computes (img - fill) * mask + fill.
//    v2's fill None skips the ones channel.
// PyPI's x86 torch builds its vectorised kernels with fused multiply-adds (AVX2 and AVX512 alike);
// a torch built without them (ATEN_CPU_CAPABILITY=default) rounds otherwise.
#pragma once

#include <array>
#include <cstdint>

namespace ltrt {

// _get_inverse_affine_matrix(center, angle, translate, scale, shear): the inverse affine matrix
// [a, b, c, d, e, f] (x_in = a x + b y + c, y_in = d x + e y + f, about the image's centre), in
// degrees; `center` relative to the image's centre. v2's rounds as its own formula does.
std::array<double, 6> inverse_affine_matrix(double center_x, double center_y, double angle, double translate_x,
                                            double translate_y, double scale, double shear_x, double shear_y, bool v2);

// Python's float `a % b` (the sign of b; a zero remainder is +0.0 for a positive b).
double python_float_mod(double a, double b);

// What the warp fills the pixels from outside the image with.
struct WarpFill {
  const float* values = nullptr;  // one for every channel, or one per channel (nullptr: v2's fill None)
  int count = 0;                  // 1 or the channels
  bool v2 = false;                // v2's (img - fill) * mask + fill, else v1's mix
};

// Warps `images` images of `channels` planes of h x w (`in`, contiguous) through `matrix`
// (inverse_affine_matrix's) into `out` of the same shape, as F_t.affine / F_t.rotate without
// expand. Both sides below 2^24 (torch's float32 grid is exact there).
void affine_warp(const float* in, float* out, std::int64_t images, std::int64_t channels, std::int64_t h,
                 std::int64_t w, const std::array<double, 6>& matrix, bool bilinear, const WarpFill& fill);

}  // namespace ltrt
