// Command line parsing of generated programs, and run_main's exit codes.
#include "ltrt/cli.hpp"
#include "ltrt/config_reader.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "ltrt/json.hpp"
#include "ltrt/main.hpp"
#include "toy_model.hpp"

namespace {

ltrt::CliOptions parse(std::vector<const char*> args, const ltrt::ModelDef& model) {
  args.insert(args.begin(), "toy");
  return ltrt::parse_cli(static_cast<int>(args.size()), args.data(), model);
}

std::string usage_error(std::vector<const char*> args, const ltrt::ModelDef& model) {
  try {
    parse(std::move(args), model);
  } catch (const ltrt::UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

ltrt::ModelDef npy_model() {
  ltrt::ModelDef m = toy::make_model("root");
  m.data.train.kind = ltrt::DataSourceKind::npy;
  m.data.train.x_path = "x.npy";
  m.data.train.y_path = "y.npy";
  return m;
}

TEST(Cli, DefaultsComeFromTheSpec) {
  const ltrt::ModelDef m = toy::make_model("root");
  const ltrt::CliOptions o = parse({}, m);
  EXPECT_EQ(o.subcommand, ltrt::Subcommand::fit);
  EXPECT_EQ(o.fit.trainer.seed, 42);
  EXPECT_EQ(o.fit.trainer.max_epochs, 3);
  EXPECT_EQ(o.fit.trainer.max_steps, -1);
  EXPECT_EQ(o.fit.trainer.log_every_n_steps, 50);
  EXPECT_EQ(o.fit.trainer.default_root_dir, "root");
  EXPECT_EQ(o.fit.train.kind, ltrt::DataSourceKind::randn);
  EXPECT_EQ(o.fit.train.num_samples, 1000);
  EXPECT_FALSE(o.help);
}

TEST(Cli, BothOptionForms) {
  const ltrt::ModelDef m = npy_model();
  const ltrt::CliOptions o =
      parse({"fit", "--seed_everything=7", "--trainer.max_epochs", "5", "--trainer.max_steps=-1",
             "--trainer.log_every_n_steps", "10", "--trainer.default_root_dir=/tmp/x",
             "--trainer.enable_progress_bar=false", "--trainer.enable_checkpointing", "False", "--data.train.x",
             "a.npy", "--data.train.y=b.npy", "--init_weights=w.safetensors", "--ckpt_path", "c.safetensors"},
            m);
  EXPECT_EQ(o.fit.trainer.seed, 7);
  EXPECT_EQ(o.fit.trainer.max_epochs, 5);
  EXPECT_EQ(o.fit.trainer.log_every_n_steps, 10);
  EXPECT_EQ(o.fit.trainer.default_root_dir, "/tmp/x");
  EXPECT_FALSE(o.fit.trainer.enable_progress_bar);
  EXPECT_FALSE(o.fit.trainer.enable_checkpointing);
  EXPECT_EQ(o.fit.train.x_path, "a.npy");
  EXPECT_EQ(o.fit.train.y_path, "b.npy");
  EXPECT_EQ(o.fit.init_weights, "w.safetensors");
  EXPECT_EQ(o.fit.ckpt_path, "c.safetensors");
}

TEST(Cli, IdxImagesAndLabels) {
  ltrt::ModelDef m = toy::make_model("root");
  m.data.train.kind = ltrt::DataSourceKind::idx;
  m.data.train.images_path = "train-images-idx3-ubyte.gz";
  m.data.train.labels_path = "train-labels-idx1-ubyte.gz";
  m.data.train.idx_scale = 255.0;
  const ltrt::CliOptions o = parse({"--data.train.images=a-images", "--data.train.labels", "a-labels"}, m);
  EXPECT_EQ(o.fit.train.images_path, "a-images");
  EXPECT_EQ(o.fit.train.labels_path, "a-labels");
  EXPECT_EQ(o.fit.train.idx_scale, 255.0);
  std::string e = usage_error({"--data.train.x=a.npy"}, m);
  EXPECT_NE(e.find("applies to npy data sources, but the spec's data.train source is idx"), std::string::npos) << e;
  e = usage_error({"--data.train.images=a"}, npy_model());
  EXPECT_NE(e.find("applies to idx data sources, but the spec's data.train source is npy"), std::string::npos) << e;
  e = usage_error({"--data.train.scale=1"}, m);
  EXPECT_NE(e.find("fixed when the program is generated"), std::string::npos) << e;
}

TEST(Cli, SubcommandsHelpAndPrintConfig) {
  const ltrt::ModelDef m = toy::make_model("root");
  EXPECT_EQ(parse({"test"}, m).subcommand, ltrt::Subcommand::test);
  EXPECT_TRUE(parse({"--help"}, m).help);
  EXPECT_TRUE(parse({"fit", "--print_config"}, m).print_config);
  const std::string e = usage_error({"fti"}, m);
  EXPECT_NE(e.find("unknown subcommand 'fti'"), std::string::npos) << e;
  EXPECT_NE(e.find("'fit'"), std::string::npos) << e;
}

TEST(Cli, UnknownOptionSuggestsTheNearest) {
  const ltrt::ModelDef m = toy::make_model("root");
  std::string e = usage_error({"--trainer.max_epoch=3"}, m);
  EXPECT_NE(e.find("--trainer.max_epoch: unknown key 'max_epoch'; did you mean 'max_epochs'?"), std::string::npos) << e;
  e = usage_error({"--seed=1"}, m);
  EXPECT_NE(e.find("--seed_everything"), std::string::npos) << e;
  e = usage_error({"--data.trian.x=a"}, m);
  EXPECT_NE(e.find("did you mean --data.train.x"), std::string::npos) << e;
}

TEST(Cli, FixedFieldsAskToRegenerate) {
  const ltrt::ModelDef m = toy::make_model("root");
  for (const char* arg : {"--data.batch_size=64", "--trainer.precision=16-mixed", "--model.layers=3",
                          "--optimizer.lr=0.1", "--trainer.accelerator=gpu", "--data.shuffle=true",
                          "--trainer.sync_batchnorm=true"}) {
    const std::string e = usage_error({arg}, m);
    EXPECT_NE(e.find("is fixed when the program is generated; change the spec and run ltgen again"),
              std::string::npos)
        << arg << ": " << e;
  }
}

TEST(Cli, TrainerArgumentsNotYetImplementedSaySo) {
  const ltrt::ModelDef m = toy::make_model("root");
  const std::string e = usage_error({"--trainer.barebones=true"}, m);
  EXPECT_NE(e.find("trainer.barebones is not supported yet"), std::string::npos) << e;
}

TEST(Cli, InferenceModeAndBenchmarkAreAcceptedAndChangeNothing) {
  // Lightning's inference_mode and benchmark: nothing to select in a generated program.
  const ltrt::ModelDef m = toy::make_model("root");
  const ltrt::CliOptions o = parse({"fit", "--trainer.inference_mode=false", "--trainer.benchmark=true"}, m);
  EXPECT_FALSE(o.fit.trainer.inference_mode);
  ASSERT_TRUE(o.fit.trainer.benchmark.has_value());
  EXPECT_TRUE(*o.fit.trainer.benchmark);
  EXPECT_FALSE(parse({"fit"}, m).fit.trainer.benchmark.has_value());  // null: Lightning's default
  for (const char* none : {"--trainer.benchmark=None", "--trainer.benchmark=null", "--trainer.benchmark=Null",
                           "--trainer.benchmark=NULL", "--trainer.benchmark=~"})  // YAML's nulls, as LightningCLI reads them
    EXPECT_FALSE(parse({"fit", none}, m).fit.trainer.benchmark.has_value()) << none;
  EXPECT_NE(usage_error({"--trainer.benchmark=sometimes"}, m).find("benchmark"), std::string::npos);
}

TEST(Cli, BadValues) {
  const ltrt::ModelDef m = toy::make_model("root");
  std::string e = usage_error({"--trainer.max_epochs=three"}, m);
  EXPECT_NE(e.find("--trainer.max_epochs: expected an integer, got the string \"three\""), std::string::npos) << e;
  e = usage_error({"--trainer.max_steps=12x"}, m);
  EXPECT_NE(e.find("expected an integer"), std::string::npos) << e;
  // Hexadecimal is a string to YAML and to Python's float(): not a number here either.
  e = usage_error({"--trainer.gradient_clip_val=0x1.8p1"}, m);
  EXPECT_NE(e.find("got the string \"0x1.8p1\""), std::string::npos) << e;
  e = usage_error({"--trainer.max_steps=-2"}, m);
  EXPECT_NE(e.find("-1"), std::string::npos) << e;
  e = usage_error({"--trainer.enable_progress_bar=maybe"}, m);
  EXPECT_NE(e.find("expected true or false"), std::string::npos) << e;
  e = usage_error({"--trainer.max_epochs"}, m);
  EXPECT_NE(e.find("needs a value"), std::string::npos) << e;
  e = usage_error({"--trainer.logger={\"class_path\": \"CSVLogger\""}, m);
  EXPECT_NE(e.find("--trainer.logger: a value that starts with '{' is read as JSON"), std::string::npos) << e;
}

TEST(Cli, LoggerAsJson) {
  const ltrt::ModelDef m = toy::make_model("root");
  const ltrt::CliOptions o =
      parse({"--trainer.logger=[{\"class_path\": \"CSVLogger\", \"init_args\": {\"save_dir\": \"logs\", "
             "\"name\": null, \"version\": 2, \"prefix\": \"p\"}}]"},
            m);
  ASSERT_EQ(o.fit.trainer.loggers.size(), 1u);
  const ltrt::LoggerSpec& l = o.fit.trainer.loggers[0];
  EXPECT_EQ(l.kind, ltrt::LoggerSpec::Kind::csv);
  EXPECT_EQ(l.root_dir(), "logs");
  EXPECT_EQ(l.version.value_or(""), "version_2");
  EXPECT_EQ(l.prefix, "p");
  // --print_config writes it back in LightningCLI's form.
  const ltrt::json::Value v = ltrt::json::parse(ltrt::config_json(o, m));
  const ltrt::json::Value* logger = v.find("trainer")->find("logger");
  ASSERT_TRUE(logger && logger->is_array() && logger->items.size() == 1);
  EXPECT_EQ(logger->items[0].find("class_path")->str, "lightning.pytorch.loggers.CSVLogger");
  EXPECT_TRUE(logger->items[0].find("init_args")->find("name")->is_null());
}

TEST(Cli, DataPathsMustMatchTheSource) {
  const ltrt::ModelDef m = toy::make_model("root");  // randn
  const std::string e = usage_error({"--data.train.x=a.npy"}, m);
  EXPECT_NE(e.find("npy data sources"), std::string::npos) << e;
  EXPECT_NE(e.find("randn"), std::string::npos) << e;
}

// A model with several inputs: each input's npy file by name (--data.train.x.<input>), and a plain
// --data.train.x refused with the names to use.
TEST(Cli, SeveralInputsNameTheirFiles) {
  ltrt::ModelDef m = npy_model();
  static const ltrt::TensorRef others[] = {{"z", ltrt::DType::f32, 2, {4, 3}, 0}};
  static const char* const other_paths[] = {"z.npy", nullptr};
  m.other_inputs = others;
  m.num_other_inputs = 1;
  m.data.train.other_x_paths = other_paths;
  const ltrt::CliOptions o = parse({"--data.train.x.z=zz.npy", "--data.train.x.x=xx.npy"}, m);
  EXPECT_EQ(o.fit.train.x_path, "xx.npy");
  ASSERT_EQ(o.fit.train.other_x_paths.size(), 1u);
  EXPECT_EQ(o.fit.train.other_x_paths[0], "zz.npy");
  const ltrt::json::Value v = ltrt::json::parse(ltrt::config_json(o, m));
  const ltrt::json::Value* x = v.find("data")->find("train")->find("x");
  ASSERT_NE(x, nullptr);
  ASSERT_TRUE(x->is_object());
  EXPECT_EQ(x->find("x")->str, "xx.npy");
  EXPECT_EQ(x->find("z")->str, "zz.npy");
  const std::string e = usage_error({"--data.train.x=a.npy"}, m);
  EXPECT_NE(e.find("--data.train.x.x, --data.train.x.z"), std::string::npos) << e;
  EXPECT_NE(usage_error({"--data.train.x.w=a.npy"}, m).find("unknown option --data.train.x.w"), std::string::npos);
}

TEST(Cli, PrintConfigIsJson) {
  const ltrt::ModelDef m = toy::make_model("root");
  const ltrt::CliOptions o = parse({"--trainer.max_epochs=9"}, m);
  const ltrt::json::Value v = ltrt::json::parse(ltrt::config_json(o, m));
  EXPECT_EQ(v.find("trainer")->find("max_epochs")->integer, 9);
  EXPECT_EQ(v.find("data")->find("batch_size")->integer, 32);
  EXPECT_EQ(v.find("optimizer")->find("type")->str, "Adam");
  ASSERT_NE(v.find("lr_scheduler"), nullptr);  // the toy spec has none: null, as LightningCLI prints it
  EXPECT_TRUE(v.find("lr_scheduler")->is_null());
}

TEST(Cli, EditDistance) {
  EXPECT_EQ(ltrt::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(ltrt::edit_distance("", "abc"), 3u);
  EXPECT_EQ(ltrt::edit_distance("same", "same"), 0u);
}

int run(std::vector<const char*> args, const ltrt::ModelDef& m) {
  args.insert(args.begin(), "toy");
  return ltrt::run_main(static_cast<int>(args.size()), const_cast<char**>(args.data()), m);
}

TEST(RunMain, ExitCodes) {
  const std::string root = std::string(LTRT_TEST_TMP) + "/cli_test";
  std::filesystem::remove_all(root);
  const ltrt::ModelDef m = toy::make_model(root.c_str());
  EXPECT_EQ(run({"--help"}, m), 0);
  EXPECT_EQ(run({"--print_config"}, m), 0);
  EXPECT_EQ(run({"--bogus"}, m), 2);
  EXPECT_EQ(run({"--data.batch_size=3"}, m), 2);
  EXPECT_EQ(run({"test"}, m), 1);      // the toy spec has no test data
  EXPECT_EQ(run({"validate"}, m), 1);  // nor validation data
  EXPECT_EQ(run({"--init_weights=/nonexistent/w.safetensors"}, m), 1);
  EXPECT_EQ(run({"--trainer.max_steps=3"}, m), 0);
}

}  // namespace
