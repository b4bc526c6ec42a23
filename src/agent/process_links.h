// The uprobe links of each traced process, by pid, with what they were attached for (the file, as
// the prober tells one from another): one holder per kind of probe (TLS libraries, Go binaries,
// event-loop runtimes), so that a process that exits or runs exec loses exactly its own probes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct bpf_link;

namespace hodos::agent {

class ProcessLinks {
 public:
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  using Link = std::unique_ptr<bpf_link, LinkDeleter>;

  // Whether `pid` holds links attached for `target`.
  bool holds(uint32_t pid, const std::string& target) const;
  // Replaces whatever `pid` held.
  void put(uint32_t pid, std::string target, std::vector<Link> links);
  // Detaches the links of `pid` (outside the lock: detaching a uprobe waits for the kernel);
  // false when it held none.
  bool drop(uint32_t pid);
  bool contains(uint32_t pid) const;
  size_t size() const;
  std::vector<uint32_t> pids() const;

 private:
  struct Entry {
    std::string target;
    std::vector<Link> links;
  };
  mutable std::mutex mu_;
  std::map<uint32_t, Entry> entries_;
};

}  // namespace hodos::agent
