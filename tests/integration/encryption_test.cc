// Encryption at rest on a real three-node local cluster, with real NBD
// clients (qemu-io, nbdcopy): what an encrypted volume's replicas, snapshots,
// clones and resync leave on disk is ciphertext on every node, while NBD
// clients read their plaintext; a wrong key and a locked volume are precise
// errors; and neither the secret nor the data key appears in any log, data
// file or `ctl` output of the run (replication/doc/encryption.md).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "replication/crypt/key_wrap.h"
#include "tests/csi/node_test_cleanup.h"
#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kMarker[] = "syncblock-encryption-marker-";
constexpr uint64_t kMiB = 1 << 20;

std::string RandomSecret() {
  std::random_device rd;
  std::string s = "leak-test-secret-";
  for (int i = 0; i < 24; ++i) s.push_back("abcdefghijklmnopqrstuvwxyz0123456789"[rd() % 36]);
  return s;
}

// Every regular file under `dir`.
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec)) out.push_back(it->path().string());
  }
  return out;
}

// The files under `dir` that contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& f : FilesUnder(dir)) {
    if (ReadFile(f).find(needle) != std::string::npos) hits.push_back(f);
  }
  return hits;
}

class EncryptionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(3);
    tmp_ = new TempDir();
    secret_ = RandomSecret();
    WriteFile(KeyFile(), secret_ + "\n");  // as `echo` writes it
    WriteFile(tmp_->Join("wrong.key"), "not-the-key\n");
    // 1 MiB of numbered marker lines: a plaintext nobody could miss.
    std::string marker;
    for (int i = 0; marker.size() < kMiB; ++i) absl::StrAppend(&marker, kMarker, i, "\n");
    marker.resize(kMiB);
    WriteFile(tmp_->Join("marker.bin"), marker);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete tmp_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(cluster_->ok()) << cluster_->up_output();
    if (!HaveTool("qemu-io") || !HaveTool("nbdcopy")) GTEST_SKIP() << "needs qemu-io and nbdcopy";
  }
  void TearDown() override { ExpectNoLeak(); }

  static const LocalCluster& C() { return *cluster_; }
  static std::string KeyFile() { return tmp_->Join("volume.key"); }
  static std::string WrongKeyFile() { return tmp_->Join("wrong.key"); }

  // `ctl ARGS`, its output kept for the leak check.
  static CommandResult Ctl(const std::string& args) {
    CommandResult r = C().Ctl(args);
    outputs_ += r.output;
    return r;
  }
  static json Show(const std::string& volume) {
    json j = C().CtlJson("volume show " + volume);
    outputs_ += j.dump();
    return j;
  }
  static CommandResult QemuIo(const std::string& volume, const std::string& cmd) {
    return RunCommand("qemu-io -f raw -c '" + cmd + "' '" + C().Export(volume) + "'",
                      std::chrono::seconds(60));
  }
  static std::string ReadAll(const std::string& volume) {
    std::string file = tmp_->Join(volume + ".img");
    auto r = RunCommand("nbdcopy '" + C().Export(volume) + "' " + file, std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::string data = ReadFile(file);
    std::filesystem::remove(file);
    return data;
  }
  static bool Filled(const std::string& data, uint64_t offset, uint64_t len, int pattern) {
    if (offset + len > data.size()) return false;
    for (uint64_t i = offset; i < offset + len; ++i) {
      if (static_cast<unsigned char>(data[i]) != pattern) return false;
    }
    return true;
  }
  // Nothing on any node's disk holds the plaintext: not the marker, not a
  // block of the 0x5a pattern.
  static void ExpectOnlyCiphertextOnDisk() {
    const std::string data = C().dir() + "/data";
    EXPECT_THAT(FilesContaining(data, kMarker), ::testing::IsEmpty());
    EXPECT_THAT(FilesContaining(data, std::string(4096, '\x5a')), ::testing::IsEmpty());
  }
  // The data keys of every encrypted volume, unwrapped from a manifest on
  // disk with the secret (to look for them, in every form, where they must
  // not be).
  static std::vector<std::string> DataKeys() {
    std::vector<std::string> keys;
    for (const auto& f : FilesUnder(C().dir() + "/data")) {
      if (std::filesystem::path(f).filename() != "manifest.json") continue;
      json m = json::parse(ReadFile(f), nullptr, false);
      if (m.is_discarded() || !m.contains("attributes") ||
          !m["attributes"].contains(repl::kAttrWrappedKey)) {
        continue;
      }
      auto key = repl::UnwrapDataKey(m["attributes"][repl::kAttrWrappedKey].get<std::string>(),
                                     secret_, m["volume_id"].get<std::string>());
      if (key.ok()) keys.push_back(*key);
    }
    return keys;
  }
  // Item 5 of issue 11: neither the secret nor a data key, raw, hex or
  // base64, in any log of the run, any file of the data directories, or any
  // `ctl` output.
  static void ExpectNoLeak() {
    // The search itself finds what is there: the key file holds the secret.
    ASSERT_THAT(FilesContaining(tmp_->path(), secret_), ::testing::Contains(KeyFile()));
    std::vector<std::string> needles = {secret_, absl::BytesToHexString(secret_),
                                        absl::Base64Escape(secret_)};
    for (const auto& k : DataKeys()) {
      for (const auto& form :
           {k, absl::BytesToHexString(k), absl::Base64Escape(k),
            absl::AsciiStrToUpper(absl::BytesToHexString(k)),
            // either half (the XTS data and tweak keys)
            absl::BytesToHexString(k.substr(0, 32)), absl::BytesToHexString(k.substr(32))}) {
        needles.push_back(form);
      }
    }
    for (const auto& f : FilesUnder(C().dir())) {
      if (f.rfind(tmp_->path(), 0) == 0) continue;
      std::string text = ReadFile(f);
      for (const auto& n : needles) EXPECT_EQ(text.find(n), std::string::npos) << "leak in " << f;
    }
    for (const auto& n : needles) EXPECT_EQ(outputs_.find(n), std::string::npos) << "ctl output";
  }

  static LocalCluster* cluster_;
  static TempDir* tmp_;
  static std::string secret_;
  static std::string outputs_;
};

LocalCluster* EncryptionTest::cluster_ = nullptr;
TempDir* EncryptionTest::tmp_ = nullptr;
std::string EncryptionTest::secret_;
std::string EncryptionTest::outputs_;

TEST_F(EncryptionTest, ReplicasSnapshotsClonesAndResyncHoldOnlyCiphertext) {
  auto created =
      Ctl("volume create enc --size 16M --replicas 3 --encrypted --key-file " + KeyFile());
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_THAT(created.output, HasSubstr("Crypt:    encrypted (aes-256-xts), unlocked"));
  ASSERT_TRUE(C().WaitInSync("enc"));
  json v = Show("enc");
  EXPECT_EQ(v["encrypted"], true);
  EXPECT_EQ(v["locked"], false);
  EXPECT_FALSE(v["attributes"].contains(repl::kAttrWrappedKey));
  // Every replica's manifest holds the wrapped key, which the secret opens
  // (the leak check looks for these data keys).
  EXPECT_EQ(DataKeys().size(), 3u);

  // Whole blocks, and an unaligned write (read-modify-write of two blocks).
  auto w = QemuIo("enc", "write -s " + tmp_->Join("marker.bin") + " 0 1M");
  ASSERT_EQ(w.exit_code, 0) << w.output;
  w = QemuIo("enc", "write -P 0x5a 1049000 70000");
  ASSERT_EQ(w.exit_code, 0) << w.output;
  ASSERT_EQ(Ctl("snapshot create enc s1").exit_code, 0);

  // A secondary misses writes, then comes back: the resync copies them.
  std::string secondary = v["replicas"][1]["node"];
  ASSERT_TRUE(C().Kill(secondary));
  w = QemuIo("enc", "write -s " + tmp_->Join("marker.bin") + " 8M 1M");
  ASSERT_EQ(w.exit_code, 0) << w.output;
  ASSERT_TRUE(C().Start(secondary));
  ASSERT_TRUE(C().WaitInSync("enc")) << secondary << " never back in sync";
  auto verify = Ctl("verify enc");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr("identical"));

  // A clone of the snapshot: the source's ciphertext and wrapped key, so the
  // same secret opens it.
  auto clone =
      Ctl("volume create enc-clone --from-snapshot enc@s1 --replicas 3 --key-file " + KeyFile());
  ASSERT_EQ(clone.exit_code, 0) << clone.output;
  ASSERT_TRUE(C().WaitInSync("enc-clone"));
  EXPECT_EQ(Show("enc-clone")["encrypted"], true);

  const std::string marker = ReadFile(tmp_->Join("marker.bin"));
  std::string live = ReadAll("enc");
  ASSERT_EQ(live.size(), 16 * kMiB);
  EXPECT_EQ(live.substr(0, kMiB - 1000), marker.substr(0, kMiB - 1000));
  EXPECT_TRUE(Filled(live, 1049000, 70000, 0x5a));
  EXPECT_EQ(live.substr(8 * kMiB, kMiB), marker);
  EXPECT_TRUE(Filled(live, 2 * kMiB, kMiB, 0));  // never written: zeros

  // The primary dies: a secondary, unlocked since the creation, takes over
  // and serves the plaintext; the old primary comes back locked, and its new
  // primary hands it the data key over their TLS link.
  const std::string old_primary = Show("enc")["primary"];
  ASSERT_TRUE(C().Kill(old_primary));
  ASSERT_TRUE(WaitFor(
      [&] {
        json s = Show("enc");
        return s["primary"] != old_primary && s["serving"] == true;
      },
      std::chrono::seconds(60)));
  EXPECT_EQ(ReadAll("enc").substr(8 * kMiB, kMiB), marker);
  ASSERT_TRUE(C().Start(old_primary));
  ASSERT_TRUE(C().WaitInSync("enc"));
  json locked;
  EXPECT_TRUE(WaitFor(
      [&] {
        locked = Show("enc")["locked_on"];
        return locked.empty();
      },
      std::chrono::seconds(30)))
      << locked;
  EXPECT_THAT(ReadFile(C().dir() + "/logs/" + old_primary + ".log"),
              HasSubstr("volume enc: unlocked by its primary"));
  // So it can take the role back and serve the plaintext, with no unlock.
  auto moved = Ctl("promote enc " + old_primary);
  ASSERT_EQ(moved.exit_code, 0) << moved.output;
  EXPECT_EQ(ReadAll("enc").substr(8 * kMiB, kMiB), marker);

  std::string copy = ReadAll("enc-clone");
  ASSERT_EQ(copy.size(), 16 * kMiB);
  EXPECT_EQ(copy.substr(0, kMiB - 1000), marker.substr(0, kMiB - 1000));
  EXPECT_TRUE(Filled(copy, 1049000, 70000, 0x5a));
  EXPECT_TRUE(Filled(copy, 8 * kMiB, kMiB, 0));  // written after the snapshot

  ExpectOnlyCiphertextOnDisk();
}

TEST_F(EncryptionTest, WrongKeyIsAPreciseErrorNeverData) {
  ASSERT_EQ(Ctl("volume create enc2 --size 8M --replicas 2 --encrypted --key-file " + KeyFile())
                .exit_code,
            0);
  auto wrong = Ctl("volume unlock enc2 --key-file " + WrongKeyFile());
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_THAT(wrong.output, HasSubstr("volume enc2 is encrypted and the key given is not its key"));
  auto right = Ctl("volume unlock enc2 --key-file " + KeyFile());
  EXPECT_EQ(right.exit_code, 0) << right.output;

  // A clone stays encrypted, under its source's key only.
  auto clone = Ctl("volume create enc2-clone --from-volume enc2 --key-file " + WrongKeyFile());
  EXPECT_NE(clone.exit_code, 0);
  EXPECT_THAT(clone.output, HasSubstr("is encrypted and the key given is not its key"));
  // A plain volume's clone cannot claim to be encrypted.
  ASSERT_EQ(Ctl("volume create plain --size 8M --replicas 1").exit_code, 0);
  auto fake =
      Ctl("volume create plain-enc --from-volume plain --encrypted --key-file " + KeyFile());
  EXPECT_NE(fake.exit_code, 0);
  EXPECT_THAT(fake.output, HasSubstr("which is not encrypted"));
  // The encryption attributes cannot be changed afterwards.
  EXPECT_EQ(Show("plain")["encrypted"], false);
}

TEST_F(EncryptionTest, RestartedNodeIsLockedUntilUnlocked) {
  ASSERT_EQ(Ctl("volume create solo --size 8M --replicas 1 --nodes node-2 --encrypted --key-file " +
                KeyFile())
                .exit_code,
            0);
  auto w = QemuIo("solo", "write -P 0x5a 0 64k");
  ASSERT_EQ(w.exit_code, 0) << w.output;
  ASSERT_TRUE(C().Kill("node-2"));
  ASSERT_TRUE(C().Start("node-2"));
  ASSERT_TRUE(WaitFor([&] { return Show("solo")["locked"] == true; }, std::chrono::seconds(30)));
  auto show = Ctl("volume show solo");
  EXPECT_THAT(show.output, HasSubstr("locked on node-2"));

  // The NBD client is told why, in the handshake.
  auto refused = QemuIo("solo", "read -P 0x5a 0 64k");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("volume solo is encrypted and locked on node node-2"));

  auto unlock = Ctl("volume unlock solo --key-file " + KeyFile());
  ASSERT_EQ(unlock.exit_code, 0) << unlock.output;
  EXPECT_THAT(unlock.output, HasSubstr("unlocked on node-2"));
  auto r = QemuIo("solo", "read -P 0x5a 0 64k");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("Pattern verification failed")));
  ExpectOnlyCiphertextOnDisk();
}

// Plaintext replication links (--insecure) carry no data key: a restarted
// node stays locked until it is unlocked with the secret.
TEST(EncryptionPlaintextTest, ARestartedNodeStaysLockedWithoutTls) {
  LocalCluster c(2, "--no-csi --insecure");
  ASSERT_TRUE(c.ok()) << c.up_output();
  TempDir tmp;
  WriteFile(tmp.Join("k"), RandomSecret());
  auto made = c.Ctl("volume create plain-links --size 8M --replicas 2 --encrypted --key-file " +
                    tmp.Join("k"));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  json v = c.CtlJson("volume show plain-links");
  const std::string primary = v["primary"];
  const std::string secondary = primary == "node-1" ? "node-2" : "node-1";
  ASSERT_TRUE(c.Kill(secondary));
  ASSERT_TRUE(c.Start(secondary));
  ASSERT_TRUE(c.WaitInSync("plain-links"));
  json locked = c.CtlJson("volume show plain-links")["locked_on"];
  EXPECT_EQ(locked, json::array({secondary})) << locked;
  auto unlock = c.Ctl("volume unlock plain-links --key-file " + tmp.Join("k"));
  ASSERT_EQ(unlock.exit_code, 0) << unlock.output;
  EXPECT_TRUE(c.CtlJson("volume show plain-links")["locked_on"].empty());
}

// The CSI controller's path: the key comes in CreateVolume's and
// ControllerPublishVolume's secrets (`ctl csi ... --key-file` sends it as
// encryptionPassphrase, as the sidecars send a StorageClass's Secret).
class EncryptionCsiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveTool("qemu-io")) GTEST_SKIP() << "needs qemu-io";
  }
};

TEST_F(EncryptionCsiTest, CreateAndPublishTakeTheKeyFromTheSecrets) {
  LocalCluster c(3, "--require-csi");
  ASSERT_TRUE(c.ok()) << c.up_output();
  TempDir tmp;
  const std::string secret = RandomSecret();
  WriteFile(tmp.Join("k"), secret);
  WriteFile(tmp.Join("bad"), "bad-key");
  std::string outputs;
  auto ctl = [&](const std::string& args) {
    auto r = c.Ctl(args);
    outputs += r.output;
    return r;
  };

  auto nokey = ctl("csi create pvc-enc --size 16M --block --param encrypted=true");
  EXPECT_NE(nokey.exit_code, 0);
  EXPECT_THAT(nokey.output, HasSubstr("needs the key 'encryptionPassphrase'"));

  auto made = ctl("csi create pvc-enc --size 16M --block --param encrypted=true --key-file " +
                  tmp.Join("k"));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  json v = c.CtlJson("volume show pvc-enc");
  EXPECT_EQ(v["encrypted"], true);
  EXPECT_EQ(v["locked"], false);

  // Every node restarts (a power cut): nobody holds the key, all are locked;
  // a publish with the key unlocks them again.
  for (const char* node : {"node-1", "node-2", "node-3"}) ASSERT_TRUE(c.Kill(node));
  for (const char* node : {"node-1", "node-2", "node-3"}) ASSERT_TRUE(c.Start(node));
  ASSERT_TRUE(WaitFor([&] { return c.CtlJson("volume show pvc-enc")["locked_on"].size() == 3; },
                      std::chrono::seconds(60)))
      << c.CtlJson("volume show pvc-enc").dump();
  auto bad = ctl("csi publish pvc-enc --block --key-file " + tmp.Join("bad"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.output, HasSubstr("is encrypted and the key given is not its key"));
  auto pub = ctl("csi publish pvc-enc --block --key-file " + tmp.Join("k"));
  ASSERT_EQ(pub.exit_code, 0) << pub.output;
  EXPECT_TRUE(c.CtlJson("volume show pvc-enc")["locked_on"].empty());
  auto w = RunCommand("qemu-io -f raw -c 'write -P 0x5a 0 64k' '" + c.Export("pvc-enc") + "'",
                      std::chrono::seconds(60));
  EXPECT_EQ(w.exit_code, 0) << w.output;
  EXPECT_THAT(FilesContaining(c.dir() + "/data", std::string(4096, '\x5a')), ::testing::IsEmpty());

  // Staged by the node plugin with the key (NodeStage's secrets), which it
  // keeps in memory: after another power cut its health loop finds the
  // primary locked and unlocks the volume by itself, and the staged device
  // serves again, with nobody publishing or unlocking.
  if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
    if (std::getenv("CI") != nullptr) FAIL() << "staging needs root and /dev/fuse";
    GTEST_SKIP() << "staging needs root and /dev/fuse";
  }
  csi::NodeArtifactsGuard guard(tmp.path());
  const std::string staging = tmp.Join("staging");
  auto staged = ctl("csi stage pvc-enc --block --auto-publish --staging-path " + staging +
                    " --key-file " + tmp.Join("k"));
  ASSERT_EQ(staged.exit_code, 0) << staged.output;
  for (const char* node : {"node-1", "node-2", "node-3"}) ASSERT_TRUE(c.Kill(node));
  for (const char* node : {"node-1", "node-2", "node-3"}) ASSERT_TRUE(c.Start(node));
  const std::string csi_log = c.dir() + "/logs/csi.log";
  EXPECT_TRUE(WaitFor(
      [&] {
        return ReadFile(csi_log).find(
                   "volume pvc-enc: was locked on its replicas; unlocked with "
                   "its NodeStage secret") != std::string::npos;
      },
      std::chrono::seconds(120)))
      << ReadFile(csi_log).substr(0, 20000);
  EXPECT_TRUE(WaitFor([&] { return c.CtlJson("volume show pvc-enc")["locked_on"].empty(); },
                      std::chrono::seconds(30)));
  auto r = RunCommand("qemu-io -f raw -c 'read -P 0x5a 0 64k' '" + c.Export("pvc-enc") + "'",
                      std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("Pattern verification failed")));
  auto unstaged = ctl("csi unstage pvc-enc --staging-path " + staging);
  EXPECT_EQ(unstaged.exit_code, 0) << unstaged.output;

  // The secret in no log (csi.log included), data file or output.
  for (const auto& f : FilesUnder(c.dir())) {
    EXPECT_EQ(ReadFile(f).find(secret), std::string::npos) << "leak in " << f;
  }
  EXPECT_EQ(outputs.find(secret), std::string::npos);
}

}  // namespace
}  // namespace syncblock::testing
