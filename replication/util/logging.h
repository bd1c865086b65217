// spdlog, plus formatting of absl::string_view (a distinct type in Debian's
// Abseil build), so that `status.message()` can be logged directly.
#pragma once

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "absl/strings/string_view.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};
