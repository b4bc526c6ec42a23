// The `redaction` processor: removes attributes whose keys are not allowed and masks values that
// look sensitive, configured as the OpenTelemetry Collector's redactionprocessor.
//
// Collector keys supported: allow_all_keys (false), allowed_keys, ignored_keys,
// ignored_key_patterns, blocked_key_patterns, blocked_values, allowed_values, redact_all_types,
// hash_function (none | md5 | sha1 | sha3 = SHA3-256), summary (debug | info | silent; default
// silent, as the Collector's empty default).
// Collector keys not supported: url_sanitizer, db_sanitizer (a config error that says so), and
// the HMAC hash functions with hmac_key (an unknown value / unknown key).
//
// As in the Collector, allow_all_keys defaults to false: every attribute whose key is not in
// allowed_keys or ignored_keys is REMOVED, on resources too (service.name included). To only
// mask values, set allow_all_keys: true.
//
// Hodos additions: builtin_patterns (credit_card, email, ipv4, ipv6, bearer_token, jwt), value
// masking inside arrays and maps (and blocked_key_patterns on the keys of nested maps), and
// redact_span_names. Applies to resource, scope, span and span-event attributes.
//
// Metrics, labelled processor="<id>": hodos_processor_redaction_masked_total{kind="key|value"}
// (attributes masked because of their key or their value; span names count as value) and
// hodos_processor_redaction_removed_total (attributes removed as not allowed).
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "pipeline/factory.h"

namespace hodos::processors {

std::unique_ptr<pipeline::ProcessorFactory> make_redaction_processor_factory();

// The Luhn (mod 10) check over the digits of `text`, skipping spaces and dashes; false for any
// other character. Exposed for tests.
bool luhn_valid(std::string_view text);

}  // namespace hodos::processors
