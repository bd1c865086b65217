// The CSI client behind `syncblock ctl csi ...`: gRPC stubs of the three CSI
// services on the plugin's endpoint (--endpoint, else the "csi" entry of
// --cluster DIR/cluster.json), each call bounded by --timeout-ms (default two
// minutes: staging makes filesystems), and gRPC errors turned into statuses
// whose message starts with the code's name ("NOT_FOUND: ...").
//
// Thread-compatible: one command uses it at a time.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "csi/proto/csi.grpc.pb.h"
#include "driver/flags.h"

namespace syncblock::driver {

class CsiClient {
 public:
  // Usage errors for a missing or doubly given endpoint; FAILED_PRECONDITION
  // when the cluster in --cluster DIR runs no CSI plugin.
  static absl::StatusOr<std::unique_ptr<CsiClient>> Connect(const Flags& flags);

  const std::string& endpoint() const { return endpoint_; }

  // Runs one unary call of `stub` with the deadline.
  template <typename Stub, typename Req, typename Resp>
  absl::Status Call(Stub* stub,
                    grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
    return FromGrpc((stub->*method)(&ctx, req, resp));
  }

  ::csi::v1::Identity::Stub* identity() { return identity_.get(); }
  ::csi::v1::Controller::Stub* controller() { return controller_.get(); }
  ::csi::v1::Node::Stub* node() { return node_.get(); }
  ::csi::v1::GroupController::Stub* group_controller() { return group_controller_.get(); }

  // OK stays OK; anything else keeps its code, its message prefixed by the name.
  static absl::Status FromGrpc(const grpc::Status& status);

 private:
  CsiClient(std::string endpoint, std::chrono::milliseconds timeout);

  std::string endpoint_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::csi::v1::Identity::Stub> identity_;
  std::unique_ptr<::csi::v1::Controller::Stub> controller_;
  std::unique_ptr<::csi::v1::Node::Stub> node_;
  std::unique_ptr<::csi::v1::GroupController::Stub> group_controller_;
};

}  // namespace syncblock::driver
