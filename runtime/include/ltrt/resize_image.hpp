// torchvision's tensor Resize of one float32 image, bit for bit with PyPI torch 2.15's CPU kernels
// (x86-64, AVX2/AVX512 dispatch): what
//   torch.nn.functional.interpolate(img[None], size=(out_h, out_w), mode=M,
//                                   align_corners=False if M in ("bilinear", "bicubic") else None,
//                                   antialias=A)[0]
// gives for a contiguous (planes, h, w) image, the planes being its channels (torchvision's v1
// resize unsqueezes a CHW image to 1CHW; v2 reshapes to (-1, C, H, W) and calls the same
// interpolate, so a batch gives, image by image, what one call per image with planes = C gives:
// the channel count enters torch's choice of kernel). Both torchvision versions return the image
// itself when the size is unchanged, and so does resize_image (a copy). The scales come from the
// sizes, in float32: in / out.
//
// Which kernel torch runs, and so the order of the sums, depends on the shapes (see the .cpp):
//   bilinear, antialias: separable, the width (contiguous dim) first into a float32 temporary,
//                        then the height; PIL's triangle filter, weights in float32, normalised.
//   bicubic, antialias:  the same with Keys' cubic, a = -0.5 (PIL's).
//   bilinear:            a 4-tap gather in one pass; its summation order differs between the
//                        "generic" kernel and the channels-last one, which torch picks when
//                        out_h + out_w <= 128, or when it runs on one thread (a DataLoader worker:
//                        torch.set_num_threads(1)) and the image has 3 channels; say so with
//                        torch_single_thread.
//   bicubic:             a 16-tap gather in one pass, Keys' cubic with a = -0.75 (OpenCV's).
//   nearest:             floor(o * in / out); nearest_exact: floor((o + 0.5) * in / out), both
//                        clamped to in - 1.
// Built with -ffp-contract=off (as the runtime is): the .cpp rounds where torch's binary rounds and
// fuses, with std::fma, where it fuses. Not followed: an ATEN_CPU_CAPABILITY=default torch (no
// fused multiply-adds at all), and, for the one-pixel-wide antialiased outputs whose quirk the .cpp
// copies, a torch that splits more than 32768 such outputs among threads.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ltrt {

// An enum class: ltrt already has a function named bicubic (cubic_interpolation.hpp).
enum class ResizeMode { nearest, nearest_exact, bilinear, bicubic };

// The floats of scratch resize_image needs for these arguments: 0 for the one-pass modes; for an
// antialiased one, the per-output filter weights of each resized dimension and, when both change,
// the float32 intermediate (planes x h x out_w) torch resizes the width into.
std::size_t resize_scratch_size(std::int64_t planes, int h, int w, int out_h, int out_w, ResizeMode mode,
                                bool antialias);

// Resizes `planes` contiguous h x w planes of src into dst (planes x out_h x out_w); sizes >= 1.
// antialias matters for bilinear and bicubic only (torchvision passes False for the others).
// scratch: resize_scratch_size(...) floats (may be null when that is 0); nothing is allocated.
// strided_view: src is a crop of a larger image (RandomResizedCrop's box), which torch resizes as
// a view: a one-pixel one is not channels-last contiguous there, as a whole 1 x 1 image is.
void resize_image(const float* src, std::int64_t planes, int h, int w, float* dst, int out_h, int out_w,
                  ResizeMode mode, bool antialias, float* scratch, bool torch_single_thread = false,
                  bool strided_view = false);

}  // namespace ltrt
