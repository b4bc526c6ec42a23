// The pipeline's own counters and gauges, rendered as Prometheus text at /metrics. Names follow
// the OpenTelemetry Collector's (otelcol_receiver_accepted_spans_total, ...).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace hodos::pipeline {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d) {
    double cur = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
  }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Metrics {
 public:
  // Returns the same object for the same name and labels; references stay valid for the
  // lifetime of the Metrics object. `help` is taken from the first registration of a name.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  // A gauge whose value is read when rendered (queue sizes, memory in use).
  void gauge_fn(const std::string& name, const std::string& help, const Labels& labels,
                std::function<double()> read);
  // Forgets callback gauges whose owners are gone (call before a component is destroyed).
  void remove_gauge_fns(const Labels& labels_subset);

  std::string render_prometheus() const;
  // For tests and status output: the value of one series, 0 if absent.
  double value(const std::string& name, const Labels& labels = {}) const;

 private:
  struct Family {
    std::string help;
    std::string type;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::function<double()>> gauge_fns;
  };
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace hodos::pipeline
