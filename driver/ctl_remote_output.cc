#include "driver/ctl_remote_output.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/flags.h"
#include "driver/human_format.h"
#include "driver/output_table.h"

namespace syncblock::driver {
namespace {

using json = nlohmann::json;

json CycleToJson(const repl::RemoteCycle& c) {
  return json{{"snapshot", c.snapshot},
              {"base", c.base.empty() ? json(nullptr) : json(c.base)},
              {"full_copy", c.base.empty()},
              {"started_unix_ms", c.started_unix_ms},
              {"finished_unix_ms", c.finished_unix_ms},
              {"bytes_shipped", c.bytes_shipped},
              {"zero_bytes", c.zero_bytes},
              {"changed_bytes", c.changed_bytes},
              {"resumed_from", c.resumed_from},
              {"succeeded", c.ok},
              {"error", c.ok ? json(nullptr) : json(c.error)}};
}

// The newest complete snapshot on the remote: its own answer when it gave
// one, else the last one this side saw it complete.
std::string NewestRemote(const ReplicationReport& r) {
  if (r.remote_answered) return r.remote_snapshots.empty() ? "" : r.remote_snapshots.back();
  return r.status.newest_remote_snapshot;
}

}  // namespace

json RemoteToJson(const repl::RemoteView& r) {
  return json{{"name", r.name},
              {"storage_nodes", r.storage_nodes},
              {"volume_prefix", r.volume_prefix},
              {"updated_unix_ms", r.updated_unix_ms},
              {"missing_on", r.missing_on}};
}

std::string RenderRemotes(const std::vector<repl::RemoteView>& remotes, const TermStyle& style) {
  if (remotes.empty()) return "no remotes (ctl remote add NAME --storage-nodes HOST:PORT,...)\n";
  Table t({"NAME", "STORAGE NODES", "PREFIX", "NOT ON"});
  t.Flexible("STORAGE NODES").Optional("NOT ON");
  for (const auto& r : remotes) {
    std::vector<std::string> missing;
    for (const auto& [node, why] : r.missing_on) missing.push_back(node);
    t.AddRow({r.name, absl::StrJoin(r.storage_nodes, ","), r.volume_prefix,
              absl::StrJoin(missing, ",")});
  }
  std::string out = t.Render(style);
  for (const auto& r : remotes) {
    for (const auto& [node, why] : r.missing_on) {
      absl::StrAppend(&out, "warning: ", r.name, " is not on ", node, ": ", why,
                      " (run the same `ctl remote add` again when it is back)\n");
    }
  }
  return out;
}

json PolicyToJson(const std::string& volume, const repl::RemoteSyncPolicy& p) {
  return json{{"volume", volume},    {"remote", p.remote},
              {"target", p.target},  {"interval_seconds", p.interval.count()},
              {"keep", p.keep},      {"rate_bytes_per_second", p.rate_bytes_per_second},
              {"pairing", p.pairing}};
}

json ReplicationReportToJson(const ReplicationReport& r) {
  json j = PolicyToJson(r.volume, r.policy);
  const std::string newest = NewestRemote(r);
  const int64_t point = repl::RemoteSnapshotPoint(newest).value_or(0);
  if (newest.empty()) {
    j["newest_consistent_snapshot"] = nullptr;
    j["rpo_seconds"] = nullptr;
  } else {
    j["newest_consistent_snapshot"] = {{"name", newest}, {"point_unix_ms", point}};
    j["rpo_seconds"] = static_cast<double>(r.now_unix_ms - point) / 1000.0;
  }
  j["remote_snapshots"] = r.remote_snapshots;
  j["remote_answered"] = r.remote_answered;
  j["remote_error"] = r.remote_error.empty() ? json(nullptr) : json(r.remote_error);
  j["last_cycle"] = r.status.last ? CycleToJson(*r.status.last) : json(nullptr);
  j["bytes_shipped_last_cycle"] = r.status.last ? r.status.last->bytes_shipped : 0;
  j["bytes_shipped_total"] = r.status.bytes_shipped_total;
  j["cycles_succeeded"] = r.status.cycles_ok;
  j["cycles_failed"] = r.status.cycles_failed;
  j["failing_since_unix_ms"] =
      r.status.failing_since_unix_ms ? json(r.status.failing_since_unix_ms) : json(nullptr);
  j["next_run_unix_ms"] = r.status.next_run_unix_ms;
  if (r.status.progress) {
    const auto& p = *r.status.progress;
    j["transfer"] = {{"snapshot", p.snapshot},
                     {"base", p.base.empty() ? json(nullptr) : json(p.base)},
                     {"through_offset", p.through_offset},
                     {"bytes_shipped", p.bytes_shipped},
                     {"changed_bytes", p.changed_bytes},
                     {"updated_unix_ms", p.updated_unix_ms}};
  } else {
    j["transfer"] = nullptr;
  }
  j["error"] = r.status.last && !r.status.last->ok ? json(r.status.last->error) : json(nullptr);
  return j;
}

std::string RenderReplicationReport(const ReplicationReport& r, const TermStyle&) {
  std::string out;
  const auto& p = r.policy;
  absl::StrAppend(
      &out, r.volume, " -> ", p.target, " on remote ", p.remote, ", every ",
      FormatDuration(static_cast<double>(p.interval.count())), ", keeping ", p.keep,
      p.rate_bytes_per_second
          ? absl::StrCat(", at most ", FormatRate(static_cast<double>(p.rate_bytes_per_second)))
          : "",
      "\n");
  const std::string newest = NewestRemote(r);
  if (newest.empty()) {
    absl::StrAppend(&out, "  Newest there: none yet (the first copy has not completed)\n");
  } else {
    const int64_t point = repl::RemoteSnapshotPoint(newest).value_or(0);
    absl::StrAppend(&out, "  Newest there: ", newest, " (", FormatAgo(point, r.now_unix_ms),
                    "); RPO achieved: ",
                    FormatDuration(static_cast<double>(r.now_unix_ms - point) / 1000.0), "\n");
  }
  if (!r.remote_answered) {
    absl::StrAppend(&out, "  Remote: not answering (", r.remote_error,
                    "); newest as last seen from here\n");
  }
  if (r.status.last) {
    const auto& c = *r.status.last;
    absl::StrAppend(
        &out, "  Last cycle: ", c.ok ? "succeeded" : "FAILED", " ",
        FormatAgo(c.finished_unix_ms, r.now_unix_ms), ", ", c.snapshot,
        c.base.empty() ? " (full copy)" : absl::StrCat(" since ", c.base), ": ",
        FormatSize(c.bytes_shipped), " shipped of ", FormatSize(c.changed_bytes), " changed",
        c.resumed_from ? absl::StrCat(", resumed at ", FormatSize(c.resumed_from)) : "", ", in ",
        FormatDuration(static_cast<double>(c.finished_unix_ms - c.started_unix_ms) / 1000.0), "\n");
    if (!c.ok) absl::StrAppend(&out, "  Error: ", c.error, "\n");
  } else {
    absl::StrAppend(&out, "  Last cycle: none yet\n");
  }
  if (r.status.progress) {
    const auto& pr = *r.status.progress;
    absl::StrAppend(&out, "  Transfer: ", pr.snapshot, " ", FormatSize(pr.bytes_shipped), " / ",
                    FormatSize(pr.changed_bytes), " (to resume at ", FormatSize(pr.through_offset),
                    ")\n");
  }
  absl::StrAppend(&out, "  Shipped: ", FormatSize(r.status.bytes_shipped_total), " in all; ",
                  r.status.cycles_ok, " cycles succeeded, ", r.status.cycles_failed, " failed\n");
  if (r.status.failing_since_unix_ms) {
    absl::StrAppend(&out, "  Failing since ",
                    FormatAgo(r.status.failing_since_unix_ms, r.now_unix_ms), "\n");
  }
  if (r.status.next_run_unix_ms > r.now_unix_ms) {
    absl::StrAppend(
        &out, "  Next run: in ",
        FormatDuration(static_cast<double>(r.status.next_run_unix_ms - r.now_unix_ms) / 1000.0),
        "\n");
  } else {
    absl::StrAppend(&out, "  Next run: due now\n");
  }
  return out;
}

json PromotionToJson(const std::string& volume, const repl::RemotePromotion& p) {
  return json{{"volume", volume},
              {"snapshot", p.snapshot},
              {"point_unix_ms", p.point_unix_ms},
              {"bytes_restored", p.bytes_restored},
              {"source_volume", p.source_volume}};
}

std::string RenderPromotion(const std::string& volume, const repl::RemotePromotion& p,
                            int64_t now_unix_ms) {
  return absl::StrCat(
      volume, " is writable, holding ", p.snapshot, " of ", p.source_volume, " (its data as of ",
      FormatAgo(p.point_unix_ms, now_unix_ms), "); ", FormatSize(p.bytes_restored),
      " rolled back from a transfer that had not finished.\n"
      "To sync it back once the other site returns: ctl volume replicate ",
      volume, " --remote SITE (it ships only what changed since ", p.snapshot, ")\n");
}

}  // namespace syncblock::driver
