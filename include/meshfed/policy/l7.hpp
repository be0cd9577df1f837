// An export's L7 policy: which HTTP methods and paths, or which gRPC methods, the peer may call
// on an exported service. Part of what is requested and approved; enforced per request by the
// exporter's ingress. The rules are data: read strictly and bounded here, matched against a
// request whose path was normalised first (normalize_path), so that one path has one spelling.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshfed/core/result.hpp"

namespace meshfed::policy {

inline constexpr size_t kMaxRules = 64;              // HTTP rules and gRPC methods together
inline constexpr size_t kMaxRulePathBytes = 1024;    // a rule's path
inline constexpr size_t kMaxGrpcNameBytes = 256;     // "pkg.Service/Method"
inline constexpr size_t kMaxRulesBytes = 16 * 1024;  // all of them, as canonical JSON
inline constexpr size_t kMaxRequestPathBytes = 8192;

struct PathMatch {
  enum class Kind { kExact, kPrefix };
  Kind kind = Kind::kExact;
  std::string value;  // absolute, in normal form
  bool operator==(const PathMatch&) const = default;
};

struct HttpRule {
  std::vector<std::string> methods;  // from kMethods, each once
  PathMatch path;
  bool operator==(const HttpRule&) const = default;
};

struct L7Rules {
  std::vector<HttpRule> http;     // protocol http or http2
  std::vector<std::string> grpc;  // protocol grpc: "pkg.Service/Method" or "pkg.Service/*"
  bool empty() const { return http.empty() && grpc.empty(); }
  bool operator==(const L7Rules&) const = default;
};

// The ingress's count of requests refused under an export's rules, labelled {export, peer}: the
// one meshfed_* family a peer sends along with an export's metrics (each peer its own series).
inline constexpr std::string_view kL7DeniedMetric = "meshfed_gateway_l7_denied_total";

// The methods of RFC 9110 (section 9) and PATCH (RFC 5789).
inline constexpr std::string_view kMethods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                "CONNECT", "OPTIONS", "TRACE", "PATCH"};

// Whether a service port of this protocol may carry rules: http, http2 and grpc.
bool carries_l7(std::string_view protocol);

// Reads `l7`: {"http": [{"methods": [...], "path": {"exact" | "prefix": P}}]} or {"grpc":
// ["pkg.Service/Method" | "pkg.Service/*"]}; 1 to kMaxRules rules, no unknown key, paths
// absolute and in normal form, kMaxRulesBytes in all. Every problem is a FieldError under `path`
// ("l7.http[2].path.prefix").
Result<L7Rules> parse_l7(const nlohmann::json& j, const std::string& path = "l7");
// The same from JSON text (as stored, or carried in a routing table), bounded in size and depth.
Result<L7Rules> parse_l7_text(std::string_view text, const std::string& path = "l7");
// Whether `rules` suit a service port of `protocol`: http rules an http or http2 port, grpc
// rules a grpc port; a FieldError under `path` if not.
Status fits_protocol(const L7Rules& rules, std::string_view protocol, const std::string& path = "l7");
nlohmann::json to_json(const L7Rules& rules);

// A request target (origin-form) as the rules see it: the query dropped, percent-encoded
// unreserved characters decoded, other escapes upper-cased, dot segments removed. An error for
// what has no single reading: not absolute, a fragment, a control byte, space or backslash, a
// broken escape, an empty segment ("//"), a ".." above the root, longer than
// kMaxRequestPathBytes.
Result<std::string> normalize_path(std::string_view target);

// A request's path as the ingress judges it and passes it on: normalize_path's form, refused
// also when it holds an escaped '/' or '\' ("%2F", "%5C"), which the rules would read as one
// segment and a service that decodes it as two.
Result<std::string> judged_path(std::string_view target);

// Whether `rules` let `method` reach `normalized_path` (from normalize_path).
bool allows_http(const L7Rules& rules, std::string_view method, std::string_view normalized_path);
// Whether `rules` let a gRPC call with this :path ("/pkg.Service/Method") through.
bool allows_grpc(const L7Rules& rules, std::string_view path);

}  // namespace meshfed::policy
