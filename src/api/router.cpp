#include "meshfed/api/router.hpp"

#include "meshfed/core/text.hpp"

namespace meshfed::api {

void Router::add(std::string method, std::string pattern,
                 std::function<http::Response(const http::Request&, const PathParams&)> handler, Runs runs) {
  routes_.push_back({std::move(method), std::move(pattern), std::move(handler), runs});
}

Runs Router::runs_on(const std::string& method, const std::string& path) const {
  for (const auto& r : routes_) {
    PathParams params;
    if (r.method == method && match_pattern(r.pattern, path, params)) return r.runs;
  }
  return Runs::kOnStore;
}

bool Router::match_pattern(const std::string& pattern, const std::string& path, PathParams& params) {
  const auto want = split(pattern, '/');
  const auto got = split(path, '/');
  if (want.size() != got.size()) return false;
  PathParams found;
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& w = want[i];
    if (w.size() > 2 && w.front() == '{' && w.back() == '}') {
      if (got[i].empty()) return false;
      found[w.substr(1, w.size() - 2)] = got[i];
    } else if (w != got[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

Router::Match Router::match(const std::string& method, const std::string& path) const {
  Match m;
  for (const auto& r : routes_) {
    PathParams params;
    if (!match_pattern(r.pattern, path, params)) continue;
    if (r.method == method) {
      m.route = &r;
      m.params = std::move(params);
      return m;
    }
    m.path_known = true;
  }
  return m;
}

}  // namespace meshfed::api
