#include "recurrent.hpp"

#include <cmath>

#include <ltrt/packed_gemm.hpp>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// An LSTM's proj_size P (0: none): h_t is P wide, its cell H wide.
std::int64_t proj_size(const Node& n) { return n.attrs.count("proj_size") ? attr_int(n, "proj_size") : 0; }
bool projected(const Node& n) { return proj_size(n) > 0; }
// h_t's width: kP with a projection, else kH.
std::string hw(const Node& n) { return projected(n) ? "kP" : "kH"; }

// The width of a step's row in `gates`: kG when a step keeps its gates, kS when it keeps more.
std::string gates_width(const RecurrentCell& c) { return c.saved == c.gates ? "kG" : "kS"; }

// The sizes a piece of code uses: a host function all of them (the CUDA backward's launches no
// kS), a cell kernel all but a lone gate's kG (an RNN's rows are kH wide), the shift kernel (and
// the projection's dproj kernel) the steps and h_t's width, the column sums the width.
enum class Sizes { all, launches, cell, steps, width };

void write_sizes(CodeWriter& w, const RecurrentCell& c, const Node& n, std::int64_t steps, Sizes what = Sizes::all) {
  const std::string t = std::to_string(steps), h = std::to_string(attr_int(n, "hidden_size"));
  const std::string g = c.gates == 1 ? h : std::to_string(c.gates) + " * kH";
  if (what == Sizes::width) {
    w.line("constexpr int kG = " + (c.gates == 1 ? h : std::to_string(c.gates * attr_int(n, "hidden_size"))) +
           ";  // the gates' width");
    return;
  }
  const std::string p = projected(n) && what != Sizes::cell
                            ? "constexpr int kP = " + std::to_string(proj_size(n)) + ";  // h_t's width, proj_size"
                            : "";
  if (what == Sizes::steps && projected(n)) {  // the shift of h_t, P wide
    w.line("constexpr int kT = " + t + ", kP = " + std::to_string(proj_size(n)) + ";  // steps, h_t's width (proj_size)");
    return;
  }
  if (what == Sizes::steps || (what == Sizes::cell && c.gates == 1)) {
    w.line("constexpr int kT = " + t + ", kH = " + h + ";  // steps, hidden size");
    return;
  }
  w.line("constexpr int kT = " + t + ", kH = " + h + ", kG = " + (c.gates == 1 ? "kH" : g) +
         ";  // steps, hidden size, the gates' width");
  if (c.saved > 0 && c.saved != c.gates && what != Sizes::launches)
    w.line("constexpr int kS = " + std::to_string(c.saved) + " * kH;  // what a step keeps in gates, per sample");
  if (!p.empty()) w.line(p);
}

// Where step t's GEMM h_{t-1} W_hh^T goes, and that buffer's row width.
std::string product_buffer(const RecurrentCell& c) { return c.saved > 0 ? "gates" : "out"; }
std::string product_width(const RecurrentCell& c) { return c.saved > 0 ? gates_width(c) : "kH"; }

// The gradient rows weight_hh's and bias_hh's gradients are summed from.
std::string hidden_grad(const RecurrentCell& c) { return c.own_hidden_grad ? "dhidden" : "dgates"; }

// Whether the node starts from given states (h0, and c0 for a cell state), not zeros.
bool initial_state(const Node& n) { return n.attrs.count("initial_state") && attr_bool(n, "initial_state"); }
// Backward nodes: whether they compute h0's (c0's) gradient, lack the output's (no_dout: only c_n
// is read) and read the cell output's (dcell, c_n's).
bool flag(const Node& n, const char* name) { return n.attrs.count(name) && attr_bool(n, name); }

// The backward node's input `out` (after dout, gates and cell, those it has).
const Value& backward_out(const RecurrentCell& c, const Node& n, const Graph& g) {
  const size_t at = (flag(n, "no_dout") ? 0 : 1) + (c.saved > 0 ? 1 : 0) + (c.cell_state ? 1 : 0);
  return g.value(n.inputs.at(at));
}

// h shifted a step for weight_hh's gradient: element i of (n, kT, kH) is h_{t-1}, h_0 (or 0) at t = 0.
std::string shifted_h(const Node& n) {
  const std::string w = hw(n);
  return "hprev[i] = i / " + w + " % kT > 0 ? out[i - " + w + "] : " +
         (initial_state(n) ? "h0[i / (kT * " + w + ") * " + w + " + i % " + w + "];" : "0.0f;");
}

// The GEMMs of a step, on the CPU (ltrt::sgemm_ld) or CUDA (ltrt::cuda::sgemm_ld, alpha 1).
std::string sgemm_ld(bool cuda) { return cuda ? "ltrt::cuda::sgemm_ld(ctx, " : "ltrt::sgemm_ld("; }
std::string alpha(bool cuda) { return cuda ? "" : "1.0f, "; }

// On the CPU the steps' GEMMs read weight_hh packed once for the whole sequence
// (ltrt/packed_gemm.hpp: BLAS's sgemm would pack it again at every step), split among the BLAS
// threads' count of threads.
// Step t's GEMM from h_{t-1} (rows `ld` floats apart); from h_0 at t = 0 when the node has one.
std::vector<std::string> forward_gemm(const RecurrentCell& c, const Node& n, bool cuda) {
  const std::string buffer = product_buffer(c), width = product_width(c), k = hw(n);
  auto gemm = [&](const std::string& h, const std::string& ld) {
    if (!cuda)
      return "ltrt::gemm_packed_split(n, kG, " + k + ", " + h + ", " + ld + ", packed, 0.0f, " + buffer + " + t * " +
             width + ", kT * " + width + ");";
    return sgemm_ld(cuda) + "false, true, n, kG, " + k + ", " + alpha(cuda) + h + ", " + ld + ", weight_hh, " + k +
           ", 0.0f, " + buffer + " + t * " + width + ", kT * " + width + ");";
  };
  std::vector<std::string> lines = {"if (t > 0) " + gemm("out + (t - 1) * " + k, "kT * " + k)};
  if (initial_state(n)) lines.push_back("else " + gemm("h0", k) + "  // h_{-1} = h_0");
  return lines;
}

// With a projection, h_t = unprojected_t W_hr^T after step t's cells.
std::string projection_gemm(bool cuda) {
  if (!cuda)
    return "ltrt::gemm_packed_split(n, kP, kH, unprojected + t * kH, kT * kH, packed_hr, 0.0f, out + t * kP, kT * kP);";
  return "ltrt::cuda::sgemm_ld(ctx, false, true, n, kP, kH, unprojected + t * kH, kT * kH, weight_hr, kH, 0.0f, "
         "out + t * kP, kT * kP);";
}

// dL/d(o tanh c_t) = dproj_t W_hr, into dm (n x kH).
std::string unprojection_gemm(bool cuda) {
  if (!cuda) return "ltrt::gemm_packed_split(n, kH, kP, dproj + t * kP, kT * kP, packed_hr, 0.0f, dm, kH);";
  return "ltrt::cuda::sgemm_ld(ctx, false, false, n, kH, kP, dproj + t * kP, kT * kP, weight_hr, kH, 0.0f, "
         "carry + 2 * count, kH);";
}

// dh_{t-1}; at t = 0 only for h_0's gradient (then dh_{-1}, copied to dh0 after the loop).
std::string backward_gemm(const RecurrentCell& c, const Node& n, bool cuda) {
  const std::string beta = c.direct_dh ? "1.0f" : "0.0f", k = hw(n);
  const std::string when = flag(n, "h0_grad") ? "" : "if (t > 0) ";
  if (!cuda)
    return when + "ltrt::gemm_packed_split(n, " + k + ", kG, " + hidden_grad(c) + " + t * kG, kT * kG, packed, " +
           beta + ", dh, " + k + ");";
  return when + sgemm_ld(cuda) + "false, false, n, " + k + ", kG, " + alpha(cuda) + hidden_grad(c) +
         " + t * kG, kT * kG, weight_hh, " + k + ", " + beta + ", carry, " + k + ");";
}

// With a projection, dL/dh_t's entry p: dout's (when the output has a gradient) plus dh from step t + 1.
std::string projected_grad(const Node& n) {
  const std::string carried = "(t < kT - 1 ? dh[b * kP + p] : 0.0f)";
  return flag(n, "no_dout") ? carried : "dout[row * kP + p] + " + carried;
}

// weight_hh (transposed for the forward) packed for the steps' GEMMs, and weight_hr with a
// projection (its panels after weight_hh's).
void write_packing(CodeWriter& w, const Node& n, bool forward) {
  const std::string k = hw(n);
  w.line(std::string("ltrt::pack_b(") + (forward ? "true, " + k + ", kG" : "false, kG, " + k) + ", weight_hh, " + k +
         ", packed);  // W_hh" + (forward ? "^T" : "") + " in panels, once for the kT steps' GEMMs");
  if (!projected(n)) return;
  w.line(std::string("float* packed_hr = packed + ltrt::packed_size(") + (forward ? "kP, kG" : "kG, kP") + ");");
  w.line(std::string("ltrt::pack_b(") + (forward ? "true, kH, kP" : "false, kP, kH") +
         ", weight_hr, kH, packed_hr);  // W_hr" + (forward ? "^T" : "") + " too");
}

// On the CPU a step is a generic lambda called with t as a compile-time constant at the first step
// (and the backward's last), so that the cells' checks of t fold away and the loop over units
// vectorises.
std::string step_comment(bool backward) {
  return std::string("// Step t; at the ") + (backward ? "last and first steps" : "first step") +
         " t is a compile-time constant, so that the checks of t fold away";
}

std::string forward_comment(const RecurrentCell& c) {
  return "// h_{t-1} W_hh^T for every sample, into step t's row of " + product_buffer(c) + " (rows kT steps apart)";
}
std::string backward_comment(const RecurrentCell& c) {
  return std::string("// dh_{t-1} = ") + hidden_grad(c) + "_t W_hh" + (c.direct_dh ? ", added to the cell's direct share" : "");
}

void emit_forward(const RecurrentCell& c, CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, c, n, g.value(n.inputs[0]).shape.at(1));
  write_packing(w, n, true);
  w.line(step_comment(false));
  w.open("auto step = [=](auto t)");
  w.line(forward_comment(c));
  for (const std::string& l : forward_gemm(c, n, false)) w.line(l);
  w.open("for (int b = 0; b < n; ++b)");
  w.line("const int row = b * kT + t;");
  w.open("for (int j = 0; j < kH; ++j)");
  for (const std::string& l : c.forward(n)) w.line(l);
  w.close();
  w.close();
  if (projected(n)) {
    w.line("// h_t = (o tanh c_t) W_hr^T");
    w.line(projection_gemm(false));
  }
  w.close(";");
  w.line("step(std::integral_constant<int, 0>{});");
  w.line("for (int t = 1; t < kT; ++t) step(t);");
}

void emit_backward(const RecurrentCell& c, CodeWriter& w, const Node& n, const Graph& g) {
  const std::int64_t steps = g.value(n.inputs[0]).shape.at(1);
  write_sizes(w, c, n, steps);
  write_packing(w, n, false);
  w.line("float* dh = carry;           // dL/dh_t through step t + 1 (n x " + hw(n) + ")");
  if (c.cell_state) w.line("float* dc = carry + n * kH;  // dL/dc_t through step t + 1");
  if (projected(n)) w.line("float* dm = carry + 2 * n * kH;  // dL/d(o tanh c_t)");
  w.line(step_comment(steps > 1));
  w.open("auto step = [=](auto t)");
  if (projected(n)) {
    w.line("// dL/dh_t, kept for weight_hr's gradient; then dL/d(o tanh c_t) = dL/dh_t W_hr");
    w.open("for (int b = 0; b < n; ++b)");
    w.line("const int row = b * kT + t;");
    w.line("for (int p = 0; p < kP; ++p) dproj[row * kP + p] = " + projected_grad(n) + ";");
    w.close();
    w.line(unprojection_gemm(false));
  }
  w.open("for (int b = 0; b < n; ++b)");
  w.line("const int row = b * kT + t;");
  w.open("for (int j = 0; j < kH; ++j)");
  for (const std::string& l : c.backward(n)) w.line(l);
  w.close();
  w.close();
  w.line(backward_comment(c));
  w.line(backward_gemm(c, n, false));
  w.close(";");
  w.line("step(std::integral_constant<int, kT - 1>{});");
  if (steps > 1) {
    w.line("for (int t = kT - 2; t > 0; --t) step(t);");
    w.line("step(std::integral_constant<int, 0>{});");
  }
  if (flag(n, "h0_grad")) w.line("for (int i = 0; i < n * " + hw(n) + "; ++i) dh0[i] = dh[i];  // dL/dh_0");
  if (flag(n, "c0_grad")) w.line("for (int i = 0; i < n * kH; ++i) dc0[i] = dc[i];  // dL/dc_0");
  w.line("// dW_hh = the sum over steps of " + hidden_grad(c) + "_t^T h_{t-1}: one GEMM over every (sample, step) row");
  w.line("for (int i = 0; i < n * kT * " + hw(n) + "; ++i) " + shifted_h(n));
  w.line("ltrt::sgemm(true, false, kG, " + hw(n) + ", n * kT, " + hidden_grad(c) +
         ", hprev, accumulate ? 1.0f : 0.0f, dweight_hh);");
  if (projected(n)) {
    w.line("// dW_hr = the sum over steps of dL/dh_t^T (o tanh c_t)");
    w.line("ltrt::sgemm(true, false, kP, kH, n * kT, dproj, unprojected, accumulate ? 1.0f : 0.0f, dweight_hr);");
  }
  if (!attr_bool(n, "bias")) return;
  w.line("if (!accumulate) std::fill(dbias_hh, dbias_hh + kG, 0.0f);");
  w.open("for (int r = 0; r < n * kT; ++r)");
  w.line("for (int k = 0; k < kG; ++k) dbias_hh[k] += " + hidden_grad(c) + "[r * kG + k];");
  w.close();
}

void emit_forward_cuda(const RecurrentCell& c, CudaEmit& e, const Node& n, const Graph& g) {
  const std::int64_t steps = g.value(n.inputs[0]).shape.at(1);
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// Step t's cell: a thread per (sample, hidden unit).");
  std::vector<std::string> params = {"float* __restrict__ " + cell_output(n)};
  std::vector<std::string> args = {cell_output(n)};
  auto add = [&](const std::string& decl, const std::string& name) {
    params.push_back(decl + " __restrict__ " + name);
    args.push_back(name);
  };
  if (c.cell_state) add("float*", "cell");
  if (c.saved > 0) add("float*", "gates");
  add("const float*", "xg");
  if (attr_bool(n, "bias")) add("const float*", "bias_hh");
  // The initial states the cell reads at t = 0 (the GEMM reads h_0 for the others).
  const bool h0 = initial_state(n) && c.reads_h_prev, c0 = initial_state(n) && c.cell_state;
  if (h0) add("const float*", "h0");
  if (c0) add("const float*", "c0");
  params.push_back("int t");
  args.push_back("t");
  open_element_kernel(k, e.fn + "_cell_kernel", params, [&](CodeWriter& w) { write_sizes(w, c, n, steps, Sizes::cell); });
  if (h0 || c0)
    k.line("const int b = i / kH, j = i % kH, row = b * kT + t;  // sample b's unit j");
  else
    k.line("const int j = i % kH, row = i / kH * kT + t;  // sample i / kH's unit j");
  for (const std::string& l : c.forward(n)) k.line(l);
  k.close();

  CodeWriter& w = e.body;
  write_sizes(w, c, n, steps);
  w.line("const int count = n * kH;  // the cell kernel's threads");
  w.open("for (int t = 0; t < kT; ++t)");
  w.line(forward_comment(c));
  for (const std::string& l : forward_gemm(c, n, true)) w.line(l);
  args.push_back("count");
  emit_launch(w, e.fn + "_cell_kernel", "ltrt::cuda::blocks_for(count, kThreads)", "kThreads", args);
  if (projected(n)) {
    w.line("// h_t = (o tanh c_t) W_hr^T");
    w.line(projection_gemm(true));
  }
  w.close();
}

void emit_backward_cuda(const RecurrentCell& c, CudaEmit& e, const Node& n, const Graph& g) {
  const std::int64_t steps = g.value(n.inputs[0]).shape.at(1);
  CodeWriter& k = e.kernels;
  auto sizes = [&](Sizes what) { return [&, what](CodeWriter& w) { write_sizes(w, c, n, steps, what); }; };
  k.line();
  k.line(std::string("// Step t's gradients: a thread per (sample, hidden unit); carry holds dh") +
         (c.cell_state ? ", then dc (count floats each)." : "."));
  std::vector<std::string> params = {"float* __restrict__ dgates"};
  std::vector<std::string> args = {"dgates"};
  auto add = [&](const std::string& decl, const std::string& name) {
    params.push_back(decl + " __restrict__ " + name);
    args.push_back(name);
  };
  if (c.own_hidden_grad) add("float*", "dhidden");
  add("float*", "carry");
  if (!flag(n, "no_dout") && !projected(n)) add("const float*", "dout");  // with a projection the cell reads dm
  add("const float*", "out");
  if (c.saved > 0) add("const float*", "gates");
  if (c.cell_state) add("const float*", "cell");
  if (initial_state(n) && c.cell_state) add("const float*", "c0");
  if (initial_state(n) && c.reads_h_prev) add("const float*", "h0");
  if (flag(n, "cell_grad")) add("const float*", "dcell");
  params.push_back("int t");
  args.push_back("t");
  open_element_kernel(k, e.fn + "_cell_kernel", params, sizes(Sizes::cell));
  k.line("const int b = i / kH, j = i % kH, row = b * kT + t;");
  if (projected(n))
    k.line("const float* dm = carry + 2 * count;  // dL/d(o tanh c_t)");
  else
    k.line(std::string(c.direct_dh ? "float* dh" : "const float* dh") + " = carry;");
  if (c.cell_state) k.line("float* dc = carry + count;");
  for (const std::string& l : c.backward(n)) k.line(l);
  k.close();
  k.line();
  k.line("// h shifted a step, for weight_hh's gradient.");
  std::vector<std::string> shift_params = {"float* __restrict__ hprev", "const float* __restrict__ out"};
  std::vector<std::string> shift_args = {"hprev", "out"};
  if (initial_state(n)) {
    shift_params.push_back("const float* __restrict__ h0");
    shift_args.push_back("h0");
  }
  open_element_kernel(k, e.fn + "_shift_kernel", shift_params, sizes(Sizes::steps));
  k.line(shifted_h(n));
  k.close();
  std::vector<std::string> proj_args = {"dproj", "carry"};
  if (projected(n)) {
    k.line();
    k.line("// dL/dh_t, kept for weight_hr's gradient: a thread per (sample, unit of h_t).");
    std::vector<std::string> proj_params = {"float* __restrict__ dproj", "const float* __restrict__ dh"};
    if (!flag(n, "no_dout")) {
      proj_params.push_back("const float* __restrict__ dout");
      proj_args.push_back("dout");
    }
    proj_params.push_back("int t");
    proj_args.push_back("t");
    open_element_kernel(k, e.fn + "_dproj_kernel", proj_params, sizes(Sizes::steps));
    k.line("const int b = i / kP, p = i % kP, row = b * kT + t;");
    k.line("dproj[row * kP + p] = " + projected_grad(n) + ";");
    k.close();
    proj_args.push_back("n * kP");
  }

  CodeWriter& w = e.body;
  write_sizes(w, c, n, steps, Sizes::launches);
  w.line("const int count = n * kH;  // the cell kernel's threads");
  w.open("for (int t = kT - 1; t >= 0; --t)");
  if (projected(n)) {
    emit_launch(w, e.fn + "_dproj_kernel", "ltrt::cuda::blocks_for(n * kP, kThreads)", "kThreads", proj_args);
    w.line("// dL/d(o tanh c_t) = dL/dh_t W_hr, into carry after dh and dc");
    w.line(unprojection_gemm(true));
  }
  args.push_back("count");
  emit_launch(w, e.fn + "_cell_kernel", "ltrt::cuda::blocks_for(count, kThreads)", "kThreads", args);
  w.line(backward_comment(c) + ", into carry's first n x " + hw(n) + " floats");
  w.line(backward_gemm(c, n, true));
  w.close();
  if (flag(n, "h0_grad"))
    w.line("LTRT_CUDA_CHECK(cudaMemcpyAsync(dh0, carry, sizeof(float) * n * " + hw(n) +
           ", cudaMemcpyDeviceToDevice, ctx.stream));  // dL/dh_0");
  if (flag(n, "c0_grad"))
    w.line("LTRT_CUDA_CHECK(cudaMemcpyAsync(dc0, carry + count, sizeof(float) * count, cudaMemcpyDeviceToDevice, "
           "ctx.stream));  // dL/dc_0");
  w.line("const int shifted = n * kT * " + hw(n) + ";");
  shift_args.push_back("shifted");
  emit_launch(w, e.fn + "_shift_kernel", "ltrt::cuda::blocks_for(shifted, kThreads)", "kThreads", shift_args);
  w.line("// dW_hh = the sum over steps of " + hidden_grad(c) + "_t^T h_{t-1}: one GEMM over every (sample, step) row");
  w.line("ltrt::cuda::sgemm(ctx, true, false, kG, " + hw(n) + ", n * kT, " + hidden_grad(c) +
         ", hprev, accumulate ? 1.0f : 0.0f, dweight_hh);");
  if (projected(n)) {
    w.line("// dW_hr = the sum over steps of dL/dh_t^T (o tanh c_t)");
    w.line("ltrt::cuda::sgemm(ctx, true, false, kP, kH, n * kT, dproj, unprojected, accumulate ? 1.0f : 0.0f, "
           "dweight_hr);");
  }
  if (!attr_bool(n, "bias")) return;
  const std::string dh = hidden_grad(c);
  emit_column_sum_kernel(k, e.fn + "_dbias_kernel", {"float* __restrict__ dbias_hh", "const float* __restrict__ " + dh},
                         "kG", {{"dbias_hh", dh + "[at]"}}, sizes(Sizes::width));
  emit_column_sum_launch(w, e.fn + "_dbias_kernel", "kG", {"dbias_hh", dh}, "n * kT", {"dbias_hh"});
}

// A concat node of `parts` along dim, its value named `name`.
int add_concat(Graph& g, const std::string& layer, const std::string& source, const std::vector<int>& parts,
               std::int64_t dim, const std::string& name) {
  Node cat;
  cat.op = "concat";
  cat.layer = layer;
  cat.source = source;
  cat.attrs["dim"] = dim;
  cat.inputs = parts;
  const int id = add_op(g, std::move(cat), name);
  return g.nodes[id].outputs[0];
}

// The layer's nodes: per layer k its parameters (torch's names, order and init), the input's
// projection and the recurrence; returns the last layer's output sequence. Inputs after x are
// torch's initial states h_0 (and c_0), batch first: (batch, num_layers * directions, H), torch's
// h_0.transpose(0, 1); each layer and direction reads its row. The wanted extra outputs h_n (and
// c_n) stack each layer and direction's last step the same way.
int build_layer(const RecurrentCell& c, LayerBuild& b, const std::vector<int>& in) {
  Graph& g = b.graph;
  const Value& x = g.value(in.at(0));
  if (!std::get<bool>(b.args.at("batch_first")))
    throw ShapeError("needs \"batch_first\": true (ltgen's sequences are (batch, T, features))");
  const bool floats = x.dtype == DType::f32;
  if (x.shape.size() != 3 || !floats)
    throw ShapeError("expects a float sequence (batch, T, input_size), got " + shape_str(x.shape) +
                     (floats ? "" : " of int64 (an Embedding first turns indices into vectors)"));
  const std::int64_t features = x.shape[2];
  auto given = b.args.find("input_size");
  if (given != b.args.end() && std::get<std::int64_t>(given->second) != features)
    throw ShapeError("input_size is " + std::to_string(std::get<std::int64_t>(given->second)) + " but the input has " +
                     std::to_string(features) + " features; remove input_size to infer it");
  const std::int64_t h = std::get<std::int64_t>(b.args.at("hidden_size"));
  const std::int64_t num_layers = std::get<std::int64_t>(b.args.at("num_layers"));
  const bool bias = std::get<bool>(b.args.at("bias"));
  const double dropout = std::get<double>(b.args.at("dropout"));
  const bool bidirectional = std::get<bool>(b.args.at("bidirectional"));
  const auto given_proj = b.args.find("proj_size");  // LSTM's
  const std::int64_t proj = given_proj == b.args.end() ? 0 : std::get<std::int64_t>(given_proj->second);
  if (proj >= h)
    throw ShapeError("proj_size (" + std::to_string(proj) + ") must be smaller than hidden_size (" + std::to_string(h) +
                     "), as torch requires");
  const std::int64_t out_width = proj > 0 ? proj : h;  // h_t's
  const std::int64_t rows = c.gates * h;
  const std::int64_t batch = x.shape[0], steps = x.shape[1], directions = bidirectional ? 2 : 1;
  if (c.cell_state && in.size() == 2)
    throw ShapeError("takes its initial state as the pair (h_0, c_0): give \"inputs\": [x, h_0, c_0]");
  for (size_t i = 1; i < in.size(); ++i) {
    const Value& s = g.value(in[i]);
    const Shape want = {batch, num_layers * directions, i == 1 ? out_width : h};
    if (s.dtype != DType::f32 || s.shape != want)
      throw ShapeError(std::string(i == 1 ? "h_0" : "c_0") + " (inputs[" + std::to_string(i) + "]) must be float32 (batch, num_layers * " +
                       "num_directions, " + (i == 1 && proj > 0 ? "proj_size" : "hidden_size") + ") = " + shape_str(want) + ", torch's " + (i == 1 ? "h_0" : "c_0") +
                       ".transpose(0, 1); got " + shape_str(s.shape) +
                       (s.dtype == DType::f32 ? "" : " of " + std::string(dtype_name(s.dtype))));
  }
  const std::string name = cpp_name(b.layer);
  std::vector<int> last_h, last_c;  // each layer and direction's h_n and c_n, (batch, 1, H), for the wanted outputs
  // torch's state_dict order per layer and direction (weight_ih, weight_hh, bias_ih, bias_hh, and
  // weight_hr with a projection; the reverse direction's with the suffix "_reverse" after the
  // forward's) and init
  // (RNNBase.reset_parameters): every parameter uniform(-1/sqrt(H), 1/sqrt(H)), drawn in that order.
  const double bound = 1.0 / std::sqrt(static_cast<double>(h));
  int seq = in.at(0);
  for (std::int64_t k = 0; k < num_layers; ++k) {
    const std::string lk = "_l" + std::to_string(k);
    // torch's dropout between layers: on every layer's output but the last's, in training only.
    // torch runs the layers over (T, batch, features), so its masks are drawn in that order. With
    // one layer it does nothing.
    if (k > 0 && dropout > 0.0) {
      g.value(seq).torch_time_major = true;
      seq = add_dropout(g, b.layer + ".dropout_l" + std::to_string(k - 1), b.source, seq, dropout);
    }
    const std::int64_t width = k == 0 ? features : (bidirectional ? 2 : 1) * out_width;
    // One direction over x (the reverse direction over x's steps reversed), row `state` of the
    // states; returns its outputs.
    auto direction = [&](int x, const std::string& suffix, std::int64_t state) {
      const int w_ih = add_param(g, b.layer + ".weight_ih" + suffix, {rows, width});
      const int w_hh = add_param(g, b.layer + ".weight_hh" + suffix, {rows, out_width});
      const int b_ih = bias ? add_param(g, b.layer + ".bias_ih" + suffix, {rows}) : -1;
      const int b_hh = bias ? add_param(g, b.layer + ".bias_hh" + suffix, {rows}) : -1;
      const int w_hr = proj > 0 ? add_param(g, b.layer + ".weight_hr" + suffix, {proj, h}) : -1;
      for (int p : {w_ih, w_hh, b_ih, b_hh, w_hr})
        if (p >= 0) g.value(p).init_bound = bound;
      const int xg = add_linear(g, b.layer + ".ih" + suffix, b.source, x, w_ih, b_ih);
      Node n;
      n.op = c.op;
      n.layer = b.layer + "." + suffix.substr(1);  // its functions: layers_0_l0_forward, ...
      n.source = b.source;
      n.attrs["hidden_size"] = h;
      n.attrs["bias"] = bias;
      for (const ArgDef& a : c.extra_args) n.attrs[a.name] = b.args.at(a.name);
      if (k == 0) n.attrs["input_size"] = features;  // --emit lightning's inferred argument
      n.inputs = {xg, w_hh};
      if (bias) n.inputs.push_back(b_hh);
      if (in.size() > 1) {  // h_0's row (and c_0's)
        n.attrs["initial_state"] = true;
        for (size_t i = 1; i < in.size(); ++i)
          n.inputs.push_back(add_narrow(g, b.layer, b.source, in[i], 1, state, 1, name + suffix + (i == 1 ? "_h0" : "_c0")));
      }
      if (proj > 0) {
        n.attrs["proj_size"] = proj;
        n.inputs.push_back(w_hr);
      }
      const int id = add_op(g, std::move(n), name + suffix);  // layers_0_l0, _cell, _gates
      const std::vector<int> outs = g.nodes[id].outputs;
      // h_n and c_n: the last step of this direction's run.
      if (b.wanted_outputs.count("h_n"))
        last_h.push_back(add_narrow(g, b.layer, b.source, outs[0], 1, steps - 1, 1, name + suffix + "_h_n"));
      if (b.wanted_outputs.count("c_n"))
        last_c.push_back(add_narrow(g, b.layer, b.source, outs[1], 1, steps - 1, 1, name + suffix + "_c_n"));
      return outs[0];
    };
    const int forward = direction(seq, lk, k * directions);
    if (!bidirectional) {
      seq = forward;
      continue;
    }
    // torch's reverse direction runs from the last step to the first; its output at step t is h_t
    // of that run, concatenated after the forward direction's.
    const int reversed = add_reverse_steps(g, b.layer + ".flip_x" + lk + "_reverse", b.source, seq);
    const int backward = add_reverse_steps(g, b.layer + ".flip_h" + lk + "_reverse", b.source,
                                           direction(reversed, lk + "_reverse", k * directions + 1));
    seq = add_concat(g, b.layer + ".cat" + lk, b.source, {forward, backward}, 2, cpp_name(b.layer + ".cat" + lk) + "_out");
  }
  // torch's batch_first layers compute in (T, batch, features) and return their output transposed.
  g.value(seq).torch_time_major = true;
  // h_n (c_n): (batch, num_layers * directions, H), torch's (num_layers * directions, batch, H) transposed.
  for (auto [extra, parts] : {std::pair{"h_n", last_h}, std::pair{"c_n", last_c}}) {
    if (parts.empty()) continue;
    const int v = parts.size() == 1 ? parts[0] : add_concat(g, b.layer, b.source, parts, 1, name + "_" + extra);
    g.value(v).torch_time_major = parts.size() > 1;
    b.outputs[extra] = v;
  }
  return seq;
}

}  // namespace

std::string hidden_part(const Node& n, const std::string& product, const std::string& q) {
  const std::string s = initial_state(n) ? product : "(t > 0 ? " + product + " : 0.0f)";
  return attr_bool(n, "bias") ? "(" + s + " + bias_hh[" + q + "])" : s;
}

std::string previous(const Node& n, const std::string& buffer, const std::string& initial) {
  return "t > 0 ? " + buffer + "[(row - 1) * kH + j] : " + (initial_state(n) ? initial + "[b * kH + j]" : "0.0f");
}

std::string step_grad(const Node& n) {
  if (projected(n)) return "dm[b * kH + j]";
  const std::string carried = "(t < kT - 1 ? dh[b * kH + j] : 0.0f)";
  return flag(n, "no_dout") ? carried : "dout[row * kH + j] + " + carried;
}

std::string cell_output(const Node& n) { return projected(n) ? "unprojected" : "out"; }

std::string carried_cell_grad(const Node& n) {
  return std::string("(t < kT - 1 ? dc[b * kH + j] : ") + (flag(n, "cell_grad") ? "dcell[row * kH + j])" : "0.0f)");
}

void register_recurrent(const RecurrentCell& cell, std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  const RecurrentCell c = cell;  // the lambdas keep their own copy
  OpDef f;
  f.name = c.op;
  f.infer = [c](const Node& n, const Graph& g) {
    const Value& xg = g.value(n.inputs.at(0));
    const std::int64_t h = attr_int(n, "hidden_size");
    if (xg.shape.size() != 3 || xg.shape[2] != c.gates * h)
      throw ShapeError("expects the input's projection (batch, T, " + std::to_string(c.gates * h) + "), got " +
                       shape_str(xg.shape));
    const std::int64_t p = projected(n) ? proj_size(n) : h;  // h_t's width
    const Shape s = {xg.shape[0], xg.shape[1], h};
    const size_t h0 = attr_bool(n, "bias") ? 3 : 2;
    if (initial_state(n))
      for (size_t k = h0; k < h0 + (c.cell_state ? 2 : 1); ++k) {
        const Shape want = {xg.shape[0], 1, k == h0 ? p : h};
        if (g.value(n.inputs.at(k)).shape != want)
          throw ShapeError("expects an initial state " + shape_str(want) + ", got " + shape_str(g.value(n.inputs[k]).shape));
      }
    std::vector<OutputType> out = {{DType::f32, {xg.shape[0], xg.shape[1], p}, true}};
    if (c.cell_state) out.push_back({DType::f32, s, true});
    if (projected(n)) out.push_back({DType::f32, s, true});  // unprojected
    if (c.saved > 0) out.push_back({DType::f32, {xg.shape[0], xg.shape[1], c.saved * h}, true});
    // packed: W_hh^T (and W_hr^T) in the CPU's GEMM panels (unused on CUDA); the memory plan frees
    // it after the node.
    std::size_t packed = ltrt::packed_size(static_cast<int>(p), static_cast<int>(c.gates * h));
    if (projected(n)) packed += ltrt::packed_size(static_cast<int>(h), static_cast<int>(p));
    out.push_back({DType::f32, {static_cast<std::int64_t>(packed)}, false});
    return out;
  };
  f.slots = [c](const Node& n) {
    Slots s{{"out"}, {"xg", "weight_hh"}};
    if (c.cell_state) s.outputs.push_back("cell");
    if (projected(n)) s.outputs.push_back("unprojected");
    if (c.saved > 0) s.outputs.push_back("gates");
    s.outputs.push_back("packed");
    if (attr_bool(n, "bias")) s.inputs.push_back("bias_hh");
    if (initial_state(n)) s.inputs.push_back("h0");
    if (initial_state(n) && c.cell_state) s.inputs.push_back("c0");
    if (projected(n)) s.inputs.push_back("weight_hr");
    return s;
  };
  f.cost = [c](const Node& n, const Graph& g) {
    const Value& xg = g.value(n.inputs[0]);
    const double rows = static_cast<double>(xg.shape[0] * xg.shape[1]), h = static_cast<double>(attr_int(n, "hidden_size"));
    const double gh = c.gates * h, p = projected(n) ? static_cast<double>(proj_size(n)) : h;
    // The recurrent GEMMs (and the projection's) and about 8 flops a gate for the cell; xg read,
    // W_hh (W_hr) once a step, the outputs written.
    const double proj = projected(n) ? p * h : 0.0;
    return Cost{rows * (2 * gh * p + 2 * proj + 8 * gh),
                4 * (rows * (gh + (c.saved + 1 + (c.cell_state ? 1 : 0)) * h) +
                     static_cast<double>(xg.shape[1]) * (gh * p + proj))};
  };
  f.restrict_pointers = true;
  f.cpu_includes = {"<type_traits>"};  // std::integral_constant, for the first step's t
  f.cpu_runtime_includes = {"<ltrt/packed_gemm.hpp>"};
  f.emit_cpu = [c](CodeWriter& w, const Node& n, const Graph& g) { emit_forward(c, w, n, g); };
  f.emit_cuda = [c](CudaEmit& e, const Node& n, const Graph& g) { emit_forward_cuda(c, e, n, g); };
  f.backward = [c](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const bool bias = attr_bool(n, "bias");
    std::vector<int> grads(n.inputs.size(), -1);  // parameter gradients live in the grad region
    // The output's gradient, and the cell output's when c_n is read (its last step's).
    const int dcell = c.cell_state ? dout[1] : -1;
    if (dout[0] < 0 && dcell < 0) return grads;
    // The initial states, after xg, weight_hh and bias_hh: their gradients when they need one.
    const size_t h0 = bias ? 3 : 2, c0 = h0 + 1;
    const bool init = initial_state(n);
    const bool h0_grad = init && ad.needs_grad(n.inputs[h0]), c0_grad = init && c.cell_state && ad.needs_grad(n.inputs[c0]);
    Node b;
    b.op = c.op + "_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    // What differs from a layer without states (attributes only when set, flag() reads them).
    if (dout[0] < 0) b.attrs["no_dout"] = true;
    if (dcell >= 0) b.attrs["cell_grad"] = true;
    if (h0_grad) b.attrs["h0_grad"] = true;
    if (c0_grad) b.attrs["c0_grad"] = true;
    if (dout[0] >= 0) b.inputs.push_back(dout[0]);
    if (c.saved > 0) b.inputs.push_back(n.outputs[n.outputs.size() - 2]);  // gates (then packed)
    const bool proj = projected(n);
    if (c.cell_state) b.inputs.push_back(n.outputs[1]);
    b.inputs.push_back(n.outputs[0]);  // out
    b.inputs.push_back(n.inputs[1]);   // weight_hh
    if (init) b.inputs.push_back(n.inputs[h0]);
    if (init && c.cell_state) b.inputs.push_back(n.inputs[c0]);
    if (dcell >= 0) b.inputs.push_back(dcell);
    if (proj) {
      b.inputs.push_back(n.inputs.back());  // weight_hr
      b.inputs.push_back(n.outputs[2]);     // unprojected
    }
    b.outputs = {-1};                  // dgates
    if (c.own_hidden_grad) b.outputs.push_back(-1);
    b.outputs.push_back(ad.param_grad(n.inputs[1]));
    if (bias) b.outputs.push_back(ad.param_grad(n.inputs[2]));
    if (proj) b.outputs.push_back(ad.param_grad(n.inputs.back()));
    // Scratch, named <layer>_l<k>_hprev, ... after the forward's output.
    const std::vector<std::string> scratch =
        proj ? std::vector<std::string>{"hprev", "carry", "dproj", "packed_w"} : std::vector<std::string>{"hprev", "carry", "packed_w"};
    const size_t first_scratch = b.outputs.size();
    b.outputs.insert(b.outputs.end(), scratch.size(), -1);
    if (h0_grad) b.outputs.push_back(-1);
    if (c0_grad) b.outputs.push_back(-1);
    const int id = ad.add_backward(std::move(b), ad.grad_name(n.inputs[0]));
    // Names: d_<xg> for dgates (xg's gradient), <layer>_l<k>_dhidden, and the scratch's.
    Graph& g = ad.graph;
    const std::vector<int> outs = g.nodes[id].outputs;
    const std::string own = g.value(n.outputs[0]).name;
    g.value(outs[0]).name = unused_name(g, ad.grad_name(n.inputs[0]));
    if (c.own_hidden_grad) g.value(outs[1]).name = unused_name(g, own + "_dhidden");
    for (size_t i = 0; i < scratch.size(); ++i)
      g.value(outs[first_scratch + i]).name = unused_name(g, own + "_" + scratch[i]);
    const size_t states = first_scratch + scratch.size();  // dh0, then dc0
    if (h0_grad) g.value(outs[states]).name = unused_name(g, ad.grad_name(n.inputs[h0]));
    if (c0_grad) g.value(outs.back()).name = unused_name(g, ad.grad_name(n.inputs[c0]));
    grads[0] = outs[0];
    if (h0_grad) grads[h0] = outs[states];
    if (c0_grad) grads[c0] = outs.back();
    return grads;
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = c.op + "_backward";
  b.writes_param_grad = true;
  b.infer = [c](const Node& n, const Graph& g) {
    const Value& out = backward_out(c, n, g);
    const std::int64_t batch = out.shape[0], t = out.shape[1], h = attr_int(n, "hidden_size");
    const std::int64_t p = projected(n) ? proj_size(n) : h;  // h_t's width
    // dgates (and dhidden); dW_hh, db_hh, dW_hr; scratch: h shifted a step (batch, T, P), what
    // steps pass back: dh (and dc, and dm with a projection), (batch, 1, 2 or 3, H), and dL/dh_t
    // with a projection (batch, T, P).
    const OutputType rows = {DType::f32, {batch, t, c.gates * h}, true};
    std::vector<OutputType> grads = {rows};
    if (c.own_hidden_grad) grads.push_back(rows);
    grads.push_back({DType::f32, {c.gates * h, p}, false});
    if (attr_bool(n, "bias")) grads.push_back({DType::f32, {c.gates * h}, false});
    if (projected(n)) grads.push_back({DType::f32, {p, h}, false});
    grads.push_back({DType::f32, {batch, t, p}, true});
    grads.push_back({DType::f32, {batch, projected(n) ? 3 : c.cell_state ? 2 : 1, h}, true});
    if (projected(n)) grads.push_back({DType::f32, {batch, t, p}, true});
    // packed: W_hh (and W_hr) in the CPU's GEMM panels (unused on CUDA).
    std::size_t packed = ltrt::packed_size(static_cast<int>(c.gates * h), static_cast<int>(p));
    if (projected(n)) packed += ltrt::packed_size(static_cast<int>(p), static_cast<int>(h));
    grads.push_back({DType::f32, {static_cast<std::int64_t>(packed)}, false});
    // dh0, dc0: as the states.
    if (flag(n, "h0_grad")) grads.push_back({DType::f32, {batch, 1, p}, true});
    if (flag(n, "c0_grad")) grads.push_back({DType::f32, {batch, 1, h}, true});
    return grads;
  };
  b.slots = [c](const Node& n) {
    Slots s{{"dgates"}, {}};
    if (!flag(n, "no_dout")) s.inputs.push_back("dout");
    if (c.own_hidden_grad) s.outputs.push_back("dhidden");
    s.outputs.push_back("dweight_hh");
    if (attr_bool(n, "bias")) s.outputs.push_back("dbias_hh");
    if (projected(n)) s.outputs.push_back("dweight_hr");
    s.outputs.push_back("hprev");
    s.outputs.push_back("carry");
    if (projected(n)) s.outputs.push_back("dproj");
    s.outputs.push_back("packed");
    if (c.saved > 0) s.inputs.push_back("gates");
    if (c.cell_state) s.inputs.push_back("cell");
    s.inputs.push_back("out");
    s.inputs.push_back("weight_hh");
    if (initial_state(n)) s.inputs.push_back("h0");
    if (initial_state(n) && c.cell_state) s.inputs.push_back("c0");
    if (flag(n, "cell_grad")) s.inputs.push_back("dcell");
    if (projected(n)) {
      s.inputs.push_back("weight_hr");
      s.inputs.push_back("unprojected");
    }
    if (flag(n, "h0_grad")) s.outputs.push_back("dh0");
    if (flag(n, "c0_grad")) s.outputs.push_back("dc0");
    return s;
  };
  b.cost = [c](const Node& n, const Graph& g) {
    const Value& dout = backward_out(c, n, g);
    const double rows = static_cast<double>(dout.shape[0] * dout.shape[1]), h = static_cast<double>(attr_int(n, "hidden_size"));
    const double gh = c.gates * h, p = projected(n) ? static_cast<double>(proj_size(n)) : h;
    const double proj = projected(n) ? p * h : 0.0;
    // dh's GEMMs and dW_hh's (and the projection's two), about 10 flops a gate; dout, out and what
    // the forward kept read, dgates and hprev written.
    return Cost{rows * (4 * gh * p + 4 * proj + 10 * gh),
                4 * (rows * (gh * (c.own_hidden_grad ? 2 : 1) + (c.saved + 3) * h) +
                     static_cast<double>(dout.shape[1]) * (gh * p + proj))};
  };
  b.restrict_pointers = true;
  b.cpu_includes = {"<type_traits>"};
  b.cpu_runtime_includes = {"<ltrt/packed_gemm.hpp>"};
  b.emit_cpu = [c](CodeWriter& w, const Node& n, const Graph& g) { emit_backward(c, w, n, g); };
  b.emit_cuda = [c](CudaEmit& e, const Node& n, const Graph& g) { emit_backward_cuda(c, e, n, g); };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = c.layer;
  ArgDef input{"input_size", ArgType::integer, std::nullopt, true};
  input.min = 1;
  ArgDef hidden{"hidden_size", ArgType::integer, std::nullopt};
  hidden.min = 1;
  ArgDef layers_arg{"num_layers", ArgType::integer, Attr{std::int64_t{1}}};
  layers_arg.min = 1;
  layers_arg.max = kMaxStackedLayers;  // each layer is unrolled into the generated code
  ArgDef dropout{"dropout", ArgType::number, Attr{0.0}};
  dropout.min = 0.0;
  dropout.max = 1.0;
  ArgDef bidirectional{"bidirectional", ArgType::boolean, Attr{false}};
  // torch's default is batch_first=False, (T, batch, features); ltgen's sequences are (batch, T, features).
  l.args = {input, hidden, layers_arg};
  for (const ArgDef& a : c.extra_args) l.args.push_back(a);  // torch's order: RNN's nonlinearity comes here
  for (const ArgDef& a : {ArgDef{"bias", ArgType::boolean, Attr{true}}, ArgDef{"batch_first", ArgType::boolean, Attr{false}},
                          dropout, bidirectional})
    l.args.push_back(a);
  if (c.layer == "LSTM") {
    ArgDef proj{"proj_size", ArgType::integer, Attr{std::int64_t{0}}};
    proj.min = 0;
    l.args.push_back(proj);
  }
  // forward's (h_0, c_0) as inputs after x, and (h_n, c_n) as "<node>.h_n", "<node>.c_n".
  l.max_inputs = c.cell_state ? 3 : 2;
  l.extra_outputs = c.cell_state ? std::vector<std::string>{"h_n", "c_n"} : std::vector<std::string>{"h_n"};
  l.build = [c](LayerBuild& b, const std::vector<int>& in) { return build_layer(c, b, in); };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
