// JSON from anyone who is not us (API clients, peers, files an operator edits) is parsed here,
// and only here: one value and nothing after it, no raw NUL, no duplicate keys, numbers that
// fit a double, bounded in bytes and in nesting depth. Depth matters beyond memory: nlohmann's
// dump() and comparisons recurse, so a deep document is refused before anything walks it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "meshfed/core/result.hpp"

namespace meshfed {

struct JsonLimits {
  size_t max_bytes = 1024 * 1024;
  int max_depth = 32;  // arrays and objects nested in each other, the outermost counting as 1
};

// nlohmann's parser callback, called after the strict checks. It may discard a value only on
// an *_end event (a value consumed as it streams past); discarding on a *_start is refused.
using JsonEventHook = std::function<bool(int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed)>;

// `what` names the document in errors ("request body", "catalog", "tokens file").
// Errors are kInvalidArgument, or kPayloadTooLarge for the byte limit.
Result<nlohmann::json> parse_strict_json(std::string_view text, const JsonLimits& limits, const std::string& what,
                                         const JsonEventHook& hook = nullptr);

}  // namespace meshfed
