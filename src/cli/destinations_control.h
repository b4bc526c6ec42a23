// The control API's destinations routes wired to hodos up's run-time destination set, and the
// JSON shapes they answer (shared with GET /api/v1/status).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "api/destinations_api.h"
#include "exporters/destinations.h"

namespace hodos::cli {

class UpDestinationsControl final : public api::DestinationsControl {
 public:
  explicit UpDestinationsControl(std::shared_ptr<exporters::Destinations> destinations)
      : destinations_(std::move(destinations)) {}

  api::ControlAnswer kinds() override;
  api::ControlAnswer list() override;
  api::ControlAnswer add(const nlohmann::json& body) override;
  api::ControlAnswer remove(const std::string& name) override;
  api::ControlAnswer test_saved(const std::string& name) override;
  api::ControlAnswer test_unsaved(const nlohmann::json& body) override;

 private:
  std::shared_ptr<exporters::Destinations> destinations_;
};

// One destination as the API shows it (secrets masked).
nlohmann::json destination_json(const exporters::DestinationState& state);
nlohmann::json destination_kinds_json();

}  // namespace hodos::cli
