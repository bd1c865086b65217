// AES-256-XTS over a volume's 4 KiB blocks (replication/doc/encryption.md).
// The tweak of a block is its number (offset / 4096) as a 128-bit
// little-endian integer, as in IEEE 1619's data unit sequence number, so a
// block keeps its ciphertext when copied to the same offset (clones).
//
// EncryptBlocks/DecryptBlocks add the hole convention of encrypted volumes:
// an all-zero plaintext block is stored as an all-zero block, and an all-zero
// stored block reads as zeros (a hole, a trim, a write of zeros, or space past
// an old end after growth). Real ciphertext is all zero with probability
// 2^-32768.
//
// Thread-safe: the key is immutable after Create; each call uses its own
// OpenSSL context. The key bytes are wiped when the cipher is destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace syncblock::repl {

inline constexpr uint64_t kCryptBlockSize = 4096;
// Two AES-256 keys: data and tweak.
inline constexpr size_t kDataKeySize = 64;

class XtsCipher {
 public:
  // INVALID_ARGUMENT unless `key` has kDataKeySize bytes whose halves differ.
  static absl::StatusOr<std::unique_ptr<XtsCipher>> Create(absl::string_view key);
  ~XtsCipher();
  XtsCipher(const XtsCipher&) = delete;
  XtsCipher& operator=(const XtsCipher&) = delete;

  // Plain XTS of one data unit of `len` bytes (at least 16) with `tweak`.
  // `in` and `out` may be the same buffer.
  absl::Status Encrypt(uint64_t tweak, const char* in, char* out, size_t len) const;
  absl::Status Decrypt(uint64_t tweak, const char* in, char* out, size_t len) const;

  // Whole blocks: `len` is a multiple of kCryptBlockSize and the first
  // block's number is `first_block`; with the hole convention above.
  absl::Status EncryptBlocks(uint64_t first_block, const char* in, char* out, size_t len) const;
  absl::Status DecryptBlocks(uint64_t first_block, const char* in, char* out, size_t len) const;

  // The key's bytes, for the volume's primary to hand to a locked replica
  // over an authenticated link (KeyRing::Adopt). The caller wipes its copy.
  std::string key() const { return std::string(reinterpret_cast<const char*>(key_), sizeof(key_)); }

 private:
  XtsCipher() = default;
  absl::Status Blocks(bool encrypt, uint64_t first_block, const char* in, char* out,
                      size_t len) const;
  unsigned char key_[kDataKeySize] = {};
};

// True when `len` bytes at `p` are all zero.
bool AllZero(const char* p, size_t len);

}  // namespace syncblock::repl
