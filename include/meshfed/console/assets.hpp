// The approval console (docs/console.md): static files compiled into the binary
// and served on the admin listener under /ui/. The page holds no authority of its own: it
// calls the admin API with the token its user signs in with.
#pragma once

#include <string_view>
#include <vector>

#include "meshfed/http/message.hpp"

namespace meshfed::console {

struct Asset {
  std::string_view name;  // path below /ui/, e.g. "index.html"
  std::string_view content_type;
  std::string_view etag;  // quoted, from the content's hash
  std::string_view body;
};

// Generated at build time from src/console/www/ (cmake/EmbedScript.cmake).
const std::vector<Asset>& assets();

// Whether `path` is the console's: /ui and everything below /ui/.
bool owns(std::string_view path);

// The asset a console path names (/ui/ is index.html), or null.
const Asset* find(std::string_view path);

// 200 with the asset, or 304 when the request's If-None-Match already names this version.
http::Response respond(const Asset& asset, const http::Request& req);

// What every /ui/ answer carries, errors too: a Content-Security-Policy that admits only the
// console's own files (no inline script or style, no framing), nosniff, no referrer.
void add_security_headers(http::Response& r);

}  // namespace meshfed::console
