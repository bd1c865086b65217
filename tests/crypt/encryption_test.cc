// Unit tests of replication/crypt/ (encryption at rest,
// replication/doc/encryption.md): the cipher against IEEE 1619's known
// answers, the data key's wrapping, the block locks, and the encrypted device
// over a file device. Their own binary, crypt_tests.
#include <gtest/gtest.h>

#include <future>
#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "replication/crypt/block_range_lock.h"
#include "replication/crypt/encrypted_device.h"
#include "replication/crypt/key_ring.h"
#include "replication/crypt/key_wrap.h"
#include "replication/crypt/xts_cipher.h"
#include "tests/replication/nbd_test_device.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

std::string Hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string Random(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

// IEEE P1619/D16 (XTS-AES), vector 10: XTS-AES-256, data unit sequence
// number 0xff, plaintext 00 01 .. ff 00 01 .. (the first 128 bytes of its
// 512-byte data unit; XTS encrypts each 16-byte block on its own position).
TEST(XtsCipherTest, Ieee1619Vector10) {
  std::string key =
      Hex("2718281828459045235360287471352662497757247093699959574966967627"
          "3141592653589793238462643383279502884197169399375105820974944592");
  std::string plain(128, '\0');
  for (size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<char>(i);
  std::string expected =
      Hex("1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b"
          "5d31e276f8fe4a8d66b317f9ac683f44680a86ac35adfc3345befecb4bb188fd"
          "5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0"
          "c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca");
  auto c = XtsCipher::Create(key);
  ASSERT_TRUE(c.ok()) << c.status();
  std::string out(plain.size(), '\0');
  ASSERT_TRUE((*c)->Encrypt(0xff, plain.data(), out.data(), out.size()).ok());
  EXPECT_EQ(out, expected);
  std::string back(out.size(), '\0');
  ASSERT_TRUE((*c)->Decrypt(0xff, out.data(), back.data(), back.size()).ok());
  EXPECT_EQ(back, plain);
}

TEST(XtsCipherTest, RefusesBadKeys) {
  EXPECT_EQ(XtsCipher::Create(std::string(32, 'k')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(XtsCipher::Create(std::string(64, 'k')).status().code(),
            absl::StatusCode::kInvalidArgument);  // equal halves
}

TEST(XtsCipherTest, BlocksRoundTripTweakByBlockNumberAndZeroBlocksStayZero) {
  auto key = NewDataKey();
  ASSERT_TRUE(key.ok());
  auto c = XtsCipher::Create(*key);
  ASSERT_TRUE(c.ok());
  std::string plain = Random(3 * kCryptBlockSize, 1);
  // Block 1 of the plaintext is zeros: it is stored as zeros.
  std::fill(plain.begin() + kCryptBlockSize, plain.begin() + 2 * kCryptBlockSize, '\0');
  std::string cipher(plain.size(), '\0');
  ASSERT_TRUE((*c)->EncryptBlocks(7, plain.data(), cipher.data(), cipher.size()).ok());
  EXPECT_NE(cipher.substr(0, kCryptBlockSize), plain.substr(0, kCryptBlockSize));
  EXPECT_TRUE(AllZero(cipher.data() + kCryptBlockSize, kCryptBlockSize));
  EXPECT_FALSE(AllZero(cipher.data() + 2 * kCryptBlockSize, kCryptBlockSize));
  // The same plaintext at another block number encrypts differently.
  std::string other(kCryptBlockSize, '\0');
  ASSERT_TRUE((*c)->EncryptBlocks(8, plain.data(), other.data(), other.size()).ok());
  EXPECT_NE(other, cipher.substr(0, kCryptBlockSize));
  std::string back(plain.size(), '\0');
  ASSERT_TRUE((*c)->DecryptBlocks(7, cipher.data(), back.data(), back.size()).ok());
  EXPECT_EQ(back, plain);
  // In place, too.
  ASSERT_TRUE((*c)->DecryptBlocks(7, cipher.data(), cipher.data(), cipher.size()).ok());
  EXPECT_EQ(cipher, plain);
  EXPECT_FALSE((*c)->EncryptBlocks(0, plain.data(), back.data(), 100).ok());
}

TEST(KeyWrapTest, UnwrapsWithTheSecretOnly) {
  auto key = NewDataKey();
  ASSERT_TRUE(key.ok());
  auto wrapped = WrapDataKey(*key, "correct horse", 1000);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  // The wrapped form shows neither the key nor the secret.
  EXPECT_EQ(wrapped->find("correct horse"), std::string::npos);
  EXPECT_EQ(wrapped->find(absl::BytesToHexString(*key)), std::string::npos);

  auto back = UnwrapDataKey(*wrapped, "correct horse", "vol-a");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *key);
  // A key file written by echo: one trailing newline is not part of it.
  EXPECT_TRUE(UnwrapDataKey(*wrapped, "correct horse\n", "vol-a").ok());

  auto wrong = UnwrapDataKey(*wrapped, "battery staple", "vol-a");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(
      wrong.status().message().find("volume vol-a is encrypted and the key given is not its key"),
      std::string::npos)
      << wrong.status();
  EXPECT_EQ(std::string(wrong.status().message()).find("battery"), std::string::npos);

  EXPECT_EQ(UnwrapDataKey(*wrapped, "", "vol-a").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UnwrapDataKey("not a key", "x", "vol-a").status().code(), absl::StatusCode::kDataLoss);
  // A flipped bit of the sealed key fails its tag: no wrong key comes out.
  std::string tampered = *wrapped;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  EXPECT_EQ(UnwrapDataKey(tampered, "correct horse", "vol-a").status().code(),
            absl::StatusCode::kPermissionDenied);
  // Two wraps of one key differ (salt and nonce are random).
  EXPECT_NE(*WrapDataKey(*key, "correct horse", 1000), *wrapped);
}

TEST(KeyWrapTest, CloneInheritsTheSourceEncryption) {
  auto src = NewEncryptionAttributes("s", 1000);
  ASSERT_TRUE(src.ok());
  std::map<std::string, std::string> clone = {{"other", "x"}};
  ASSERT_TRUE(InheritEncryption(*src, &clone, "c", "s").ok());
  EXPECT_EQ(clone.at(kAttrWrappedKey), src->at(kAttrWrappedKey));
  EXPECT_EQ(clone.at("other"), "x");
  std::map<std::string, std::string> plain;
  EXPECT_EQ(InheritEncryption(plain, &clone, "c", "s").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DisplayedAttributes(*src).count(kAttrWrappedKey), 0u);
}

TEST(KeyRingTest, UnlockWrongKeyAndNotEncrypted) {
  auto attrs = NewEncryptionAttributes("secret", 1000);
  ASSERT_TRUE(attrs.ok());
  KeyRing ring;
  EXPECT_FALSE(ring.Unlocked("v"));
  EXPECT_EQ(ring.Unlock("v", *attrs, "nope").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(ring.Unlocked("v"));
  auto first = ring.Unlock("v", *attrs, "secret");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*ring.Unlock("v", *attrs, "secret"));
  EXPECT_TRUE(ring.Unlocked("v"));
  EXPECT_EQ(ring.Unlock("p", {}, "secret").status().code(), absl::StatusCode::kFailedPrecondition);
  ring.Forget("v");
  EXPECT_FALSE(ring.Unlocked("v"));
}

// A restarted replica takes the data key from its primary (over TLS, in the
// hello): the key it adopts is the one the secret unwraps.
TEST(KeyRingTest, AdoptTakesTheKeyAnUnlockedRingHandsOver) {
  auto attrs = NewEncryptionAttributes("secret", 1000);
  ASSERT_TRUE(attrs.ok());
  KeyRing primary, restarted;
  EXPECT_EQ(primary.DataKey("v"), "") << "locked: no key";
  ASSERT_TRUE(primary.Unlock("v", *attrs, "secret").ok());
  const std::string key = primary.DataKey("v");
  ASSERT_EQ(key.size(), kDataKeySize);
  EXPECT_EQ(key, *UnwrapDataKey(attrs->at(kAttrWrappedKey), "secret", "v"));

  auto adopted = restarted.Adopt("v", *attrs, key);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_TRUE(*adopted);
  EXPECT_FALSE(*restarted.Adopt("v", *attrs, key)) << "already unlocked";
  EXPECT_EQ(restarted.DataKey("v"), key);
  // The adopted cipher reads what the unlocked one wrote.
  std::string plain(kCryptBlockSize, 'p'), sealed(kCryptBlockSize, '\0'),
      back(kCryptBlockSize, '\0');
  ASSERT_TRUE(
      primary.Get("v")->cipher->EncryptBlocks(7, plain.data(), sealed.data(), plain.size()).ok());
  ASSERT_TRUE(
      restarted.Get("v")->cipher->DecryptBlocks(7, sealed.data(), back.data(), back.size()).ok());
  EXPECT_EQ(back, plain);

  KeyRing other;
  EXPECT_EQ(other.Adopt("v", *attrs, "short").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other.Adopt("p", {}, key).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(other.Unlocked("v"));
}

TEST(BlockRangeLockTest, OverlapsWaitInOrderOthersRunAtOnce) {
  BlockRangeLock locks;
  std::vector<int> order;
  locks.Acquire(0, 2, [&] { order.push_back(1); });
  locks.Acquire(1, 3, [&] { order.push_back(2); });  // waits for 1
  locks.Acquire(5, 6, [&] { order.push_back(3); });  // free
  locks.Acquire(2, 3, [&] { order.push_back(4); });  // overlaps waiter 2: waits
  EXPECT_EQ(order, (std::vector<int>{1, 3}));
  EXPECT_EQ(locks.waiting(), 2u);
  locks.Release(0, 2);
  EXPECT_EQ(order, (std::vector<int>{1, 3, 2}));
  locks.Release(1, 3);
  EXPECT_EQ(order, (std::vector<int>{1, 3, 2, 4}));
  locks.Release(2, 3);
  locks.Release(5, 6);
  EXPECT_EQ(locks.held(), 0u);
}

class EncryptedDeviceTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 64 * kCryptBlockSize;
  void SetUp() override {
    file_ = std::make_shared<nbdtest::FileBlockDevice>(dir_.path() + "/dev", kSize);
    auto key = NewDataKey();
    ASSERT_TRUE(key.ok());
    crypt_ = std::make_shared<VolumeCrypt>();
    crypt_->cipher = std::move(*XtsCipher::Create(*key));
    dev_ = std::make_shared<EncryptedDevice>(file_, crypt_);
  }

  absl::Status Do(std::shared_ptr<BlockDevice> dev, IoOp op, uint64_t offset, uint32_t length,
                  std::string data = "", std::string* out = nullptr) {
    auto req = std::make_shared<IoRequest>();
    req->op = op;
    req->offset = offset;
    req->length = length;
    req->data = std::move(data);
    std::promise<absl::Status> done;
    req->done = [&](IoRequest& r) {
      if (out) *out = r.data;
      done.set_value(r.status);
    };
    dev->Submit(req);
    return done.get_future().get();
  }
  std::string Read(uint64_t off, uint32_t len) {
    std::string out;
    EXPECT_TRUE(Do(dev_, IoOp::kRead, off, len, "", &out).ok());
    return out;
  }
  std::string Raw(uint64_t off, uint32_t len) {
    std::string out;
    EXPECT_TRUE(Do(file_, IoOp::kRead, off, len, "", &out).ok());
    return out;
  }

  syncblock::testing::TempDir dir_;
  std::shared_ptr<nbdtest::FileBlockDevice> file_;
  std::shared_ptr<VolumeCrypt> crypt_;
  std::shared_ptr<EncryptedDevice> dev_;
};

TEST_F(EncryptedDeviceTest, WholeBlocksAreCiphertextBelowAndPlaintextAbove) {
  std::string data = Random(4 * kCryptBlockSize, 2);
  ASSERT_TRUE(Do(dev_, IoOp::kWrite, 8 * kCryptBlockSize, data.size(), data).ok());
  EXPECT_EQ(Read(8 * kCryptBlockSize, data.size()), data);
  std::string raw = Raw(8 * kCryptBlockSize, data.size());
  EXPECT_NE(raw, data);
  EXPECT_EQ(raw.find(data.substr(100, 32)), std::string::npos);
  // Never written: zeros.
  EXPECT_EQ(Read(0, kCryptBlockSize), std::string(kCryptBlockSize, '\0'));
}

TEST_F(EncryptedDeviceTest, PartialWritesReadModifyWrite) {
  std::string base = Random(3 * kCryptBlockSize, 3);
  ASSERT_TRUE(Do(dev_, IoOp::kWrite, 0, base.size(), base).ok());
  std::string patch = Random(5000, 4);  // spans blocks 0..1, unaligned both ends
  ASSERT_TRUE(Do(dev_, IoOp::kWrite, 1000, patch.size(), patch).ok());
  std::string expected = base;
  expected.replace(1000, patch.size(), patch);
  EXPECT_EQ(Read(0, expected.size()), expected);
  EXPECT_EQ(Read(999, 5002), expected.substr(999, 5002));  // unaligned read
  // Into a hole: the rest of the block stays zeros.
  ASSERT_TRUE(Do(dev_, IoOp::kWrite, 20 * kCryptBlockSize + 512, 512, std::string(512, 'x')).ok());
  std::string block = Read(20 * kCryptBlockSize, kCryptBlockSize);
  EXPECT_EQ(block, std::string(512, '\0') + std::string(512, 'x') + std::string(3072, '\0'));
}

TEST_F(EncryptedDeviceTest, ConcurrentPartialWritesOfOneBlockBothLand) {
  // Sixteen 256-byte writes into one block at once: none may undo another.
  std::vector<std::future<absl::Status>> writes;
  for (int i = 0; i < 16; ++i) {
    writes.push_back(std::async(std::launch::async, [this, i] {
      return Do(dev_, IoOp::kWrite, 5 * kCryptBlockSize + i * 256, 256,
                std::string(256, static_cast<char>('a' + i)));
    }));
  }
  for (auto& w : writes) ASSERT_TRUE(w.get().ok());
  std::string block = Read(5 * kCryptBlockSize, kCryptBlockSize);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(block.substr(i * 256, 256), std::string(256, static_cast<char>('a' + i))) << i;
  }
}

TEST_F(EncryptedDeviceTest, WriteZeroesAndTrim) {
  std::string base = Random(4 * kCryptBlockSize, 5);
  ASSERT_TRUE(Do(dev_, IoOp::kWrite, 0, base.size(), base).ok());
  // Unaligned: partial head and tail blocks by read-modify-write, a whole
  // block in the middle passes and reads as zeros.
  ASSERT_TRUE(Do(dev_, IoOp::kWriteZeroes, 2048, 2 * kCryptBlockSize + 1000).ok());
  std::string expected = base;
  std::fill(expected.begin() + 2048, expected.begin() + 2048 + 2 * kCryptBlockSize + 1000, '\0');
  EXPECT_EQ(Read(0, expected.size()), expected);
  EXPECT_EQ(Raw(kCryptBlockSize, kCryptBlockSize), std::string(kCryptBlockSize, '\0'));
  // A trim inside one block is advisory: nothing changes (and no garbage).
  ASSERT_TRUE(Do(dev_, IoOp::kTrim, 3 * kCryptBlockSize + 100, 200).ok());
  EXPECT_EQ(Read(0, expected.size()), expected);
}

TEST_F(EncryptedDeviceTest, PastTheEndIsOutOfRange) {
  EXPECT_EQ(Do(dev_, IoOp::kRead, kSize - 512, 1024).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Do(dev_, IoOp::kWrite, kSize, 512, std::string(512, 'a')).code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(EncryptedDeviceTest, AnotherKeyReadsNoPlaintext) {
  std::string data = Random(kCryptBlockSize, 6);
  ASSERT_TRUE(Do(dev_, IoOp::kWrite, 0, data.size(), data).ok());
  auto other = std::make_shared<VolumeCrypt>();
  other->cipher = std::move(*XtsCipher::Create(*NewDataKey()));
  auto wrong = std::make_shared<EncryptedDevice>(file_, other);
  std::string out;
  ASSERT_TRUE(Do(wrong, IoOp::kRead, 0, kCryptBlockSize, "", &out).ok());
  EXPECT_NE(out, data);
}

}  // namespace
}  // namespace syncblock::repl
