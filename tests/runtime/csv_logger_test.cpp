// metrics.csv must match what Lightning's CSVLogger writes, byte for byte.
#include "ltrt/csv_logger.hpp"

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

namespace {

std::string fresh(const std::string& name) {
  const std::string d = std::string(LTRT_TEST_TMP) + "/csv_logger_test/" + name;
  std::filesystem::remove_all(d);
  return d + "/metrics.csv";
}

TEST(CsvLogger, OneRowLikeLightning) {
  const std::string path = fresh("one_row");
  ltrt::CsvLogger logger(path);
  logger.log({{"train_loss", 0.97}, {"epoch", 1}}, 49);
  EXPECT_FALSE(ltrt::exists(path));  // buffered until save
  logger.save();
  EXPECT_EQ(ltrt::read_file(path), "epoch,step,train_loss\r\n1,49,0.97\r\n");
  EXPECT_EQ(logger.columns(), (std::vector<std::string>{"epoch", "step", "train_loss"}));
}

TEST(CsvLogger, Float32LossAsTorchItemPrintsIt) {
  const std::string path = fresh("float32");
  ltrt::CsvLogger logger(path);
  logger.log_values({{"epoch", std::int64_t{0}}, {"train_loss", static_cast<double>(0.97f)}}, 9);
  logger.log_values({{"epoch", std::int64_t{0}}, {"train_loss", 1e-05}}, 19);
  logger.save();
  EXPECT_EQ(ltrt::read_file(path), "epoch,step,train_loss\r\n0,9,0.9700000286102295\r\n0,19,1e-05\r\n");
}

TEST(CsvLogger, NewColumnsRewriteTheFile) {
  const std::string path = fresh("new_columns");
  ltrt::CsvLogger logger(path);
  logger.log({{"epoch", 0}, {"train_loss", 0.5}}, 49);
  logger.log({{"epoch", 0}, {"train_loss", 0.25}}, 99);  // (99 + 1) % 100 == 0: saved
  EXPECT_EQ(ltrt::read_file(path), "epoch,step,train_loss\r\n0,49,0.5\r\n0,99,0.25\r\n");
  logger.log({{"epoch", 0}, {"val_loss", 0.75}}, 99);
  logger.log({{"epoch", 1}, {"lr-Adam", 0.001}, {"train_loss", 0.125}}, 149);
  logger.save();
  EXPECT_EQ(ltrt::read_file(path),
            "epoch,lr-Adam,step,train_loss,val_loss\r\n"
            "0,,49,0.5,\r\n"
            "0,,99,0.25,\r\n"
            "0,,99,,0.75\r\n"
            "1,0.001,149,0.125,\r\n");
  // Same keys again: appended under the same header.
  logger.log({{"epoch", 2}, {"train_loss", 2.0}}, 199);
  logger.save();
  EXPECT_EQ(ltrt::read_file(path),
            "epoch,lr-Adam,step,train_loss,val_loss\r\n"
            "0,,49,0.5,\r\n"
            "0,,99,0.25,\r\n"
            "0,,99,,0.75\r\n"
            "1,0.001,149,0.125,\r\n"
            "2,,199,2.0,\r\n");
  EXPECT_FALSE(ltrt::exists(path + ".tmp"));
}

TEST(CsvLogger, StepOverridesAndSortOrder) {
  const std::string path = fresh("sort");
  ltrt::CsvLogger logger(path);
  // "step" is always the step argument; keys sort by code point ('Z' < '_' < 'a').
  logger.log({{"step", 5.0}, {"b", 1.0}, {"a_b", 2.0}, {"Z", 3.0}, {"a,c", 4.0}, {"a", 5.0}}, 7);
  logger.save();
  EXPECT_EQ(ltrt::read_file(path), "Z,a,\"a,c\",a_b,b,step\r\n3.0,5.0,4.0,2.0,1.0,7\r\n");
}

TEST(CsvLogger, ValuesLikePythonStr) {
  const std::string path = fresh("values");
  ltrt::CsvLogger logger(path);
  logger.log({{"epoch", 3.0}, {"x", 1.0}, {"y", 1e16}, {"z", -0.0}}, 0);
  logger.log_values({{"epoch", 3.5}, {"x", std::int64_t{-2}}}, 1);  // the caller's choice wins
  logger.log({{"epoch", 0.5}, {"x", std::numeric_limits<double>::quiet_NaN()},
              {"y", std::numeric_limits<double>::infinity()}}, 2);
  logger.save();
  EXPECT_EQ(ltrt::read_file(path),
            "epoch,step,x,y,z\r\n"
            "3,0,1.0,1e+16,-0.0\r\n"
            "3.5,1,-2,,\r\n"
            "0.5,2,nan,inf,\r\n");
}

TEST(CsvLogger, ReplacesAnOldFileAndCreatesTheFolder) {
  const std::string path = fresh("replace");
  ltrt::make_dirs(std::filesystem::path(path).parent_path().string());
  ltrt::write_file_atomic(path, "old,stuff\r\n1,2\r\n");
  ltrt::CsvLogger logger(path);
  logger.save();  // nothing logged: nothing written
  EXPECT_EQ(ltrt::read_file(path), "old,stuff\r\n1,2\r\n");
  logger.log({{"epoch", 0}}, 0);
  logger.save();
  EXPECT_EQ(ltrt::read_file(path), "epoch,step\r\n0,0\r\n");
}

TEST(CsvLogger, DestructorSaves) {
  const std::string path = fresh("destructor");
  {
    ltrt::CsvLogger logger(path);
    logger.log({{"epoch", 0}, {"train_loss", 0.5}}, 3);
  }
  EXPECT_EQ(ltrt::read_file(path), "epoch,step,train_loss\r\n0,3,0.5\r\n");
}

TEST(CsvLogger, FlushEvery) {
  const std::string path = fresh("flush");
  ltrt::CsvLogger logger(path, 2);
  logger.log({{"a", 1.0}}, 0);
  EXPECT_FALSE(ltrt::exists(path));
  logger.log({{"a", 2.0}}, 1);
  EXPECT_EQ(ltrt::read_file(path), "a,step\r\n1.0,0\r\n2.0,1\r\n");
  EXPECT_THROW(ltrt::CsvLogger(path, 0), ltrt::Error);
}

TEST(CsvLogger, RefusesToRewriteAFileChangedUnderIt) {
  const std::string path = fresh("changed");
  ltrt::CsvLogger logger(path);
  logger.log({{"a", 1.0}}, 0);
  logger.save();
  ltrt::write_file_atomic(path, "something else\r\n");
  logger.log({{"b", 1.0}}, 1);
  EXPECT_THROW(logger.save(), ltrt::Error);
  // Nothing was lost: the failed save keeps its rows and columns.
  EXPECT_EQ(logger.columns(), (std::vector<std::string>{"a", "step"}));
  ltrt::write_file_atomic(path, "a,step\r\n1.0,0\r\n");
  logger.save();
  EXPECT_EQ(ltrt::read_file(path), "a,b,step\r\n1.0,,0\r\n,1.0,1\r\n");
}

}  // namespace
