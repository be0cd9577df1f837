#include "meshfed/workflow/principal.hpp"

#include <array>
#include <utility>

namespace meshfed::workflow {
namespace {
constexpr std::array<std::pair<Role, std::string_view>, 5> kRoles{{
    {Role::kViewer, "viewer"},
    {Role::kRequester, "requester"},
    {Role::kApprover, "approver"},
    {Role::kAdmin, "admin"},
    {Role::kGateway, "gateway"},
}};
}  // namespace

std::optional<Role> parse_role(std::string_view s) {
  for (const auto& [r, n] : kRoles) {
    if (n == s) return r;
  }
  return std::nullopt;
}

std::string_view to_string(Role r) {
  for (const auto& [role, n] : kRoles) {
    if (role == r) return n;
  }
  return "unknown";
}

bool Principal::can(Role r) const {
  if (roles.count(r)) return true;
  switch (r) {
    case Role::kViewer:
      return roles.count(Role::kRequester) || roles.count(Role::kApprover) || roles.count(Role::kAdmin);
    case Role::kRequester:
    case Role::kApprover:
      return roles.count(Role::kAdmin) > 0;
    case Role::kAdmin:
    case Role::kGateway:
      return false;
  }
  return false;
}

std::vector<Role> Principal::effective_roles() const {
  std::vector<Role> out;
  for (const auto& entry : kRoles) {
    if (can(entry.first)) out.push_back(entry.first);
  }
  return out;
}

}  // namespace meshfed::workflow
