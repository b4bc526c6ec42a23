// The uprobe links of each traced process, by pid, with what they were attached for (the file, as
// the prober tells one from another): one holder per kind of probe (TLS libraries, Go binaries,
// event-loop runtimes), so that a process that exits or runs exec loses exactly its own probes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

struct bpf_link;

namespace hodos::agent {

class ProcessLinks {
 public:
  ProcessLinks() = default;
  ProcessLinks(const ProcessLinks&) = delete;
  ProcessLinks& operator=(const ProcessLinks&) = delete;
  // Detaches every link, several at a time (see detach_together in the .cc).
  ~ProcessLinks();

  // One attachment: a libbpf link, or the fd of a link made without libbpf (uprobe_multi.h).
  class Link {
   public:
    Link() = default;
    explicit Link(bpf_link* link) : link_(link) {}
    static Link from_fd(int fd);
    Link(Link&& other) noexcept;
    Link& operator=(Link&& other) noexcept;
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;
    ~Link() { reset(); }
    void reset();  // detaches

   private:
    bpf_link* link_ = nullptr;
    int fd_ = -1;
  };

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
