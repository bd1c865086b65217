// GrpcStorageCluster: the list of remotes, which every storage node keeps.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "replication/client/grpc_storage_cluster.h"
#include "replication/client/parallel.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

RemoteView ViewOf(const control::RemoteRecord& r) {
  RemoteView v;
  v.name = r.name();
  v.storage_nodes.assign(r.storage_nodes().begin(), r.storage_nodes().end());
  v.volume_prefix = r.volume_prefix();
  v.updated_unix_ms = r.updated_unix_ms();
  return v;
}

}  // namespace

absl::StatusOr<RemoteView> GrpcStorageCluster::PutRemote(const RemoteView& remote, bool deleted) {
  control::RemoteRecord record;
  record.set_name(remote.name);
  for (const auto& n : remote.storage_nodes) record.add_storage_nodes(n);
  record.set_volume_prefix(remote.volume_prefix);
  record.set_updated_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
  record.set_deleted(deleted);
  auto answers = ParallelMap(seeds_.size(), [&](size_t i) { return seeds_[i]->PutRemote(record); });
  RemoteView out = remote;
  out.updated_unix_ms = record.updated_unix_ms();
  size_t taken = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].ok()) {
      // A node's own check (a bad name) is the same everywhere: say it as is.
      if (answers[i].status().code() == absl::StatusCode::kInvalidArgument) {
        return answers[i].status();
      }
      out.missing_on[seeds_[i]->Name()] = std::string(answers[i].status().message());
      continue;
    }
    ++taken;
    if (answers[i]->updated_unix_ms() != record.updated_unix_ms()) {
      out.missing_on[seeds_[i]->Name()] = "it holds a newer record of this remote";
    }
  }
  if (taken == 0) {
    return absl::UnavailableError(absl::StrCat("no storage node took remote ", remote.name, ": ",
                                               JoinErrors(out.missing_on)));
  }
  return out;
}

absl::StatusOr<std::vector<RemoteView>> GrpcStorageCluster::ListRemotes() {
  auto answers = ParallelMap(seeds_.size(), [&](size_t i) { return seeds_[i]->ListRemotes(); });
  std::map<std::string, control::RemoteRecord> newest;
  std::map<std::string, std::string> unreachable;
  size_t answered = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].ok()) {
      unreachable[seeds_[i]->Name()] = std::string(answers[i].status().message());
      continue;
    }
    ++answered;
    for (const auto& r : answers[i]->remotes()) {
      auto it = newest.find(r.name());
      if (it == newest.end() || it->second.updated_unix_ms() < r.updated_unix_ms()) {
        newest[r.name()] = r;
      }
    }
  }
  if (answered == 0) {
    return absl::UnavailableError(
        absl::StrCat("no storage node answered for the remotes: ", JoinErrors(unreachable)));
  }
  std::vector<RemoteView> out;
  for (const auto& [name, record] : newest) {
    if (record.deleted()) continue;
    RemoteView v = ViewOf(record);
    v.missing_on = unreachable;
    for (size_t i = 0; i < answers.size(); ++i) {
      if (!answers[i].ok()) continue;
      const auto& mine = answers[i]->remotes();
      bool holds = std::any_of(mine.begin(), mine.end(), [&](const control::RemoteRecord& r) {
        return r.name() == name && r.updated_unix_ms() == record.updated_unix_ms();
      });
      if (!holds) v.missing_on[seeds_[i]->Name()] = "it does not hold the newest record";
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace syncblock::repl
