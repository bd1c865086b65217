#include "csi/storage_endpoints.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace syncblock::csi {
namespace {

// Every IPv4 address of `name`.
absl::StatusOr<std::vector<std::string>> LookupA(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  int rc = getaddrinfo(name.c_str(), nullptr, &hints, &result);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve storage nodes '", name, "': ", gai_strerror(rc)));
  }
  std::vector<std::string> out;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    char buf[INET_ADDRSTRLEN];
    auto* sin = reinterpret_cast<sockaddr_in*>(ai->ai_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)) != nullptr) out.emplace_back(buf);
  }
  freeaddrinfo(result);
  return out;
}

}  // namespace

absl::StatusOr<StorageEndpoints> StorageEndpoints::Parse(const std::string& spec) {
  StorageEndpoints e;
  for (absl::string_view raw : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    std::string item(absl::StripAsciiWhitespace(raw));
    Item it;
    std::string rest = item;
    if (absl::StartsWith(item, "dns:")) {
      it.dns = true;
      rest = item.substr(4);
    }
    auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--storage-nodes item '", item, "': expected host:port or dns:NAME:PORT"));
    }
    it.host = rest.substr(0, colon);
    it.port = rest.substr(colon + 1);
    if (!std::all_of(it.port.begin(), it.port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("--storage-nodes item '", item, "': port '", it.port, "' is not a number"));
    }
    e.items_.push_back(std::move(it));
  }
  if (e.items_.empty()) return absl::InvalidArgumentError("--storage-nodes is empty");
  return e;
}

absl::StatusOr<std::vector<std::string>> StorageEndpoints::Resolve() const {
  std::vector<std::string> out;
  absl::Status last_error;
  for (const Item& it : items_) {
    if (!it.dns) {
      out.push_back(absl::StrCat(it.host, ":", it.port));
      continue;
    }
    auto ips = LookupA(it.host);
    if (!ips.ok()) {
      last_error = ips.status();
      continue;
    }
    for (const auto& ip : *ips) out.push_back(absl::StrCat(ip, ":", it.port));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.empty()) {
    return last_error.ok() ? absl::UnavailableError("no storage node addresses") : last_error;
  }
  return out;
}

ClusterProvider::ClusterProvider(StorageEndpoints endpoints, Factory factory)
    : endpoints_(std::move(endpoints)),
      factory_(factory ? std::move(factory) : [](std::vector<std::string> addresses) {
        return repl::StorageCluster::Connect(std::move(addresses));
      }) {}

absl::StatusOr<std::shared_ptr<repl::StorageCluster>> ClusterProvider::Get() {
  auto addresses = endpoints_.Resolve();
  if (!addresses.ok()) return addresses.status();
  absl::MutexLock lock(&mu_);
  if (cluster_ == nullptr || *addresses != addresses_) {
    addresses_ = *addresses;
    cluster_ = factory_(addresses_);
  }
  return cluster_;
}

}  // namespace syncblock::csi
