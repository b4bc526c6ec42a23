// Pod names, namespaces and owners for the spans of processes in Kubernetes pods. The cgroup path
// gives the pod UID and the container id (k8s_cgroup.h); the API server's pod list for this node
// gives the rest: k8s.pod.name, k8s.namespace.name, the workload that owns the pod
// (k8s.deployment.name through its ReplicaSet, k8s.statefulset.name, k8s.daemonset.name,
// k8s.job.name, k8s.cronjob.name) and per container k8s.container.name and the image.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace spdlog {
class logger;
}

namespace hodos::agent {

struct PodContainer {
  std::string name;        // k8s.container.name
  std::string image_name;  // container.image.name: "ghcr.io/acme/shop"
  std::string image_tag;   // container.image.tag: "1.4.2" ("" when pinned by digest only)
};

struct PodMetadata {
  std::string uid;
  std::string mirror_of;  // a static pod's kubelet UID (annotation kubernetes.io/config.mirror)
  std::string name;
  std::string namespace_name;
  std::string node_name;
  // OpenTelemetry resource attributes of the owning workload, e.g. {"k8s.deployment.name", "shop"}.
  std::vector<std::pair<std::string, std::string>> owners;
  std::map<std::string, PodContainer> containers;  // by container id (64 hex digits)
};

// A PodList as the API server (GET /api/v1/pods) and the kubelet (/pods) answer it. Throws
// std::runtime_error naming what is wrong when the text is not a PodList.
std::vector<PodMetadata> parse_pod_list(std::string_view json);

// "ghcr.io/acme/shop:1.4.2@sha256:..." -> {"ghcr.io/acme/shop", "1.4.2"}; a port in the registry
// ("registry:5000/shop") is not a tag.
std::pair<std::string, std::string> split_image(std::string_view image);

// The pods known on this node, by UID (a static pod also by its kubelet UID). Thread-safe: the watcher replaces, discovery reads.
class PodDirectory {
 public:
  void replace(std::vector<PodMetadata> pods);
  std::optional<PodMetadata> find(const std::string& uid) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, PodMetadata> pods_;
};

struct PodWatcherOptions {
  std::string api_url;     // "https://10.96.0.1:443"
  std::string node_name;   // lists only this node's pods (fieldSelector=spec.nodeName=...)
  std::string token_file;  // the service account token, read again for each request (it rotates)
  std::string ca_file;     // the cluster CA
  std::chrono::milliseconds interval{30'000};
  std::chrono::milliseconds min_refresh_gap{5'000};  // on-demand refreshes at most this often
};

// In a pod (KUBERNETES_SERVICE_HOST/PORT set, the service account mounted, K8S_NODE_NAME from the
// downward API): the options to watch this node's pods; nullopt with the reason otherwise.
std::optional<PodWatcherOptions> in_cluster_pod_watcher_options(std::string* why_not);

// Lists this node's pods every `interval` into a PodDirectory, and soon after refresh() (a pod
// discovery has not seen yet). Failures are logged once per change and retried at the interval.
class PodWatcher {
 public:
  PodWatcher(PodWatcherOptions options, std::shared_ptr<PodDirectory> directory,
             std::shared_ptr<spdlog::logger> logger);
  ~PodWatcher();
  PodWatcher(const PodWatcher&) = delete;
  PodWatcher& operator=(const PodWatcher&) = delete;

  void start();
  void stop();
  // Asks for a list soon (not more often than min_refresh_gap).
  void refresh();
  uint64_t lists_ok() const { return lists_ok_.load(); }
  uint64_t lists_failed() const { return lists_failed_.load(); }

 private:
  void run();
  // One list; "" on success, else the reason.
  std::string list_once();

  PodWatcherOptions options_;
  std::shared_ptr<PodDirectory> directory_;
  std::shared_ptr<spdlog::logger> logger_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool refresh_wanted_ = false;
  std::string last_error_;
  std::atomic<uint64_t> lists_ok_{0}, lists_failed_{0};
  std::thread thread_;
};

}  // namespace hodos::agent
