// Who is acting: a named person or system with roles.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace meshfed::workflow {

enum class Role { kViewer, kRequester, kApprover, kAdmin, kGateway };

std::optional<Role> parse_role(std::string_view s);
std::string_view to_string(Role r);

struct Principal {
  std::string name;
  std::set<Role> roles;

  // `admin` holds every role except `gateway`; requester and approver include viewer.
  bool can(Role r) const;
  // Every role `can` grants, the implied ones included, in the order roles are listed.
  std::vector<Role> effective_roles() const;
};

// The actor recorded for transitions the broker makes by itself (expiry).
inline const std::string kSystemActor = "meshfed";

}  // namespace meshfed::workflow
