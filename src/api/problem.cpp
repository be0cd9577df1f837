#include "meshfed/api/problem.hpp"

#include <nlohmann/json.hpp>

namespace meshfed::api {
namespace {

const char* title_of(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

const char* slug_of(int status) {
  switch (status) {
    case 400:
      return "invalid-request";
    case 401:
      return "unauthenticated";
    case 403:
      return "forbidden";
    case 404:
      return "not-found";
    case 405:
      return "method-not-allowed";
    case 409:
      return "conflict";
    case 412:
      return "version-mismatch";
    case 413:
      return "too-large";
    case 415:
      return "unsupported-media-type";
    case 429:
      return "too-many-requests";
    case 431:
      return "headers-too-large";
    case 503:
      return "unavailable";
    default:
      return "internal";
  }
}

}  // namespace

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
      return 409;
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kVersionMismatch:
      return 412;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kUnsupportedMediaType:
      return 415;
    case ErrorCode::kUnavailable:
    case ErrorCode::kCancelled:
      return 503;
    case ErrorCode::kUntrusted:
      return 502;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

nlohmann::json problem_body(int status, const std::string& detail, const std::vector<FieldError>& fields) {
  nlohmann::json body = {{"type", std::string("urn:meshfed:problem:") + slug_of(status)},
                         {"title", title_of(status)},
                         {"status", status},
                         {"detail", detail}};
  if (!fields.empty()) {
    body["errors"] = nlohmann::json::array();
    for (const auto& f : fields) body["errors"].push_back({{"field", f.field}, {"message", f.message}});
  }
  return body;
}

namespace {

http::Response problem_response(int status, const std::string& detail, const std::vector<FieldError>& fields) {
  http::Response r;
  r.status = status;
  r.content_type = "application/problem+json";
  r.body = problem_body(status, detail, fields).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"meshfed\"");
  return r;
}

}  // namespace

http::Response problem(const Error& e) {
  int status = http_status(e.code);
  // Oversized headers have their own status; the server reports them with field "headers".
  if (e.code == ErrorCode::kPayloadTooLarge && !e.fields.empty() && e.fields.front().field == "headers") status = 431;
  // An internal error's text may carry what clients must not see (SQLite's words, paths).
  return problem_response(status, status == 500 ? std::string("internal error; see the broker log") : e.message,
                          e.fields);
}

http::Response problem(int status, const std::string& detail) { return problem_response(status, detail, {}); }

}  // namespace meshfed::api
