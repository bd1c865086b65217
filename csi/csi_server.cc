#include "csi/csi_server.h"

#include <grpcpp/server_builder.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "csi/logging_interceptor.h"

namespace syncblock::csi {
namespace {

// Only a socket is removed: a regular file there is someone else's.
absl::Status RemoveStaleSocket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("stat ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; refusing to remove it"));
  }
  if (unlink(path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("remove stale socket ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> UnixSocketPath(const std::string& endpoint) {
  std::string path = endpoint;
  if (absl::StartsWith(endpoint, "unix://")) {
    path = endpoint.substr(7);
  } else if (absl::StartsWith(endpoint, "unix:")) {
    path = endpoint.substr(5);
  } else if (endpoint.find("://") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--endpoint '", endpoint, "': only unix:///path sockets are supported"));
  }
  if (path.empty()) return absl::InvalidArgumentError("--endpoint has an empty socket path");
  return path;
}

absl::StatusOr<std::unique_ptr<CsiServer>> CsiServer::Start(
    const std::string& endpoint, const std::vector<grpc::Service*>& services) {
  auto path = UnixSocketPath(endpoint);
  if (!path.ok()) return path.status();
  std::error_code ec;
  auto parent = std::filesystem::path(*path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("create ", parent.string(), ": ", ec.message()));
  }
  if (auto s = RemoveStaleSocket(*path); !s.ok()) return s;

  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", *path), grpc::InsecureServerCredentials());
  for (grpc::Service* s : services) builder.RegisterService(s);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<LoggingInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on unix socket ", *path));
  }
  return std::unique_ptr<CsiServer>(new CsiServer(*path, std::move(server)));
}

CsiServer::~CsiServer() {
  Shutdown();
  unlink(socket_path_.c_str());
}

void CsiServer::Wait() { server_->Wait(); }

void CsiServer::Shutdown() {
  // Calls still running after this are cancelled; the CO retries them, and
  // every CSI call is idempotent. gRPC may also wait this long for client
  // connections to drain, so it is kept short.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace syncblock::csi
