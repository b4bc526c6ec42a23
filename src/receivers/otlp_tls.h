// The `tls:` and `auth:` settings of the `otlp` receiver's protocols (grpc and http), for a
// gateway that other hosts reach:
//
//   tls:                          # the Collector's configtls.ServerConfig keys
//     cert_file: /etc/hodos/gateway.crt
//     key_file: /etc/hodos/gateway.key
//     client_ca_file: /etc/hodos/agents-ca.crt   # optional: require client certificates (mTLS)
//     min_version: "1.2"                         # "1.2" (default) or "1.3"
//   auth:
//     bearer_token: ${env:HODOS_TOKEN}           # requests must send Authorization: Bearer <it>
//
// The files are read and checked (PEM, key matches certificate) while the config loads, so a
// mistake is a config error naming the key, not a failure at the first connection.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pipeline/config_node.h"

namespace hodos::receivers {

struct ReceiverTls {
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;  // empty: no client certificate asked for
  bool tls13_only = false;
};

// Reads `tls` under a protocol node; nullopt when absent. Throws ConfigError on unreadable or
// mismatched files and unknown min_version values.
std::optional<ReceiverTls> read_receiver_tls(pipeline::ConfigNode& protocol);

// Reads `auth` under a protocol node; nullopt when absent, the token otherwise (never empty).
std::optional<std::string> read_bearer_token(pipeline::ConfigNode& protocol);

// True when `authorization` is "Bearer <token>" (scheme case-insensitive). Compares in constant
// time for a given token length, so the answer's timing does not reveal a matching prefix.
bool bearer_token_matches(std::string_view authorization, const std::string& token);

}  // namespace hodos::receivers
