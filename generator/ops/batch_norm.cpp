/// \file
/// BatchNorm1d ((N, C) or (N, C, L)), BatchNorm2d ((N, C, H, W)) and BatchNorm3d ((N, C, D, H, W)), as
/// torch.nn.BatchNorm*d: per channel c, over the batch and the positions
/// (count = n * L elements, n the live rows):
///   training: mean = sum(x) / count,  var = sum((x - mean)^2) / count (biased),
///             rstd = 1 / sqrt(var + eps),  y = (x - mean) * rstd * weight + bias;
///             with track_running_stats, num_batches_tracked += 1 and
///             running = (1 - f) * running + f * stat, stat the mean and the
///             *unbiased* variance var * count / (count - 1), f = momentum, or
///             1 / num_batches_tracked with momentum=None (cumulative average);
///   eval:     the same with running_mean and running_var (batch statistics when
///             track_running_stats=False, as torch).
/// The forward keeps mean and rstd per channel for the backward (torch's saved
/// tensors); the rule is torch's batch_norm_backward in training: with xhat =
/// (x - mean) * rstd and g = dy * weight, means over the channel's count,
///   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
///   dweight = sum dy * xhat,  dbias = sum dy.
/// The running statistics are module state (ValueKind::state), not parameters.
///
/// trainer.sync_batchnorm in a DDP program makes it torch's SyncBatchNorm: in training the sums
/// above are over every rank's batch (each rank's sums summed over the ranks, with the counts,
/// into a float64 `stats` output), so the launch normalises as one process with all the batches
/// would; the backward sums dy and dy * xhat over the ranks too (torch all-reduces them when the
/// input needs a gradient), while dweight and dbias stay the rank's own (DDP averages them).
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "../emit_cpu.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

void write_sizes(CodeWriter& w, const Value& x) {
  w.line("constexpr int kC = " + std::to_string(x.shape[1]) + ";  // num_features: channels");
  w.line("constexpr int kL = " + std::to_string(positions_per_channel(x)) + ";  // positions per channel and sample");
}

bool tracks(const Node& n) { return attr_bool(n, "track_running_stats"); }
bool syncs(const Node& n) { return n.attrs.count("sync") != 0; }

// The error of a training batch with one value per channel, as torch raises it.
std::string one_value_error(const Node& n) {
  return "throw ltrt::Error(" +
         cpp_string_literal(n.layer + " (" + n.source +
                            "): BatchNorm expected more than 1 value per channel when training, got a batch of "
                            "one row (as torch); set data.drop_last=true or change data.batch_size") +
         ");";
}

// StochasticWeightAveraging's BatchNorm epoch switches this BatchNorm to momentum=None (lower.cpp).
bool switches_momentum(const Node& n) { return n.attrs.count("momentum_switch") != 0; }

// The running statistics' update factor f, where the forward computes it: momentum=None's
// 1 / num_batches_tracked, or with StochasticWeightAveraging's switch (`switch_on`, the program's
// flag), that or the momentum. Nothing for a fixed momentum (kMomentum).
void write_momentum_factor(CodeWriter& w, const Node& n, const std::string& switch_on) {
  if (attr_bool(n, "cumulative"))
    w.line("const float f = static_cast<float>(1.0 / static_cast<double>(num_batches_tracked[0]));");
  if (switches_momentum(n)) {
    w.line("// StochasticWeightAveraging's BatchNorm epoch sets momentum=None: f = 1 / num_batches_tracked.");
    w.line("const float f = " + switch_on);
    w.line("                    ? static_cast<float>(1.0 / static_cast<double>(num_batches_tracked[0]))");
    w.line("                    : kMomentum;");
  }
}

// running = (1 - f) * running + f * stat, with the unbiased variance (as torch) of `count` values.
void write_running_update(CodeWriter& w, const Node& n, const std::string& count = "count") {
  const std::string f = attr_bool(n, "cumulative") || switches_momentum(n) ? "f" : "kMomentum";
  w.line("running_mean[c] = " + f + " * m + (1.0f - " + f + ") * running_mean[c];");
  w.line("const double unbiased = sum_sq / (" + count + " - 1);");
  w.line("running_var[c] = static_cast<float>(" + f + " * unbiased + (1.0f - " + f + ") * running_var[c]);");
}

// SyncBatchNorm's training statistics on the CPU: the same two passes as batch_norm's, each
// channel's sums summed over the ranks between them (ProcessGroup::sum gives every rank rank 0's
// bits, so the replicas normalise alike); one process sums nothing and gets batch_norm's numbers.
void write_synced_statistics(CodeWriter& w, const Node& n, std::int64_t channel_work, const std::string& ab) {
  w.line("// SyncBatchNorm (trainer.sync_batchnorm): in training, the statistics of every rank's batch together.");
  w.line("const ltrt::ProcessGroup& ranks = ltrt::ProcessGroup::world();");
  w.line(std::string("const bool synced = ranks.distributed()") + (tracks(n) ? "" : " && training") + ";");
  w.line("// As torch: training statistics need more than one value per channel (every rank adds one).");
  w.line("if (count < 2 && !synced) " + one_value_error(n));
  if (tracks(n)) {
    w.line(attr_bool(n, "cumulative") ? "++num_batches_tracked[0];  // momentum=None: f = 1 / num_batches_tracked"
                                      : "++num_batches_tracked[0];");
    write_momentum_factor(w, n, "batch_norm_momentum_none");
  }
  w.line("double* const sums = stats;             // each channel's sum, then the count of values");
  w.line("double* const squares = stats + kC + 1;  // each channel's sum of (x - mean)^2");
  open_split_loop(w, "c", "kC", channel_work, SplitIndex::rows);
  w.line("double sum = 0.0;");
  w.open("for (int r = 0; r < n; ++r)");
  w.line("const float* x = inp + (r * kC + c) * kL;");
  w.line("sum += ltrt::sum_f64(kL, [&](int k) { return static_cast<double>(x[k]); });");
  w.close();
  w.line("sums[c] = sum;");
  close_split_loop(w);
  w.line("sums[kC] = count;");
  w.line("if (synced) ranks.sum(sums, kC + 1);");
  w.line("const double total = sums[kC];  // values per channel in every rank's batch");
  open_split_loop(w, "c", "kC", channel_work, SplitIndex::rows);
  w.line("const double md = sums[c] / total;");
  w.line("double sum_sq = 0.0;  // two passes: no cancellation when |mean| >> std");
  w.open("for (int r = 0; r < n; ++r)");
  w.line("const float* x = inp + (r * kC + c) * kL;");
  w.line("sum_sq += ltrt::sum_f64(kL, [&](int k) { const double d = x[k] - md; return d * d; });");
  w.close();
  w.line("squares[c] = sum_sq;");
  close_split_loop(w);
  w.line("if (synced) ranks.sum(squares, kC);");
  open_split_loop(w, "c", "kC", channel_work, SplitIndex::rows);
  w.line("const double sum_sq = squares[c];");
  w.line("const float m = static_cast<float>(sums[c] / total);");
  w.line("const float s = static_cast<float>(1.0 / std::sqrt(sum_sq / total + kEps));  // biased variance");
  w.line("mean[c] = m;");
  w.line("rstd[c] = s;");
  if (tracks(n)) write_running_update(w, n, "total");
  w.line(ab);
  w.line("for (int r = 0; r < n; ++r)");
  w.line("  for (int k = 0; k < kL; ++k) out[(r * kC + c) * kL + k] = inp[(r * kC + c) * kL + k] * a + b;");
  close_split_loop(w);
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "affine");
  const bool track = tracks(n);
  const bool cumulative = attr_bool(n, "cumulative");
  const Value& x = g.value(n.inputs[0]);
  write_sizes(w, x);
  const std::int64_t channel_work = numel(x.shape) / x.shape[1];  // a channel's values at a full batch
  w.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
  if (track && !cumulative)
    w.line("constexpr float kMomentum = " + float_literal(attr_float(n, "momentum")) + ";");
  w.line("const int count = n * kL;  // values per channel in this batch");
  // y = x * a + b, a = rstd * weight, b = bias - mean * a: torch's transform_input.
  const std::string ab = affine ? "const float a = s * weight[c], b = bias[c] - m * a;" : "const float a = s, b = -m * a;";
  if (track) {
    w.line("// eval: the running statistics");
    w.open("if (!training)");
    open_split_loop(w, "c", "kC", channel_work, SplitIndex::rows);
    w.line("const float m = running_mean[c];");
    w.line("const float s = 1.0f / std::sqrt(running_var[c] + kEps);");
    w.line(ab);
    w.line("for (int r = 0; r < n; ++r)");
    w.line("  for (int k = 0; k < kL; ++k) out[(r * kC + c) * kL + k] = inp[(r * kC + c) * kL + k] * a + b;");
    close_split_loop(w);
    w.line("return;");
    w.close();
  } else if (!syncs(n)) {
    w.line("(void)training;  // track_running_stats=False: batch statistics in eval too");
  }
  if (syncs(n)) {
    write_synced_statistics(w, n, channel_work, ab);
    return;
  }
  w.line("// As torch: training statistics need more than one value per channel.");
  w.open("if (count < 2)");
  w.line(one_value_error(n));
  w.close();
  if (track) {
    w.line(cumulative ? "++num_batches_tracked[0];  // momentum=None: f = 1 / num_batches_tracked"
                      : "++num_batches_tracked[0];");
    write_momentum_factor(w, n, "batch_norm_momentum_none");
  }
  w.line("// The channels split among the step's threads: each channel's sums are its own.");
  open_split_loop(w, "c", "kC", channel_work, SplitIndex::rows);
  w.line("// double sums (as torch's CPU kernel): count is n * positions, often large");
  w.line("double sum = 0.0;");
  w.open("for (int r = 0; r < n; ++r)");
  w.line("const float* x = inp + (r * kC + c) * kL;");
  w.line("sum += ltrt::sum_f64(kL, [&](int k) { return static_cast<double>(x[k]); });");
  w.close();
  w.line("const double md = sum / count;");
  w.line("double sum_sq = 0.0;  // two passes: no cancellation when |mean| >> std");
  w.open("for (int r = 0; r < n; ++r)");
  w.line("const float* x = inp + (r * kC + c) * kL;");
  w.line("sum_sq += ltrt::sum_f64(kL, [&](int k) { const double d = x[k] - md; return d * d; });");
  w.close();
  w.line("const float m = static_cast<float>(md);");
  w.line("const float s = static_cast<float>(1.0 / std::sqrt(sum_sq / count + kEps));  // biased variance");
  w.line("mean[c] = m;");
  w.line("rstd[c] = s;");
  if (track) write_running_update(w, n);
  w.line(ab);
  w.line("for (int r = 0; r < n; ++r)");
  w.line("  for (int k = 0; k < kL; ++k) out[(r * kC + c) * kL + k] = inp[(r * kC + c) * kL + k] * a + b;");
  close_split_loop(w);
}

// SyncBatchNorm's backward on the CPU, when the input needs a gradient: each channel's sums of dy
// and dy * xhat over the rank's batch give dweight and dbias (DDP averages those), then, summed
// over the ranks with the counts, the input's gradient, as torch's sync_batch_norm.backward.
void emit_synced_backward(CodeWriter& w, const Node& n, std::int64_t channel_work) {
  const bool affine = attr_bool(n, "affine");
  w.line("const int count = n * kL;");
  if (!affine) w.line("(void)accumulate;  // no parameters (affine=False)");
  w.line("double* const sum_dy = stats;  // each channel's sums over this rank's batch, then over every rank's");
  w.line("double* const sum_dy_xhat = stats + kC;");
  open_split_loop(w, "c", "kC", channel_work, SplitIndex::rows);
  w.line("const float m = mean[c], s = rstd[c];");
  w.line("double dy_sum = 0.0, dy_xhat_sum = 0.0;");
  w.open("for (int r = 0; r < n; ++r)");
  w.line("const float* x = inp + (r * kC + c) * kL;");
  w.line("const float* dy = dout + (r * kC + c) * kL;");
  w.line("dy_sum += ltrt::sum_f64(kL, [&](int k) { return static_cast<double>(dy[k]); });");
  w.line("dy_xhat_sum += ltrt::sum_f64(kL, [&](int k) { return static_cast<double>(dy[k] * ((x[k] - m) * s)); });");
  w.close();
  if (affine) {
    w.line("dweight[c] = (accumulate ? dweight[c] : 0.0f) + static_cast<float>(dy_xhat_sum);");
    w.line("dbias[c] = (accumulate ? dbias[c] : 0.0f) + static_cast<float>(dy_sum);");
  }
  w.line("sum_dy[c] = dy_sum;");
  w.line("sum_dy_xhat[c] = dy_xhat_sum;");
  close_split_loop(w);
  w.line("stats[2 * kC] = count;");
  w.line("ltrt::ProcessGroup::world().sum(stats, 2 * kC + 1);  // SyncBatchNorm: every rank's sums and counts");
  w.line("const double total = stats[2 * kC];");
  open_split_loop(w, "c", "kC", channel_work, SplitIndex::rows);
  w.line("const float m = mean[c], s = rstd[c];");
  // g = dy * weight: mean(g) = weight * mean(dy), mean(g * xhat) = weight * mean(dy * xhat).
  const std::string wc = affine ? " * weight[c]" : "";
  w.line("const float mean_g = static_cast<float>(sum_dy[c] / total)" + wc + ";");
  w.line("const float mean_g_xhat = static_cast<float>(sum_dy_xhat[c] / total)" + wc + ";");
  w.open("for (int r = 0; r < n; ++r)");
  w.open("for (int k = 0; k < kL; ++k)");
  w.line("const int i = (r * kC + c) * kL + k;");
  w.line("const float xhat = (inp[i] - m) * s;");
  w.line("dinp[i] = s * (dout[i]" + wc + " - mean_g - xhat * mean_g_xhat);");
  w.close();
  w.close();
  close_split_loop(w);
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "affine");
  const bool need_dinp = attr_bool(n, "need_dinp");
  const Value& x = g.value(n.inputs[1]);
  write_sizes(w, x);
  if (syncs(n) && need_dinp) {
    emit_synced_backward(w, n, numel(x.shape) / x.shape[1]);
    return;
  }
  w.line("const int count = n * kL;");
  if (!affine) w.line("(void)accumulate;  // no parameters (affine=False)");
  w.line("// The channels split among the step's threads: each channel's sums are its own.");
  open_split_loop(w, "c", "kC", numel(x.shape) / x.shape[1], SplitIndex::rows);
  w.line("const float m = mean[c], s = rstd[c];");
  w.line("double sum_dy = 0.0, sum_dy_xhat = 0.0;");
  w.open("for (int r = 0; r < n; ++r)");
  w.line("const float* x = inp + (r * kC + c) * kL;");
  w.line("const float* dy = dout + (r * kC + c) * kL;");
  w.line("sum_dy += ltrt::sum_f64(kL, [&](int k) { return static_cast<double>(dy[k]); });");
  w.line("sum_dy_xhat += ltrt::sum_f64(kL, [&](int k) { return static_cast<double>(dy[k] * ((x[k] - m) * s)); });");
  w.close();
  if (affine) {
    w.line("dweight[c] = (accumulate ? dweight[c] : 0.0f) + static_cast<float>(sum_dy_xhat);");
    w.line("dbias[c] = (accumulate ? dbias[c] : 0.0f) + static_cast<float>(sum_dy);");
  }
  if (need_dinp) {
    // g = dy * weight: mean(g) = weight * mean(dy), mean(g * xhat) = weight * mean(dy * xhat).
    const std::string wc = affine ? " * weight[c]" : "";
    w.line("const float mean_g = static_cast<float>(sum_dy / count)" + wc + ";");
    w.line("const float mean_g_xhat = static_cast<float>(sum_dy_xhat / count)" + wc + ";");
    w.open("for (int r = 0; r < n; ++r)");
    w.open("for (int k = 0; k < kL; ++k)");
    w.line("const int i = (r * kC + c) * kL + k;");
    w.line("const float xhat = (inp[i] - m) * s;");
    w.line("dinp[i] = s * (dout[i]" + wc + " - mean_g - xhat * mean_g_xhat);");
    w.close();
    w.close();
  }
  close_split_loop(w);
}

// CUDA: the channel's elements j = 0 .. n * kL - 1 (row j / kL, position j % kL) in a kernel
// whose block is one channel c: a block-strided loop over them, `at` the element's index.
void open_channel_loop(CodeWriter& k) {
  k.open("for (int j = threadIdx.x; j < count; j += blockDim.x)");
  k.line("const int at = (j / kL * kC + c) * kL + j % kL;");
}

// CUDA forward. Training: a block per channel sums in double (the CPU's and torch's precision),
// updates the running statistics and normalises the channel. TUNE: several blocks per channel
// for a large n * kL (a second pass to combine them). Eval: a thread per element.
// The CUDA training kernel's parameters after its input, and the arguments the launch passes for
// them: weight and bias (affine), the running statistics, the count of batches where the factor
// reads it (momentum=None, StochasticWeightAveraging's switch) and the step's scalars (the switch).
struct TrainKernelTail {
  std::string params;
  std::vector<std::string> args;
};
TrainKernelTail train_kernel_tail(const Node& n) {
  TrainKernelTail t;
  const bool track = tracks(n), momentum_switch = switches_momentum(n);
  if (attr_bool(n, "affine")) {
    t.params += ", const float* __restrict__ weight, const float* __restrict__ bias";
    t.args.insert(t.args.end(), {"weight", "bias"});
  }
  if (track) {
    t.params += ", float* __restrict__ running_mean, float* __restrict__ running_var";
    t.args.insert(t.args.end(), {"running_mean", "running_var"});
  }
  if (track && (attr_bool(n, "cumulative") || momentum_switch)) {
    t.params += ", const std::int64_t* __restrict__ num_batches_tracked";
    t.args.push_back("num_batches_tracked");
  }
  if (track && momentum_switch) {
    t.params += ", const ltrt::cuda::StepScalars* __restrict__ scalars";
    t.args.push_back("ctx.scalars");
  }
  return t;
}

// The CUDA forward's kernels beside its statistics, with running statistics: evaluation's (a
// thread per element) and the count of batches.
void write_eval_and_count_kernels(CudaEmit& e, const Node& n, const std::string& ab,
                                  const std::function<void(CodeWriter&)>& constants) {
  CodeWriter& k = e.kernels;
  emit_running_stats_eval_kernel(k, e.fn + "_eval_kernel", attr_bool(n, "affine"), ab, constants);
  k.line();
  k.line(attr_bool(n, "cumulative")
             ? "// One more batch, before the statistics kernel reads the count (momentum=None: f = 1 / count)."
             : "// One more batch (module state, as torch counts).");
  k.open("__global__ void " + e.fn + "_count_kernel(std::int64_t* __restrict__ num_batches_tracked)");
  k.line("++num_batches_tracked[0];");
  k.close();
}

void emit_synced_forward_cuda(CudaEmit& e, const Node& n, const Graph& g);

void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  if (syncs(n)) {
    emit_synced_forward_cuda(e, n, g);
    return;
  }
  const bool affine = attr_bool(n, "affine");
  const bool track = tracks(n);
  const bool cumulative = attr_bool(n, "cumulative");
  const Value& x = g.value(n.inputs[0]);
  const std::string ab =
      affine ? "const float a = s * weight[c], b = bias[c] - m * a;  // y = x * a + b" : "const float a = s, b = -m * a;";
  CodeWriter& k = e.kernels;
  auto constants = [&](CodeWriter& c) {
    write_sizes(c, x);
    c.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
  };
  if (track) write_eval_and_count_kernels(e, n, ab, constants);
  k.line();
  k.line("// training: block c normalises channel c with the batch's statistics.");
  k.line("// TUNE: several blocks per channel when n * kL is large (and a second pass to combine them).");
  const TrainKernelTail tail = train_kernel_tail(n);
  k.open("__global__ void " + e.fn + "_train_kernel(float* __restrict__ out, float* __restrict__ mean, "
         "float* __restrict__ rstd, const float* __restrict__ inp" + tail.params + ", int n)");
  constants(k);
  if (track && !cumulative) k.line("constexpr float kMomentum = " + float_literal(attr_float(n, "momentum")) + ";");
  k.line("__shared__ double partial[1][kReduceThreads];");
  k.line("const int c = blockIdx.x;");
  k.line("const int count = n * kL;  // values per channel in this batch");
  k.line("double sum = 0.0;");
  open_channel_loop(k);
  k.line("sum += inp[at];");
  k.close();
  write_block_sums(k, {"sum"});
  k.line("const double md = sum / count;");
  k.line("double sum_sq = 0.0;  // two passes: no cancellation when |mean| >> std");
  open_channel_loop(k);
  k.line("const double d = inp[at] - md;");
  k.line("sum_sq += d * d;");
  k.close();
  write_block_sums(k, {"sum_sq"});
  k.line("const float m = static_cast<float>(md);");
  k.line("const float s = static_cast<float>(1.0 / std::sqrt(sum_sq / count + kEps));  // biased variance");
  k.open("if (threadIdx.x == 0)");
  k.line("mean[c] = m;");
  k.line("rstd[c] = s;");
  if (track) {
    write_momentum_factor(k, n, "scalars->batch_norm_momentum_none");
    write_running_update(k, n);
  }
  k.close();
  k.line(ab);
  open_channel_loop(k);
  k.line("out[at] = inp[at] * a + b;");
  k.close();
  k.close();

  CodeWriter& w = e.body;
  write_sizes(w, x);
  if (track) {
    emit_running_stats_eval_launch(w, e.fn + "_eval_kernel", affine);
  } else {
    w.line("(void)training;  // track_running_stats=False: batch statistics in eval too");
  }
  w.line("// As torch: training statistics need more than one value per channel.");
  w.line("if (n * kL < 2) " + one_value_error(n));
  if (track) emit_launch(w, e.fn + "_count_kernel", "1", "1", {"num_batches_tracked"});
  std::vector<std::string> args = {"out", "mean", "rstd", "inp"};
  args.insert(args.end(), tail.args.begin(), tail.args.end());
  args.push_back("n");
  emit_launch(w, e.fn + "_train_kernel", "kC", "kReduceThreads", args);
}

// SyncBatchNorm's training forward on the GPU: batch_norm's block per channel cut in three kernels,
// each channel's sums summed over the ranks (NCCL, in the step's stream and so in its graph)
// between them; the eval path and the count of batches are batch_norm's.
void emit_synced_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "affine");
  const bool track = tracks(n);
  const bool cumulative = attr_bool(n, "cumulative");
  const Value& x = g.value(n.inputs[0]);
  const std::string ab =
      affine ? "const float a = s * weight[c], b = bias[c] - m * a;  // y = x * a + b" : "const float a = s, b = -m * a;";
  CodeWriter& k = e.kernels;
  auto constants = [&](CodeWriter& c) {
    write_sizes(c, x);
    c.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";");
  };
  if (track) write_eval_and_count_kernels(e, n, ab, constants);
  k.line();
  k.line("// Block c sums channel c of this rank's batch in double; block 0 adds the count of values.");
  k.open("__global__ void " + e.fn + "_sum_kernel(double* __restrict__ stats, const float* __restrict__ inp, int n)");
  write_sizes(k, x);
  k.line("__shared__ double partial[1][kReduceThreads];");
  k.line("const int c = blockIdx.x;");
  k.line("const int count = n * kL;");
  k.line("double sum = 0.0;");
  open_channel_loop(k);
  k.line("sum += inp[at];");
  k.close();
  write_block_sums(k, {"sum"});
  k.open("if (threadIdx.x == 0)");
  k.line("stats[c] = sum;");
  k.line("if (c == 0) stats[kC] = count;");
  k.close();
  k.close();
  k.line();
  k.line("// Block c: channel c's sum of (x - mean)^2 around the mean of every rank's batch.");
  k.open("__global__ void " + e.fn + "_square_kernel(double* __restrict__ stats, const float* __restrict__ inp, int n)");
  write_sizes(k, x);
  k.line("__shared__ double partial[1][kReduceThreads];");
  k.line("const int c = blockIdx.x;");
  k.line("const int count = n * kL;");
  k.line("const double md = stats[c] / stats[kC];");
  k.line("double sum_sq = 0.0;  // two passes: no cancellation when |mean| >> std");
  open_channel_loop(k);
  k.line("const double d = inp[at] - md;");
  k.line("sum_sq += d * d;");
  k.close();
  write_block_sums(k, {"sum_sq"});
  k.line("if (threadIdx.x == 0) stats[kC + 1 + c] = sum_sq;");
  k.close();
  k.line();
  k.line("// Block c normalises channel c with the statistics of every rank's batch.");
  const TrainKernelTail tail = train_kernel_tail(n);
  k.open("__global__ void " + e.fn + "_train_kernel(float* __restrict__ out, float* __restrict__ mean, "
         "float* __restrict__ rstd, const double* __restrict__ stats, const float* __restrict__ inp" + tail.params +
         ", int n)");
  constants(k);
  if (track && !cumulative) k.line("constexpr float kMomentum = " + float_literal(attr_float(n, "momentum")) + ";");
  k.line("const int c = blockIdx.x;");
  k.line("const int count = n * kL;");
  k.line("const double total = stats[kC];  // values per channel in every rank's batch");
  k.line("const double sum_sq = stats[kC + 1 + c];");
  k.line("const float m = static_cast<float>(stats[c] / total);");
  k.line("const float s = static_cast<float>(1.0 / std::sqrt(sum_sq / total + kEps));  // biased variance");
  k.open("if (threadIdx.x == 0)");
  k.line("mean[c] = m;");
  k.line("rstd[c] = s;");
  if (track) {
    write_momentum_factor(k, n, "scalars->batch_norm_momentum_none");
    write_running_update(k, n, "total");
  }
  k.close();
  k.line(ab);
  open_channel_loop(k);
  k.line("out[at] = inp[at] * a + b;");
  k.close();
  k.close();

  CodeWriter& w = e.body;
  write_sizes(w, x);
  if (track) emit_running_stats_eval_launch(w, e.fn + "_eval_kernel", affine);
  w.line("// SyncBatchNorm (trainer.sync_batchnorm): in training, the statistics of every rank's batch together.");
  w.line(std::string("const bool synced = ctx.ranks != nullptr") + (track ? "" : " && training") + ";");
  w.line("// As torch: training statistics need more than one value per channel (every rank adds one).");
  w.line("if (n * kL < 2 && !synced) " + one_value_error(n));
  if (track) emit_launch(w, e.fn + "_count_kernel", "1", "1", {"num_batches_tracked"});
  emit_launch(w, e.fn + "_sum_kernel", "kC", "kReduceThreads", {"stats", "inp", "n"});
  w.line("if (synced) ctx.ranks->sum(stats, kC + 1, ctx.stream);");
  emit_launch(w, e.fn + "_square_kernel", "kC", "kReduceThreads", {"stats", "inp", "n"});
  w.line("if (synced) ctx.ranks->sum(stats + kC + 1, kC, ctx.stream);");
  std::vector<std::string> args = {"out", "mean", "rstd", "stats", "inp"};
  args.insert(args.end(), tail.args.begin(), tail.args.end());
  args.push_back("n");
  emit_launch(w, e.fn + "_train_kernel", "kC", "kReduceThreads", args);
}

// SyncBatchNorm's backward on the GPU, when the input needs a gradient: block c sums channel c's
// dy and dy * xhat over this rank's batch (its dweight and dbias, which DDP averages), NCCL sums
// those sums and the counts over the ranks, then a second kernel writes the input's gradient.
void emit_synced_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool affine = attr_bool(n, "affine");
  const Value& x = g.value(n.inputs[1]);
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// Block c: channel c's sums of dy and dy * xhat over this rank's batch in double; block 0 adds the count.");
  std::string sig = "__global__ void " + e.fn + "_sums_kernel(";
  if (affine) sig += "float* __restrict__ dweight, float* __restrict__ dbias, ";
  k.open(sig + "double* __restrict__ stats, const float* __restrict__ dout, const float* __restrict__ inp, "
               "const float* __restrict__ mean, const float* __restrict__ rstd, int n, bool accumulate)");
  write_sizes(k, x);
  k.line("__shared__ double partial[2][kReduceThreads];");
  k.line("const int c = blockIdx.x;");
  k.line("const int count = n * kL;");
  k.line("const float m = mean[c], s = rstd[c];");
  k.line("double sum_dy = 0.0, sum_dy_xhat = 0.0;");
  open_channel_loop(k);
  k.line("sum_dy += dout[at];");
  k.line("sum_dy_xhat += static_cast<double>(dout[at] * ((inp[at] - m) * s));");
  k.close();
  write_block_sums(k, {"sum_dy", "sum_dy_xhat"});
  k.open("if (threadIdx.x == 0)");
  if (affine) {
    k.line("dweight[c] = (accumulate ? dweight[c] : 0.0f) + static_cast<float>(sum_dy_xhat);");
    k.line("dbias[c] = (accumulate ? dbias[c] : 0.0f) + static_cast<float>(sum_dy);");
  }
  k.line("stats[c] = sum_dy;");
  k.line("stats[kC + c] = sum_dy_xhat;");
  k.line("if (c == 0) stats[2 * kC] = count;");
  k.close();
  if (!affine) k.line("(void)accumulate;  // no parameters (affine=False)");
  k.close();
  k.line();
  k.line("// Block c: channel c's input gradients from the sums over every rank's batch.");
  sig = "__global__ void " + e.fn + "_dinp_kernel(float* __restrict__ dinp, const float* __restrict__ dout, "
        "const float* __restrict__ inp, const float* __restrict__ mean, const float* __restrict__ rstd, "
        "const double* __restrict__ stats";
  if (affine) sig += ", const float* __restrict__ weight";
  k.open(sig + ", int n)");
  write_sizes(k, x);
  k.line("const int c = blockIdx.x;");
  k.line("const int count = n * kL;");
  k.line("const float m = mean[c], s = rstd[c];");
  k.line("const double total = stats[2 * kC];");
  // g = dy * weight: mean(g) = weight * mean(dy), mean(g * xhat) = weight * mean(dy * xhat).
  const std::string wc = affine ? " * weight[c]" : "";
  k.line("const float mean_g = static_cast<float>(stats[c] / total)" + wc + ";");
  k.line("const float mean_g_xhat = static_cast<float>(stats[kC + c] / total)" + wc + ";");
  open_channel_loop(k);
  k.line("const float xhat = (inp[at] - m) * s;");
  k.line("dinp[at] = s * (dout[at]" + wc + " - mean_g - xhat * mean_g_xhat);");
  k.close();
  k.close();

  CodeWriter& w = e.body;
  w.line("constexpr int kC = " + std::to_string(x.shape[1]) + ";  // a block per channel");
  std::vector<std::string> args;
  if (affine) args.insert(args.end(), {"dweight", "dbias"});
  args.insert(args.end(), {"stats", "dout", "inp", "mean", "rstd", "n", "accumulate"});
  emit_launch(w, e.fn + "_sums_kernel", "kC", "kReduceThreads", args);
  w.line("if (ctx.ranks) ctx.ranks->sum(stats, 2 * kC + 1, ctx.stream);  // SyncBatchNorm: every rank's sums and counts");
  args = {"dinp", "dout", "inp", "mean", "rstd", "stats"};
  if (affine) args.push_back("weight");
  args.push_back("n");
  emit_launch(w, e.fn + "_dinp_kernel", "kC", "kReduceThreads", args);
}

// CUDA backward: a block per channel, the two sums in double as on the CPU, then the channel's
// input gradients. TUNE: several blocks per channel for a large n * kL.
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  if (syncs(n) && attr_bool(n, "need_dinp")) {
    emit_synced_backward_cuda(e, n, g);
    return;
  }
  const bool affine = attr_bool(n, "affine");
  const bool need_dinp = attr_bool(n, "need_dinp");
  const Value& x = g.value(n.inputs[1]);
  CodeWriter& k = e.kernels;
  std::string sig = "__global__ void " + e.fn + "_kernel(";
  if (need_dinp) sig += "float* __restrict__ dinp, ";
  if (affine) sig += "float* __restrict__ dweight, float* __restrict__ dbias, ";
  sig += "const float* __restrict__ dout, const float* __restrict__ inp, const float* __restrict__ mean, "
         "const float* __restrict__ rstd";
  if (affine) sig += ", const float* __restrict__ weight";
  k.line();
  k.line("// Block c: channel c's sums of dy and dy * xhat in double, then its gradients.");
  k.line("// TUNE: several blocks per channel when n * kL is large.");
  k.open(sig + ", int n, bool accumulate)");
  write_sizes(k, x);
  k.line("__shared__ double partial[2][kReduceThreads];");
  k.line("const int c = blockIdx.x;");
  k.line("const int count = n * kL;");
  k.line("const float m = mean[c], s = rstd[c];");
  k.line("double sum_dy = 0.0, sum_dy_xhat = 0.0;");
  open_channel_loop(k);
  k.line("sum_dy += dout[at];");
  k.line("sum_dy_xhat += static_cast<double>(dout[at] * ((inp[at] - m) * s));");
  k.close();
  write_block_sums(k, {"sum_dy", "sum_dy_xhat"});
  if (affine) {
    k.open("if (threadIdx.x == 0)");
    k.line("dweight[c] = (accumulate ? dweight[c] : 0.0f) + static_cast<float>(sum_dy_xhat);");
    k.line("dbias[c] = (accumulate ? dbias[c] : 0.0f) + static_cast<float>(sum_dy);");
    k.close();
  } else {
    k.line("(void)accumulate;  // no parameters (affine=False)");
  }
  if (need_dinp) {
    // g = dy * weight: mean(g) = weight * mean(dy), mean(g * xhat) = weight * mean(dy * xhat).
    const std::string wc = affine ? " * weight[c]" : "";
    k.line("const float mean_g = static_cast<float>(sum_dy / count)" + wc + ";");
    k.line("const float mean_g_xhat = static_cast<float>(sum_dy_xhat / count)" + wc + ";");
    open_channel_loop(k);
    k.line("const float xhat = (inp[at] - m) * s;");
    k.line("dinp[at] = s * (dout[at]" + wc + " - mean_g - xhat * mean_g_xhat);");
    k.close();
  }
  k.close();

  CodeWriter& w = e.body;
  w.line("constexpr int kC = " + std::to_string(x.shape[1]) + ";  // a block per channel");
  std::vector<std::string> args;
  if (need_dinp) args.push_back("dinp");
  if (affine) args.insert(args.end(), {"dweight", "dbias"});
  args.insert(args.end(), {"dout", "inp", "mean", "rstd"});
  if (affine) args.push_back("weight");
  args.insert(args.end(), {"n", "accumulate"});
  emit_launch(w, e.fn + "_kernel", "kC", "kReduceThreads", args);
}

}  // namespace

void emit_running_stats_eval_kernel(CodeWriter& k, const std::string& kernel, bool affine, const std::string& terms,
                                    const std::function<void(CodeWriter&)>& constants) {
  k.line();
  k.line("// eval: the running statistics, a thread per element");
  std::vector<std::string> params = {"float* __restrict__ out", "const float* __restrict__ inp"};
  if (affine) params.insert(params.end(), {"const float* __restrict__ weight", "const float* __restrict__ bias"});
  params.insert(params.end(), {"const float* __restrict__ running_mean", "const float* __restrict__ running_var"});
  open_element_kernel(k, kernel, params, constants);
  k.line("const int c = i / kL % kC;");
  k.line("const float m = running_mean[c];");
  k.line("const float s = 1.0f / std::sqrt(running_var[c] + kEps);");
  k.line(terms);
  k.line("out[i] = inp[i] * a + b;");
  k.close();
}

void emit_running_stats_eval_launch(CodeWriter& w, const std::string& kernel, bool affine) {
  w.open("if (!training)");
  std::vector<std::string> args = {"out", "inp"};
  if (affine) args.insert(args.end(), {"weight", "bias"});
  args.insert(args.end(), {"running_mean", "running_var"});
  emit_count_launch(w, kernel, "n * kC * kL", args);
  w.line("return;");
  w.close();
}

void register_batch_norm(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "batch_norm";
  f.training_mode = true;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    if (x.shape.size() < 2 || x.shape[1] != attr_int(n, "num_features"))
      throw ShapeError("batch_norm: input " + shape_str(x.shape) + " does not have num_features=" +
                       std::to_string(attr_int(n, "num_features")) + " channels in dim 1");
    const Shape stats = {x.shape[1]};
    std::vector<OutputType> t = {{x.dtype, x.shape, x.batched}, {DType::f32, stats, false}, {DType::f32, stats, false}};
    // SyncBatchNorm: each channel's sum, the count, each channel's sum of squares (summed over the ranks)
    if (syncs(n)) t.push_back({DType::f64, {2 * x.shape[1] + 1}, false});
    return t;
  };
  f.slots = [](const Node& n) {
    Slots s{{"out", "mean", "rstd"}, {"inp"}};
    if (syncs(n)) s.outputs.push_back("stats");
    if (attr_bool(n, "affine")) {
      s.inputs.push_back("weight");
      s.inputs.push_back("bias");
    }
    if (tracks(n)) {
      s.inputs.push_back("running_mean");
      s.inputs.push_back("running_var");
      s.inputs.push_back("num_batches_tracked");
    }
    return s;
  };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    const double c = static_cast<double>(attr_int(n, "num_features"));
    return Cost{6 * e, 4 * (3 * e + 8 * c)};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    const bool affine = attr_bool(n, "affine");
    const bool need_dinp = ad.needs_grad(x);
    std::vector<int> grads(n.inputs.size(), -1);  // parameter gradients live in the grad region
    if (dout[0] < 0 || (!need_dinp && !affine)) return grads;
    Node b;
    b.op = "batch_norm_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.attrs["need_dinp"] = need_dinp;
    b.inputs = {dout[0], x, n.outputs[1], n.outputs[2]};  // dout, inp, mean, rstd
    if (affine) b.inputs.push_back(n.inputs[1]);
    if (need_dinp) b.outputs.push_back(-1);
    if (affine) {
      b.outputs.push_back(ad.param_grad(n.inputs[1]));
      b.outputs.push_back(ad.param_grad(n.inputs[2]));
    }
    if (syncs(n) && need_dinp) {  // SyncBatchNorm's sums of dy and dy * xhat, and the count, over the ranks
      Value stats;
      stats.name = unused_name(ad.graph, ad.grad_name(x) + "_stats");
      stats.dtype = DType::f64;
      stats.shape = {2 * attr_int(n, "num_features") + 1};
      b.outputs.push_back(ad.graph.add_value(std::move(stats)));
    }
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    if (need_dinp) grads[0] = ad.graph.nodes[id].outputs[0];
    return grads;
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "batch_norm_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    const Shape c = {x.shape[1]};
    std::vector<OutputType> t;
    if (attr_bool(n, "need_dinp")) t.push_back({x.dtype, x.shape, x.batched});
    if (attr_bool(n, "affine")) {
      t.push_back({DType::f32, c, false});
      t.push_back({DType::f32, c, false});
    }
    if (syncs(n) && attr_bool(n, "need_dinp")) t.push_back({DType::f64, {2 * x.shape[1] + 1}, false});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dout", "inp", "mean", "rstd"}};
    if (attr_bool(n, "need_dinp")) s.outputs.push_back("dinp");
    if (attr_bool(n, "affine")) {
      s.inputs.push_back("weight");
      s.outputs.push_back("dweight");
      s.outputs.push_back("dbias");
    }
    if (syncs(n) && attr_bool(n, "need_dinp")) s.outputs.push_back("stats");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{10 * e, 4 * (3 * e + 6 * static_cast<double>(attr_int(n, "num_features")))};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  for (const int dims : {1, 2, 3}) {
    LayerDef l;
    l.torch_type = "BatchNorm" + std::to_string(dims) + "d";
    ArgDef features{"num_features", ArgType::integer, std::nullopt, true};
    features.min = 1;
    ArgDef eps{"eps", ArgType::number, Attr{1e-5}};
    eps.min = 0.0;
    ArgDef momentum{"momentum", ArgType::number, Attr{0.1}};
    momentum.nullable = true;  // None: cumulative moving average
    l.args = {features, eps, momentum, {"affine", ArgType::boolean, Attr{true}},
              {"track_running_stats", ArgType::boolean, Attr{true}}};
    l.build = [dims](LayerBuild& b, const std::vector<int>& in) {
      const Value& x = b.graph.value(in.at(0));
      const size_t rank = x.shape.size();  // with the batch
      if (dims == 1 && rank != 2 && rank != 3)
        throw ShapeError("expects a 2-d (N, C) or 3-d (N, C, L) input, got " + shape_str(x.shape) +
                         (rank == 4 ? "; use BatchNorm2d for (N, C, H, W)" : "") +
                         (rank == 5 ? "; use BatchNorm3d for (N, C, D, H, W)" : ""));
      if (dims == 2 && rank != 4)
        throw ShapeError("expects a 4-d (N, C, H, W) input, got " + std::to_string(rank) + "-d " +
                         shape_str(x.shape) + (rank == 2 || rank == 3 ? "; use BatchNorm1d for (N, C) or (N, C, L)" : "") +
                         (rank == 5 ? "; use BatchNorm3d for (N, C, D, H, W)" : ""));
      if (dims == 3 && rank != 5)
        throw ShapeError("expects a 5-d (N, C, D, H, W) input, got " + std::to_string(rank) + "-d " +
                         shape_str(x.shape) + (rank == 4 ? "; use BatchNorm2d for (N, C, H, W)" : ""));
      const std::int64_t channels = x.shape[1];
      auto given = b.args.find("num_features");
      if (given != b.args.end() && std::get<std::int64_t>(given->second) != channels)
        throw ShapeError("num_features " + std::to_string(std::get<std::int64_t>(given->second)) +
                         " does not match the input " + shape_str(x.shape) + ", which has " +
                         std::to_string(channels) + " channels in dim 1; remove num_features to infer it");
      const bool affine = std::get<bool>(b.args.at("affine"));
      const bool track = std::get<bool>(b.args.at("track_running_stats"));
      const auto momentum = b.args.find("momentum");  // absent: None
      Node n;
      n.op = "batch_norm";
      n.layer = b.layer;
      n.source = b.source;
      n.attrs["num_features"] = channels;
      n.attrs["eps"] = b.args.at("eps");
      n.attrs["cumulative"] = momentum == b.args.end();
      if (momentum != b.args.end()) n.attrs["momentum"] = momentum->second;
      n.attrs["affine"] = affine;
      n.attrs["track_running_stats"] = track;
      if (b.sync_batchnorm) n.attrs["sync"] = true;
      n.inputs = {in.at(0)};
      // torch.nn.BatchNorm reset_parameters: weight ones, bias zeros; running_mean zeros,
      // running_var ones, num_batches_tracked 0 (int64).
      if (affine) {
        n.inputs.push_back(add_param(b.graph, b.layer + ".weight", Shape{channels}));
        b.graph.value(n.inputs.back()).init = Init::ones;
        n.inputs.push_back(add_param(b.graph, b.layer + ".bias", Shape{channels}));
        b.graph.value(n.inputs.back()).init = Init::zeros;
      }
      if (track) {
        n.inputs.push_back(add_state(b.graph, b.layer + ".running_mean", Shape{channels}, DType::f32, Init::zeros));
        n.inputs.push_back(add_state(b.graph, b.layer + ".running_var", Shape{channels}, DType::f32, Init::ones));
        n.inputs.push_back(add_state(b.graph, b.layer + ".num_batches_tracked", Shape{}, DType::i64, Init::zeros));
      }
      const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
      return b.graph.nodes[id].outputs[0];
    };
    layers.push_back(std::move(l));
  }
}

}  // namespace ltgen
