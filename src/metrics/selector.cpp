#include "meshfed/metrics/selector.hpp"

namespace meshfed::metrics {
namespace {

Error bad(std::string_view text, const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, "invalid series selector \"" + std::string(text) + "\": " + what);
}

void skip_blanks(std::string_view s, size_t& at) {
  while (at < s.size() && (s[at] == ' ' || s[at] == '\t')) ++at;
}

bool ident_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

// A quoted PromQL string ("..." or '...'), with the usual backslash escapes.
std::optional<std::string> quoted(std::string_view s, size_t& at) {
  if (at >= s.size() || (s[at] != '"' && s[at] != '\'')) return std::nullopt;
  const char quote = s[at++];
  std::string out;
  for (; at < s.size(); ++at) {
    char c = s[at];
    if (c == quote) {
      ++at;
      return out;
    }
    if (c == '\\' && at + 1 < s.size()) {
      c = s[++at];
      if (c == 'n')
        c = '\n';
      else if (c == 't')
        c = '\t';
    }
    out.push_back(c);
  }
  return std::nullopt;
}

}  // namespace

bool Selector::Matcher::matches(const std::string& v) const {
  switch (op) {
    case Op::kEqual:
      return v == value;
    case Op::kNotEqual:
      return v != value;
    case Op::kRegex:
      return regex->matches(v);
    case Op::kNotRegex:
      return !regex->matches(v);
  }
  return false;
}

Result<Selector> Selector::parse(std::string_view text) {
  Selector sel;
  size_t at = 0;
  skip_blanks(text, at);
  const size_t name_start = at;
  while (at < text.size() && ident_char(text[at], at == name_start)) ++at;
  if (at > name_start)
    sel.matchers_.push_back(
        {"__name__", Matcher::Op::kEqual, std::string(text.substr(name_start, at - name_start)), {}});
  skip_blanks(text, at);
  if (at < text.size() && text[at] == '{') {
    ++at;
    for (;;) {
      skip_blanks(text, at);
      if (at < text.size() && text[at] == '}') {
        ++at;
        break;
      }
      const size_t label_start = at;
      while (at < text.size() && ident_char(text[at], at == label_start) && text[at] != ':') ++at;
      if (at == label_start) return bad(text, "expected a label name at offset " + std::to_string(at));
      Matcher m;
      m.label = std::string(text.substr(label_start, at - label_start));
      skip_blanks(text, at);
      static const std::pair<std::string_view, Matcher::Op> kOps[] = {{"=~", Matcher::Op::kRegex},
                                                                      {"!~", Matcher::Op::kNotRegex},
                                                                      {"!=", Matcher::Op::kNotEqual},
                                                                      {"=", Matcher::Op::kEqual}};
      bool found = false;
      for (const auto& [token, op] : kOps) {
        if (text.substr(at, token.size()) != token) continue;
        m.op = op;
        at += token.size();
        found = true;
        break;
      }
      if (!found) return bad(text, "expected =, !=, =~ or !~ after " + m.label);
      skip_blanks(text, at);
      auto value = quoted(text, at);
      if (!value) return bad(text, "expected a quoted value for " + m.label);
      m.value = std::move(*value);
      if (m.op == Matcher::Op::kRegex || m.op == Matcher::Op::kNotRegex) {
        auto re = Regex::compile(m.value);
        if (!re) return bad(text, re.error().message);
        m.regex = std::move(re).value();
      }
      sel.matchers_.push_back(std::move(m));
      skip_blanks(text, at);
      if (at < text.size() && text[at] == ',')
        ++at;
      else if (at >= text.size() || text[at] != '}')
        return bad(text, "expected ',' or '}'");
    }
  }
  skip_blanks(text, at);
  if (at != text.size()) return bad(text, "unexpected text at offset " + std::to_string(at));
  if (sel.matchers_.empty()) return bad(text, "a selector needs a metric name or at least one label matcher");
  // Prometheus refuses selectors that would match every series, e.g. {a=""} or {a=~".*"}.
  bool selective = false;
  for (const auto& m : sel.matchers_) selective = selective || !m.matches("");
  if (!selective) return bad(text, "it would match every series; add a matcher that does not match the empty value");
  return sel;
}

bool Selector::matches(const Sample& s) const {
  static const std::string kEmpty;
  for (const auto& m : matchers_) {
    const std::string* v = m.label == "__name__" ? &s.name : s.label(m.label);
    if (!m.matches(v ? *v : kEmpty)) return false;
  }
  return true;
}

Result<std::vector<Selector>> parse_match_params(const std::vector<std::string>& match) {
  if (match.size() > kMaxMatchParams) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "at most " + std::to_string(kMaxMatchParams) + " match[] selectors, got " + std::to_string(match.size()),
        {{"match[]", "too many selectors"}});
  }
  std::vector<Selector> out;
  for (const auto& m : match) {
    if (m.size() > kMaxSelectorBytes) {
      return make_error(ErrorCode::kInvalidArgument,
                        "a match[] selector is longer than " + std::to_string(kMaxSelectorBytes) + " bytes",
                        {{"match[]", "selector too long"}});
    }
    MESHFED_ASSIGN_OR_RETURN(auto sel, Selector::parse(m));
    out.push_back(std::move(sel));
  }
  return out;
}

}  // namespace meshfed::metrics
