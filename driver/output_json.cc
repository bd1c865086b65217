#include "driver/output_json.h"

#include "replication/crypt/key_wrap.h"
#include "replication/qos/qos_settings.h"

namespace syncblock::driver {

using nlohmann::json;

json NodesToJson(const std::vector<repl::StorageNodeView>& nodes) {
  json list = json::array();
  for (const auto& n : nodes) {
    list.push_back({{"id", n.id},
                    {"zone", n.zone},
                    {"control", n.control_address},
                    {"replication", n.replication_address},
                    {"nbd", n.nbd_address},
                    {"metrics", n.metrics_address},
                    {"capacity_bytes", n.capacity_bytes},
                    {"available_bytes", n.available_bytes},
                    {"replica_count", n.replica_count},
                    {"reachable", n.reachable},
                    {"error", n.error}});
  }
  return {{"nodes", list}};
}

json VolumeToJson(const repl::VolumeView& v) {
  json replicas = json::array();
  for (const auto& r : v.replicas) {
    json replica = {{"node", r.node},
                    {"state", r.state},
                    {"async", r.async},
                    {"message", r.message},
                    {"resync",
                     {{"bytes_copied", r.bytes_copied},
                      {"bytes_total", r.bytes_total},
                      {"rate_bytes_per_second", r.rate_bytes_per_second},
                      {"eta_seconds", r.eta_seconds},
                      {"full", r.full_copy}}}};
    // An asynchronous replica's recovery point; null when no primary answered
    // and the replica has no report of its last one (reported_unix_ms: the
    // time of that report, when it is what is shown; 0 when the primary
    // answered).
    if (r.async) {
      replica["lag"] = r.lag.known ? json{{"bytes", r.lag.bytes},
                                          {"ms", r.lag.ms},
                                          {"broken", r.lag.broken},
                                          {"broken_since_unix_ms", r.lag.broken_since_unix_ms},
                                          {"throttled_writes", r.lag.throttled_writes},
                                          {"reported_unix_ms", r.lag.reported_unix_ms}}
                                   : json(nullptr);
    }
    replicas.push_back(std::move(replica));
  }
  repl::QosSettings q = repl::QosFromAttributes(v.attributes);
  json qos = {{"max_iops", q.max_iops},
              {"max_bandwidth_bytes_per_second", q.max_bandwidth},
              {"burst_seconds", q.burst_seconds}};
  return {{"id", v.id},
          {"size_bytes", v.size_bytes},
          {"epoch", v.epoch},
          {"qos", qos},
          {"primary", v.primary},
          {"nbd_uri", v.nbd_uri},
          {"attributes", repl::DisplayedAttributes(v.attributes)},
          {"encrypted", v.encrypted},
          {"locked", !v.locked_on.empty()},
          {"locked_on", v.locked_on},
          {"serving", v.serving},
          {"lease_remaining_ms", v.lease_remaining_ms},
          {"primary_since_unix_ms", v.primary_since_unix_ms},
          {"last_failover_unix_ms", v.last_failover_unix_ms},
          {"last_failover_from", v.last_failover_from},
          {"last_failover_reason", v.last_failover_reason},
          {"replicas", replicas},
          {"witness", v.witness ? json{{"node", v.witness->node},
                                       {"state", v.witness->state},
                                       {"message", v.witness->message},
                                       {"outdated", v.witness_outdated}}
                                : json(nullptr)}};
}

json VolumesToJson(const std::vector<repl::VolumeView>& volumes) {
  json list = json::array();
  for (const auto& v : volumes) list.push_back(VolumeToJson(v));
  return {{"volumes", list}};
}

json VerifyToJson(const std::string& volume, const repl::VerifyReport& report) {
  return {{"volume", volume},
          {"identical", report.identical},
          {"region_size", report.region_size},
          {"differing_regions", report.differing_regions},
          {"unreachable", report.unreachable}};
}

json ResyncStatusToJson(const repl::VolumeView& v) {
  json replicas = json::array();
  for (const auto& r : v.replicas) {
    replicas.push_back({{"node", r.node},
                        {"state", r.state},
                        {"bytes_copied", r.bytes_copied},
                        {"bytes_total", r.bytes_total},
                        {"rate_bytes_per_second", r.rate_bytes_per_second},
                        {"eta_seconds", r.eta_seconds},
                        {"full", r.full_copy}});
  }
  return {{"volume", v.id}, {"replicas", replicas}};
}

}  // namespace syncblock::driver
