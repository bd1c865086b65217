// An Env for tests that injects the faults a disk can have (leveldb's
// fault_injection_test in spirit): writes failing (ENOSPC, EIO), fsync
// failing, a slow disk, and a crash that loses every write not yet synced. Real IO goes
// to the real files; for the crash, the bytes each unsynced write replaced
// are remembered and put back by DropUnsyncedData().
//
// Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "replication/store/env.h"

namespace syncblock::testing {

class FaultInjectionEnv : public repl::Env {
 public:
  // OK clears the fault.
  void SetWriteError(absl::Status s) {
    std::lock_guard<std::mutex> l(mu_);
    write_error_ = std::move(s);
  }
  // A slow disk: every write takes `delay` longer (zero: none).
  void SetWriteDelay(std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> l(mu_);
    write_delay_ = delay;
  }
  void SetSyncError(absl::Status s) {
    std::lock_guard<std::mutex> l(mu_);
    sync_error_ = std::move(s);
  }
  // What a power loss does: every write since the file's last successful
  // sync is undone.
  void DropUnsyncedData() {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [fd, undo] : unsynced_) {
      for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
        (void)repl::Env::Posix()->Write(fd, it->second.data(), it->second.size(), it->first);
      }
    }
    unsynced_.clear();
  }
  // What a reboot changes.
  void SetBootId(std::string id) {
    std::lock_guard<std::mutex> l(mu_);
    boot_id_ = std::move(id);
  }
  std::string BootId() override {
    std::lock_guard<std::mutex> l(mu_);
    return boot_id_;
  }
  int syncs() const {
    std::lock_guard<std::mutex> l(mu_);
    return syncs_;
  }

  absl::Status Write(int fd, const char* data, size_t len, uint64_t offset) override {
    std::chrono::milliseconds delay;
    {
      std::lock_guard<std::mutex> l(mu_);
      delay = write_delay_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    std::lock_guard<std::mutex> l(mu_);
    if (!write_error_.ok()) return write_error_;
    RememberLocked(fd, offset, len);
    return repl::Env::Posix()->Write(fd, data, len, offset);
  }
  absl::Status Read(int fd, char* data, size_t len, uint64_t offset) override {
    return repl::Env::Posix()->Read(fd, data, len, offset);
  }
  absl::Status Sync(int fd) override {
    std::lock_guard<std::mutex> l(mu_);
    if (!sync_error_.ok()) return sync_error_;
    ++syncs_;
    unsynced_.erase(fd);
    return repl::Env::Posix()->Sync(fd);
  }
  absl::Status Deallocate(int fd, uint64_t offset, uint64_t len, bool zero) override {
    std::lock_guard<std::mutex> l(mu_);
    if (!write_error_.ok()) return write_error_;
    RememberLocked(fd, offset, len);
    return repl::Env::Posix()->Deallocate(fd, offset, len, zero);
  }

 private:
  void RememberLocked(int fd, uint64_t offset, size_t len) {
    std::string old(len, '\0');
    (void)repl::Env::Posix()->Read(fd, old.data(), len, offset);
    unsynced_[fd].emplace_back(offset, std::move(old));
  }

  mutable std::mutex mu_;
  absl::Status write_error_;
  absl::Status sync_error_;
  int syncs_ = 0;
  std::chrono::milliseconds write_delay_{0};
  std::string boot_id_ = "boot-1";
  std::map<int, std::vector<std::pair<uint64_t, std::string>>> unsynced_;
};

}  // namespace syncblock::testing
