// What the repositories share of reading rows back: states, JSON lists, a column of ids, and the
// export columns that both the exports and the catalog read.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "meshfed/store/records.hpp"
#include "meshfed/store/statement.hpp"

namespace meshfed::store::rows {

// A state read back from a row. One we do not know is corruption or a newer schema, never a
// default: the read fails (the repository's operation returns the error) instead of guessing.
template <typename Parse>
auto stored(Parse parse, const std::string& text, const char* what) {
  if (auto state = parse(text)) return *state;
  throw std::runtime_error(std::string("unknown ") + what + " state \"" + text + "\" in the store");
}

std::vector<std::string> json_strings(const std::string& text);

// Column 0 of every row, as text.
std::vector<std::string> first_column(Statement& s);

inline constexpr const char* kExportColumns =
    "seq, id, mesh, service, port, protocol, zone, alias, metrics, proxy_protocol, sni, state, "
    "version, requested_by, requested_at, reason, ttl_s, pending_expires_at, decided_by, "
    "approved_at, expires_at, l7, l7_change, l7_change_by";

// The columns of kExportColumns, in that order; peers and history are loaded separately.
ExportRecord read_export_columns(Statement& s);

}  // namespace meshfed::store::rows
