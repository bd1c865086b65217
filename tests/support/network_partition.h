// Network partitions between the storage nodes of a LocalCluster, which all
// listen on 127.0.0.1: each node runs in a cgroup (v2) of its own, and
// iptables drops on OUTPUT what one side's processes send to the other side's
// control and replication ports. The NBD ports are left alone, and so is
// everything the test process itself sends (ctl, qemu-io), so a client can
// still reach a primary that its replicas no longer hear.
//
// The cgroup of a socket is fixed when the socket is made, so the nodes are
// restarted inside their cgroups: make the partition right after the cluster
// is up, before any volume exists. Rules and cgroups are removed by the
// destructor, whatever the test did; those left by a test process that was
// killed are removed by the next one (they carry its pid).
//
// Needs root, iptables with the cgroup match, and a writable cgroup v2
// hierarchy. Not thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/support/local_cluster.h"

namespace syncblock::testing {

class NetworkPartition {
 public:
  // Restarts every storage node of `cluster` in its own cgroup.
  explicit NetworkPartition(const LocalCluster& cluster);
  ~NetworkPartition();
  NetworkPartition(const NetworkPartition&) = delete;
  NetworkPartition& operator=(const NetworkPartition&) = delete;

  // Empty when the partition works; else what is missing, precisely.
  const std::string& error() const { return error_; }

  // Drops everything that nodes of `a` send to the control and replication
  // ports of nodes of `b`, and the other way round.
  bool Cut(const std::vector<std::string>& a, const std::vector<std::string>& b);
  // Drops only what nodes of `from` send to those ports of nodes of `to`.
  bool CutOneWay(const std::vector<std::string>& from, const std::vector<std::string>& to);
  // Removes every cut (connections that lost packets retransmit).
  bool Heal();
  // `local start` for a node that was killed, inside its cgroup.
  bool Start(const std::string& node) const;

 private:
  struct Node {
    std::string cgroup_dir;   // under the cgroup2 mount
    std::string cgroup_path;  // as iptables' --path names it
    std::vector<int> ports;   // control and replication
  };

  bool Setup();
  bool Iptables(const std::string& args, std::string* output = nullptr);
  static void RemoveStale(const std::string& cgroup_parent);

  const LocalCluster& cluster_;
  std::string error_;
  std::string chain_;         // sbt-<pid>-<n>, jumped to from OUTPUT
  std::string root_dir_;      // the cgroup holding the nodes' cgroups
  std::string parent_procs_;  // cgroup.procs of the test's own cgroup
  bool chain_made_ = false;
  bool jump_made_ = false;
  std::map<std::string, Node> nodes_;
};

}  // namespace syncblock::testing
