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

namespace {
constexpr std::array<std::pair<ImportState, std::string_view>, 6> kImportNames{{
    {ImportState::kPendingAcceptance, "pending_acceptance"},
    {ImportState::kActive, "active"},
    {ImportState::kStale, "stale"},
    {ImportState::kFailed, "failed"},
    {ImportState::kRejected, "rejected"},
    {ImportState::kWithdrawn, "withdrawn"},
}};
}  // namespace

std::string_view to_string(ImportState s) {
  for (const auto& [state, name] : kImportNames) {
    if (state == s) return name;
  }
  return "unknown";
}

std::optional<ImportState> parse_import_state(std::string_view s) {
  for (const auto& [state, name] : kImportNames) {
    if (name == s) return state;
  }
  return std::nullopt;
}

namespace {
constexpr std::array<std::pair<PeeringState, std::string_view>, 2> kPeeringNames{{
    {PeeringState::kProposed, "proposed"},
    {PeeringState::kActive, "active"},
}};
}  // namespace

std::string_view to_string(PeeringState s) {
  for (const auto& [state, name] : kPeeringNames) {
    if (state == s) return name;
  }
  return "unknown";
}

std::optional<PeeringState> parse_peering_state(std::string_view s) {
  for (const auto& [state, name] : kPeeringNames) {
    if (name == s) return state;
  }
  return std::nullopt;
}

}  // namespace meshfed::store
