#include "agent/process_links.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <utility>

namespace hodos::agent {

namespace {

// Detaching a uprobe link waits for the kernel's RCU grace periods (about 0.1 s). Classic links
// (a perf event each) wait one after another under a lock all uprobes share, whatever the threads;
// uprobe_multi links (uprobe_multi.h) do not, and wait together when detached at once.
void detach_together(std::vector<ProcessLinks::Link> links) {
  constexpr size_t kMaxThreads = 16;
  const size_t threads = std::min(kMaxThreads, links.size());
  if (threads <= 1) return;  // one link: detached on return
  std::atomic<size_t> next{0};
  auto detach_next = [&] {
    for (size_t i = next.fetch_add(1); i < links.size(); i = next.fetch_add(1)) links[i].reset();
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  try {
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(detach_next);
  } catch (const std::system_error&) {
    // No thread to spare: the ones started and this one do the rest.
  }
  detach_next();
  for (std::thread& thread : pool) thread.join();
}

}  // namespace

ProcessLinks::~ProcessLinks() {
  std::vector<Link> all;
  for (auto& [pid, entry] : entries_) {
    for (Link& link : entry.links) all.push_back(std::move(link));
  }
  detach_together(std::move(all));
}

ProcessLinks::Link ProcessLinks::Link::from_fd(int fd) {
  Link link;
  link.fd_ = fd;
  return link;
}

ProcessLinks::Link::Link(Link&& other) noexcept
    : link_(std::exchange(other.link_, nullptr)), fd_(std::exchange(other.fd_, -1)) {}

ProcessLinks::Link& ProcessLinks::Link::operator=(Link&& other) noexcept {
  if (this != &other) {
    reset();
    link_ = std::exchange(other.link_, nullptr);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void ProcessLinks::Link::reset() {
  if (link_ != nullptr) bpf_link__destroy(link_);
  if (fd_ >= 0) ::close(fd_);
  link_ = nullptr;
  fd_ = -1;
}

bool ProcessLinks::holds(uint32_t pid, const std::string& target) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(pid);
  return it != entries_.end() && it->second.target == target;
}

void ProcessLinks::put(uint32_t pid, std::string target, std::vector<Link> links) {
  Entry replaced;
  {
    std::lock_guard lock(mu_);
    Entry& entry = entries_[pid];
    replaced = std::move(entry);
    entry = Entry{std::move(target), std::move(links)};
  }
  detach_together(std::move(replaced.links));  // outside the lock
}

bool ProcessLinks::drop(uint32_t pid) {
  Entry gone;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(pid);
    if (it == entries_.end()) return false;
    gone = std::move(it->second);
    entries_.erase(it);
  }
  detach_together(std::move(gone.links));  // outside the lock
  return true;
}

bool ProcessLinks::contains(uint32_t pid) const {
  std::lock_guard lock(mu_);
  return entries_.contains(pid);
}

size_t ProcessLinks::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::vector<uint32_t> ProcessLinks::pids() const {
  std::lock_guard lock(mu_);
  std::vector<uint32_t> out;
  out.reserve(entries_.size());
  for (const auto& [pid, entry] : entries_) out.push_back(pid);
  return out;
}

}  // namespace hodos::agent
