#include "meshfed/policy/l7.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "core/json_reader.hpp"
#include "meshfed/core/strict_json.hpp"

namespace meshfed::policy {
namespace {

using nlohmann::json;

bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// The characters RFC 3986 allows in a path, beside unreserved ones and escapes.
bool path_char(char c) {
  return unreserved(c) || c == '/' || c == ':' || c == '@' || c == '!' || c == '$' || c == '&' || c == '\'' ||
         c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Error ambiguous(const std::string& why) { return make_error(ErrorCode::kInvalidArgument, "ambiguous path: " + why); }

// A protobuf full name: dot-separated identifiers.
bool grpc_service(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  bool at_start = true;
  for (const char c : s) {
    if (c == '.') {
      if (at_start) return false;
      at_start = true;
      continue;
    }
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (!letter && !(c >= '0' && c <= '9' && !at_start)) return false;
    at_start = false;
  }
  return true;
}

bool grpc_name(std::string_view s) {
  const auto slash = s.find('/');
  if (s.size() > kMaxGrpcNameBytes || slash == std::string_view::npos) return false;
  const auto method = s.substr(slash + 1);
  return grpc_service(s.substr(0, slash)) &&
         (method == "*" || (method.find('.') == std::string_view::npos && grpc_service(method)));
}

PathMatch read_path(ObjectReader& rule) {
  PathMatch out;
  const json* p = rule.get("path");
  if (!p) {
    rule.errors().add(rule.path_of("path"), "required: {\"exact\": P} or {\"prefix\": P}");
    return out;
  }
  ObjectReader match(*p, rule.path_of("path"), rule.errors());
  if (!match.valid()) return out;
  const bool exact = match.has("exact");
  if (exact == match.has("prefix")) {
    (void)match.get("exact");  // said here, not again as unknown keys
    (void)match.get("prefix");
    rule.errors().add(rule.path_of("path"), "expected exactly one of exact and prefix");
    return out;
  }
  const std::string key = exact ? "exact" : "prefix";
  out.kind = exact ? PathMatch::Kind::kExact : PathMatch::Kind::kPrefix;
  out.value = match.string(key, true).value_or("");
  if (out.value.empty()) return out;  // reported by the reader
  if (out.value.size() > kMaxRulePathBytes) {
    match.errors().add(match.path_of(key), "at most " + std::to_string(kMaxRulePathBytes) + " bytes");
  } else if (out.value.find('?') != std::string::npos) {
    match.errors().add(match.path_of(key), "a path without a query");
  } else if (auto normal = normalize_path(out.value); !normal || *normal != out.value) {
    // A rule another spelling of the same path could slip past is no rule.
    match.errors().add(match.path_of(key), normal ? "not in normal form: write it as \"" + *normal + "\""
                                                  : "expected an absolute path: " + normal.error().message);
  }
  return out;
}

std::vector<std::string> read_methods(ObjectReader& rule) {
  auto methods = rule.strings("methods");
  if (!methods) {
    if (!rule.has("methods")) rule.errors().add(rule.path_of("methods"), "required: one or more HTTP methods");
    return {};
  }
  if (methods->empty()) rule.errors().add(rule.path_of("methods"), "required: one or more HTTP methods");
  std::set<std::string> seen;
  for (size_t i = 0; i < methods->size(); ++i) {
    const auto& m = (*methods)[i];
    const std::string at = rule.path_of("methods") + "[" + std::to_string(i) + "]";
    if (std::find(std::begin(kMethods), std::end(kMethods), m) == std::end(kMethods)) {
      rule.errors().add(at, "expected one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH");
    } else if (!seen.insert(m).second) {
      rule.errors().add(at, "named twice");
    }
  }
  return *methods;
}

}  // namespace

bool carries_l7(std::string_view protocol) { return protocol == "http" || protocol == "http2" || protocol == "grpc"; }

Result<L7Rules> parse_l7(const json& j, const std::string& path) {
  FieldErrors errors;
  L7Rules out;
  {
    ObjectReader top(j, path, errors);
    const bool grpc = top.valid() && top.has("grpc");
    const std::string list = grpc ? "grpc" : "http";
    if (top.valid() && top.has("grpc") == top.has("http")) {
      (void)top.get("http");  // said here, not again as unknown keys
      (void)top.get("grpc");
      errors.add(path, "expected exactly one of http (for an http or http2 port) and grpc (for a grpc port)");
    } else if (top.valid()) {
      const json* rules = top.get(list);
      if (!rules->is_array() || rules->empty() || rules->size() > kMaxRules) {
        errors.add(top.path_of(list), "expected 1 to " + std::to_string(kMaxRules) + " rules");
      } else if (grpc) {
        for (size_t i = 0; i < rules->size(); ++i) {
          const auto& name = (*rules)[i];
          const std::string at = top.path_of(list) + "[" + std::to_string(i) + "]";
          if (!name.is_string() || !grpc_name(name.get<std::string>())) {
            errors.add(at, "expected \"package.Service/Method\" or \"package.Service/*\"");
          } else if (std::find(out.grpc.begin(), out.grpc.end(), name.get<std::string>()) != out.grpc.end()) {
            errors.add(at, "named twice");
          } else {
            out.grpc.push_back(name.get<std::string>());
          }
        }
      } else {
        for (size_t i = 0; i < rules->size(); ++i) {
          ObjectReader rule((*rules)[i], top.path_of(list) + "[" + std::to_string(i) + "]", errors);
          if (!rule.valid()) continue;
          HttpRule r;
          r.methods = read_methods(rule);
          r.path = read_path(rule);
          out.http.push_back(std::move(r));
        }
      }
    }
  }  // the readers report unknown keys as they go
  if (errors.empty()) {
    // The rules travel in every catalog answer with their export: bounded as a whole too.
    const size_t bytes = to_json(out).dump().size();
    if (bytes > kMaxRulesBytes) {
      errors.add(path, "the rules take " + std::to_string(bytes) + " bytes as JSON; at most " +
                           std::to_string(kMaxRulesBytes));
    }
  }
  if (!errors.empty()) {
    auto fields = errors.take();
    const std::string first = fields.front().field + ": " + fields.front().message;
    return make_error(ErrorCode::kInvalidArgument, "bad L7 rules: " + first, std::move(fields));
  }
  return out;
}

Result<L7Rules> parse_l7_text(std::string_view text, const std::string& path) {
  // 64 rules of 9 methods and a 1 KiB path each, with room for the JSON around them.
  auto j = parse_strict_json(text, {.max_bytes = 128 * 1024, .max_depth = 5}, path);
  if (!j) return j.error();
  return parse_l7(*j, path);
}

Status fits_protocol(const L7Rules& rules, std::string_view protocol, const std::string& path) {
  std::string why;
  if (!carries_l7(protocol)) {
    why =
        "only an http, http2 or grpc port carries L7 rules (the service must speak plaintext HTTP/1.1 or h2c "
        "inside the tunnel); this one is " +
        std::string(protocol);
  } else if (!rules.grpc.empty() && protocol != "grpc") {
    why = "grpc rules need a grpc port; this one is " + std::string(protocol) + ": write http rules";
  } else if (!rules.http.empty() && protocol == "grpc") {
    why = "a grpc port takes grpc rules (\"package.Service/Method\")";
  }
  if (why.empty()) return {};
  return make_error(ErrorCode::kInvalidArgument, path + ": " + why, {{path, why}});
}

json to_json(const L7Rules& rules) {
  if (!rules.grpc.empty()) return {{"grpc", rules.grpc}};
  json http = json::array();
  for (const auto& r : rules.http) {
    const char* kind = r.path.kind == PathMatch::Kind::kExact ? "exact" : "prefix";
    http.push_back({{"methods", r.methods}, {"path", {{kind, r.path.value}}}});
  }
  return {{"http", std::move(http)}};
}

Result<std::string> normalize_path(std::string_view target) {
  if (target.size() > kMaxRequestPathBytes) return ambiguous("longer than " + std::to_string(kMaxRequestPathBytes));
  if (target.empty() || target.front() != '/') return ambiguous("not an absolute path");
  const auto query = target.find('?');
  const std::string_view raw = target.substr(0, query);
  // Escapes first: an escaped unreserved character is that character ("%2e" is "."); any
  // other escape stays one, so that "%2F" is never a separator.
  std::string decoded;
  decoded.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '%') {
      const int hi = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
      const int lo = hi >= 0 ? hex_value(raw[i + 2]) : -1;
      if (lo < 0) return ambiguous("a % not followed by two hex digits");
      const char value = static_cast<char>(hi * 16 + lo);
      if (unreserved(value)) {
        decoded += value;
      } else {
        static constexpr char kHex[] = "0123456789ABCDEF";
        decoded += {'%', kHex[hi], kHex[lo]};
      }
      i += 2;
    } else if (c == '#') {
      return ambiguous("a fragment");
    } else if (!path_char(c)) {
      return ambiguous("a byte no path may hold (control, space, backslash or non-ASCII)");
    } else {
      decoded += c;
    }
  }
  // Segments, with dot segments removed (RFC 3986, 5.2.4) and no empty one in between.
  std::vector<std::string_view> kept;
  size_t start = 1;
  for (;;) {
    const size_t end = decoded.find('/', start);
    const std::string_view segment =
        std::string_view(decoded).substr(start, end == std::string::npos ? std::string::npos : end - start);
    const bool last = end == std::string::npos;
    if (segment == "..") {
      if (kept.empty()) return ambiguous("\"..\" above the root");
      kept.pop_back();
      if (last) kept.emplace_back();  // "/a/b/.." is "/a/"
    } else if (segment == ".") {
      if (last) kept.emplace_back();
    } else if (segment.empty() && !last) {
      return ambiguous("an empty segment (\"//\")");
    } else {
      kept.push_back(segment);
    }
    if (last) break;
    start = end + 1;
  }
  std::string out;
  for (const auto& segment : kept) {
    out += '/';
    out += segment;
  }
  return out.empty() ? std::string("/") : out;
}

Result<std::string> judged_path(std::string_view target) {
  auto path = normalize_path(target);
  if (path && (path->find("%2F") != std::string::npos || path->find("%5C") != std::string::npos)) {
    return ambiguous("an escaped '/' or '\\' (%2F, %5C)");
  }
  return path;
}

bool allows_http(const L7Rules& rules, std::string_view method, std::string_view normalized_path) {
  return std::any_of(rules.http.begin(), rules.http.end(), [&](const HttpRule& r) {
    const bool method_ok = std::find(r.methods.begin(), r.methods.end(), method) != r.methods.end();
    const bool path_ok = r.path.kind == PathMatch::Kind::kExact ? normalized_path == r.path.value
                                                                : normalized_path.starts_with(r.path.value);
    return method_ok && path_ok;
  });
}

bool allows_grpc(const L7Rules& rules, std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  const std::string_view name = path.substr(1);
  const auto slash = name.find('/');
  if (slash == std::string_view::npos || !grpc_name(name) || name.substr(slash + 1) == "*") return false;
  const std::string_view service = name.substr(0, slash);
  return std::any_of(rules.grpc.begin(), rules.grpc.end(), [&](const std::string& rule) {
    return rule == name || (rule.ends_with("/*") && std::string_view(rule).substr(0, rule.size() - 2) == service);
  });
}

}  // namespace meshfed::policy
