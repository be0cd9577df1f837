#include "meshfed/store/records.hpp"

#include <array>
#include <utility>

namespace meshfed::store {
namespace {
constexpr std::array<std::pair<ExportState, std::string_view>, 6> kNames{{
    {ExportState::kPending, "pending"},
    {ExportState::kApproved, "approved"},
    {ExportState::kRejected, "rejected"},
    {ExportState::kCancelled, "cancelled"},
    {ExportState::kRevoked, "revoked"},
    {ExportState::kExpired, "expired"},
}};
}  // namespace

std::string_view to_string(ExportState s) {
  for (const auto& [state, name] : kNames) {
    if (state == s) return name;
  }
  return "unknown";
}

std::optional<ExportState> parse_export_state(std::string_view s) {
  for (const auto& [state, name] : kNames) {
    if (name == s) return state;
  }
  return std::nullopt;
}

}  // namespace meshfed::store
