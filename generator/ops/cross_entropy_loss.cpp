/// \file
/// CrossEntropyLoss on logits (batch, C) and int64 class targets (batch,), with
/// label_smoothing and ignore_index as torch.nn.CrossEntropyLoss:
///   loss_i = lse_i - (1 - eps) x_i[t_i] - eps / C * sum_k x_i[k]
///   d loss_i / d x_i[k] = softmax_i[k] - (1 - eps) [k == t_i] - eps / C
/// Reduction 'mean' divides by the number of rows whose target is not ignored.
/// Sequences: logits (batch, T, C) and targets (batch, T) are batch * T rows,
/// as a Lightning user writes F.cross_entropy(logits.view(-1, C), y.view(-1)):
/// the mean is over every position of the batch whose target is not ignored.
#include <algorithm>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

namespace {

// Labels per sample: 1, or T for a sequence of labels (batch, T).
std::int64_t positions(const Value& target) {
  std::int64_t p = 1;
  for (size_t d = 1; d < target.shape.size(); ++d) p *= target.shape[d];
  return p;
}

// with_positions: the CPU loops count rows from it; CUDA kernels get the row count instead.
void write_constants(CodeWriter& w, const Node& n, const Value& target, bool with_positions = true) {
  w.line("constexpr int kClasses = " + std::to_string(attr_int(n, "num_classes")) + ";");
  if (with_positions && positions(target) > 1)
    w.line("constexpr int kPositions = " + std::to_string(positions(target)) +
           ";  // labels per sample: rows are (sample, position)");
  w.line("constexpr float kLabelSmoothing = " + float_literal(attr_float(n, "label_smoothing")) + ";");
  w.line("constexpr std::int64_t kIgnoreIndex = " + std::to_string(attr_int(n, "ignore_index")) + ";");
}

// The loop bound over rows: samples, or (sample, position) pairs.
std::string rows(const Value& target) { return positions(target) > 1 ? "n * kPositions" : "n"; }

// Writes `max` and `lse` (log-sum-exp) of row `row`.
void write_logsumexp(CodeWriter& w) {
  w.line("float max = row[0];");
  w.line("for (int k = 1; k < kClasses; ++k) max = std::max(max, row[k]);");
  w.line("float sum_exp = 0.0f;");
  w.line("for (int k = 0; k < kClasses; ++k) sum_exp += ltrt::exp_vec(row[k] - max);");
  w.line("const float lse = max + std::log(sum_exp);");
}

// CUDA: a block's threads count the rows whose target is not ignored (every block the same
// number, in the same order), for reduction='mean'.
void write_count_rows_cuda(CodeWriter& k) {
  k.line("__shared__ int counts[kReduceThreads];");
  k.line("int mine = 0;");
  k.line("for (int i = threadIdx.x; i < rows; i += blockDim.x) mine += target[i] != kIgnoreIndex;");
  k.line("counts[threadIdx.x] = mine;");
  k.line("__syncthreads();");
  k.open("for (int s = blockDim.x / 2; s > 0; s /= 2)");
  k.line("if (threadIdx.x < s) counts[threadIdx.x] += counts[threadIdx.x + s];");
  k.line("__syncthreads();");
  k.close();
  k.line("const int count = counts[0];");
}

}  // namespace

void register_cross_entropy_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "cross_entropy_loss";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const Value& t = g.value(n.inputs.at(1));
    const std::int64_t classes = attr_int(n, "num_classes");
    if (x.shape.size() < 2 || x.shape.back() != classes)
      throw ShapeError("expects logits of shape (batch, [T,] " + std::to_string(classes) +
                       ") for num_classes=" + std::to_string(classes) + ", got " + shape_str(x.shape));
    if (t.dtype != DType::i64 || t.shape.size() + 1 != x.shape.size() ||
        !std::equal(t.shape.begin(), t.shape.end(), x.shape.begin()))
      throw ShapeError("expects int64 class targets of shape " + shape_str(Shape(x.shape.begin(), x.shape.end() - 1)) +
                       " for logits " + shape_str(x.shape) + ": set model.target to {\"dtype\": \"int64\", "
                       "\"num_classes\": " + std::to_string(classes) +
                       (x.shape.size() > 2 ? ", \"shape\": [...]" : "") + "}");
    return std::vector<OutputType>{{DType::f32, {}, false}};
  };
  f.slots = [](const Node&) { return Slots{{"loss"}, {"inp", "target"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e * 6, e * 4};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n, g.value(n.inputs[1]));
    w.line("double sum = 0.0;");
    w.line("int count = 0;  // rows whose target is not ignored");
    w.open("for (int i = 0; i < " + rows(g.value(n.inputs[1])) + "; ++i)");
    w.line("const std::int64_t t = target[i];");
    w.line("if (t == kIgnoreIndex) continue;");
    w.line("const float* row = inp + i * kClasses;");
    write_logsumexp(w);
    w.line("float row_sum = 0.0f;");
    w.line("for (int k = 0; k < kClasses; ++k) row_sum += row[k];");
    w.line("sum += lse - (1.0f - kLabelSmoothing) * row[t] - kLabelSmoothing / kClasses * row_sum;");
    w.line("++count;");
    w.close();
    if (attr_str(n, "reduction") == "mean")
      w.line("loss[0] = static_cast<float>(sum / count);  // reduction='mean' (NaN when every target is ignored, as torch)");
    else
      w.line("loss[0] = static_cast<float>(sum);  // reduction='sum'");
  };
  // CUDA forward: one block; each thread takes rows in turn (log-sum-exp over the row as on
  // the CPU), the sums meet in a tree of doubles.
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    CodeWriter& k = e.kernels;
    k.line();
    k.open("__global__ void " + e.fn + "_kernel(float* __restrict__ loss, const float* __restrict__ inp, "
           "const std::int64_t* __restrict__ target, int rows)");
    write_constants(k, n, g.value(n.inputs[1]), false);
    k.line("__shared__ double partial[kReduceThreads];");
    k.line("__shared__ int counts[kReduceThreads];");
    k.line("double sum = 0.0;");
    k.line("int count = 0;");
    k.open("for (int i = threadIdx.x; i < rows; i += blockDim.x)");
    k.line("const std::int64_t t = target[i];");
    k.line("if (t == kIgnoreIndex) continue;");
    k.line("const float* row = inp + static_cast<std::int64_t>(i) * kClasses;");
    write_logsumexp(k);
    k.line("float row_sum = 0.0f;");
    k.line("for (int c = 0; c < kClasses; ++c) row_sum += row[c];");
    k.line("sum += lse - (1.0f - kLabelSmoothing) * row[t] - kLabelSmoothing / kClasses * row_sum;");
    k.line("++count;");
    k.close();
    k.line("partial[threadIdx.x] = sum;");
    k.line("counts[threadIdx.x] = count;");
    k.line("__syncthreads();");
    k.open("for (int s = blockDim.x / 2; s > 0; s /= 2)");
    k.open("if (threadIdx.x < s)");
    k.line("partial[threadIdx.x] += partial[threadIdx.x + s];");
    k.line("counts[threadIdx.x] += counts[threadIdx.x + s];");
    k.close();
    k.line("__syncthreads();");
    k.close();
    if (attr_str(n, "reduction") == "mean")
      k.line("if (threadIdx.x == 0) loss[0] = static_cast<float>(partial[0] / counts[0]);  // reduction='mean' (NaN when every target is ignored, as torch)");
    else
      k.line("if (threadIdx.x == 0) loss[0] = static_cast<float>(partial[0]);  // reduction='sum'");
    k.close();
    const Value& target = g.value(n.inputs[1]);
    if (positions(target) > 1) e.body.line("constexpr int kPositions = " + std::to_string(positions(target)) + ";");
    emit_launch(e.body, e.fn + "_kernel", "1", "kReduceThreads", {"loss", "inp", "target", rows(target)});
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1, -1};
    Node b;
    b.op = "cross_entropy_loss_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], x, n.inputs[1]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0], -1};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "cross_entropy_loss_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dloss", "inp", "target"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{e * 6, e * 8};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_constants(w, n, g.value(n.inputs[2]));
    if (attr_str(n, "reduction") == "mean") {
      w.line("int count = 0;");
      w.line("for (int i = 0; i < " + rows(g.value(n.inputs[2])) + "; ++i) count += target[i] != kIgnoreIndex;");
      w.line("const float scale = dloss[0] / static_cast<float>(count);  // reduction='mean'");
    } else {
      w.line("const float scale = dloss[0];  // reduction='sum'");
    }
    w.open("for (int i = 0; i < " + rows(g.value(n.inputs[2])) + "; ++i)");
    w.line("const std::int64_t t = target[i];");
    w.line("const float* row = inp + i * kClasses;");
    w.line("float* drow = dinp + i * kClasses;");
    w.open("if (t == kIgnoreIndex)");
    w.line("std::fill(drow, drow + kClasses, 0.0f);");
    w.line("continue;");
    w.close();
    write_logsumexp(w);
    w.open("for (int k = 0; k < kClasses; ++k)");
    w.line("const float softmax = ltrt::exp_vec(row[k] - lse);");
    w.line("drow[k] = scale * (softmax - (k == t ? 1.0f - kLabelSmoothing : 0.0f) - kLabelSmoothing / kClasses);");
    w.close();
    w.close();
  };
  // CUDA backward: the softmax gradient, one thread a row (a block of kReduceThreads rows).
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const bool mean = attr_str(n, "reduction") == "mean";
    CodeWriter& k = e.kernels;
    k.line();
    k.open("__global__ void " + e.fn + "_kernel(float* __restrict__ dinp, const float* __restrict__ dloss, "
           "const float* __restrict__ inp, const std::int64_t* __restrict__ target, int rows)");
    write_constants(k, n, g.value(n.inputs[2]), false);
    if (mean) {
      write_count_rows_cuda(k);
      k.line("const float scale = dloss[0] / static_cast<float>(count);  // reduction='mean'");
    } else {
      k.line("const float scale = dloss[0];  // reduction='sum'");
    }
    k.line("const int i = blockIdx.x * blockDim.x + threadIdx.x;");
    k.line("if (i >= rows) return;");
    k.line("const std::int64_t t = target[i];");
    k.line("const float* row = inp + static_cast<std::int64_t>(i) * kClasses;");
    k.line("float* drow = dinp + static_cast<std::int64_t>(i) * kClasses;");
    k.open("if (t == kIgnoreIndex)");
    k.line("for (int c = 0; c < kClasses; ++c) drow[c] = 0.0f;");
    k.line("return;");
    k.close();
    write_logsumexp(k);
    k.open("for (int c = 0; c < kClasses; ++c)");
    k.line("const float softmax = ltrt::exp_vec(row[c] - lse);");
    k.line("drow[c] = scale * (softmax - (c == t ? 1.0f - kLabelSmoothing : 0.0f) - kLabelSmoothing / kClasses);");
    k.close();
    k.close();
    const Value& target = g.value(n.inputs[2]);
    if (positions(target) > 1) e.body.line("constexpr int kPositions = " + std::to_string(positions(target)) + ";");
    e.body.line("const int rows = " + rows(target) + ";");
    emit_launch(e.body, e.fn + "_kernel", "ltrt::cuda::blocks_for(rows, kReduceThreads)", "kReduceThreads",
                {"dinp", "dloss", "inp", "target", "rows"});
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "CrossEntropyLoss";
  l.is_loss = true;
  ArgDef smoothing{"label_smoothing", ArgType::number, Attr{0.0}};
  smoothing.min = 0.0;
  smoothing.max = 1.0;
  l.args = {reduction_arg(), smoothing, {"ignore_index", ArgType::integer, Attr{std::int64_t{-100}}}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    Node n;
    n.op = "cross_entropy_loss";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs = b.args;
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() < 2)
      throw ShapeError("CrossEntropyLoss expects logits (batch, classes) or (batch, T, classes), got " +
                       shape_str(x.shape));
    n.attrs["num_classes"] = x.shape.back();
    n.inputs = {in.at(0), in.at(1)};
    const int id = add_op(b.graph, std::move(n), "loss");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
