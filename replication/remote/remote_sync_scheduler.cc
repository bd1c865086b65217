#include "replication/remote/remote_sync_scheduler.h"

#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "replication/remote/remote_sync_cycle.h"
#include "replication/types/remote_sync_policy.h"
#include "replication/util/logging.h"

namespace syncblock::repl {
namespace {

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

// A cycle is due when asked for (--now) or when its schedule says.
bool Due(const VolumeView& v, const RemoteSyncPolicy& p, int64_t now) {
  if (v.attributes.count(kAttrRemoteRunNow) != 0) return true;
  return NextRunUnixMs(p, RemoteSyncStatusFromAttributes(v.attributes)) <= now;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

RemoteSyncScheduler::RemoteSyncScheduler(
    ClusterFn cluster, std::function<std::shared_ptr<StorageCluster>(const RemoteView&)> connect,
    RemoteSyncSchedulerOptions options)
    : cluster_(std::move(cluster)),
      connect_(std::move(connect)),
      options_(options),
      // The host's name (a pod's): a controller restarted there takes its
      // leases back at once instead of waiting for them to expire.
      owner_(Hostname()) {}

RemoteSyncScheduler::~RemoteSyncScheduler() {
  std::map<std::string, std::thread> running;
  std::vector<std::thread> finished;
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  // The threads take mu_ to leave running_: join them without it.
  while (true) {
    {
      absl::MutexLock l(&mu_);
      finished.swap(finished_);
      if (running_.empty() && finished.empty()) return;
    }
    for (auto& t : finished) t.join();
    finished.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int RemoteSyncScheduler::Running() {
  absl::MutexLock l(&mu_);
  return static_cast<int>(running_.size());
}

int RemoteSyncScheduler::RunOnce() {
  {
    std::vector<std::thread> done;
    {
      absl::MutexLock l(&mu_);
      done.swap(finished_);
    }
    for (auto& t : done) t.join();
  }
  auto cluster = cluster_();
  if (!cluster) return 0;
  auto volumes = cluster->ListVolumes();
  if (!volumes.ok()) {
    spdlog::debug("remote sync: listing volumes: {}", volumes.status().message());
    return 0;
  }
  const int64_t now = NowUnixMs();
  int started = 0;
  for (const auto& v : *volumes) {
    auto policy = RemoteSyncPolicyFromAttributes(v.attributes);
    if (!policy.ok() || !policy->has_value() || !v.serving) continue;
    if (!Due(v, **policy, now)) continue;
    absl::MutexLock l(&mu_);
    if (stopping_ || running_.count(v.id) != 0 ||
        static_cast<int>(running_.size()) >= options_.max_concurrent) {
      continue;
    }
    running_.emplace(v.id, std::thread([this, id = v.id] { RunCycle(id); }));
    ++started;
  }
  return started;
}

void RemoteSyncScheduler::RunCycle(std::string volume_id) {
  auto finish = [&] {
    absl::MutexLock l(&mu_);
    auto it = running_.find(volume_id);
    if (it != running_.end()) {
      finished_.push_back(std::move(it->second));
      running_.erase(it);
    }
  };
  // The thread is in running_ once the emplace returns: wait for it.
  { absl::MutexLock l(&mu_); }
  auto cluster = cluster_();
  if (!cluster) return finish();
  auto volume = cluster->GetVolume(volume_id);
  if (!volume.ok()) return finish();
  auto policy = RemoteSyncPolicyFromAttributes(volume->attributes);
  if (!policy.ok() || !policy->has_value()) return finish();
  RemoteSyncStatus status = RemoteSyncStatusFromAttributes(volume->attributes);
  // Read again: another controller may have run it since the list.
  const int64_t now = NowUnixMs();
  if (!volume->serving || !Due(*volume, **policy, now)) return finish();

  // The lease: free, expired or ours already (a cycle of ours that could not
  // release it), else another controller runs this volume's cycles.
  auto held = volume->attributes.find(kAttrRemoteLease);
  const std::string current = held == volume->attributes.end() ? "" : held->second;
  auto lease = DecodeRemoteLease(current);
  if (lease && lease->owner != owner_ && lease->expires_unix_ms > now) return finish();
  std::string mine = EncodeRemoteLease({owner_, now + options_.lease_ttl.count()});
  // Taking it consumes a request to run now.
  if (!cluster
           ->SetAttributesIf(volume_id, {{kAttrRemoteLease, current}}, {{kAttrRemoteLease, mine}},
                             {kAttrRemoteRunNow})
           .ok()) {
    return finish();
  }

  RemoteSyncEnv env;
  env.owner = owner_;
  env.lease = &mine;
  env.lease_ttl = options_.lease_ttl;
  env.source = cluster.get();
  env.remote_name = (*policy)->remote;
  env.now_unix_ms = NowUnixMs;
  env.stopping = [this] {
    absl::MutexLock l(&mu_);
    return stopping_;
  };
  env.ship = options_.ship;
  env.ship.rate_bytes_per_second = (*policy)->rate_bytes_per_second;

  std::shared_ptr<StorageCluster> remote;
  auto remotes = cluster->ListRemotes();
  if (!remotes.ok()) {
    env.remote_error = remotes.status();
  } else {
    for (const auto& r : *remotes) {
      if (r.name == (*policy)->remote) remote = connect_(r);
    }
    if (!remote) {
      env.remote_error = absl::NotFoundError(absl::StrCat(
          "remote \"", (*policy)->remote, "\" is not defined in this cluster: `ctl remote add ",
          (*policy)->remote, " --storage-nodes HOST:PORT,...`"));
    }
  }
  env.remote = remote.get();
  RunRemoteSyncCycle(env, volume_id, **policy, status);
  finish();
}

}  // namespace syncblock::repl
