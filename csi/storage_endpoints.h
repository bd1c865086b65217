// Where the storage nodes are: the value of --storage-nodes, a comma-separated
// list of "host:port" and "dns:NAME:PORT" items. A dns item stands for every A
// record of NAME (the headless Service of the storage DaemonSet), looked up
// again each time the list is needed, so nodes that come and go are seen.
//
// ClusterProvider hands out a StorageCluster for the current list, connecting
// again only when the resolved list changes.
//
// Thread-safe: StorageEndpoints is immutable; ClusterProvider locks.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::csi {

class StorageEndpoints {
 public:
  // INVALID_ARGUMENT for an empty list or an item without a port.
  static absl::StatusOr<StorageEndpoints> Parse(const std::string& spec);

  // host:port of every storage node, sorted and unique. UNAVAILABLE when a
  // DNS name does not resolve and nothing else is listed.
  absl::StatusOr<std::vector<std::string>> Resolve() const;

 private:
  struct Item {
    std::string host;  // a DNS name for dns items
    std::string port;
    bool dns = false;
  };
  std::vector<Item> items_;
};

class ClusterProvider {
 public:
  using Factory =
      std::function<std::unique_ptr<repl::StorageCluster>(std::vector<std::string> addresses)>;

  // `factory` defaults to repl::StorageCluster::Connect.
  explicit ClusterProvider(StorageEndpoints endpoints, Factory factory = nullptr);

  absl::StatusOr<std::shared_ptr<repl::StorageCluster>> Get();

 private:
  const StorageEndpoints endpoints_;
  const Factory factory_;
  absl::Mutex mu_;
  std::vector<std::string> addresses_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<repl::StorageCluster> cluster_ ABSL_GUARDED_BY(mu_);
};

}  // namespace syncblock::csi
