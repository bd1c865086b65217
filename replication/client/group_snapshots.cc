#include "replication/client/group_snapshots.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "replication/client/parallel.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

constexpr char kPrefix[] = "grp.";
constexpr size_t kMaxName = 128;  // a snapshot name's limit
constexpr size_t kMaxMembers = 64;

bool ValidBase(const std::string& base) {
  if (base.empty()) return false;
  for (char c : base) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return false;
  }
  return true;
}

std::string VolumesText(const std::vector<std::string>& volumes) {
  return absl::StrJoin(volumes, ",");
}

GroupSnapshotView ViewOf(const std::string& id, std::vector<ClusterSnapshotView> members) {
  GroupSnapshotView v;
  v.id = id;
  std::sort(members.begin(), members.end(),
            [](const auto& a, const auto& b) { return a.volume_id < b.volume_id; });
  v.ready_to_use = !members.empty();
  for (const auto& m : members) {
    if (v.creation_time_unix_ms == 0 || m.creation_time_unix_ms < v.creation_time_unix_ms)
      v.creation_time_unix_ms = m.creation_time_unix_ms;
    v.ready_to_use = v.ready_to_use && m.ready_to_use;
  }
  v.members = std::move(members);
  return v;
}

}  // namespace

std::string GroupSnapshotId(const std::string& base, size_t members) {
  return absl::StrCat(kPrefix, members, ".", base);
}

absl::StatusOr<std::pair<size_t, std::string>> ParseGroupSnapshotId(const std::string& id) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("group snapshot id '", id, "' is not grp.N.NAME"));
  };
  if (id.size() > kMaxName || id.rfind(kPrefix, 0) != 0) return bad();
  const size_t dot = id.find('.', sizeof(kPrefix) - 1);
  if (dot == std::string::npos) return bad();
  size_t n = 0;
  std::string digits = id.substr(sizeof(kPrefix) - 1, dot - (sizeof(kPrefix) - 1));
  if (digits.empty() || digits[0] == '0' || !absl::SimpleAtoi(digits, &n) || n == 0 ||
      n > kMaxMembers) {
    return bad();
  }
  std::string base = id.substr(dot + 1);
  if (!ValidBase(base)) return bad();
  return std::make_pair(n, base);
}

std::string GroupOfSnapshot(const std::string& snapshot_name) {
  return ParseGroupSnapshotId(snapshot_name).ok() ? snapshot_name : "";
}

GroupSnapshots::GroupSnapshots(std::shared_ptr<StorageCluster> cluster,
                               std::chrono::milliseconds max_hold)
    : cluster_(std::move(cluster)), max_hold_(max_hold) {}

absl::StatusOr<std::vector<ClusterSnapshotView>> GroupSnapshots::MembersOfBase(
    const std::string& base) {
  ASSIGN_OR_RETURN(auto all, cluster_->ListSnapshots(""));
  std::vector<ClusterSnapshotView> out;
  for (auto& s : all) {
    auto parsed = ParseGroupSnapshotId(s.name);
    if (parsed.ok() && parsed->second == base) out.push_back(std::move(s));
  }
  return out;
}

absl::Status GroupSnapshots::DeleteMembers(const std::vector<ClusterSnapshotView>& members) {
  auto results = ParallelMap(members.size(),
                             [&](size_t i) { return cluster_->DeleteSnapshot(members[i].id); });
  for (const auto& s : results) RETURN_IF_ERROR(s);
  return absl::OkStatus();
}

std::vector<absl::StatusOr<HoldReleaseView>> GroupSnapshots::Release(
    const std::string& id, const std::vector<std::string>& volumes) {
  return ParallelMap(volumes.size(),
                     [&](size_t i) { return cluster_->ReleaseWrites(volumes[i], id); });
}

absl::StatusOr<GroupSnapshotView> GroupSnapshots::Create(const std::string& base,
                                                         std::vector<std::string> volumes) {
  if (!ValidBase(base)) {
    return absl::InvalidArgumentError(
        absl::StrCat("group snapshot name '", base, "' is invalid: use [A-Za-z0-9._-]"));
  }
  if (volumes.empty()) return absl::InvalidArgumentError("a group snapshot needs source volumes");
  if (volumes.size() > kMaxMembers) {
    return absl::InvalidArgumentError(
        absl::StrCat("a group snapshot has at most ", kMaxMembers, " volumes"));
  }
  std::sort(volumes.begin(), volumes.end());
  for (size_t i = 0; i < volumes.size(); ++i) {
    if (volumes[i].empty()) return absl::InvalidArgumentError("a source volume id is empty");
    if (i > 0 && volumes[i] == volumes[i - 1]) {
      return absl::InvalidArgumentError(absl::StrCat("volume ", volumes[i], " is named twice"));
    }
  }
  const std::string id = GroupSnapshotId(base, volumes.size());
  if (id.size() > kMaxName) {
    return absl::InvalidArgumentError(absl::StrCat("group snapshot name '", base, "' is too long"));
  }

  // Idempotence: a group with this base, complete, answers as it is.
  ASSIGN_OR_RETURN(auto existing, MembersOfBase(base));
  if (!existing.empty()) {
    std::set<std::string> names;
    std::vector<std::string> have;
    for (const auto& m : existing) {
      names.insert(m.name);
      have.push_back(m.volume_id);
    }
    std::sort(have.begin(), have.end());
    auto parsed = ParseGroupSnapshotId(*names.begin());
    const bool complete = names.size() == 1 && parsed.ok() && parsed->first == existing.size();
    if (complete) {
      if (have == volumes) return ViewOf(id, std::move(existing));
      return absl::AlreadyExistsError(absl::StrCat("group snapshot '", base,
                                                   "' exists with volumes ", VolumesText(have),
                                                   ", not ", VolumesText(volumes)));
    }
    // An interrupted create: its members were not cut at one point with the
    // rest, so they go and the group is cut anew.
    RETURN_IF_ERROR(DeleteMembers(existing));
  }

  // Every volume must exist before anything is held.
  auto found =
      ParallelMap(volumes.size(), [&](size_t i) { return cluster_->GetVolume(volumes[i]); });
  for (size_t i = 0; i < volumes.size(); ++i) RETURN_IF_ERROR(found[i].status());

  // Phase 1: hold new writes on every member. Phase 3 (release) runs on
  // every path from here, also when a hold or a cut failed.
  auto held = ParallelMap(
      volumes.size(), [&](size_t i) { return cluster_->HoldWrites(volumes[i], id, max_hold_); });
  for (size_t i = 0; i < volumes.size(); ++i) {
    if (!held[i].ok()) {
      Release(id, volumes);
      return absl::Status(held[i].code(), absl::StrCat("group snapshot ", id, ": hold writes on ",
                                                       volumes[i], ": ", held[i].message()));
    }
  }
  // Phase 2: cut every member while all are held.
  auto cut = ParallelMap(volumes.size(),
                         [&](size_t i) { return cluster_->CreateSnapshot(volumes[i], id); });
  auto released = Release(id, volumes);

  absl::Status failure;
  std::vector<ClusterSnapshotView> members;
  GroupSnapshotView out;
  for (size_t i = 0; i < volumes.size(); ++i) {
    if (!cut[i].ok()) {
      if (failure.ok()) {
        failure = absl::Status(cut[i].status().code(),
                               absl::StrCat("group snapshot ", id, ": snapshot of ", volumes[i],
                                            ": ", cut[i].status().message()));
      }
      continue;
    }
    members.push_back(*cut[i]);
    if (!released[i].ok() || !released[i]->found) {
      // The hold may have ended (deadline, a new primary) before the cut:
      // the point is not common, or not known to be.
      if (failure.ok()) {
        failure = absl::AbortedError(absl::StrCat(
            "group snapshot ", id, ": the write hold on ", volumes[i],
            " did not last until every member was cut (",
            released[i].ok() ? "it had ended" : released[i].status().message(), "); retry"));
      }
      continue;
    }
    out.hold_us = std::max(out.hold_us, released[i]->held_us);
    out.writes_held += released[i]->writes_held;
  }
  if (!failure.ok()) {
    if (absl::Status s = DeleteMembers(members); !s.ok()) {
      return absl::Status(
          failure.code(),
          absl::StrCat(failure.message(), "; removing the members cut: ", s.message()));
    }
    return failure;
  }
  GroupSnapshotView view = ViewOf(id, std::move(members));
  view.created = true;
  view.hold_us = out.hold_us;
  view.writes_held = out.writes_held;
  return view;
}

absl::StatusOr<GroupSnapshotView> GroupSnapshots::Get(const std::string& id) {
  auto parsed = ParseGroupSnapshotId(id);
  if (!parsed.ok()) {
    return absl::NotFoundError(absl::StrCat("group snapshot ", id, " not found"));
  }
  ASSIGN_OR_RETURN(auto all, MembersOfBase(parsed->second));
  std::vector<ClusterSnapshotView> members;
  for (auto& m : all) {
    if (m.name == id) members.push_back(std::move(m));
  }
  if (members.size() != parsed->first) {
    return absl::NotFoundError(members.empty() ? absl::StrCat("group snapshot ", id, " not found")
                                               : absl::StrCat("group snapshot ", id, " not found (",
                                                              members.size(), " of ", parsed->first,
                                                              " members: an interrupted create)"));
  }
  return ViewOf(id, std::move(members));
}

absl::Status GroupSnapshots::Delete(const std::string& id) {
  auto parsed = ParseGroupSnapshotId(id);
  if (!parsed.ok()) return absl::OkStatus();  // names nothing we made
  ASSIGN_OR_RETURN(auto all, MembersOfBase(parsed->second));
  std::vector<ClusterSnapshotView> members;
  for (auto& m : all) {
    if (m.name == id) members.push_back(std::move(m));
  }
  return DeleteMembers(members);
}

}  // namespace syncblock::repl
