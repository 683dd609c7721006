/// \file
/// InstanceNorm1d, InstanceNorm2d and InstanceNorm3d, as torch.nn's (num_features, eps, momentum,
/// affine, track_running_stats): each sample's channel of an (N, C, L), (N, C, H, W) or (N, C, D, H,
/// W) input normalised
/// over its own positions with its own statistics. Without running statistics (torch's default)
/// that holds in training and evaluation alike: GroupNorm with a group per channel, so the layer
/// builds a group_norm node (ops/group_norm.cpp); affine (torch's default False) adds its weight
/// (ones) and bias (zeros) per channel.
///
/// With track_running_stats, the layer's instance_norm node normalises as group_norm in training
/// and with running_mean and running_var in evaluation, as torch's F.instance_norm does through
/// batch_norm over the input viewed as (1, N * C, *): each sample's channel updates its own copy of
/// the running statistics, running = momentum * stat + (1 - momentum) * running (in double, the
/// unbiased variance, as batch_norm's CPU kernel), and the running statistics become the mean of
/// the copies over the samples (a float sum divided by N, torch's CPU mean). momentum=None is 0
/// there (torch passes 0.0), and num_batches_tracked stays 0 (torch's module never counts). The
/// backward is group_norm's: the training statistics are the same.
#include <ltrt/python_repr.hpp>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// The sizes (and eps, where the code normalises).
void write_sizes(CodeWriter& w, const Node& n, const Value& x, bool eps = true) {
  w.line("constexpr int kC = " + std::to_string(x.shape[1]) + ";  // channels");
  w.line("constexpr int kL = " + std::to_string(positions_per_channel(x)) + ";  // positions per channel and sample");
  if (eps) w.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
}

// momentum=None: 0 (torch's F.instance_norm call), so the running statistics only pass through the mean.
std::string momentum_line(const Node& n) {
  const double m = n.attrs.count("momentum") ? attr_float(n, "momentum") : 0.0;
  return "constexpr double kMomentum = " + ltrt::python_repr(m) + ";  // of the running statistics";
}

// The evaluation's y = x * a + b with the running statistics (torch's batch_norm in evaluation).
std::string eval_terms(bool affine) {
  return affine ? "const float a = s * weight[c], b = bias[c] - m * a;" : "const float a = s, b = -m * a;";
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "affine");
  write_sizes(w, n, g.value(n.inputs[0]));
  w.line(momentum_line(n));
  w.open("if (!training)");
  w.line("// eval: the running statistics");
  w.open("for (int c = 0; c < kC; ++c)");
  w.line("const float m = running_mean[c];");
  w.line("const float s = 1.0f / std::sqrt(running_var[c] + kEps);");
  w.line(eval_terms(affine));
  w.line("for (int r = 0; r < n; ++r)");
  w.line("  for (int k = 0; k < kL; ++k) out[(r * kC + c) * kL + k] = inp[(r * kC + c) * kL + k] * a + b;");
  w.close();
  w.line("return;");
  w.close();
  w.line("// training: each sample's channel with its own statistics; each updates a copy of the running");
  w.line("// statistics, whose mean over the samples they become");
  w.line("float new_mean[kC] = {}, new_var[kC] = {};");
  w.open("for (int r = 0; r < n * kC; ++r)");
  w.line("const int c = r % kC;");
  w.line("const float* x = inp + r * kL;");
  w.line("double sum = 0.0;");
  w.line("for (int k = 0; k < kL; ++k) sum += x[k];");
  w.line("const float m = static_cast<float>(sum / kL);");
  w.line("double sum_sq = 0.0;  // two passes: no cancellation when |mean| >> std");
  w.open("for (int k = 0; k < kL; ++k)");
  w.line("const float d = x[k] - m;");
  w.line("sum_sq += d * d;");
  w.close();
  w.line("const float s = static_cast<float>(1.0 / std::sqrt(sum_sq / kL + kEps));  // biased variance, as torch");
  w.line("mean[r] = m;");
  w.line("rstd[r] = s;");
  w.line("new_mean[c] += static_cast<float>(kMomentum * m + (1.0 - kMomentum) * running_mean[c]);");
  w.line("new_var[c] += static_cast<float>(kMomentum * (sum_sq / (kL - 1)) + (1.0 - kMomentum) * running_var[c]);");
  w.line("float* y = out + r * kL;");
  w.line(std::string("for (int k = 0; k < kL; ++k) y[k] = (x[k] - m) * s") + (affine ? " * weight[c] + bias[c];" : ";"));
  w.close();
  w.open("for (int c = 0; c < kC; ++c)");
  w.line("running_mean[c] = new_mean[c] / n;");
  w.line("running_var[c] = new_var[c] / n;");
  w.close();
}

// CUDA: evaluation a thread per element; training group_norm's row kernel over the (sample,
// channel) rows, then a thread per channel for the running statistics (each sample's squared
// deviations summed again, as the CPU sums them). TUNE: a block per channel for long rows.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "affine");
  const Value& x = g.value(n.inputs[0]);
  const RowSplit split = split_rows(positions_per_channel(x));
  CodeWriter& k = e.kernels;
  emit_running_stats_eval_kernel(k, e.fn + "_eval_kernel", affine, eval_terms(affine),
                                 [&](CodeWriter& c) { write_sizes(c, n, x); });

  k.line();
  k.line("// training: a row per sample and channel, normalised with its own statistics");
  k.open("__global__ void " + e.fn + "_train_kernel(float* __restrict__ out, float* __restrict__ mean, "
         "float* __restrict__ rstd, const float* __restrict__ inp" +
         (affine ? ", const float* __restrict__ weight, const float* __restrict__ bias" : "") + ", int rows)");
  if (affine) k.line("constexpr int kC = " + std::to_string(x.shape[1]) + ";  // channels");
  k.line("constexpr int kDim = " + std::to_string(positions_per_channel(x)) + ";  // a row's elements: a channel's positions");
  k.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
  open_row(k, split, "r", "rows");
  write_row_moments(k, split);
  k.line("float* y = out + static_cast<std::int64_t>(r) * kDim;");
  k.line(std::string("for (int k = t; k < kDim; k += kRowThreads) y[k] = (x[k] - m) * s") +
         (affine ? " * weight[r % kC] + bias[r % kC];" : ";"));
  k.close();

  k.line();
  k.line("// training: channel i's running statistics, the mean of each sample's updated copy");
  open_element_kernel(k, e.fn + "_running_kernel",
                      {"float* __restrict__ running_mean", "float* __restrict__ running_var",
                       "const float* __restrict__ mean", "const float* __restrict__ inp", "int n"},
                      [&](CodeWriter& c) {
                        write_sizes(c, n, x, false);
                        c.line(momentum_line(n));
                      });
  k.line("const int c = i;");
  k.line("float new_mean = 0.0f, new_var = 0.0f;");
  k.open("for (int sample = 0; sample < n; ++sample)");
  k.line("const int r = sample * kC + c;");
  k.line("const float* x = inp + static_cast<std::int64_t>(r) * kL;");
  k.line("const float m = mean[r];");
  k.line("double sum_sq = 0.0;");
  k.open("for (int k = 0; k < kL; ++k)");
  k.line("const float d = x[k] - m;");
  k.line("sum_sq += d * d;");
  k.close();
  k.line("new_mean += static_cast<float>(kMomentum * m + (1.0 - kMomentum) * running_mean[c]);");
  k.line("new_var += static_cast<float>(kMomentum * (sum_sq / (kL - 1)) + (1.0 - kMomentum) * running_var[c]);");
  k.close();
  k.line("running_mean[c] = new_mean / n;");
  k.line("running_var[c] = new_var / n;");
  k.close();

  CodeWriter& w = e.body;
  w.line("constexpr int kC = " + std::to_string(x.shape[1]) + ", kL = " + std::to_string(positions_per_channel(x)) + ";");
  emit_running_stats_eval_launch(w, e.fn + "_eval_kernel", affine);
  w.line("const int rows = n * kC;  // a row per sample and channel");
  std::vector<std::string> train = {"out", "mean", "rstd", "inp"};
  if (affine) train.insert(train.end(), {"weight", "bias"});
  train.push_back("rows");
  emit_row_launch(w, e.fn + "_train_kernel", split, "rows", train);
  emit_count_launch(w, e.fn + "_running_kernel", "kC", {"running_mean", "running_var", "mean", "inp", "n"});
}

LayerDef instance_norm(const std::string& type, std::size_t rank) {
  LayerDef l;
  l.torch_type = type;
  ArgDef features{"num_features", ArgType::integer, std::nullopt, true};
  features.min = 1;
  ArgDef eps{"eps", ArgType::number, Attr{1e-5}};
  eps.min = 0.0;
  ArgDef momentum{"momentum", ArgType::number, Attr{0.1}};  // of the running statistics, with track_running_stats
  momentum.min = 0.0;
  momentum.nullable = true;  // None: 0 in torch's F.instance_norm call
  l.args = {features, eps, momentum, {"affine", ArgType::boolean, Attr{false}},
            {"track_running_stats", ArgType::boolean, Attr{false}}};
  l.build = [type, rank](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() != rank)
      throw ShapeError("expects an (N, C, " + std::string(rank == 3 ? "L" : rank == 4 ? "H, W" : "D, H, W") +
                       ") input, got " + shape_str(x.shape) +
                       (rank != 4 && x.shape.size() == 4 ? "; use InstanceNorm2d for images" : "") +
                       (rank != 5 && x.shape.size() == 5 ? "; use InstanceNorm3d for volumes" : ""));
    const std::int64_t c = x.shape[1];
    auto given = b.args.find("num_features");
    if (given != b.args.end() && std::get<std::int64_t>(given->second) != c)
      throw ShapeError("num_features " + std::to_string(std::get<std::int64_t>(given->second)) +
                       " does not match the input " + shape_str(x.shape) + ", which has " + std::to_string(c) +
                       " channels in dim 1; remove num_features to infer it");
    if (positions_per_channel(x) == 1)  // torch's _verify_spatial_size
      throw ShapeError("expects more than 1 spatial element per channel when training (as torch), got input " +
                       shape_str(x.shape));
    const bool affine = std::get<bool>(b.args.at("affine"));
    const bool track = std::get<bool>(b.args.at("track_running_stats"));
    Node n;
    n.op = track ? "instance_norm" : "group_norm";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["num_groups"] = c;  // a group per channel
    n.attrs["num_channels"] = c;
    n.attrs["num_features"] = c;  // inferred: --emit lightning writes it
    n.attrs["eps"] = b.args.at("eps");
    n.attrs["affine"] = affine;
    if (track && b.args.count("momentum")) n.attrs["momentum"] = b.args.at("momentum");
    n.inputs = {in.at(0)};
    if (affine) {  // torch's _NormBase.reset_parameters: weight ones, bias zeros
      n.inputs.push_back(add_param(b.graph, b.layer + ".weight", Shape{c}));
      b.graph.value(n.inputs.back()).init = Init::ones;
      n.inputs.push_back(add_param(b.graph, b.layer + ".bias", Shape{c}));
      b.graph.value(n.inputs.back()).init = Init::zeros;
    }
    if (track) {  // _NormBase's buffers: running_mean zeros, running_var ones, num_batches_tracked 0
      n.inputs.push_back(add_state(b.graph, b.layer + ".running_mean", Shape{c}, DType::f32, Init::zeros));
      n.inputs.push_back(add_state(b.graph, b.layer + ".running_var", Shape{c}, DType::f32, Init::ones));
      // (never counted by InstanceNorm: in state_dict only)
      add_state(b.graph, b.layer + ".num_batches_tracked", Shape{}, DType::i64, Init::zeros);
    }
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  return l;
}

}  // namespace

void register_instance_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "instance_norm";
  f.training_mode = true;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const Shape stats = {x.shape[0], x.shape[1]};  // mean and rstd per sample and channel
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}, {DType::f32, stats, x.batched},
                                   {DType::f32, stats, x.batched}};
  };
  f.slots = [](const Node& n) {
    Slots s{{"out", "mean", "rstd"}, {"inp"}};
    if (attr_bool(n, "affine")) s.inputs.insert(s.inputs.end(), {"weight", "bias"});
    s.inputs.insert(s.inputs.end(), {"running_mean", "running_var"});
    return s;
  };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{10 * e, 4 * 3 * e};  // the training's two passes and the running statistics' third
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  // The training statistics are group_norm's (a group per channel): so is the backward.
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    return op_def("group_norm").backward(ad, n, dout);
  };
  ops.push_back(std::move(f));
  layers.push_back(instance_norm("InstanceNorm1d", 3));
  layers.push_back(instance_norm("InstanceNorm2d", 4));
  layers.push_back(instance_norm("InstanceNorm3d", 5));
}

}  // namespace ltgen
