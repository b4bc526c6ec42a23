// Which container and Kubernetes pod a process runs in, from its cgroup path. The kubelet and the
// container runtimes name cgroups after the pod UID and the container id, so the path alone is
// enough for container.id and k8s.pod.uid, with no call to the API server or the runtime.
// Pod name and namespace are not in the path (see docs/deploy.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hodos::agent {

struct ContainerIdentity {
  std::string container_id;  // 64 hex digits; "" when the path names a pod but no container
  std::string pod_uid;       // "0f9a...-..." with dashes; "" outside Kubernetes (plain Docker)
};

// One cgroup path, as in the third field of /proc/PID/cgroup, from any of:
//   systemd driver (v2 or v1): /kubepods.slice/kubepods-burstable.slice/
//       kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope (crio-, docker-)
//   cgroupfs driver:           /kubepods/besteffort/pod<uid>/<id>
//   plain Docker:              /docker/<id>, /system.slice/docker-<id>.scope
// Paths relative to another cgroup namespace ("/../../kubepods-...") parse the same way. nullopt
// when the path names neither a container nor a pod (a host service, CRI-O's conmon).
std::optional<ContainerIdentity> container_identity_from_path(std::string_view cgroup_path);

// The whole /proc/PID/cgroup text: the first line whose path names a container or a pod (on a
// hybrid host the unified line can be "/" while the v1 controllers hold the kubepods path).
std::optional<ContainerIdentity> container_identity_from_proc_cgroup(std::string_view text);

}  // namespace hodos::agent
