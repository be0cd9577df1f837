// Whole-string regular expressions from users (`match[]` selectors, `service_regex`), in RE2
// syntax as Prometheus uses it. RE2 runs in time linear in the input and its memory is capped
// per pattern, so a hostile pattern costs a bounded compile and is refused past the cap.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "meshfed/core/result.hpp"

namespace re2 {
class RE2;
}

namespace meshfed {

class Regex {
 public:
  static constexpr size_t kMaxPatternBytes = 1024;
  static constexpr int64_t kMaxProgramMemory = 1 << 20;  // bytes RE2 may use for one pattern

  // Anchored at both ends, as Prometheus anchors label matchers.
  static Result<Regex> compile(const std::string& pattern);

  bool matches(const std::string& s) const;
  // The text of the first group when the whole of `s` matches; nullopt otherwise.
  std::optional<std::string> first_group(const std::string& s) const;
  size_t groups() const;  // capturing groups in the pattern

 private:
  explicit Regex(std::shared_ptr<const re2::RE2> compiled);
  std::shared_ptr<const re2::RE2> compiled_;  // immutable after compile: shareable between threads
};

}  // namespace meshfed
