#include "replication/node/storage_node.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "replication/crypt/encrypted_device.h"
#include "replication/crypt/key_wrap.h"
#include "replication/engine/primary_engine.h"
#include "replication/nbd/nbd_access.h"
#include "replication/node/clone_copy.h"
#include "replication/security/tls_context.h"
#include "replication/types/removed_members.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

// NBD exports are the volumes this node is primary of, each behind its QoS
// limiter (set from the manifest here, so a new primary enforces the limits).
class NodeExports : public ExportProvider {
 public:
  explicit NodeExports(StorageNode* node) : node_(node) {}
  std::shared_ptr<BlockDevice> Open(const std::string& name) override {
    auto r = node_->FindReplica(name);
    if (!r) return nullptr;
    std::shared_ptr<BlockDevice> engine = r->engine();
    if (!engine) return nullptr;
    Manifest m = r->manifest();
    if (IsEncrypted(m.attributes)) {
      // Encryption under the QoS limiter: a read-modify-write counts once.
      auto crypt = node_->keys().Get(name);
      if (!crypt) return nullptr;  // Refusal() says why
      engine = std::make_shared<EncryptedDevice>(std::move(engine), std::move(crypt));
    }
    auto limiter = node_->qos().Configure(name, m.attributes);
    return std::make_shared<ThrottledDevice>(std::move(engine), std::move(limiter));
  }
  std::string Refusal(const std::string& name) override {
    auto r = node_->FindReplica(name);
    if (!r || !r->engine() || !IsEncrypted(r->manifest().attributes)) return "";
    if (node_->keys().Unlocked(name)) return "";
    return LockedMessage(name, node_->options().node_id);
  }
  std::vector<std::string> List() override {
    std::vector<std::string> out;
    for (auto& r : node_->Replicas()) {
      if (r->IsPrimary()) out.push_back(r->id());
    }
    return out;
  }

 private:
  StorageNode* node_;
};

std::string RandomGeneration() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char buf[33];
  snprintf(buf, sizeof(buf), "%016lx%016lx", static_cast<unsigned long>(gen()),
           static_cast<unsigned long>(gen()));
  return buf;
}

std::string Advertised(const std::string& explicit_address, const std::string& advertise_host,
                       const HostPort& listen) {
  if (!explicit_address.empty()) return explicit_address;
  HostPort hp = listen;
  if (!advertise_host.empty()) hp.host = advertise_host;
  return hp.ToString();
}

// RESOURCE_EXHAUSTED when the node has not the room for a new replica.
absl::Status CheckRoom(const std::string& node_id, const NodeCapacity& capacity,
                       const Manifest& requested) {
  if (capacity.available_bytes >= requested.size_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("node ", node_id, " has ", capacity.available_bytes, " bytes free, volume ",
                   requested.volume_id, " needs ", requested.size_bytes));
}

}  // namespace

StorageNode::StorageNode(StorageNodeOptions opts) : opts_(std::move(opts)) {
  opts_.engine.node_id = opts_.node_id;
  opts_.engine.on_role_change = [this](const std::string& volume_id, bool primary) {
    // Clients of an export this node lost must reconnect to the new primary.
    if (!primary && nbd_) nbd_->CloseExport(volume_id);
  };
  opts_.engine.data_key = [this](const std::string& volume_id) { return keys_.DataKey(volume_id); };
  exports_ = std::make_shared<NodeExports>(this);
  NbdServerOptions nbd = opts_.nbd;
  // A client's certificate opens the volumes published to it (nbd_access.h).
  nbd.authorizer = std::make_shared<nbd::PublicationAuthorizer>(
      [this](const std::string& volume) -> std::optional<std::map<std::string, std::string>> {
        auto r = FindReplica(volume);
        if (!r) return std::nullopt;
        return r->manifest().attributes;
      });
  nbd_ = std::make_unique<NbdServer>(exports_, nbd);
  replication_ = std::make_unique<ReplicationServer>(this);
}

StorageNode::~StorageNode() { Stop(); }

std::string StorageNode::VolumeDir(const std::string& volume_id) const {
  return opts_.data_dir + "/volumes/" + volume_id;
}

std::string StorageNode::TombstonePath(const std::string& volume_id) const {
  return opts_.data_dir + "/deleted/" + volume_id;
}

std::string StorageNode::StagingDir(const std::string& volume_id) const {
  return opts_.data_dir + "/staging/" + volume_id;
}

absl::Status StorageNode::CheckNodeIdentity() {
  std::error_code ec;
  std::filesystem::create_directories(opts_.data_dir + "/volumes", ec);
  std::filesystem::create_directories(opts_.data_dir + "/deleted", ec);
  // Clones a crash interrupted: their source is still there to clone again.
  std::filesystem::remove_all(opts_.data_dir + "/staging", ec);
  if (ec) return absl::InternalError(absl::StrCat("data dir ", opts_.data_dir, ": ", ec.message()));
  std::string path = opts_.data_dir + "/node.json";
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      auto j = nlohmann::json::parse(ss.str());
      std::string id = j.at("node_id").get<std::string>();
      if (id != opts_.node_id) {
        return absl::FailedPreconditionError(absl::StrCat(
            "data dir ", opts_.data_dir, " belongs to node '", id, "', not '", opts_.node_id, "'"));
      }
      return absl::OkStatus();
    } catch (const nlohmann::json::exception& e) {
      return absl::DataLossError(absl::StrCat(path, " is not valid: ", e.what()));
    }
  }
  nlohmann::json j = {{"node_id", opts_.node_id}, {"format_version", 1}};
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status StorageNode::LoadReplicas() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(opts_.data_dir + "/volumes", ec)) {
    if (!entry.is_directory()) continue;
    auto r = Replica::Open(entry.path().string(), opts_.engine);
    if (!r.ok()) {
      // One damaged replica must not keep the node's other volumes down.
      spdlog::error("replica in {} not loaded: {}", entry.path().string(), r.status().message());
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    replicas_[(*r)->id()] = *r;
  }
  if (ec) return absl::InternalError(absl::StrCat("list volumes: ", ec.message()));
  return absl::OkStatus();
}

absl::Status StorageNode::LoadTls() {
  const security::TlsFiles& f = opts_.tls;
  if (f.insecure) {
    spdlog::warn(
        "storage node {}: --insecure: replication connections are plaintext and "
        "unauthenticated",
        opts_.node_id);
    return absl::OkStatus();
  }
  if (f.ca.empty() && f.cert.empty() && f.key.empty()) {
    // Embedded nodes (tests) that set no TLS files at all; the daemon's flags
    // refuse this without --insecure.
    spdlog::warn("storage node {}: no TLS files: replication connections are plaintext",
                 opts_.node_id);
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(f.Validate());
  absl::StatusOr<std::shared_ptr<security::TlsContext>> tls = security::TlsContext::Load(f);
  if (!tls.ok()) return tls.status();
  tls_ = *std::move(tls);
  opts_.engine.tls = tls_;
  ReplicationServerOptions ro;
  ro.tls = tls_;
  ro.on_data_key = [this](const std::string& volume_id, const std::string& primary,
                          const std::string& data_key) {
    AdoptDataKey(volume_id, primary, data_key);
  };
  replication_ = std::make_unique<ReplicationServer>(this, ro);
  return absl::OkStatus();
}

void StorageNode::AdoptDataKey(const std::string& volume_id, const std::string& primary,
                               const std::string& data_key) {
  std::shared_ptr<Replica> r = FindReplica(volume_id);
  if (!r || r->witness()) return;
  absl::StatusOr<bool> adopted = keys_.Adopt(volume_id, r->manifest().attributes, data_key);
  if (!adopted.ok()) {
    spdlog::warn("volume {}: the data key from primary {} is not taken: {}", volume_id, primary,
                 adopted.status().message());
  } else if (*adopted) {
    spdlog::info("volume {}: unlocked by its primary {} (data key in memory)", volume_id, primary);
  }
}

absl::Status StorageNode::Start() {
  RETURN_IF_ERROR(CheckNodeIdentity());
  RETURN_IF_ERROR(LoadTls());
  RETURN_IF_ERROR(LoadReplicas());
  RETURN_IF_ERROR(replication_->Listen(opts_.replication_listen));
  // The NBD export speaks TLS unless the node runs --insecure. (A node made
  // with no TLS files at all, as unit tests make them, is plaintext too: the
  // daemon's flags refuse to start without files or --insecure.)
  const security::TlsFiles& tls = opts_.tls;
  if (!tls.insecure && !(tls.ca.empty() && tls.cert.empty() && tls.key.empty())) {
    auto ctx = security::TlsContext::Load(tls);
    if (!ctx.ok()) {
      return absl::Status(ctx.status().code(),
                          absl::StrCat("NBD export TLS: ", ctx.status().message()));
    }
    nbd_->UseTls(*std::move(ctx));
  }
  RETURN_IF_ERROR(nbd_->Listen(opts_.nbd_listen.host, opts_.nbd_listen.port));
  // Port 0 (tests) resolves to the real port only now.
  HostPort repl = opts_.replication_listen;
  repl.port = replication_->port();
  HostPort nbd = opts_.nbd_listen;
  nbd.port = nbd_->port();
  opts_.replication_address = Advertised(opts_.replication_address, opts_.advertise_host, repl);
  opts_.nbd_address = Advertised(opts_.nbd_address, opts_.advertise_host, nbd);
  for (auto& r : Replicas()) {
    if (absl::Status s = r->StartRole(); !s.ok()) {
      spdlog::error("volume {}: cannot resume as primary: {}", r->id(), s.message());
    }
  }
  started_ = true;
  spdlog::info("storage node {} (zone {}): {} replica(s), replication {}, nbd {}", opts_.node_id,
               opts_.zone, Replicas().size(), opts_.replication_address, opts_.nbd_address);
  return absl::OkStatus();
}

void StorageNode::SetServiceAddresses(std::string control, std::string metrics) {
  opts_.control_address = std::move(control);
  opts_.metrics_address = std::move(metrics);
}

void StorageNode::Stop() {
  started_ = false;
  replication_->Stop();
  nbd_->Stop();
  std::map<std::string, std::shared_ptr<Replica>> replicas;
  {
    std::lock_guard<std::mutex> lock(mu_);
    replicas.swap(replicas_);
  }
  for (auto& [id, r] : replicas) r->Shutdown();
}

MemberInfo StorageNode::Self() const {
  return {opts_.node_id, opts_.control_address, opts_.replication_address, opts_.nbd_address,
          opts_.zone};
}

NodeCapacity StorageNode::Capacity() const {
  NodeCapacity c;
  struct statvfs st {};
  if (statvfs(opts_.data_dir.c_str(), &st) == 0) {
    c.capacity_bytes = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
    c.available_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  }
  // Sparse replicas may still claim what they have not written.
  uint64_t promised = 0;
  for (auto& r : const_cast<StorageNode*>(this)->Replicas()) {
    if (r->witness()) continue;  // it claims nothing, ever
    struct stat sb {};
    std::string data = r->store().dir() + "/data";
    uint64_t size = r->manifest().size_bytes;
    uint64_t used = ::stat(data.c_str(), &sb) == 0 ? static_cast<uint64_t>(sb.st_blocks) * 512 : 0;
    promised += size > used ? size - used : 0;
  }
  c.available_bytes = c.available_bytes > promised ? c.available_bytes - promised : 0;
  return c;
}

std::string StorageNode::NbdUri(const std::string& volume_id) const {
  // nbds:// (libnbd's and qemu's name for NBD with TLS) when the export
  // requires TLS.
  return absl::StrCat(nbd_->tls() ? "nbds://" : "nbd://", opts_.nbd_address, "/", volume_id);
}

absl::Status StorageNode::ValidateNewReplica(const Manifest& requested) const {
  if (!ValidVolumeId(requested.volume_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume id '", requested.volume_id, "' is invalid: 1-128 of [A-Za-z0-9._-]"));
  }
  if (requested.size_bytes == 0 || requested.size_bytes % 512 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", requested.volume_id, ": size ",
                                                   requested.size_bytes,
                                                   " must be a positive multiple of 512"));
  }
  if (!requested.FindMember(opts_.node_id)) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", requested.volume_id, ": node ",
                                                   opts_.node_id, " is not among its members"));
  }
  if (!requested.FindMember(requested.primary_node_id)) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", requested.volume_id, ": primary ",
                                                   requested.primary_node_id, " is not a member"));
  }
  return absl::OkStatus();
}

Manifest StorageNode::NewReplicaManifest(const Manifest& requested, bool only_self_in_sync) const {
  Manifest m = requested;
  m.format_version = kManifestFormatVersion;
  if (m.region_size == 0) m.region_size = kDefaultRegionSize;
  if (m.data_generation.empty()) m.data_generation = RandomGeneration();
  if (only_self_in_sync) {
    m.member_generations = {{opts_.node_id, m.data_generation}};
    return m;
  }
  // Replicas created together are identical; each remembers so as primary.
  for (const auto& mem : m.members) {
    if (!m.member_generations.count(mem.node_id)) {
      m.member_generations[mem.node_id] = m.data_generation;
    }
  }
  return m;
}

absl::StatusOr<std::shared_ptr<Replica>> StorageNode::ExistingLocked(const Manifest& requested) {
  if (cloning_.count(requested.volume_id)) {
    return absl::AbortedError(
        absl::StrCat("volume ", requested.volume_id, " is being cloned on node ", opts_.node_id));
  }
  auto it = replicas_.find(requested.volume_id);
  if (it == replicas_.end()) return std::shared_ptr<Replica>();
  Manifest have = it->second->manifest();
  if (have.size_bytes != requested.size_bytes || have.members.size() != requested.members.size()) {
    return absl::AlreadyExistsError(
        absl::StrCat("volume ", requested.volume_id, " already exists on ", opts_.node_id,
                     " with size ", have.size_bytes, " and ", have.members.size(), " replica(s)"));
  }
  // A replica left behind (its node was down when it was removed) is no
  // witness, and a witness holds no data: neither can be taken for the other.
  if (have.IsWitness(opts_.node_id) != requested.IsWitness(opts_.node_id)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "volume ", requested.volume_id, " already has a ",
        have.IsWitness(opts_.node_id) ? "witness" : "data replica", " on ", opts_.node_id,
        " (left from an earlier membership): it must be deleted there before a ",
        requested.IsWitness(opts_.node_id) ? "witness" : "data replica", " can be put there"));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<Replica>> StorageNode::CreateReplica(const Manifest& requested) {
  RETURN_IF_ERROR(ValidateNewReplica(requested));
  // A replica left from before a promotion that accepted data loss (its
  // writes went another way): the volume's newer lineage replaces it.
  if (auto old = Get(requested.volume_id);
      old.ok() &&
      (RemovedVersion((*old)->manifest().attributes) < RemovedVersion(requested.attributes) ||
       IsRemovedMember((*old)->manifest().attributes, opts_.node_id))) {
    spdlog::warn(
        "volume {}: the replica here is from before a promotion that accepted data loss; "
        "deleting it for a fresh copy",
        requested.volume_id);
    RETURN_IF_ERROR(DeleteReplica(requested.volume_id));
  }
  std::shared_ptr<Replica> replica;
  NodeCapacity capacity = Capacity();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto existing, ExistingLocked(requested));
    if (existing) return existing;
    // A witness needs no room: it holds no data.
    if (!requested.IsWitness(opts_.node_id)) {
      RETURN_IF_ERROR(CheckRoom(opts_.node_id, capacity, requested));
    }
    Manifest m = NewReplicaManifest(requested, /*only_self_in_sync=*/false);
    std::filesystem::remove(TombstonePath(m.volume_id));
    ASSIGN_OR_RETURN(replica, Replica::Create(VolumeDir(m.volume_id), m, opts_.engine));
    replicas_[m.volume_id] = replica;
  }
  spdlog::info("volume {}: replica created ({} bytes, primary {}, epoch {})", requested.volume_id,
               requested.size_bytes, requested.primary_node_id, requested.epoch);
  RETURN_IF_ERROR(replica->StartRole());
  return replica;
}

absl::StatusOr<std::shared_ptr<Replica>> StorageNode::CreateClone(
    const Manifest& requested, const std::string& source_volume,
    const std::string& source_snapshot) {
  RETURN_IF_ERROR(ValidateNewReplica(requested));
  if (requested.primary_node_id != opts_.node_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "volume ", requested.volume_id, ": only the clone's primary copies its source, and node ",
        opts_.node_id, " is not its primary (", requested.primary_node_id, " is)"));
  }
  NodeCapacity capacity = Capacity();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto existing, ExistingLocked(requested));
    if (existing) return existing;
    RETURN_IF_ERROR(CheckRoom(opts_.node_id, capacity, requested));
    cloning_.insert(requested.volume_id);
  }
  auto made = MakeClone(requested, source_volume, source_snapshot);
  std::error_code ec;
  std::filesystem::remove_all(StagingDir(requested.volume_id), ec);
  {
    std::lock_guard<std::mutex> lock(mu_);
    cloning_.erase(requested.volume_id);
    if (!made.ok()) return made.status();
    replicas_[requested.volume_id] = *made;
  }
  RETURN_IF_ERROR((*made)->StartRole());
  return made;
}

absl::StatusOr<std::shared_ptr<Replica>> StorageNode::MakeClone(
    const Manifest& requested, const std::string& source_volume,
    const std::string& source_snapshot) {
  const std::string& id = requested.volume_id;
  ASSIGN_OR_RETURN(auto source, Get(source_volume));
  SnapshotChain& chain = source->store().snapshots();
  ASSIGN_OR_RETURN(SnapshotRecord record, chain.Get(source_snapshot));
  if (!record.complete) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot ", source_volume, "@",
                                                      source_snapshot, " is not complete on node ",
                                                      opts_.node_id, " yet"));
  }
  if (requested.size_bytes < record.size_bytes) {
    return absl::OutOfRangeError(absl::StrCat("volume ", id, ": size ", requested.size_bytes,
                                              " is smaller than snapshot ", source_volume, "@",
                                              source_snapshot, " (", record.size_bytes, " bytes)"));
  }
  Manifest m = NewReplicaManifest(requested, /*only_self_in_sync=*/true);
  // The copy is the source's ciphertext: the clone keeps its wrapped key.
  RETURN_IF_ERROR(
      InheritEncryption(source->manifest().attributes, &m.attributes, id, source_volume));
  const std::string staging = StagingDir(id);
  std::error_code ec;
  std::filesystem::remove_all(staging, ec);
  std::filesystem::create_directories(opts_.data_dir + "/staging", ec);
  if (ec) return absl::InternalError(absl::StrCat("staging dir for ", id, ": ", ec.message()));
  const auto start = std::chrono::steady_clock::now();
  CloneCopyStats stats;
  {
    ASSIGN_OR_RETURN(auto store, ReplicaStore::Create(staging, m));
    ASSIGN_OR_RETURN(stats, CopySnapshotInto(chain, source_snapshot, record.size_bytes, *store));
  }
  // The replica appears under volumes/ complete or not at all: a crash during
  // the copy leaves only the staging directory, cleared at the next start.
  std::filesystem::remove(TombstonePath(id), ec);
  ec.clear();
  std::filesystem::rename(staging, VolumeDir(id), ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("volume ", id, ": moving the clone in: ", ec.message()));
  ASSIGN_OR_RETURN(auto replica, Replica::Open(VolumeDir(id), opts_.engine));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("volume {}: cloned from {}@{} ({} bytes, {} read, {} written, {:.3f}s)", id,
               source_volume, source_snapshot, m.size_bytes, stats.bytes_read, stats.bytes_written,
               seconds);
  return replica;
}

absl::StatusOr<std::shared_ptr<Replica>> StorageNode::CreateReplicaFor(const HelloRequest& hello) {
  if (std::filesystem::exists(TombstonePath(hello.volume_id))) {
    return absl::NotFoundError(
        absl::StrCat("volume ", hello.volume_id, " was deleted on node ", opts_.node_id));
  }
  bool member = false;
  for (const auto& m : hello.members) member |= m.node_id == opts_.node_id;
  if (!member) {
    return absl::NotFoundError(
        absl::StrCat("node ", opts_.node_id, " is not a member of volume ", hello.volume_id));
  }
  Manifest m;
  m.volume_id = hello.volume_id;
  m.size_bytes = hello.size_bytes;
  m.region_size = hello.region_size;
  m.epoch = hello.epoch;
  m.primary_node_id = hello.primary_node_id;
  m.members = hello.members;
  m.attributes = hello.attributes;
  m.data_generation = RandomGeneration();  // a fresh, empty replica: full copy
  m.consistent = false;
  if (m.IsWitness(opts_.node_id)) {
    // The record this witness had is gone, and it may have named any data
    // replica: until the primary's own record arrives (right after this
    // hello), it names every one but that primary (failover.md, "Witness").
    for (const auto& mem : m.members) {
      if (!mem.witness && mem.node_id != m.primary_node_id) m.outdated.insert(mem.node_id);
    }
  }
  spdlog::warn("volume {}: no local replica; creating an empty one for primary {}", m.volume_id,
               m.primary_node_id);
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = replicas_.find(m.volume_id); it != replicas_.end()) return it->second;
  ASSIGN_OR_RETURN(auto replica, Replica::Create(VolumeDir(m.volume_id), m, opts_.engine));
  replicas_[m.volume_id] = replica;
  return replica;
}

absl::Status StorageNode::DeleteReplica(const std::string& volume_id) {
  std::shared_ptr<Replica> replica;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = replicas_.find(volume_id);
    if (it == replicas_.end()) return absl::OkStatus();
    replica = it->second;
    replicas_.erase(it);
    // A primary that still lists this node must not bring the replica back.
    std::ofstream(TombstonePath(volume_id)) << "deleted\n";
  }
  replica->Shutdown();
  qos_.Forget(volume_id);
  keys_.Forget(volume_id);
  std::string dir = replica->store().dir();
  replica.reset();
  RETURN_IF_ERROR(ReplicaStore::Destroy(dir));
  spdlog::info("volume {}: replica deleted", volume_id);
  return absl::OkStatus();
}

std::vector<std::shared_ptr<Replica>> StorageNode::Replicas() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Replica>> out;
  for (auto& [id, r] : replicas_) out.push_back(r);
  return out;
}

std::shared_ptr<Replica> StorageNode::FindReplica(const std::string& volume_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = replicas_.find(volume_id);
  return it == replicas_.end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<Replica>> StorageNode::Get(const std::string& volume_id) {
  auto r = FindReplica(volume_id);
  if (!r) {
    return absl::NotFoundError(
        absl::StrCat("volume ", volume_id, " has no replica on node ", opts_.node_id));
  }
  return r;
}

}  // namespace syncblock::repl
