/// \file
/// Embedding as torch.nn.Embedding: int64 indices (batch, *) look up rows of
/// weight (num_embeddings, embedding_dim), out (batch, *, embedding_dim):
///   out[i, :] = weight[idx[i], :]
/// Its backward (torch's embedding_dense_backward) scatters the rows of dout
/// into dweight, adding where an index repeats:
///   dweight[idx[i], :] += dout[i, :]   (rows where idx[i] == padding_idx skipped)
/// so padding_idx's row gets no gradient. Indices carry no gradient. The data
/// loader refuses indices outside [0, num_embeddings) (ModelDef::num_embeddings).
/// With scale_grad_by_freq each position's row is added times 1 / (its index's count in the
/// batch), as torch's grad_weight[k].add_(grad[i], 1.0 / counts[k]): a fused multiply-add with the
/// scale rounded to float (ATen's add with alpha); the counts include padding_idx's positions.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

void write_sizes(CodeWriter& w, const Node& n, const Value& idx) {
  w.line("constexpr int kIndices = " + std::to_string(per_sample_numel(idx)) + ";  // per sample");
  w.line("constexpr int kDim = " + std::to_string(attr_int(n, "embedding_dim")) + ";  // embedding_dim");
}

// EmbeddingBag's lookup (embedding_bag.cpp) gives padding_idx's positions zeros, whatever the row
// holds: torch's embedding_bag leaves them out of the bag.
bool zero_padding(const Node& n) { return n.attrs.count("zero_padding") && attr_bool(n, "zero_padding"); }

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, n, g.value(n.inputs[0]));
  w.line("// Every index lies in [0, " + std::to_string(attr_int(n, "num_embeddings")) +
         "): the data loader checked them.");
  if (zero_padding(n))
    w.line("constexpr std::int64_t kPaddingIdx = " + std::to_string(attr_int(n, "padding_idx")) +
           ";  // left out of the bag: zeros");
  w.open("for (int i = 0; i < n * kIndices; ++i)");
  w.line("const float* row = weight + inp[i] * kDim;");
  if (zero_padding(n))
    w.line("if (inp[i] == kPaddingIdx) std::fill(out + i * kDim, out + (i + 1) * kDim, 0.0f); else std::copy(row, row + kDim, out + i * kDim);");
  else
    w.line("std::copy(row, row + kDim, out + i * kDim);");
  w.close();
}

bool scaled(const Node& n) { return n.attrs.count("scale_grad_by_freq") && attr_bool(n, "scale_grad_by_freq"); }

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  write_sizes(w, n, g.value(n.inputs[1]));
  w.line("constexpr int kNumEmbeddings = " + std::to_string(attr_int(n, "num_embeddings")) + ";");
  const bool padding = n.attrs.count("padding_idx") > 0;
  if (padding)
    w.line("constexpr std::int64_t kPaddingIdx = " + std::to_string(attr_int(n, "padding_idx")) +
           ";  // its row gets no gradient");
  w.line("if (!accumulate) std::fill(dweight, dweight + kNumEmbeddings * kDim, 0.0f);");
  if (scaled(n)) {
    w.line("// scale_grad_by_freq: how often each index occurs in the batch (the rows it reaches only)");
    w.line("for (int i = 0; i < n * kIndices; ++i) counts[inp[i]] = 0.0f;");
    w.line("for (int i = 0; i < n * kIndices; ++i) counts[inp[i]] += 1.0f;");
  }
  w.open("for (int i = 0; i < n * kIndices; ++i)");
  w.line("const std::int64_t t = inp[i];");
  if (padding) w.line("if (t == kPaddingIdx) continue;");
  w.line("const float* d = dout + i * kDim;");
  if (scaled(n)) {
    w.line("const float scale = static_cast<float>(1.0 / counts[t]);");
    w.line("for (int k = 0; k < kDim; ++k) dweight[t * kDim + k] = std::fma(d[k], scale, dweight[t * kDim + k]);");
  } else {
    w.line("for (int k = 0; k < kDim; ++k) dweight[t * kDim + k] += d[k];");
  }
  w.close();
}

// CUDA forward: a thread per element of out copies it from its row of the table.
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  write_sizes(e.body, n, g.value(n.inputs[0]));
  const std::string dim = "constexpr int kDim = " + std::to_string(attr_int(n, "embedding_dim")) + ";";
  emit_elementwise_kernel(e, e.fn + "_kernel",
                          {{"float* __restrict__ out", "out"},
                           {"const std::int64_t* __restrict__ inp", "inp"},
                           {"const float* __restrict__ weight", "weight"}},
                          "n * kIndices * kDim",
                          {"// Every index lies in [0, " + std::to_string(attr_int(n, "num_embeddings")) +
                               "): the data loader checked them.",
                           zero_padding(n) ? "out[i] = inp[i / kDim] == kPaddingIdx ? 0.0f : weight[inp[i / kDim] * kDim + i % kDim];"
                                           : "out[i] = weight[inp[i / kDim] * kDim + i % kDim];"},
                          [&](CodeWriter& k) {
                            k.line(dim);
                            if (zero_padding(n))
                              k.line("constexpr std::int64_t kPaddingIdx = " + std::to_string(attr_int(n, "padding_idx")) +
                                     ";  // left out of the bag: zeros");
                          });
}

// CUDA backward, a scatter-add made deterministic and cheap: the first position holding index t
// owns row t of dweight, and its block adds dout[j] for every later position j with index t, in
// order, threads across the columns. Every row gets the CPU's additions in the CPU's order (the
// same bits on every run; float atomicAdd would round repeated indices in arrival order). The
// owner finds its positions a window of kWindow at a time: a barrier counts the window's matches
// (most windows have none), and only a window with some lists them, in order, in shared memory.
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const bool padding = n.attrs.count("padding_idx") > 0;
  constexpr int kWindow = 128;
  const std::string window = "constexpr int kWindow = " + std::to_string(kWindow) +
                             ";  // positions a block looks at a time: its threads";
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// Rows no index reaches get zero; rows that one reaches are zeroed here too, then summed into.");
  open_element_kernel(k, e.fn + "_zero_kernel", {"float* __restrict__ dweight"}, [](CodeWriter&) {});
  k.line("dweight[i] = 0.0f;");
  k.close();
  k.line();
  k.line("// Block i: position i, when it is the first to hold its index, sums that index's row.");
  k.open("__global__ void " + e.fn + "_kernel(float* __restrict__ dweight, const float* __restrict__ dout, "
         "const std::int64_t* __restrict__ inp, int indices)");
  k.line("constexpr int kDim = " + std::to_string(attr_int(n, "embedding_dim")) + ";");
  k.line(window);
  if (padding)
    k.line("constexpr std::int64_t kPaddingIdx = " + std::to_string(attr_int(n, "padding_idx")) +
           ";  // its row gets no gradient");
  k.line("__shared__ int at[kWindow];     // the window's positions that hold t, in order");
  k.line("__shared__ int count[kWindow];  // matches up to and including each thread's position");
  k.line("const int i = blockIdx.x;");
  k.line("const std::int64_t t = inp[i];");
  if (padding) k.line("if (t == kPaddingIdx) return;  // the whole block");
  k.line("bool earlier = false;  // does a position before i hold t too?");
  k.line("for (int j = threadIdx.x; j < i && !earlier; j += kWindow) earlier = inp[j] == t;");
  k.line("if (__syncthreads_or(earlier)) return;  // not the owner: the whole block");
  if (scaled(n)) {
    k.line("// scale_grad_by_freq: t's count in the batch, every position holding it from i on");
    k.line("int total = 0;");
    k.line("for (int w = i; w < indices; w += kWindow) total += __syncthreads_count(w + threadIdx.x < indices && inp[w + threadIdx.x] == t);");
    k.line("const float scale = static_cast<float>(1.0 / total);");
  }
  k.open("for (int w = i; w < indices; w += kWindow)");
  k.line("const int j = w + threadIdx.x;");
  k.line("const int match = j < indices && inp[j] == t;");
  k.line("if (__syncthreads_count(match) == 0) continue;  // the whole block");
  k.line("// The matches' ranks: an inclusive scan of the flags, log2(kWindow) steps.");
  k.line("count[threadIdx.x] = match;");
  k.line("__syncthreads();");
  k.open("for (int step = 1; step < kWindow; step *= 2)");
  k.line("const int before = threadIdx.x >= step ? count[threadIdx.x - step] : 0;");
  k.line("__syncthreads();");
  k.line("count[threadIdx.x] += before;");
  k.line("__syncthreads();");
  k.close();
  k.line("if (match) at[count[threadIdx.x] - 1] = j;");
  k.line("__syncthreads();");
  k.line("const int matches = count[kWindow - 1];");
  k.open("for (int c = threadIdx.x; c < kDim; c += kWindow)");
  k.line("float sum = dweight[t * kDim + c];");
  k.line(scaled(n) ? "for (int m = 0; m < matches; ++m) sum = fmaf(dout[static_cast<std::int64_t>(at[m]) * kDim + c], scale, sum);"
                   : "for (int m = 0; m < matches; ++m) sum += dout[static_cast<std::int64_t>(at[m]) * kDim + c];");
  k.line("dweight[t * kDim + c] = sum;");
  k.close();
  k.line("__syncthreads();  // every thread has read at and count before the next window writes them");
  k.close();
  k.close();
  e.body.line("constexpr int kIndices = " + std::to_string(per_sample_numel(g.value(n.inputs[1]))) +
              ";  // per sample");
  e.body.line("constexpr int kTable = " + std::to_string(attr_int(n, "num_embeddings") * attr_int(n, "embedding_dim")) +
              ";  // num_embeddings * embedding_dim");
  e.body.line(window);
  e.body.open("if (!accumulate)");
  emit_launch(e.body, e.fn + "_zero_kernel", "ltrt::cuda::blocks_for(kTable, kThreads)", "kThreads",
              {"dweight", "kTable"});
  e.body.close();
  e.body.line("if (n == 0) return;");
  emit_launch(e.body, e.fn + "_kernel", "n * kIndices", "kWindow", {"dweight", "dout", "inp", "n * kIndices"});
}

}  // namespace

void register_embedding(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "embedding";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& idx = g.value(n.inputs.at(0));
    if (idx.dtype != DType::i64) throw ShapeError("expects int64 indices, got " + std::string(dtype_name(idx.dtype)));
    Shape s = idx.shape;
    s.push_back(attr_int(n, "embedding_dim"));
    return std::vector<OutputType>{{DType::f32, s, idx.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp", "weight"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double rows = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{0, rows * (8 + 8 * static_cast<double>(attr_int(n, "embedding_dim")))};
  };
  f.emit_cpu = emit_forward;
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    if (dout[0] < 0) return std::vector<int>{-1, -1};
    Node b;
    b.op = "embedding_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0], n.inputs[0]};
    b.outputs = {ad.param_grad(n.inputs[1])};
    if (scaled(n)) b.outputs.push_back(-1);  // counts
    ad.add_backward(std::move(b), ad.grad_name(n.inputs[1]));
    return std::vector<int>{-1, -1};  // no gradient into the indices; dweight lives in the grad region
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "embedding_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph&) {
    std::vector<OutputType> t = {{DType::f32, {attr_int(n, "num_embeddings"), attr_int(n, "embedding_dim")}, false}};
    // scale_grad_by_freq's counts per row (the CPU's; unused on CUDA, whose blocks count their own)
    if (scaled(n)) t.push_back({DType::f32, {attr_int(n, "num_embeddings")}, false});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{"dweight"}, {"dout", "inp"}};
    if (scaled(n)) s.outputs.push_back("counts");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double rows = static_cast<double>(numel(g.value(n.inputs[1]).shape));
    const double dim = static_cast<double>(attr_int(n, "embedding_dim"));
    const double table = static_cast<double>(attr_int(n, "num_embeddings")) * dim;
    return Cost{rows * dim, rows * (8 + 12 * dim) + 4 * table};
  };
  b.emit_cpu = emit_backward;
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "Embedding";
  ArgDef num{"num_embeddings", ArgType::integer, std::nullopt};
  num.min = 1;
  ArgDef dim{"embedding_dim", ArgType::integer, std::nullopt};
  dim.min = 1;
  ArgDef padding{"padding_idx", ArgType::integer, std::nullopt};
  padding.optional = true;
  ArgDef max_norm{"max_norm", ArgType::number, std::nullopt};
  max_norm.optional = true;
  max_norm.unsupported = "Embedding's max_norm (renormalising the rows it looks up)";
  ArgDef scale{"scale_grad_by_freq", ArgType::boolean, Attr{false}};
  ArgDef sparse{"sparse", ArgType::boolean, Attr{false}};
  sparse.unsupported = "Embedding's sparse gradients";
  l.args = {num, dim, padding, max_norm, {"norm_type", ArgType::number, Attr{2.0}}, scale, sparse};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& idx = b.graph.value(in.at(0));
    if (idx.dtype != DType::i64)
      throw ShapeError("takes int64 indices, but its input " + shape_str(idx.shape) + " is " +
                       (idx.dtype == DType::f32 ? std::string("float32") : dtype_name(idx.dtype)) +
                       ": declare the model input as {\"shape\": [...], \"dtype\": \"int64\"} and load it from "
                       "an int64 npy file");
    const std::int64_t num_embeddings = std::get<std::int64_t>(b.args.at("num_embeddings"));
    const std::int64_t embedding_dim = std::get<std::int64_t>(b.args.at("embedding_dim"));
    Node n;
    n.op = "embedding";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["num_embeddings"] = num_embeddings;
    n.attrs["embedding_dim"] = embedding_dim;
    if (std::get<bool>(b.args.at("scale_grad_by_freq"))) n.attrs["scale_grad_by_freq"] = true;
    auto padding_idx = b.args.find("padding_idx");
    if (padding_idx != b.args.end()) {
      std::int64_t p = std::get<std::int64_t>(padding_idx->second);
      if (p < -num_embeddings || p >= num_embeddings)
        throw ShapeError("padding_idx " + std::to_string(p) + " must be within num_embeddings: in [" +
                         std::to_string(-num_embeddings) + ", " + std::to_string(num_embeddings - 1) + "]");
      if (p < 0) p += num_embeddings;  // as torch.nn.Embedding
      n.attrs["padding_idx"] = p;
    }
    const int weight = add_param(b.graph, b.layer + ".weight", {num_embeddings, embedding_dim});
    // torch.nn.Embedding.reset_parameters: normal_(0, 1), then padding_idx's row zeroed.
    b.graph.value(weight).init = Init::normal;
    b.graph.value(weight).init_bound = 1.0;
    if (n.attrs.count("padding_idx"))
      b.graph.value(weight).init_zero_row = std::get<std::int64_t>(n.attrs["padding_idx"]);
    n.inputs = {in.at(0), weight};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
