// The block device of an encrypted volume's primary: it sits between the NBD
// export and the primary engine, so that everything under it (the replica
// files, the write stream to the secondaries, resync, snapshots, clones)
// holds only AES-256-XTS ciphertext (replication/doc/encryption.md).
//
//   READ          reads the covering whole blocks, decrypts, returns the slice
//   WRITE         whole blocks: encrypts and writes; a partial block at either
//                 end is read, decrypted, merged and encrypted again, under
//                 the volume's block lock so that no other write of that block
//                 interleaves
//   WRITE_ZEROES  whole blocks pass (a zero block reads as zeros); partial
//                 ends are written as zeros by read-modify-write
//   TRIM          only its whole blocks pass (a trim is advisory)
//   FLUSH         passes
//
// Every write holds the lock on its whole blocks until it completes.
// Thread-safe, as BlockDevice requires.
#pragma once

#include <memory>

#include "replication/block_device.h"
#include "replication/crypt/key_ring.h"

namespace syncblock::repl {

// Create with std::make_shared: requests in flight keep it alive.
class EncryptedDevice : public BlockDevice, public std::enable_shared_from_this<EncryptedDevice> {
 public:
  EncryptedDevice(std::shared_ptr<BlockDevice> inner, std::shared_ptr<VolumeCrypt> crypt)
      : inner_(std::move(inner)), crypt_(std::move(crypt)) {}

  uint64_t Size() const override { return inner_->Size(); }
  bool ReadOnly() const override { return inner_->ReadOnly(); }
  void Submit(std::shared_ptr<IoRequest> request) override;

 private:
  using Callback = std::function<void(absl::Status)>;

  void Read(std::shared_ptr<IoRequest> req);
  // Writes `plain` at `offset` (any alignment), then calls `done`.
  void WriteRange(uint64_t offset, std::shared_ptr<std::string> plain, bool fua, Callback done);
  // With the lock on blocks [first, end) held: the write itself.
  void WriteLocked(uint64_t offset, std::shared_ptr<std::string> plain, bool fua, Callback done);
  // Submits whole blocks of ciphertext at block `first`.
  void WriteCipher(uint64_t first, std::string cipher, bool fua, Callback done);
  // TRIM and WRITE_ZEROES of whole blocks [first, end), under their lock.
  void PassLocked(IoOp op, uint64_t first, uint64_t end, bool fua, bool no_hole, Callback done);
  void Zeroes(std::shared_ptr<IoRequest> req);
  absl::Status CheckRange(const IoRequest& req) const;

  const std::shared_ptr<BlockDevice> inner_;
  const std::shared_ptr<VolumeCrypt> crypt_;
};

}  // namespace syncblock::repl
