#!/usr/bin/env bash
# Installs every Debian and npm package that the build, the tests and the benchmarks need.
# Idempotent: it installs only what is missing and prints nothing when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build ccache mold pkg-config git
  clang-14 lld-14 libclang-rt-14-dev llvm-14
  bpftool libbpf-dev libelf-dev
  # Go binaries read by the agent (DWARF, return instructions) and HTTP/2 header decoding (HPACK).
  libdw-dev libcapstone-dev libnghttp2-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libboost-dev librocksdb-dev libzstd-dev zlib1g-dev libssl-dev libcurl4-openssl-dev
  nlohmann-json3-dev libsimdjson-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  librdkafka-dev
  nodejs npm curl python3 openjdk-17-jdk-headless
  # Certificates made at test time (the OTLP receiver's TLS and mTLS tests).
  openssl
  # The web UI's browser tests (playwright-core drives it; no browser download).
  chromium
  # Real, unmodified servers the agent's end-to-end tests and benchmarks trace.
  nginx-light python3-flask golang-go golang-google-grpc-dev
  # A GnuTLS server (gnutls-serv) for the TLS tests: plaintext from GnuTLS as well as OpenSSL.
  gnutls-bin
  # The OpenTelemetry Go SDK of the overhead benchmark's go suite (bench/overhead/go, built offline).
  golang-opentelemetry-otel-dev
  # Real database and cache servers the agent's database-call tests trace clients of.
  postgresql redis-server mariadb-server mariadb-client
  # JDBC drivers of the Java database-call test.
  libpostgresql-jdbc-java libmariadb-java
  # The spanmetrics tests write to and scrape a real Prometheus; snappy compresses remote writes.
  prometheus libsnappy-dev
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs may come from another repository whose package provides npm itself.
if [ ${#missing[@]} -gt 0 ] && command -v npm >/dev/null 2>&1; then
  tmp=(); for p in "${missing[@]}"; do [[ "$p" == npm || "$p" == nodejs ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: one lock file per folder, installed only when the lock changed.
for dir in tests/e2e/node bench/overhead/node ui; do
  [ -f "$dir/package-lock.json" ] || continue
  stamp="$dir/node_modules/.hodos-lock-stamp"
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "setup: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$dir/package-lock.json" "$stamp"
  fi
done
