#include "meshfed/audit/head.hpp"

#include "meshfed/core/text.hpp"

namespace meshfed::audit {

namespace {

constexpr size_t kLongestTime = 40;
constexpr size_t kLongestSignature = 256;  // an ECDSA P-256 signature is ~96 base64 characters
constexpr size_t kLongestHeader = 1024;

bool is_hash(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

Error bad(const std::string& what, const std::string& field, const std::string& expected) {
  return make_error(ErrorCode::kInvalidArgument, what + ": " + field + " " + expected, {{field, expected}});
}

// The string at `key`, at most `longest` bytes.
Result<std::string> text_field(const nlohmann::json& j, const char* key, size_t longest, const std::string& what) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().size() > longest) {
    return bad(what, key, "must be a string of at most " + std::to_string(longest) + " bytes");
  }
  return it->get<std::string>();
}

}  // namespace

std::string signed_text(const std::string& domain, const Head& head) {
  return domain + "|" + std::to_string(head.seq) + "|" + head.hash + "|" + head.time;
}

nlohmann::json to_json(const SignedHead& h) {
  return {{"seq", h.head.seq}, {"hash", h.head.hash}, {"time", h.head.time}, {"signature", h.signature}};
}

Result<SignedHead> signed_head_from_json(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) return bad(what, "audit_head", "must be an object");
  SignedHead h;
  const auto seq = j.find("seq");
  if (seq == j.end() || !seq->is_number_integer() || seq->get<int64_t>() < 0) {
    return bad(what, "seq", "must be a non-negative integer");
  }
  h.head.seq = seq->get<int64_t>();
  MESHFED_ASSIGN_OR_RETURN(h.head.hash, text_field(j, "hash", 64, what));
  if (!is_hash(h.head.hash)) return bad(what, "hash", "must be 64 lowercase hex digits");
  MESHFED_ASSIGN_OR_RETURN(h.head.time, text_field(j, "time", kLongestTime, what));
  MESHFED_ASSIGN_OR_RETURN(h.signature, text_field(j, "signature", kLongestSignature, what));
  if (h.signature.empty()) return bad(what, "signature", "must not be empty");
  return h;
}

Result<SignedHead> signed_head_from_text(std::string_view text, const std::string& what) {
  if (text.size() > kLongestHeader) {
    return bad(what, "audit_head", "must be at most " + std::to_string(kLongestHeader) + " bytes");
  }
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad(what, "audit_head", "must be JSON");
  return signed_head_from_json(j, what);
}

std::string countersigned_text(const std::string& witness, const std::string& domain, const WitnessedHead& w) {
  return witness + "|" + signed_text(domain, w.signed_head.head) + "|" + w.signed_head.signature + "|" + w.witnessed_at;
}

nlohmann::json to_json(const WitnessedHead& w) {
  auto j = to_json(w.signed_head);
  j["witnessed_at"] = w.witnessed_at;
  j["countersignature"] = w.countersignature;
  return j;
}

Result<WitnessedHead> witnessed_head_from_json(const nlohmann::json& j, const std::string& what) {
  WitnessedHead w;
  MESHFED_ASSIGN_OR_RETURN(w.signed_head, signed_head_from_json(j, what));
  MESHFED_ASSIGN_OR_RETURN(w.witnessed_at, text_field(j, "witnessed_at", kLongestTime, what));
  MESHFED_ASSIGN_OR_RETURN(w.countersignature, text_field(j, "countersignature", kLongestSignature, what));
  return w;
}

}  // namespace meshfed::audit
