// The long-poll parameters shared by the catalog watch (peer API) and the route watch (admin
// API): `since` (a revision) and `wait` (seconds, at most 300).
#pragma once

#include <cstdint>
#include <string>

#include "meshfed/core/result.hpp"
#include "meshfed/http/message.hpp"

namespace meshfed::api {

inline constexpr int64_t kMaxWaitSeconds = 300;

struct LongPoll {
  int64_t since = 0;
  int64_t wait_s = 0;
};

// Reads `since` and `wait` from the query; names the parameter that is wrong.
Result<LongPoll> parse_long_poll(const http::Request& req);
// "Nothing new yet": the server waits on `key` for up to `wait_s`, then answers 304.
http::Response wait_on(const std::string& key, int64_t wait_s);

}  // namespace meshfed::api
