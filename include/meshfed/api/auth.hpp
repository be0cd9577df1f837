// Bearer-token authentication against the tokens file. Only
// SHA-256 digests are stored; comparison is constant-time; tokens never reach a log.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "meshfed/core/result.hpp"
#include "meshfed/workflow/principal.hpp"

namespace meshfed::api {

class TokenStore {
 public:
  static Result<TokenStore> load(const std::filesystem::path& file);
  static Result<TokenStore> parse(std::string_view json_text);

  // The principal whose token digest matches, if any.
  std::optional<workflow::Principal> authenticate(std::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    workflow::Principal principal;
    std::string sha256;
  };
  std::vector<Entry> entries_;
};

// A new random token and the tokens-file line that admits it.
struct NewToken {
  std::string token;
  std::string file_entry;  // JSON object for the tokens file
};
Result<NewToken> create_token(const std::string& name, const std::vector<std::string>& roles);

// The tokens file as `meshfed token add|list|revoke` edit it. Read, it is checked exactly as
// the broker checks it; written, it is replaced whole and atomically (a new file in the same
// folder, synced, renamed over the old one), with the owner, group and mode the old one had
// (a new file: 0640, the group of its folder, so the broker's group can read it).
struct TokenFileEntry {
  std::string name;
  std::vector<std::string> roles;
  std::string sha256;
};
// A missing file reads as no entries when `missing_ok`.
Result<std::vector<TokenFileEntry>> read_tokens_file(const std::filesystem::path& file, bool missing_ok);
Status write_tokens_file(const std::filesystem::path& file, const std::vector<TokenFileEntry>& entries);

}  // namespace meshfed::api
