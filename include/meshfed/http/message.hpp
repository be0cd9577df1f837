// HTTP requests and responses as plain data, so that handlers never see Beast types and
// compile fast.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace meshfed::http {

struct Request {
  std::string method;                             // "GET", "POST", ...
  std::string target;                             // as received, with the query
  std::string path;                               // percent-decoded, without the query
  std::multimap<std::string, std::string> query;  // percent-decoded
  std::map<std::string, std::string> headers;     // names lowercased
  std::string body;
  std::string remote;  // "ip:port" of the caller
  std::string peer;    // the authenticated peer domain on mutually authenticated listeners

  std::optional<std::string> header(const std::string& lowercase_name) const;
  std::optional<std::string> query_param(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Long-poll: nothing to say yet. The server waits until `wait_key` is notified (then asks
  // the handler again) or `wait` passes (then answers 304 Not Modified, with `headers`).
  std::string wait_key;
  std::chrono::milliseconds wait{0};
  bool waiting() const { return wait.count() > 0; }
};

// Runs the job that answers a `method` request for `path` off the event loop (the store
// thread, or another executor its route allows); the job must not block the loop.
using BlockingRunner =
    std::function<void(const std::string& method, const std::string& path, std::function<void()> job)>;

// Splits a request target into a decoded path and query parameters. False if malformed.
bool parse_target(const std::string& target, std::string& path, std::multimap<std::string, std::string>& query);
std::string percent_encode(const std::string& s);

}  // namespace meshfed::http
