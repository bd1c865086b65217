#include "replication/crypt/encrypted_device.h"

#include <atomic>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/util/mutex.h"

namespace syncblock::repl {
namespace {

constexpr uint64_t kB = kCryptBlockSize;

uint64_t FloorBlock(uint64_t off) { return off / kB; }
uint64_t CeilBlock(uint64_t off) { return (off + kB - 1) / kB; }

void Finish(IoRequest& req, absl::Status s) {
  req.status = std::move(s);
  if (req.done) req.done(req);
}

// Completes `req` once `parts` callbacks have run, with the first error.
class Join {
 public:
  Join(std::shared_ptr<IoRequest> req, int parts) : req_(std::move(req)), left_(parts) {}
  void Done(absl::Status s) {
    {
      MutexLock l(&mu_);
      if (first_error_.ok() && !s.ok()) first_error_ = std::move(s);
    }
    if (left_.fetch_sub(1) != 1) return;
    absl::Status result;
    {
      MutexLock l(&mu_);
      result = first_error_;
    }
    Finish(*req_, std::move(result));
  }

 private:
  std::shared_ptr<IoRequest> req_;
  std::atomic<int> left_;
  Mutex mu_;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::Status EncryptedDevice::CheckRange(const IoRequest& req) const {
  uint64_t size = Size();
  if (req.offset > size || req.length > size - req.offset) {
    return absl::OutOfRangeError(absl::StrCat("request [", req.offset, ", +", req.length,
                                              ") is past the end of the volume (", size, ")"));
  }
  // The covering blocks must lie inside too (sizes of encrypted volumes are
  // whole blocks; this guards a volume made otherwise).
  if (CeilBlock(req.offset + req.length) * kB > size) {
    return absl::OutOfRangeError(
        absl::StrCat("the encrypted volume's size ", size, " is not a multiple of ", kB));
  }
  return absl::OkStatus();
}

void EncryptedDevice::Submit(std::shared_ptr<IoRequest> req) {
  if (req->op == IoOp::kFlush) {
    inner_->Submit(std::move(req));
    return;
  }
  if (absl::Status s = CheckRange(*req); !s.ok()) {
    req->data.clear();
    Finish(*req, std::move(s));
    return;
  }
  if (req->length == 0) {
    req->data.clear();
    Finish(*req, absl::OkStatus());
    return;
  }
  switch (req->op) {
    case IoOp::kRead:
      Read(std::move(req));
      return;
    case IoOp::kWrite: {
      if (req->data.size() != req->length) {
        Finish(*req, absl::InvalidArgumentError("write payload size differs from its length"));
        return;
      }
      auto plain = std::make_shared<std::string>(std::move(req->data));
      req->data.clear();
      uint64_t offset = req->offset;
      bool fua = req->fua;
      WriteRange(offset, std::move(plain), fua,
                 [req](absl::Status s) { Finish(*req, std::move(s)); });
      return;
    }
    case IoOp::kTrim: {
      uint64_t first = CeilBlock(req->offset), end = FloorBlock(req->offset + req->length);
      if (first >= end) {
        Finish(*req, absl::OkStatus());
        return;
      }
      PassLocked(IoOp::kTrim, first, end, req->fua, false,
                 [req](absl::Status s) { Finish(*req, std::move(s)); });
      return;
    }
    case IoOp::kWriteZeroes:
      Zeroes(std::move(req));
      return;
    case IoOp::kFlush:
      return;  // handled above
  }
}

void EncryptedDevice::Read(std::shared_ptr<IoRequest> req) {
  uint64_t first = FloorBlock(req->offset);
  uint64_t end = CeilBlock(req->offset + req->length);
  auto inner = std::make_shared<IoRequest>();
  inner->op = IoOp::kRead;
  inner->offset = first * kB;
  inner->length = static_cast<uint32_t>((end - first) * kB);
  auto crypt = crypt_;
  inner->done = [req, crypt, first](IoRequest& r) {
    if (!r.status.ok()) {
      req->data.clear();
      Finish(*req, r.status);
      return;
    }
    if (r.data.size() != r.length) {
      req->data.clear();
      Finish(*req, absl::InternalError("short read under an encrypted volume"));
      return;
    }
    absl::Status s = crypt->cipher->DecryptBlocks(first, r.data.data(), r.data.data(), r.length);
    if (!s.ok()) {
      req->data.clear();
      Finish(*req, std::move(s));
      return;
    }
    req->data.assign(r.data, req->offset - first * kB, req->length);
    Finish(*req, absl::OkStatus());
  };
  inner_->Submit(std::move(inner));
}

void EncryptedDevice::WriteRange(uint64_t offset, std::shared_ptr<std::string> plain, bool fua,
                                 Callback done) {
  uint64_t first = FloorBlock(offset), end = CeilBlock(offset + plain->size());
  auto crypt = crypt_;
  auto self = shared_from_this();
  crypt_->locks.Acquire(first, end, [self, crypt, offset, plain, fua, first, end, done]() {
    self->WriteLocked(offset, plain, fua, [crypt, first, end, done](absl::Status s) {
      crypt->locks.Release(first, end);
      done(std::move(s));
    });
  });
}

void EncryptedDevice::WriteLocked(uint64_t offset, std::shared_ptr<std::string> plain, bool fua,
                                  Callback done) {
  uint64_t first = FloorBlock(offset), end = CeilBlock(offset + plain->size());
  uint64_t span = (end - first) * kB;
  if (offset % kB == 0 && plain->size() == span) {
    std::string cipher(span, '\0');
    absl::Status s = crypt_->cipher->EncryptBlocks(first, plain->data(), cipher.data(), span);
    if (!s.ok()) {
      done(std::move(s));
      return;
    }
    WriteCipher(first, std::move(cipher), fua, std::move(done));
    return;
  }
  // A partial block: read the covering blocks, merge, write them whole.
  auto inner = std::make_shared<IoRequest>();
  inner->op = IoOp::kRead;
  inner->offset = first * kB;
  inner->length = static_cast<uint32_t>(span);
  inner->done = [self = shared_from_this(), offset, plain, fua, first, span, done](IoRequest& r) {
    if (!r.status.ok()) {
      done(r.status);
      return;
    }
    if (r.data.size() != span) {
      done(absl::InternalError("short read under an encrypted volume"));
      return;
    }
    std::string buf = std::move(r.data);
    const XtsCipher& cipher = *self->crypt_->cipher;
    absl::Status s = cipher.DecryptBlocks(first, buf.data(), buf.data(), span);
    if (s.ok()) {
      memcpy(buf.data() + (offset - first * kB), plain->data(), plain->size());
      s = cipher.EncryptBlocks(first, buf.data(), buf.data(), span);
    }
    if (!s.ok()) {
      done(std::move(s));
      return;
    }
    self->WriteCipher(first, std::move(buf), fua, done);
  };
  inner_->Submit(std::move(inner));
}

void EncryptedDevice::WriteCipher(uint64_t first, std::string cipher, bool fua, Callback done) {
  auto w = std::make_shared<IoRequest>();
  w->op = IoOp::kWrite;
  w->offset = first * kB;
  w->length = static_cast<uint32_t>(cipher.size());
  w->fua = fua;
  w->data = std::move(cipher);
  w->done = [done](IoRequest& r) { done(r.status); };
  inner_->Submit(std::move(w));
}

void EncryptedDevice::PassLocked(IoOp op, uint64_t first, uint64_t end, bool fua, bool no_hole,
                                 Callback done) {
  auto crypt = crypt_;
  auto inner = inner_;
  crypt_->locks.Acquire(first, end, [=]() {
    auto r = std::make_shared<IoRequest>();
    r->op = op;
    r->offset = first * kB;
    r->length = static_cast<uint32_t>((end - first) * kB);
    r->fua = fua;
    r->no_hole = no_hole;
    r->done = [crypt, first, end, done](IoRequest& rr) {
      crypt->locks.Release(first, end);
      done(rr.status);
    };
    inner->Submit(std::move(r));
  });
}

void EncryptedDevice::Zeroes(std::shared_ptr<IoRequest> req) {
  uint64_t start = req->offset, stop = req->offset + req->length;
  uint64_t whole_first = CeilBlock(start), whole_end = FloorBlock(stop);
  if (whole_first >= whole_end) {
    // Within one or two partial blocks: a write of zeros.
    auto zeros = std::make_shared<std::string>(req->length, '\0');
    WriteRange(start, std::move(zeros), req->fua,
               [req](absl::Status s) { Finish(*req, std::move(s)); });
    return;
  }
  uint64_t head = whole_first * kB - start;  // bytes before the whole blocks
  uint64_t tail = stop - whole_end * kB;     // after them
  auto join = std::make_shared<Join>(req, 1 + (head ? 1 : 0) + (tail ? 1 : 0));
  auto part = [join](absl::Status s) { join->Done(std::move(s)); };
  if (head) WriteRange(start, std::make_shared<std::string>(head, '\0'), req->fua, part);
  if (tail) WriteRange(whole_end * kB, std::make_shared<std::string>(tail, '\0'), req->fua, part);
  PassLocked(IoOp::kWriteZeroes, whole_first, whole_end, req->fua, req->no_hole, part);
}

}  // namespace syncblock::repl
