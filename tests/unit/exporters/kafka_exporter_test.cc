// The kafka exporter against librdkafka's built-in mock cluster (real Kafka protocol over local
// sockets), with the messages read back by a real librdkafka consumer.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <map>
#include <set>
#include <sstream>

#include "exporter_test_util.h"
#include "exporters/kafka_exporter.h"
#include "otlp/otlp_codec.h"
#include "pipeline/metrics.h"

namespace hodos::exporters {
namespace {

using hodos::testing::make_batch;
using hodos::testing::quiet_logger;
using hodos::testing::wait_for;

constexpr int kBrokers = 3;
constexpr int kPartitions = 4;

void no_log(const rd_kafka_t*, int, const char*, const char*) {}

rd_kafka_t* new_client(rd_kafka_type_t type, std::initializer_list<std::pair<const char*, std::string>> props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    EXPECT_EQ(rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err), RD_KAFKA_CONF_OK) << err;
  }
  rd_kafka_conf_set_log_cb(conf, no_log);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  EXPECT_NE(rk, nullptr) << err;
  return rk;
}

struct Message {
  int32_t partition = -1;
  std::string key, value;
};

class KafkaExporterTest : public ::testing::Test {
 protected:
  // One mock cluster for the suite (tearing one down takes a second); a topic per test.
  static void SetUpTestSuite() {
    // A client handle only to own the mock cluster (the brokers run on its threads).
    cluster_owner_ = new_client(RD_KAFKA_PRODUCER, {});
    cluster_ = rd_kafka_mock_cluster_new(cluster_owner_, kBrokers);
    ASSERT_NE(cluster_, nullptr);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  }
  static void TearDownTestSuite() {
    if (cluster_) rd_kafka_mock_cluster_destroy(cluster_);
    if (cluster_owner_) rd_kafka_destroy(cluster_owner_);
    cluster_ = nullptr;
    cluster_owner_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    topic_ = std::string("spans-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, topic_.c_str(), kPartitions, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    std::stringstream in(bootstraps_);
    for (std::string b; std::getline(in, b, ',');) brokers_yaml_ += (brokers_yaml_.empty() ? "" : ", ") + b;
    brokers_yaml_ = "brokers: [" + brokers_yaml_ + "]\ntopic: " + topic_ + "\n";
  }
  void TearDown() override {
    // The consumer joined no group (partitions are assigned), so there is nothing to leave.
    if (consumer_) rd_kafka_destroy_flags(consumer_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    set_brokers(true);
  }

  std::unique_ptr<pipeline::Exporter> make(const std::string& yaml,
                                           std::shared_ptr<spdlog::logger> logger = quiet_logger()) {
    pipeline::ConfigNode config(YAML::Load(yaml), "exporters.kafka");
    pipeline::CreateContext ctx{pipeline::ComponentId{"kafka", ""}, metrics_, std::move(logger)};
    return make_kafka_exporter_factory()->create(ctx, config);
  }
  double metric(const std::string& name) { return metrics_.value(name, {{"exporter", "kafka"}}); }
  static pipeline::Deadline soon() { return std::chrono::steady_clock::now() + std::chrono::seconds(5); }

  // Reads the topic from the beginning until `n` messages arrived (or 10s passed).
  std::vector<Message> consume(size_t n) {
    if (!consumer_) {
      consumer_ = new_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstraps_},
                                                 {"group.id", "kafka-exporter-test"},
                                                 {"enable.auto.commit", "false"},
                                                 // Answer fetches at once: the test waits for them.
                                                 {"fetch.wait.max.ms", "10"}});
      rd_kafka_poll_set_consumer(consumer_);
      rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(kPartitions);
      for (int p = 0; p < kPartitions; ++p) {
        rd_kafka_topic_partition_list_add(parts, topic_.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
      }
      EXPECT_EQ(rd_kafka_assign(consumer_, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
      rd_kafka_topic_partition_list_destroy(parts);
    }
    std::vector<Message> got;
    wait_for(
        [&] {
          rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 50);
          if (m) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
              Message msg;
              msg.partition = m->partition;
              if (m->key) msg.key.assign(static_cast<const char*>(m->key), m->key_len);
              msg.value.assign(static_cast<const char*>(m->payload), m->len);
              got.push_back(std::move(msg));
            }
            rd_kafka_message_destroy(m);
          }
          return got.size() >= n;
        },
        std::chrono::seconds(10));
    return got;
  }

  void set_brokers(bool up) {
    for (int id = 1; id <= kBrokers; ++id) {
      auto err = up ? rd_kafka_mock_broker_set_up(cluster_, id) : rd_kafka_mock_broker_set_down(cluster_, id);
      ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    }
  }

  static constexpr const char* kSync = "sending_queue: {enabled: false}\nretry_on_failure: {enabled: false}\n";

  pipeline::Metrics metrics_;
  static inline rd_kafka_t* cluster_owner_ = nullptr;
  static inline rd_kafka_mock_cluster_t* cluster_ = nullptr;
  static inline std::string bootstraps_;
  rd_kafka_t* consumer_ = nullptr;
  std::string topic_, brokers_yaml_;
};

TEST_F(KafkaExporterTest, ProtobufMessagePerTraceDecodesToTheSpansSent) {
  auto e = make(brokers_yaml_ + kSync);
  ASSERT_TRUE(e->start().is_ok());
  core::SpanBatch batch = make_batch("p", 3);  // three spans, each its own trace
  std::map<std::string, std::string> name_of_trace;
  for (const auto& s : batch.spans()) name_of_trace[s.trace_id.hex()] = std::string(s.name);
  // With the queue off, consume() returns only once every message was acknowledged.
  pipeline::Status st = e->consume(std::move(batch));
  ASSERT_TRUE(st.is_ok()) << st.message();
  e->shutdown(soon());

  auto got = consume(3);
  ASSERT_EQ(got.size(), 3u);
  std::map<std::string, std::string> received;
  for (const auto& m : got) {
    core::SpanBatch decoded;
    ASSERT_EQ(otlp::decode_proto(m.value, decoded), std::nullopt);
    ASSERT_EQ(decoded.size(), 1u);
    const core::Span& s = decoded.spans()[0];
    EXPECT_EQ(m.key, s.trace_id.hex());
    EXPECT_EQ(s.kind, core::SpanKind::kServer);
    EXPECT_EQ(s.end_time_unix_nano - s.start_time_unix_nano, 1000u);
    received[m.key] = std::string(s.name);
  }
  EXPECT_EQ(received, name_of_trace);
  EXPECT_EQ(metric("otelcol_exporter_sent_spans_total"), 3);
}

TEST_F(KafkaExporterTest, OneTraceOneMessageOnePartition) {
  auto e = make(brokers_yaml_ + kSync + "producer: {compression: gzip, required_acks: -1}\n");
  ASSERT_TRUE(e->start().is_ok());
  core::TraceId a = core::TraceId::random(), b = core::TraceId::random();
  // Two traces interleaved, sent twice: each trace must stay on one partition across batches.
  for (int round = 0; round < 2; ++round) {
    core::SpanBatch batch = make_batch("r" + std::to_string(round), 6);
    for (size_t i = 0; i < batch.size(); ++i) batch.spans()[i].trace_id = i % 2 ? b : a;
    pipeline::Status st = e->consume(std::move(batch));
    ASSERT_TRUE(st.is_ok()) << st.message();
  }
  e->shutdown(soon());

  auto got = consume(4);
  ASSERT_EQ(got.size(), 4u);  // two batches of two traces
  std::map<std::string, std::set<int32_t>> partitions;
  std::map<std::string, size_t> spans;
  for (const auto& m : got) {
    core::SpanBatch decoded;
    ASSERT_EQ(otlp::decode_proto(m.value, decoded), std::nullopt);
    EXPECT_EQ(decoded.size(), 3u);
    for (const auto& s : decoded.spans()) EXPECT_EQ(s.trace_id.hex(), m.key);
    partitions[m.key].insert(m.partition);
    spans[m.key] += decoded.size();
  }
  EXPECT_EQ(spans, (std::map<std::string, size_t>{{a.hex(), 6}, {b.hex(), 6}}));
  EXPECT_EQ(partitions[a.hex()].size(), 1u);
  EXPECT_EQ(partitions[b.hex()].size(), 1u);
}

TEST_F(KafkaExporterTest, JsonEncodingWithoutTraceKeysIsOneMessage) {
  auto e = make(brokers_yaml_ + kSync + "encoding: otlp_json\npartition_traces_by_id: false\n");
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("j", 3)).is_ok());
  e->shutdown(soon());

  auto got = consume(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "");
  core::SpanBatch decoded;
  ASSERT_EQ(otlp::decode_json(got[0].value, decoded), std::nullopt);
  std::vector<std::string> names;
  for (const auto& s : decoded.spans()) names.emplace_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"j-0", "j-1", "j-2"}));
}

TEST_F(KafkaExporterTest, BrokersDownIsRetryableAndTheHelperDeliversOnceUp) {
  set_brokers(false);
  {
    auto e = make(brokers_yaml_ + kSync + "timeout: 300ms\n");
    ASSERT_TRUE(e->start().is_ok());
    pipeline::Status st = e->consume(make_batch("down", 2));
    EXPECT_TRUE(st.is_retryable()) << st.message();
    e->shutdown(soon());
  }
  const double failed_by_the_first = metric("otelcol_exporter_send_failed_spans_total");

  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  auto logger = std::make_shared<spdlog::logger>("kafka-test", sink);
  auto e = make(brokers_yaml_ + "timeout: 300ms\n" +
                    "retry_on_failure: {initial_interval: 10ms, max_interval: 50ms, "
                    "max_elapsed_time: 20s}\n",
                logger);
  ASSERT_TRUE(e->start().is_ok());
  ASSERT_TRUE(e->consume(make_batch("later", 2)).is_ok());  // queued
  ASSERT_TRUE(wait_for([&] {
    for (const auto& line : sink->last_formatted()) {
      if (line.find("send failed, retrying") != std::string::npos) return true;
    }
    return false;
  }));
  EXPECT_EQ(metric("otelcol_exporter_sent_spans_total"), 0);
  set_brokers(true);
  ASSERT_TRUE(wait_for([&] { return metric("otelcol_exporter_sent_spans_total") == 2; }));
  e->shutdown(soon());
  EXPECT_EQ(metric("otelcol_exporter_send_failed_spans_total"), failed_by_the_first);

  // Only the helper's batch: the first exporter's timed-out messages were purged at shutdown
  // (they may also have been delivered; at-least-once allows it), so look for the names.
  auto got = consume(2);
  std::set<std::string> names;
  for (const auto& m : got) {
    core::SpanBatch decoded;
    ASSERT_EQ(otlp::decode_proto(m.value, decoded), std::nullopt);
    for (const auto& s : decoded.spans()) names.emplace(s.name);
  }
  EXPECT_TRUE(names.count("later-0") && names.count("later-1"));
}

TEST_F(KafkaExporterTest, MessageTooLargeIsPermanentAndSaysSo) {
  auto e = make(brokers_yaml_ + kSync + "partition_traces_by_id: false\nproducer: {max_message_bytes: 1000}\n");
  ASSERT_TRUE(e->start().is_ok());
  pipeline::Status st = e->consume(make_batch("big-span-name-to-exceed-the-limit", 40));
  EXPECT_TRUE(st.is_permanent()) << st.message();
  EXPECT_NE(st.message().find("max_message_bytes"), std::string::npos) << st.message();
  e->shutdown(soon());
}

TEST_F(KafkaExporterTest, ConfigErrorsNameTheKey) {
  auto fails_at = [&](const std::string& yaml) -> std::string {
    try {
      make(yaml);
    } catch (const pipeline::ConfigError& e) {
      return e.path();
    }
    return "(no error)";
  };
  EXPECT_EQ(fails_at("brokers: []\n"), "exporters.kafka.brokers");
  EXPECT_EQ(fails_at("brokers: ['']\n"), "exporters.kafka.brokers");
  EXPECT_EQ(fails_at("topic: 'no spaces'\n"), "exporters.kafka.topic");
  EXPECT_EQ(fails_at("encoding: proto\n"), "exporters.kafka.encoding");
  EXPECT_EQ(fails_at("producer: {compression: brotli}\n"), "exporters.kafka.producer.compression");
  EXPECT_EQ(fails_at("producer: {required_acks: 2}\n"), "exporters.kafka.producer.required_acks");
  EXPECT_EQ(fails_at("producer: {max_message_bytes: 10}\n"), "exporters.kafka.producer.max_message_bytes");
  EXPECT_EQ(fails_at("producer: {flush: 1}\n"), "exporters.kafka.producer.flush");
  EXPECT_EQ(fails_at("client_id: ''\n"), "exporters.kafka.client_id");
  EXPECT_EQ(fails_at("protocol: x\n"), "exporters.kafka.protocol");
  // Defaults: localhost:9092, topic otlp_spans; creating does not connect.
  EXPECT_NE(make(""), nullptr);
}

}  // namespace
}  // namespace hodos::exporters
