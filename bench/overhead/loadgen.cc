// Load generator of the overhead benchmark (bench/overhead/run.mjs): HTTP/1.1 GETs over keep-alive
// connections, one thread with a blocking socket per connection, responses framed by Hodos's own
// HTTP/1.x parser.
//   --mode throughput  closed loop: each connection sends its next request as soon as the previous
//                      answer is in; reports the requests completed per second of the window.
//   --mode rate        open loop at --rate req/s: request k is *scheduled* at start + k/rate (on
//                      connection k mod C) and its latency counts from that time, not from when the
//                      connection was free to send it. A stall that holds later requests back shows
//                      in their latency instead of being hidden (no coordinated omission).
//   --requests N       closed loop until exactly N requests were sent (no warm-up): the long
//                      integrity run of the injection chain.
//   --verify           POST <prefix><k> with a body (0 B to 64 KiB, content from k), and check
//                      each answer: "<k> <length> <crc32> <traceparent or ->" as the chain's
//                      backend computes it. An answer for another request, another length or
//                      checksum, or a malformed traceparent counts as corrupted; one not in
//                      within --timeout seconds as stalled; refused, reset or non-200 as an error.
// The first --warmup seconds are not measured. At both ends of the measured window it samples the
// CPU time of the --watch-pid processes (per thread for --watch-threads) and the run time of the
// BPF programs --bpf-prog-id, so every cost divides by exactly the requests of that window.
// Prints one JSON object.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "protocols/http1/parse.h"

namespace {

namespace http1 = hodos::protocols::http1;

enum class Mode { kThroughput, kRate };

struct Options {
  Mode mode = Mode::kThroughput;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string path_prefix = "/api/items/";
  unsigned connections = 16;
  double seconds = 10;
  double warmup = 2;
  double rate = 1000;
  std::vector<int> watch_pids;
  std::vector<int> watch_threads;
  std::vector<uint32_t> bpf_prog_ids;
  bool verify = false;
  uint64_t requests = 0;  // > 0: closed loop over exactly this many requests
  double timeout_s = 10;
};

// ---- request bodies and the answers they must get (--verify) ---------------------------------

uint32_t crc32(std::string_view data) {
  static const std::vector<uint32_t> table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int b = 0; b < 8; ++b) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) c = table[(c ^ static_cast<uint8_t>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

struct Payload {
  std::string body;
  uint32_t crc = 0;
};

// Request k sends payload k % 1024. Mostly up to 2 KiB (bodies in the same write as the head or
// right after it), every 16th 8-64 KiB (many segments); bytes from an xorshift seeded by the index,
// so a shifted or changed byte changes the checksum.
std::vector<Payload> make_payloads() {
  std::vector<Payload> payloads(1024);
  for (uint64_t i = 0; i < payloads.size(); ++i) {
    size_t size = i % 16 == 15 ? 8192 + (i * 7919) % 57345 : (i * 2654435761u) % 2049;
    uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
    std::string& body = payloads[i].body;
    body.resize(size);
    for (char& c : body) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = static_cast<char>(x);
    }
    payloads[i].crc = crc32(body);
  }
  return payloads;
}

const std::vector<Payload>& payloads() {
  static const std::vector<Payload> p = make_payloads();
  return p;
}

bool is_lower_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// 00-<32 hex>-<16 hex>-<2 hex>, ids not all zero.
bool valid_traceparent(std::string_view tp) {
  if (tp.size() != 55 || tp.substr(0, 3) != "00-" || tp[35] != '-' || tp[52] != '-') return false;
  std::string_view trace = tp.substr(3, 32), span = tp.substr(36, 16), flags = tp.substr(53, 2);
  return is_lower_hex(trace) && is_lower_hex(span) && is_lower_hex(flags) &&
         trace.find_first_not_of('0') != std::string_view::npos &&
         span.find_first_not_of('0') != std::string_view::npos;
}

enum class Check { kGood, kCorrupted, kTraced };

Check check_answer(uint64_t k, std::string_view answer) {
  const Payload& p = payloads()[k % payloads().size()];
  std::string expected = fmt::format("{} {} {:08x} ", k, p.body.size(), p.crc);
  if (answer.substr(0, expected.size()) != expected || answer.empty() || answer.back() != '\n') {
    return Check::kCorrupted;
  }
  std::string_view tp = answer.substr(expected.size(), answer.size() - expected.size() - 1);
  if (tp == "-") return Check::kGood;
  return valid_traceparent(tp) ? Check::kTraced : Check::kCorrupted;
}

int64_t now_ns() {
  timespec t = {};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

void sleep_until_ns(int64_t deadline) {
  timespec t = {};
  t.tv_sec = deadline / 1'000'000'000;
  t.tv_nsec = deadline % 1'000'000'000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, nullptr) == EINTR) {
  }
}

// One keep-alive connection. exchange() sends a request and reads exactly its response.
class Connection {
 public:
  explicit Connection(const sockaddr_in& addr) : addr_(addr) {}
  ~Connection() { close_socket(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  enum class Outcome { kOk, kError, kStalled };

  // kError on any failure (refused, reset, unparsable or non-200 answer), kStalled when no answer
  // came within the timeout; the next call reconnects. On kOk, *body is the answer's body.
  Outcome exchange(const std::string& request, std::string_view method, std::string* body) {
    if (fd_ < 0 && !open()) return Outcome::kError;
    if (!send_all(request)) return fail();
    while (true) {
      std::string_view view(buffer_);
      http1::Response response;
      switch (http1::parse_response(&view, method, &response)) {
        case http1::ParseState::kSuccess: {
          const size_t used = buffer_.size() - view.size();
          if (response.status != 200) return fail();
          if (body) body->assign(buffer_, used - response.body.seen, response.body.seen);
          buffer_.erase(0, used);
          return Outcome::kOk;
        }
        case http1::ParseState::kInvalid:
          return fail();
        case http1::ParseState::kNeedsMoreData:
          break;
      }
      char chunk[16384];
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        const bool timed_out = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        fail();
        return timed_out ? Outcome::kStalled : Outcome::kError;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  void set_timeout(double seconds) { timeout_s_ = seconds; }

 private:
  bool open() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // A server that stops answering fails the request instead of hanging the run.
    timeval timeout = {static_cast<time_t>(timeout_s_),
                       static_cast<suseconds_t>((timeout_s_ - std::floor(timeout_s_)) * 1e6)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&addr_), sizeof(addr_)) != 0) {
      close_socket();
      // Do not spin on a server that is down.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return false;
    }
    return true;
  }

  bool send_all(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  Outcome fail() {
    close_socket();
    return Outcome::kError;
  }

  void close_socket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }

  sockaddr_in addr_;
  double timeout_s_ = 10;
  int fd_ = -1;
  std::string buffer_;
};

// What one connection's thread measured.
struct ThreadResult {
  std::vector<int64_t> latencies_ns;  // measured requests that succeeded
  std::vector<int64_t> send_lags_ns;  // rate mode: actual send time - scheduled time
  uint64_t completed = 0;             // succeeded inside the measured window
  uint64_t errors = 0;                // failed inside the measured window
  uint64_t total = 0;                 // succeeded at any time, warm-up included
  // --verify, at any time (warm-up included): every request counts for integrity.
  uint64_t corrupted = 0;  // answered 200 with the wrong content
  uint64_t stalled = 0;    // no answer within --timeout
  uint64_t failed = 0;     // error of any other kind
  uint64_t traced = 0;     // the backend saw a valid traceparent
};

struct Window {
  int64_t start = 0;  // load starts
  int64_t warm = 0;   // measured window starts
  int64_t end = 0;    // measured window ends (no request is scheduled or counted after it)
};

std::string request_for(const Options& o, uint64_t k) {
  if (o.verify) {
    const std::string& body = payloads()[k % payloads().size()].body;
    return fmt::format(
        "POST {}{} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: hodos-loadgen\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n{}",
        o.path_prefix, k, o.host, o.port, body.size(), body);
  }
  return fmt::format("GET {}{} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: hodos-loadgen\r\n\r\n",
                     o.path_prefix, k % 1000, o.host, o.port);
}

// Sends request k and sorts its outcome; true when it succeeded (and, with --verify, was right).
bool send_one(const Options& o, Connection* conn, uint64_t k, ThreadResult* r) {
  std::string body;
  const std::string_view method = o.verify ? "POST" : "GET";
  switch (conn->exchange(request_for(o, k), method, o.verify ? &body : nullptr)) {
    case Connection::Outcome::kOk:
      break;
    case Connection::Outcome::kStalled:
      ++r->stalled;
      return false;
    case Connection::Outcome::kError:
      ++r->failed;
      return false;
  }
  if (!o.verify) return true;
  switch (check_answer(k, body)) {
    case Check::kGood:
      return true;
    case Check::kTraced:
      ++r->traced;
      return true;
    case Check::kCorrupted:
      ++r->corrupted;
      if (r->corrupted <= 3) {
        std::fprintf(stderr, "loadgen: request %llu: unexpected answer '%s'\n",
                     static_cast<unsigned long long>(k), body.substr(0, 200).c_str());
      }
      return false;
  }
  return false;
}

void closed_loop(const Options& o, const sockaddr_in& addr, const Window& w, unsigned index,
                 ThreadResult* r) {
  Connection conn(addr);
  conn.set_timeout(o.timeout_s);
  sleep_until_ns(w.start);
  for (uint64_t k = index;; k += o.connections) {
    const int64_t sent = now_ns();
    if (sent >= w.end) break;
    const bool ok = send_one(o, &conn, k, r);
    const int64_t done = now_ns();
    r->total += ok;
    if (done < w.warm || done > w.end) continue;
    if (!ok) {
      ++r->errors;
      continue;
    }
    ++r->completed;
    if (sent >= w.warm) r->latencies_ns.push_back(done - sent);
  }
}

void open_loop(const Options& o, const sockaddr_in& addr, const Window& w, unsigned index,
               ThreadResult* r) {
  Connection conn(addr);
  conn.set_timeout(o.timeout_s);
  const double interval_ns = 1e9 / o.rate;
  for (uint64_t k = index;; k += o.connections) {
    const int64_t scheduled = w.start + static_cast<int64_t>(std::llround(k * interval_ns));
    if (scheduled >= w.end) break;
    if (now_ns() < scheduled) sleep_until_ns(scheduled);
    const int64_t sent = now_ns();
    const bool ok = send_one(o, &conn, k, r);
    const int64_t done = now_ns();
    r->total += ok;
    if (scheduled < w.warm) continue;
    if (!ok) {
      ++r->errors;
      continue;
    }
    ++r->completed;
    r->latencies_ns.push_back(done - scheduled);
    r->send_lags_ns.push_back(sent - scheduled);
  }
}

// --requests: the connections share one counter and stop once it reaches N; every request is
// measured.
void counted_loop(const Options& o, const sockaddr_in& addr, std::atomic<uint64_t>* next,
                  ThreadResult* r) {
  Connection conn(addr);
  conn.set_timeout(o.timeout_s);
  r->latencies_ns.reserve(o.requests / o.connections + 1);
  for (;;) {
    const uint64_t k = next->fetch_add(1);
    if (k >= o.requests) break;
    const int64_t sent = now_ns();
    const bool ok = send_one(o, &conn, k, r);
    const int64_t done = now_ns();
    r->total += ok;
    if (!ok) {
      ++r->errors;
      continue;
    }
    ++r->completed;
    r->latencies_ns.push_back(done - sent);
  }
}

// ---- costs sampled at the window's ends ------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// utime + stime of /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat, in ns (clock-tick resolution;
// includes threads that have exited).
int64_t stat_cpu_ns(const std::string& stat_path) {
  std::string text = read_file(stat_path);
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  // Fields after the command: state is field 3, utime 14, stime 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return (utime + stime) * (1'000'000'000 / sysconf(_SC_CLK_TCK));
}

std::vector<int> task_ids(int pid) {
  std::vector<int> tids;
  if (DIR* dir = opendir(fmt::format("/proc/{}/task", pid).c_str())) {
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') tids.push_back(std::atoi(e->d_name));
    }
    closedir(dir);
  }
  return tids;
}

// Time on CPU of one thread in ns, from the scheduler (/proc/.../schedstat): exact, not ticks.
int64_t thread_cpu_ns(int pid, int tid) {
  std::istringstream in(read_file(fmt::format("/proc/{}/task/{}/schedstat", pid, tid)));
  int64_t ns = 0;
  in >> ns;
  return ns;
}

std::string thread_name(int pid, int tid) {
  std::string name = read_file(fmt::format("/proc/{}/task/{}/comm", pid, tid));
  while (!name.empty() && (name.back() == '\n')) name.pop_back();
  return name;
}

struct BpfRun {
  std::string name;
  uint64_t run_time_ns = 0;
  uint64_t run_cnt = 0;
};

struct Sample {
  std::map<int, int64_t> process_ns;       // pid -> schedstat sum over live threads
  std::map<int, int64_t> process_stat_ns;  // pid -> utime + stime
  std::map<int, std::map<int, int64_t>> thread_ns;
  std::map<uint32_t, BpfRun> bpf;
  int64_t self_ns = 0;
};

Sample sample(const Options& o) {
  Sample s;
  for (int pid : o.watch_pids) {
    int64_t sum = 0;
    for (int tid : task_ids(pid)) sum += thread_cpu_ns(pid, tid);
    s.process_ns[pid] = sum;
    s.process_stat_ns[pid] = stat_cpu_ns(fmt::format("/proc/{}/stat", pid));
  }
  for (int pid : o.watch_threads) {
    s.thread_ns[pid];  // present even when the process is gone
    for (int tid : task_ids(pid)) s.thread_ns[pid][tid] = thread_cpu_ns(pid, tid);
  }
  for (uint32_t id : o.bpf_prog_ids) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info = {};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      s.bpf[id] = {info.name, info.run_time_ns, info.run_cnt};
    }
    close(fd);
  }
  rusage self = {};
  getrusage(RUSAGE_SELF, &self);
  s.self_ns = (int64_t{self.ru_utime.tv_sec} + self.ru_stime.tv_sec) * 1'000'000'000 +
              (int64_t{self.ru_utime.tv_usec} + self.ru_stime.tv_usec) * 1000;
  return s;
}

// ---- report ------------------------------------------------------------------------------------

double percentile_us(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1]) / 1e3;
}

std::string distribution_json(std::vector<int64_t> samples) {
  std::sort(samples.begin(), samples.end());
  return fmt::format(
      R"({{"p50":{:.1f},"p90":{:.1f},"p99":{:.1f},"p999":{:.1f},"max":{:.1f},"count":{}}})",
      percentile_us(samples, 0.5), percentile_us(samples, 0.9), percentile_us(samples, 0.99),
      percentile_us(samples, 0.999), percentile_us(samples, 1.0), samples.size());
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

std::string report(const Options& o, const std::vector<ThreadResult>& results, const Sample& a,
                   const Sample& b, double window_s) {
  std::vector<int64_t> latencies, lags;
  uint64_t completed = 0, errors = 0, total = 0;
  uint64_t corrupted = 0, stalled = 0, failed = 0, traced = 0;
  for (const ThreadResult& r : results) {
    total += r.total;
    corrupted += r.corrupted;
    stalled += r.stalled;
    failed += r.failed;
    traced += r.traced;
    latencies.insert(latencies.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    lags.insert(lags.end(), r.send_lags_ns.begin(), r.send_lags_ns.end());
    completed += r.completed;
    errors += r.errors;
  }
  std::string out = fmt::format(
      R"({{"mode":"{}","connections":{},"window_s":{:.3f},"rate":{},"requests":{},"errors":{},)"
      R"("total_requests":{},"rps":{:.1f},"latency_us":{},)",
      o.mode == Mode::kRate ? "rate" : "throughput", o.connections, window_s,
      o.mode == Mode::kRate ? o.rate : 0, completed, errors, total,
      static_cast<double>(completed) / window_s, distribution_json(std::move(latencies)));
  if (o.mode == Mode::kRate) out += fmt::format(R"("send_lag_us":{},)", distribution_json(lags));
  out += fmt::format(R"("integrity":{{"verified":{},"corrupted":{},"stalled":{},"failed":{},)"
                     R"("traceparent_seen":{}}},)",
                     o.verify, corrupted, stalled, failed, traced);
  out += fmt::format(R"("loadgen_cpu_ns":{},"pids":{{)", b.self_ns - a.self_ns);
  const char* sep = "";
  for (int pid : o.watch_pids) {
    out += fmt::format(R"({}"{}":{{"cpu_ns":{},"stat_cpu_ns":{}}})", sep, pid,
                       b.process_ns.at(pid) - a.process_ns.at(pid),
                       b.process_stat_ns.at(pid) - a.process_stat_ns.at(pid));
    sep = ",";
  }
  out += R"(},"threads":{)";
  sep = "";
  for (int pid : o.watch_threads) {
    out += fmt::format(R"({}"{}":[)", sep, pid);
    sep = ",";
    const char* tsep = "";
    auto before = a.thread_ns.find(pid);
    for (auto [tid, ns] : b.thread_ns.at(pid)) {
      int64_t start = 0;  // a thread started inside the window ran only inside it
      if (before != a.thread_ns.end()) {
        if (auto it = before->second.find(tid); it != before->second.end()) start = it->second;
      }
      out += fmt::format(R"({}{{"tid":{},"name":{},"cpu_ns":{}}})", tsep, tid,
                         json_string(thread_name(pid, tid)), ns - start);
      tsep = ",";
    }
    out += "]";
  }
  out += R"(},"bpf":{)";
  sep = "";
  for (auto& [id, run] : b.bpf) {
    auto before = a.bpf.find(id);
    if (before == a.bpf.end()) continue;
    out += fmt::format(R"({}"{}":{{"name":{},"run_time_ns":{},"run_cnt":{}}})", sep, id,
                       json_string(run.name), run.run_time_ns - before->second.run_time_ns,
                       run.run_cnt - before->second.run_cnt);
    sep = ",";
  }
  return out + "}}";
}

int usage() {
  std::fputs(
      "usage: loadgen --port PORT [--host 127.0.0.1] [--path-prefix /api/items/]\n"
      "               [--mode throughput|rate] [--connections 16] [--seconds 10] [--warmup 2]\n"
      "               [--rate 1000] [--watch-pid PID]... [--watch-threads PID]...\n"
      "               [--bpf-prog-id ID]... [--verify] [--requests N] [--timeout 10]\n",
      stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--mode") {
        std::string m = value();
        if (m != "throughput" && m != "rate") return usage();
        o.mode = m == "rate" ? Mode::kRate : Mode::kThroughput;
      } else if (a == "--host") {
        o.host = value();
      } else if (a == "--port") {
        o.port = static_cast<uint16_t>(std::stoul(value()));
      } else if (a == "--path-prefix") {
        o.path_prefix = value();
      } else if (a == "--connections") {
        o.connections = static_cast<unsigned>(std::stoul(value()));
      } else if (a == "--seconds") {
        o.seconds = std::stod(value());
      } else if (a == "--warmup") {
        o.warmup = std::stod(value());
      } else if (a == "--rate") {
        o.rate = std::stod(value());
      } else if (a == "--watch-pid") {
        o.watch_pids.push_back(std::stoi(value()));
      } else if (a == "--watch-threads") {
        o.watch_threads.push_back(std::stoi(value()));
      } else if (a == "--verify") {
        o.verify = true;
      } else if (a == "--requests") {
        o.requests = std::stoull(value());
      } else if (a == "--timeout") {
        o.timeout_s = std::stod(value());
      } else if (a == "--bpf-prog-id") {
        o.bpf_prog_ids.push_back(static_cast<uint32_t>(std::stoul(value())));
      } else {
        return usage();
      }
    } catch (const std::exception&) {
      return usage();
    }
  }
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(o.port);
  if (o.port == 0 || o.connections == 0 || o.seconds <= 0 || o.warmup < 0 || o.rate <= 0 ||
      o.timeout_s <= 0 || inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) {
    return usage();
  }
  if (o.verify) payloads();  // built before the clock starts
  if (o.requests > 0) {
    // Counted run: one window from the first request to the last answer.
    std::vector<ThreadResult> results(o.connections);
    std::atomic<uint64_t> next{0};
    const int64_t t0 = now_ns();
    Sample before = sample(o);
    std::vector<std::thread> threads;
    for (unsigned c = 0; c < o.connections; ++c) {
      threads.emplace_back([&, c] { counted_loop(o, addr, &next, &results[c]); });
    }
    for (std::thread& t : threads) t.join();
    Sample after = sample(o);
    const int64_t t1 = now_ns();
    std::puts(report(o, results, before, after, static_cast<double>(t1 - t0) / 1e9).c_str());
    return 0;
  }
  // Wake-ups at the scheduled send times, not up to 50 µs later.
  prctl(PR_SET_TIMERSLACK, 1UL);

  Window w;
  w.start = now_ns() + 100'000'000;  // every thread is connected and waiting by then
  w.warm = w.start + static_cast<int64_t>(o.warmup * 1e9);
  w.end = w.warm + static_cast<int64_t>(o.seconds * 1e9);
  std::vector<ThreadResult> results(o.connections);
  std::vector<std::thread> threads;
  for (unsigned c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      if (o.mode == Mode::kRate) {
        open_loop(o, addr, w, c, &results[c]);
      } else {
        closed_loop(o, addr, w, c, &results[c]);
      }
    });
  }
  sleep_until_ns(w.warm);
  const int64_t t0 = now_ns();
  Sample before = sample(o);
  sleep_until_ns(w.end);
  Sample after = sample(o);
  const int64_t t1 = now_ns();
  for (std::thread& t : threads) t.join();
  std::puts(report(o, results, before, after, static_cast<double>(t1 - t0) / 1e9).c_str());
  return 0;
}
