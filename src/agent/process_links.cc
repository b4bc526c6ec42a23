#include "agent/process_links.h"

#include <bpf/libbpf.h>

#include <utility>

namespace hodos::agent {

void ProcessLinks::LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }

bool ProcessLinks::holds(uint32_t pid, const std::string& target) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(pid);
  return it != entries_.end() && it->second.target == target;
}

void ProcessLinks::put(uint32_t pid, std::string target, std::vector<Link> links) {
  Entry replaced;
  std::lock_guard lock(mu_);
  Entry& entry = entries_[pid];
  replaced = std::move(entry);
  entry = Entry{std::move(target), std::move(links)};
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
  return true;  // `gone` detaches its links here, outside the lock
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
