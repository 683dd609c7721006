// safetensors: exact bytes, round trips, and every kind of bad file.
#include "ltrt/safetensors.hpp"

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

namespace {

std::string dir() {
  static const std::string d = [] {
    const std::string p = std::string(LTRT_TEST_TMP) + "/safetensors_test";
    std::filesystem::remove_all(p);
    ltrt::make_dirs(p);
    return p;
  }();
  return d;
}

std::string u64le(std::uint64_t n) {
  std::string s;
  for (int k = 0; k < 8; ++k) s += static_cast<char>((n >> (8 * k)) & 0xff);
  return s;
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string s;
  for (const T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

// A file from a header and data, the header padded like the safetensors writer pads it.
std::string file_bytes(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return u64le(header.size()) + header + data;
}

std::string write(const std::string& name, const std::string& bytes) {
  const std::string path = dir() + "/" + name;
  ltrt::write_file_atomic(path, bytes);
  return path;
}

std::string read_error(const std::string& name, const std::string& bytes) {
  const std::string path = write(name, bytes);
  try {
    ltrt::read_safetensors(path);
  } catch (const ltrt::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    return msg.substr(path.size() + 2);
  }
  return "(no error)";
}

template <class T>
std::vector<T> values(const ltrt::SafeTensor& t) {
  std::vector<T> out(t.data.size() / sizeof(T));
  std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

TEST(Safetensors, ReadsHandMadeFile) {
  // What safetensors.torch.save_file({"w": torch.tensor([[1., 2.], [3., 4.]]),
  // "step": torch.tensor([7])}, f, metadata={"k": "v"}) stores.
  const std::string header =
      R"({"__metadata__":{"k":"v","format":"pt"},"step":{"dtype":"I64","shape":[1],"data_offsets":[16,24]},)"
      R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  const std::string path = write("hand.safetensors", file_bytes(header, raw<float>({1, 2, 3, 4}) + raw<std::int64_t>({7})));
  const ltrt::SafeTensorsFile f = ltrt::read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "w");  // data order
  EXPECT_EQ(f.tensors[1].name, "step");
  const ltrt::SafeTensor* w = f.find("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, ltrt::DType::f32);
  EXPECT_EQ(w->shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(values<float>(*w), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(values<std::int64_t>(*f.find("step")), (std::vector<std::int64_t>{7}));
  EXPECT_EQ(f.find("nope"), nullptr);
  ASSERT_EQ(f.metadata.size(), 2u);
  EXPECT_EQ(f.metadata[0], (std::pair<std::string, std::string>{"k", "v"}));
  ASSERT_NE(f.find_metadata("format"), nullptr);
  EXPECT_EQ(*f.find_metadata("format"), "pt");
  EXPECT_EQ(f.find_metadata("x"), nullptr);
}

TEST(Safetensors, WritesExactBytes) {
  const float w[] = {1.5f, -2.0f};
  const double b[] = {0.25};
  const std::string path = dir() + "/exact.safetensors";
  ltrt::write_safetensors(path,
                          {{"layers.0.weight", ltrt::DType::f32, {1, 2}, w}, {"layers.0.bias", ltrt::DType::f64, {1}, b}},
                          {{"epoch", "3"}});
  const std::string header =
      R"({"__metadata__":{"format":"pt","epoch":"3"},"layers.0.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},)"
      R"("layers.0.bias":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})";
  const std::string expected = file_bytes(header, raw<float>({1.5f, -2.0f}) + raw<double>({0.25}));
  EXPECT_EQ(ltrt::read_file(path), expected);
  EXPECT_EQ(ltrt::read_file(path).size() % 8, 0u);
  EXPECT_FALSE(ltrt::exists(path + ".tmp"));
}

TEST(Safetensors, RoundTrip) {
  const float f32[] = {1, 2, 3, 4, 5, 6};
  const double f64[] = {0.5, -1e300};
  const std::int64_t i64[] = {-1, 1LL << 40, 3};
  const float scalar = 42;
  const std::uint8_t mask[] = {1, 0, 255};
  const std::string path = dir() + "/round.safetensors";
  ltrt::write_safetensors(path,
                          {{"a", ltrt::DType::f32, {2, 3}, f32},
                           {"b", ltrt::DType::f64, {2}, f64},
                           {"empty", ltrt::DType::f32, {0, 5}, nullptr},
                           {"c\"quoted\\name", ltrt::DType::i64, {3}, i64},
                           {"scalar", ltrt::DType::f32, {}, &scalar},
                           {"mask", ltrt::DType::u8, {3}, mask}},
                          {{"format", "custom"}, {"json", R"({"x": [1, "two"]})"}});
  const ltrt::SafeTensorsFile f = ltrt::read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 6u);
  EXPECT_EQ(f.find("mask")->dtype, ltrt::DType::u8);
  EXPECT_EQ(values<std::uint8_t>(*f.find("mask")), (std::vector<std::uint8_t>{1, 0, 255}));
  EXPECT_EQ(values<float>(*f.find("a")), (std::vector<float>(f32, f32 + 6)));
  EXPECT_EQ(values<double>(*f.find("b")), (std::vector<double>(f64, f64 + 2)));
  EXPECT_EQ(f.find("empty")->shape, (std::vector<std::int64_t>{0, 5}));
  EXPECT_TRUE(f.find("empty")->data.empty());
  EXPECT_EQ(values<std::int64_t>(*f.find("c\"quoted\\name")), (std::vector<std::int64_t>(i64, i64 + 3)));
  EXPECT_TRUE(f.find("scalar")->shape.empty());
  EXPECT_EQ(values<float>(*f.find("scalar")), (std::vector<float>{42}));
  ASSERT_EQ(f.metadata.size(), 2u);
  EXPECT_EQ(f.metadata[0].first, "format");
  EXPECT_EQ(f.metadata[0].second, "custom");
  EXPECT_EQ(*f.find_metadata("json"), R"({"x": [1, "two"]})");
}

TEST(Safetensors, WriteRefusesBadInput) {
  const float x[] = {1};
  const std::string path = dir() + "/bad_write.safetensors";
  EXPECT_THROW(ltrt::write_safetensors(path, {{"a", ltrt::DType::f32, {1}, x}, {"a", ltrt::DType::f32, {1}, x}}, {}),
               ltrt::Error);
  EXPECT_THROW(ltrt::write_safetensors(path, {{"a", ltrt::DType::f32, {-1}, x}}, {}), ltrt::Error);
  EXPECT_THROW(ltrt::write_safetensors(path, {{"a", ltrt::DType::f32, {2}, nullptr}}, {}), ltrt::Error);
  EXPECT_THROW(ltrt::write_safetensors(path, {{"__metadata__", ltrt::DType::f32, {1}, x}}, {}), ltrt::Error);
  EXPECT_THROW(ltrt::write_safetensors(path, {}, {{"k", "1"}, {"k", "2"}}), ltrt::Error);
  EXPECT_FALSE(ltrt::exists(path));
  EXPECT_FALSE(ltrt::exists(path + ".tmp"));
}

TEST(Safetensors, BadFiles) {
  const std::string four = raw<float>({1});
  const auto one = [&](const std::string& entry) {
    return file_bytes("{" + entry + "}", four);
  };
  EXPECT_EQ(read_error("short", "12345"), "not a safetensors file: 5 bytes, too short for the 8-byte header length");
  EXPECT_EQ(read_error("huge_len", u64le(1ULL << 40) + "{}"),
            "not a safetensors file: header length 1099511627776 is over the 100000000-byte limit");
  EXPECT_EQ(read_error("long_len", u64le(100) + "{\"a\":1}"),
            "truncated: header length is 100 bytes but only 7 bytes follow it");
  EXPECT_EQ(read_error("not_json_start", u64le(8) + "[]      "), "not a safetensors file: the header does not start with '{'");
  EXPECT_EQ(read_error("bad_json", file_bytes("{\"a\":{\"dtype\":\"F32\",,}}", four)),
            "invalid header JSON at header line 1, col 21: expected string key in object, found ','");
  EXPECT_EQ(read_error("bf16", one(R"("x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]})")),
            "tensor 'x' has dtype BF16; only F32, F64, I64 and U8 are supported");
  EXPECT_EQ(read_error("weird_dtype", one(R"("x":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]})")),
            "tensor 'x': unknown dtype 'Q7'");
  EXPECT_EQ(read_error("past_end", one(R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})")),
            "tensor 'x': data_offsets [0, 8] run past the end of the file (4 bytes of data)");
  EXPECT_EQ(read_error("size", one(R"("x":{"dtype":"F64","shape":[1],"data_offsets":[0,4]})")),
            "tensor 'x': shape [1] F64 needs 8 bytes but data_offsets [0, 4] hold 4");
  EXPECT_EQ(read_error("overflow",
                       one(R"("x":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,4]})")),
            "tensor 'x': shape [4294967296, 4294967296] F64 needs more than 2^64 bytes but data_offsets [0, 4] hold 4");
  EXPECT_EQ(read_error("backwards", one(R"("x":{"dtype":"F32","shape":[0],"data_offsets":[4,0]})")),
            "tensor 'x': data_offsets [4, 0] end before they begin");
  EXPECT_EQ(read_error("negative", one(R"("x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]})")),
            "tensor 'x': data_offsets must be non-negative integers");
  EXPECT_EQ(read_error("neg_shape", one(R"("x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]})")),
            "tensor 'x': shape must hold non-negative integers");
  EXPECT_EQ(read_error("missing", one(R"("x":{"dtype":"F32","data_offsets":[0,4]})")),
            "tensor 'x': header entry needs \"dtype\", \"shape\" and \"data_offsets\"");
  EXPECT_EQ(read_error("extra_field", one(R"("x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"y":1})")),
            "tensor 'x': unknown header field 'y'");
  EXPECT_EQ(read_error("meta_type", file_bytes(R"({"__metadata__":{"a":1}})", "")),
            "__metadata__ value of 'a' is a number, not a string");
  EXPECT_EQ(read_error("trailing", file_bytes(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                              four + "junk")),
            "the tensors' data ends at 4 but the file holds 8 bytes of data after the header");
  EXPECT_EQ(read_error("gap", file_bytes(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", four + four)),
            "tensor 'x': data_offsets begin at 4 but the data starts at 0 (the data must be contiguous)");
  EXPECT_EQ(read_error("overlap", file_bytes(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                             R"("y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                             four + four)),
            "tensor 'y': data_offsets begin at 4 but tensor 'x' ends at 8 (the data must be contiguous)");
  EXPECT_EQ(read_error("dup", file_bytes(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                                         R"("x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})",
                                         "")),
            "invalid header JSON at header line 1, col 55: duplicate key \"x\" (first at line 1, col 2)");
  // A file cut short loses the end of its data.
  const float w[] = {1, 2, 3, 4};
  const std::string good = dir() + "/good.safetensors";
  ltrt::write_safetensors(good, {{"w", ltrt::DType::f32, {4}, w}}, {});
  const std::string bytes = ltrt::read_file(good);
  EXPECT_EQ(read_error("cut", bytes.substr(0, bytes.size() - 3)),
            "tensor 'w': data_offsets [0, 16] run past the end of the file (13 bytes of data)");
  EXPECT_EQ(read_error("cut_header", bytes.substr(0, 20)),
            "truncated: header length is " + std::to_string(bytes.size() - 8 - 16) + " bytes but only 12 bytes follow it");
  EXPECT_EQ(read_error("empty", ""), "not a safetensors file: 0 bytes, too short for the 8-byte header length");
}

TEST(Safetensors, MissingFile) {
  try {
    ltrt::read_safetensors(dir() + "/nope.safetensors");
    FAIL();
  } catch (const ltrt::Error& e) {
    EXPECT_EQ(std::string(e.what()), dir() + "/nope.safetensors: cannot open: No such file or directory");
  }
}

}  // namespace
