#include "driver/flags.h"

#include <cctype>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace syncblock::driver {

absl::StatusOr<Flags> Flags::Parse(int argc, char** argv, const std::set<std::string>& bool_flags) {
  Flags f;
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (only_positional || arg.size() < 2 || arg[0] != '-') {
      f.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    std::string name;
    if (arg == "-o") {
      name = "output";
    } else if (arg == "-h") {
      name = "help";
    } else if (arg.rfind("--", 0) == 0) {
      name = arg.substr(2);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", arg, "'"));
    }
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      f.values_[name.substr(0, eq)] = name.substr(eq + 1);
      continue;
    }
    if (bool_flags.count(name) || name == "help") {
      f.values_[name] = "true";
      continue;
    }
    if (i + 1 >= argc) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
    }
    f.values_[name] = argv[++i];
  }
  return f;
}

bool Flags::Has(const std::string& name) const { return values_.count(name) > 0; }

std::string Flags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<int64_t> Flags::GetInt(const std::string& name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int64_t v;
  if (!absl::SimpleAtoi(it->second, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("flag --", name, ": '", it->second, "' is not a number"));
  }
  return v;
}

absl::StatusOr<uint64_t> Flags::GetSize(const std::string& name, uint64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  auto size = ParseSize(it->second);
  if (!size.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("flag --", name, ": ", size.status().message()));
  }
  return *size;
}

bool Flags::GetBool(const std::string& name) const {
  auto v = Get(name);
  return v == "true" || v == "1" || v == "yes";
}

Flags Flags::Without(const std::string& name) const {
  Flags out = *this;
  out.values_.erase(name);
  return out;
}

absl::Status Flags::CheckKnown(const std::set<std::string>& known) const {
  for (const auto& [name, value] : values_) {
    if (name != "help" && !known.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ParseSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  uint64_t n;
  if (i == 0 || !absl::SimpleAtoi(text.substr(0, i), &n)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a size (e.g. 1G, 256MiB)"));
  }
  std::string unit = text.substr(i);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  if (!unit.empty() && unit.back() == 'I') unit.pop_back();
  int shift = 0;
  if (unit.empty())
    shift = 0;
  else if (unit == "K")
    shift = 10;
  else if (unit == "M")
    shift = 20;
  else if (unit == "G")
    shift = 30;
  else if (unit == "T")
    shift = 40;
  else if (unit == "P")
    shift = 50;
  else
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' has an unknown unit"));
  if (shift && n > (UINT64_MAX >> shift)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is too large"));
  }
  return n << shift;
}

std::string FormatSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return absl::StrCat(bytes, " B");
  return absl::StrFormat("%.1f %s", v, kUnits[u]);
}

}  // namespace syncblock::driver
