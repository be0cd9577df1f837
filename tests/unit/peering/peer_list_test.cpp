#include "meshfed/peering/peer_list.hpp"

#include <gtest/gtest.h>

namespace meshfed::peering {
namespace {

federation::PeerStatus in_force(const std::string& domain, federation::PeerState state,
                                std::optional<int64_t> last_success_ms) {
  federation::PeerStatus s;
  s.record.domain = domain;
  s.record.last_success_ms = last_success_ms;
  s.state = state;
  return s;
}

store::PeeringRecord peering(const std::string& domain, store::PeeringState state) {
  store::PeeringRecord r;
  r.domain = domain;
  r.state = state;
  return r;
}

TEST(PeerList, EveryPeerOnceWithItsSourceAndTheStateItsAdminsNeed) {
  using federation::PeerState;
  using store::PeeringState;
  const auto list = peer_list(
      {in_force("internal", PeerState::kConnected, 1), in_force("edge", PeerState::kUnreachable, std::nullopt),
       in_force("lab", PeerState::kConnected, 5), in_force("dmz", PeerState::kQuarantined, std::nullopt)},
      {peering("edge", PeeringState::kActive), peering("lab", PeeringState::kActive),
       peering("pos", PeeringState::kProposed), peering("kiosk", PeeringState::kActive),
       peering("dmz", PeeringState::kActive)});
  std::vector<std::tuple<std::string, std::string, std::string>> seen;
  for (const auto& e : list) seen.emplace_back(e.domain, e.source, e.state);
  EXPECT_EQ(seen, (std::vector<std::tuple<std::string, std::string, std::string>>{
                      {"dmz", "api", "quarantined"},            // a quarantine says more than the wait
                      {"edge", "api", "waiting for the peer"},  // never answered: the other side has not approved
                      {"internal", "config", "connected"},
                      {"kiosk", "api", "waiting for the peer"},  // approved, not in force here yet
                      {"lab", "api", "connected"},
                      {"pos", "api", "proposed"}}));
  EXPECT_TRUE(list[2].status && !list[2].peering);
  EXPECT_TRUE(list[4].status && list[4].peering);
}

TEST(PeerList, APeerTheFileNamesIsTheFilesEvenIfTheApiAddedItBefore) {
  // The API refuses a configured domain; the file may name one added before. The file wins.
  const auto list = peer_list({in_force("edge", federation::PeerState::kConnected, 1)},
                              {peering("edge", store::PeeringState::kProposed)});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].source, "config");
  EXPECT_FALSE(list[0].peering);
}

}  // namespace
}  // namespace meshfed::peering
