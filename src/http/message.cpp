#include "meshfed/http/message.hpp"

#include <cctype>

namespace meshfed::http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode(const std::string& in, std::string& out, bool plus_is_space) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> Request::header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Request::query_param(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

bool parse_target(const std::string& target, std::string& path, std::multimap<std::string, std::string>& query) {
  const auto q = target.find('?');
  if (!decode(target.substr(0, q), path, false)) return false;
  if (path.empty() || path.front() != '/') return false;
  if (q == std::string::npos) return true;
  size_t start = q + 1;
  while (start <= target.size()) {
    size_t end = target.find('&', start);
    if (end == std::string::npos) end = target.size();
    const std::string pair = target.substr(start, end - start);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      std::string key, value;
      if (!decode(pair.substr(0, eq), key, true)) return false;
      if (eq != std::string::npos && !decode(pair.substr(eq + 1), value, true)) return false;
      query.emplace(std::move(key), std::move(value));
    }
    start = end + 1;
  }
  return true;
}

std::string percent_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace meshfed::http
