// IDX files (MNIST's format, plain and gzip) and the idx data source.
#include "ltrt/idx.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ltrt/data_loader.hpp"
#include "ltrt/dataset.hpp"
#include "ltrt/fs.hpp"
#include "test_util.hpp"

namespace {

using ltrt_test::error_of;
using Bytes = std::vector<std::uint8_t>;

std::string tmp_dir(const std::string& name) {
  const std::string dir = std::string(LTRT_TEST_TMP) + "/idx_test/" + name;
  std::filesystem::remove_all(dir);
  ltrt::make_dirs(dir);
  return dir;
}

// An IDX file of unsigned bytes: magic 00 00 08 <ndims>, big-endian sizes, data.
Bytes idx(const std::vector<std::uint32_t>& shape, const Bytes& data) {
  Bytes b{0, 0, 0x08, static_cast<std::uint8_t>(shape.size())};
  for (std::uint32_t d : shape) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
  }
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

std::string write(const std::string& path, const Bytes& b) {
  ltrt::write_file_atomic(path, std::string(b.begin(), b.end()));
  return path;
}

std::string write_gz(const std::string& path, const Bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  EXPECT_EQ(gzwrite(f, b.data(), static_cast<unsigned>(b.size())), static_cast<int>(b.size()));
  gzclose(f);
  return path;
}

// 3 images of 2x3 pixels: image i, pixel p holds 10 * i + p (and 255 in the very last).
Bytes images_bytes() {
  Bytes px;
  for (int i = 0; i < 3; ++i)
    for (int p = 0; p < 6; ++p) px.push_back(static_cast<std::uint8_t>(10 * i + p));
  px.back() = 255;
  return idx({3, 2, 3}, px);
}
Bytes labels_bytes() { return idx({3}, {2, 0, 1}); }

TEST(Idx, ReadsImagesAndLabels) {
  const std::string dir = tmp_dir("read");
  const ltrt::IdxArray a = ltrt::read_idx(write(dir + "/images-idx3-ubyte", images_bytes()), 3);
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{3, 2, 3}));
  ASSERT_EQ(a.data.size(), 18u);
  EXPECT_EQ(a.data[7], 11);
  EXPECT_EQ(a.data[17], 255);
  const ltrt::IdxArray l = ltrt::read_idx(write(dir + "/labels-idx1-ubyte", labels_bytes()), 1);
  EXPECT_EQ(l.shape, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(l.data, (Bytes{2, 0, 1}));
}

TEST(Idx, ReadsGzipByContent) {
  const std::string dir = tmp_dir("gz");
  const ltrt::IdxArray a = ltrt::read_idx(write_gz(dir + "/images-idx3-ubyte.gz", images_bytes()), 3);
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{3, 2, 3}));
  EXPECT_EQ(a.data[7], 11);
  // A gzip file without the .gz suffix is recognised by its magic too.
  const ltrt::IdxArray b = ltrt::read_idx(write_gz(dir + "/labels-idx1-ubyte", labels_bytes()), 1);
  EXPECT_EQ(b.data, (Bytes{2, 0, 1}));
}

TEST(Idx, BadFilesNameTheFileAndTheProblem) {
  const std::string dir = tmp_dir("bad");
  auto err = [&](const std::string& name, const Bytes& b, int ndims) {
    const std::string path = write(dir + "/" + name, b);
    const std::string e = error_of([&] { ltrt::read_idx(path, ndims); });
    EXPECT_NE(e.find(path), std::string::npos) << e;
    return e;
  };
  std::string e = err("npy", {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}, 3);
  EXPECT_NE(e.find("not an IDX file: magic 0x934e554d"), std::string::npos) << e;
  e = err("short", {0, 0}, 3);
  EXPECT_NE(e.find("shorter than the 4-byte magic"), std::string::npos) << e;
  e = err("int32", {0, 0, 0x0c, 1, 0, 0, 0, 1, 0, 0, 0, 7}, 1);
  EXPECT_NE(e.find("element type 0x0c"), std::string::npos) << e;
  e = err("labels-as-images", labels_bytes(), 3);
  EXPECT_NE(e.find("magic 0x00000801 has 1 dimension(s), expected 3"), std::string::npos) << e;
  e = err("header", {0, 0, 8, 3, 0, 0, 0, 3, 0, 0}, 3);
  EXPECT_NE(e.find("truncated IDX header"), std::string::npos) << e;
  Bytes cut = images_bytes();
  cut.resize(cut.size() - 5);
  e = err("cut", cut, 3);
  EXPECT_NE(e.find("truncated: shape [3, 2, 3] needs 18 bytes of data, the file has 13"), std::string::npos) << e;
  Bytes longer = labels_bytes();
  longer.push_back(9);
  e = err("long", longer, 1);
  EXPECT_NE(e.find("1 bytes after the data of shape [3]"), std::string::npos) << e;
  e = error_of([&] { ltrt::read_idx(dir + "/missing", 1); });
  EXPECT_NE(e.find(dir + "/missing: cannot open"), std::string::npos) << e;

  // A gzip stream cut short.
  const std::string gz = write_gz(dir + "/full.gz", images_bytes());
  std::string text = ltrt::read_file(gz);
  const std::string half = write(dir + "/half.gz", Bytes(text.begin(), text.begin() + static_cast<long>(text.size() / 2)));
  e = error_of([&] { ltrt::read_idx(half, 3); });
  EXPECT_NE(e.find(half), std::string::npos) << e;
  EXPECT_TRUE(e.find("truncated") != std::string::npos || e.find("damaged") != std::string::npos) << e;
}

const ltrt::TensorRef kClasses{"target", ltrt::DType::i64, 1, {4}, 0};

ltrt::DataSource idx_source(const std::string& images, const std::string& labels) {
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::idx;
  src.images_path = images;
  src.labels_path = labels;
  return src;
}

TEST(Dataset, IdxPixelsOverScaleAndLabelsAsClasses) {
  const std::string dir = tmp_dir("dataset");
  const std::string images = write_gz(dir + "/images.gz", images_bytes());
  const std::string labels = write(dir + "/labels", labels_bytes());
  ltrt::TorchGenerator gen(0);  // load_dataset draws from it for randn sources only
  ltrt::ClassTargets classes;
  classes.num_classes = 3;
  // [1, rows, cols] (a Conv2d's input), [rows, cols] and [rows * cols] (an MLP's) all fit.
  for (const ltrt::TensorRef& input : {ltrt::TensorRef{"x", ltrt::DType::f32, 4, {4, 1, 2, 3}, 0},
                                       ltrt::TensorRef{"x", ltrt::DType::f32, 3, {4, 2, 3}, 0},
                                       ltrt::TensorRef{"x", ltrt::DType::f32, 2, {4, 6}, 0}}) {
    const ltrt::Dataset ds = ltrt::load_dataset(idx_source(images, labels), input, kClasses, gen, classes);
    ASSERT_EQ(ds.num_samples, 3);
    EXPECT_EQ(ds.input_row, 6);
    const float* x = reinterpret_cast<const float*>(ds.inputs.data());
    EXPECT_EQ(x[7], 11.0f / 255.0f);
    EXPECT_EQ(x[17], 1.0f);
    const auto* y = reinterpret_cast<const std::int64_t*>(ds.targets.data());
    EXPECT_EQ(y[0], 2);
    EXPECT_EQ(y[1], 0);
    EXPECT_EQ(y[2], 1);
  }
  ltrt::DataSource src = idx_source(images, labels);
  src.idx_scale = 1.0;
  const ltrt::TensorRef flat{"x", ltrt::DType::f32, 2, {4, 6}, 0};
  const ltrt::Dataset raw = ltrt::load_dataset(src, flat, kClasses, gen, classes);
  EXPECT_EQ(reinterpret_cast<const float*>(raw.inputs.data())[7], 11.0f);

  // Predict data: images only.
  ltrt::ClassTargets inputs_only;
  inputs_only.with_targets = false;
  const ltrt::Dataset pred = ltrt::load_dataset(idx_source(images, ""), flat, kClasses, gen, inputs_only);
  EXPECT_EQ(pred.num_samples, 3);
  EXPECT_EQ(pred.target_row, 0);
}

TEST(Dataset, IdxMismatchesNameTheFile) {
  const std::string dir = tmp_dir("mismatch");
  const std::string images = write(dir + "/images", images_bytes());
  const std::string labels = write(dir + "/labels", labels_bytes());
  const std::string two_labels = write(dir + "/two-labels", idx({2}, {0, 1}));
  ltrt::TorchGenerator gen(0);  // load_dataset draws from it for randn sources only
  ltrt::ClassTargets classes;
  classes.num_classes = 3;
  const ltrt::TensorRef flat{"x", ltrt::DType::f32, 2, {4, 6}, 0};

  std::string e = error_of([&] {
    ltrt::load_dataset(idx_source(images, labels), ltrt::TensorRef{"x", ltrt::DType::f32, 4, {4, 1, 3, 2}, 0},
                       kClasses, gen, classes);
  });
  EXPECT_NE(e.find(images + ": images of shape [3, 2, 3] (2x3 pixels) do not fit the model's x of per-sample "
                             "shape [1, 3, 2]"), std::string::npos) << e;
  e = error_of([&] { ltrt::load_dataset(idx_source(images, two_labels), flat, kClasses, gen, classes); });
  EXPECT_NE(e.find(two_labels + ": 2 labels, but the images (" + images + ") hold 3 samples"), std::string::npos) << e;
  e = error_of([&] { ltrt::load_dataset(idx_source(labels, images), flat, kClasses, gen, classes); });
  EXPECT_NE(e.find(labels + ": IDX magic 0x00000801 has 1 dimension(s), expected 3"), std::string::npos) << e;
  classes.num_classes = 2;  // label 2 is out of range
  e = error_of([&] { ltrt::load_dataset(idx_source(images, labels), flat, kClasses, gen, classes); });
  EXPECT_NE(e.find(labels + ": target 2 of sample 0 is not a class in [0, 2)"), std::string::npos) << e;
  const ltrt::TensorRef float_target{"target", ltrt::DType::f32, 2, {4, 1}, 0};
  e = error_of([&] { ltrt::load_dataset(idx_source(images, labels), flat, float_target, gen); });
  EXPECT_NE(e.find(labels + ": idx labels are class indices"), std::string::npos) << e;
  e = error_of([&] { ltrt::load_dataset(idx_source(images, ""), flat, kClasses, gen, classes); });
  EXPECT_NE(e.find("--data.train.labels=PATH"), std::string::npos) << e;
}

// With a transform that crops, the images keep their own size and the DataLoader crops them to
// the model input's: 2x3 pixels center-cropped to 1x2 (rows round(0.5) = 0, columns round(0.5) = 0).
TEST(Dataset, IdxImagesOfTheirOwnSizeWhereTransformsCrop) {
  const std::string dir = tmp_dir("cropped");
  const std::string images = write(dir + "/images", images_bytes());
  const std::string labels = write(dir + "/labels", labels_bytes());
  ltrt::TorchGenerator gen(0);
  ltrt::ClassTargets classes;
  classes.num_classes = 3;
  ltrt::TransformConfig crop{};
  crop.kind = ltrt::TransformKind::center_crop;
  crop.size_h = 1;
  crop.size_w = 2;
  ltrt::DataSource src = idx_source(images, labels);
  src.idx_scale = 1.0;
  src.transforms = {crop};
  for (const ltrt::TensorRef& input : {ltrt::TensorRef{"x", ltrt::DType::f32, 4, {4, 1, 1, 2}, 0},
                                       ltrt::TensorRef{"x", ltrt::DType::f32, 3, {4, 1, 2}, 0}}) {
    const ltrt::Dataset ds = ltrt::load_dataset(src, input, kClasses, gen, classes);
    EXPECT_EQ(ds.input_row, 6);
    EXPECT_EQ(ds.input_shape.back(), 3);
    std::vector<std::byte> arena(4 * 2 * sizeof(float) + 64);
    ltrt::DataLoader loader(ds, 4, false, false);
    ASSERT_EQ(loader.load_batch(0, arena.data(), input, ltrt::TensorRef{"y", ltrt::DType::i64, 1, {4}, 32}), 3);
    const float* x = reinterpret_cast<const float*>(arena.data());
    EXPECT_EQ(x[0], 0.0f);  // image 0's row 0, columns 0 and 1
    EXPECT_EQ(x[1], 1.0f);
    EXPECT_EQ(x[2], 10.0f);  // image 1's
  }
  // A crop larger than the images, without padding, is torchvision's ValueError, named with the file.
  crop.kind = ltrt::TransformKind::random_crop;
  crop.size_h = 3;
  src.transforms = {crop};
  const std::string e = error_of([&] {
    ltrt::load_dataset(src, ltrt::TensorRef{"x", ltrt::DType::f32, 4, {4, 1, 3, 2}, 0}, kClasses, gen, classes);
  });
  EXPECT_NE(e.find(images + ": samples of [1, 2, 3]: transforms[0] (RandomCrop) on samples of 2 x 3: the crop's "
                            "3 x 2 is larger than the padded sample's 2 x 3"),
            std::string::npos)
      << e;
}

// The text source: consecutive windows of T bytes (stride T), the next byte as target, ids
// into the sorted unique bytes of the training corpus; read through the same gzip reader.
TEST(TextSource, WindowsOfTheCorpusWithItsVocabulary) {
  const std::string dir = tmp_dir("text");
  const std::string train = write(dir + "/train.txt", Bytes{'b', 'a', 'c', 'a', 'b', 'b', 'c', 'a'});  // ids a=0 b=1 c=2
  const std::string val = write(dir + "/val.txt", Bytes{'c', 'c', 'a', 'b'});
  const std::string bad = write(dir + "/bad.txt", Bytes{'c', 'z', 'a', 'b'});
  const ltrt::TensorRef tokens{"x", ltrt::DType::i64, 2, {4, 3}, 0}, next{"target", ltrt::DType::i64, 2, {4, 3}, 0};
  ltrt::TorchGenerator gen(1);
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::text;
  src.text_path = train;
  const ltrt::ClassTargets classes{3, -100, true, 3};
  const ltrt::Dataset ds = ltrt::load_dataset(src, tokens, next, gen, classes);
  EXPECT_EQ(ds.vocab, "abc");
  ASSERT_EQ(ds.num_samples, 2);  // (8 - 1) / 3 windows
  const auto* x = reinterpret_cast<const std::int64_t*>(ds.inputs.data());
  const auto* y = reinterpret_cast<const std::int64_t*>(ds.targets.data());
  EXPECT_EQ(std::vector<std::int64_t>(x, x + 6), (std::vector<std::int64_t>{1, 0, 2, 0, 1, 1}));
  EXPECT_EQ(std::vector<std::int64_t>(y, y + 6), (std::vector<std::int64_t>{0, 2, 0, 1, 1, 2}));

  ltrt::DataSource v = src;
  v.text_path = val;
  v = ltrt::with_train_vocabulary(v, src);
  const ltrt::Dataset vs = ltrt::load_dataset(v, tokens, next, gen, classes);
  ASSERT_EQ(vs.num_samples, 1);
  EXPECT_EQ(reinterpret_cast<const std::int64_t*>(vs.inputs.data())[0], 2);  // 'c' in the training vocabulary

  v.text_path = bad;
  std::string e = error_of([&] { ltrt::load_dataset(v, tokens, next, gen, classes); });
  EXPECT_NE(e.find(bad + ": byte 122 at offset 1 is not in the vocabulary of " + train), std::string::npos) << e;
  const ltrt::ClassTargets small{2, -100, true, 2};
  e = error_of([&] { ltrt::load_dataset(src, tokens, next, gen, small); });
  EXPECT_NE(e.find("not in [0, 2)"), std::string::npos) << e;
}

}  // namespace
