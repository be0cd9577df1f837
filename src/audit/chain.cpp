#include "meshfed/audit/chain.hpp"

#include "meshfed/core/text.hpp"

namespace meshfed::audit {

std::string canonical_json(const Entry& e) {
  nlohmann::json j = {{"seq", e.seq},       {"time", e.time},     {"actor", e.actor},
                      {"action", e.action}, {"object", e.object}, {"details", e.details}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string compute_hash(const std::string& prev_hash, const Entry& e) {
  return sha256_hex(prev_hash + "\n" + canonical_json(e));
}

nlohmann::json to_json(const Entry& e) {
  return {{"seq", e.seq},       {"time", e.time},       {"actor", e.actor},         {"action", e.action},
          {"object", e.object}, {"details", e.details}, {"prev_hash", e.prev_hash}, {"hash", e.hash}};
}

std::optional<Entry> from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  auto text = [&](const char* key) -> const std::string* {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  const auto seq = j.find("seq");
  const auto details = j.find("details");
  if (seq == j.end() || !seq->is_number_integer() || details == j.end()) return std::nullopt;
  for (const char* key : {"time", "actor", "action", "object", "prev_hash", "hash"}) {
    if (!text(key)) return std::nullopt;
  }
  return Entry{seq->get<int64_t>(), *text("time"), *text("actor"),     *text("action"),
               *text("object"),     *details,      *text("prev_hash"), *text("hash")};
}

std::optional<ChainProblem> verify_chain(const std::vector<Entry>& entries, std::string prev_hash,
                                         int64_t expected_first_seq) {
  int64_t expected_seq = expected_first_seq;
  for (const auto& e : entries) {
    if (e.seq != expected_seq) {
      return ChainProblem{expected_seq, "entry " + std::to_string(expected_seq) + " is missing (next present is " +
                                            std::to_string(e.seq) + ")"};
    }
    if (e.prev_hash != prev_hash) {
      return ChainProblem{e.seq, "entry " + std::to_string(e.seq) +
                                     ": prev_hash does not match the previous entry's hash "
                                     "(a row before it was changed, deleted or reordered)"};
    }
    if (compute_hash(prev_hash, e) != e.hash) {
      return ChainProblem{e.seq,
                          "entry " + std::to_string(e.seq) + ": hash does not match its content (the row was changed)"};
    }
    prev_hash = e.hash;
    ++expected_seq;
  }
  return std::nullopt;
}

}  // namespace meshfed::audit
