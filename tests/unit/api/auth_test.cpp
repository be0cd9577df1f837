#include "meshfed/api/auth.hpp"

#include <gtest/gtest.h>

#include "meshfed/core/text.hpp"

namespace meshfed::api {
namespace {

TEST(TokenStore, AuthenticatesByDigestAndRoles) {
  auto t = create_token("alice", {"requester", "viewer"});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->file_entry.find(t->token), std::string::npos) << "the file must hold the digest only";
  auto store = TokenStore::parse("[" + t->file_entry + "]");
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto p = store->authenticate(t->token);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->name, "alice");
  EXPECT_TRUE(p->can(workflow::Role::kRequester));
  EXPECT_FALSE(p->can(workflow::Role::kApprover));
  EXPECT_FALSE(store->authenticate(t->token + "x").has_value());
  EXPECT_FALSE(store->authenticate("").has_value());
}

TEST(TokenStore, NamesEveryBadEntry) {
  auto store = TokenStore::parse(R"([
    {"name": "a", "sha256": "xyz", "roles": ["viewer"]},
    {"name": "", "sha256": ")" + sha256_hex("t") +
                                 R"(", "roles": ["overlord"]},
    {"name": "c", "sha256": ")" + sha256_hex("u") +
                                 R"(", "roles": [], "extra": 1}
  ])");
  ASSERT_FALSE(store.ok());
  std::set<std::string> fields;
  for (const auto& f : store.error().fields) fields.insert(f.field);
  EXPECT_EQ(fields, (std::set<std::string>{"[0].sha256", "[1].name", "[1].roles", "[2].roles", "[2].extra"}));
}

TEST(TokenStore, AdminHoldsEveryRoleButGateway) {
  workflow::Principal admin{"root", {workflow::Role::kAdmin}};
  EXPECT_TRUE(admin.can(workflow::Role::kViewer));
  EXPECT_TRUE(admin.can(workflow::Role::kRequester));
  EXPECT_TRUE(admin.can(workflow::Role::kApprover));
  EXPECT_FALSE(admin.can(workflow::Role::kGateway));
  workflow::Principal gw{"gw", {workflow::Role::kGateway}};
  EXPECT_FALSE(gw.can(workflow::Role::kViewer));
}

TEST(TokenStore, CreateRejectsUnknownRole) {
  auto t = create_token("x", {"superuser"});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("superuser"), std::string::npos);
}

}  // namespace
}  // namespace meshfed::api
