// hparams.yaml must read like PyYAML's yaml.dump of the same dict.
#include "ltrt/hparams_yaml.hpp"

#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

namespace {

namespace json = ltrt::json;

std::string yaml(const std::string& json_text) { return ltrt::hparams_yaml(json::parse(json_text)); }

TEST(HparamsYaml, NestedLikePyYaml) {
  const std::string spec = R"({
    "name": "linear",
    "model": {"layers": [{"type": "Linear", "in_features": 10, "out_features": 1}]},
    "optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.0, "nesterov": false},
    "data": {"batch_size": 32, "x": "data/x.npy", "extra": null},
    "tags": [],
    "extra": {},
    "matrix": [[1, 2], [3], []],
    "list_of_lists_in_map": [{"a": [1, 2], "b": {"c": 1}}]
  })";
  // yaml.dump(json.loads(spec)) prints exactly this (keys sorted).
  EXPECT_EQ(yaml(spec),
            "data:\n"
            "  batch_size: 32\n"
            "  extra: null\n"
            "  x: data/x.npy\n"
            "extra: {}\n"
            "list_of_lists_in_map:\n"
            "- a:\n"
            "  - 1\n"
            "  - 2\n"
            "  b:\n"
            "    c: 1\n"
            "matrix:\n"
            "- - 1\n"
            "  - 2\n"
            "- - 3\n"
            "- []\n"
            "model:\n"
            "  layers:\n"
            "  - in_features: 10\n"
            "    out_features: 1\n"
            "    type: Linear\n"
            "name: linear\n"
            "optimizer:\n"
            "  lr: 0.01\n"
            "  momentum: 0.0\n"
            "  nesterov: false\n"
            "  type: SGD\n"
            "tags: []\n");
}

TEST(HparamsYaml, Floats) {
  EXPECT_EQ(yaml(R"({"a": 1e-05, "b": 1.0, "c": 0.001, "d": 1e16, "e": 2.5e-10, "f": 3, "g": -1.5})"),
            "a: 1.0e-05\nb: 1.0\nc: 0.001\nd: 1.0e+16\ne: 2.5e-10\nf: 3\ng: -1.5\n");
  json::Value v = json::Value::make_object();
  v.set("nan", json::Value::make_number(std::nan("")));
  v.set("inf", json::Value::make_number(HUGE_VAL));
  v.set("ninf", json::Value::make_number(-HUGE_VAL));
  EXPECT_EQ(ltrt::hparams_yaml(v), "inf: .inf\nnan: .nan\nninf: -.inf\n");
}

TEST(HparamsYaml, StringsQuotedOnlyWhenNeeded) {
  EXPECT_EQ(yaml(R"({"s": "relu"})"), "s: relu\n");
  EXPECT_EQ(yaml(R"({"s": "data/x.npy"})"), "s: data/x.npy\n");
  EXPECT_EQ(yaml(R"({"s": "two words"})"), "s: two words\n");
  EXPECT_EQ(yaml(R"({"s": "1e5"})"), "s: 1e5\n");  // not a YAML 1.1 float
  EXPECT_EQ(yaml(R"({"s": "a-b"})"), "s: a-b\n");
  EXPECT_EQ(yaml(R"({"s": "-x"})"), "s: -x\n");
  EXPECT_EQ(yaml(R"({"s": "it's"})"), "s: it's\n");
  EXPECT_EQ(yaml(R"({"s": "a:b"})"), "s: a:b\n");
  EXPECT_EQ(yaml(R"({"s": ""})"), "s: ''\n");
  EXPECT_EQ(yaml(R"({"s": "true"})"), "s: 'true'\n");
  EXPECT_EQ(yaml(R"({"s": "Yes"})"), "s: 'Yes'\n");
  EXPECT_EQ(yaml(R"({"s": "off"})"), "s: 'off'\n");
  EXPECT_EQ(yaml(R"({"s": "null"})"), "s: 'null'\n");
  EXPECT_EQ(yaml(R"({"s": "~"})"), "s: '~'\n");
  EXPECT_EQ(yaml(R"({"s": "10"})"), "s: '10'\n");
  EXPECT_EQ(yaml(R"({"s": "1.5"})"), "s: '1.5'\n");
  EXPECT_EQ(yaml(R"({"s": "0x1F"})"), "s: '0x1F'\n");
  EXPECT_EQ(yaml(R"({"s": ".inf"})"), "s: '.inf'\n");
  EXPECT_EQ(yaml(R"({"s": "2024-01-31"})"), "s: '2024-01-31'\n");
  EXPECT_EQ(yaml(R"({"s": "a: b"})"), "s: 'a: b'\n");
  EXPECT_EQ(yaml(R"({"s": "x #c"})"), "s: 'x #c'\n");
  EXPECT_EQ(yaml(R"({"s": "#c"})"), "s: '#c'\n");
  EXPECT_EQ(yaml(R"({"s": "- x"})"), "s: '- x'\n");
  EXPECT_EQ(yaml(R"({"s": " lead"})"), "s: ' lead'\n");
  EXPECT_EQ(yaml(R"({"s": "[1]"})"), "s: '[1]'\n");
  EXPECT_EQ(yaml(R"({"s": "*ref"})"), "s: '*ref'\n");
  EXPECT_EQ(yaml(R"({"s": "'q'"})"), "s: '''q'''\n");
  EXPECT_EQ(yaml(R"({"s": "---"})"), "s: '---'\n");
  EXPECT_EQ(yaml(R"({"s": "line\nbreak\ttab"})"), "s: \"line\\nbreak\\ttab\"\n");
  EXPECT_EQ(yaml(R"({"s": "caf\u00e9 \u20ac \ud83d\ude00"})"), "s: \"caf\\xE9 \\u20AC \\U0001F600\"\n");
  EXPECT_EQ(yaml(R"({"s": "say \"hi\""})"), "s: say \"hi\"\n");
  EXPECT_EQ(yaml(R"({"true": 1, "1": 2})"), "'1': 2\n'true': 1\n");
}

TEST(HparamsYaml, EmptyAndErrors) {
  EXPECT_EQ(yaml("{}"), "{}\n");
  EXPECT_THROW(yaml("[1]"), ltrt::Error);
  EXPECT_THROW(yaml("3"), ltrt::Error);
}

TEST(HparamsYaml, WritesTheFile) {
  const std::string dir = std::string(LTRT_TEST_TMP) + "/hparams_yaml_test";
  std::filesystem::remove_all(dir);
  ltrt::make_dirs(dir);
  ltrt::write_hparams_yaml(dir + "/hparams.yaml", json::parse(R"({"b": 1, "a": "x"})"));
  EXPECT_EQ(ltrt::read_file(dir + "/hparams.yaml"), "a: x\nb: 1\n");
  EXPECT_FALSE(ltrt::exists(dir + "/hparams.yaml.tmp"));
}

}  // namespace
