#include "meshfed/core/regex.hpp"

#include <regex.h>

namespace meshfed {

struct Regex::Compiled {
  regex_t re{};
  ~Compiled() { regfree(&re); }
};

Regex::Regex(std::string pattern, std::shared_ptr<Compiled> compiled)
    : pattern_(std::move(pattern)), compiled_(std::move(compiled)) {}

Result<Regex> Regex::compile(const std::string& pattern) {
  auto c = std::make_shared<Compiled>();
  // The user's pattern becomes group 1's content; the outer group only anchors it.
  const std::string anchored = "^(" + pattern + ")$";
  if (int rc = regcomp(&c->re, anchored.c_str(), REG_EXTENDED); rc != 0) {
    char why[256];
    regerror(rc, &c->re, why, sizeof why);
    return make_error(ErrorCode::kInvalidArgument, "invalid regular expression \"" + pattern + "\": " + why);
  }
  return Regex(pattern, std::move(c));
}

bool Regex::matches(const std::string& s) const { return regexec(&compiled_->re, s.c_str(), 0, nullptr, 0) == 0; }

size_t Regex::groups() const { return compiled_->re.re_nsub - 1; }

std::optional<std::string> Regex::first_group(const std::string& s) const {
  regmatch_t m[3];
  if (regexec(&compiled_->re, s.c_str(), 3, m, 0) != 0) return std::nullopt;
  // m[1] is the anchoring group around the whole pattern; m[2] is the user's first group.
  if (m[2].rm_so < 0) return std::nullopt;
  return s.substr(static_cast<size_t>(m[2].rm_so), static_cast<size_t>(m[2].rm_eo - m[2].rm_so));
}

}  // namespace meshfed
