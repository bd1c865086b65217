// A plain-text table for `syncblock ctl` and `syncblock local status`: columns
// padded to their widest cell, two spaces apart, headers in capitals.
//
// Thread-compatible: one writer at a time.
#pragma once

#include <string>
#include <vector>

namespace syncblock::driver {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  // Missing cells print empty; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace syncblock::driver
