/// \file
/// Softmax(dim) as torch.nn.Softmax, and the lowering LogSoftmax shares:
///   y_k = exp(x_k - max) / sum_j exp(x_j - max)       (max over the dimension: no overflow)
///   dx_k = y_k * (dy_k - sum_j dy_j y_j)               (torch's _softmax_backward_data)
/// and for LogSoftmax
///   y_k = x_k - max - log(sum_j exp(x_j - max))
///   dx_k = dy_k - exp(y_k) * sum_j dy_j                (torch's _log_softmax_backward_data)
/// Both backward rules read the output, not the input.
#include "softmax.hpp"
#include "../autocast.hpp"

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// The per-sample layout around the softmax dimension `axis` (>= 1) of `x`.
void write_sizes(CodeWriter& w, const Node& n, const Value& x) {
  const auto axis = static_cast<size_t>(attr_int(n, "axis"));
  std::int64_t outer = 1, inner = 1;
  for (size_t d = 1; d < axis; ++d) outer *= x.shape[d];
  for (size_t d = axis + 1; d < x.shape.size(); ++d) inner *= x.shape[d];
  w.line("// per sample (outer, size, inner) = (" + std::to_string(outer) + ", " + std::to_string(x.shape[axis]) +
         ", " + std::to_string(inner) + "): dim=" + std::to_string(attr_int(n, "dim")) + " of " + shape_str(x.shape));
  w.line("constexpr int kOuter = " + std::to_string(outer) + ", kSize = " + std::to_string(x.shape[axis]) +
         ", kInner = " + std::to_string(inner) + ";");
}

void open_lines(CodeWriter& w) {
  w.open("for (int o = 0; o < n * kOuter; ++o)");
  w.open("for (int i = 0; i < kInner; ++i)");
  w.line("const int base = o * kSize * kInner + i;  // element k of this line is base + k * kInner");
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g, bool log) {
  write_sizes(w, n, g.value(n.inputs[0]));
  epilogue_constants(w, n);  // softmax's epilogue: bf16-mixed's rounding, which the backward reads
  open_lines(w);
  w.line("const float* x = inp + base;");
  w.line("float* y = out + base;");
  w.line("float max = x[0];");
  w.line("for (int k = 1; k < kSize; ++k) max = std::max(max, x[k * kInner]);");
  w.line("float sum = 0.0f;");
  if (log && n.attrs.count("bf16")) {
    // bf16-mixed (autocast.cpp): torch's bfloat16 kernel keeps the sum and its log in bfloat16.
    w.line("for (int k = 0; k < kSize; ++k) sum += ltrt::exp_vec(x[k * kInner] - max);");
    w.line("const float log_sum = " + autocast_round() + "(std::log(" + autocast_round() + "(sum)));");
    w.line("for (int k = 0; k < kSize; ++k) y[k * kInner] = " + autocast_round() + "((x[k * kInner] - max) - log_sum);");
  } else if (log) {
    w.line("for (int k = 0; k < kSize; ++k) sum += ltrt::exp_vec(x[k * kInner] - max);");
    w.line("const float lse = max + std::log(sum);");
    w.line("for (int k = 0; k < kSize; ++k) y[k * kInner] = x[k * kInner] - lse;");
  } else {
    w.open("for (int k = 0; k < kSize; ++k)");
    w.line("const float e = ltrt::exp_vec(x[k * kInner] - max);");
    w.line("y[k * kInner] = e;");
    w.line("sum += e;");
    w.close();
    w.line("const float scale = 1.0f / sum;");
    w.line("for (int k = 0; k < kSize; ++k) y[k * kInner] = " + apply_epilogue(n, "y[k * kInner] * scale") + ";");
  }
  w.close();
  w.close();
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g, bool log) {
  write_sizes(w, n, g.value(n.inputs[1]));
  open_lines(w);
  w.line("const float* dy = dout + base;");
  w.line("const float* y = out + base;");
  w.line("float* dx = dinp + base;");
  if (log) {
    w.line("float sum_dy = 0.0f;");
    w.line("for (int k = 0; k < kSize; ++k) sum_dy += dy[k * kInner];");
    w.line("for (int k = 0; k < kSize; ++k) dx[k * kInner] = dy[k * kInner] - ltrt::exp_vec(y[k * kInner]) * sum_dy;");
  } else {
    w.line("float dot = 0.0f;  // sum of dy * y");
    w.line("for (int k = 0; k < kSize; ++k) dot += dy[k * kInner] * y[k * kInner];");
    w.line("for (int k = 0; k < kSize; ++k) dx[k * kInner] = y[k * kInner] * (dy[k * kInner] - dot);");
  }
  w.close();
  w.close();
}

// CUDA. A line is kSize elements kInner apart. Contiguous lines (kInner = 1: dim is the last
// dimension) go to a row kernel: a warp (a block, for long lines) shares a line, with coalesced
// loads and tree reductions for its max and sums. Strided lines (kInner > 1) keep a thread a
// line: adjacent threads take adjacent lines, whose elements are adjacent floats, so their loads
// are coalesced already. TUNE: for long strided lines, a tile of 32 lines with several threads
// along each. Either way the formulas are the CPU's; only the order of a row kernel's sums differs.
struct LineKernel {
  bool rows;          // a row kernel (kInner = 1); else a thread a line
  RowSplit split;     // the row kernel's warp or block
  std::string loop;   // the loop over the thread's elements k of its line
  std::string stride; // the element's offset in its line: "k" or "k * kInner"

  // `var` combined over the threads of a row kernel's line.
  std::string combine(const std::string& var, bool max) const {
    return var + " = " + (max ? row_max(split, var) : row_sum(split, var)) + ";";
  }
};

LineKernel open_line_kernel(CudaEmit& e, const Node& n, const Value& x, const std::string& kernel,
                            const std::string& params) {
  const auto axis = static_cast<size_t>(attr_int(n, "axis"));
  const std::int64_t size = x.shape[axis];
  const std::int64_t inner = numel(Shape(x.shape.begin() + static_cast<long>(axis) + 1, x.shape.end()));
  LineKernel l;
  l.rows = inner == 1;
  l.split = split_rows(size);
  CodeWriter& k = e.kernels;
  k.line();
  k.open("__global__ void " + kernel + "(" + params + ", int lines)");
  const std::string where = "along dim=" + std::to_string(attr_int(n, "dim")) + " of " + shape_str(x.shape);
  if (l.rows) {
    k.line("// a line: kSize contiguous floats, " + where);
    k.line("constexpr int kSize = " + std::to_string(size) + ";");
    open_row(k, l.split, "line", "lines");
    k.line("const std::int64_t base = static_cast<std::int64_t>(line) * kSize;");
    l.loop = "for (int k = t; k < kSize; k += kRowThreads)";
    l.stride = "k";
  } else {
    k.line("// a line: kSize elements kInner apart, " + where + "; a thread a line");
    k.line("constexpr int kSize = " + std::to_string(size) + ", kInner = " + std::to_string(inner) + ";");
    k.line("const int line = blockIdx.x * blockDim.x + threadIdx.x;");
    k.line("if (line >= lines) return;");
    k.line("// element k of this line is base + k * kInner");
    k.line("const std::int64_t base = static_cast<std::int64_t>(line / kInner) * kSize * kInner + line % kInner;");
    l.loop = "for (int k = 0; k < kSize; ++k)";
    l.stride = "k * kInner";
  }
  return l;
}

void launch_lines(CudaEmit& e, const Node& n, const Value& x, const LineKernel& l, const std::string& kernel,
                  std::vector<std::string> args) {
  const auto axis = static_cast<size_t>(attr_int(n, "axis"));
  e.body.line("constexpr int kLinesPerSample = " + std::to_string(per_sample_numel(x) / x.shape[axis]) +
              ";  // softmaxes per sample: outer * inner");
  e.body.line("const int lines = n * kLinesPerSample;");
  args.push_back("lines");
  if (l.rows)
    emit_row_launch(e.body, kernel, l.split, "lines", args);
  else
    emit_launch(e.body, kernel, "ltrt::cuda::blocks_for(lines, kThreads)", "kThreads", args);
}

void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g, bool log) {
  const Value& x = g.value(n.inputs[0]);
  const std::string kernel = e.fn + "_kernel";
  const LineKernel l = open_line_kernel(e, n, x, kernel, "float* __restrict__ out, const float* __restrict__ inp");
  CodeWriter& k = e.kernels;
  epilogue_constants(k, n);
  const std::string at = "[" + l.stride + "]";
  k.line("const float* x = inp + base;");
  k.line("float* y = out + base;");
  k.line("float max = -INFINITY;");
  k.line(l.loop + " max = fmaxf(max, x" + at + ");");
  if (l.rows) k.line(l.combine("max", true));
  k.line("float sum = 0.0f;");
  if (log && n.attrs.count("bf16")) {
    // bf16-mixed (autocast.cpp): the sum and its log rounded to bfloat16, as the CPU's.
    k.line(l.loop + " sum += ltrt::exp_vec(x" + at + " - max);");
    if (l.rows) k.line(l.combine("sum", false));
    k.line("const float log_sum = " + autocast_round() + "(std::log(" + autocast_round() + "(sum)));");
    k.line(l.loop + " y" + at + " = " + autocast_round() + "((x" + at + " - max) - log_sum);");
  } else if (log) {
    k.line(l.loop + " sum += ltrt::exp_vec(x" + at + " - max);");
    if (l.rows) k.line(l.combine("sum", false));
    k.line("const float lse = max + std::log(sum);");
    k.line(l.loop + " y" + at + " = x" + at + " - lse;");
  } else {
    k.open(l.loop);
    k.line("const float e = ltrt::exp_vec(x" + at + " - max);");
    k.line("y" + at + " = e;");
    k.line("sum += e;");
    k.close();
    if (l.rows) k.line(l.combine("sum", false));
    k.line("const float scale = 1.0f / sum;");
    k.line(l.loop + " y" + at + " = " + apply_epilogue(n, "y" + at + " * scale") + ";");  // (bf16-mixed: rounded)
  }
  k.close();
  launch_lines(e, n, x, l, kernel, {"out", "inp"});
}

void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g, bool log) {
  const Value& y = g.value(n.inputs[1]);
  const std::string kernel = e.fn + "_kernel";
  const LineKernel l = open_line_kernel(
      e, n, y, kernel, "float* __restrict__ dinp, const float* __restrict__ dout, const float* __restrict__ out");
  CodeWriter& k = e.kernels;
  const std::string at = "[" + l.stride + "]";
  k.line("const float* dy = dout + base;");
  k.line("const float* y = out + base;");
  k.line("float* dx = dinp + base;");
  if (log) {
    k.line("float sum_dy = 0.0f;");
    k.line(l.loop + " sum_dy += dy" + at + ";");
    if (l.rows) k.line(l.combine("sum_dy", false));
    k.line(l.loop + " dx" + at + " = dy" + at + " - ltrt::exp_vec(y" + at + ") * sum_dy;");
  } else {
    k.line("float dot = 0.0f;  // sum of dy * y");
    k.line(l.loop + " dot += dy" + at + " * y" + at + ";");
    if (l.rows) k.line(l.combine("dot", false));
    k.line(l.loop + " dx" + at + " = y" + at + " * (dy" + at + " - dot);");
  }
  k.close();
  launch_lines(e, n, y, l, kernel, {"dinp", "dout", "out"});
}

}  // namespace

void register_softmax_kind(std::vector<OpDef>& ops, std::vector<LayerDef>& layers, bool log) {
  const std::string name = log ? "log_softmax" : "softmax";
  OpDef f;
  f.name = name;
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const std::int64_t axis = attr_int(n, "axis");
    if (axis < 1 || axis >= static_cast<std::int64_t>(x.shape.size()))
      throw ShapeError("dim " + std::to_string(attr_int(n, "dim")) + " is not a sample dimension of " +
                       shape_str(x.shape));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{5 * e, 8 * e};
  };
  f.emit_cpu = [log](CodeWriter& w, const Node& n, const Graph& g) { emit_forward(w, n, g, log); };
  f.emit_cuda = [log](CudaEmit& e, const Node& n, const Graph& g) { emit_forward_cuda(e, n, g, log); };
  f.backward = [name](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;
    b.op = name + "_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], n.outputs[0]};  // the rule reads the output
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = name + "_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& y = g.value(n.inputs.at(1));
    return std::vector<OutputType>{{y.dtype, y.shape, y.batched}};
  };
  b.slots = [](const Node&) { return Slots{{"dinp"}, {"dout", "out"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    return Cost{4 * e, 12 * e};
  };
  b.emit_cpu = [log](CodeWriter& w, const Node& n, const Graph& g) { emit_backward(w, n, g, log); };
  b.emit_cuda = [log](CudaEmit& e, const Node& n, const Graph& g) { emit_backward_cuda(e, n, g, log); };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = log ? "LogSoftmax" : "Softmax";
  // torch's dim=None picks a dimension from the input's rank (deprecated): the spec names it.
  l.args = {{"dim", ArgType::integer, std::nullopt}};
  l.build = [name](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    const auto rank = static_cast<std::int64_t>(x.shape.size());
    const std::int64_t dim = std::get<std::int64_t>(b.args.at("dim"));
    const std::int64_t axis = dim < 0 ? dim + rank : dim;
    if (axis < 0 || axis >= rank)
      throw ShapeError("dim " + std::to_string(dim) + " is out of range for the input " + shape_str(x.shape) +
                       " (dimension 0 is the batch): expected a dim in [" + std::to_string(-rank) + ", " +
                       std::to_string(rank - 1) + "]");
    if (axis == 0)
      throw ShapeError("dim " + std::to_string(dim) + " is the batch dimension of the input " + shape_str(x.shape) +
                       ": normalising across the samples of a batch is not supported; use " +
                       (rank == 2 ? std::string("dim=1 (or -1)")
                                  : "a dim from 1 to " + std::to_string(rank - 1) + " (or from " +
                                        std::to_string(1 - rank) + " to -1)"));
    Node n;
    n.op = name;
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["dim"] = dim;
    n.attrs["axis"] = axis;
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
  if (log) return;

  // Softmax2d: the softmax over the channels of an (N, C, H, W) input, torch's dim -3.
  LayerDef plane;
  plane.torch_type = "Softmax2d";
  plane.build = [name](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() != 4) throw ShapeError("expects an (N, C, H, W) input, got " + shape_str(x.shape));
    Node n;
    n.op = name;
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["dim"] = std::int64_t{-3};
    n.attrs["axis"] = std::int64_t{1};
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(plane));
}

void register_softmax(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  register_softmax_kind(ops, layers, false);
}

}  // namespace ltgen
