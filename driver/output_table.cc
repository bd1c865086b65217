#include "driver/output_table.h"

#include <algorithm>

namespace syncblock::driver {

namespace {

// The narrowest a flexible column is cut to.
constexpr size_t kMinFlexibleWidth = 8;

}  // namespace

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

size_t Table::Column(const std::string& header) const {
  return static_cast<size_t>(std::find(headers_.begin(), headers_.end(), header) -
                             headers_.begin());
}

Table& Table::Optional(const std::string& header) {
  if (size_t c = Column(header); c < headers_.size()) optional_.insert(c);
  return *this;
}

Table& Table::Flexible(const std::string& header) {
  if (size_t c = Column(header); c < headers_.size()) flexible_.insert(c);
  return *this;
}

Table& Table::Painted(const std::string& header,
                      std::function<Color(const std::string&)> color_of) {
  size_t c = Column(header);
  if (c >= headers_.size()) return *this;
  paint_.resize(headers_.size());
  paint_[c] = std::move(color_of);
  return *this;
}

std::string CutToWidth(const std::string& text, size_t width) {
  if (DisplayWidth(text) <= width) return text;
  if (width <= 3) return std::string(width, '.');
  std::string out;
  size_t used = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    bool starts_char = (static_cast<unsigned char>(text[i]) & 0xc0) != 0x80;
    if (starts_char && used == width - 3) break;
    out += text[i];
    used += starts_char;
  }
  return out + "...";
}

std::string Table::Render(const TermStyle& style) const {
  const size_t n = headers_.size();
  std::vector<size_t> width(n);
  for (size_t c = 0; c < n; ++c) {
    width[c] = DisplayWidth(headers_[c]);
    for (const auto& row : rows_) width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  std::vector<bool> shown(n, true);
  auto total = [&] {
    size_t sum = 0, cols = 0;
    for (size_t c = 0; c < n; ++c) {
      if (shown[c]) sum += width[c], ++cols;
    }
    return cols == 0 ? 0 : sum + 2 * (cols - 1);
  };
  if (style.width > 0) {
    for (auto it = optional_.rbegin(); it != optional_.rend() && total() > style.width; ++it) {
      shown[*it] = false;
    }
    // Cut the widest flexible column first, down to what still reads.
    while (total() > style.width) {
      size_t widest = n;
      for (size_t c : flexible_) {
        size_t floor = std::max(kMinFlexibleWidth, DisplayWidth(headers_[c]));
        if (shown[c] && width[c] > floor && (widest == n || width[c] > width[widest])) widest = c;
      }
      if (widest == n) break;
      size_t floor = std::max(kMinFlexibleWidth, DisplayWidth(headers_[widest]));
      width[widest] =
          std::max(floor, width[widest] - std::min(width[widest], total() - style.width));
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string l;
    size_t pending_blanks = 0;  // padding, written only before a later cell
    for (size_t c = 0; c < n; ++c) {
      if (!shown[c]) continue;
      std::string cell = CutToWidth(cells[c], width[c]);
      size_t w = DisplayWidth(cell);
      if (cell.empty()) {
        pending_blanks += width[c] + 2;
        continue;
      }
      l += std::string(pending_blanks, ' ');
      if (!header && c < paint_.size() && paint_[c]) {
        l += Paint(style, paint_[c](cells[c]), cell);
      } else {
        l += header ? Paint(style, Color::kBold, cell) : cell;
      }
      pending_blanks = width[c] - w + 2;
    }
    out += l + "\n";
  };
  line(headers_, true);
  for (const auto& row : rows_) line(row, false);
  return out;
}

}  // namespace syncblock::driver
