#include "class_targets.hpp"

#include <algorithm>

namespace ltgen {

std::int64_t label_positions(const Value& target) {
  std::int64_t p = 1;
  for (size_t d = 1; d < target.shape.size(); ++d) p *= target.shape[d];
  return p;
}

std::string label_rows(const Value& target) { return label_positions(target) > 1 ? "n * kPositions" : "n"; }

void check_class_shapes(const Value& x, const Value& t, std::int64_t classes) {
  if (x.shape.size() < 2 || x.shape.back() != classes)
    throw ShapeError("expects an input of shape (batch, [T,] " + std::to_string(classes) + ") for num_classes=" +
                     std::to_string(classes) + ", got " + shape_str(x.shape));
  if (t.dtype != DType::i64 || t.shape.size() + 1 != x.shape.size() ||
      !std::equal(t.shape.begin(), t.shape.end(), x.shape.begin())) {
    // Per sample: the input without its batch dimension, the targets without the classes too.
    const Shape labels(x.shape.begin() + 1, x.shape.end() - 1);
    std::string shape;
    for (size_t d = 0; d < labels.size(); ++d) shape += (d ? ", " : "") + std::to_string(labels[d]);
    throw ShapeError("expects int64 class targets, " +
                     (labels.empty() ? std::string("one per sample") : "[" + shape + "] per sample") +
                     ", for an input of " + shape_str(Shape(x.shape.begin() + 1, x.shape.end())) +
                     " per sample: set model.target to {\"dtype\": \"int64\", \"num_classes\": " + std::to_string(classes) +
                     (labels.empty() ? std::string() : ", \"shape\": [" + shape + "]") + "}");
  }
}

int build_class_loss(LayerBuild& b, const std::vector<int>& in, const std::string& op, const std::string& what) {
  const Value& x = b.graph.value(in.at(0));
  if (x.shape.size() < 2)
    throw ShapeError("expects " + what + " (batch, classes) or (batch, T, classes), got " + shape_str(x.shape));
  Node n;
  n.op = op;
  n.layer = b.layer;
  n.source = b.source;
  n.attrs = b.args;
  n.attrs.erase("weight");  // a number list: set_class_weight checks it first
  n.attrs["num_classes"] = x.shape.back();
  set_class_weight(n, b.args, x.shape.back());
  n.inputs = {in.at(0), in.at(1)};
  const int id = add_op(b.graph, std::move(n), "loss");
  return b.graph.nodes[id].outputs[0];
}

ArgDef class_weight_arg() {
  ArgDef w{"weight", ArgType::number_list, std::nullopt};
  w.optional = true;
  return w;
}

bool class_weighted(const Node& n) { return n.attrs.count("weight") > 0; }

void set_class_weight(Node& n, const Attrs& args, std::int64_t classes) {
  auto it = args.find("weight");
  if (it == args.end()) return;
  const auto& w = std::get<std::vector<double>>(it->second);
  if (static_cast<std::int64_t>(w.size()) != classes)
    throw ShapeError("weight has " + std::to_string(w.size()) + " entries but there are " + std::to_string(classes) +
                     " classes: give one weight per class");
  n.attrs["weight"] = w;
}

std::string weight_sum_line(const Node& n) {
  float sum = 0;  // in float, in order, as torch's weight.sum() on a float32 tensor of few classes
  for (double x : attr_floats(n, "weight")) sum += static_cast<float>(x);
  return "constexpr float kWeightSum = " + float_literal(sum) + ";";
}

namespace {

// The class weights as float literals: "0.5f, 2.0f, 1.0f".
std::string weight_literals(const Node& n) {
  std::string list;
  for (double x : attr_floats(n, "weight")) list += (list.empty() ? "" : ", ") + float_literal(x);
  return list;
}

}  // namespace

void write_class_weights(CodeWriter& w, const Node& n, bool with_sum) {
  if (!class_weighted(n)) return;
  const std::string list = weight_literals(n);
  // static: a split loop's lambda reads it in place instead of copying it into every part.
  w.line("static constexpr float kWeight[kClasses] = {" + list + "};  // the loss's class weights");
  if (with_sum) w.line(weight_sum_line(n));
}

void write_device_class_weights(CodeWriter& k, const Node& n, const std::string& name) {
  const std::string list = weight_literals(n);
  k.line();
  k.line("// The loss's class weights, in global memory (constant memory would hold 16K floats at most and");
  k.line("// serialises the different classes a warp's lanes read).");
  k.line("__device__ const float " + name + "[" + std::to_string(attr_floats(n, "weight").size()) + "] = {" + list + "};");
}

std::string total_slot(const Node& n) { return class_weighted(n) ? "total_weight" : "kept"; }

void write_label_sum_kernel(CodeWriter& k, const std::string& kernel, const std::vector<std::string>& params,
                            const std::string& what, const std::string& term, const std::string& row_weight,
                            std::int64_t ignore_index, bool mean) {
  const bool weighted = !row_weight.empty();
  const std::string total = weighted ? "total_weight" : "count";
  const std::string type = weighted ? "double" : "int";
  k.line();
  k.line("// One block: the sum of the rows' " + what + " in double (the CPU's precision) and the " +
         (weighted ? std::string("sum of their targets' weights") : std::string("count")));
  k.line("// over the rows whose target is not ignored, then the loss. A fixed order, no float atomics:");
  k.line("// the same loss on every run.");
  std::string list = "float* __restrict__ out, " + std::string(weighted ? "float" : "std::int64_t") + "* __restrict__ " + total;
  for (const std::string& p : params) list += ", " + p;
  k.open("__global__ void " + kernel + "(" + list + ", int rows)");
  k.line("constexpr std::int64_t kIgnoreIndex = " + std::to_string(ignore_index) + ";");
  k.line("__shared__ double partial[kReduceThreads];");
  k.line("__shared__ " + type + " kept[kReduceThreads];");
  k.line("double sum = 0.0;");
  k.line(type + " mine = 0;");
  k.open("for (int i = threadIdx.x; i < rows; i += blockDim.x)");
  k.line("if (target[i] == kIgnoreIndex) continue;");
  k.line("sum += " + term + ";");
  k.line(weighted ? "mine += " + row_weight + ";" : "++mine;");
  k.close();
  k.line("partial[threadIdx.x] = sum;");
  k.line("kept[threadIdx.x] = mine;");
  k.line("__syncthreads();");
  k.open("for (int s = blockDim.x / 2; s > 0; s /= 2)");
  k.open("if (threadIdx.x < s)");
  k.line("partial[threadIdx.x] += partial[threadIdx.x + s];");
  k.line("kept[threadIdx.x] += kept[threadIdx.x + s];");
  k.close();
  k.line("__syncthreads();");
  k.close();
  k.line("if (threadIdx.x != 0) return;");
  k.line(total + "[0] = " + (weighted ? "static_cast<float>(kept[0])" : "kept[0]") + ";  // for the backward");
  if (mean)
    k.line("out[0] = static_cast<float>(partial[0] / kept[0]);  // reduction='mean' (NaN when every target is ignored, as torch)");
  else
    k.line("out[0] = static_cast<float>(partial[0]);  // reduction='sum'");
  k.close();
}

}  // namespace ltgen
