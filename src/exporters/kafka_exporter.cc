#include "exporters/kafka_exporter.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "otlp/otlp_codec.h"
#include "pipeline/exporter_helper.h"

namespace hodos::exporters {

namespace {

using pipeline::Status;
using std::chrono::milliseconds;

constexpr milliseconds kDefaultTimeout{5'000};  // the Collector's kafka exporter default

struct KafkaSettings {
  std::vector<std::string> brokers;
  std::string topic;
  bool json = false;
  bool partition_traces_by_id = true;
  int64_t max_message_bytes = 1'000'000;
  int64_t required_acks = 1;
  std::string compression = "none";
  std::string client_id;
  milliseconds timeout = kDefaultTimeout;
};

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// librdkafka properties from our settings. On a rejected value, `bad_key` names our config key.
ConfPtr make_conf(const KafkaSettings& s, std::string* error, std::string* bad_key) {
  std::string brokers;
  for (const auto& b : s.brokers) brokers += (brokers.empty() ? "" : ",") + b;
  // message.timeout.ms bounds how long librdkafka keeps retrying a message on its own: one
  // attempt of ours; after that the exporter helper's retry_on_failure takes over.
  const std::pair<const char*, std::string> props[] = {
      {"bootstrap.servers", brokers},
      {"client.id", s.client_id},
      {"message.max.bytes", std::to_string(s.max_message_bytes)},
      {"acks", std::to_string(s.required_acks)},
      {"compression.codec", s.compression},
      {"message.timeout.ms", std::to_string(s.timeout.count())},
  };
  const char* keys[] = {"brokers",          "client_id",        "producer.max_message_bytes",
                        "producer.required_acks", "producer.compression", "timeout"};
  ConfPtr conf(rd_kafka_conf_new());
  char errstr[512];
  for (size_t i = 0; i < std::size(props); ++i) {
    if (rd_kafka_conf_set(conf.get(), props[i].first, props[i].second.c_str(), errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK) {
      *error = errstr;
      *bad_key = keys[i];
      return nullptr;
    }
  }
  return conf;
}

bool legal_topic(const std::string& topic) {
  if (topic.empty() || topic.size() > 249 || topic == "." || topic == "..") return false;
  for (char c : topic) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

KafkaSettings read_settings(pipeline::ConfigNode& config) {
  KafkaSettings s;
  s.brokers = config.has("brokers") ? config.get_string_list("brokers")
                                    : std::vector<std::string>{"localhost:9092"};
  if (s.brokers.empty()) {
    config.fail("brokers", "must list at least one broker, e.g. [kafka-1:9092, kafka-2:9092]");
  }
  for (const auto& b : s.brokers) {
    if (b.empty() || b.find_first_of(", \t") != std::string::npos) {
      config.fail("brokers", fmt::format("'{}' is not a broker address; use host:port", b));
    }
  }
  s.topic = config.get_string("topic", "otlp_spans");
  if (!legal_topic(s.topic)) {
    config.fail("topic", fmt::format("'{}' is not a valid Kafka topic name (1-249 characters of "
                                     "a-z, A-Z, 0-9, '.', '_' and '-')",
                                     s.topic));
  }
  std::string encoding = config.get_string("encoding", "otlp_proto");
  if (encoding == "otlp_json") {
    s.json = true;
  } else if (encoding != "otlp_proto") {
    config.fail("encoding",
                fmt::format("'{}' is not supported; use otlp_proto or otlp_json", encoding));
  }
  s.partition_traces_by_id = config.get_bool("partition_traces_by_id", true);
  s.client_id = config.get_string("client_id", "hodos");
  if (s.client_id.empty()) config.fail("client_id", "must not be empty");
  s.timeout = config.get_duration("timeout", kDefaultTimeout);  // the helper validates it too

  pipeline::ConfigNode producer = config.child("producer");
  s.max_message_bytes =
      producer.get_int("max_message_bytes", s.max_message_bytes, 1000, 1'000'000'000);
  s.required_acks = producer.get_int("required_acks", s.required_acks, -1, 1);
  s.compression = producer.get_string("compression", s.compression);
  if (s.compression.empty()) s.compression = "none";
  if (s.compression != "none" && s.compression != "gzip" && s.compression != "snappy" &&
      s.compression != "lz4" && s.compression != "zstd") {
    producer.fail("compression", fmt::format("'{}' is not supported; use none, gzip, snappy, "
                                             "lz4 or zstd",
                                             s.compression));
  }
  producer.reject_unknown_keys();

  // Let librdkafka judge the values now, so `collector validate` catches what it would refuse
  // (a compression codec this build lacks, say) instead of start().
  std::string error, bad_key;
  if (!make_conf(s, &error, &bad_key)) config.fail(bad_key, "librdkafka refused it: " + error);
  return s;
}

// Broker answers that sending the same message again cannot fix; all else (brokers down, leader
// moves, timeouts, a full local queue) is retryable.
bool is_permanent(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__FATAL:
      return true;
    default:
      return false;
  }
}

// The delivery state of one send(): every message's report decrements `outstanding`. Shared
// with librdkafka (one reference per message) because a send that timed out returns while its
// messages may still be reported later.
struct Pending {
  std::mutex mu;
  std::condition_variable cv;
  size_t outstanding = 0;
  rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  bool any_permanent = false;

  void report(rd_kafka_resp_err_t err) {
    std::lock_guard lock(mu);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (first_error == RD_KAFKA_RESP_ERR_NO_ERROR) first_error = err;
      any_permanent = any_permanent || is_permanent(err);
    }
    if (--outstanding == 0) cv.notify_all();
  }
};

class KafkaSender : public pipeline::BatchSender {
 public:
  KafkaSender(KafkaSettings settings, std::shared_ptr<spdlog::logger> logger, std::string id)
      : s_(std::move(settings)), logger_(std::move(logger)), id_(std::move(id)) {}
  ~KafkaSender() override { shutdown(); }

  Status start() override {
    std::string error, bad_key;
    ConfPtr conf = make_conf(s_, &error, &bad_key);
    if (!conf) return Status::permanent(fmt::format("kafka {}: {}", bad_key, error));
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaSender::on_delivery);
    rd_kafka_conf_set_log_cb(conf.get(), &KafkaSender::on_log);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaSender::on_error);
    char errstr[512];
    // rd_kafka_new takes the conf only when it succeeds.
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
    if (!rk_) return Status::permanent(fmt::format("kafka producer: {}", errstr));
    (void)conf.release();
    rkt_ = rd_kafka_topic_new(rk_, s_.topic.c_str(), nullptr);
    if (!rkt_) {
      return Status::permanent(fmt::format("kafka topic '{}': {}", s_.topic,
                                           rd_kafka_err2str(rd_kafka_last_error())));
    }
    // Delivery reports are served by this thread, so send() only waits on its Pending.
    poller_ = std::thread([this] {
      while (!stopping_.load(std::memory_order_relaxed)) rd_kafka_poll(rk_, 100);
    });
    return Status::ok();
  }

  Status send(const core::SpanBatch& batch, pipeline::Deadline deadline) override {
    if (batch.empty()) return Status::ok();
    std::vector<std::pair<std::string, std::string>> messages;  // key, payload
    if (s_.partition_traces_by_id) {
      // The spans are copied as plain structs pointing into `batch`, which outlives encoding.
      std::unordered_map<core::TraceId, size_t> group_of;
      std::vector<core::SpanBatch> groups;
      std::vector<core::TraceId> ids;
      for (const core::Span& span : batch.spans()) {
        auto [it, fresh] = group_of.try_emplace(span.trace_id, groups.size());
        if (fresh) {
          groups.emplace_back();
          ids.push_back(span.trace_id);
        }
        groups[it->second].spans().push_back(span);
      }
      for (size_t i = 0; i < groups.size(); ++i) messages.emplace_back(ids[i].hex(), encode(groups[i]));
    } else {
      messages.emplace_back(std::string(), encode(batch));
    }
    for (const auto& [key, payload] : messages) {
      if (key.size() + payload.size() > static_cast<size_t>(s_.max_message_bytes)) {
        return Status::permanent(fmt::format(
            "kafka: a message of {} bytes exceeds producer.max_message_bytes ({}); send smaller "
            "batches (batch processor send_batch_max_size) or raise the limit (and the topic's "
            "max.message.bytes)",
            key.size() + payload.size(), s_.max_message_bytes));
      }
    }

    auto pending = std::make_shared<Pending>();
    pending->outstanding = messages.size();
    Status produce_error;
    for (auto& [key, payload] : messages) {
      auto* ref = new std::shared_ptr<Pending>(pending);
      if (rd_kafka_produce(rkt_, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, payload.data(),
                           payload.size(), key.empty() ? nullptr : key.data(), key.size(),
                           ref) != 0) {
        rd_kafka_resp_err_t err = rd_kafka_last_error();
        delete ref;
        pending->report(err);
        if (produce_error.is_ok()) produce_error = status_of(err, "producing");
      }
    }

    std::unique_lock lock(pending->mu);
    auto all_reported = [&] { return pending->outstanding == 0; };
    bool done = deadline == pipeline::Deadline::max()
                    ? (pending->cv.wait(lock, all_reported), true)
                    : pending->cv.wait_until(lock, deadline, all_reported);
    if (!done) {
      return Status::retryable(fmt::format("kafka: {} of {} messages to topic '{}' not acknowledged "
                                           "in time",
                                           pending->outstanding, messages.size(), s_.topic));
    }
    if (!produce_error.is_ok()) return produce_error;
    if (pending->first_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return status_of(pending->first_error, "delivering to topic '" + s_.topic + "'");
    }
    return Status::ok();
  }

  void shutdown() override {
    if (!rk_) return;
    stopping_.store(true);
    if (poller_.joinable()) poller_.join();
    // The helper has drained; messages still in librdkafka belong to sends that already gave
    // up. Purge them so their delivery reports run (freeing their Pending references).
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk_, 1000);
    if (rkt_) rd_kafka_topic_destroy(rkt_);
    rd_kafka_destroy(rk_);
    rkt_ = nullptr;
    rk_ = nullptr;
  }

 private:
  std::string encode(const core::SpanBatch& batch) const {
    return s_.json ? otlp::encode_json(batch) : otlp::encode_proto(batch);
  }

  Status status_of(rd_kafka_resp_err_t err, const std::string& doing) const {
    std::string message = fmt::format("kafka: {}: {} ({})", doing, rd_kafka_err2str(err),
                                      rd_kafka_err2name(err));
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
      message += fmt::format("; the brokers (or producer.max_message_bytes = {}) refuse a "
                             "message this large: send smaller batches",
                             s_.max_message_bytes);
    }
    return is_permanent(err) ? Status::permanent(message) : Status::retryable(message);
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
    auto* ref = static_cast<std::shared_ptr<Pending>*>(msg->_private);
    (*ref)->report(msg->err);
    delete ref;
  }

  static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
    auto* self = static_cast<KafkaSender*>(rd_kafka_opaque(rk));
    if (!self) return;
    // syslog levels: 0-3 errors, 4 warning, 5-6 notice/info, 7 debug.
    auto lvl = level <= 4 ? spdlog::level::warn
                          : level <= 6 ? spdlog::level::info : spdlog::level::debug;
    self->logger_->log(lvl, "exporter {}: librdkafka {}: {}", self->id_, facility, text);
  }

  // Broker connection errors; each message's outcome arrives with its delivery report.
  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSender*>(opaque);
    self->logger_->debug("exporter {}: kafka: {} ({})", self->id_, reason,
                         rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
  }

  KafkaSettings s_;
  std::shared_ptr<spdlog::logger> logger_;
  std::string id_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* rkt_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::thread poller_;
};

}  // namespace

std::unique_ptr<pipeline::ExporterFactory> make_kafka_exporter_factory() {
  pipeline::ExporterHelperSettings defaults;
  defaults.timeout = kDefaultTimeout;
  return pipeline::make_sender_exporter_factory(
      "kafka", defaults, [](const pipeline::CreateContext& ctx, pipeline::ConfigNode& config) {
        return std::make_unique<KafkaSender>(read_settings(config), ctx.logger, ctx.id.str());
      });
}

}  // namespace hodos::exporters
