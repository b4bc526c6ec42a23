#include "pipeline/metrics.h"

#include <algorithm>

#include <fmt/format.h>

namespace hodos::pipeline {

namespace {
std::string render_labels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '\\' || c == '"') out.push_back('\\');
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out.push_back(c);
    }
    out += "\"";
  }
  return out + "}";
}

std::string render_number(double v) {
  if (v == static_cast<double>(static_cast<int64_t>(v))) {
    return fmt::format("{}", static_cast<int64_t>(v));
  }
  return fmt::format("{}", v);
}
}  // namespace

Counter& Metrics::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  if (f.type.empty()) {
    f.type = "counter";
    f.help = help;
  }
  auto& slot = f.counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Metrics::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  if (f.type.empty()) {
    f.type = "gauge";
    f.help = help;
  }
  auto& slot = f.gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

void Metrics::gauge_fn(const std::string& name, const std::string& help, const Labels& labels,
                       std::function<double()> read) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  if (f.type.empty()) {
    f.type = "gauge";
    f.help = help;
  }
  f.gauge_fns[labels] = std::move(read);
}

void Metrics::remove_gauge_fns(const Labels& subset) {
  std::lock_guard lock(mu_);
  for (auto& [name, f] : families_) {
    std::erase_if(f.gauge_fns, [&](const auto& entry) {
      return std::all_of(subset.begin(), subset.end(), [&](const auto& l) {
        return std::find(entry.first.begin(), entry.first.end(), l) != entry.first.end();
      });
    });
  }
}

std::string Metrics::render_prometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
    for (const auto& [labels, c] : f.counters) {
      out += fmt::format("{}{} {}\n", name, render_labels(labels), c->value());
    }
    for (const auto& [labels, g] : f.gauges) {
      out += fmt::format("{}{} {}\n", name, render_labels(labels), render_number(g->value()));
    }
    for (const auto& [labels, fn] : f.gauge_fns) {
      out += fmt::format("{}{} {}\n", name, render_labels(labels), render_number(fn()));
    }
  }
  return out;
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  const Family& f = it->second;
  if (auto c = f.counters.find(labels); c != f.counters.end()) return static_cast<double>(c->second->value());
  if (auto g = f.gauges.find(labels); g != f.gauges.end()) return g->second->value();
  if (auto g = f.gauge_fns.find(labels); g != f.gauge_fns.end()) return g->second();
  return 0;
}

}  // namespace hodos::pipeline
