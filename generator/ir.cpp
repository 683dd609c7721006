#include "ir.hpp"

#include <limits>
#include <sstream>
#include <stdexcept>

#include <ltrt/python_repr.hpp>

namespace ltgen {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
  }
  return "?";
}

const char* dtype_cpp(DType t) {
  switch (t) {
    case DType::f32: return "float";
    case DType::f64: return "double";
    case DType::i64: return "std::int64_t";
    case DType::u8: return "std::uint8_t";
    case DType::bf16: return "std::uint16_t";
    case DType::f16: return "std::uint16_t";
  }
  return "?";
}

int dtype_bytes(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::u8: return 1;
    case DType::bf16: return 2;
    case DType::f16: return 2;
  }
  return 0;
}

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

std::int64_t numel(const Shape& s) {
  // Saturates instead of wrapping: dimensions of up to 2^31 (read_spec's bound) can still multiply
  // past int64, and the size checks must then see a huge count, not a wrapped one.
  std::int64_t n = 1;
  for (auto d : s) {
    if (d < 0) return -1;  // not a shape (a shape check reports it)
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) return std::numeric_limits<std::int64_t>::max();
    n *= d;
  }
  return n;
}

int Graph::add_value(Value v) {
  values.push_back(std::move(v));
  return static_cast<int>(values.size()) - 1;
}

int Graph::add_node(Node n) {
  nodes.push_back(std::move(n));
  const int id = static_cast<int>(nodes.size()) - 1;
  for (int o : nodes.back().outputs) values.at(o).producer = id;
  return id;
}

int Graph::root(int v) const {
  while (values.at(v).alias_of >= 0) v = values.at(v).alias_of;
  return v;
}

namespace {
const Attr& find_attr(const Node& n, const std::string& key) {
  auto it = n.attrs.find(key);
  if (it == n.attrs.end())
    throw std::logic_error("internal: node " + n.layer + " (" + n.op + ") has no attribute " + key);
  return it->second;
}
}  // namespace

std::int64_t attr_int(const Node& n, const std::string& key) {
  return std::get<std::int64_t>(find_attr(n, key));
}
double attr_float(const Node& n, const std::string& key) {
  const Attr& a = find_attr(n, key);
  if (auto* i = std::get_if<std::int64_t>(&a)) return static_cast<double>(*i);
  return std::get<double>(a);
}
bool attr_bool(const Node& n, const std::string& key) { return std::get<bool>(find_attr(n, key)); }
const std::string& attr_str(const Node& n, const std::string& key) {
  return std::get<std::string>(find_attr(n, key));
}

const std::vector<std::int64_t>& attr_ints(const Node& n, const std::string& key) {
  return std::get<std::vector<std::int64_t>>(find_attr(n, key));
}
const std::vector<double>& attr_floats(const Node& n, const std::string& key) {
  return std::get<std::vector<double>>(find_attr(n, key));
}

std::string attr_repr(const Attr& a) {
  if (auto* v = std::get_if<std::vector<std::int64_t>>(&a)) {
    std::string s = "[";
    for (size_t i = 0; i < v->size(); ++i) s += (i ? ", " : "") + std::to_string((*v)[i]);
    return s + "]";
  }
  if (auto* v = std::get_if<std::vector<double>>(&a)) {
    std::string s = "[";
    for (size_t i = 0; i < v->size(); ++i) s += (i ? ", " : "") + ltrt::python_repr((*v)[i]);
    return s + "]";
  }
  if (auto* i = std::get_if<std::int64_t>(&a)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&a)) return ltrt::python_repr(*d);
  if (auto* b = std::get_if<bool>(&a)) return *b ? "True" : "False";
  return "'" + std::get<std::string>(a) + "'";
}

std::string dump_graph(const Graph& g) {
  std::ostringstream os;
  for (int v : g.inputs) {
    const Value& x = g.value(v);
    os << "input  " << x.name << ": " << dtype_name(x.dtype) << shape_str(x.shape) << "\n";
  }
  if (g.target >= 0) {
    const Value& t = g.value(g.target);
    os << "target " << t.name << ": " << dtype_name(t.dtype) << shape_str(t.shape) << "\n";
  }
  for (int p : g.params) {
    const Value& x = g.value(p);
    os << "param  " << x.name << ": " << dtype_name(x.dtype) << shape_str(x.shape) << "  '"
       << x.torch_name << "'\n";
  }
  for (const Node& n : g.nodes) {
    os << (n.backward ? "bwd  " : "fwd  ");
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      const Value& o = g.value(n.outputs[i]);
      os << (i ? ", " : "") << o.name << ": " << (o.bf16 ? "bf16-in-f32" : dtype_name(o.dtype)) << shape_str(o.shape);
    }
    os << " = " << n.op;
    for (const Node& e : n.epilogue) os << "+" << e.op;
    os << "(";
    for (size_t i = 0; i < n.inputs.size(); ++i) os << (i ? ", " : "") << g.value(n.inputs[i]).name;
    bool first = true;
    for (const auto& [k, a] : n.attrs) {
      os << (n.inputs.empty() && first ? "" : ", ") << k << "=" << attr_repr(a);
      first = false;
    }
    os << ")  # " << n.layer;
    if (!n.source.empty()) os << "  spec: " << n.source;
    os << "\n";
  }
  return os.str();
}

}  // namespace ltgen
