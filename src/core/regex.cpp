#include "meshfed/core/regex.hpp"

#include <re2/re2.h>

namespace meshfed {

Regex::Regex(std::shared_ptr<const re2::RE2> compiled) : compiled_(std::move(compiled)) {}

Result<Regex> Regex::compile(const std::string& pattern) {
  auto shown = [&] { return pattern.size() > 64 ? pattern.substr(0, 61) + "..." : pattern; };
  if (pattern.size() > kMaxPatternBytes) {
    return make_error(ErrorCode::kInvalidArgument, "regular expression \"" + shown() + "\" is longer than " +
                                                       std::to_string(kMaxPatternBytes) + " bytes");
  }
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kMaxProgramMemory);
  auto re = std::make_shared<const re2::RE2>(pattern, options);
  if (!re->ok()) {
    return make_error(ErrorCode::kInvalidArgument, "invalid regular expression \"" + shown() + "\": " + re->error());
  }
  return Regex(std::move(re));
}

bool Regex::matches(const std::string& s) const { return re2::RE2::FullMatch(s, *compiled_); }

size_t Regex::groups() const { return static_cast<size_t>(compiled_->NumberOfCapturingGroups()); }

std::optional<std::string> Regex::first_group(const std::string& s) const {
  if (groups() < 1) return std::nullopt;
  re2::StringPiece group[2];
  if (!compiled_->Match(s, 0, s.size(), re2::RE2::ANCHOR_BOTH, group, 2) || group[1].data() == nullptr)
    return std::nullopt;
  return std::string(group[1].data(), group[1].size());
}

}  // namespace meshfed
