#include "meshfed/api/auth.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/json_reader.hpp"
#include "meshfed/core/durable_file.hpp"
#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::api {

Result<TokenStore> TokenStore::load(const std::filesystem::path& file) {
  errno = 0;
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot read " + file.string() + ": " + (errno ? std::strerror(errno) : "unreadable"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto store = parse(ss.str());
  if (!store) {
    return make_error(ErrorCode::kInvalidArgument, file.string() + ": " + store.error().message, store.error().fields);
  }
  return store;
}

Result<TokenStore> TokenStore::parse(std::string_view json_text) {
  using nlohmann::json;
  auto parsed = parse_strict_json(json_text, {16 * 1024 * 1024, 8}, "tokens file");
  if (!parsed) {
    return make_error(ErrorCode::kInvalidArgument,
                      parsed.error().message +
                          "; a tokens file is one JSON array of {name, sha256, roles}: meshfed token add|revoke keep "
                          "it so",
                      parsed.error().fields);
  }
  const json root = std::move(parsed).value();
  if (!root.is_array()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a tokens file is one JSON array of {name, sha256, roles} (as meshfed token add writes it), "
                      "not a JSON " +
                          std::string(root.type_name()));
  }
  TokenStore store;
  FieldErrors errors;
  std::set<std::string> names;
  for (size_t i = 0; i < root.size(); ++i) {
    const std::string p = "[" + std::to_string(i) + "]";
    if (!root[i].is_object()) {
      errors.add(p, "expected an object");
      continue;
    }
    ObjectReader read(root[i], p, errors);  // unknown keys are errors: a typo must not pass
    Entry e;
    const auto name = read.string("name", true);
    if (name && name->empty()) errors.add(read.path_of("name"), "expected a non-empty string");
    if (name && !name->empty()) {
      e.principal.name = *name;
      if (!names.insert(*name).second) errors.add(read.path_of("name"), "duplicate name " + *name);
    }
    const auto digest = read.string("sha256", true);
    if (digest && (digest->size() != 64 || digest->find_first_not_of("0123456789abcdef") != std::string::npos)) {
      errors.add(read.path_of("sha256"), "expected 64 lowercase hex digits (SHA-256 of the token)");
    } else if (digest) {
      e.sha256 = *digest;
    }
    const auto roles = read.strings("roles");
    if (!read.has("roles") || (roles && roles->empty())) {
      errors.add(read.path_of("roles"), "expected a non-empty array of roles");
    }
    for (const auto& r : roles.value_or(std::vector<std::string>{})) {
      if (auto role = workflow::parse_role(r)) {
        e.principal.roles.insert(*role);
      } else {
        errors.add(read.path_of("roles"), "unknown role \"" + r + "\" (viewer, requester, approver, admin, gateway)");
      }
    }
    store.entries_.push_back(std::move(e));
  }
  if (!errors.empty()) return make_error(ErrorCode::kInvalidArgument, "invalid tokens file", errors.take());
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

namespace {

Error file_error(const std::string& what, const std::filesystem::path& file) {
  return make_error(ErrorCode::kInternal, "cannot " + what + " " + file.string() + ": " + std::strerror(errno));
}

}  // namespace

Result<std::vector<TokenFileEntry>> read_tokens_file(const std::filesystem::path& file, bool missing_ok) {
  std::error_code ec;
  if (missing_ok && !std::filesystem::exists(file, ec) && !ec) return std::vector<TokenFileEntry>{};
  // The broker's own reading: what it refuses, we refuse.
  MESHFED_RETURN_IF_ERROR(TokenStore::load(file));
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const auto root = nlohmann::json::parse(text.str(), nullptr, false);
  if (!root.is_array()) return make_error(ErrorCode::kInternal, file.string() + " changed while it was read");
  std::vector<TokenFileEntry> out;
  for (const auto& e : root) {
    out.push_back({e.at("name").get<std::string>(), e.at("roles").get<std::vector<std::string>>(),
                   e.at("sha256").get<std::string>()});
  }
  return out;
}

Status write_tokens_file(const std::filesystem::path& file, const std::vector<TokenFileEntry>& entries) {
  std::string text = "[";
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    text += (i ? ",\n  " : "\n  ") + nlohmann::json{{"name", e.name}, {"roles", e.roles}, {"sha256", e.sha256}}.dump();
  }
  text += entries.empty() ? "]\n" : "\n]\n";

  const auto folder = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  struct stat old {};
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  mode_t mode = 0640;
  if (::stat(file.c_str(), &old) == 0) {
    uid = old.st_uid;
    gid = old.st_gid;
    mode = old.st_mode & 07777;
  } else if (errno != ENOENT) {
    return file_error("read", file);
  } else {
    struct stat dir {};
    if (::stat(folder.c_str(), &dir) != 0) return file_error("read the folder of", file);
    gid = dir.st_gid;
  }
  // Owner and group before the mode: a group-readable file never exists with the wrong group.
  return replace_file_durably(file, text, [&](int fd) {
    return (::fchown(fd, uid, gid) == 0 || (uid == ::geteuid() && ::fchown(fd, static_cast<uid_t>(-1), gid) == 0)) &&
           ::fchmod(fd, mode) == 0;
  });
}

}  // namespace meshfed::api
