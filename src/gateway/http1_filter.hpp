// The ingress's HTTP/1.1 filter for an export with L7 rules, without I/O: the caller's bytes and
// the service's bytes go in; what goes on to the service, what goes back to the caller and what
// was refused come out. Requests are taken one at a time: the next is read only once the
// service's response to the one before has passed, so an answer of ours never overtakes one of
// the service's, and a request smuggled behind another is read, and judged, as a request.
//
// What reaches the service is rebuilt from the parsed request: the path as the rules saw it
// (normal form) and the fields one by one, so the service and the rules read the same request.
// What cannot be read one way only (Content-Length with Transfer-Encoding, obs-fold, a broken
// chunk, an escaped slash) gets 400 and the connection ends; a request outside the rules gets
// 403 and the connection goes on.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshfed/policy/l7.hpp"

namespace meshfed::gateway {

inline constexpr size_t kMaxRequestHeaderBytes = 16 * 1024;
inline constexpr size_t kMaxResponseHeaderBytes = 64 * 1024;
inline constexpr size_t kMaxDeniedPathBytes = 256;  // of a path in the access log and the 403

// One request refused: what the access log and the counter say about it.
struct Refusal {
  int status = 403;    // 403 outside the rules, 400 unreadable
  std::string method;  // "-" when unreadable
  std::string path;    // normal form, or as sent when it has none; truncated
  std::string reason;
};

// A caller's path fit for a log line and an answer: at most kMaxDeniedPathBytes, printable, no
// quote or backslash (others escaped as %XX).
std::string loggable_path(std::string_view path);
// An RFC 9457 problem+json body naming the export whose rules answered.
std::string problem_body(int status, const std::string& detail, const std::string& export_id);
// The detail of a refusal: "export E does not allow M P: why" for a 403, else the reason.
std::string refusal_detail(int status, const std::string& export_id, const std::string& method, const std::string& path,
                           const std::string& reason);

struct FilterOutput {
  std::string to_upstream;
  std::string to_client;
  std::vector<Refusal> refused;
};

class Http1Filter {
 public:
  // The rules in force for the next request; nullopt when the route is gone (everything refused).
  using Rules = std::function<std::optional<std::shared_ptr<const policy::L7Rules>>()>;
  enum class Want {
    kClient,    // bytes from the caller
    kUpstream,  // bytes from the service
    kTunnel,    // the service switched protocols: bytes both ways, as they come
    kClose,     // send what is out, then end the connection
  };

  Http1Filter(std::string export_id, Rules rules);
  ~Http1Filter();

  Want want() const;
  // Takes the caller's bytes (when want() is kClient).
  void from_client(std::string_view bytes, FilterOutput& out);
  // Takes the service's bytes (when want() is kUpstream).
  void from_upstream(std::string_view bytes, FilterOutput& out);
  // The caller ended its side.
  void client_ended(FilterOutput& out);
  // The service ended its side.
  void upstream_ended(FilterOutput& out);

 private:
  struct Impl;  // Beast's parsers, kept to one translation unit
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshfed::gateway
