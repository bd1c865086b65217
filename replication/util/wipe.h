// Overwriting secrets (keys, passphrases) before their memory is freed.
#pragma once

#include <string>

namespace syncblock {

// Overwrites `s` with zeros in a way the compiler may not drop (a plain
// fill before the string dies is a dead store it may remove), then empties it.
void WipeString(std::string& s);

// Wipes a string when the scope ends, on every return path.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& s) : s_(s) {}
  ~WipeOnExit() { WipeString(s_); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::string& s_;
};

}  // namespace syncblock
