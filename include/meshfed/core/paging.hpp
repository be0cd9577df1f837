// Cursor pagination for lists keyed by an insertion sequence (`seq`): fetch one row more than
// the page holds; if it came, the page is cut to size and `next` is the last row's seq.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace meshfed {

template <typename Row>
std::optional<std::string> cut_page(std::vector<Row>& rows, int limit) {
  if (static_cast<int>(rows.size()) <= limit) return std::nullopt;
  rows.resize(static_cast<size_t>(limit));
  return std::to_string(rows.back().seq);
}

}  // namespace meshfed
