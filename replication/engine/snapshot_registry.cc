#include "replication/engine/snapshot_registry.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace syncblock::repl {

using nlohmann::json;

absl::StatusOr<SnapshotRegistry> SnapshotRegistry::Load(const std::string& path) {
  SnapshotRegistry reg;
  reg.path_ = path;
  std::ifstream in(path);
  if (!in) return reg;
  std::stringstream text;
  text << in.rdbuf();
  try {
    json j = json::parse(text.str());
    reg.epoch_ = j.value("epoch", uint64_t{0});
    for (const auto& e : j.at("snapshots")) {
      SnapshotEntry entry;
      entry.record.name = e.at("name").get<std::string>();
      entry.record.size_bytes = e.at("size_bytes").get<uint64_t>();
      entry.record.seq = e.at("seq").get<uint64_t>();
      entry.record.created_unix_ms = e.at("created_unix_ms").get<int64_t>();
      entry.holders = e.at("holders").get<std::set<std::string>>();
      reg.entries_[entry.record.name] = std::move(entry);
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": ", e.what()));
  }
  return reg;
}

std::string SnapshotRegistry::Encode() const {
  json list = json::array();
  for (const auto& [name, e] : entries_) {
    list.push_back({{"name", name},
                    {"size_bytes", e.record.size_bytes},
                    {"seq", e.record.seq},
                    {"created_unix_ms", e.record.created_unix_ms},
                    {"holders", e.holders}});
  }
  return json{{"format_version", 1}, {"epoch", epoch_}, {"snapshots", list}}.dump(1) + "\n";
}

absl::Status SnapshotRegistry::WriteFile(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat(tmp, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      return absl::InternalError(absl::StrCat(tmp, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  // The rename must not become visible before the content is durable.
  int rc = fdatasync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat(tmp, ": ", std::strerror(err)));
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

SnapshotEntry* SnapshotRegistry::Find(const std::string& name) {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<std::string> SnapshotRegistry::Names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

}  // namespace syncblock::repl
