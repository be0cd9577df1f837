// What the fuzz targets share: a scratch store on tmpfs (the targets run millions of times,
// so commits must not wait on a disk), and the decoding of fuzzer bytes into an HTTP request.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "meshfed/http/message.hpp"
#include "meshfed/store/database.hpp"

namespace meshfed::fuzz {

// A fresh SQLite store in a folder of its own under /dev/shm (or TMPDIR), alive for the run
// and removed when it ends normally (a crash leaves it, next to the input that caused it).
inline std::unique_ptr<store::Database> scratch_store() {
  static std::vector<std::string> made;
  static const bool removed_at_exit = std::atexit([] {
                                        std::error_code ignored;
                                        for (const auto& d : made) std::filesystem::remove_all(d, ignored);
                                      }) == 0;
  (void)removed_at_exit;
  std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
  std::string dir = base + "/meshfed-fuzz-XXXXXX";
  if (!::mkdtemp(dir.data())) std::abort();
  made.push_back(dir);
  auto db = store::Database::open(std::filesystem::path(dir) / "fuzz.db");
  if (!db) std::abort();
  return std::move(db).value();
}

// Bytes as a request: "METHOD TARGET\n", then "name: value" lines, a blank line, the body.
// Whatever does not parse into a target the server would accept is dropped, as the server does.
inline bool decode_request(std::string_view data, http::Request& r) {
  auto line = [&]() {
    const auto nl = data.find('\n');
    std::string_view l = data.substr(0, nl);
    data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
    return l;
  };
  const auto first = line();
  const auto sp = first.find(' ');
  if (sp == std::string_view::npos) return false;
  r.method = std::string(first.substr(0, sp));
  r.target = std::string(first.substr(sp + 1));
  if (!http::parse_target(r.target, r.path, r.query)) return false;
  for (auto h = line(); !h.empty(); h = line()) {
    const auto colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(h.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers[name] = std::string(value);
  }
  r.body = std::string(data);
  r.remote = "127.0.0.1:1";
  return true;
}

// The first byte picks among `choices` (who calls); the rest is the request.
inline bool decode_call(const uint8_t* data, size_t size, size_t choices, size_t& choice, http::Request& r) {
  if (size == 0) return false;
  choice = data[0] % choices;
  return decode_request(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), r);
}

}  // namespace meshfed::fuzz
