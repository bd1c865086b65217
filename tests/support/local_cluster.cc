#include "tests/support/local_cluster.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <iostream>

#include "replication/security/certificate_dir.h"
#include "replication/security/grpc_credentials.h"

namespace syncblock::testing {

void UseClusterNbdCertificates(const std::string& dir) {
  if (ReadFile(dir + "/tls/admin.crt").empty()) return;  // a plaintext cluster
  security::TlsFiles admin{dir + "/tls/ca.crt", dir + "/tls/admin.crt", dir + "/tls/admin.key"};
  auto certs = security::ClientCertificateDir(admin);
  if (certs.ok()) {
    setenv("SYNCBLOCK_TEST_NBD_CERTS", certs->c_str(), 1);
  } else {
    std::cerr << "no NBD client directory for admin: " << certs.status() << "\n";
  }
}

LocalCluster::LocalCluster(int nodes, const std::string& extra) {
  up_ = RunCommand(SyncblockBinary() + " local up --dir " + tmp_.path() + " --nodes " +
                       std::to_string(nodes) + " " + extra,
                   std::chrono::seconds(90));
  if (up_.exit_code != 0) std::cerr << "local up failed:\n" << up_.output << "\n";
  if (up_.exit_code == 0) UseClusterNbdCertificates(tmp_.path());
}

LocalCluster::~LocalCluster() {
  ReportDeadNodes();
  RunCommand(SyncblockBinary() + " local down --dir " + tmp_.path() + " --purge",
             std::chrono::seconds(60));
}

CommandResult LocalCluster::Ctl(const std::string& args) const {
  return RunCommand(SyncblockBinary() + " ctl --cluster " + tmp_.path() + " " + args,
                    std::chrono::seconds(120));
}

nlohmann::json LocalCluster::CtlJson(const std::string& args) const {
  CommandResult r = Ctl(args + " -o json");
  if (r.exit_code != 0) {
    std::cerr << "ctl " << args << " failed: " << r.output << "\n";
    return nullptr;
  }
  try {
    return nlohmann::json::parse(r.output);
  } catch (const nlohmann::json::exception& e) {
    std::cerr << "ctl " << args << " printed no JSON: " << r.output << "\n";
    return nullptr;
  }
}

std::string LocalCluster::Export(const std::string& volume) const {
  CommandResult r = Ctl("export " + volume);
  // The first line is the URI (more lines follow on a terminal only).
  std::string uri = r.output.substr(0, r.output.find('\n'));
  while (!uri.empty() && uri.back() == ' ') uri.pop_back();
  uri = WithNbdTls(uri);  // nbds:// gets the admin's certificates
  if (r.exit_code != 0) std::cerr << "ctl export " << volume << " failed: " << r.output << "\n";
  return r.exit_code == 0 ? uri : "";
}

bool LocalCluster::Kill(const std::string& node) const {
  return RunCommand(SyncblockBinary() + " local kill --dir " + tmp_.path() + " " + node)
             .exit_code == 0;
}

bool LocalCluster::Start(const std::string& node) const {
  CommandResult r = RunCommand(SyncblockBinary() + " local start --dir " + tmp_.path() + " " + node,
                               std::chrono::seconds(60));
  if (r.exit_code != 0) std::cerr << "local start failed: " << r.output << "\n";
  return r.exit_code == 0;
}

bool LocalCluster::WaitInSync(const std::string& volume, std::chrono::seconds timeout) const {
  return WaitFor(
      [&] {
        nlohmann::json v = CtlJson("volume show " + volume);
        if (!v.is_object() || !v.contains("replicas")) return false;
        for (const auto& r : v["replicas"]) {
          if (r.value("state", "") != "in_sync") return false;
        }
        return true;
      },
      timeout);
}

// A storage node that `local` still lists as running but whose process is
// gone crashed: that is a failure of the test that ran, whatever it checked.
// On any failure, every node's log tail goes to stderr, since the directory
// is removed next.
void LocalCluster::ReportDeadNodes() const {
  nlohmann::json file = nlohmann::json::parse(ReadFile(tmp_.path() + "/cluster.json"), nullptr,
                                              /*allow_exceptions=*/false);
  if (!file.is_object() || !file.contains("storage")) return;
  for (const auto& node : file["storage"]) {
    const std::string id = node.value("id", "");
    const int pid = node.value("pid", 0);
    const bool running = node.value("state", "") == "running";
    const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    const bool alive = pid > 0 && !stat.empty() && stat.find(") Z") == std::string::npos;
    if (running && !alive) {
      ADD_FAILURE() << "storage node " << id << " (pid " << pid << ") died during the test; "
                    << "log tail:\n"
                    << Tail(node.value("log", ""), 6000);
    } else if (::testing::Test::HasFailure()) {
      std::cerr << "----- " << id << " log (tail) -----\n"
                << Tail(node.value("log", ""), 6000) << "\n";
    }
  }
}

std::string LocalCluster::NodeLog(const std::string& node) const {
  return ReadFile(tmp_.path() + "/logs/" + node + ".log");
}

std::vector<std::string> LocalCluster::ControlAddresses() const {
  std::vector<std::string> controls;
  nlohmann::json file = nlohmann::json::parse(ReadFile(tmp_.path() + "/cluster.json"), nullptr,
                                              /*allow_exceptions=*/false);
  if (file.is_object() && file.contains("storage")) {
    for (const auto& s : file["storage"]) controls.push_back(s.value("control", ""));
  }
  return controls;
}

security::TlsFiles LocalCluster::Tls(const std::string& name) const {
  nlohmann::json file = nlohmann::json::parse(ReadFile(tmp_.path() + "/cluster.json"), nullptr,
                                              /*allow_exceptions=*/false);
  if (file.is_object() && file.contains("tls") && file["tls"].value("insecure", false)) {
    return {"", "", "", true};
  }
  const std::string base = tmp_.path() + "/tls/" + name;
  return {tmp_.path() + "/tls/ca.crt", base + ".crt", base + ".key", false};
}

std::shared_ptr<repl::StorageCluster> LocalCluster::StorageClient() const {
  return repl::StorageCluster::Connect(ControlAddresses(), std::chrono::seconds(10),
                                       std::chrono::seconds(1),
                                       security::GrpcChannelCredentials(Tls("admin")));
}

}  // namespace syncblock::testing
