#include "replication/util/log_rate_limit.h"

#include <spdlog/sinks/dist_sink.h>
#include <spdlog/spdlog.h>

#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace syncblock {
namespace {

std::string Key(const spdlog::details::log_msg& msg) {
  std::string key(1, static_cast<char>(msg.level));
  key.append(msg.payload.data(), msg.payload.size());
  return key;
}

std::string Seconds(spdlog::log_clock::duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms % 1000 == 0) return absl::StrCat(ms / 1000, "s");
  return absl::StrCat(ms / 1000.0, "s");
}

}  // namespace

RateLimitSink::RateLimitSink(spdlog::sink_ptr target, LogRateLimit limit)
    : target_(std::move(target)), limit_(limit) {}

void RateLimitSink::Write(const spdlog::details::log_msg& msg, const std::string& payload,
                          const Line& line) {
  if (line.suppressed == 0) {
    target_->log(msg);
    return;
  }
  std::string text =
      absl::StrCat(payload, " [", line.suppressed, " identical line",
                   line.suppressed == 1 ? "" : "s", " suppressed in ", Seconds(limit_.window), "]");
  spdlog::details::log_msg out(msg.time, msg.source, msg.logger_name, msg.level,
                               spdlog::string_view_t(text.data(), text.size()));
  target_->log(out);
}

void RateLimitSink::sink_it_(const spdlog::details::log_msg& msg) {
  Handle(msg);
  if (msg.time - last_sweep_ >= limit_.window) Sweep(msg.time, /*all=*/false);
}

void RateLimitSink::Handle(const spdlog::details::log_msg& msg) {
  const auto now = msg.time;
  if (msg.level < limit_.min_level) {
    target_->log(msg);
    return;
  }

  std::string key = Key(msg);
  auto it = lines_.find(key);
  if (it == lines_.end()) {
    if (lines_.size() >= limit_.max_lines) {
      target_->log(msg);  // too many distinct lines to track: never drop
      return;
    }
    Line line;
    line.window_start = now;
    line.passed = 1;
    line.level = msg.level;
    line.logger_name.assign(msg.logger_name.data(), msg.logger_name.size());
    lines_.emplace(std::move(key), std::move(line));
    target_->log(msg);
    return;
  }
  Line& line = it->second;
  if (now - line.window_start >= limit_.window) {
    // A new window: this copy passes, with the count of the last one.
    Write(msg, std::string(msg.payload.data(), msg.payload.size()), line);
    line.window_start = now;
    line.passed = 1;
    line.suppressed = 0;
    return;
  }
  if (line.passed < limit_.burst) {
    ++line.passed;
    target_->log(msg);
    return;
  }
  ++line.suppressed;
  suppressed_total_.fetch_add(1, std::memory_order_relaxed);
}

void RateLimitSink::Sweep(spdlog::log_clock::time_point now, bool all) {
  last_sweep_ = now;
  for (auto it = lines_.begin(); it != lines_.end();) {
    Line& line = it->second;
    const bool expired = now - line.window_start >= limit_.window;
    if (!expired && !all) {
      ++it;
      continue;
    }
    if (line.suppressed > 0) {
      // The line stopped repeating (or we flush): say how often it was not
      // written.
      std::string text = it->first.substr(1);
      spdlog::details::log_msg msg(
          now, spdlog::source_loc{},
          spdlog::string_view_t(line.logger_name.data(), line.logger_name.size()), line.level,
          spdlog::string_view_t(text.data(), text.size()));
      Write(msg, text, line);
      line.suppressed = 0;
    }
    // A flush keeps the window of a line still repeating: its limit holds.
    it = expired ? lines_.erase(it) : std::next(it);
  }
}

void RateLimitSink::flush_() {
  Sweep(spdlog::log_clock::now(), /*all=*/true);
  target_->flush();
}

void InstallLogRateLimit(LogRateLimit limit) {
  auto logger = spdlog::default_logger();
  std::vector<spdlog::sink_ptr> targets = logger->sinks();
  if (targets.size() == 1 && std::dynamic_pointer_cast<RateLimitSink>(targets[0])) return;
  spdlog::sink_ptr target = targets.size() == 1 ? targets[0] : nullptr;
  if (target == nullptr) {
    auto dist = std::make_shared<spdlog::sinks::dist_sink_mt>(targets);
    target = dist;
  }
  logger->sinks().assign({std::make_shared<RateLimitSink>(target, limit)});
}

}  // namespace syncblock
