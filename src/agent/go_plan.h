// What the agent's Go probes need of one Go executable, decided from what the binary offers
// (go_binary.h): which functions get uprobes (entries, or every return instruction) for which
// kernel program, and what the kernel is told about the process (struct hodos_go_process: where
// goid sits in runtime.g, where grpc-go's, net/http's HTTP/2 and crypto/tls's fields are). Pure:
// no kernel, so that a plan can be tested on real binaries; GoProbe (go_probe.h) attaches it.
//
// What is followed, and from where:
//  - always (or nothing at all): goroutine identity and context, from runtime.newproc1 and
//    runtime.g's goid and stack (DWARF, else the table by Go version); net/http's HTTP/1.x client;
//  - crypto/tls Read and Write: DWARF, else the table (its fields have not moved in Go 1.x);
//  - grpc-go (server and client) and net/http's HTTP/2 server: DWARF only (their structs change
//    between releases, and a stripped binary does not say which one it holds).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/go_binary.h"
#include "bpf/sockets.h"

namespace hodos::agent {

// The kernel programs of bpf/goroutines.bpf.h, go_http2.bpf.h and go_tls.bpf.h.
enum class GoProgram {
  kNewproc1,             // runtime.newproc1, entry
  kNewproc1Return,       // ... returns
  kRoundTrip,            // net/http.(*persistConn).roundTrip, entry
  kRequestWrite,         // net/http.(*Request).write, entry
  kGrpcServerHeaders,    // grpc-go (*http2Server).operateHeaders, entry
  kHttp2ServerHeaders,   // net/http (*http2serverConn).processHeaders, entry
  kH2ContextDone,        // returns of those, and of the functions running a call's handler
  kGrpcNewStreamReturn,  // grpc-go (*http2Client).NewStream, returns
  kGrpcStreamMade,       // grpc-go (*http2Client).newStream, returns
  kGrpcOriginateStream,  // grpc-go (*loopyWriter).originateStream, entry
  kTlsRead,              // crypto/tls.(*Conn).Read, entry
  kTlsWrite,             // crypto/tls.(*Conn).Write, entry
  kTlsReturn,            // returns of both
};

struct GoProbeSite {
  GoProgram program;
  std::string function;  // a key of GoProbePlan::binary->functions
  bool at_returns;       // every return instruction, else the entry
};

struct GoProbePlan {
  std::optional<GoBinary> binary;
  std::string error;      // set when nothing can be attached (why, for a user)
  std::string target;     // "go1.19.8, DWARF, grpc-go followed"
  std::string caveat;     // what is not followed although the binary has it, "; "-joined
  std::string tls_state;  // "plaintext from Go crypto/tls (go1.19.8)", "not seen: ...", or ""
  hodos_go_process go{};  // what the kernel is told (bpf/sockets.h)
  std::vector<GoProbeSite> sites;
};

// The functions and fields analyze_go_binary() is asked for.
const std::vector<std::string>& go_probe_functions();
const std::vector<std::string>& go_probe_fields();

// The plan for `binary` (analyze_go_binary's result for go_probe_functions/fields), on an agent
// built for `host_arch` ("amd64", "arm64").
GoProbePlan plan_go_probes(GoBinary binary, const std::string& host_arch);

}  // namespace hodos::agent
