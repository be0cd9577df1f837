#include "meshfed/core/strict_json.hpp"

#include <unordered_set>
#include <vector>

namespace meshfed {
namespace {

// nlohmann's message without its "[json.exception.parse_error.101] parse error at" preamble:
// what a person needs is where, and what was expected.
std::string plain(const nlohmann::json::exception& e) {
  std::string m = e.what();
  if (m.rfind("[json.exception.", 0) == 0) {
    if (const auto end = m.find("] "); end != std::string::npos) m.erase(0, end + 2);
  }
  for (const std::string noise : {"parse error at ", "syntax error while parsing value - "}) {
    if (const auto at = m.find(noise); at != std::string::npos) m.erase(at, noise.size());
  }
  return m;
}

}  // namespace
namespace {

using nlohmann::json;

// Thrown from the parser callback to stop at the first violation, before more is built.
struct Refusal {
  std::string message;
};

}  // namespace

Result<json> parse_strict_json(std::string_view text, const JsonLimits& limits, const std::string& what,
                               const JsonEventHook& hook) {
  if (text.size() > limits.max_bytes) {
    return make_error(ErrorCode::kPayloadTooLarge,
                      what + " is larger than " + std::to_string(limits.max_bytes) + " bytes");
  }
  // nlohmann's lexer takes a NUL as the end of input and would ignore whatever follows it; a raw
  // NUL is never valid JSON (inside strings it must be escaped), so it is refused outright.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      what + " is not valid JSON: NUL byte at offset " + std::to_string(nul));
  }
  std::vector<std::unordered_set<std::string>> keys;  // one set per open object
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth + 1 > limits.max_depth) {
          throw Refusal{what + " is nested deeper than " + std::to_string(limits.max_depth) + " levels"};
        }
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::key:
        if (!keys.back().insert(parsed.get_ref<const std::string&>()).second) {
          std::string key = parsed.get_ref<const std::string&>();
          if (key.size() > 64) key = key.substr(0, 61) + "...";
          throw Refusal{what + " has the key \"" + key + "\" twice in one object"};
        }
        break;
      case json::parse_event_t::object_end:
        keys.pop_back();
        break;
      default:
        break;
    }
    if (!hook) return true;
    const bool keep = hook(depth, event, parsed);
    if (!keep && (event == json::parse_event_t::object_start || event == json::parse_event_t::array_start)) {
      throw Refusal{"internal: a JSON hook may not discard a value at its start"};
    }
    return keep;
  };
  try {
    return json::parse(text.begin(), text.end(), on_event);
  } catch (const Refusal& r) {
    return make_error(ErrorCode::kInvalidArgument, r.message);
  } catch (const json::out_of_range& e) {
    // nlohmann reports a number beyond a double's range (1e400) this way.
    return make_error(ErrorCode::kInvalidArgument, what + " has a number out of range: " + plain(e));
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, what + " is not valid JSON: " + plain(e));
  }
}

}  // namespace meshfed
