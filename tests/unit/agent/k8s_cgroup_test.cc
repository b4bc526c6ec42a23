// container.id and k8s.pod.uid from cgroup paths, on the shapes the kubelet and the container
// runtimes write (copied from /proc/PID/cgroup on real nodes: containerd, CRI-O, cri-dockerd,
// Docker; systemd and cgroupfs drivers; cgroup v1, hybrid and v2; kind's nested tree).
#include "agent/k8s_cgroup.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "agent/service_identity.h"

namespace hodos::agent {
namespace {

constexpr const char* kId = "7d2f1c9a4b3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
constexpr const char* kUid = "0f4e6f2a-3b1c-4d5e-8f90-a1b2c3d4e5f6";
// The same UID as the systemd driver writes it into a slice name.
constexpr const char* kUidSlice = "0f4e6f2a_3b1c_4d5e_8f90_a1b2c3d4e5f6";

struct PathCase {
  std::string path;
  std::string container_id;
  std::string pod_uid;
};

TEST(K8sCgroupTest, ContainerAndPodFromEveryRuntimeAndDriver) {
  const std::string id = kId;
  const std::string uid = kUid;
  const std::string slice = kUidSlice;
  const std::vector<PathCase> cases = {
      // containerd, systemd driver, cgroup v2 (the unified line "0::...")
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + slice +
           ".slice/cri-containerd-" + id + ".scope",
       id, uid},
      // Guaranteed QoS has no QoS slice
      {"/kubepods.slice/kubepods-pod" + slice + ".slice/cri-containerd-" + id + ".scope", id, uid},
      {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + slice +
           ".slice/crio-" + id + ".scope",
       id, uid},
      // cri-dockerd
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + slice +
           ".slice/docker-" + id + ".scope",
       id, uid},
      // cgroupfs driver (cgroup v1 controller line, or v2)
      {"/kubepods/besteffort/pod" + uid + "/" + id, id, uid},
      {"/kubepods/burstable/pod" + uid + "/" + id, id, uid},
      {"/kubepods/pod" + uid + "/" + id, id, uid},
      // kind / nested kubelet
      {"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
       "kubelet-kubepods-besteffort-pod" +
           slice + ".slice/cri-containerd-" + id + ".scope",
       id, uid},
      // seen from another cgroup namespace (the agent's own pod)
      {"/../../kubepods-burstable-pod" + slice + ".slice/cri-containerd-" + id + ".scope", id,
       uid},
      // a static pod: its UID is a 32-hex hash of the manifest
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
       "5a1b2c3d4e5f60718293a4b5c6d7e8f9.slice/cri-containerd-" +
           id + ".scope",
       id, "5a1b2c3d4e5f60718293a4b5c6d7e8f9"},
      // the pod-level cgroup (no container yet)
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + slice + ".slice", "",
       uid},
      // plain Docker and Podman: a container, no pod
      {"/docker/" + id, id, ""},
      {"/system.slice/docker-" + id + ".scope", id, ""},
      {"/machine.slice/libpod-" + id + ".scope/container", id, ""},
      // systemd inside a container: the container's id, not a nested one
      {"/system.slice/docker-" + id + ".scope/init.scope", id, ""},
  };
  for (const PathCase& c : cases) {
    SCOPED_TRACE(c.path);
    std::optional<ContainerIdentity> got = container_identity_from_path(c.path);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->container_id, c.container_id);
    EXPECT_EQ(got->pod_uid, c.pod_uid);
  }
}

TEST(K8sCgroupTest, HostProcessesAndLookalikesAreNotContainers) {
  const std::string id = kId;
  const std::vector<std::string> paths = {
      "/",
      "",
      "/system.slice/sshd.service",
      "/user.slice/user-1000.slice/session-3.scope",
      "/kubepods.slice",
      "/kubepods.slice/kubepods-burstable.slice",
      // CRI-O's container monitor is not the container
      "/system.slice/crio-conmon-" + id + ".scope",
      // one hex digit short, upper case, a pod-ish name outside kubepods
      "/docker/" + id.substr(1),
      "/docker/7D2F1C9A4B3E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8",
      "/system.slice/pod" + std::string(kUid) + ".service",
      "/kubepods/burstable/podnot-a-uid",
  };
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    EXPECT_FALSE(container_identity_from_path(path).has_value());
  }
}

TEST(K8sCgroupTest, ProcCgroupFilePicksTheLineThatNamesTheContainer) {
  const std::string id = kId;
  const std::string uid = kUid;
  // A hybrid host: the unified line is "/", the v1 controllers hold the kubepods path.
  const std::string hybrid = "12:pids:/kubepods/burstable/pod" + uid + "/" + id +
                             "\n"
                             "11:memory:/kubepods/burstable/pod" +
                             uid + "/" + id +
                             "\n"
                             "1:name=systemd:/kubepods/burstable/pod" +
                             uid + "/" + id + "\n0::/\n";
  std::optional<ContainerIdentity> got = container_identity_from_proc_cgroup(hybrid);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->container_id, id);
  EXPECT_EQ(got->pod_uid, uid);

  // A pod-level line and a container line: the container line wins wherever it is.
  const std::string mixed = "3:cpu:/kubepods/burstable/pod" + uid + "\n2:memory:/kubepods/burstable/pod" +
                            uid + "/" + id + "\n";
  got = container_identity_from_proc_cgroup(mixed);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->container_id, id);

  EXPECT_FALSE(container_identity_from_proc_cgroup("0::/system.slice/sshd.service\n").has_value());
  EXPECT_FALSE(container_identity_from_proc_cgroup("").has_value());
}

const std::string* string_attribute(const std::vector<ResourceAttribute>& attrs,
                                    std::string_view key) {
  const AttributeValue* v = find_attribute(attrs, key);
  return v == nullptr ? nullptr : std::get_if<std::string>(v);
}

TEST(K8sCgroupTest, TheResourceCarriesContainerPodAndNode) {
  ProcessInfo p;
  p.key.pid = 4242;
  p.exe_path = "/usr/local/bin/shop";
  p.cmdline = {"shop"};
  p.cgroup = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
             std::string(kUidSlice) + ".slice/cri-containerd-" + kId + ".scope";
  ::setenv("K8S_NODE_NAME", "node-a", 1);
  auto attrs = resource_attributes(p, RuntimeInfo{}, ServiceName{"shop", "executable"}, "host-a");
  ::unsetenv("K8S_NODE_NAME");
  ASSERT_NE(string_attribute(attrs, "container.id"), nullptr);
  EXPECT_EQ(*string_attribute(attrs, "container.id"), kId);
  ASSERT_NE(string_attribute(attrs, "k8s.pod.uid"), nullptr);
  EXPECT_EQ(*string_attribute(attrs, "k8s.pod.uid"), kUid);
  ASSERT_NE(string_attribute(attrs, "k8s.node.name"), nullptr);
  EXPECT_EQ(*string_attribute(attrs, "k8s.node.name"), "node-a");

  // A Docker container outside Kubernetes: container.id only, even with a node name set.
  p.cgroup = "/system.slice/docker-" + std::string(kId) + ".scope";
  ::setenv("K8S_NODE_NAME", "node-a", 1);
  attrs = resource_attributes(p, RuntimeInfo{}, ServiceName{"shop", "executable"}, "host-a");
  ::unsetenv("K8S_NODE_NAME");
  EXPECT_NE(string_attribute(attrs, "container.id"), nullptr);
  EXPECT_EQ(find_attribute(attrs, "k8s.pod.uid"), nullptr);
  EXPECT_EQ(find_attribute(attrs, "k8s.node.name"), nullptr);

  // A host service: none of them.
  p.cgroup = "/system.slice/shop.service";
  attrs = resource_attributes(p, RuntimeInfo{}, ServiceName{"shop", "executable"}, "host-a");
  EXPECT_EQ(find_attribute(attrs, "container.id"), nullptr);
  EXPECT_EQ(find_attribute(attrs, "k8s.pod.uid"), nullptr);
}

}  // namespace
}  // namespace hodos::agent
