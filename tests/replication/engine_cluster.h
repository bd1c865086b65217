// An in-process replicated volume for engine tests: three real Replica
// objects, each behind its own ReplicationServer on a loopback port, the
// first one primary with a real PrimaryEngine. Nodes can be taken away (their
// server stopped and replica closed) and brought back from their directory,
// as a killed storage process would be.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "replication/engine/primary_engine.h"
#include "replication/engine/replica.h"
#include "replication/engine/replication_server.h"
#include "tests/support/fault_injection_env.h"
#include "tests/support/test_util.h"

namespace syncblock::repl::testing {

class EngineCluster {
 public:
  static constexpr uint64_t kRegion = 64 << 10;

  struct Node : public ReplicaRegistry {
    std::string id;
    std::string dir;
    int port = 0;
    std::shared_ptr<Replica> replica;
    std::unique_ptr<ReplicationServer> server;
    // The node's disk: faults are injected here.
    syncblock::testing::FaultInjectionEnv env;
    // Its TLS identity (null: plaintext), for its server and the links it dials.
    std::shared_ptr<security::TlsContext> tls;
    // The data keys its server was handed in hellos: "volume/primary/key".
    std::vector<std::string> data_keys() {
      std::lock_guard<std::mutex> l(keys_mu);
      return keys;
    }
    std::mutex keys_mu;
    std::vector<std::string> keys;

    std::shared_ptr<Replica> FindReplica(const std::string& volume_id) override {
      return replica && replica->id() == volume_id ? replica : nullptr;
    }
    absl::StatusOr<std::shared_ptr<Replica>> CreateReplicaFor(const HelloRequest&) override {
      return absl::NotFoundError("the test cluster creates no replicas on demand");
    }
  };

  // Each node's TLS context by its id (nullptr, or no function: plaintext).
  using TlsFor = std::function<std::shared_ptr<security::TlsContext>(const std::string& node_id)>;

  // `witness`: the index of the node that is the volume's witness
  // (failover.md, "Witness"), -1 for none. `tweak` changes every node's
  // engine options (a dialer, timeouts) before anything starts. `tls_for`
  // gives the nodes their certificates; `wait_in_sync` false when a test
  // expects some peer never to join. `shape` changes the volume's manifest
  // before any replica is made (asynchronous members, attributes).
  explicit EngineCluster(uint64_t size, int nodes = 3, int witness = -1,
                         const std::function<void(EngineOptions&)>& tweak = nullptr,
                         const TlsFor& tls_for = nullptr, bool wait_in_sync = true,
                         const std::function<void(Manifest&)>& shape = nullptr) {
    opts_.io_timeout = std::chrono::milliseconds(3000);
    opts_.reconnect_interval = std::chrono::milliseconds(100);
    opts_.connect_timeout = std::chrono::milliseconds(500);
    opts_.resync_rate = 0;
    if (tweak) tweak(opts_);
    for (int i = 0; i < nodes; ++i) {
      auto n = std::make_unique<Node>();
      n->id = "node-" + std::to_string(i);
      n->dir = dir_.Join(n->id);
      if (tls_for) n->tls = tls_for(n->id);
      n->server = std::make_unique<ReplicationServer>(n.get(), ServerOptions(*n));
      absl::Status s = n->server->Listen({"127.0.0.1", 0});
      EXPECT_TRUE(s.ok()) << s;
      n->port = n->server->port();
      nodes_.push_back(std::move(n));
    }
    Manifest m;
    m.volume_id = "vol";
    m.size_bytes = size;
    m.region_size = kRegion;
    m.epoch = 1;
    m.primary_node_id = nodes_[0]->id;
    m.data_generation = "gen";
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const auto& n = nodes_[i];
      const bool is_witness = static_cast<int>(i) == witness;
      m.members.push_back({n->id, "", "127.0.0.1:" + std::to_string(n->port), "", "", is_witness});
      if (i != 0 && !is_witness) m.member_generations[n->id] = "gen";
    }
    if (shape) shape(m);
    for (auto& n : nodes_) {
      auto r = Replica::Create(n->dir + "/vol", m, Options(n->id));
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) n->replica = *r;
    }
    absl::Status s = nodes_[0]->replica->StartRole();
    EXPECT_TRUE(s.ok()) << s;
    if (wait_in_sync) {
      EXPECT_TRUE(WaitInSync());
    }
  }

  ~EngineCluster() {
    for (auto& n : nodes_) {
      if (n->replica) n->replica->Shutdown();
    }
    for (auto& n : nodes_) n->server->Stop();
  }

  EngineOptions Options(const std::string& node_id) const {
    EngineOptions o = opts_;
    o.node_id = node_id;
    for (const auto& n : nodes_) {
      if (n->id == node_id) {
        o.env = &n->env;
        o.tls = n->tls;
      }
    }
    return o;
  }

  static ReplicationServerOptions ServerOptions(Node& n) {
    ReplicationServerOptions o;
    o.tls = n.tls;
    o.on_data_key = [&n](const std::string& volume, const std::string& primary,
                         const std::string& key) {
      std::lock_guard<std::mutex> l(n.keys_mu);
      n.keys.push_back(volume + "/" + primary + "/" + key);
    };
    return o;
  }

  Node& node(int i) { return *nodes_[i]; }
  Replica& replica(int i) { return *nodes_[i]->replica; }
  std::shared_ptr<PrimaryEngine> engine() { return nodes_[0]->replica->engine(); }

  // Every peer in sync with the primary.
  bool WaitInSync(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return syncblock::testing::WaitFor(
        [&] {
          auto e = engine();
          if (!e) return false;
          EngineView v = e->View();
          if (!v.active) return false;
          for (const auto& p : v.peers) {
            if (p.state != PeerState::kInSync || p.unacked != 0) return false;
          }
          return true;
        },
        timeout);
  }

  // Takes node `i` away as a killed process: its connections drop, its
  // replica closes; its files stay.
  void Stop(int i) {
    Node& n = *nodes_[i];
    n.server->Stop();
    if (n.replica) n.replica->Shutdown();
    n.replica.reset();
  }

  // Brings node `i` back from its directory on the same port.
  void Start(int i) {
    Node& n = *nodes_[i];
    auto r = Replica::Open(n.dir + "/vol", Options(n.id));
    ASSERT_TRUE(r.ok()) << r.status();
    n.replica = *r;
    n.server = std::make_unique<ReplicationServer>(&n, ServerOptions(n));
    absl::Status s = n.server->Listen({"127.0.0.1", n.port});
    ASSERT_TRUE(s.ok()) << s;
    s = n.replica->StartRole();
    ASSERT_TRUE(s.ok()) << s;
  }

  absl::Status Io(IoOp op, uint64_t offset, std::string data, uint32_t length = 0) {
    auto req = std::make_shared<IoRequest>();
    req->op = op;
    req->offset = offset;
    req->length = op == IoOp::kWrite ? static_cast<uint32_t>(data.size()) : length;
    req->data = std::move(data);
    std::promise<absl::Status> done;
    auto f = done.get_future();
    req->done = [&done](IoRequest& r) { done.set_value(r.status); };
    auto e = engine();
    if (!e) return absl::UnavailableError("no primary engine");
    e->Submit(req);
    return f.get();
  }
  absl::Status Write(uint64_t offset, std::string data) {
    return Io(IoOp::kWrite, offset, std::move(data));
  }

  // CRC32C of the whole snapshot as node `i` holds it.
  absl::StatusOr<uint32_t> SnapshotCrc(int i, const std::string& name) {
    SnapshotChain& chain = replica(i).store().snapshots();
    auto rec = chain.Get(name);
    if (!rec.ok()) return rec.status();
    return chain.Checksum(name, 0, rec->size_bytes);
  }

  std::string ReadSnapshot(int i, const std::string& name, uint64_t offset, size_t len) {
    std::string out(len, '?');
    absl::Status s = replica(i).store().snapshots().Read(name, offset, out.data(), len);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  std::string ReadLive(int i, uint64_t offset, size_t len) {
    std::string out(len, '?');
    absl::Status s = replica(i).store().Read(offset, out.data(), len);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

 private:
  syncblock::testing::TempDir dir_;
  EngineOptions opts_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace syncblock::repl::testing
