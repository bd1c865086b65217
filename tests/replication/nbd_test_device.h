// Test-only BlockDevice backed by a temporary file (pread, pwrite, fdatasync,
// fallocate), completing requests on a small pool of worker threads so that
// completions arrive on other threads and out of order, plus an ExportProvider
// over a set of such devices. Used by the NBD server tests.
//
// Thread-safe. Knobs for tests: a per-operation injected failure status, and
// a "gate" that holds requests until a number are pending, then completes
// them in reverse order (a deterministic proof of pipelining).
#pragma once

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "replication/block_device.h"

namespace syncblock::repl::nbdtest {

class FileBlockDevice : public BlockDevice {
 public:
  FileBlockDevice(const std::string& path, uint64_t size, bool read_only = false, int threads = 4)
      : size_(size), read_only_(read_only) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      [[maybe_unused]] int rc = ::ftruncate(fd_, static_cast<off_t>(size));
    }
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }

  ~FileBlockDevice() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
      gate_ = 0;
      ReleaseGateLocked();
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    if (fd_ >= 0) ::close(fd_);
  }

  uint64_t Size() const override { return size_; }
  bool ReadOnly() const override { return read_only_; }

  void Submit(std::shared_ptr<IoRequest> request) override {
    submitted_.fetch_add(1);
    std::lock_guard<std::mutex> l(mu_);
    if (gate_ > 0) {
      held_.push_back(std::move(request));
      if (held_.size() >= gate_) {
        gate_ = 0;  // one-shot
        ReleaseGateLocked();
      }
    } else {
      queue_.push_back(std::move(request));
    }
    cv_.notify_all();
  }

  // Every request of `op` fails with `status` (OK clears it).
  void SetFailure(IoOp op, absl::Status status) {
    std::lock_guard<std::mutex> l(mu_);
    if (status.ok()) {
      failures_.erase(op);
    } else {
      failures_[op] = std::move(status);
    }
  }

  // Holds requests until `count` are pending, then runs them newest first
  // (once; later requests run as they come).
  void SetGate(size_t count) {
    std::lock_guard<std::mutex> l(mu_);
    gate_ = count;
  }
  // Releases held requests now (and disables the gate).
  void OpenGate() {
    std::lock_guard<std::mutex> l(mu_);
    gate_ = 0;
    ReleaseGateLocked();
    cv_.notify_all();
  }
  size_t held() {
    std::lock_guard<std::mutex> l(mu_);
    return held_.size();
  }

  int fd() const { return fd_; }
  uint64_t submitted() const { return submitted_.load(); }
  uint64_t completed() const { return completed_.load(); }
  uint64_t flushes() const { return flushes_.load(); }
  uint64_t fua_writes() const { return fua_.load(); }
  uint64_t trims() const { return trims_.load(); }
  uint64_t zeroes() const { return zeroes_.load(); }
  uint64_t no_hole_zeroes() const { return no_hole_.load(); }
  // Order in which requests were executed (offsets), for the gate test.
  std::vector<uint64_t> executed_offsets() {
    std::lock_guard<std::mutex> l(mu_);
    return executed_;
  }

 private:
  void ReleaseGateLocked() {
    // Newest first: completions come back in the reverse of arrival order.
    for (auto it = held_.rbegin(); it != held_.rend(); ++it) queue_.push_back(std::move(*it));
    held_.clear();
    cv_.notify_all();
  }

  void Work() {
    while (true) {
      std::shared_ptr<IoRequest> request;
      std::optional<absl::Status> failure;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        request = std::move(queue_.front());
        queue_.pop_front();
        executed_.push_back(request->offset);
        auto it = failures_.find(request->op);
        if (it != failures_.end()) failure = it->second;
      }
      request->status = failure ? *failure : Execute(*request);
      completed_.fetch_add(1);
      request->done(*request);
    }
  }

  absl::Status Execute(IoRequest& r) {
    if (r.op != IoOp::kFlush && (r.offset > size_ || r.length > size_ - r.offset)) {
      return absl::OutOfRangeError("past the end");
    }
    if (read_only_ && r.op != IoOp::kRead && r.op != IoOp::kFlush) {
      return absl::PermissionDeniedError("read-only");
    }
    switch (r.op) {
      case IoOp::kRead: {
        r.data.resize(r.length);
        ssize_t n = ::pread(fd_, r.data.data(), r.length, static_cast<off_t>(r.offset));
        if (n != static_cast<ssize_t>(r.length)) return absl::InternalError("pread");
        return absl::OkStatus();
      }
      case IoOp::kWrite: {
        ssize_t n = ::pwrite(fd_, r.data.data(), r.data.size(), static_cast<off_t>(r.offset));
        if (n != static_cast<ssize_t>(r.data.size())) return absl::InternalError("pwrite");
        if (r.fua) {
          fua_.fetch_add(1);
          if (::fdatasync(fd_) != 0) return absl::InternalError("fdatasync");
        }
        return absl::OkStatus();
      }
      case IoOp::kFlush:
        flushes_.fetch_add(1);
        return ::fdatasync(fd_) == 0 ? absl::OkStatus() : absl::InternalError("fdatasync");
      case IoOp::kTrim:
        trims_.fetch_add(1);
        if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(r.offset), r.length) != 0) {
          return absl::InternalError("fallocate punch");
        }
        return absl::OkStatus();
      case IoOp::kWriteZeroes: {
        zeroes_.fetch_add(1);
        if (r.no_hole) no_hole_.fetch_add(1);
        int mode = r.no_hole ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        if (::fallocate(fd_, mode, static_cast<off_t>(r.offset), r.length) != 0) {
          std::string zeros(r.length, '\0');
          if (::pwrite(fd_, zeros.data(), zeros.size(), static_cast<off_t>(r.offset)) !=
              static_cast<ssize_t>(zeros.size())) {
            return absl::InternalError("pwrite zeroes");
          }
        }
        return absl::OkStatus();
      }
    }
    return absl::InternalError("unknown op");
  }

  const uint64_t size_;
  const bool read_only_;
  int fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<IoRequest>> queue_;
  std::vector<std::shared_ptr<IoRequest>> held_;
  size_t gate_ = 0;
  bool stop_ = false;
  std::map<IoOp, absl::Status> failures_;
  std::vector<uint64_t> executed_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> submitted_{0}, completed_{0}, flushes_{0}, fua_{0}, trims_{0}, zeroes_{0},
      no_hole_{0};
};

class MapExportProvider : public ExportProvider {
 public:
  void Add(const std::string& name, std::shared_ptr<BlockDevice> device) {
    std::lock_guard<std::mutex> l(mu_);
    devices_[name] = std::move(device);
  }
  void Remove(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    devices_.erase(name);
  }
  std::shared_ptr<BlockDevice> Open(const std::string& name) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = devices_.find(name);
    return it == devices_.end() ? nullptr : it->second;
  }
  std::vector<std::string> List() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> names;
    for (const auto& [name, device] : devices_) names.push_back(name);
    return names;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<BlockDevice>> devices_;
};

}  // namespace syncblock::repl::nbdtest
