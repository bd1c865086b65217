#include "csi/node_directory.h"

#include <httplib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "csi/csi_constants.h"
#include "nlohmann/json.hpp"

namespace syncblock::csi {
namespace {

constexpr char kCsiNodesPath[] = "/apis/storage.k8s.io/v1/csinodes";

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status NotANode(const std::string& node_id, const std::string& where) {
  return absl::NotFoundError(
      absl::StrCat("node ", node_id, " is not a node of the cluster (", where, ")"));
}

}  // namespace

absl::Status StaticNodeDirectory::Check(const std::string& node_id) {
  if (nodes_.count(node_id)) return absl::OkStatus();
  return NotANode(node_id, "not in --known-nodes");
}

absl::StatusOr<KubernetesApi> KubernetesApi::InCluster() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0') {
    return absl::FailedPreconditionError("not in a Kubernetes pod: KUBERNETES_SERVICE_HOST unset");
  }
  KubernetesApi api;
  api.host = host;
  if (port != nullptr && !absl::SimpleAtoi(port, &api.port)) {
    return absl::InvalidArgumentError(absl::StrCat("KUBERNETES_SERVICE_PORT=", port));
  }
  return api;
}

absl::Status KubernetesNodeDirectory::Check(const std::string& node_id) {
  auto token = ReadSmallFile(api_.token_path);
  if (!token.ok()) return token.status();
  httplib::SSLClient client(api_.host, api_.port);
  client.set_ca_cert_path(api_.ca_path.c_str());
  client.enable_server_certificate_verification(true);
  client.set_bearer_token_auth(std::string(absl::StripAsciiWhitespace(*token)).c_str());
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  auto res = client.Get(kCsiNodesPath);
  const std::string api = absl::StrCat("https://", api_.host, ":", api_.port, kCsiNodesPath);
  if (!res) {
    return absl::UnavailableError(
        absl::StrCat("list CSINodes at ", api, ": ", httplib::to_string(res.error())));
  }
  if (res->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("list CSINodes at ", api, ": HTTP ", res->status, " ", res->body));
  }
  // Every CSINode lists the drivers registered on that node with the node id
  // each one's NodeGetInfo gave.
  nlohmann::json list = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (list.is_discarded() || !list.contains("items") || !list["items"].is_array()) {
    return absl::UnavailableError(absl::StrCat("list CSINodes at ", api, ": not a CSINodeList"));
  }
  for (const auto& item : list["items"]) {
    const auto spec = item.find("spec");
    if (spec == item.end() || !spec->contains("drivers") || !(*spec)["drivers"].is_array()) {
      continue;
    }
    for (const auto& d : (*spec)["drivers"]) {
      if (d.value("name", "") == driver_name_ && d.value("nodeID", "") == node_id) {
        return absl::OkStatus();
      }
    }
  }
  return NotANode(node_id,
                  absl::StrCat("no CSINode registers driver ", driver_name_, " with that node id"));
}

absl::StatusOr<std::unique_ptr<NodeDirectory>> MakeNodeDirectory(const std::string& spec,
                                                                 const std::string& own_node_id) {
  std::string source = spec;
  if (source.empty()) {
    if (KubernetesApi::InCluster().ok()) {
      source = "kubernetes";
    } else if (own_node_id.empty()) {
      return absl::InvalidArgumentError(
          "--known-nodes is required for a controller outside Kubernetes (the node ids "
          "ControllerPublishVolume may name, comma-separated, or \"kubernetes\")");
    }
  }
  if (source == "kubernetes") {
    auto api = KubernetesApi::InCluster();
    if (!api.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--known-nodes kubernetes: ", api.status().message()));
    }
    return std::unique_ptr<NodeDirectory>(new KubernetesNodeDirectory(*api, kDriverName));
  }
  std::set<std::string> nodes;
  for (absl::string_view n : absl::StrSplit(source, ',', absl::SkipWhitespace())) {
    nodes.insert(std::string(absl::StripAsciiWhitespace(n)));
  }
  if (!own_node_id.empty()) nodes.insert(own_node_id);
  return std::unique_ptr<NodeDirectory>(new StaticNodeDirectory(std::move(nodes)));
}

}  // namespace syncblock::csi
