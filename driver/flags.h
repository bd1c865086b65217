// Command-line flags of the syncblock subcommands: `--name value`,
// `--name=value`, and bare `--name` for the boolean flags a command declares.
// Anything not starting with `--` (or after a lone `--`) is positional.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace syncblock::driver {

class Flags {
 public:
  // `argv[0]` is the command name and is skipped. `bool_flags` take no value.
  // `-o X` is accepted as `--output X` (ctl's output format).
  static absl::StatusOr<Flags> Parse(int argc, char** argv,
                                     const std::set<std::string>& bool_flags = {});

  bool Has(const std::string& name) const;
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // INVALID_ARGUMENT naming the flag when the value is not a number.
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  // Sizes like 4096, 64K, 256MiB, 1G, 2TiB (binary multiples).
  absl::StatusOr<uint64_t> GetSize(const std::string& name, uint64_t fallback) const;
  bool GetBool(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  // INVALID_ARGUMENT naming the first given flag not in `known`: catches typos.
  absl::Status CheckKnown(const std::set<std::string>& known) const;
  // The same flags without `name` (a command that gives a global flag a
  // meaning of its own).
  Flags Without(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// Parses a size as described for GetSize.
absl::StatusOr<uint64_t> ParseSize(const std::string& text);
// 1536 -> "1.5 KiB".
std::string FormatSize(uint64_t bytes);

}  // namespace syncblock::driver
