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

struct Route {
  std::string method;
  std::string pattern;  // OpenAPI path template
  std::function<http::Response(const http::Request&, const PathParams&)> handler;
};

class Router {
 public:
  void add(std::string method, std::string pattern,
           std::function<http::Response(const http::Request&, const PathParams&)> handler);

  struct Match {
    const Route* route = nullptr;
    PathParams params;
    bool path_known = false;  // the path exists with another method (405)
  };
  Match match(const std::string& method, const std::string& path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  static bool match_pattern(const std::string& pattern, const std::string& path, PathParams& params);
  std::vector<Route> routes_;
};

}  // namespace meshfed::api
