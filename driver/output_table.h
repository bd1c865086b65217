// A plain-text table for `syncblock ctl` and `syncblock local status`: columns
// padded to their widest cell, two spaces apart, headers in capitals.
//
// Given a width (a terminal's), the table fits it: optional columns are
// dropped, the rightmost first, then flexible columns are cut short with
// "...". Painted columns are coloured after padding, so colour never shifts
// the columns.
//
// Thread-compatible: one writer at a time.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "driver/terminal.h"

namespace syncblock::driver {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  // Missing cells print empty; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);

  // The column may be left out when the table does not fit.
  Table& Optional(const std::string& header);
  // The column's cells may be cut short ("...") when the table does not fit.
  Table& Flexible(const std::string& header);
  // The column's cells take the colour `color_of(cell)` (on a colour terminal).
  Table& Painted(const std::string& header, std::function<Color(const std::string&)> color_of);

  // No width limit and no colour with the default style.
  std::string Render(const TermStyle& style = {}) const;

 private:
  size_t Column(const std::string& header) const;

  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::set<size_t> optional_;
  std::set<size_t> flexible_;
  std::vector<std::function<Color(const std::string&)>> paint_;
};

// `text` cut to `width` display columns, ending in "..." when cut.
std::string CutToWidth(const std::string& text, size_t width);

}  // namespace syncblock::driver
