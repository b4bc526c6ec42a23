#include "agent/k8s_pods.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "net/http_client.h"

namespace hodos::agent {

namespace {

using json = nlohmann::json;

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "containerd://<id>", "cri-o://<id>", "docker://<id>" -> "<id>".
std::string container_id_of(const std::string& value) {
  auto sep = value.find("://");
  return sep == std::string::npos ? value : value.substr(sep + 3);
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// The workload behind the pod's controller, named as the k8sattributes processor names it.
std::vector<std::pair<std::string, std::string>> owners_of(const json& metadata) {
  std::vector<std::pair<std::string, std::string>> out;
  auto refs = metadata.find("ownerReferences");
  if (refs == metadata.end() || !refs->is_array()) return out;
  std::string hash;
  if (auto labels = metadata.find("labels"); labels != metadata.end() && labels->is_object()) {
    hash = str(*labels, "pod-template-hash");
  }
  for (const json& ref : *refs) {
    if (!ref.is_object() || !ref.value("controller", false)) continue;
    const std::string kind = str(ref, "kind"), name = str(ref, "name");
    if (name.empty()) continue;
    if (kind == "ReplicaSet") {
      out.emplace_back("k8s.replicaset.name", name);
      // A Deployment names its ReplicaSets <deployment>-<pod-template-hash>.
      if (!hash.empty() && name.size() > hash.size() + 1 && name.ends_with("-" + hash)) {
        out.emplace_back("k8s.deployment.name", name.substr(0, name.size() - hash.size() - 1));
      }
    } else if (kind == "StatefulSet") {
      out.emplace_back("k8s.statefulset.name", name);
    } else if (kind == "DaemonSet") {
      out.emplace_back("k8s.daemonset.name", name);
    } else if (kind == "Job") {
      out.emplace_back("k8s.job.name", name);
      // A CronJob names its Jobs <cronjob>-<scheduled time in minutes>.
      auto dash = name.rfind('-');
      if (dash != std::string::npos && dash > 0 && all_digits(std::string_view(name).substr(dash + 1))) {
        out.emplace_back("k8s.cronjob.name", name.substr(0, dash));
      }
    }
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

}  // namespace

std::pair<std::string, std::string> split_image(std::string_view image) {
  if (auto at = image.find('@'); at != std::string_view::npos) image = image.substr(0, at);
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    return {std::string(image.substr(0, colon)), std::string(image.substr(colon + 1))};
  }
  return {std::string(image), ""};
}

std::vector<PodMetadata> parse_pod_list(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw std::runtime_error("the answer is not JSON");
  if (!doc.is_object() || !doc.contains("items") || !doc["items"].is_array()) {
    const std::string kind = doc.is_object() ? str(doc, "kind") : "";
    if (kind == "Status") {
      throw std::runtime_error(fmt::format("the API answered {}: {}", str(doc, "reason"),
                                           str(doc, "message")));
    }
    throw std::runtime_error("the answer is not a PodList (no items)");
  }
  std::vector<PodMetadata> out;
  for (const json& item : doc["items"]) {
    if (!item.is_object() || !item.contains("metadata") || !item["metadata"].is_object()) continue;
    const json& metadata = item["metadata"];
    PodMetadata pod;
    pod.uid = str(metadata, "uid");
    pod.name = str(metadata, "name");
    // A static pod's cgroup is named after the kubelet's UID for it (the manifest's hash), which
    // its mirror pod in the API carries in this annotation, not as metadata.uid.
    if (auto ann = metadata.find("annotations"); ann != metadata.end() && ann->is_object()) {
      pod.mirror_of = str(*ann, "kubernetes.io/config.mirror");
    }
    pod.namespace_name = str(metadata, "namespace");
    if (pod.uid.empty() || pod.name.empty()) continue;
    pod.owners = owners_of(metadata);
    if (auto spec = item.find("spec"); spec != item.end() && spec->is_object()) {
      pod.node_name = str(*spec, "nodeName");
    }
    if (auto status = item.find("status"); status != item.end() && status->is_object()) {
      for (const char* key : {"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"}) {
        auto list = status->find(key);
        if (list == status->end() || !list->is_array()) continue;
        for (const json& c : *list) {
          if (!c.is_object()) continue;
          const std::string id = container_id_of(str(c, "containerID"));
          if (id.empty()) continue;  // not started yet
          PodContainer container;
          container.name = str(c, "name");
          std::tie(container.image_name, container.image_tag) = split_image(str(c, "image"));
          pod.containers[id] = std::move(container);
        }
      }
    }
    out.push_back(std::move(pod));
  }
  return out;
}

void PodDirectory::replace(std::vector<PodMetadata> pods) {
  std::map<std::string, PodMetadata> next;
  for (auto& p : pods) {
    if (!p.mirror_of.empty()) next.emplace(p.mirror_of, p);
    std::string uid = p.uid;
    next.emplace(std::move(uid), std::move(p));
  }
  std::lock_guard lock(mu_);
  pods_ = std::move(next);
}

std::optional<PodMetadata> PodDirectory::find(const std::string& uid) const {
  std::lock_guard lock(mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end()) return std::nullopt;
  return it->second;
}

size_t PodDirectory::size() const {
  std::lock_guard lock(mu_);
  return pods_.size();
}

std::optional<PodWatcherOptions> in_cluster_pod_watcher_options(std::string* why_not) {
  auto fail = [&](std::string reason) -> std::optional<PodWatcherOptions> {
    if (why_not) *why_not = std::move(reason);
    return std::nullopt;
  };
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0') return fail("not in a Kubernetes pod (KUBERNETES_SERVICE_HOST unset)");
  const char* node = std::getenv("K8S_NODE_NAME");
  if (node == nullptr || *node == '\0') {
    return fail("K8S_NODE_NAME is unset; deploy/kubernetes/agent-daemonset.yaml sets it from spec.nodeName");
  }
  PodWatcherOptions o;
  const std::string dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  o.token_file = dir + "/token";
  o.ca_file = dir + "/ca.crt";
  if (read_file(o.token_file).empty()) {
    return fail(o.token_file + " is missing: mount the service account token (automountServiceAccountToken)");
  }
  const std::string h(host);
  o.api_url = fmt::format("https://{}:{}", h.find(':') != std::string::npos ? "[" + h + "]" : h,
                          port != nullptr && *port != '\0' ? port : "443");
  o.node_name = node;
  return o;
}

PodWatcher::PodWatcher(PodWatcherOptions options, std::shared_ptr<PodDirectory> directory,
                       std::shared_ptr<spdlog::logger> logger)
    : options_(std::move(options)), directory_(std::move(directory)), logger_(std::move(logger)) {}

PodWatcher::~PodWatcher() { stop(); }

void PodWatcher::start() {
  thread_ = std::thread([this] { run(); });
}

void PodWatcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PodWatcher::refresh() {
  {
    std::lock_guard lock(mu_);
    refresh_wanted_ = true;
  }
  cv_.notify_all();
}

std::string PodWatcher::list_once() {
  const std::string token = trim(read_file(options_.token_file));
  if (token.empty()) return options_.token_file + ": no service account token";
  net::HttpClientRequest req;
  req.method = "GET";
  // resourceVersion=0: served from the API server's cache, not a quorum read of every pod.
  req.url = fmt::format("{}/api/v1/pods?fieldSelector=spec.nodeName%3D{}&resourceVersion=0",
                        options_.api_url, options_.node_name);
  req.headers.emplace_back("Authorization", "Bearer " + token);
  req.headers.emplace_back("Accept", "application/json");
  req.tls.ca_file = options_.ca_file;
  req.timeout = std::chrono::seconds(10);
  net::HttpClient client;
  net::HttpClientResponse resp = client.send(req);
  if (resp.status == 0) return fmt::format("{}: {}", options_.api_url, resp.error);
  if (resp.status == 401 || resp.status == 403) {
    return fmt::format("{}: HTTP {}: the agent's service account may not list pods (apply "
                       "deploy/kubernetes/rbac.yaml)", options_.api_url, resp.status);
  }
  if (resp.status != 200) return fmt::format("{}: HTTP {}", options_.api_url, resp.status);
  try {
    directory_->replace(parse_pod_list(resp.body));
  } catch (const std::exception& e) {
    return fmt::format("{}: {}", options_.api_url, e.what());
  }
  return "";
}

void PodWatcher::run() {
  auto last = std::chrono::steady_clock::time_point::min();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Cleared before listing: a refresh() asked for during the list is another list.
    refresh_wanted_ = false;
    lock.unlock();
    last = std::chrono::steady_clock::now();
    std::string error = list_once();
    (error.empty() ? lists_ok_ : lists_failed_).fetch_add(1);
    lock.lock();
    if (error != last_error_) {
      if (!error.empty()) {
        logger_->warn("agent: cannot list this node's pods, so spans lack k8s.pod.name and "
                      "k8s.namespace.name: {}", error);
      } else {
        logger_->info("agent: Kubernetes pod names from {} ({} pods on {})", options_.api_url,
                      directory_->size(), options_.node_name);
      }
      last_error_ = error;
    }
    cv_.wait_until(lock, last + options_.interval, [this] { return stopping_ || refresh_wanted_; });
    if (stopping_) break;
    if (refresh_wanted_) {
      // Many new processes at once ask once: wait out the gap since the last list.
      cv_.wait_until(lock, last + options_.min_refresh_gap, [this] { return stopping_; });
    }
  }
}

}  // namespace hodos::agent
