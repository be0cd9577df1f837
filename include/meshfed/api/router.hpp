// Maps method and path templates such as /api/v1/exports/{id}/approve to handlers. The route
// table doubles as the list the OpenAPI test compares with docs/openapi.json.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "meshfed/http/message.hpp"

namespace meshfed::api {

using PathParams = std::map<std::string, std::string>;

// The thread a route's handler runs on: the store thread (the default; the handler may read or
// write the store), or the off-store thread, for handlers that need no store and must not wait
// behind its work.
enum class Runs { kOnStore, kOffStore };

struct Route {
  std::string method;
  std::string pattern;  // OpenAPI path template
  std::function<http::Response(const http::Request&, const PathParams&)> handler;
  Runs runs = Runs::kOnStore;
};

class Router {
 public:
  void add(std::string method, std::string pattern,
           std::function<http::Response(const http::Request&, const PathParams&)> handler, Runs runs = Runs::kOnStore);

  struct Match {
    const Route* route = nullptr;
    PathParams params;
    bool path_known = false;  // the path exists with another method (405)
  };
  Match match(const std::string& method, const std::string& path) const;
  const std::vector<Route>& routes() const { return routes_; }
  // Where a `method` request for `path` runs: as its route says; on the store when no route
  // has them (the answer is an error the store thread gives as well as any).
  Runs runs_on(const std::string& method, const std::string& path) const;

 private:
  static bool match_pattern(const std::string& pattern, const std::string& path, PathParams& params);
  std::vector<Route> routes_;
};

}  // namespace meshfed::api
