// The one place where error codes become HTTP statuses and application/problem+json bodies
// (RFC 9457). What the client sees is the error's message and field list; internals stay in
// the log.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "meshfed/core/result.hpp"
#include "meshfed/http/message.hpp"

namespace meshfed::api {

int http_status(ErrorCode code);
http::Response problem(const Error& e);
http::Response problem(int status, const std::string& detail);
// The problem+json document itself, for who reports an error in the API's shape without an
// HTTP exchange (meshfed -o json).
nlohmann::json problem_body(int status, const std::string& detail, const std::vector<FieldError>& fields = {});

}  // namespace meshfed::api
