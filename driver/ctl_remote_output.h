// How the remote-sync commands print (ctl_remote_commands.cc): a person's
// text and the JSON of -o json.
//
// Thread-safe: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "driver/terminal.h"
#include "replication/client/storage_cluster.h"
#include "replication/remote/remote_promotion.h"
#include "replication/types/remote_sync_policy.h"

namespace syncblock::driver {

struct ReplicationReport {
  std::string volume;
  repl::RemoteSyncPolicy policy;
  repl::RemoteSyncStatus status;
  int64_t now_unix_ms = 0;
  bool remote_answered = false;
  std::vector<std::string> remote_snapshots;  // complete, oldest first
  std::string remote_error;
};

nlohmann::json RemoteToJson(const repl::RemoteView& r);
std::string RenderRemotes(const std::vector<repl::RemoteView>& remotes, const TermStyle& style);
nlohmann::json PolicyToJson(const std::string& volume, const repl::RemoteSyncPolicy& p);
nlohmann::json ReplicationReportToJson(const ReplicationReport& r);
std::string RenderReplicationReport(const ReplicationReport& r, const TermStyle& style);
nlohmann::json PromotionToJson(const std::string& volume, const repl::RemotePromotion& p);
std::string RenderPromotion(const std::string& volume, const repl::RemotePromotion& p,
                            int64_t now_unix_ms);

}  // namespace syncblock::driver
