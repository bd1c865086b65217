#include "driver/local_cluster_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace syncblock::driver {

using nlohmann::json;

std::vector<std::string> LocalCluster::ControlAddresses() const {
  std::vector<std::string> out;
  for (const auto& s : storage) out.push_back(s.control);
  return out;
}

LocalProcess* LocalCluster::Find(const std::string& node_id) {
  for (auto& s : storage) {
    if (s.id == node_id) return &s;
  }
  return nullptr;
}

std::string ClusterFilePath(const std::string& dir) { return dir + "/cluster.json"; }

absl::StatusOr<LocalCluster> ParseClusterJson(const std::string& text) {
  // nlohmann throws on malformed input and wrong types; this is the adapter.
  try {
    json j = json::parse(text);
    if (!j.is_object() || !j.contains("storage") || !j["storage"].is_array()) {
      return absl::InvalidArgumentError("cluster.json: no \"storage\" list");
    }
    LocalCluster c;
    for (const auto& s : j["storage"]) {
      LocalProcess p;
      p.id = s.at("id").get<std::string>();
      p.control = s.at("control").get<std::string>();
      p.pid = s.value("pid", 0);
      p.state = s.value("state", p.pid > 0 ? "running" : "stopped");
      p.replication = s.value("replication", "");
      p.nbd = s.value("nbd", "");
      p.metrics = s.value("metrics", "");
      p.zone = s.value("zone", "");
      p.data_dir = s.value("data_dir", "");
      p.log = s.value("log", "");
      p.args = s.value("args", std::vector<std::string>{});
      c.storage.push_back(std::move(p));
    }
    if (j.contains("csi") && j["csi"].is_object()) {
      const auto& s = j["csi"];
      c.csi.state = s.value("state", "");
      c.csi.endpoint = s.value("controller", "");
      c.csi.node_id = s.value("node_id", "");
      c.csi.pid = s.value("pid", 0);
      c.csi.log = s.value("log", "");
      c.csi.error = s.value("error", "");
      c.csi.args = s.value("args", std::vector<std::string>{});
    }
    if (j.contains("tls") && j["tls"].is_object()) {
      const auto& t = j["tls"];
      c.tls.insecure = t.value("insecure", false);
      c.tls.ca = t.value("ca", "");
      c.tls.ca_key = t.value("ca_key", "");
      c.tls.admin_cert = t.value("admin_cert", "");
      c.tls.admin_key = t.value("admin_key", "");
    }
    return c;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cluster.json: ", e.what()));
  }
}

std::string ClusterToJson(const LocalCluster& c) {
  json storage = json::array();
  for (const auto& p : c.storage) {
    storage.push_back({{"id", p.id},
                       {"pid", p.pid},
                       {"state", p.state},
                       {"control", p.control},
                       {"replication", p.replication},
                       {"nbd", p.nbd},
                       {"metrics", p.metrics},
                       {"zone", p.zone},
                       {"data_dir", p.data_dir},
                       {"log", p.log},
                       {"args", p.args}});
  }
  json csi = json::object();
  if (c.csi.state == "absent") {
    csi = {{"state", "absent"}, {"error", c.csi.error}, {"log", c.csi.log}, {"args", c.csi.args}};
  } else if (!c.csi.state.empty()) {
    csi = {{"state", c.csi.state},   {"controller", c.csi.endpoint},
           {"node", c.csi.endpoint}, {"node_id", c.csi.node_id},
           {"pid", c.csi.pid},       {"log", c.csi.log},
           {"args", c.csi.args}};
  }
  json tls = {{"insecure", c.tls.insecure},
              {"ca", c.tls.ca},
              {"ca_key", c.tls.ca_key},
              {"admin_cert", c.tls.admin_cert},
              {"admin_key", c.tls.admin_key}};
  return json({{"storage", storage}, {"csi", csi}, {"tls", tls}}).dump(2) + "\n";
}

absl::StatusOr<LocalCluster> LoadCluster(const std::string& dir) {
  std::string path = ClusterFilePath(dir);
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("no local cluster in ", dir, " (", path, ": ", std::strerror(errno), ")"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = ParseClusterJson(ss.str());
  if (!c.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", c.status().message()));
  return c;
}

absl::Status SaveCluster(const std::string& dir, const LocalCluster& cluster) {
  std::string path = ClusterFilePath(dir);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << ClusterToJson(cluster);
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("writing ", tmp, ": ", std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("renaming ", tmp, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ClusterLock> ClusterLock::Acquire(const std::string& dir) {
  std::string path = absl::StrCat(dir, "/cluster.lock");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("opening ", path, ": ", std::strerror(errno)));
  }
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("locking ", path, ": ", std::strerror(err)));
  }
  return ClusterLock(fd);
}

ClusterLock::~ClusterLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace syncblock::driver
