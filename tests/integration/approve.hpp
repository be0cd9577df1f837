// The four-eyes flow every end-to-end test starts from: alice requests, bob approves.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "support/test_support.hpp"

namespace meshfed::testing {

// Requests `request` (POST /api/v1/exports) in domain `d` as alice and approves it as bob; the id.
inline std::string request_and_approve(Federation& fed, const std::string& d, const nlohmann::json& request) {
  auto c = fed.admin(d);
  const auto& tokens = fed.domain(d).tokens;
  auto r = api_call(*c, "POST", "/api/v1/exports", tokens.at("alice"), request);
  EXPECT_EQ(r.status, 201) << r.body.dump();
  const std::string id = r.body.value("id", "");
  EXPECT_EQ(api_call(*c, "POST", "/api/v1/exports/" + id + "/approve", tokens.at("bob")).status, 200);
  return id;
}

}  // namespace meshfed::testing
