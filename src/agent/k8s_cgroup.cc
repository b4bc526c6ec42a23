#include "agent/k8s_cgroup.h"

#include <algorithm>
#include <array>
#include <vector>

namespace hodos::agent {

namespace {

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

bool is_container_id(std::string_view s) { return s.size() == 64 && is_hex(s); }

// A pod UID: a UUID (API pods), or 32 hex digits (static pods: a hash of the manifest).
bool is_pod_uid(std::string_view s) {
  if (s.size() == 32) return is_hex(s);
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_here != (s[i] == '-')) return false;
    if (!dash_here && !is_hex(s.substr(i, 1))) return false;
  }
  return true;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string_view strip_suffix(std::string_view s, std::string_view suffix) {
  if (s.ends_with(suffix)) s.remove_suffix(suffix.size());
  return s;
}

// "cri-containerd-<id>.scope", "crio-<id>.scope", "docker-<id>.scope", "libpod-<id>.scope" or a
// bare "<id>" (cgroupfs driver, /docker/<id>). CRI-O's "crio-conmon-<id>.scope" is its monitor
// process, not the container, and does not match.
std::optional<std::string> container_id_of(std::string_view segment) {
  segment = strip_suffix(segment, ".scope");
  static constexpr std::array<std::string_view, 4> kPrefixes = {"cri-containerd-", "crio-",
                                                                "docker-", "libpod-"};
  for (std::string_view prefix : kPrefixes) {
    if (segment.starts_with(prefix)) {
      segment.remove_prefix(prefix.size());
      break;
    }
  }
  if (!is_container_id(segment)) return std::nullopt;
  return std::string(segment);
}

// "kubepods-burstable-pod<uid with _>.slice" (systemd driver; the slice name cannot hold '-' in a
// unit-name component, so the kubelet writes '_') or "pod<uid>" (cgroupfs driver).
std::optional<std::string> pod_uid_of(std::string_view segment) {
  std::string_view uid;
  if (segment.ends_with(".slice")) {
    segment = strip_suffix(segment, ".slice");
    size_t at = segment.rfind("-pod");
    if (at == std::string_view::npos) return std::nullopt;
    uid = segment.substr(at + 4);
  } else if (segment.starts_with("pod")) {
    uid = segment.substr(3);
  } else {
    return std::nullopt;
  }
  std::string out(uid);
  std::replace(out.begin(), out.end(), '_', '-');
  if (!is_pod_uid(out)) return std::nullopt;
  return out;
}

}  // namespace

std::optional<ContainerIdentity> container_identity_from_path(std::string_view cgroup_path) {
  ContainerIdentity identity;
  bool under_kubepods = false;
  for (std::string_view segment : segments(cgroup_path)) {
    // kind and some distributions nest the tree: /kubelet.slice/kubelet-kubepods.slice/...
    if (segment.find("kubepods") != std::string_view::npos) under_kubepods = true;
    if (under_kubepods && identity.pod_uid.empty()) {
      if (auto uid = pod_uid_of(segment)) {
        identity.pod_uid = std::move(*uid);
        continue;
      }
    }
    // The outermost id is the one the host's runtime knows; cgroups nested inside a container
    // (systemd or Docker running in it) do not change which container the process is in.
    if (identity.container_id.empty()) {
      if (auto id = container_id_of(segment)) identity.container_id = std::move(*id);
    }
  }
  if (identity.container_id.empty() && identity.pod_uid.empty()) return std::nullopt;
  return identity;
}

std::optional<ContainerIdentity> container_identity_from_proc_cgroup(std::string_view text) {
  std::optional<ContainerIdentity> pod_only;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t first = line.find(':');
    size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::optional<ContainerIdentity> identity =
        container_identity_from_path(line.substr(second + 1));
    if (!identity) continue;
    if (!identity->container_id.empty()) return identity;
    if (!pod_only) pod_only = std::move(identity);  // a pod-level cgroup (the pause sandbox)
  }
  return pod_only;
}

}  // namespace hodos::agent
