// Pod metadata from the API server's PodList (shaped as `kubectl get --raw
// '/api/v1/pods?fieldSelector=spec.nodeName=node-a'` answers it: Deployment, StatefulSet and
// CronJob pods, init containers, a pod not started yet), and the watcher against a real HTTPS
// server that checks what a kube-apiserver checks: the bearer token and the node selector.
#include "agent/k8s_pods.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <mutex>

#include "../exporters/exporter_test_util.h"
#include "../self_signed_cert.h"
#include "agent/service_identity.h"
#include "net/http_server.h"

namespace hodos::agent {
namespace {

constexpr const char* kShopId = "7d2f1c9a4b3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
constexpr const char* kShopUid = "0f4e6f2a-3b1c-4d5e-8f90-a1b2c3d4e5f6";
constexpr const char* kShopUidSlice = "0f4e6f2a_3b1c_4d5e_8f90_a1b2c3d4e5f6";

constexpr const char* kPodList = R"({
  "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "918273"},
  "items": [
    {"metadata": {"name": "shop-7c9d8f6b5d-x2k4p", "generateName": "shop-7c9d8f6b5d-",
                  "namespace": "retail", "uid": "0f4e6f2a-3b1c-4d5e-8f90-a1b2c3d4e5f6",
                  "labels": {"app": "shop", "pod-template-hash": "7c9d8f6b5d"},
                  "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                       "name": "shop-7c9d8f6b5d", "uid": "a1", "controller": true,
                                       "blockOwnerDeletion": true}]},
     "spec": {"nodeName": "node-a", "containers": [{"name": "shop", "image": "ghcr.io/acme/shop:1.4.2"}]},
     "status": {"phase": "Running",
                "initContainerStatuses": [{"name": "migrate", "image": "ghcr.io/acme/migrate:1.4.2",
                  "containerID": "containerd://1111111111111111111111111111111111111111111111111111111111111111"}],
                "containerStatuses": [{"name": "shop", "ready": true, "restartCount": 0,
                  "image": "ghcr.io/acme/shop:1.4.2",
                  "imageID": "ghcr.io/acme/shop@sha256:0b1c",
                  "containerID": "containerd://7d2f1c9a4b3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"}]}},
    {"metadata": {"name": "db-0", "namespace": "retail", "uid": "5b6c7d8e-0000-4000-8000-000000000002",
                  "labels": {"app": "db", "controller-revision-hash": "db-6d5f"},
                  "ownerReferences": [{"kind": "StatefulSet", "name": "db", "controller": true}]},
     "spec": {"nodeName": "node-a"},
     "status": {"containerStatuses": [{"name": "postgres", "image": "registry.local:5000/postgres",
                  "containerID": "cri-o://2222222222222222222222222222222222222222222222222222222222222222"}]}},
    {"metadata": {"name": "report-28391040-abcde", "namespace": "batch",
                  "uid": "5b6c7d8e-0000-4000-8000-000000000003",
                  "ownerReferences": [{"kind": "Job", "name": "report-28391040", "controller": true}]},
     "spec": {"nodeName": "node-a"},
     "status": {"containerStatuses": [{"name": "report", "image": "busybox@sha256:abcd",
                  "containerID": "docker://3333333333333333333333333333333333333333333333333333333333333333"}]}},
    {"metadata": {"name": "etcd-node-a", "namespace": "kube-system", "uid": "9d8c7b6a-0000-4000-8000-000000000005",
                  "annotations": {"kubernetes.io/config.mirror": "3f1d2c4b5a6978877665544332211000",
                                  "kubernetes.io/config.source": "file"},
                  "ownerReferences": [{"kind": "Node", "name": "node-a", "controller": true}]},
     "spec": {"nodeName": "node-a"},
     "status": {"containerStatuses": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.5.9-0",
                  "containerID": "containerd://4444444444444444444444444444444444444444444444444444444444444444"}]}},
    {"metadata": {"name": "pending", "namespace": "default", "uid": "5b6c7d8e-0000-4000-8000-000000000004",
                  "ownerReferences": [{"kind": "Node", "name": "node-a", "controller": false}]},
     "spec": {"nodeName": "node-a"},
     "status": {"phase": "Pending", "containerStatuses": [{"name": "c", "image": "nginx", "state": {"waiting": {}}}]}}
  ]})";

using Attrs = std::vector<std::pair<std::string, std::string>>;

TEST(K8sPodsTest, ParsesNamesOwnersAndContainers) {
  auto pods = parse_pod_list(kPodList);
  ASSERT_EQ(pods.size(), 5u);
  const PodMetadata& shop = pods[0];
  EXPECT_EQ(shop.uid, kShopUid);
  EXPECT_EQ(shop.name, "shop-7c9d8f6b5d-x2k4p");
  EXPECT_EQ(shop.namespace_name, "retail");
  EXPECT_EQ(shop.node_name, "node-a");
  EXPECT_EQ(shop.owners, (Attrs{{"k8s.replicaset.name", "shop-7c9d8f6b5d"},
                                {"k8s.deployment.name", "shop"}}));
  ASSERT_EQ(shop.containers.size(), 2u) << "init containers too";
  const PodContainer& c = shop.containers.at(kShopId);
  EXPECT_EQ(c.name, "shop");
  EXPECT_EQ(c.image_name, "ghcr.io/acme/shop");
  EXPECT_EQ(c.image_tag, "1.4.2");

  EXPECT_EQ(pods[1].owners, (Attrs{{"k8s.statefulset.name", "db"}}));
  const PodContainer& pg =
      pods[1].containers.at("2222222222222222222222222222222222222222222222222222222222222222");
  EXPECT_EQ(pg.image_name, "registry.local:5000/postgres") << "a registry port is not a tag";
  EXPECT_EQ(pg.image_tag, "");
  EXPECT_EQ(pods[2].owners, (Attrs{{"k8s.job.name", "report-28391040"}, {"k8s.cronjob.name", "report"}}));
  EXPECT_EQ(pods[2].containers.begin()->second.image_name, "busybox");
  EXPECT_EQ(pods[3].mirror_of, "3f1d2c4b5a6978877665544332211000");
  EXPECT_TRUE(pods[3].owners.empty()) << "a static pod's controller is its Node: no workload";
  EXPECT_TRUE(pods[4].owners.empty()) << "only the controller owner counts";
  EXPECT_TRUE(pods[4].containers.empty()) << "a container not started has no id";
}

TEST(K8sPodsTest, StaticPodsAreFoundByTheirKubeletUid) {
  PodDirectory pods;
  pods.replace(parse_pod_list(kPodList));
  // The cgroup of a static pod names the kubelet's UID, which is not the mirror pod's uid.
  auto etcd = pods.find("3f1d2c4b5a6978877665544332211000");
  ASSERT_TRUE(etcd.has_value());
  EXPECT_EQ(etcd->name, "etcd-node-a");
  EXPECT_EQ(etcd->namespace_name, "kube-system");
  EXPECT_TRUE(pods.find("9d8c7b6a-0000-4000-8000-000000000005").has_value());
}

TEST(K8sPodsTest, SplitsImages) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(split_image("nginx"), (P{"nginx", ""}));
  EXPECT_EQ(split_image("nginx:1.25"), (P{"nginx", "1.25"}));
  EXPECT_EQ(split_image("registry:5000/team/app:v2@sha256:ff"), (P{"registry:5000/team/app", "v2"}));
}

TEST(K8sPodsTest, RefusesWhatIsNotAPodList) {
  auto error_of = [](const char* text) -> std::string {
    try {
      parse_pod_list(text);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error_of("<html>"), "the answer is not JSON");
  EXPECT_EQ(error_of(R"({"kind":"Status","reason":"Forbidden","message":"pods is forbidden: User \"system:serviceaccount:hodos:default\" cannot list resource \"pods\""})"),
            "the API answered Forbidden: pods is forbidden: User "
            "\"system:serviceaccount:hodos:default\" cannot list resource \"pods\"");
  EXPECT_EQ(error_of(R"({"kind":"PodList"})"), "the answer is not a PodList (no items)");
}

const std::string* string_attribute(const std::vector<ResourceAttribute>& attrs,
                                    std::string_view key) {
  const AttributeValue* v = find_attribute(attrs, key);
  return v == nullptr ? nullptr : std::get_if<std::string>(v);
}

TEST(K8sPodsTest, TheResourceOfAProcessInAKnownPodCarriesItsNames) {
  PodDirectory pods;
  pods.replace(parse_pod_list(kPodList));
  ProcessInfo p;
  p.key.pid = 4242;
  p.exe_path = "/usr/local/bin/shop";
  p.cmdline = {"shop"};
  p.cgroup = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
             std::string(kShopUidSlice) + ".slice/cri-containerd-" + kShopId + ".scope";
  auto attrs = resource_attributes(p, RuntimeInfo{}, ServiceName{"shop", "executable"}, "host-a", &pods);
  const Attrs want = {{"k8s.pod.name", "shop-7c9d8f6b5d-x2k4p"},
                      {"k8s.namespace.name", "retail"},
                      {"k8s.node.name", "node-a"},
                      {"k8s.deployment.name", "shop"},
                      {"k8s.replicaset.name", "shop-7c9d8f6b5d"},
                      {"k8s.container.name", "shop"},
                      {"container.image.name", "ghcr.io/acme/shop"},
                      {"container.image.tag", "1.4.2"},
                      {"container.id", kShopId},
                      {"k8s.pod.uid", kShopUid}};
  for (const auto& [key, value] : want) {
    ASSERT_NE(string_attribute(attrs, key), nullptr) << key;
    EXPECT_EQ(*string_attribute(attrs, key), value) << key;
  }
  // A pod the directory does not know yet: the cgroup's attributes only.
  pods.replace({});
  attrs = resource_attributes(p, RuntimeInfo{}, ServiceName{"shop", "executable"}, "host-a", &pods);
  EXPECT_NE(string_attribute(attrs, "k8s.pod.uid"), nullptr);
  EXPECT_EQ(find_attribute(attrs, "k8s.pod.name"), nullptr);
}

// A kube-apiserver stand-in over HTTPS: the pod list for node-a to the right token only.
class FakeApiServer {
 public:
  FakeApiServer() : pem_(testing::self_signed("localhost")) {
    net::HttpServerOptions o;
    o.tls = net::HttpServerTls{pem_.cert, pem_.key, "", false};
    server_ = std::make_unique<net::HttpServer>(o);
    server_->route("GET", "/api/v1/pods", [this](net::HttpRequest& req) {
      std::lock_guard lock(mu_);
      ++requests_;
      const std::string* auth = req.header("authorization");
      if (auth == nullptr || *auth != "Bearer " + token_) {
        return net::HttpResponse::json(401, R"({"kind":"Status","reason":"Unauthorized"})");
      }
      if (req.query_param("fieldSelector") != std::optional<std::string>("spec.nodeName=node-a") ||
          req.query_param("resourceVersion") != std::optional<std::string>("0")) {
        return net::HttpResponse::json(400, R"({"kind":"Status","reason":"BadRequest"})");
      }
      return net::HttpResponse::json(200, kPodList);
    });
    EXPECT_EQ(server_->start(), std::nullopt);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(server_->port()); }
  const std::string& cert() const { return pem_.cert; }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  void set_token(std::string token) {
    std::lock_guard lock(mu_);
    token_ = std::move(token);
  }

 private:
  testing::Pem pem_;
  std::unique_ptr<net::HttpServer> server_;
  std::mutex mu_;
  std::string token_ = "token-1";
  int requests_ = 0;
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(K8sPodsTest, WatcherListsThisNodesPodsWithTheServiceAccountToken) {
  FakeApiServer api;
  testing::TempDir dir;
  const std::string token = dir.path() / "token", ca = dir.path() / "ca.crt";
  write_file(token, "token-0\n");
  write_file(ca, api.cert());
  PodWatcherOptions o;
  o.api_url = api.url();
  o.node_name = "node-a";
  o.token_file = token;
  o.ca_file = ca;
  o.interval = std::chrono::hours(1);
  o.min_refresh_gap = std::chrono::milliseconds(10);
  auto pods = std::make_shared<PodDirectory>();
  PodWatcher watcher(o, pods, testing::quiet_logger());
  watcher.start();
  ASSERT_TRUE(testing::wait_for([&] { return watcher.lists_failed() == 1; }));
  EXPECT_EQ(pods->size(), 0u) << "a wrong token lists nothing";
  // The token rotated on disk: the next list reads it again.
  write_file(token, "token-1\n");
  watcher.refresh();
  ASSERT_TRUE(testing::wait_for([&] { return watcher.lists_ok() == 1; }));
  EXPECT_EQ(pods->size(), 6u) << "5 pods, the static one under both of its UIDs";
  ASSERT_TRUE(pods->find(kShopUid).has_value());
  EXPECT_EQ(pods->find(kShopUid)->name, "shop-7c9d8f6b5d-x2k4p");
  watcher.stop();
  EXPECT_EQ(api.requests(), 2) << "no list without a reason before the interval";
}

}  // namespace
}  // namespace hodos::agent
