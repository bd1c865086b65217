// CRC32C (Castagnoli), the checksum of every replication frame and of verify's
// region digests. Uses the SSE4.2 instruction when the CPU has it, a table
// otherwise. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace syncblock {

// Extends `crc` (0 to start) with `n` bytes of `data`.
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

inline uint32_t Crc32c(const void* data, size_t n) { return Crc32c(0, data, n); }

}  // namespace syncblock
