// Datasets (randn / npy / csv) and batching like torch's DataLoader.
#include "test_util.hpp"
#include "ltrt/data_loader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numeric>
#include <vector>

#include "ltrt/arena.hpp"
#include "ltrt/dataset.hpp"
#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/npy.hpp"

namespace {

const ltrt::TensorRef kInput{"x", ltrt::DType::f32, 2, {32, 10}, 0};
const ltrt::TensorRef kTarget{"target", ltrt::DType::f32, 2, {32, 1}, 32 * 10 * 4};
constexpr std::size_t kArena = 32 * 11 * 4;

ltrt::Dataset randn_dataset(std::int64_t n, std::int64_t seed = 42) {
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::randn;
  src.num_samples = n;
  ltrt::TorchGenerator gen(static_cast<std::uint64_t>(seed));
  return ltrt::load_dataset(src, kInput, kTarget, gen);
}

std::string tmp_dir(const std::string& name) {
  const std::string dir = std::string(LTRT_TEST_TMP) + "/data_loader_test/" + name;
  std::filesystem::remove_all(dir);
  ltrt::make_dirs(dir);
  return dir;
}

using ltrt_test::error_of;

TEST(Dataset, RandnDrawsInputsThenTargets) {
  const ltrt::Dataset ds = randn_dataset(1000);
  EXPECT_EQ(ds.num_samples, 1000);
  EXPECT_EQ(ds.input_row, 10);
  EXPECT_EQ(ds.target_row, 1);
  ASSERT_EQ(ds.inputs.size(), 1000u * 10 * 4);
  ASSERT_EQ(ds.targets.size(), 1000u * 4);
  // X = torch.randn(1000, 10, generator=g); y = torch.randn(1000, 1, generator=g)
  ltrt::TorchGenerator gen(42);
  std::vector<float> want_x(10000), want_y(1000);
  gen.normal(want_x.data(), 10000, 0.0, 1.0);
  gen.normal(want_y.data(), 1000, 0.0, 1.0);
  const float* x = reinterpret_cast<const float*>(ds.inputs.data());
  const float* y = reinterpret_cast<const float*>(ds.targets.data());
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(x[i], want_x[i]);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(y[i], want_y[i]);
}

TEST(DataLoader, BatchesLikeTorch) {
  const ltrt::Dataset ds = randn_dataset(1000);
  ltrt::DataLoader loader(ds, 32, false, false);
  EXPECT_EQ(loader.num_batches(), 32);
  EXPECT_EQ(loader.batch_rows(0), 32);
  EXPECT_EQ(loader.batch_rows(30), 32);
  EXPECT_EQ(loader.batch_rows(31), 8);
  ltrt::DataLoader dropping(ds, 32, false, true);
  EXPECT_EQ(dropping.num_batches(), 31);
  ltrt::DataLoader exact(randn_dataset(64), 32, false, true);
  EXPECT_EQ(exact.num_batches(), 2);
  ltrt::DataLoader small(randn_dataset(5), 32, false, true);
  EXPECT_EQ(small.num_batches(), 0);
}

TEST(DataLoader, LoadBatchGathersRows) {
  const ltrt::Dataset ds = randn_dataset(1000);
  ltrt::DataLoader loader(ds, 32, false, false);
  ltrt::Arena arena(kArena);
  const int n = loader.load_batch(31, arena.data(), kInput, kTarget);
  ASSERT_EQ(n, 8);
  const float* x = reinterpret_cast<const float*>(arena.data() + kInput.offset);
  const float* y = reinterpret_cast<const float*>(arena.data() + kTarget.offset);
  const float* dx = reinterpret_cast<const float*>(ds.inputs.data());
  const float* dy = reinterpret_cast<const float*>(ds.targets.data());
  for (int r = 0; r < 8; ++r) {
    EXPECT_EQ(std::memcmp(x + r * 10, dx + (992 + r) * 10, 40), 0);
    EXPECT_EQ(y[r], dy[992 + r]);
  }
}

TEST(DataLoader, ShuffleIsAFreshPermutationEachEpoch) {
  const ltrt::Dataset ds = randn_dataset(1000);
  ltrt::DataLoader loader(ds, 32, true, false);
  ltrt::Generator gen(42, 2);
  loader.start_epoch(gen);
  const std::vector<std::int64_t> first = loader.order();
  loader.start_epoch(gen);
  const std::vector<std::int64_t> second = loader.order();
  EXPECT_NE(first, second);
  std::vector<std::int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(first, identity);
  for (auto order : {first, second}) {
    std::sort(order.begin(), order.end());
    EXPECT_EQ(order, identity);
  }
  // Same generator state, same order.
  ltrt::Generator again(42, 2);
  loader.start_epoch(again);
  EXPECT_EQ(loader.order(), first);
  // Batches follow the order.
  ltrt::Arena arena(kArena);
  loader.load_batch(1, arena.data(), kInput, kTarget);
  const float* y = reinterpret_cast<const float*>(arena.data() + kTarget.offset);
  const float* dy = reinterpret_cast<const float*>(ds.targets.data());
  EXPECT_EQ(y[0], dy[first[32]]);
}

TEST(DataLoader, NoShuffleKeepsOrder) {
  const ltrt::Dataset ds = randn_dataset(100);
  ltrt::DataLoader loader(ds, 32, false, false);
  ltrt::Generator gen(1);
  loader.start_epoch(gen);
  for (std::int64_t i = 0; i < 100; ++i) ASSERT_EQ(loader.order()[static_cast<std::size_t>(i)], i);
}

TEST(Dataset, NpyFloat64ConvertedAndVectorTargetAccepted) {
  const std::string dir = tmp_dir("npy_ok");
  std::vector<double> x(7 * 10);
  std::vector<float> y(7);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.5 * static_cast<double>(i);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = -static_cast<float>(i);
  ltrt::write_npy(dir + "/x.npy", ltrt::DType::f64, {7, 10}, x.data());
  ltrt::write_npy(dir + "/y.npy", ltrt::DType::f32, {7}, y.data());  // [N] for per-sample [1]
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::npy;
  src.x_path = dir + "/x.npy";
  src.y_path = dir + "/y.npy";
  ltrt::Generator gen;
  ltrt::TorchGenerator randn(0);  // for load_dataset (its randn sources)
  const ltrt::Dataset ds = ltrt::load_dataset(src, kInput, kTarget, randn);
  EXPECT_EQ(ds.num_samples, 7);
  EXPECT_EQ(reinterpret_cast<const float*>(ds.inputs.data())[69], 34.5f);
  EXPECT_EQ(reinterpret_cast<const float*>(ds.targets.data())[6], -6.0f);
}

TEST(Dataset, NpyMismatchesNameTheFile) {
  const std::string dir = tmp_dir("npy_bad");
  std::vector<float> x(8 * 10, 0.f), x9(8 * 9, 0.f), y(8, 0.f);
  std::vector<std::int64_t> yi(8, 0);
  ltrt::write_npy(dir + "/x.npy", ltrt::DType::f32, {8, 10}, x.data());
  ltrt::write_npy(dir + "/x9.npy", ltrt::DType::f32, {8, 9}, x9.data());
  ltrt::write_npy(dir + "/y.npy", ltrt::DType::f32, {8}, y.data());
  ltrt::write_npy(dir + "/y7.npy", ltrt::DType::f32, {7}, y.data());
  ltrt::write_npy(dir + "/yi.npy", ltrt::DType::i64, {8}, yi.data());
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::npy;
  ltrt::Generator gen;
  ltrt::TorchGenerator randn(0);  // for load_dataset (its randn sources)
  auto load = [&](const std::string& xf, const std::string& yf) {
    src.x_path = dir + "/" + xf;
    src.y_path = dir + "/" + yf;
    return error_of([&] { ltrt::load_dataset(src, kInput, kTarget, randn); });
  };
  std::string e = load("x9.npy", "y.npy");
  EXPECT_NE(e.find("x9.npy"), std::string::npos) << e;
  EXPECT_NE(e.find("[8, 9]"), std::string::npos) << e;
  e = load("x.npy", "y7.npy");
  EXPECT_NE(e.find("y7.npy"), std::string::npos) << e;
  EXPECT_NE(e.find("7 rows"), std::string::npos) << e;
  e = load("x.npy", "yi.npy");
  EXPECT_NE(e.find("yi.npy"), std::string::npos) << e;
  EXPECT_NE(e.find("int64"), std::string::npos) << e;
  e = load("x.npy", "missing.npy");
  EXPECT_NE(e.find("missing.npy"), std::string::npos) << e;
}

// Where the transforms crop, an npy file's samples keep their own height and width (the dimensions
// before them are the model input's), and the transforms must make the model input's of them.
TEST(Dataset, NpySamplesOfTheirOwnSizeWhereTransformsCrop) {
  const std::string dir = tmp_dir("npy_cropped");
  std::vector<float> x(5 * 2 * 6 * 7), y(5, 0.f);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  ltrt::write_npy(dir + "/x.npy", ltrt::DType::f32, {5, 2, 6, 7}, x.data());
  ltrt::write_npy(dir + "/x3.npy", ltrt::DType::f32, {5, 3, 6, 7}, x.data());
  ltrt::write_npy(dir + "/y.npy", ltrt::DType::f32, {5}, y.data());
  const ltrt::TensorRef input{"x", ltrt::DType::f32, 4, {5, 2, 4, 4}, 0};
  const ltrt::TensorRef target{"target", ltrt::DType::f32, 2, {5, 1}, 5 * 32 * 4};
  ltrt::TransformConfig crop{};
  crop.kind = ltrt::TransformKind::center_crop;
  crop.size_h = crop.size_w = 4;
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::npy;
  src.x_path = dir + "/x.npy";
  src.y_path = dir + "/y.npy";
  src.transforms = {crop};
  ltrt::TorchGenerator randn(0);
  const ltrt::Dataset ds = ltrt::load_dataset(src, input, target, randn);
  EXPECT_EQ(ds.input_row, 2 * 6 * 7);
  std::vector<std::byte> arena(5 * 32 * 4 + 5 * 4);
  ltrt::DataLoader loader(ds, 5, false, false);
  ASSERT_EQ(loader.load_batch(0, arena.data(), input, target), 5);
  const float* batch = reinterpret_cast<const float*>(arena.data());
  // Rows 1..4 (round(2 / 2.0) = 1) and columns 2..5 (round(3 / 2.0) = 2) of each plane.
  EXPECT_EQ(batch[0], 1 * 7 + 2);
  EXPECT_EQ(batch[5], 2 * 7 + 3);
  EXPECT_EQ(batch[16], 6 * 7 + 1 * 7 + 2);           // sample 0's second plane
  EXPECT_EQ(batch[32 + 15], 2 * 6 * 7 + 4 * 7 + 5);  // sample 1's first plane, its last element
  src.x_path = dir + "/x3.npy";                      // 3 planes where the model takes 2: the transforms keep them
  std::string e = error_of([&] { ltrt::load_dataset(src, input, target, randn); });
  EXPECT_NE(e.find("x3.npy: x has shape [5, 3, 6, 7], expected [N, 2, H, W]: the transforms crop or resize"),
            std::string::npos)
      << e;
  src.x_path = dir + "/x.npy";
  crop.size_w = 5;  // makes [2, 4, 5]
  src.transforms = {crop};
  e = error_of([&] { ltrt::load_dataset(src, input, target, randn); });
  EXPECT_NE(e.find("x.npy: samples of [2, 6, 7] become [2, 4, 5] through the transforms, but the model's input x "
                   "takes [2, 4, 4]"),
            std::string::npos)
      << e;
}

TEST(Dataset, NpyClassTargets) {
  const std::string dir = tmp_dir("npy_class");
  std::vector<float> x(4 * 10, 1.f);
  std::vector<std::int64_t> y = {0, 2, 1, 2};
  ltrt::write_npy(dir + "/x.npy", ltrt::DType::f32, {4, 10}, x.data());
  ltrt::write_npy(dir + "/y.npy", ltrt::DType::i64, {4}, y.data());
  const ltrt::TensorRef target{"target", ltrt::DType::i64, 1, {32}, 32 * 10 * 4};
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::npy;
  src.x_path = dir + "/x.npy";
  src.y_path = dir + "/y.npy";
  ltrt::Generator gen;
  ltrt::TorchGenerator randn(0);  // for load_dataset (its randn sources)
  const ltrt::Dataset ds = ltrt::load_dataset(src, kInput, target, randn);
  EXPECT_EQ(ds.target_row, 1);
  EXPECT_EQ(reinterpret_cast<const std::int64_t*>(ds.targets.data())[1], 2);
}

// Int64 inputs are an Embedding's indices: loaded as they are, refused outside
// [0, num_embeddings) for training and predict data alike; randn cannot make them.
TEST(Dataset, NpyIndexInputs) {
  const std::string dir = tmp_dir("npy_indices");
  std::vector<std::int64_t> x = {0, 4, 1, 2, 3, 3};
  std::vector<float> y = {1.f, 2.f, 3.f};
  ltrt::write_npy(dir + "/x.npy", ltrt::DType::i64, {3, 2}, x.data());
  ltrt::write_npy(dir + "/y.npy", ltrt::DType::f32, {3}, y.data());
  const ltrt::TensorRef input{"tokens", ltrt::DType::i64, 2, {32, 2}, 0};
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::npy;
  src.x_path = dir + "/x.npy";
  src.y_path = dir + "/y.npy";
  ltrt::Generator gen;
  ltrt::TorchGenerator randn(0);  // for load_dataset (its randn sources)
  ltrt::ClassTargets limits;
  limits.num_embeddings = 5;
  const ltrt::Dataset ds = ltrt::load_dataset(src, input, kTarget, randn, limits);
  ASSERT_EQ(ds.num_samples, 3);
  EXPECT_EQ(ds.input_dtype, ltrt::DType::i64);
  EXPECT_EQ(reinterpret_cast<const std::int64_t*>(ds.inputs.data())[1], 4);

  limits.num_embeddings = 4;
  std::string e = error_of([&] { ltrt::load_dataset(src, input, kTarget, randn, limits); });
  EXPECT_NE(e.find("x.npy: index 4 of sample 0 (element 1) is not in [0, 4)"), std::string::npos) << e;
  limits.with_targets = false;
  e = error_of([&] { ltrt::load_dataset(src, input, kTarget, randn, limits); });
  EXPECT_NE(e.find("index 4 of sample 0"), std::string::npos) << e;

  src = {};
  src.kind = ltrt::DataSourceKind::randn;
  src.num_samples = 3;
  limits.with_targets = true;
  e = error_of([&] { ltrt::load_dataset(src, input, kTarget, randn, limits); });
  EXPECT_NE(e.find("the randn data source draws floats, but the model's input tokens is int64"), std::string::npos)
      << e;
}

TEST(Dataset, CsvTargetColumnAndFeatureCount) {
  const std::string dir = tmp_dir("csv");
  std::string text = "a,b,label,c\n";
  for (int r = 0; r < 5; ++r) {
    text += std::to_string(r) + "," + std::to_string(r * 10) + "," + std::to_string(r * 100) + "," +
            std::to_string(-r) + "\n";
  }
  ltrt::write_file_atomic(dir + "/d.csv", text);
  const ltrt::TensorRef input{"x", ltrt::DType::f32, 2, {32, 3}, 0};
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::csv;
  src.csv_path = dir + "/d.csv";
  src.target_column = "label";
  src.csv_header = true;
  ltrt::Generator gen;
  ltrt::TorchGenerator randn(0);  // for load_dataset (its randn sources)
  const ltrt::Dataset ds = ltrt::load_dataset(src, input, kTarget, randn);
  ASSERT_EQ(ds.num_samples, 5);
  const float* x = reinterpret_cast<const float*>(ds.inputs.data());
  EXPECT_EQ(x[3 * 3 + 0], 3.f);
  EXPECT_EQ(x[3 * 3 + 1], 30.f);
  EXPECT_EQ(x[3 * 3 + 2], -3.f);
  EXPECT_EQ(reinterpret_cast<const float*>(ds.targets.data())[4], 400.f);

  src.target_column = "lable";
  std::string e = error_of([&] { ltrt::load_dataset(src, input, kTarget, randn); });
  EXPECT_NE(e.find("no column named 'lable'"), std::string::npos) << e;
  src.target_column = "label";
  e = error_of([&] { ltrt::load_dataset(src, kInput, kTarget, randn); });  // model wants 10 features
  EXPECT_NE(e.find("3 input columns"), std::string::npos) << e;
  EXPECT_NE(e.find("d.csv"), std::string::npos) << e;
}

// torch.randperm(n, generator=torch.Generator().manual_seed(seed)) as torch 2.15 printed it.
TEST(TorchRandperm, IsTorchs) {
  std::vector<std::int64_t> p(20);
  ltrt::torch_randperm(0, p);
  EXPECT_EQ(p, (std::vector<std::int64_t>{4, 5, 13, 19, 7, 14, 3, 6, 9, 17, 11, 2, 16, 18, 10, 12, 15, 8, 1, 0}));
  ltrt::torch_randperm(123, p);
  EXPECT_EQ(p, (std::vector<std::int64_t>{2, 9, 14, 15, 16, 7, 8, 5, 19, 0, 11, 18, 10, 17, 12, 6, 1, 13, 3, 4}));
  std::vector<std::int64_t> one(1), none;
  ltrt::torch_randperm(5, one);
  ltrt::torch_randperm(5, none);
  EXPECT_EQ(one, std::vector<std::int64_t>{0});
}

// DistributedSampler's shards, as Lightning 2.6's DDP on the CPU gave them to its two ranks.
TEST(DataLoader, DistributedShardsPadAndStride) {
  const ltrt::Dataset data = randn_dataset(7);
  ltrt::Generator unused(1);
  ltrt::DataLoader r0(data, 3, false, false, ltrt::Shard{true, 0, 2, 0});
  ltrt::DataLoader r1(data, 3, false, false, ltrt::Shard{true, 1, 2, 0});
  r0.start_epoch(unused, 0);
  r1.start_epoch(unused, 0);
  EXPECT_EQ(r0.order(), (std::vector<std::int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(r1.order(), (std::vector<std::int64_t>{1, 3, 5, 0}));  // padded with the first sample
  EXPECT_EQ(r0.num_batches(), 2);
  EXPECT_EQ(r0.batch_rows(1), 1);
  ltrt::DataLoader dropping(data, 3, false, true, ltrt::Shard{true, 1, 2, 0});
  EXPECT_EQ(dropping.num_batches(), 1);
}

TEST(DataLoader, DistributedShuffleIsRandpermOfSeedPlusEpoch) {
  const ltrt::Dataset data = randn_dataset(20);
  ltrt::Generator gen(1);
  const std::string before = gen.state();
  ltrt::DataLoader r0(data, 3, true, false, ltrt::Shard{true, 0, 2, 0});
  ltrt::DataLoader r1(data, 3, true, false, ltrt::Shard{true, 1, 2, 0});
  r0.start_epoch(gen, 0);
  r1.start_epoch(gen, 0);
  EXPECT_EQ(r0.order(), (std::vector<std::int64_t>{4, 13, 7, 3, 9, 11, 16, 10, 15, 1}));
  EXPECT_EQ(r1.order(), (std::vector<std::int64_t>{5, 19, 14, 6, 17, 2, 18, 12, 8, 0}));
  r0.start_epoch(gen, 1);
  EXPECT_EQ(r0.order(), (std::vector<std::int64_t>{5, 2, 19, 1, 4, 0, 16, 15, 6, 12}));
  EXPECT_EQ(gen.state(), before);  // the program's own streams are not drawn from
  EXPECT_THROW(ltrt::DataLoader(data, 3, true, false, ltrt::Shard{true, 2, 2, 0}), ltrt::Error);
}

}  // namespace

// A model with several inputs: each other input's npy file fills its own batch buffer, row for row
// with the first input's, and a file of another length or shape, or a source that gives one
// input, is refused naming the file or the source.
namespace {

TEST(Dataset, OtherInputsFromTheirNpyFilesFillTheirBuffers) {
  const std::string dir = tmp_dir("npy_other_inputs");
  std::vector<float> x(4 * 10), z(4 * 3), y(4);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  for (std::size_t i = 0; i < z.size(); ++i) z[i] = 100.0f + static_cast<float>(i);
  ltrt::write_npy(dir + "/x.npy", ltrt::DType::f32, {4, 10}, x.data());
  ltrt::write_npy(dir + "/z.npy", ltrt::DType::f32, {4, 3}, z.data());
  ltrt::write_npy(dir + "/z5.npy", ltrt::DType::f32, {5, 3}, z.data());
  ltrt::write_npy(dir + "/y.npy", ltrt::DType::f32, {4}, y.data());
  const ltrt::TensorRef other{"z", ltrt::DType::f32, 2, {32, 3}, kArena};  // after the toy arena
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::npy;
  src.x_path = dir + "/x.npy";
  src.y_path = dir + "/y.npy";
  src.other_x_paths = {dir + "/z.npy"};
  ltrt::Generator gen;
  ltrt::TorchGenerator randn(0);  // for load_dataset (its randn sources)
  const ltrt::Dataset ds = ltrt::load_dataset(src, kInput, kTarget, randn, {}, {other});
  ASSERT_EQ(ds.other_inputs.size(), 1u);
  ltrt::DataLoader loader(ds, 2, false, false);
  loader.start_epoch(gen);
  std::vector<std::byte> arena(kArena + 32 * 3 * 4);
  EXPECT_EQ(loader.load_batch(1, arena.data(), kInput, kTarget), 2);  // samples 2 and 3
  const float* zs = reinterpret_cast<const float*>(arena.data() + kArena);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(zs[i], 106.0f + static_cast<float>(i));
  EXPECT_EQ(reinterpret_cast<const float*>(arena.data())[0], 20.0f);

  src.other_x_paths = {dir + "/z5.npy"};
  std::string e = error_of([&] { ltrt::load_dataset(src, kInput, kTarget, randn, {}, {other}); });
  EXPECT_NE(e.find("z5.npy: z has 5 rows"), std::string::npos) << e;
  src.other_x_paths = {};
  e = error_of([&] { ltrt::load_dataset(src, kInput, kTarget, randn, {}, {other}); });
  EXPECT_NE(e.find("needs a file for each of the model's 2 inputs"), std::string::npos) << e;
  // An int64 other input: an Embedding's indices, each below its num_embeddings.
  std::vector<std::int64_t> ids = {0, 4, 2, 5};
  ltrt::write_npy(dir + "/ids.npy", ltrt::DType::i64, {4}, ids.data());
  const ltrt::TensorRef id_input{"ids", ltrt::DType::i64, 2, {32, 1}, kArena};
  src.other_x_paths = {dir + "/ids.npy"};
  ltrt::ClassTargets bounds;
  bounds.other_num_embeddings = {6};
  EXPECT_EQ(ltrt::load_dataset(src, kInput, kTarget, randn, bounds, {id_input}).other_inputs.size(), 1u);
  bounds.other_num_embeddings = {5};
  e = error_of([&] { ltrt::load_dataset(src, kInput, kTarget, randn, bounds, {id_input}); });
  EXPECT_NE(e.find("ids.npy: index 5 of sample 3"), std::string::npos) << e;
  EXPECT_NE(e.find("the num_embeddings of the Embedding that reads ids"), std::string::npos) << e;
  src.kind = ltrt::DataSourceKind::idx;
  src.images_path = dir + "/t.idx";
  e = error_of([&] { ltrt::load_dataset(src, kInput, kTarget, randn, {}, {other}); });
  EXPECT_NE(e.find("the idx source gives one"), std::string::npos) << e;
}

TEST(Dataset, CsvColumnsFillSeveralInputsIntegersForEmbeddings) {
  // Columns: two categorical (an int64 input of 2), the target, three numbers (a float input of 3).
  const std::string dir = tmp_dir("csv_inputs");
  std::string text = "kind,size,label,a,b,c\n";
  for (int r = 0; r < 4; ++r)
    text += std::to_string(r % 3) + "," + std::to_string(r) + "," + std::to_string(r * 100) + "," + std::to_string(r) +
            ".5," + std::to_string(-r) + "," + std::to_string(r * 10) + "\n";
  ltrt::write_file_atomic(dir + "/t.csv", text);
  const ltrt::TensorRef ids{"category", ltrt::DType::i64, 2, {32, 2}, 0};
  const ltrt::TensorRef numbers{"numbers", ltrt::DType::f32, 2, {32, 3}, kArena};
  ltrt::DataSource src;
  src.kind = ltrt::DataSourceKind::csv;
  src.csv_path = dir + "/t.csv";
  src.target_column = "label";
  src.csv_header = true;
  ltrt::TorchGenerator randn(0);
  ltrt::ClassTargets bounds;
  bounds.with_targets = true;
  bounds.num_embeddings = 4;
  const ltrt::Dataset ds = ltrt::load_dataset(src, ids, kTarget, randn, bounds, {numbers});
  ASSERT_EQ(ds.num_samples, 4);
  ASSERT_EQ(ds.other_inputs.size(), 1u);
  const auto* k = reinterpret_cast<const std::int64_t*>(ds.inputs.data());
  EXPECT_EQ(k[3 * 2 + 0], 0);  // row 3: kind 0, size 3
  EXPECT_EQ(k[3 * 2 + 1], 3);
  const auto* z = reinterpret_cast<const float*>(ds.other_inputs[0].values.data());
  EXPECT_EQ(z[2 * 3 + 0], 2.5f);
  EXPECT_EQ(z[2 * 3 + 1], -2.0f);
  EXPECT_EQ(z[2 * 3 + 2], 20.0f);
  EXPECT_EQ(reinterpret_cast<const float*>(ds.targets.data())[3], 300.f);

  bounds.num_embeddings = 3;  // row 4's size 3 is past it
  std::string e = error_of([&] { ltrt::load_dataset(src, ids, kTarget, randn, bounds, {numbers}); });
  EXPECT_NE(e.find("t.csv: data row 4, column 'size': 3.000000 is not an index in [0, 3)"), std::string::npos) << e;
  const ltrt::TensorRef wide{"numbers", ltrt::DType::f32, 2, {32, 4}, kArena};
  bounds.num_embeddings = 4;
  e = error_of([&] { ltrt::load_dataset(src, ids, kTarget, randn, bounds, {wide}); });
  EXPECT_NE(e.find("5 input columns (all but the target), the model's inputs need 2 (category) + 4 (numbers)"),
            std::string::npos) << e;
  text = "kind,size,label,a,b,c\n0,1.5,1,0,0,0\n";  // a fraction where an index belongs
  ltrt::write_file_atomic(dir + "/t.csv", text);
  e = error_of([&] { ltrt::load_dataset(src, ids, kTarget, randn, bounds, {numbers}); });
  EXPECT_NE(e.find("column 'size': 1.500000 is not an index"), std::string::npos) << e;
}

}  // namespace
