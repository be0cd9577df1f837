#include "meshfed/store/records.hpp"

#include <array>
#include <utility>

namespace meshfed::store {
namespace {

// Each state's name in the store and the API: one table per state machine, read both ways.
template <typename State, size_t N>
using Names = std::array<std::pair<State, std::string_view>, N>;

template <typename State, size_t N>
std::string_view name_of(const Names<State, N>& names, State s) {
  for (const auto& [state, name] : names) {
    if (state == s) return name;
  }
  return "unknown";
}

template <typename State, size_t N>
std::optional<State> state_named(const Names<State, N>& names, std::string_view s) {
  for (const auto& [state, name] : names) {
    if (name == s) return state;
  }
  return std::nullopt;
}

constexpr Names<ExportState, 6> kNames{{
    {ExportState::kPending, "pending"},
    {ExportState::kApproved, "approved"},
    {ExportState::kRejected, "rejected"},
    {ExportState::kCancelled, "cancelled"},
    {ExportState::kRevoked, "revoked"},
    {ExportState::kExpired, "expired"},
}};
}  // namespace

std::string_view to_string(ExportState s) { return name_of(kNames, s); }

std::optional<ExportState> parse_export_state(std::string_view s) { return state_named(kNames, s); }

namespace {
constexpr Names<ImportState, 6> kImportNames{{
    {ImportState::kPendingAcceptance, "pending_acceptance"},
    {ImportState::kActive, "active"},
    {ImportState::kStale, "stale"},
    {ImportState::kFailed, "failed"},
    {ImportState::kRejected, "rejected"},
    {ImportState::kWithdrawn, "withdrawn"},
}};
}  // namespace

std::string_view to_string(ImportState s) { return name_of(kImportNames, s); }

std::optional<ImportState> parse_import_state(std::string_view s) { return state_named(kImportNames, s); }

namespace {
constexpr Names<PeeringState, 2> kPeeringNames{{
    {PeeringState::kProposed, "proposed"},
    {PeeringState::kActive, "active"},
}};
}  // namespace

std::string_view to_string(PeeringState s) { return name_of(kPeeringNames, s); }

std::optional<PeeringState> parse_peering_state(std::string_view s) { return state_named(kPeeringNames, s); }

}  // namespace meshfed::store
