#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <sstream>

#include "exporter_test_util.h"
#include "exporters/debug.h"
#include "pipeline/metrics.h"

namespace hodos::exporters {
namespace {

using hodos::testing::make_batch;

class DebugExporterTest : public ::testing::Test {
 protected:
  std::unique_ptr<pipeline::Exporter> make(const std::string& yaml) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%v");
    auto logger = std::make_shared<spdlog::logger>("debug-test", sink);
    pipeline::ConfigNode config(YAML::Load(yaml), "exporters.debug");
    pipeline::CreateContext ctx{pipeline::ComponentId{"debug", ""}, metrics_, logger};
    auto e = make_debug_exporter_factory()->create(ctx, config);
    EXPECT_TRUE(e->start().is_ok());
    return e;
  }
  size_t line_count() {
    std::string s = out_.str();
    return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  }

  std::ostringstream out_;
  pipeline::Metrics metrics_;
};

TEST_F(DebugExporterTest, BasicLogsOneLinePerBatch) {
  auto e = make("");
  ASSERT_TRUE(e->consume(make_batch("b", 3)).is_ok());
  EXPECT_EQ(out_.str(), "exporter debug: 3 spans\n");
  EXPECT_EQ(metrics_.value("otelcol_exporter_sent_spans_total", {{"exporter", "debug"}}), 3);
}

TEST_F(DebugExporterTest, NormalLogsOneLinePerSpan) {
  auto e = make("verbosity: normal\n");
  ASSERT_TRUE(e->consume(make_batch("n", 3)).is_ok());
  EXPECT_EQ(line_count(), 4u);  // the summary and one per span
  EXPECT_NE(out_.str().find("n-2 kind=server"), std::string::npos) << out_.str();
}

TEST_F(DebugExporterTest, DetailedShowsEveryField) {
  auto e = make("verbosity: detailed\n");
  ASSERT_TRUE(e->consume(make_batch("d", 1)).is_ok());
  const std::string s = out_.str();
  for (const char* want : {"ResourceSpans #0", "-> service.name: Str(svc)",
                           "InstrumentationScope test-scope", "Span #0", "Name           : d-0",
                           "Kind           : server", "-> i: Int(0)", "Status code    : Unset"}) {
    EXPECT_NE(s.find(want), std::string::npos) << want << "\n" << s;
  }
}

TEST_F(DebugExporterTest, SamplingThinsOutBursts) {
  auto e = make("sampling_initial: 1\nsampling_thereafter: 1000\n");
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(e->consume(make_batch("s", 1)).is_ok());
  // One per one-second window passes; a burst of 20 spans far fewer windows than 20.
  EXPECT_LT(line_count(), 10u);
  EXPECT_GE(line_count(), 1u);
}

TEST_F(DebugExporterTest, RejectsUnknownVerbosity) {
  EXPECT_THROW(make("verbosity: loud\n"), pipeline::ConfigError);
}

}  // namespace
}  // namespace hodos::exporters
