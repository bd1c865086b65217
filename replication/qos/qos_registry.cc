#include "replication/qos/qos_registry.h"

namespace syncblock::repl {

std::shared_ptr<IoLimiter> QosRegistry::Configure(
    const std::string& volume_id, const std::map<std::string, std::string>& attributes) {
  std::shared_ptr<IoLimiter> limiter;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto& slot = limiters_[volume_id];
    if (!slot) slot = std::make_shared<IoLimiter>();
    limiter = slot;
  }
  QosSettings wanted = QosFromAttributes(attributes);
  if (!(limiter->settings() == wanted)) limiter->Configure(wanted);
  return limiter;
}

void QosRegistry::Forget(const std::string& volume_id) {
  std::lock_guard<std::mutex> l(mu_);
  limiters_.erase(volume_id);
}

std::vector<std::pair<std::string, IoLimiterStats>> QosRegistry::Stats() const {
  std::vector<std::pair<std::string, std::shared_ptr<IoLimiter>>> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    all.assign(limiters_.begin(), limiters_.end());
  }
  std::vector<std::pair<std::string, IoLimiterStats>> out;
  for (const auto& [id, limiter] : all) out.emplace_back(id, limiter->Stats());
  return out;
}

}  // namespace syncblock::repl
