// A whole syncblock cluster for a test, started with the real binary's
// `syncblock local up` in a temporary directory and torn down (processes
// killed, data removed) when the object goes, even when the test failed.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "replication/client/storage_cluster.h"
#include "replication/security/tls_files.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {

// Makes real NBD clients in this process's commands (WithNbdTls) reach the
// TLS exports of the `local up` cluster in `dir` as its admin. Nothing for a
// plaintext cluster.
void UseClusterNbdCertificates(const std::string& dir);

class LocalCluster {
 public:
  // `extra` goes to `local up` (e.g. "--io-timeout-ms 3000").
  explicit LocalCluster(int nodes = 3, const std::string& extra = "--no-csi");
  ~LocalCluster();

  bool ok() const { return up_.exit_code == 0; }
  const std::string& up_output() const { return up_.output; }
  const std::string& dir() const { return tmp_.path(); }

  // `syncblock ctl --cluster DIR ARGS`.
  CommandResult Ctl(const std::string& args) const;
  // The same with `-o json`, parsed; null on failure (the output is logged).
  nlohmann::json CtlJson(const std::string& args) const;
  // The NBD URI of a volume's primary.
  std::string Export(const std::string& volume) const;
  // `local kill` (SIGKILL) and `local start`.
  bool Kill(const std::string& node) const;
  bool Start(const std::string& node) const;
  // Waits until every replica of `volume` is in sync.
  bool WaitInSync(const std::string& volume,
                  std::chrono::seconds timeout = std::chrono::seconds(120)) const;
  std::string NodeLog(const std::string& node) const;
  // The storage cluster client API on every storage node's control address,
  // for tests that drive what the CSI controller runs.
  // It uses the cluster's admin certificate.
  std::shared_ptr<repl::StorageCluster> StorageClient() const;
  // Every storage node's control address, in order.
  std::vector<std::string> ControlAddresses() const;
  // The certificate files `local up` made for `name` (DIR/tls/<name>.crt/.key:
  // "node-1", "controller", "admin", "node-1-csi"), with the cluster's CA;
  // {insecure} for a cluster started with --insecure.
  security::TlsFiles Tls(const std::string& name) const;

 private:
  void ReportDeadNodes() const;

  TempDir tmp_;
  CommandResult up_;
};

}  // namespace syncblock::testing
