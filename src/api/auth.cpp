#include "meshfed/api/auth.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::api {

Result<TokenStore> TokenStore::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(ErrorCode::kInvalidArgument, "cannot read tokens file " + file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  auto store = parse(ss.str());
  if (!store) {
    return make_error(ErrorCode::kInvalidArgument, "tokens file " + file.string() + ": " + store.error().message,
                      store.error().fields);
  }
  return store;
}

Result<TokenStore> TokenStore::parse(std::string_view json_text) {
  using nlohmann::json;
  auto parsed = parse_strict_json(json_text, {16 * 1024 * 1024, 8}, "tokens file");
  if (!parsed) return parsed.error();
  const json root = std::move(parsed).value();
  if (!root.is_array()) return make_error(ErrorCode::kInvalidArgument, "expected an array of {name, sha256, roles}");
  TokenStore store;
  std::vector<FieldError> errors;
  std::set<std::string> names;
  for (size_t i = 0; i < root.size(); ++i) {
    const std::string p = "[" + std::to_string(i) + "]";
    const auto& j = root[i];
    if (!j.is_object()) {
      errors.push_back({p, "expected an object"});
      continue;
    }
    for (const auto& [k, v] : j.items()) {
      if (k != "name" && k != "sha256" && k != "roles") errors.push_back({p + "." + k, "unknown key"});
    }
    Entry e;
    if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty()) {
      errors.push_back({p + ".name", "expected a non-empty string"});
    } else {
      e.principal.name = j["name"].get<std::string>();
      if (!names.insert(e.principal.name).second) errors.push_back({p + ".name", "duplicate name " + e.principal.name});
    }
    const bool hex_ok = j.contains("sha256") && j["sha256"].is_string() &&
                        j["sha256"].get<std::string>().size() == 64 &&
                        j["sha256"].get<std::string>().find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!hex_ok)
      errors.push_back({p + ".sha256", "expected 64 lowercase hex digits (SHA-256 of the token)"});
    else
      e.sha256 = j["sha256"].get<std::string>();
    if (!j.contains("roles") || !j["roles"].is_array() || j["roles"].empty()) {
      errors.push_back({p + ".roles", "expected a non-empty array of roles"});
    } else {
      for (const auto& r : j["roles"]) {
        auto role = r.is_string() ? workflow::parse_role(r.get<std::string>()) : std::nullopt;
        if (!role) {
          errors.push_back(
              {p + ".roles", "unknown role " + r.dump() + " (viewer, requester, approver, admin, gateway)"});
        } else {
          e.principal.roles.insert(*role);
        }
      }
    }
    store.entries_.push_back(std::move(e));
  }
  if (!errors.empty()) return make_error(ErrorCode::kInvalidArgument, "invalid tokens file", std::move(errors));
  return store;
}

std::optional<workflow::Principal> TokenStore::authenticate(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  const std::string digest = sha256_hex(token);
  std::optional<workflow::Principal> found;
  // Compare against every entry so that timing does not reveal which one matched.
  for (const auto& e : entries_) {
    if (constant_time_equal(digest, e.sha256) && !found) found = e.principal;
  }
  return found;
}

Result<NewToken> create_token(const std::string& name, const std::vector<std::string>& roles) {
  if (name.empty()) return make_error(ErrorCode::kInvalidArgument, "--name: required");
  if (roles.empty()) return make_error(ErrorCode::kInvalidArgument, "--role: name at least one role");
  for (const auto& r : roles) {
    if (!workflow::parse_role(r)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--role: unknown role \"" + r + "\" (viewer, requester, approver, admin, gateway)");
    }
  }
  NewToken t;
  t.token = "mf_" + random_token(32);
  t.file_entry = nlohmann::json{{"name", name}, {"sha256", sha256_hex(t.token)}, {"roles", roles}}.dump();
  return t;
}

}  // namespace meshfed::api
