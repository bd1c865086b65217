// Striped locks over a volume's regions: region r maps to stripe r % 256.
// Copy-on-write (preserve a region, then overwrite it) and snapshot reads of
// a region hold its stripe, so a reader never sees a half-preserved region.
// Stripes are always taken in ascending order, so multi-region holders never
// deadlock.
//
// Thread-safe.
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace syncblock::repl {

class RegionLocks {
 public:
  static constexpr size_t kStripes = 256;

  // Holds a set of stripes until destroyed. Movable.
  class Guard {
   public:
    Guard() = default;
    Guard(Guard&& other) noexcept : locks_(other.locks_), held_(other.held_) {
      other.locks_ = nullptr;
    }
    Guard& operator=(Guard&& other) noexcept {
      if (this != &other) {
        Release();
        locks_ = other.locks_;
        held_ = other.held_;
        other.locks_ = nullptr;
      }
      return *this;
    }
    ~Guard() { Release(); }

   private:
    friend class RegionLocks;
    Guard(RegionLocks* locks, std::bitset<kStripes> held) : locks_(locks), held_(held) {}
    void Release() {
      if (!locks_) return;
      for (size_t i = kStripes; i-- > 0;) {
        if (held_[i]) locks_->stripes_[i].unlock();
      }
      locks_ = nullptr;
    }
    RegionLocks* locks_ = nullptr;
    std::bitset<kStripes> held_;
  };

  // The stripes of regions [first, last].
  Guard Lock(uint64_t first, uint64_t last) {
    std::bitset<kStripes> want;
    if (last - first + 1 >= kStripes) {
      want.set();
    } else {
      for (uint64_t r = first; r <= last; ++r) want.set(r % kStripes);
    }
    for (size_t i = 0; i < kStripes; ++i) {
      if (want[i]) stripes_[i].lock();
    }
    return Guard(this, want);
  }
  Guard LockAll() { return Lock(0, kStripes - 1); }

 private:
  std::array<std::mutex, kStripes> stripes_;
};

}  // namespace syncblock::repl
