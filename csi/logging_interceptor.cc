#include "csi/logging_interceptor.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "csi/proto/csi.pb.h"

namespace syncblock::csi {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using grpc::experimental::InterceptionHookPoints;

// The spec marks every sensitive field with the csi_secret option, so a field
// added by a later spec is stripped without a change here.
bool IsSecret(const FieldDescriptor* f) { return f->options().GetExtension(::csi::v1::csi_secret); }

// Clears every csi_secret field in `m` and below; returns how many values
// went (map entries or repeated elements count one each).
int StripSecrets(Message* m) {
  int stripped = 0;
  const auto* reflection = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(*m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (IsSecret(f)) {
      stripped += f->is_repeated() ? reflection->FieldSize(*m, f) : 1;
      reflection->ClearField(m, f);
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_map()) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(*m, f); ++i) {
        stripped += StripSecrets(reflection->MutableRepeatedMessage(m, f, i));
      }
    } else {
      stripped += StripSecrets(reflection->MutableMessage(m, f));
    }
  }
  return stripped;
}

class LoggingInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit LoggingInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() ? info->method() : "?"), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Our services are all protobuf: the received message is the request.
      if (auto* m = static_cast<const Message*>(methods->GetRecvMessage())) {
        request_ = StripSecretsForLog(*m);
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      if (auto* m = static_cast<const Message*>(methods->GetSendMessage())) {
        response_ = StripSecretsForLog(*m);
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Log(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void Log(const grpc::Status& status) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start_)
                  .count();
    if (status.ok()) {
      auto level = absl::EndsWith(method_, "/Probe") ? spdlog::level::debug : spdlog::level::info;
      spdlog::log(level, "csi {} OK {}ms request={{{}}} response={{{}}}", method_, ms, request_,
                  response_);
    } else {
      spdlog::warn("csi {} failed {}ms code={} message=\"{}\" request={{{}}}", method_, ms,
                   static_cast<int>(status.error_code()), status.error_message(), request_);
    }
  }

  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
  std::string request_;
  std::string response_;
};

}  // namespace

std::string StripSecretsForLog(const Message& message, size_t max_chars) {
  std::unique_ptr<Message> copy(message.New());
  copy->CopyFrom(message);
  int stripped = StripSecrets(copy.get());
  std::string text = copy->ShortDebugString();
  if (text.size() > max_chars) text = absl::StrCat(text.substr(0, max_chars), "...");
  if (stripped > 0) absl::StrAppend(&text, " [", stripped, " secrets stripped]");
  return text;
}

grpc::experimental::Interceptor* LoggingInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new LoggingInterceptor(info);
}

}  // namespace syncblock::csi
