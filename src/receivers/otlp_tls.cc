#include "receivers/otlp_tls.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <fstream>
#include <memory>
#include <sstream>

namespace hodos::receivers {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr memory_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Reads the file at `key` or fails naming it.
std::string read_pem_file(const pipeline::ConfigNode& tls, std::string_view key,
                          const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    tls.fail(key, fmt::format("cannot read '{}'; give the path of a readable PEM file", path));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// The first certificate of a PEM text; null when there is none.
X509Ptr first_certificate(const std::string& pem) {
  BioPtr bio = memory_bio(pem);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return cert;
}

}  // namespace

std::optional<ReceiverTls> read_receiver_tls(pipeline::ConfigNode& protocol) {
  bool present = false;
  pipeline::ConfigNode tls = protocol.child("tls", &present);
  if (!present) return std::nullopt;
  std::string cert_file = tls.get_string("cert_file", "");
  std::string key_file = tls.get_string("key_file", "");
  std::string client_ca_file = tls.get_string("client_ca_file", "");
  std::string min_version = tls.get_string("min_version", "1.2");
  tls.reject_unknown_keys();
  if (cert_file.empty()) {
    tls.fail("cert_file", "is required to serve TLS: the server certificate (PEM), with key_file");
  }
  if (key_file.empty()) {
    tls.fail("key_file", "is required to serve TLS: the private key (PEM) of cert_file");
  }
  ReceiverTls out;
  if (min_version == "1.3") {
    out.tls13_only = true;
  } else if (min_version != "1.2") {
    tls.fail("min_version", fmt::format("'{}' is not supported; use \"1.2\" or \"1.3\"",
                                        min_version));
  }

  out.cert_pem = read_pem_file(tls, "cert_file", cert_file);
  X509Ptr cert = first_certificate(out.cert_pem);
  if (!cert) {
    tls.fail("cert_file", fmt::format("'{}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                                      cert_file));
  }
  out.key_pem = read_pem_file(tls, "key_file", key_file);
  BioPtr key_bio = memory_bio(out.key_pem);
  PkeyPtr key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr)
                      : nullptr);
  ERR_clear_error();
  if (!key) {
    tls.fail("key_file", fmt::format("'{}' holds no unencrypted PEM private key", key_file));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    tls.fail("key_file", fmt::format("'{}' is not the private key of the certificate in '{}'; "
                                     "give the key the certificate was made for",
                                     key_file, cert_file));
  }
  if (!client_ca_file.empty()) {
    out.client_ca_pem = read_pem_file(tls, "client_ca_file", client_ca_file);
    if (!first_certificate(out.client_ca_pem)) {
      tls.fail("client_ca_file",
               fmt::format("'{}' holds no PEM certificate: give the CA that signs client "
                           "certificates",
                           client_ca_file));
    }
  }
  return out;
}

std::optional<std::string> read_bearer_token(pipeline::ConfigNode& protocol) {
  bool present = false;
  pipeline::ConfigNode auth = protocol.child("auth", &present);
  if (!present) return std::nullopt;
  if (auth.has("authenticator")) {
    auth.fail("authenticator", "Hodos has no auth extensions; write the token here instead: "
                               "auth: {bearer_token: ${env:HODOS_TOKEN}}");
  }
  std::string token = auth.get_string("bearer_token", "");
  auth.reject_unknown_keys();
  if (token.empty()) {
    auth.fail("bearer_token", "is empty; set it (e.g. bearer_token: ${env:HODOS_TOKEN}, and "
                              "check that the variable is set) or remove auth");
  }
  return token;
}

bool bearer_token_matches(std::string_view authorization, const std::string& token) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  }
  std::string_view given = authorization.substr(kScheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  while (!given.empty() && (given.back() == ' ' || given.back() == '\t')) given.remove_suffix(1);
  // The length is not secret (it is in the config); the bytes are compared in constant time.
  if (given.size() != token.size()) return false;
  return CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

}  // namespace hodos::receivers
