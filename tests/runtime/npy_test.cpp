// .npy: exact np.save bytes, all header versions, conversions, bad files.
#include "ltrt/npy.hpp"

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

namespace {

std::string dir() {
  static const std::string d = [] {
    const std::string p = std::string(LTRT_TEST_TMP) + "/npy_test";
    std::filesystem::remove_all(p);
    ltrt::make_dirs(p);
    return p;
  }();
  return d;
}

// A .npy file as np.save lays it out: magic, version, header length, the dict
// padded with spaces and ended by '\n' so that the data starts at a multiple of 64.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  const std::size_t unpadded = 8 + len_bytes + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  for (std::size_t k = 0; k < len_bytes; ++k) out += static_cast<char>((header.size() >> (8 * k)) & 0xff);
  return out + header + data;
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string s;
  for (const T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

std::string big_endian(std::string little, std::size_t size) {
  for (std::size_t k = 0; k < little.size(); k += size) std::reverse(little.begin() + k, little.begin() + k + size);
  return little;
}

std::string write(const std::string& name, const std::string& bytes) {
  const std::string path = dir() + "/" + name + ".npy";
  ltrt::write_file_atomic(path, bytes);
  return path;
}

template <class T>
std::vector<T> values(const ltrt::NpyArray& a) {
  std::vector<T> out(a.data.size() / sizeof(T));
  std::memcpy(out.data(), a.data.data(), a.data.size());
  return out;
}

std::string read_error(const std::string& name, const std::string& bytes) {
  const std::string path = write(name, bytes);
  try {
    ltrt::read_npy(path);
  } catch (const ltrt::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    return msg.substr(path.size() + 2);
  }
  return "(no error)";
}

TEST(Npy, ReadsFloat32) {
  const std::string path = write(
      "f4", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", raw<float>({1, 2, 3, 4, 5, 6})));
  const ltrt::NpyArray a = ltrt::read_npy(path);
  EXPECT_EQ(a.dtype, ltrt::DType::f32);
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.numel(), 6);
  EXPECT_EQ(values<float>(a), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(Npy, HeaderVersionsAndShapes) {
  const ltrt::NpyArray v2 = ltrt::read_npy(
      write("v2", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", raw<double>({0.5, -1}), 2)));
  EXPECT_EQ(v2.dtype, ltrt::DType::f64);
  EXPECT_EQ(values<double>(v2), (std::vector<double>{0.5, -1}));
  const ltrt::NpyArray v3 = ltrt::read_npy(
      write("v3", npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }", raw<std::int64_t>({-9}), 3)));
  EXPECT_EQ(v3.dtype, ltrt::DType::i64);
  EXPECT_EQ(values<std::int64_t>(v3), (std::vector<std::int64_t>{-9}));
  // 0-d, empty, keys in another order, double quotes, Python 2 longs.
  const ltrt::NpyArray scalar = ltrt::read_npy(
      write("scalar", npy_bytes("{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f4\"}", raw<float>({3}))));
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(values<float>(scalar), (std::vector<float>{3}));
  const ltrt::NpyArray empty =
      ltrt::read_npy(write("empty", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", "")));
  EXPECT_EQ(empty.shape, (std::vector<std::int64_t>{0, 4}));
  EXPECT_TRUE(empty.data.empty());
  const ltrt::NpyArray longs = ltrt::read_npy(
      write("longs", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }", raw<float>({1, 2}))));
  EXPECT_EQ(longs.shape, (std::vector<std::int64_t>{1, 2}));
}

TEST(Npy, ConvertsIntegersAndBoolsToInt64) {
  const auto read_ints = [&](const std::string& name, const std::string& descr, const std::string& data) {
    const ltrt::NpyArray a = ltrt::read_npy(
        write(name, npy_bytes("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (3,), }", data)));
    EXPECT_EQ(a.dtype, ltrt::DType::i64) << descr;
    return values<std::int64_t>(a);
  };
  const std::vector<std::int64_t> want{-2, 0, 7};
  EXPECT_EQ(read_ints("i4", "<i4", raw<std::int32_t>({-2, 0, 7})), want);
  EXPECT_EQ(read_ints("i2", "<i2", raw<std::int16_t>({-2, 0, 7})), want);
  EXPECT_EQ(read_ints("i1", "|i1", raw<std::int8_t>({-2, 0, 7})), want);
  EXPECT_EQ(read_ints("u1", "|u1", raw<std::uint8_t>({255, 0, 7})), (std::vector<std::int64_t>{255, 0, 7}));
  EXPECT_EQ(read_ints("u8", "<u8", raw<std::uint64_t>({5, 0, 7})), (std::vector<std::int64_t>{5, 0, 7}));
  EXPECT_EQ(read_ints("b1", "|b1", raw<std::uint8_t>({1, 0, 1})), (std::vector<std::int64_t>{1, 0, 1}));
  EXPECT_EQ(read_ints("be_i4", ">i4", big_endian(raw<std::int32_t>({-2, 0, 7}), 4)), want);
  EXPECT_EQ(read_ints("be_i8", ">i8", big_endian(raw<std::int64_t>({-2, 0, 7}), 8)), want);
  EXPECT_EQ(read_error("u8_big", npy_bytes("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }",
                                           raw<std::uint64_t>({~0ULL}))),
            "element 0 (18446744073709551615) does not fit in int64");
}

TEST(Npy, BigEndianFloats) {
  const ltrt::NpyArray f4 = ltrt::read_npy(write(
      "be_f4", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", big_endian(raw<float>({1.5f, -2}), 4))));
  EXPECT_EQ(values<float>(f4), (std::vector<float>{1.5f, -2}));
  const ltrt::NpyArray f8 = ltrt::read_npy(write(
      "be_f8", npy_bytes("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", big_endian(raw<double>({0.1}), 8))));
  EXPECT_EQ(values<double>(f8), (std::vector<double>{0.1}));
}

TEST(Npy, WritesWhatNpSaveWrites) {
  // np.save("x.npy", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)) with
  // NumPy >= 1.23: the dict, 20 spaces of room for shape[0] to grow, padding
  // to 128 bytes, '\n'.
  const float data[] = {1, 2, 3, 4, 5, 6};
  const std::string path = dir() + "/written.npy";
  ltrt::write_npy(path, ltrt::DType::f32, {2, 3}, data);
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string header = dict + std::string(20, ' ');
  header.append(128 - 10 - header.size() - 1, ' ');
  header += '\n';
  const std::string expected = std::string("\x93NUMPY\x01\x00", 8) + "\x76" + '\0' + header + raw<float>({1, 2, 3, 4, 5, 6});
  EXPECT_EQ(ltrt::read_file(path), expected);
  EXPECT_FALSE(ltrt::exists(path + ".tmp"));
}

TEST(Npy, RoundTrip) {
  const double d[] = {0.25, -3, 1e300};
  ltrt::write_npy(dir() + "/f8.npy", ltrt::DType::f64, {3}, d);
  const ltrt::NpyArray a = ltrt::read_npy(dir() + "/f8.npy");
  EXPECT_EQ(a.dtype, ltrt::DType::f64);
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(values<double>(a), (std::vector<double>(d, d + 3)));
  EXPECT_EQ(ltrt::read_file(dir() + "/f8.npy").find("'shape': (3,), }"), 51u);

  const std::int64_t i[] = {5};
  ltrt::write_npy(dir() + "/i8.npy", ltrt::DType::i64, {}, i);
  const ltrt::NpyArray s = ltrt::read_npy(dir() + "/i8.npy");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(values<std::int64_t>(s), (std::vector<std::int64_t>{5}));

  // u8 (dropout masks) is written as '|u1' and reads back as int64.
  const std::uint8_t mask[] = {0, 1, 255};
  ltrt::write_npy(dir() + "/u1.npy", ltrt::DType::u8, {3}, mask);
  EXPECT_NE(ltrt::read_file(dir() + "/u1.npy").find("'descr': '|u1'"), std::string::npos);
  EXPECT_EQ(values<std::int64_t>(ltrt::read_npy(dir() + "/u1.npy")), (std::vector<std::int64_t>{0, 1, 255}));

  ltrt::write_npy(dir() + "/empty.npy", ltrt::DType::f32, {0}, nullptr);
  EXPECT_EQ(ltrt::read_npy(dir() + "/empty.npy").numel(), 0);

  // Many dims still give a 64-byte aligned header.
  const std::vector<std::int64_t> shape(30, 1);
  const float one = 1;
  ltrt::write_npy(dir() + "/rank30.npy", ltrt::DType::f32, shape, &one);
  EXPECT_EQ((ltrt::read_file(dir() + "/rank30.npy").size() - 4) % 64, 0u);
  EXPECT_EQ(ltrt::read_npy(dir() + "/rank30.npy").shape, shape);

  EXPECT_THROW(ltrt::write_npy(dir() + "/neg.npy", ltrt::DType::f32, {-1}, &one), ltrt::Error);
  EXPECT_THROW(ltrt::write_npy(dir() + "/null.npy", ltrt::DType::f32, {2}, nullptr), ltrt::Error);
}

TEST(Npy, BadFiles) {
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 10), }";
  EXPECT_EQ(read_error("truncated", npy_bytes(good_dict, std::string(3990, '\0'))),
            "truncated: header says 1000x10 float32 (40000 bytes) but file has 3990 bytes of data");
  EXPECT_EQ(read_error("trailing", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                                             std::string(12, '\0'))),
            "header says 2 float32 (8 bytes) but file has 12 bytes of data");
  EXPECT_EQ(read_error("magic", "PK\x03\x04 this is a zip"), "not a .npy file (it does not start with \\x93NUMPY)");
  EXPECT_EQ(read_error("tiny", "\x93NUM"), "not a .npy file (it does not start with \\x93NUMPY)");
  EXPECT_EQ(read_error("version", std::string("\x93NUMPY\x04\x00", 8) + "\x10" + '\0'),
            "unsupported .npy format version 4.0");
  EXPECT_EQ(read_error("no_len", std::string("\x93NUMPY\x02\x00\x10", 9)),
            "truncated: the file ends inside the header length");
  EXPECT_EQ(read_error("len", std::string("\x93NUMPY\x01\x00", 8) + "\xff\xff" + "{}"),
            "truncated: header length is 65535 bytes but only 2 bytes follow it");
  EXPECT_EQ(read_error("fortran", npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                                            raw<float>({1, 2, 3, 4}))),
            "Fortran-order arrays are not supported; save a C-order copy with "
            "np.save(path, np.ascontiguousarray(a))");
  EXPECT_EQ(read_error("complex", npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "12345678")),
            "dtype '<c8' is not supported (float32, float64, int64; bool, int8..int32 and uint8..uint64 are read "
            "as int64)");
  EXPECT_EQ(read_error("f2", npy_bytes("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", "12")),
            "dtype '<f2' is not supported (float32, float64, int64; bool, int8..int32 and uint8..uint64 are read "
            "as int64)");
  EXPECT_EQ(read_error("structured",
                       npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "1234")),
            "invalid .npy header: structured dtypes (a descr list) are not supported");
  EXPECT_EQ(read_error("no_shape", npy_bytes("{'descr': '<f4', 'fortran_order': False, }", "1234")),
            "invalid .npy header: the header dict needs 'descr', 'fortran_order' and 'shape'");
  EXPECT_EQ(read_error("bad_dict", npy_bytes("{'descr': '<f4' 'fortran_order': False, 'shape': (1,), }", "1234")),
            "invalid .npy header: expected ',' or '}' in the header dict");
  EXPECT_EQ(read_error("neg_shape", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "")),
            "invalid .npy header: shape must be a tuple of non-negative integers");
  EXPECT_EQ(read_error("huge_dim",
                       npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "")),
            "invalid .npy header: shape dimension too large");
  EXPECT_EQ(read_error("huge_numel", npy_bytes("{'descr': '<f8', 'fortran_order': False, "
                                               "'shape': (4294967296, 4294967296), }",
                                               "")),
            "shape 4294967296x4294967296 is too large");
  EXPECT_EQ(read_error("unbalanced_quote", npy_bytes("{'descr': '<f4, 'fortran_order': False}", "")),
            "invalid .npy header: expected ',' or '}' in the header dict");
  EXPECT_EQ(read_error("unterminated", npy_bytes("{'descr': '<f4", "")),
            "invalid .npy header: unterminated string in the header dict");
  EXPECT_EQ(read_error("extra_key", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", "1234")),
            "invalid .npy header: unexpected header key 'x'");
  EXPECT_EQ(read_error("empty", ""), "not a .npy file (it does not start with \\x93NUMPY)");
}

}  // namespace
