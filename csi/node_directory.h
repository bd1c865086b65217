// Which node ids belong to the cluster, for ControllerPublishVolume: the spec
// answers a node that does not exist with NOT_FOUND. The controller keeps no
// state of its own, so it asks where the nodes are known:
//
// - KubernetesNodeDirectory: the CSINode objects of the cluster (the kubelet
//   registers one per node whose node plugin runs, listing our driver with the
//   node id NodeGetInfo gave), read from the API server with the pod's service
//   account, as the external-attacher does;
// - StaticNodeDirectory: a fixed list (`--known-nodes a,b,c`), and in
//   `--mode all` the plugin's own node id, which is how `syncblock local up`
//   runs.
//
// Thread-safe: both are.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace syncblock::csi {

class NodeDirectory {
 public:
  virtual ~NodeDirectory() = default;
  // OK when `node_id` is a node of the cluster; NOT_FOUND naming it when it is
  // not; UNAVAILABLE when the directory cannot be read (the CO retries).
  virtual absl::Status Check(const std::string& node_id) = 0;
};

class StaticNodeDirectory final : public NodeDirectory {
 public:
  explicit StaticNodeDirectory(std::set<std::string> nodes) : nodes_(std::move(nodes)) {}
  absl::Status Check(const std::string& node_id) override;

 private:
  const std::set<std::string> nodes_;
};

struct KubernetesApi {
  std::string host;  // the API server, e.g. $KUBERNETES_SERVICE_HOST
  int port = 443;
  std::string token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_path = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

  // From the environment a pod gets ($KUBERNETES_SERVICE_HOST and _PORT);
  // FAILED_PRECONDITION outside a pod.
  static absl::StatusOr<KubernetesApi> InCluster();
};

class KubernetesNodeDirectory final : public NodeDirectory {
 public:
  // `driver_name`: the CSINode driver entry to look for (csi.syncblock.dev).
  KubernetesNodeDirectory(KubernetesApi api, std::string driver_name)
      : api_(std::move(api)), driver_name_(std::move(driver_name)) {}
  absl::Status Check(const std::string& node_id) override;

 private:
  const KubernetesApi api_;
  const std::string driver_name_;
};

// From the --known-nodes flag: "kubernetes" (the CSINode objects), or a
// comma-separated list of node ids; `own_node_id` (the plugin's own, in
// --mode all) is always known. An empty `spec` means "kubernetes" inside a pod
// and the own node alone otherwise; INVALID_ARGUMENT when that leaves no
// node at all (a controller outside Kubernetes needs --known-nodes).
absl::StatusOr<std::unique_ptr<NodeDirectory>> MakeNodeDirectory(const std::string& spec,
                                                                 const std::string& own_node_id);

}  // namespace syncblock::csi
