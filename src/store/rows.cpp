#include "store/rows.hpp"

#include <nlohmann/json.hpp>

namespace meshfed::store::rows {

std::vector<std::string> json_strings(const std::string& text) {
  return nlohmann::json::parse(text).get<std::vector<std::string>>();
}

std::vector<std::string> first_column(Statement& s) {
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  return out;
}

ExportRecord read_export_columns(Statement& s) {
  ExportRecord e;
  e.seq = s.int64(0);
  e.id = s.text(1);
  e.mesh = s.text(2);
  e.service = s.text(3);
  e.port = s.int32(4);
  e.protocol = s.text(5);
  e.zone = s.text(6);
  e.alias = s.text(7);
  e.metrics = json_strings(s.text(8));
  e.proxy_protocol = s.int32(9) != 0;
  e.sni = s.text(10);
  e.state = stored(parse_export_state, s.text(11), "export");
  e.version = s.int64(12);
  e.requested_by = s.text(13);
  e.requested_at_ms = s.int64(14);
  e.reason = s.text(15);
  e.ttl_s = s.int64(16);
  e.pending_expires_at_ms = s.int64(17);
  e.decided_by = s.opt_text(18);
  e.approved_at_ms = s.opt_int64(19);
  e.expires_at_ms = s.opt_int64(20);
  e.l7 = s.opt_text(21);
  e.l7_change = s.opt_text(22);
  e.l7_change_by = s.opt_text(23);
  return e;
}

}  // namespace meshfed::store::rows
