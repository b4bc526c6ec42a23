#include "pipeline/config_node.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace hodos::pipeline {
namespace {

TEST(ConfigNode, ErrorsNameTheKeyPath) {
  ConfigNode n(YAML::Load("endpoint: ''\nqueue_size: abc\n"), "exporters.otlphttp");
  try {
    n.require_string("endpoint");
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "exporters.otlphttp.endpoint: required");
  }
  try {
    n.get_int("queue_size", 10);
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "exporters.otlphttp.queue_size");
  }
}

TEST(ConfigNode, UnknownKeysListTheValidOnes) {
  ConfigNode n(YAML::Load("timeout: 5s\ntimout: 3s\n"), "processors.batch");
  EXPECT_EQ(n.get_duration("timeout", std::chrono::milliseconds(200)).count(), 5000);
  n.get_int("send_batch_size", 8192);
  try {
    n.reject_unknown_keys();
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "processors.batch.timout: unknown key; valid keys are: send_batch_size, timeout");
  }
}

TEST(ConfigNode, Durations) {
  EXPECT_EQ(parse_duration("1m30s")->count(), 90'000);
  EXPECT_EQ(parse_duration("200ms")->count(), 200);
  EXPECT_EQ(parse_duration("1.5s")->count(), 1500);
  EXPECT_EQ(parse_duration("2")->count(), 2000);
  EXPECT_FALSE(parse_duration("5 parsecs").has_value());
  EXPECT_FALSE(parse_duration("").has_value());
}

TEST(ConfigNode, EnvSubstitution) {
  setenv("HODOS_TEST_EP", "example.com:4317", 1);
  unsetenv("HODOS_TEST_UNSET");
  YAML::Node root = YAML::Load(
      "a: ${env:HODOS_TEST_EP}\nb:\n  - x-${HODOS_TEST_EP}\nc: $${env:X}\nd: '${env:HODOS_TEST_UNSET}'\n");
  expand_env(root);
  EXPECT_EQ(root["a"].as<std::string>(), "example.com:4317");
  EXPECT_EQ(root["b"][0].as<std::string>(), "x-example.com:4317");
  EXPECT_EQ(root["c"].as<std::string>(), "${env:X}");
  EXPECT_EQ(root["d"].as<std::string>(), "");
  YAML::Node bad = YAML::Load("x: ${env:OOPS\n");
  EXPECT_THROW(expand_env(bad), ConfigError);
}

}  // namespace
}  // namespace hodos::pipeline
