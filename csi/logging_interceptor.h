// A gRPC server interceptor that logs every CSI call in one line when it ends:
// method, status code and message, duration, and the request and response
// with secrets stripped (every field the spec marks with the csi_secret
// option, at any depth, is replaced by a count of what was removed). Probe, which the sidecars call
// every few seconds, logs at debug level; failures at warn; the rest at info. This is where a CSI
// error leaves our code, so it is logged here and nowhere else.
//
// Thread-safe: one interceptor object per call, created by the factory.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <string>

#include "google/protobuf/message.h"

namespace syncblock::csi {

class LoggingInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

// The message as one line of text with secrets stripped, cut at `max_chars`.
std::string StripSecretsForLog(const google::protobuf::Message& message, size_t max_chars = 2048);

}  // namespace syncblock::csi
