// StorageCluster::Connect, and the read side of GrpcStorageCluster: node
// discovery, GetVolume, ListVolumes.
#include "replication/client/storage_cluster.h"

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "replication/client/grpc_storage_cluster.h"
#include "replication/client/parallel.h"
#include "replication/client/volume_view.h"
#include "replication/security/grpc_credentials.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

std::unique_ptr<StorageCluster> StorageCluster::Connect(
    std::vector<std::string> control_addresses, std::chrono::milliseconds rpc_timeout,
    std::chrono::milliseconds connect_timeout,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return std::make_unique<GrpcStorageCluster>(std::move(control_addresses), rpc_timeout,
                                              connect_timeout, std::move(credentials));
}

std::string JoinErrors(const std::map<std::string, std::string>& errors) {
  std::vector<std::string> parts;
  for (const auto& [address, error] : errors) parts.push_back(error);
  return absl::StrJoin(parts, "; ");
}

std::string NewDataGeneration() {
  std::random_device rd;
  return absl::StrFormat("%08x%08x%08x%08x", rd(), rd(), rd(), rd());
}

control::Member MemberFromNodeInfo(const control::NodeInfo& info) {
  control::Member m;
  m.set_node_id(info.node_id());
  m.set_control_address(info.control_address());
  m.set_replication_address(info.replication_address());
  m.set_nbd_address(info.nbd_address());
  m.set_zone(info.zone());
  return m;
}

GrpcStorageCluster::GrpcStorageCluster(std::vector<std::string> control_addresses,
                                       std::chrono::milliseconds rpc_timeout,
                                       std::chrono::milliseconds connect_timeout,
                                       std::shared_ptr<grpc::ChannelCredentials> credentials)
    : rpc_timeout_(rpc_timeout),
      connect_timeout_(connect_timeout),
      credentials_(credentials ? std::move(credentials) : security::ProcessChannelCredentials()) {
  for (const auto& address : control_addresses) {
    if (address.empty() || clients_.count(address)) continue;
    auto client =
        std::make_unique<NodeClient>(address, rpc_timeout_, connect_timeout_, credentials_);
    seeds_.push_back(client.get());
    clients_[address] = std::move(client);
  }
}

NodeClient* GrpcStorageCluster::ClientForAddress(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = clients_[address];
  if (!slot)
    slot = std::make_unique<NodeClient>(address, rpc_timeout_, connect_timeout_, credentials_);
  return slot.get();
}

std::vector<std::pair<NodeClient*, absl::StatusOr<control::NodeInfo>>>
GrpcStorageCluster::AskAllNodes() {
  auto infos = ParallelMap(seeds_.size(), [&](size_t i) { return seeds_[i]->GetNodeInfo(); });
  std::vector<std::pair<NodeClient*, absl::StatusOr<control::NodeInfo>>> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < seeds_.size(); ++i) {
    if (infos[i].ok()) address_of_id_[infos[i]->node_id()] = seeds_[i]->address();
    out.emplace_back(seeds_[i], std::move(infos[i]));
  }
  return out;
}

absl::StatusOr<std::vector<StorageNodeView>> GrpcStorageCluster::Nodes() {
  if (seeds_.empty()) return absl::InvalidArgumentError("no storage node addresses given");
  std::vector<StorageNodeView> out;
  for (auto& [client, info] : AskAllNodes()) {
    StorageNodeView v;
    v.control_address = client->address();
    if (!info.ok()) {
      v.reachable = false;
      v.error = std::string(info.status().message());
      out.push_back(std::move(v));
      continue;
    }
    v.id = info->node_id();
    v.zone = info->zone();
    v.replication_address = info->replication_address();
    v.nbd_address = info->nbd_address();
    v.metrics_address = info->metrics_address();
    v.capacity_bytes = info->capacity_bytes();
    v.available_bytes = info->available_bytes();
    v.replica_count = info->replica_count();
    v.reachable = true;
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<GrpcStorageCluster::VolumeState> GrpcStorageCluster::FetchVolume(
    const std::string& id) {
  if (seeds_.empty()) return absl::InvalidArgumentError("no storage node addresses given");
  VolumeState state;
  std::set<std::string> asked;
  auto ask = [&](const std::vector<NodeClient*>& clients) {
    auto results =
        ParallelMap(clients.size(), [&](size_t i) { return clients[i]->GetReplica(id); });
    for (size_t i = 0; i < clients.size(); ++i) {
      asked.insert(clients[i]->address());
      if (results[i].ok()) {
        std::string node = results[i]->node_id();
        clients[i]->SetNodeId(node);
        state.by_node[node] = clients[i];
        state.answers.push_back(std::move(*results[i]));
      } else if (!absl::IsNotFound(results[i].status())) {
        state.unreachable[clients[i]->address()] = std::string(results[i].status().message());
      }
    }
  };
  ask(seeds_);
  if (!state.answers.empty()) {
    // Members on nodes the caller did not list are still asked: the volume's
    // own member list is the authority on where its replicas are.
    std::vector<NodeClient*> more;
    for (const auto& m : Newest(state).members()) {
      if (state.by_node.count(m.node_id()) || m.control_address().empty() ||
          asked.count(m.control_address())) {
        continue;
      }
      more.push_back(ClientForAddress(m.control_address()));
    }
    ask(more);
  }
  if (state.answers.empty()) {
    if (state.unreachable.size() == seeds_.size()) {
      return absl::UnavailableError(
          absl::StrCat("no storage node answered: ", JoinErrors(state.unreachable)));
    }
    std::string msg = absl::StrCat("volume ", id, " not found");
    if (!state.unreachable.empty()) {
      absl::StrAppend(&msg, " (", state.unreachable.size(),
                      " storage nodes did not answer: ", JoinErrors(state.unreachable), ")");
    }
    return absl::NotFoundError(msg);
  }
  return state;
}

const control::ReplicaStatus& GrpcStorageCluster::Newest(const VolumeState& state) {
  return *NewestReplica(state.answers);
}

absl::StatusOr<NodeClient*> GrpcStorageCluster::PrimaryOf(const std::string& id,
                                                          const VolumeState& state) {
  const auto* primary = AuthoritativeReplica(state.answers);
  if (!primary) {
    return absl::UnavailableError(absl::StrCat("volume ", id, ": its primary ",
                                               Newest(state).primary_node_id(),
                                               " is not reachable or not serving"));
  }
  return state.by_node.at(primary->node_id());
}

absl::StatusOr<NodeClient*> GrpcStorageCluster::ClientForNode(const std::string& node_id,
                                                              const VolumeState* state) {
  if (state) {
    auto it = state->by_node.find(node_id);
    if (it != state->by_node.end()) return it->second;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = address_of_id_.find(node_id);
    if (it != address_of_id_.end()) return clients_.at(it->second).get();
  }
  if (state && !state->answers.empty()) {
    for (const auto& m : Newest(*state).members()) {
      if (m.node_id() == node_id && !m.control_address().empty()) {
        return ClientForAddress(m.control_address());
      }
    }
  }
  std::map<std::string, std::string> errors;
  for (auto& [client, info] : AskAllNodes()) {
    if (info.ok() && info->node_id() == node_id) return client;
    if (!info.ok()) errors[client->address()] = std::string(info.status().message());
  }
  std::string msg = absl::StrCat("unknown storage node ", node_id);
  if (!errors.empty()) absl::StrAppend(&msg, " (not answering: ", JoinErrors(errors), ")");
  return absl::NotFoundError(msg);
}

absl::StatusOr<control::Member> GrpcStorageCluster::MemberOf(NodeClient* client) {
  ASSIGN_OR_RETURN(auto info, client->GetNodeInfo());
  return MemberFromNodeInfo(info);
}

absl::StatusOr<VolumeView> GrpcStorageCluster::GetVolume(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("volume id is empty");
  ASSIGN_OR_RETURN(auto state, FetchVolume(id));
  return BuildVolumeView(state.answers);
}

absl::StatusOr<std::vector<VolumeView>> GrpcStorageCluster::ListVolumes() {
  if (seeds_.empty()) return absl::InvalidArgumentError("no storage node addresses given");
  auto lists = ParallelMap(seeds_.size(), [&](size_t i) { return seeds_[i]->ListReplicas(); });
  std::map<std::string, std::vector<control::ReplicaStatus>> by_volume;
  std::map<std::string, std::string> errors;
  size_t denied = 0;
  for (size_t i = 0; i < seeds_.size(); ++i) {
    if (!lists[i].ok()) {
      errors[seeds_[i]->address()] = std::string(lists[i].status().message());
      if (absl::IsPermissionDenied(lists[i].status())) ++denied;
      continue;
    }
    for (auto& r : *lists[i]->mutable_replicas()) by_volume[r.volume_id()].push_back(std::move(r));
  }
  if (errors.size() == seeds_.size()) {
    if (denied == errors.size()) {
      return absl::PermissionDeniedError(
          absl::StrCat("every storage node refused: ", JoinErrors(errors)));
    }
    return absl::UnavailableError(absl::StrCat("no storage node answered: ", JoinErrors(errors)));
  }
  std::vector<VolumeView> out;
  for (const auto& [id, answers] : by_volume) {
    ASSIGN_OR_RETURN(auto view, BuildVolumeView(answers));
    out.push_back(std::move(view));
  }
  return out;
}

}  // namespace syncblock::repl
