// A storage node: the replicas in its data directory, the replication server
// (secondary side), and the NBD export of the volumes it is primary of. It
// restarts from its data directory alone. The gRPC control service
// (control_service.h) and the metrics endpoint sit on top of it.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/crypt/key_ring.h"
#include "replication/engine/replica.h"
#include "replication/engine/replication_server.h"
#include "replication/nbd/nbd_server.h"
#include "replication/qos/qos_registry.h"
#include "replication/security/tls_context.h"
#include "replication/security/tls_files.h"
#include "replication/util/socket.h"

namespace syncblock::repl {

struct StorageNodeOptions {
  std::string node_id;
  std::string zone = "default";
  std::string data_dir;
  HostPort replication_listen;
  HostPort nbd_listen;
  // Addresses other nodes and clients use to reach this one.
  std::string control_address;
  std::string replication_address;  // empty: from replication_listen and advertise_host
  std::string nbd_address;          // likewise
  std::string metrics_address;
  std::string advertise_host;  // empty: the listen host
  // This node's TLS identity, for every port it serves and every peer it
  // dials (see replication/security/).
  security::TlsFiles tls;
  EngineOptions engine;
  NbdServerOptions nbd;
};

struct NodeCapacity {
  uint64_t capacity_bytes = 0;
  uint64_t available_bytes = 0;
};

class StorageNode : public ReplicaRegistry {
 public:
  explicit StorageNode(StorageNodeOptions opts);
  ~StorageNode() override;

  // Checks the data directory belongs to this node, loads every replica,
  // starts listening, and resumes the primary role where the manifests say so.
  absl::Status Start();
  void Stop();
  bool started() const { return started_.load(); }
  // The advertised addresses of the services built around the node (control
  // gRPC, metrics), known once they are bound. Call before Start().
  void SetServiceAddresses(std::string control, std::string metrics);

  const StorageNodeOptions& options() const { return opts_; }
  MemberInfo Self() const;
  NodeCapacity Capacity() const;
  std::string NbdUri(const std::string& volume_id) const;
  NbdServer& nbd() { return *nbd_; }
  // The QoS limiters of the volumes this node serves (qos_registry.h).
  QosRegistry& qos() { return qos_; }
  // The data keys of the encrypted volumes unlocked here (memory only).
  KeyRing& keys() { return keys_; }
  const ReplicationServer& replication() const { return *replication_; }

  // Creates this node's replica. The same manifest again returns the existing
  // replica; another size or member list is ALREADY_EXISTS.
  absl::StatusOr<std::shared_ptr<Replica>> CreateReplica(const Manifest& m);
  // Creates this node's replica of a clone, as its primary: the replica starts
  // as a copy of snapshot `source_snapshot` of `source_volume`, which this node
  // must hold complete (NOT_FOUND / FAILED_PRECONDITION), and m.size_bytes must
  // be at least the snapshot's (OUT_OF_RANGE). Its manifest names only this
  // node in sync, so the clone's other replicas get a full copy from it. The
  // copy is made in a staging directory and the replica appears only once it
  // is complete; other calls are not held up meanwhile (a second call for the
  // same volume is ABORTED).
  absl::StatusOr<std::shared_ptr<Replica>> CreateClone(const Manifest& m,
                                                       const std::string& source_volume,
                                                       const std::string& source_snapshot);
  // OK when there is none.
  absl::Status DeleteReplica(const std::string& volume_id);
  std::vector<std::shared_ptr<Replica>> Replicas();
  // NOT_FOUND naming the volume and this node.
  absl::StatusOr<std::shared_ptr<Replica>> Get(const std::string& volume_id);

  // ReplicaRegistry:
  std::shared_ptr<Replica> FindReplica(const std::string& volume_id) override;
  absl::StatusOr<std::shared_ptr<Replica>> CreateReplicaFor(const HelloRequest& hello) override;

 private:
  std::string VolumeDir(const std::string& volume_id) const;
  std::string TombstonePath(const std::string& volume_id) const;
  std::string StagingDir(const std::string& volume_id) const;
  // The checks CreateReplica and CreateClone share.
  absl::Status ValidateNewReplica(const Manifest& m) const;
  // The manifest a new replica gets: defaults filled in, and every member
  // remembered in sync with it unless `only_self_in_sync`.
  Manifest NewReplicaManifest(const Manifest& requested, bool only_self_in_sync) const;
  // The existing replica when `requested` matches it, ALREADY_EXISTS when not,
  // nullptr when there is none. Requires mu_.
  absl::StatusOr<std::shared_ptr<Replica>> ExistingLocked(const Manifest& requested);
  absl::StatusOr<std::shared_ptr<Replica>> MakeClone(const Manifest& m,
                                                     const std::string& source_volume,
                                                     const std::string& source_snapshot);
  absl::Status CheckNodeIdentity();
  // The TLS context of the replication port and links, from opts_.tls.
  absl::Status LoadTls();
  absl::Status LoadReplicas();
  // Keeps the data key `primary` handed over in a hello (over TLS), so that a
  // replica locked by a restart of this node is unlocked again.
  void AdoptDataKey(const std::string& volume_id, const std::string& primary,
                    const std::string& data_key);

  StorageNodeOptions opts_;
  KeyRing keys_;     // before nbd_: exports hold volumes' ciphers
  QosRegistry qos_;  // before nbd_: connections hold its limiters
  std::shared_ptr<ExportProvider> exports_;
  std::unique_ptr<NbdServer> nbd_;
  std::unique_ptr<ReplicationServer> replication_;
  // This node's TLS identity; null when insecure (see LoadTls).
  std::shared_ptr<security::TlsContext> tls_;

  std::atomic<bool> started_{false};
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Replica>> replicas_;  // guarded by mu_
  std::set<std::string> cloning_;                             // guarded by mu_
};

}  // namespace syncblock::repl
