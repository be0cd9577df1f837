// PromQL series selectors, as `/federate?match[]=` takes them: `name`, `{l="v"}` or
// `name{l="v", l!="v", l=~"re", l!~"re"}`; `__name__` matches the series name.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshfed/core/regex.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/metrics/exposition.hpp"

namespace meshfed::metrics {

class Selector {
 public:
  static Result<Selector> parse(std::string_view text);
  bool matches(const Sample& s) const;

 private:
  struct Matcher {
    std::string label;
    enum class Op { kEqual, kNotEqual, kRegex, kNotRegex } op = Op::kEqual;
    std::string value;
    std::optional<Regex> regex;
    bool matches(const std::string& v) const;
  };
  std::vector<Matcher> matchers_;
};

// The `match[]` parameters of one /federate request: at most kMaxMatchParams selectors of at
// most kMaxSelectorBytes each (docs/security.md).
inline constexpr size_t kMaxMatchParams = 16;
inline constexpr size_t kMaxSelectorBytes = 1024;
Result<std::vector<Selector>> parse_match_params(const std::vector<std::string>& match);

}  // namespace meshfed::metrics
