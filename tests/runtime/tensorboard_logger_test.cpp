// TensorBoard event files: CRC-32C, TFRecord framing and the Event protos
// against bytes made by TensorBoard's own writer and protobuf (Python), and
// the logger's file. tensorboard_reader_test.py reads a whole file with
// TensorBoard's reader.
#include "ltrt/tensorboard_logger.hpp"

#include "ltrt/crc32c.hpp"
#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <new>

// Counts allocations while enabled, to check that logging does not allocate.
namespace {
std::atomic<bool> g_count_allocs{false};
std::atomic<long> g_allocs{0};
}  // namespace

// GCC's -Wmismatched-new-delete misfires on a malloc-based replacement pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  if (g_count_allocs.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using ltrt::tfevents::append_record;

std::string unhex(const std::string& hex) {
  std::string out;
  for (std::size_t k = 0; k + 1 < hex.size(); k += 2) {
    out += static_cast<char>(std::stoi(hex.substr(k, 2), nullptr, 16));
  }
  return out;
}

std::string fresh(const std::string& name) {
  const std::string d = std::string(LTRT_TEST_TMP) + "/" + name;
  std::filesystem::remove_all(d);
  return d;
}

std::uint64_t le(const std::string& s, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int k = 0; k < bytes; ++k) v |= std::uint64_t(static_cast<unsigned char>(s[at + k])) << (8 * k);
  return v;
}

// The records of an event file; fails the test on a bad length or CRC.
std::vector<std::string> read_records(const std::string& bytes) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    EXPECT_LE(at + 12, bytes.size());
    if (at + 12 > bytes.size()) break;
    const std::uint64_t n = le(bytes, at, 8);
    EXPECT_EQ(le(bytes, at + 8, 4), ltrt::mask_crc32c(ltrt::crc32c(bytes.data() + at, 8)));
    EXPECT_LE(at + 16 + n, bytes.size());
    if (at + 16 + n > bytes.size()) break;
    const std::string data = bytes.substr(at + 12, n);
    EXPECT_EQ(le(bytes, at + 12 + n, 4), ltrt::mask_crc32c(ltrt::crc32c(data)));
    out.push_back(data);
    at += 16 + n;
  }
  return out;
}

// A protobuf message as field number -> raw values (varints as numbers,
// fixed as their bits, length-delimited as bytes), in order.
struct Field {
  unsigned wire;
  std::uint64_t num;
  std::string bytes;
};
std::multimap<unsigned, Field> parse_proto(const std::string& s) {
  std::multimap<unsigned, Field> out;
  std::size_t at = 0;
  auto varint = [&] {
    std::uint64_t v = 0;
    for (int shift = 0; at < s.size(); shift += 7) {
      const auto b = static_cast<unsigned char>(s[at++]);
      v |= std::uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  };
  while (at < s.size()) {
    const std::uint64_t key = varint();
    Field f{static_cast<unsigned>(key & 7), 0, {}};
    if (f.wire == 0) {
      f.num = varint();
    } else if (f.wire == 1) {
      f.num = le(s, at, 8);
      at += 8;
    } else if (f.wire == 5) {
      f.num = le(s, at, 4);
      at += 4;
    } else if (f.wire == 2) {
      const std::uint64_t n = varint();
      f.bytes = s.substr(at, n);
      at += n;
    } else {
      ADD_FAILURE() << "wire type " << f.wire;
      break;
    }
    out.emplace(static_cast<unsigned>(key >> 3), f);
  }
  EXPECT_EQ(at, s.size());
  return out;
}

double as_double(std::uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}
float as_float(std::uint64_t bits) {
  const auto b = static_cast<std::uint32_t>(bits);
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

struct Scalar {
  double wall_time;
  std::int64_t step;
  std::string tag;
  float value;
};
Scalar parse_scalar(const std::string& event) {
  auto e = parse_proto(event);
  Scalar s{as_double(e.find(1)->second.num), 0, "", 0};
  if (e.count(2)) s.step = static_cast<std::int64_t>(e.find(2)->second.num);
  auto summary = parse_proto(e.find(5)->second.bytes);
  EXPECT_EQ(summary.count(1), 1u);
  auto value = parse_proto(summary.find(1)->second.bytes);
  s.tag = value.find(1)->second.bytes;
  EXPECT_EQ(value.find(2)->second.wire, 5u);
  s.value = as_float(value.find(2)->second.num);
  return s;
}

// ---- CRC-32C ------------------------------------------------------------------

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(ltrt::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(ltrt::crc32c(""), 0u);
  // RFC 3720 B.4.
  EXPECT_EQ(ltrt::crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(ltrt::crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int k = 0; k < 32; ++k) {
    ascending += static_cast<char>(k);
    descending += static_cast<char>(31 - k);
  }
  EXPECT_EQ(ltrt::crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(ltrt::crc32c(descending), 0x113FDB5Cu);
  EXPECT_EQ(ltrt::crc32c("a"), 0xC1D04330u);
}

TEST(Crc32c, ExtendsInPiecesOfAnyLength) {
  std::string text;
  for (int k = 0; k < 1000; ++k) text += static_cast<char>(k * 37 + 11);
  const std::uint32_t whole = ltrt::crc32c(text);
  for (std::size_t cut : {0u, 1u, 7u, 8u, 9u, 500u, 999u, 1000u}) {
    const std::uint32_t first = ltrt::crc32c(text.data(), cut);
    EXPECT_EQ(ltrt::crc32c(text.data() + cut, text.size() - cut, first), whole) << cut;
  }
}

TEST(Crc32c, MaskAsTensorFlow) {
  EXPECT_EQ(ltrt::mask_crc32c(0), 0xa282ead8u);
  const std::uint32_t c = ltrt::crc32c("foo");
  EXPECT_NE(ltrt::mask_crc32c(c), c);
  EXPECT_EQ(ltrt::unmask_crc32c(ltrt::mask_crc32c(c)), c);
  EXPECT_EQ(ltrt::mask_crc32c(0xE3069283u), ((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u);
}

// ---- records and events: bytes from tensorboard's RecordWriter and protobuf ---

TEST(TfRecord, FramingMatchesTensorBoardRecordWriter) {
  std::string out;
  append_record(out, "");
  EXPECT_EQ(out, unhex("000000000000000029039807d8ea82a2"));
  out.clear();
  append_record(out, "hello");
  EXPECT_EQ(out, unhex("0500000000000000eab2043e68656c6c6fbb1f1c19"));
  append_record(out, "");  // appends
  EXPECT_EQ(read_records(out), (std::vector<std::string>{"hello", ""}));
}

TEST(TfEvents, ScalarEventMatchesProtobuf) {
  // Event(wall_time=1.5, step=10, summary=Summary(value=[Value(tag="train_loss", simple_value=0.25)]))
  EXPECT_EQ(ltrt::tfevents::scalar_event(1.5, 10, "train_loss", 0.25f),
            unhex("09000000000000f83f100a2a130a110a0a747261696e5f6c6f7373150000803e"));
  // step=-1 is a 10-byte varint; simple_value 0.0 is still written (a oneof member).
  EXPECT_EQ(ltrt::tfevents::scalar_event(2.0, -1, "x", 0.0f),
            unhex("09000000000000004010ffffffffffffffffff012a0a0a080a01781500000000"));
  // step 0 is omitted.
  const Scalar s = parse_scalar(ltrt::tfevents::scalar_event(3.0, 0, "lr-Adam", 1e-3f));
  EXPECT_EQ(s.step, 0);
  EXPECT_EQ(s.tag, "lr-Adam");
  EXPECT_EQ(s.value, 1e-3f);
}

TEST(TfEvents, ScalarRecordIsTheFramedEvent) {
  std::string a, b;
  ltrt::tfevents::append_scalar_record(a, 1.5, 10, "train_loss", 0.25f);
  append_record(b, ltrt::tfevents::scalar_event(1.5, 10, "train_loss", 0.25f));
  EXPECT_EQ(a, b);
  // Long tags (two-byte lengths) and big steps.
  const std::string tag(300, 't');
  a.clear();
  b.clear();
  ltrt::tfevents::append_scalar_record(a, 7.0, std::int64_t{1} << 40, tag, -2.5f);
  append_record(b, ltrt::tfevents::scalar_event(7.0, std::int64_t{1} << 40, tag, -2.5f));
  EXPECT_EQ(a, b);
  const Scalar s = parse_scalar(read_records(a).at(0));
  EXPECT_EQ(s.tag, tag);
  EXPECT_EQ(s.step, std::int64_t{1} << 40);
  EXPECT_EQ(s.value, -2.5f);
}

TEST(TfEvents, FileVersionEventMatchesProtobuf) {
  // Event(wall_time=1700000000.25, file_version="brain.Event:2",
  //       source_metadata=SourceMetadata(writer="ltrt"))
  EXPECT_EQ(ltrt::tfevents::file_version_event(1700000000.25),
            unhex("0900001040fc54d9411a0d627261696e2e4576656e743a3252060a046c747274"));
}

TEST(TfEvents, HParamsSummariesMatchTorch) {
  // torch.utils.tensorboard.summary.hparams({"lr": 0.001, "name": "mlp", "flag": True}, {"hp_metric": -1})
  const auto all = ltrt::tfevents::hparams_summaries(
      ltrt::json::parse(R"({"lr": 0.001, "name": "mlp", "flag": true})"), {"hp_metric"});
  EXPECT_EQ(all.experiment,
            unhex("0a520a145f68706172616d735f2f6578706572696d656e744a3a0a380a0768706172616d73122d122b2206"
                  "0a026c72200322080a046e616d65200122080a04666c616720032a0d0a0b120968705f6d6574726963"));
  EXPECT_EQ(all.session_end_info,
            unhex("0a2f0a1a5f68706172616d735f2f73657373696f6e5f656e645f696e666f4a110a0f0a0768706172616d73"
                  "120422020801"));
  // One hparam each (protobuf's map order is not fixed).
  EXPECT_EQ(ltrt::tfevents::hparams_summaries(ltrt::json::parse(R"({"lr": 0.001})"), {"hp_metric"})
                .session_start_info,
            unhex("0a400a1c5f68706172616d735f2f73657373696f6e5f73746172745f696e666f4a200a1e0a0768706172"
                  "616d7312131a110a0f0a026c72120911fca9f1d24d62503f"));
  EXPECT_EQ(ltrt::tfevents::hparams_summaries(ltrt::json::parse(R"({"name": "mlp"})"), {"hp_metric"})
                .session_start_info,
            unhex("0a3e0a1c5f68706172616d735f2f73657373696f6e5f73746172745f696e666f4a1e0a1c0a0768706172"
                  "616d7312111a0f0a0d0a046e616d6512051a036d6c70"));
}

TEST(TfEvents, HParamsFlattenAndSanitizeLikeLightning) {
  const auto flat = ltrt::tfevents::flatten_hparams(ltrt::json::parse(
      R"({"model": {"hidden": [64, 32], "act": "relu", "empty": {}}, "lr": 1e-3, "epochs": 3,)"
      R"( "seed": null, "names": ["a", "it's"], "nested": [{"k": true}, 2.5]})"));
  std::vector<std::string> text;
  for (const auto& [key, value] : flat) text.push_back(key + "=" + ltrt::tfevents::python_str(value));
  EXPECT_EQ(text, (std::vector<std::string>{"model/hidden='[64, 32]'", "model/act='relu'", "lr=0.001",
                                            "epochs=3", "seed='None'", R"(names='[\'a\', "it\'s"]')",
                                            R"(nested="[{'k': True}, 2.5]")"}));
  EXPECT_THROW(ltrt::tfevents::flatten_hparams(ltrt::json::parse("[1]")), ltrt::Error);
}

// ---- the logger's file ----------------------------------------------------------

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("events.out.tfevents.", 0) == 0) out.push_back(e.path().string());
  }
  return out;
}

TEST(TensorBoardLogger, FileNameAndFirstEvent) {
  const std::string dir = fresh("name") + "/lightning_logs/version_0";
  ltrt::TensorBoardLogger logger(dir);
  EXPECT_EQ(event_files(dir), std::vector<std::string>{logger.path()});
  // events.out.tfevents.<10 digits>.<host>.<pid>.<n>
  const std::string name = std::filesystem::path(logger.path()).filename().string();
  const std::string stamp = name.substr(20, 10);
  EXPECT_EQ(stamp.find_first_not_of("0123456789"), std::string::npos) << name;
  EXPECT_EQ(name[30], '.') << name;
  const std::string tail = name.substr(name.rfind('.') + 1);
  EXPECT_EQ(tail.find_first_not_of("0123456789"), std::string::npos) << name;

  // Written at once: one record, file_version "brain.Event:2", wall_time now.
  const auto records = read_records(ltrt::read_file(logger.path()));
  ASSERT_EQ(records.size(), 1u);
  auto e = parse_proto(records[0]);
  EXPECT_EQ(e.find(3)->second.bytes, "brain.Event:2");
  const double wall_time = as_double(e.find(1)->second.num);
  EXPECT_NEAR(wall_time, static_cast<double>(std::time(nullptr)), 5.0);
  EXPECT_EQ(static_cast<long long>(wall_time), std::stoll(stamp));

  // A second logger in the same folder: a second file, the counter one higher.
  ltrt::TensorBoardLogger second(dir);
  EXPECT_EQ(event_files(dir).size(), 2u);
  const std::string tail2 = second.path().substr(second.path().rfind('.') + 1);
  EXPECT_EQ(std::stoi(tail2), std::stoi(tail) + 1);
}

TEST(TensorBoardLogger, ScalarsBufferedUntilFlush) {
  const std::string dir = fresh("scalars");
  ltrt::TensorBoardLogger logger(dir);
  const std::size_t header = ltrt::read_file(logger.path()).size();
  logger.log_scalars({{"train_loss", 0.97}, {"epoch", 0}}, 49);
  EXPECT_EQ(ltrt::read_file(logger.path()).size(), header);
  logger.flush();
  auto records = read_records(ltrt::read_file(logger.path()));
  ASSERT_EQ(records.size(), 3u);
  const Scalar a = parse_scalar(records[1]), b = parse_scalar(records[2]);
  EXPECT_EQ(a.tag, "train_loss");
  EXPECT_EQ(a.step, 49);
  EXPECT_EQ(a.value, 0.97f);  // float32, as add_scalar stores it
  EXPECT_EQ(b.tag, "epoch");
  EXPECT_EQ(b.value, 0.0f);
  EXPECT_EQ(b.step, 49);
  logger.flush();  // nothing new: nothing written
  EXPECT_EQ(read_records(ltrt::read_file(logger.path())).size(), 3u);
}

TEST(TensorBoardLogger, DestructorFlushes) {
  const std::string dir = fresh("destructor");
  std::string path;
  {
    ltrt::TensorBoardLogger logger(dir);
    path = logger.path();
    logger.log_scalars({{"val_loss", 0.5}}, 99);
  }
  const auto records = read_records(ltrt::read_file(path));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(parse_scalar(records[1]).tag, "val_loss");
}

TEST(TensorBoardLogger, FullBufferIsWrittenOutInWholeRecords) {
  const std::string dir = fresh("full");
  ltrt::TensorBoardLogger logger(dir);
  const int n = 5000;  // ~40 bytes a record: several buffers
  for (int step = 0; step < n; ++step) logger.log_scalars({{"train_loss", step * 0.5}}, step);
  const auto partial = read_records(ltrt::read_file(logger.path()));  // whole records only
  EXPECT_GT(partial.size(), 1u);
  EXPECT_LT(partial.size(), static_cast<std::size_t>(n + 1));
  logger.flush();
  const auto records = read_records(ltrt::read_file(logger.path()));
  ASSERT_EQ(records.size(), static_cast<std::size_t>(n + 1));
  for (int step = 0; step < n; ++step) {
    const Scalar s = parse_scalar(records[step + 1]);
    ASSERT_EQ(s.step, step);
    ASSERT_EQ(s.value, static_cast<float>(step * 0.5));
  }
}

TEST(TensorBoardLogger, LoggingScalarsDoesNotAllocate) {
  const std::string dir = fresh("no_alloc");
  ltrt::TensorBoardLogger logger(dir);
  const std::vector<std::pair<std::string, double>> metrics = {{"train_loss", 0.25}, {"epoch", 1.0}};
  logger.log_scalars(metrics, 0);
  logger.flush();
  g_allocs = 0;
  g_count_allocs = true;
  for (int step = 1; step <= 5000; ++step) {  // buffer fills and is written out several times
    logger.log_scalars(metrics, step);
    if (step % 1000 == 0) logger.flush();
  }
  g_count_allocs = false;
  EXPECT_EQ(g_allocs.load(), 0);
}

TEST(TensorBoardLogger, HParamsLikeLightning) {
  const std::string dir = fresh("hparams");
  ltrt::TensorBoardLogger logger(dir);
  const auto hparams = ltrt::json::parse(R"({"lr": 0.001, "model": {"hidden": 64}})");
  logger.log_hparams(hparams);  // flushes
  EXPECT_EQ(ltrt::read_file(dir + "/hparams.yaml"), "lr: 0.001\nmodel:\n  hidden: 64\n");
  auto records = read_records(ltrt::read_file(logger.path()));
  ASSERT_EQ(records.size(), 5u);
  const Scalar hp = parse_scalar(records[1]);  // default_hp_metric: hp_metric = -1 at step 0
  EXPECT_EQ(hp.tag, "hp_metric");
  EXPECT_EQ(hp.step, 0);
  EXPECT_EQ(hp.value, -1.0f);
  const auto expected = ltrt::tfevents::hparams_summaries(
      ltrt::json::parse(R"({"lr": 0.001, "model/hidden": 64})"), {"hp_metric"});
  const char* tags[] = {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"};
  const std::string* summaries[] = {&expected.experiment, &expected.session_start_info,
                                    &expected.session_end_info};
  for (int k = 0; k < 3; ++k) {
    auto e = parse_proto(records[2 + k]);
    EXPECT_EQ(e.count(2), 0u);  // step 0
    EXPECT_EQ(e.find(5)->second.bytes, *summaries[k]);
    EXPECT_NE(e.find(5)->second.bytes.find(tags[k]), std::string::npos);
  }

  // An hparams.yaml already there (the trainer's) is kept; given metrics replace hp_metric.
  const std::string dir2 = fresh("hparams_metrics");
  ltrt::make_dirs(dir2);
  ltrt::write_file_atomic(dir2 + "/hparams.yaml", "mine: 1\n");
  ltrt::TensorBoardLogger logger2(dir2);
  logger2.log_hparams(hparams, {{"val_loss", 0.5}});
  EXPECT_EQ(ltrt::read_file(dir2 + "/hparams.yaml"), "mine: 1\n");
  records = read_records(ltrt::read_file(logger2.path()));
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(parse_scalar(records[1]).tag, "val_loss");
  EXPECT_NE(records[2].find("val_loss"), std::string::npos);  // the experiment's metric_infos

  // default_hp_metric=false and no metrics: hparams.yaml only, as Lightning.
  const std::string dir3 = fresh("hparams_off");
  ltrt::TensorBoardLogger logger3(dir3, /*default_hp_metric=*/false);
  logger3.log_hparams(hparams);
  EXPECT_TRUE(ltrt::exists(dir3 + "/hparams.yaml"));
  EXPECT_EQ(read_records(ltrt::read_file(logger3.path())).size(), 1u);

  EXPECT_THROW(logger3.log_hparams(ltrt::json::parse("3")), ltrt::Error);
}

TEST(TensorBoardLogger, UnwritableFolderIsAnError) {
  const std::string base = fresh("unwritable");
  ltrt::make_dirs(base);
  ltrt::write_file_atomic(base + "/file", "x");
  EXPECT_THROW(ltrt::TensorBoardLogger(base + "/file/sub"), ltrt::Error);
}

}  // namespace
