#include "replication/types/remote_sync_policy.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "replication/types/json_fields.h"

namespace syncblock::repl {
namespace {

using json = nlohmann::json;

constexpr int64_t kMinIntervalS = 10, kMaxIntervalS = 24 * 3600;
constexpr int kMaxKeep = 100;

// SimpleAtoi also takes a sign and surrounding spaces; names and attributes
// take plain digits only, so that each value has one spelling.
bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

absl::Status BadAttribute(const char* key, const std::string& value, const std::string& takes) {
  return absl::InvalidArgumentError(
      absl::StrCat("volume attribute ", key, " must be ", takes, ", not \"", value, "\""));
}

json CycleJson(const RemoteCycle& c) {
  return json{{"snapshot", c.snapshot},
              {"base", c.base},
              {"started_unix_ms", c.started_unix_ms},
              {"finished_unix_ms", c.finished_unix_ms},
              {"bytes_shipped", c.bytes_shipped},
              {"zero_bytes", c.zero_bytes},
              {"changed_bytes", c.changed_bytes},
              {"resumed_from", c.resumed_from},
              {"ok", c.ok},
              {"error", c.error}};
}

RemoteCycle CycleFrom(const json& j) {
  RemoteCycle c;
  c.snapshot = j.at("snapshot").get<std::string>();
  c.base = j.at("base").get<std::string>();
  c.started_unix_ms = IntegerAt<int64_t>(j, "started_unix_ms");
  c.finished_unix_ms = IntegerAt<int64_t>(j, "finished_unix_ms");
  c.bytes_shipped = IntegerAt<uint64_t>(j, "bytes_shipped");
  c.zero_bytes = IntegerAt<uint64_t>(j, "zero_bytes");
  c.changed_bytes = IntegerAt<uint64_t>(j, "changed_bytes");
  c.resumed_from = IntegerAt<uint64_t>(j, "resumed_from");
  c.ok = j.at("ok").get<bool>();
  c.error = j.at("error").get<std::string>();
  return c;
}

json ProgressJson(const RemoteProgress& p) {
  return json{{"snapshot", p.snapshot},
              {"base", p.base},
              {"target", p.target},
              {"through_offset", p.through_offset},
              {"bytes_shipped", p.bytes_shipped},
              {"changed_bytes", p.changed_bytes},
              {"updated_unix_ms", p.updated_unix_ms}};
}

RemoteProgress ProgressFrom(const json& j) {
  RemoteProgress p;
  p.snapshot = j.at("snapshot").get<std::string>();
  p.base = j.at("base").get<std::string>();
  p.target = j.at("target").get<std::string>();
  p.through_offset = IntegerAt<uint64_t>(j, "through_offset");
  p.bytes_shipped = IntegerAt<uint64_t>(j, "bytes_shipped");
  p.changed_bytes = IntegerAt<uint64_t>(j, "changed_bytes");
  p.updated_unix_ms = IntegerAt<int64_t>(j, "updated_unix_ms");
  return p;
}

}  // namespace

std::string EncodeRemoteLease(const RemoteLease& lease) {
  return absl::StrCat(lease.owner, " ", lease.expires_unix_ms);
}

std::optional<RemoteLease> DecodeRemoteLease(const std::string& text) {
  const size_t space = text.rfind(' ');
  if (space == std::string::npos || space == 0) return std::nullopt;
  RemoteLease lease;
  lease.owner = text.substr(0, space);
  if (!absl::SimpleAtoi(text.substr(space + 1), &lease.expires_unix_ms)) return std::nullopt;
  return lease;
}

std::string RemoteSnapshotName(int64_t unix_ms) {
  return absl::StrCat(kRemoteSnapshotPrefix, unix_ms);
}

std::optional<int64_t> RemoteSnapshotPoint(const std::string& name) {
  const std::string prefix = kRemoteSnapshotPrefix;
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) {
    return std::nullopt;
  }
  const std::string digits = name.substr(prefix.size());
  int64_t ms = 0;
  if (!AllDigits(digits) || !absl::SimpleAtoi(digits, &ms) || ms <= 0) return std::nullopt;
  return ms;
}

absl::StatusOr<std::chrono::seconds> ParseRemoteInterval(const std::string& what,
                                                         const std::string& text) {
  int64_t unit = 1;
  std::string digits = text;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 's':
        unit = 1;
        digits.pop_back();
        break;
      case 'm':
        unit = 60;
        digits.pop_back();
        break;
      case 'h':
        unit = 3600;
        digits.pop_back();
        break;
      default:
        break;
    }
  }
  int64_t n = 0;
  if (!AllDigits(digits) || !absl::SimpleAtoi(digits, &n) || n <= 0 || n > kMaxIntervalS / unit ||
      n * unit < kMinIntervalS) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " must be a time from 10s to 24h (\"30s\", \"5m\", \"2h\" or seconds), not \"", text,
        "\""));
  }
  return std::chrono::seconds(n * unit);
}

absl::StatusOr<int> ParseRemoteKeep(const std::string& what, const std::string& text) {
  int n = 0;
  if (!AllDigits(text) || !absl::SimpleAtoi(text, &n) || n < 1 || n > kMaxKeep) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be a whole number from 1 to ", kMaxKeep, ", not \"", text, "\""));
  }
  return n;
}

absl::StatusOr<std::optional<RemoteSyncPolicy>> RemoteSyncPolicyFromAttributes(
    const std::map<std::string, std::string>& attributes) {
  auto name = attributes.find(kAttrRemoteName);
  if (name == attributes.end()) return std::nullopt;
  RemoteSyncPolicy p;
  p.remote = name->second;
  if (p.remote.empty()) return BadAttribute(kAttrRemoteName, "", "a remote's name");
  auto get = [&](const char* key) -> const std::string* {
    auto it = attributes.find(key);
    return it == attributes.end() ? nullptr : &it->second;
  };
  const std::string* target = get(kAttrRemoteTarget);
  if (target == nullptr || target->empty()) {
    return BadAttribute(kAttrRemoteTarget, target ? *target : "", "the target volume's id");
  }
  p.target = *target;
  if (const std::string* v = get(kAttrRemoteInterval)) {
    int64_t s = 0;
    if (!AllDigits(*v) || !absl::SimpleAtoi(*v, &s) || s < kMinIntervalS || s > kMaxIntervalS) {
      return BadAttribute(kAttrRemoteInterval, *v, "a number of seconds from 10 to 86400");
    }
    p.interval = std::chrono::seconds(s);
  }
  if (const std::string* v = get(kAttrRemoteKeep)) {
    if (!AllDigits(*v) || !absl::SimpleAtoi(*v, &p.keep) || p.keep < 1 || p.keep > kMaxKeep) {
      return BadAttribute(kAttrRemoteKeep, *v, "a whole number from 1 to 100");
    }
  }
  if (const std::string* v = get(kAttrRemoteRate)) {
    if (!AllDigits(*v) || !absl::SimpleAtoi(*v, &p.rate_bytes_per_second)) {
      return BadAttribute(kAttrRemoteRate, *v, "a number of bytes per second (0: no limit)");
    }
  }
  const std::string* pairing = get(kAttrRemotePairing);
  if (pairing == nullptr || pairing->empty()) {
    return BadAttribute(kAttrRemotePairing, pairing ? *pairing : "", "the pairing's id");
  }
  p.pairing = *pairing;
  return std::optional<RemoteSyncPolicy>(std::move(p));
}

std::map<std::string, std::string> RemoteSyncAttributes(const RemoteSyncPolicy& p) {
  return {{kAttrRemoteName, p.remote},
          {kAttrRemoteTarget, p.target},
          {kAttrRemoteInterval, std::to_string(p.interval.count())},
          {kAttrRemoteKeep, std::to_string(p.keep)},
          {kAttrRemoteRate, std::to_string(p.rate_bytes_per_second)},
          {kAttrRemotePairing, p.pairing}};
}

int64_t NextRunUnixMs(const RemoteSyncPolicy& p, const RemoteSyncStatus& s) {
  if (!s.last) return 0;
  const int64_t interval = std::chrono::milliseconds(p.interval).count();
  int64_t next = s.last->ok ? s.last->started_unix_ms + interval
                            : s.last->finished_unix_ms + std::min<int64_t>(interval, 30000);
  // A transfer whose checkpoints stopped (every 2 s while it runs) was cut
  // short by a process that could not even record it: take it up soon.
  if (s.progress && s.progress->updated_unix_ms > s.last->finished_unix_ms) {
    next = std::min(next, s.progress->updated_unix_ms + std::min<int64_t>(interval, 10000));
  }
  return next;
}

std::string EncodeRemoteSyncStatus(const RemoteSyncStatus& s) {
  json j{{"format_version", 1},
         {"cycles_ok", s.cycles_ok},
         {"cycles_failed", s.cycles_failed},
         {"bytes_shipped_total", s.bytes_shipped_total},
         {"newest_remote_snapshot", s.newest_remote_snapshot},
         {"newest_remote_point_unix_ms", s.newest_remote_point_unix_ms},
         {"failing_since_unix_ms", s.failing_since_unix_ms},
         {"next_run_unix_ms", s.next_run_unix_ms}};
  if (s.last) j["last"] = CycleJson(*s.last);
  if (s.progress) j["progress"] = ProgressJson(*s.progress);
  // An error text can hold any bytes (a peer's message, a path): dump()
  // would throw on invalid UTF-8, so such bytes become U+FFFD instead.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<RemoteSyncStatus> DecodeRemoteSyncStatus(const std::string& text) {
  try {
    json j = json::parse(text);
    if (IntegerAt<int>(j, "format_version") != 1) {
      return absl::InvalidArgumentError("remote sync status: unknown format_version");
    }
    RemoteSyncStatus s;
    s.cycles_ok = IntegerAt<uint64_t>(j, "cycles_ok");
    s.cycles_failed = IntegerAt<uint64_t>(j, "cycles_failed");
    s.bytes_shipped_total = IntegerAt<uint64_t>(j, "bytes_shipped_total");
    s.newest_remote_snapshot = j.at("newest_remote_snapshot").get<std::string>();
    s.newest_remote_point_unix_ms = IntegerAt<int64_t>(j, "newest_remote_point_unix_ms");
    s.failing_since_unix_ms = IntegerAt<int64_t>(j, "failing_since_unix_ms");
    s.next_run_unix_ms = IntegerAt<int64_t>(j, "next_run_unix_ms");
    if (j.contains("last")) s.last = CycleFrom(j.at("last"));
    if (j.contains("progress")) s.progress = ProgressFrom(j.at("progress"));
    return s;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("remote sync status: ", e.what()));
  }
}

RemoteSyncStatus RemoteSyncStatusFromAttributes(
    const std::map<std::string, std::string>& attributes) {
  auto it = attributes.find(kAttrRemoteStatus);
  if (it == attributes.end()) return {};
  auto s = DecodeRemoteSyncStatus(it->second);
  return s.ok() ? *s : RemoteSyncStatus{};
}

}  // namespace syncblock::repl
