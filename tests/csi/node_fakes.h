// In-memory Mounter, Attacher and PrimaryResolver for unit tests of the Node
// service's logic (argument checks, state, idempotency, error codes). The real
// implementations are exercised in node_fuse_loop_test.cc.
//
// Thread-safe: every fake locks its own mutex.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "csi/node/attacher.h"
#include "csi/node/mounter.h"
#include "replication/crypt/key_ring.h"
#include "replication/initiator/primary_resolver.h"

namespace syncblock::csi {

class FakeMounter : public Mounter {
 public:
  struct MountState {
    std::string source;
    std::string fstype;
    std::vector<std::string> options;
    bool readonly = false;
    bool bind = false;
  };

  absl::Status Mount(const std::string& source, const std::string& target,
                     const std::string& fstype, const std::vector<std::string>& options) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = filesystems_.find(source);
    if (it == filesystems_.end() || it->second != fstype) {
      return absl::InternalError(absl::StrCat("mount: wrong fs type on ", source));
    }
    bool ro = false;
    for (const auto& o : options) ro = ro || o == "ro";
    mounts_[target] = {source, fstype, options, ro, false};
    return absl::OkStatus();
  }
  absl::Status BindMount(const std::string& source, const std::string& target, bool readonly,
                         const std::vector<std::string>& options) override {
    std::lock_guard<std::mutex> lock(mu_);
    mounts_[target] = {source, "", options, readonly, true};
    return absl::OkStatus();
  }
  absl::Status Unmount(const std::string& target) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (mounts_.erase(target) == 0) return absl::NotFoundError("not mounted");
    return absl::OkStatus();
  }
  absl::Status DetachMount(const std::string& target) override {
    std::lock_guard<std::mutex> lock(mu_);
    mounts_.erase(target);
    return absl::OkStatus();
  }
  absl::StatusOr<bool> IsMountPoint(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    return mounts_.count(path) > 0;
  }
  absl::StatusOr<std::string> MountSource(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = mounts_.find(path);
    return it == mounts_.end() ? "" : it->second.source;
  }
  absl::StatusOr<std::string> DetectFilesystem(const std::string& device) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = filesystems_.find(device);
    return it == filesystems_.end() ? "" : it->second;
  }
  absl::Status MakeFilesystem(const std::string& device, const std::string& fstype) override {
    std::lock_guard<std::mutex> lock(mu_);
    filesystems_[device] = fstype;
    ++mkfs_count_;
    return absl::OkStatus();
  }
  absl::Status CheckFilesystem(const std::string&, const std::string&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++fsck_count_;
    return absl::OkStatus();
  }
  absl::Status ResizeFilesystem(const std::string&, const std::string&,
                                const std::string&) override {
    return absl::OkStatus();
  }

  // Test access.
  std::optional<MountState> MountAt(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = mounts_.find(path);
    if (it == mounts_.end()) return std::nullopt;
    return it->second;
  }
  void SetFilesystem(const std::string& device, const std::string& fs) {
    std::lock_guard<std::mutex> lock(mu_);
    filesystems_[device] = fs;
  }
  // A device that moved keeps its filesystem: the data is the volume's.
  void CopyFilesystem(const std::string& from, const std::string& to) {
    std::lock_guard<std::mutex> lock(mu_);
    if (filesystems_.count(from)) filesystems_[to] = filesystems_[from];
  }
  int mkfs_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return mkfs_count_;
  }
  size_t mount_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return mounts_.size();
  }

 private:
  std::mutex mu_;
  std::map<std::string, MountState> mounts_;
  std::map<std::string, std::string> filesystems_;
  int mkfs_count_ = 0;
  int fsck_count_ = 0;
};

// Devices are /dev/fake<N>; a reconnect gives a new one (like the fuse path).
class FakeAttacher : public Attacher {
 public:
  explicit FakeAttacher(FakeMounter* mounter) : mounter_(mounter) {}
  std::string Mode() const override { return "fuse"; }
  absl::StatusOr<Attachment> Attach(const AttachRequest& r) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++attach_calls_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !hold_; });
    Attachment a;
    a.volume_id = r.volume_id;
    a.mode = Mode();
    a.device = absl::StrCat("/dev/fake", next_++);
    a.nbd_uri = r.nbd_uri;
    a.readonly = r.readonly;
    a.size_bytes = 1 << 20;
    attached_.insert(a.device);
    return a;
  }
  absl::Status Detach(const Attachment& a) override {
    std::lock_guard<std::mutex> lock(mu_);
    attached_.erase(a.device);
    dead_.erase(a.device);
    return absl::OkStatus();
  }
  absl::Status Check(const Attachment& a) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!attached_.count(a.device) || dead_.count(a.device)) {
      return absl::UnavailableError(absl::StrCat(a.device, " is dead"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<Attachment> Reconnect(const Attachment& a, const std::string& uri) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++reconnects_;
    attached_.erase(a.device);
    dead_.erase(a.device);
    Attachment out = a;
    out.device = absl::StrCat("/dev/fake", next_++);
    out.nbd_uri = uri;
    attached_.insert(out.device);
    mounter_->CopyFilesystem(a.device, out.device);
    return out;
  }

  // Test control.
  void Kill(const std::string& device) {
    std::lock_guard<std::mutex> lock(mu_);
    dead_.insert(device);
  }
  // While held, Attach blocks (to test concurrent calls).
  void Hold(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
    cv_.notify_all();
  }
  void WaitForAttachCalls(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return attach_calls_ >= n; });
  }
  size_t attached_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return attached_.size();
  }
  int reconnects() {
    std::lock_guard<std::mutex> lock(mu_);
    return reconnects_;
  }

 private:
  FakeMounter* mounter_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> attached_;
  std::set<std::string> dead_;
  int next_ = 0;
  int attach_calls_ = 0;
  int reconnects_ = 0;
  bool hold_ = false;
};

class FakeResolver : public repl::initiator::PrimaryResolver {
 public:
  absl::StatusOr<std::string> Resolve(const std::string& volume_id, const std::string& hint_uri,
                                      const std::vector<std::string>&) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (unknown_.count(volume_id)) return absl::NotFoundError(absl::StrCat(volume_id, " unknown"));
    if (locked_.count(volume_id)) {
      // What the real resolver reports when the primary's handshake refuses.
      return absl::UnavailableError(absl::StrCat("no storage node serves volume ", volume_id,
                                                 " now: nbds://s1:10809/", volume_id, ": ",
                                                 repl::LockedMessage(volume_id, "s1")));
    }
    last_hint_ = hint_uri;
    return absl::StrCat("nbd://primary:10809/", volume_id);
  }
  void MakeUnknown(const std::string& v) {
    std::lock_guard<std::mutex> lock(mu_);
    unknown_.insert(v);
  }
  // An encrypted volume whose primary is locked, until Unlock.
  void Lock(const std::string& v) {
    std::lock_guard<std::mutex> lock(mu_);
    locked_.insert(v);
  }
  void Unlock(const std::string& v) {
    std::lock_guard<std::mutex> lock(mu_);
    locked_.erase(v);
  }
  std::string last_hint() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_hint_;
  }

 private:
  std::mutex mu_;
  std::set<std::string> unknown_;
  std::set<std::string> locked_;
  std::string last_hint_;
};

}  // namespace syncblock::csi
