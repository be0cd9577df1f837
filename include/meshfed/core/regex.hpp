// Whole-string regular expressions (POSIX extended syntax, which covers the RE2 subset people
// write in PromQL selectors and `service_regex`: alternation, groups, classes, repetition).
// libc's engine is used because std::regex is slow and recursive on long inputs.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "meshfed/core/result.hpp"

namespace meshfed {

class Regex {
 public:
  // Anchored at both ends, as Prometheus anchors label matchers.
  static Result<Regex> compile(const std::string& pattern);

  bool matches(const std::string& s) const;
  // The text of the first group when the whole of `s` matches; nullopt otherwise.
  std::optional<std::string> first_group(const std::string& s) const;
  const std::string& pattern() const { return pattern_; }
  size_t groups() const;  // capturing groups in the pattern

 private:
  struct Compiled;
  Regex(std::string pattern, std::shared_ptr<Compiled> compiled);
  std::string pattern_;
  std::shared_ptr<Compiled> compiled_;  // immutable after compile: shareable between threads
};

}  // namespace meshfed
