// safetensors reader and writer. The reader trusts nothing in the file: every
// length and offset is checked before it is used.
#include "ltrt/safetensors.hpp"

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/json.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace ltrt {

namespace {

// safetensors itself refuses headers above 100 MB; so do we, before allocating.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// numel * elem_size, or false when it overflows or a dim is negative.
bool byte_size(const std::vector<std::int64_t>& shape, std::size_t elem_size, std::uint64_t& out) {
  std::uint64_t n = elem_size;
  for (const std::int64_t d : shape) {
    if (d < 0) return false;
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && n > std::numeric_limits<std::uint64_t>::max() / ud) return false;
    n *= ud;
  }
  out = n;
  return true;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + "]";
}

bool parse_dtype(std::string_view name, DType& out) {
  if (name == "F32") out = DType::f32;
  else if (name == "F64") out = DType::f64;
  else if (name == "I64") out = DType::i64;
  else if (name == "U8") out = DType::u8;
  else return false;
  return true;
}

bool is_known_other_dtype(std::string_view name) {
  static const char* const kOthers[] = {"F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3",
                                        "F6_E3M2", "F4", "I32", "I16", "I8", "U64", "U32", "U16",
                                        "BOOL", "C64"};
  for (const char* other : kOthers)
    if (name == other) return true;
  return false;
}

std::uint64_t offset_value(const json::Value& v) {
  if (!v.is_number() || !v.is_integer || v.integer < 0) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(v.integer);
}

struct Entry {
  SafeTensor tensor;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

}  // namespace

const SafeTensor* SafeTensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const std::string* SafeTensorsFile::find_metadata(std::string_view key) const {
  for (const auto& [k, v] : metadata)
    if (k == key) return &v;
  return nullptr;
}

SafeTensorsFile read_safetensors(const std::string& path) {
  InputFile in(path);
  auto fail = [&](const std::string& msg) -> Error { return Error(path + ": " + msg); };

  const std::uint64_t file_size = in.size();
  if (file_size < 8)
    throw fail("not a safetensors file: " + std::to_string(file_size) +
               " bytes, too short for the 8-byte header length");
  unsigned char len[8];
  in.read(len, sizeof len);
  std::uint64_t header_len = 0;
  for (std::size_t k = 8; k-- > 0;) header_len = (header_len << 8) | len[k];
  const std::uint64_t after_len = file_size - 8;
  if (header_len > kMaxHeaderBytes)
    throw fail("not a safetensors file: header length " + std::to_string(header_len) +
               " is over the 100000000-byte limit");
  if (header_len > after_len)
    throw fail("truncated: header length is " + std::to_string(header_len) + " bytes but only " +
               std::to_string(after_len) + " bytes follow it");
  const std::string header = in.read_string(static_cast<std::size_t>(header_len));
  if (header_len < 2 || header[0] != '{')
    throw fail("not a safetensors file: the header does not start with '{'");

  json::Value root;
  try {
    root = json::parse(header);
  } catch (const json::ParseError& e) {
    throw fail("invalid header JSON at header line " + std::to_string(e.pos.line) + ", col " +
               std::to_string(e.pos.col) + ": " + e.what());
  }
  if (!root.is_object()) throw fail("the header is not a JSON object");

  const std::uint64_t data_size = after_len - header_len;

  SafeTensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [name, v] : root.members) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw fail("__metadata__ is not a JSON object");
      for (const auto& [key, value] : v.members) {
        if (!value.is_string())
          throw fail("__metadata__ value of " + quoted(key) + " is a " + json::kind_name(value.kind) +
                     ", not a string");
        out.metadata.emplace_back(key, value.str);
      }
      continue;
    }
    const std::string what = "tensor " + quoted(name);
    if (!v.is_object()) throw fail(what + ": header entry is not a JSON object");
    const json::Value* dtype = v.find("dtype");
    const json::Value* shape = v.find("shape");
    const json::Value* offsets = v.find("data_offsets");
    if (dtype == nullptr || shape == nullptr || offsets == nullptr)
      throw fail(what + ": header entry needs \"dtype\", \"shape\" and \"data_offsets\"");
    for (const auto& member : v.members)
      if (member.first != "dtype" && member.first != "shape" && member.first != "data_offsets")
        throw fail(what + ": unknown header field " + quoted(member.first));

    Entry e;
    e.tensor.name = name;
    if (!dtype->is_string()) throw fail(what + ": dtype is not a string");
    if (!parse_dtype(dtype->str, e.tensor.dtype)) {
      if (is_known_other_dtype(dtype->str))
        throw fail(what + " has dtype " + dtype->str + "; only F32, F64, I64 and U8 are supported");
      throw fail(what + ": unknown dtype " + quoted(dtype->str));
    }
    if (!shape->is_array()) throw fail(what + ": shape is not an array");
    for (const auto& d : shape->items) {
      if (!d.is_number() || !d.is_integer || d.integer < 0)
        throw fail(what + ": shape must hold non-negative integers");
      e.tensor.shape.push_back(d.integer);
    }
    if (!offsets->is_array() || offsets->items.size() != 2)
      throw fail(what + ": data_offsets must be [begin, end]");
    e.begin = offset_value(offsets->items[0]);
    e.end = offset_value(offsets->items[1]);
    if (e.begin == std::numeric_limits<std::uint64_t>::max() || e.end == std::numeric_limits<std::uint64_t>::max())
      throw fail(what + ": data_offsets must be non-negative integers");
    const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin > e.end) throw fail(what + ": data_offsets " + range + " end before they begin");
    if (e.end > data_size)
      throw fail(what + ": data_offsets " + range + " run past the end of the file (" +
                 std::to_string(data_size) + " bytes of data)");
    std::uint64_t expected = 0;
    const std::size_t elem = dtype_size(e.tensor.dtype);
    const bool sized = byte_size(e.tensor.shape, elem, expected);
    if (!sized || expected != e.end - e.begin)
      throw fail(what + ": shape " + shape_text(e.tensor.shape) + " " + dtype->str + " needs " +
                 (sized ? std::to_string(expected) : std::string("more than 2^64")) + " bytes but data_offsets " +
                 range + " hold " + std::to_string(e.end - e.begin));
    entries.push_back(std::move(e));
  }

  // The tensors must tile the data section exactly: no gaps, no overlaps.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t cursor = 0;
  const std::string* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin != cursor)
      throw fail("tensor " + quoted(e.tensor.name) + ": data_offsets begin at " + std::to_string(e.begin) +
                 " but " + (prev ? "tensor " + quoted(*prev) + " ends" : std::string("the data starts")) +
                 " at " + std::to_string(cursor) + " (the data must be contiguous)");
    cursor = e.end;
    prev = &e.tensor.name;
  }
  if (cursor != data_size)
    throw fail("the tensors' data ends at " + std::to_string(cursor) + " but the file holds " +
               std::to_string(data_size) + " bytes of data after the header");

  out.tensors.reserve(entries.size());
  for (Entry& e : entries) {
    const auto n = static_cast<std::size_t>(e.end - e.begin);
    e.tensor.data.resize(n);
    in.read(e.tensor.data.data(), n);  // in offset order, so one pass; files are little-endian, like our hosts
    out.tensors.push_back(std::move(e.tensor));
  }
  return out;
}

void write_safetensors(const std::string& path, const std::vector<SafeTensorView>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
  auto fail = [&](const std::string& msg) -> Error { return Error(path + ": " + msg); };

  std::string header = "{\"__metadata__\":{";
  const std::string* format = nullptr;
  for (const auto& [k, v] : metadata)
    if (k == "format") format = &v;
  header += "\"format\":" + json::quote(format ? *format : std::string("pt"));
  for (std::size_t k = 0; k < metadata.size(); ++k) {
    const auto& [key, value] = metadata[k];
    if (key == "format") continue;
    for (std::size_t j = 0; j < k; ++j)
      if (metadata[j].first == key) throw fail("duplicate metadata key " + quoted(key));
    header += "," + json::quote(key) + ":" + json::quote(value);
  }
  header += "}";

  std::vector<std::uint64_t> sizes;
  std::uint64_t offset = 0;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const SafeTensorView& t = tensors[k];
    if (t.name.empty() || t.name == "__metadata__") throw fail("invalid tensor name " + quoted(t.name));
    for (std::size_t j = 0; j < k; ++j)
      if (tensors[j].name == t.name) throw fail("duplicate tensor name " + quoted(t.name));
    std::uint64_t n = 0;
    if (!byte_size(t.shape, dtype_size(t.dtype), n))
      throw fail("tensor " + quoted(t.name) + ": invalid shape " + shape_text(t.shape));
    if (n > 0 && t.data == nullptr) throw fail("tensor " + quoted(t.name) + ": no data");
    header += "," + json::quote(t.name) + ":{\"dtype\":\"" + safetensors_dtype(t.dtype) + "\",\"shape\":[";
    for (std::size_t d = 0; d < t.shape.size(); ++d) header += (d ? "," : "") + std::to_string(t.shape[d]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + n) + "]}";
    offset += n;
    sizes.push_back(n);
  }
  header += "}";
  // Pad so that the data starts 8-byte aligned, as the safetensors writer does.
  header.append((8 - header.size() % 8) % 8, ' ');

  unsigned char len[8];
  for (int k = 0; k < 8; ++k) len[k] = static_cast<unsigned char>((header.size() >> (8 * k)) & 0xff);

  AtomicFile f(path);
  f.write(len, sizeof len);
  f.write(header);
  for (std::size_t k = 0; k < tensors.size(); ++k) f.write(tensors[k].data, static_cast<std::size_t>(sizes[k]));
  f.commit();
}

}  // namespace ltrt
