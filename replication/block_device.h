// The seam between a frontend that exposes a volume (the NBD server) and what
// serves its IO (the primary engine, or a plain file in frontend tests).
//
// Submit() never blocks for long and may complete the request on any thread,
// before or after it returns. Implementations are thread-safe: several
// connections submit to one device at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace syncblock::repl {

enum class IoOp { kRead, kWrite, kFlush, kTrim, kWriteZeroes };

struct IoRequest {
  IoOp op = IoOp::kRead;
  uint64_t offset = 0;
  uint32_t length = 0;
  bool fua = false;      // durable on a majority before completion
  bool no_hole = false;  // WRITE_ZEROES must allocate, not punch
  // kWrite: the payload (length bytes). kRead: filled with length bytes.
  std::string data;
  // Set by the device before `done` runs. Codes: OK; OUT_OF_RANGE (past the
  // end); INVALID_ARGUMENT; RESOURCE_EXHAUSTED (no space); UNAVAILABLE or
  // DEADLINE_EXCEEDED (no quorum within the IO timeout); FAILED_PRECONDITION
  // (this node is no longer the primary); PERMISSION_DENIED (read-only).
  absl::Status status;
  // Called exactly once when the request completes.
  std::function<void(IoRequest&)> done;
};

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;
  virtual uint64_t Size() const = 0;
  virtual bool ReadOnly() const { return false; }
  virtual void Submit(std::shared_ptr<IoRequest> request) = 0;
};

// Resolves NBD export names (volume IDs) to devices. Thread-safe.
class ExportProvider {
 public:
  virtual ~ExportProvider() = default;
  // nullptr when no such export is served here (unknown, or not primary here).
  virtual std::shared_ptr<BlockDevice> Open(const std::string& name) = 0;
  // Why Open(name) gave nullptr for an export this node does have (an
  // encrypted volume that is locked, say); empty for an unknown one.
  virtual std::string Refusal(const std::string& /*name*/) { return ""; }
  virtual std::vector<std::string> List() = 0;
};

}  // namespace syncblock::repl
