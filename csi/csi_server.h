// The gRPC server of the CSI plugin on its unix socket: removes a stale socket
// left by a previous run, registers the services of the plugin's mode, and
// logs every call (LoggingInterceptorFactory).
//
// Thread-safe: Shutdown may be called from any thread while Wait blocks.
#pragma once

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace syncblock::csi {

// "/path/csi.sock" from "unix:///path/csi.sock", "unix:/path/csi.sock" or a
// bare path. INVALID_ARGUMENT for other schemes.
absl::StatusOr<std::string> UnixSocketPath(const std::string& endpoint);

class CsiServer {
 public:
  // `services` must outlive the server.
  static absl::StatusOr<std::unique_ptr<CsiServer>> Start(
      const std::string& endpoint, const std::vector<grpc::Service*>& services);
  ~CsiServer();

  const std::string& socket_path() const { return socket_path_; }
  void Wait();
  void Shutdown();

 private:
  CsiServer(std::string socket_path, std::unique_ptr<grpc::Server> server)
      : socket_path_(std::move(socket_path)), server_(std::move(server)) {}
  std::string socket_path_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace syncblock::csi
