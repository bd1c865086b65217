// Runs one call per storage node at the same time, so that asking every node
// costs one round trip (and one timeout when a node is down), not N.
//
// Thread-safe: each index runs on its own thread; `fn` must be safe to call
// concurrently with different indexes.
#pragma once

#include <cstddef>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

namespace syncblock::repl {

template <typename Fn>
auto ParallelMap(size_t n, Fn fn) -> std::vector<std::invoke_result_t<Fn, size_t>> {
  using Result = std::invoke_result_t<Fn, size_t>;
  std::vector<std::optional<Result>> slots(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] { slots[i].emplace(fn(i)); });
  }
  for (auto& t : threads) t.join();
  std::vector<Result> out;
  out.reserve(n);
  for (auto& s : slots) out.push_back(std::move(*s));
  return out;
}

}  // namespace syncblock::repl
