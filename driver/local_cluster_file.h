// DIR/cluster.json of `syncblock local`: which processes make up a local
// cluster, their pids, ports, zones, data and logs, so that `local down|kill|
// start|status` and `ctl --cluster DIR` find them. Shape:
//
//   {"storage": [{"id", "pid", "state", "control", "replication", "nbd", "metrics",
//                 "zone", "data_dir", "log", "args": [...]}],
//    "csi": {} | {"state": "running", "controller", "node", "node_id", "pid", "log",
//                 "args"} | {"state": "absent", "error", "log"},
//    "tls": {"insecure", "ca", "ca_key", "admin_cert", "admin_key"}}
//
// `state` is "running", "killed" (local kill) or "stopped" (local down); a
// process not running has pid 0. `args` is the command line that restarts it
// (with its --tls-* flags). `tls` names the cluster's CA and the certificate
// `ctl --cluster DIR` uses (role admin); every process's own files are in
// DIR/tls/ too.
//
// Thread-compatible: plain data and functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/security/tls_files.h"

namespace syncblock::driver {

struct LocalProcess {
  std::string id;
  int pid = 0;
  std::string state = "running";
  std::string control;
  std::string replication;
  std::string nbd;
  std::string metrics;
  std::string zone;
  std::string data_dir;
  std::string log;
  std::vector<std::string> args;
};

struct LocalCsi {
  std::string state;     // "" (not started), "running", "stopped", "absent"
  std::string endpoint;  // unix://DIR/csi.sock, serving controller and node
  std::string node_id;
  int pid = 0;
  std::string log;
  std::string error;
  std::vector<std::string> args;
};

struct LocalTls {
  bool insecure = false;  // `local up --insecure`: every process plaintext
  std::string ca;
  std::string ca_key;
  std::string admin_cert;
  std::string admin_key;

  // What ctl uses: the CA and the admin certificate.
  security::TlsFiles Admin() const { return {ca, admin_cert, admin_key, insecure}; }
};

struct LocalCluster {
  std::vector<LocalProcess> storage;
  LocalCsi csi;
  LocalTls tls;

  // Control addresses of every storage node, in order.
  std::vector<std::string> ControlAddresses() const;
  LocalProcess* Find(const std::string& node_id);
};

std::string ClusterFilePath(const std::string& dir);
absl::StatusOr<LocalCluster> ParseClusterJson(const std::string& text);
std::string ClusterToJson(const LocalCluster& cluster);
// NOT_FOUND naming the file when there is none (no `local up` in DIR).
absl::StatusOr<LocalCluster> LoadCluster(const std::string& dir);
// Written to a temporary file and renamed, so a reader never sees half of it.
absl::Status SaveCluster(const std::string& dir, const LocalCluster& cluster);

// An exclusive lock on DIR/cluster.lock (flock), held by every `local`
// command that reads cluster.json, changes processes and writes it back, for
// the whole of that: two `local start` at once would otherwise both start the
// node, and the last to save would record whichever pid it had. Waits for
// the lock; released when the object goes (or the process dies).
class ClusterLock {
 public:
  static absl::StatusOr<ClusterLock> Acquire(const std::string& dir);
  ClusterLock(ClusterLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ClusterLock& operator=(ClusterLock&&) = delete;
  ~ClusterLock();

 private:
  explicit ClusterLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace syncblock::driver
