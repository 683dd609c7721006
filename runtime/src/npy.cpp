// .npy reader and writer. The header is a Python dict literal, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// which is parsed here with a tiny parser for exactly that subset.
#include "ltrt/npy.hpp"

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

namespace ltrt {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;
constexpr std::size_t kAlign = 64;         // np.save aligns the data to 64 bytes
constexpr std::size_t kGrowthDigits = 21;  // np.save leaves room for shape[0] to grow

// One element type as the header's descr names it.
struct Descr {
  char kind = 0;         // 'f', 'i', 'u', 'b'
  std::size_t size = 0;  // bytes per element in the file
  bool big_endian = false;
  std::string numpy_name;  // "float32", for messages
};

std::string shape_text(const std::vector<std::int64_t>& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? "x" : "") + std::to_string(shape[k]);
  return s;
}

// numel of shape, or nullopt on overflow (dims are already non-negative).
std::optional<std::uint64_t> checked_numel(const std::vector<std::int64_t>& shape) {
  std::uint64_t n = 1;
  for (const std::int64_t d : shape) {
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / ud)
      return std::nullopt;
    n *= ud;
  }
  return n;
}

// The values of the three header keys, parsed from the dict literal.
struct Header {
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<std::vector<std::int64_t>> shape;
};

class HeaderParser {
 public:
  explicit HeaderParser(std::string_view s) : s_(s) {}

  // Throws a bare message; read_npy adds the path.
  Header parse() {
    Header h;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (peek() == '[') throw Error("structured dtypes (a descr list) are not supported");
        h.descr = parse_string();
      } else if (key == "fortran_order") {
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        h.shape = parse_shape();
      } else {
        throw Error("unexpected header key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == '}') break;
      throw Error("expected ',' or '}' in the header dict");
    }
    ++i_;
    skip_ws();
    if (i_ != s_.size()) throw Error("unexpected text after the header dict");
    if (!h.descr || !h.fortran_order || !h.shape)
      throw Error("the header dict needs 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;

  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) throw Error(std::string("expected '") + c + "' in the header dict");
    ++i_;
  }
  std::string parse_string() {
    const char q = peek();
    if (q != '\'' && q != '"') throw Error("expected a quoted string in the header dict");
    const std::size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) throw Error("unterminated string in the header dict");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  bool parse_bool() {
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    throw Error("fortran_order must be True or False");
  }
  std::vector<std::int64_t> parse_shape() {
    expect('(');
    std::vector<std::int64_t> shape;
    for (;;) {
      skip_ws();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') throw Error("shape must be a tuple of non-negative integers");
      std::int64_t d = 0;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        if (d > (std::numeric_limits<std::int64_t>::max() - digit) / 10) throw Error("shape dimension too large");
        d = d * 10 + digit;
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 longs: (3L, 4L)
      shape.push_back(d);
      if (shape.size() > 64) throw Error("shape has more than 64 dimensions");
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != ')') throw Error("expected ',' or ')' in the shape tuple");
    }
    ++i_;
    return shape;
  }
};

std::optional<Descr> parse_descr(const std::string& d) {
  if (d.size() < 3) return std::nullopt;
  Descr out;
  const char order = d[0];
  if (order == '>') out.big_endian = true;
  else if (order != '<' && order != '|' && order != '=') return std::nullopt;
  out.kind = d[1];
  const std::string size = d.substr(2);
  if (size == "1") out.size = 1;
  else if (size == "2") out.size = 2;
  else if (size == "4") out.size = 4;
  else if (size == "8") out.size = 8;
  else return std::nullopt;
  const std::string bits = std::to_string(out.size * 8);
  switch (out.kind) {
    case 'f':
      if (out.size != 4 && out.size != 8) return std::nullopt;
      out.numpy_name = "float" + bits;
      break;
    case 'i': out.numpy_name = "int" + bits; break;
    case 'u': out.numpy_name = "uint" + bits; break;
    case 'b':
      if (out.size != 1) return std::nullopt;
      out.numpy_name = "bool";
      break;
    default: return std::nullopt;
  }
  if (out.size == 1) out.big_endian = false;
  return out;
}

// Reads one element of the file's type as an unsigned integer of its size,
// in host order.
std::uint64_t load_bits(const unsigned char* p, std::size_t size, bool big_endian) {
  std::uint64_t v = 0;
  for (std::size_t k = 0; k < size; ++k) {
    const std::size_t byte = big_endian ? k : size - 1 - k;
    v = (v << 8) | p[byte];
  }
  return v;
}

std::string tuple_repr(const std::vector<std::int64_t>& shape) {
  if (shape.empty()) return "()";
  std::string s = "(";
  for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

std::int64_t NpyArray::numel() const {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  return n;
}

NpyArray read_npy(const std::string& path) {
  InputFile in(path);
  auto fail = [&](const std::string& msg) -> Error { return Error(path + ": " + msg); };

  const std::uint64_t file_size = in.size();
  std::string magic = in.read_string(static_cast<std::size_t>(std::min<std::uint64_t>(file_size, kMagicLen + 2)));
  if (magic.size() < kMagicLen + 2 || magic.compare(0, kMagicLen, kMagic, kMagicLen) != 0)
    throw fail("not a .npy file (it does not start with \\x93NUMPY)");
  const auto major = static_cast<unsigned char>(magic[6]);
  const auto minor = static_cast<unsigned char>(magic[7]);
  if (major < 1 || major > 3 || minor != 0)
    throw fail("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor));
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicLen + 2 + len_bytes;
  if (file_size < prefix) throw fail("truncated: the file ends inside the header length");
  unsigned char len[4];
  in.read(len, len_bytes);
  std::uint64_t header_len = 0;
  for (std::size_t k = len_bytes; k-- > 0;) header_len = (header_len << 8) | len[k];
  if (header_len > file_size - prefix)
    throw fail("truncated: header length is " + std::to_string(header_len) + " bytes but only " +
               std::to_string(file_size - prefix) + " bytes follow it");
  const std::string header_text = in.read_string(static_cast<std::size_t>(header_len));

  Header h;
  try {
    h = HeaderParser(header_text).parse();
  } catch (const Error& e) {
    throw fail(std::string("invalid .npy header: ") + e.what());
  }
  if (*h.fortran_order)
    throw fail("Fortran-order arrays are not supported; save a C-order copy with "
               "np.save(path, np.ascontiguousarray(a))");
  const std::optional<Descr> descr = parse_descr(*h.descr);
  if (!descr)
    throw fail("dtype '" + *h.descr +
               "' is not supported (float32, float64, int64; bool, int8..int32 and uint8..uint64 "
               "are read as int64)");

  NpyArray out;
  out.shape = *h.shape;
  out.file_dtype = descr->numpy_name;
  const bool as_is = (descr->kind == 'f' || (descr->kind == 'i' && descr->size == 8)) && !descr->big_endian;
  out.dtype = descr->kind == 'f' ? (descr->size == 4 ? DType::f32 : DType::f64) : DType::i64;

  const std::optional<std::uint64_t> numel = checked_numel(out.shape);
  const std::uint64_t have = file_size - prefix - header_len;
  if (!numel || *numel > std::numeric_limits<std::uint64_t>::max() / descr->size)
    throw fail("shape " + shape_text(out.shape) + " is too large");
  const std::uint64_t need = *numel * descr->size;
  if (have != need) {
    const std::string says = "header says " + shape_text(out.shape) + " " + descr->numpy_name + " (" +
                             std::to_string(need) + " bytes) but file has " + std::to_string(have) +
                             " bytes of data";
    throw fail(have < need ? "truncated: " + says : says);
  }

  const auto n = static_cast<std::size_t>(*numel);
  out.data.resize(n * dtype_size(out.dtype));
  if (as_is) {
    in.read(out.data.data(), out.data.size());
    return out;
  }
  const std::string raw = in.read_string(n * descr->size);
  const auto* src = reinterpret_cast<const unsigned char*>(raw.data());
  for (std::size_t k = 0; k < n; ++k) {
    const std::uint64_t bits = load_bits(src + k * descr->size, descr->size, descr->big_endian);
    std::byte* dst = out.data.data() + k * dtype_size(out.dtype);
    if (descr->kind == 'f') {
      // Big-endian floats: the bits are now in host order.
      if (descr->size == 4) {
        const auto b32 = static_cast<std::uint32_t>(bits);
        std::memcpy(dst, &b32, 4);
      } else {
        std::memcpy(dst, &bits, 8);
      }
      continue;
    }
    std::int64_t v;
    if (descr->kind == 'u' || descr->kind == 'b') {
      if (bits > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw fail("element " + std::to_string(k) + " (" + std::to_string(bits) + ") does not fit in int64");
      v = static_cast<std::int64_t>(bits);
    } else {
      // Sign-extend from the file's width.
      const unsigned shift = static_cast<unsigned>(64 - 8 * descr->size);
      v = static_cast<std::int64_t>(bits << shift) >> shift;
    }
    std::memcpy(dst, &v, 8);
  }
  return out;
}

void write_npy(const std::string& path, DType dtype, const std::vector<std::int64_t>& shape, const void* data) {
  for (const std::int64_t d : shape)
    if (d < 0) throw Error(path + ": cannot write a negative dimension in shape " + tuple_repr(shape));
  const std::optional<std::uint64_t> numel = checked_numel(shape);
  if (!numel) throw Error(path + ": shape " + tuple_repr(shape) + " is too large");
  const std::uint64_t nbytes = *numel * dtype_size(dtype);
  if (nbytes > 0 && data == nullptr) throw Error(path + ": no data to write");

  const char* descr = nullptr;
  switch (dtype) {
    case DType::f32: descr = "<f4"; break;
    case DType::f64: descr = "<f8"; break;
    case DType::i64: descr = "<i8"; break;
    case DType::u8: descr = "|u1"; break;
  }
  if (descr == nullptr) throw Error(path + ": invalid dtype " + std::to_string(static_cast<int>(dtype)));
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " +
                     tuple_repr(shape) + ", }";
  // Like np.save: room for shape[0] to grow in place, then spaces and '\n'
  // so that the data starts at a multiple of 64 bytes.
  if (!shape.empty()) dict.append(kGrowthDigits - std::to_string(shape[0]).size(), ' ');
  // np.save pads by 1..64 bytes (never 0), and switches to version 2.0 (a
  // 4-byte header length) only when the padded header outgrows 2 bytes.
  auto pad_for = [&](std::size_t len_bytes) {
    const std::size_t unpadded = kMagicLen + 2 + len_bytes + dict.size() + 1;
    return kAlign - unpadded % kAlign;
  };
  std::size_t len_bytes = 2;
  unsigned char major = 1;
  if (dict.size() + pad_for(2) + 1 > 65535) {
    len_bytes = 4;
    major = 2;
  }
  dict.append(pad_for(len_bytes), ' ');
  dict += '\n';

  std::string head(kMagic, kMagicLen);
  head += static_cast<char>(major);
  head += '\0';
  for (std::size_t k = 0; k < len_bytes; ++k) head += static_cast<char>((dict.size() >> (8 * k)) & 0xff);
  head += dict;

  AtomicFile f(path);
  f.write(head);
  f.write(data, static_cast<std::size_t>(nbytes));
  f.commit();
}

}  // namespace ltrt
