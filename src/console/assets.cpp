#include "meshfed/console/assets.hpp"

namespace meshfed::console {

namespace {
constexpr std::string_view kRoot = "/ui/";
// connect-src 'self': the page talks to the admin API it was served by and to nothing else.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'";
}  // namespace

bool owns(std::string_view path) { return path == "/ui" || path.substr(0, kRoot.size()) == kRoot; }

const Asset* find(std::string_view path) {
  if (path.substr(0, kRoot.size()) != kRoot) return nullptr;
  std::string_view name = path.substr(kRoot.size());
  if (name.empty()) name = "index.html";
  for (const auto& a : assets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

http::Response respond(const Asset& asset, const http::Request& req) {
  http::Response r;
  r.content_type = std::string(asset.content_type);
  r.headers.emplace_back("ETag", std::string(asset.etag));
  // Revalidated on every load: an upgraded broker's console is never mixed with a cached one.
  r.headers.emplace_back("Cache-Control", "no-cache");
  if (req.header("if-none-match") == asset.etag) {
    r.status = 304;
    return r;
  }
  r.body = std::string(asset.body);
  return r;
}

void add_security_headers(http::Response& r) {
  r.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
}

}  // namespace meshfed::console
