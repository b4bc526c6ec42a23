// The `store` exporter: writes spans into the embedded trace store on the caller's thread, so a
// receiver answers its client only once the spans are durable (a store failure is retryable).
//
//   exporters:
//     store:                       # in `hodos up`: the store of --data-dir, nothing to set
//     store/archive:               # anywhere: a store of its own
//       data_dir: /var/lib/hodos/archive
//       retention: 7d              # by age (Go duration, or days: 7d); 0 disables
//       retention_size: 10GiB      # by disk size (B, KB, MB, GB, KiB, MiB, GiB, TiB); 0 disables
//       indexed_tag_keys: [http.route]
//
// `hodos up` registers the factory made with its own store, replacing the plain one, so every
// `store` exporter without `data_dir` writes where the API reads. Under `hodos collector`
// `data_dir` is required. A store directory can be open in one exporter or process only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "pipeline/factory.h"

namespace hodos::store {
class TraceStore;
}

namespace hodos::exporters {

// `shared` may be null (hodos collector): then `data_dir` is required.
std::unique_ptr<pipeline::ExporterFactory> make_store_exporter_factory(
    std::shared_ptr<store::TraceStore> shared = nullptr);

// "7d", "36h", "90m", "1.5d", "2w"; "0" disables. Nanoseconds; nullopt when malformed.
std::optional<uint64_t> parse_retention_age(std::string_view text);
// "10GiB", "500MB", "1.5TiB", "123" (bytes); "0" disables. nullopt when malformed.
std::optional<uint64_t> parse_byte_size(std::string_view text);

}  // namespace hodos::exporters
