#include "exporters/prometheus_common.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

namespace hodos::exporters {

namespace {

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Splits on anything that is not a letter or digit and joins with single underscores, as the
// Collector's normalizer does: "traces.span.metrics.calls" -> "traces_span_metrics_calls".
std::string normalize_metric_name(std::string_view name) {
  std::string out;
  std::string token;
  auto flush = [&] {
    if (token.empty()) return;
    if (!out.empty()) out.push_back('_');
    out += token;
    token.clear();
  };
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      token.push_back(c);
    } else {
      flush();
    }
  }
  flush();
  if (!out.empty() && std::isdigit(static_cast<unsigned char>(out[0]))) out = "_" + out;
  return out;
}

std::string_view unit_suffix(std::string_view unit) {
  static const std::map<std::string_view, std::string_view> kUnits = {
      {"ms", "milliseconds"}, {"s", "seconds"},   {"us", "microseconds"},
      {"ns", "nanoseconds"},  {"By", "bytes"},    {"min", "minutes"},
      {"h", "hours"},         {"KiBy", "kibibytes"}, {"MiBy", "mebibytes"}};
  auto it = kUnits.find(unit);
  return it == kUnits.end() ? std::string_view() : it->second;
}

void add_suffix(std::string& name, std::string_view suffix) {
  if (suffix.empty()) return;
  if (name.size() >= suffix.size() + 1 && name.ends_with(suffix) &&
      name[name.size() - suffix.size() - 1] == '_') {
    return;
  }
  name += "_";
  name += suffix;
}

PrometheusLabels series_labels(const core::MetricAttributes& attributes,
                               const PrometheusNaming& naming) {
  std::map<std::string, std::string> labels;
  for (const auto& [name, value] : attributes) {
    // Two attributes that sanitize alike ("a.b", "a_b") are joined, as the translator does.
    auto [it, fresh] = labels.emplace(prometheus_label_name(name), value);
    if (!fresh) it->second += ";" + value;
  }
  // Remote-write receivers key series by job/instance; the translator takes job from the service.
  for (const auto& [name, value] : attributes) {
    if (name == "service.name") labels.emplace("job", value);
  }
  for (const auto& [name, value] : naming.extra_labels) {
    labels.emplace(prometheus_label_name(name), value);
  }
  return PrometheusLabels(labels.begin(), labels.end());
}

void escape_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

std::string format_value(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

}  // namespace

PrometheusNaming PrometheusNaming::read(pipeline::ConfigNode& config, std::string_view labels_key) {
  PrometheusNaming n;
  n.metric_namespace = config.get_string("namespace", "");
  n.add_metric_suffixes = config.get_bool("add_metric_suffixes", true);
  for (auto& [k, v] : config.get_string_map(labels_key)) {
    if (prometheus_label_name(k) != k) {
      config.fail(labels_key, fmt::format("'{}' is not a Prometheus label name; use letters, digits "
                                          "and underscores, e.g. {}", k, prometheus_label_name(k)));
    }
    n.extra_labels.emplace_back(k, v);
  }
  // The Collector's switch that turns resource attributes into labels: spanmetrics already puts
  // the service on every point, so it changes nothing here.
  config.child("resource_to_telemetry_conversion").get_bool("enabled", false);
  return n;
}

std::string prometheus_label_name(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (!is_name_char(c)) c = '_';
  }
  if (out.empty()) return "key_";
  if (std::isdigit(static_cast<unsigned char>(out[0]))) out = "key_" + out;
  return out;
}

std::string prometheus_family_name(const core::Metric& metric, const PrometheusNaming& naming) {
  std::string name = normalize_metric_name(metric.name);
  if (naming.add_metric_suffixes) {
    add_suffix(name, unit_suffix(metric.unit));
    if (metric.type == core::MetricType::kSum) add_suffix(name, "total");
  }
  if (!naming.metric_namespace.empty()) {
    name = normalize_metric_name(naming.metric_namespace) + "_" + name;
  }
  return name;
}

std::string prometheus_le(double bound) { return format_value(bound); }

std::vector<PrometheusFamily> to_prometheus(const core::MetricBatch& batch,
                                            const PrometheusNaming& naming) {
  std::vector<PrometheusFamily> out;
  for (const core::Metric& metric : batch.metrics) {
    PrometheusFamily family;
    family.name = prometheus_family_name(metric, naming);
    family.help = metric.description;
    family.type = metric.type == core::MetricType::kSum ? "counter" : "histogram";
    for (const core::MetricPoint& point : metric.points) {
      const int64_t ts = static_cast<int64_t>(point.time_unix_nano / 1'000'000);
      PrometheusLabels labels = series_labels(point.attributes, naming);
      if (metric.type == core::MetricType::kSum) {
        family.samples.push_back({family.name, std::move(labels), point.value, ts, true});
        continue;
      }
      // OTLP counts per bucket; Prometheus counts everything up to each bound.
      uint64_t cumulative = 0;
      for (size_t i = 0; i < point.bucket_counts.size(); ++i) {
        cumulative += point.bucket_counts[i];
        const double bound = i < metric.bounds.size() ? metric.bounds[i] : INFINITY;
        PrometheusLabels with_le = labels;
        with_le.emplace_back("le", prometheus_le(bound));
        std::sort(with_le.begin(), with_le.end());
        family.samples.push_back({family.name + "_bucket", std::move(with_le),
                                  static_cast<double>(cumulative), ts, i == 0});
      }
      family.samples.push_back({family.name + "_sum", labels, point.sum, ts, false});
      family.samples.push_back({family.name + "_count", std::move(labels),
                                static_cast<double>(point.count), ts, false});
    }
    out.push_back(std::move(family));
  }
  return out;
}

std::string render_prometheus_text(const std::vector<PrometheusFamily>& families) {
  std::string out;
  for (const PrometheusFamily& family : families) {
    if (family.samples.empty()) continue;
    if (!family.help.empty()) out += fmt::format("# HELP {} {}\n", family.name, family.help);
    out += fmt::format("# TYPE {} {}\n", family.name, family.type);
    for (const PrometheusSample& sample : family.samples) {
      out += sample.name;
      if (!sample.labels.empty()) {
        out.push_back('{');
        for (size_t i = 0; i < sample.labels.size(); ++i) {
          if (i) out.push_back(',');
          out += sample.labels[i].first;
          out += "=\"";
          escape_label_value(out, sample.labels[i].second);
          out.push_back('"');
        }
        out.push_back('}');
      }
      out.push_back(' ');
      out += format_value(sample.value);
      out.push_back('\n');
    }
  }
  return out;
}

}  // namespace hodos::exporters
