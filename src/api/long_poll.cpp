#include "meshfed/api/long_poll.hpp"

#include <tuple>

#include "meshfed/core/text.hpp"

namespace meshfed::api {

Result<LongPoll> parse_long_poll(const http::Request& req) {
  LongPoll p;
  for (auto [name, target, max] :
       {std::tuple{"since", &p.since, INT64_MAX}, std::tuple{"wait", &p.wait_s, kMaxWaitSeconds}}) {
    if (auto v = req.query_param(name)) {
      auto n = parse_int(*v);
      if (!n || *n < 0 || *n > max) {
        return make_error(ErrorCode::kInvalidArgument, std::string("bad ") + name,
                          {{name, "expected an integer 0.." + std::to_string(max) + ", got \"" + *v + "\""}});
      }
      *target = *n;
    }
  }
  return p;
}

http::Response wait_on(const std::string& key, int64_t wait_s) {
  http::Response r;
  r.wait_key = key;
  r.wait = std::chrono::seconds(wait_s);
  return r;
}

}  // namespace meshfed::api
