#include "cli/destinations_control.h"

#include <fmt/format.h>

namespace hodos::cli {

namespace {

using nlohmann::json;

api::ControlAnswer fail(int status, const std::string& message) {
  return {status, json{{"message", message}}};
}

// {"name", "kind", "fields": {"k": "v"}}: the body of an add or a test. Throws
// DestinationError naming the bad part.
exporters::DestinationSpec parse_spec(const json& body) {
  exporters::DestinationSpec spec;
  for (const auto& [key, value] : body.items()) {
    if (key == "name" || key == "kind") {
      if (!value.is_string()) throw exporters::DestinationError(key, "must be a string");
      (key == "name" ? spec.name : spec.kind) = value.get<std::string>();
    } else if (key == "fields") {
      if (!value.is_object()) {
        throw exporters::DestinationError("fields", "must be an object of strings");
      }
      for (const auto& [field, v] : value.items()) {
        if (v.is_string()) {
          spec.fields[field] = v.get<std::string>();
        } else if (v.is_boolean() || v.is_number()) {
          spec.fields[field] = v.dump();
        } else if (!v.is_null()) {
          throw exporters::DestinationError("fields." + field, "must be a string");
        }
      }
    } else {
      throw exporters::DestinationError(key, "unknown field (the body has name, kind and fields)");
    }
  }
  return spec;
}

json test_json(const exporters::DestinationTestResult& r) {
  json j = {{"ok", r.ok},
            {"category", r.category},
            {"diagnosis", r.diagnosis},
            {"elapsed_ms", r.elapsed.count()}};
  if (!r.detail.empty()) j["detail"] = r.detail;
  return j;
}

}  // namespace

json destination_json(const exporters::DestinationState& s) {
  json j = {{"name", s.spec.name},     {"kind", s.spec.kind},
            {"exporter", s.exporter},  {"endpoint", s.endpoint},
            {"fields", s.spec.fields}, {"health", std::string(exporters::health_name(s.health))},
            {"sent", s.sent},          {"failed", s.failed},
            {"dropped", s.dropped},    {"queued", s.queued}};
  j["last_error"] = s.last_error.empty() ? json(nullptr) : json(s.last_error);
  return j;
}

json destination_kinds_json() {
  json kinds = json::array();
  for (const exporters::DestinationKind& k : exporters::destination_kinds()) {
    json fields = json::array();
    for (const exporters::DestinationField& f : k.fields) {
      fields.push_back({{"name", f.name},
                        {"help", f.help},
                        {"required", f.required},
                        {"secret", f.secret},
                        {"default", f.default_value}});
    }
    kinds.push_back({{"name", k.name},
                     {"title", k.title},
                     {"exporter", k.exporter},
                     {"endpoint", k.endpoint_template},
                     {"auth", k.auth},
                     {"fields", std::move(fields)}});
  }
  return kinds;
}

api::ControlAnswer UpDestinationsControl::kinds() {
  return {200, json{{"kinds", destination_kinds_json()}}};
}

api::ControlAnswer UpDestinationsControl::list() {
  json list = json::array();
  for (const auto& s : destinations_->list()) list.push_back(destination_json(s));
  return {200, json{{"destinations", std::move(list)}}};
}

api::ControlAnswer UpDestinationsControl::add(const json& body) {
  try {
    exporters::DestinationState s = destinations_->add(parse_spec(body));
    return {201, destination_json(s)};
  } catch (const exporters::DestinationError& e) {
    return fail(e.field() == "name" && std::string(e.what()).find("exists") != std::string::npos
                    ? 409
                    : 400,
                e.what());
  } catch (const std::exception& e) {
    return fail(500, fmt::format("cannot save the destination: {}", e.what()));
  }
}

api::ControlAnswer UpDestinationsControl::remove(const std::string& name) {
  try {
    if (!destinations_->remove(name)) {
      return fail(404, fmt::format("no destination named '{}'", name));
    }
  } catch (const std::exception& e) {
    return fail(500, fmt::format("cannot save the change: {}", e.what()));
  }
  return {200, json{{"removed", name}}};
}

api::ControlAnswer UpDestinationsControl::test_saved(const std::string& name) {
  std::optional<exporters::DestinationSpec> spec = destinations_->find(name);
  if (!spec) return fail(404, fmt::format("no destination named '{}'", name));
  try {
    return {200, test_json(destinations_->test(*spec))};
  } catch (const exporters::DestinationError& e) {
    return {200, test_json({false, "config", e.what(), "", {}})};
  }
}

api::ControlAnswer UpDestinationsControl::test_unsaved(const json& body) {
  try {
    exporters::DestinationSpec spec = parse_spec(body);
    if (spec.name.empty()) spec.name = "unsaved";
    return {200, test_json(destinations_->test(spec))};
  } catch (const exporters::DestinationError& e) {
    return fail(400, e.what());
  }
}

}  // namespace hodos::cli
