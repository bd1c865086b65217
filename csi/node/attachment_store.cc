#include "csi/node/attachment_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace syncblock::csi {
namespace {

constexpr int kFormatVersion = 1;

// Volume IDs come from the CO; keep them to one safe path component.
std::string FileNameFor(const std::string& volume_id) {
  std::string out;
  for (unsigned char c : volume_id) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  if (out == "." || out == "..") out = "%2E" + out.substr(1);
  return out + ".json";
}

}  // namespace

AttachmentStore::AttachmentStore(std::string state_dir)
    : dir_(std::move(state_dir) + "/attachments") {}

absl::Status AttachmentStore::Init() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", dir_, ": ", ec.message()));
  return absl::OkStatus();
}

std::string AttachmentStore::PathFor(const std::string& volume_id) const {
  return absl::StrCat(dir_, "/", FileNameFor(volume_id));
}

std::string AttachmentStore::ToJson(const Attachment& a) {
  nlohmann::json publish_options = nlohmann::json::object();
  for (const auto& [target, o] : a.publish_options) {
    publish_options[target] = {{"readonly", o.readonly}, {"mount_flags", o.mount_flags}};
  }
  nlohmann::json j = {
      {"version", kFormatVersion},
      {"volume_id", a.volume_id},
      {"mode", a.mode},
      {"device", a.device},
      {"nbd_uri", a.nbd_uri},
      {"readonly", a.readonly},
      {"size_bytes", a.size_bytes},
      {"fuse_pid", a.fuse_pid},
      {"fuse_dir", a.fuse_dir},
      {"nbd_index", a.nbd_index},
      {"staging_path", a.staging_path},
      {"block", a.block},
      {"fs_type", a.fs_type},
      {"mount_flags", a.mount_flags},
      {"publish_paths", a.publish_paths},
      {"publish_options", publish_options},
      {"control_addresses", a.control_addresses},
  };
  return j.dump(2);
}

absl::StatusOr<Attachment> AttachmentStore::FromJson(const std::string& text) {
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    if (j.value("version", 0) != kFormatVersion) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attachment record version ", j.value("version", 0), ", expected ", kFormatVersion));
    }
    Attachment a;
    a.volume_id = j.at("volume_id").get<std::string>();
    a.mode = j.at("mode").get<std::string>();
    a.device = j.value("device", "");
    a.nbd_uri = j.value("nbd_uri", "");
    a.readonly = j.value("readonly", false);
    a.size_bytes = j.value("size_bytes", uint64_t{0});
    a.fuse_pid = j.value("fuse_pid", 0);
    a.fuse_dir = j.value("fuse_dir", "");
    a.nbd_index = j.value("nbd_index", -1);
    a.staging_path = j.value("staging_path", "");
    a.block = j.value("block", false);
    a.fs_type = j.value("fs_type", "");
    a.mount_flags = j.value("mount_flags", std::vector<std::string>{});
    a.publish_paths = j.value("publish_paths", std::vector<std::string>{});
    a.control_addresses = j.value("control_addresses", std::vector<std::string>{});
    if (j.contains("publish_options")) {
      for (const auto& [target, o] : j.at("publish_options").items()) {
        PublishOptions opts;
        opts.readonly = o.value("readonly", false);
        opts.mount_flags = o.value("mount_flags", std::vector<std::string>{});
        a.publish_options[target] = std::move(opts);
      }
    }
    return a;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad attachment record: ", e.what()));
  }
}

absl::Status AttachmentStore::Save(const Attachment& attachment) {
  const std::string path = PathFor(attachment.volume_id);
  const std::string tmp = path + ".tmp";
  const std::string text = ToJson(attachment);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("create ", tmp, ": ", std::strerror(errno)));
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && fsync(fd) == 0;
  int err = errno;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(err)));
  }
  // The rename is durable only once the directory is.
  int dfd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

absl::StatusOr<Attachment> AttachmentStore::Load(const std::string& volume_id) const {
  std::ifstream in(PathFor(volume_id));
  if (!in) return absl::NotFoundError(absl::StrCat("no attachment record for volume ", volume_id));
  std::stringstream ss;
  ss << in.rdbuf();
  return FromJson(ss.str());
}

absl::Status AttachmentStore::Remove(const std::string& volume_id) {
  std::error_code ec;
  std::filesystem::remove(PathFor(volume_id), ec);
  if (ec)
    return absl::InternalError(absl::StrCat("remove record of ", volume_id, ": ", ec.message()));
  return absl::OkStatus();
}

std::vector<Attachment> AttachmentStore::LoadAll() const {
  std::vector<Attachment> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    auto a = FromJson(ss.str());
    if (!a.ok()) {
      spdlog::warn("skipping attachment record {}: {}", entry.path().string(),
                   a.status().ToString());
      continue;
    }
    out.push_back(std::move(*a));
  }
  return out;
}

}  // namespace syncblock::csi
