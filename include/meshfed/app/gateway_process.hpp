// The composition root of `meshfed gateway`: one gateway (ingress or egress) in its own
// process, for domains that run it apart from the broker (`enabled: false`), e.g. in a DMZ
// subnet. It follows the broker's route watch and keeps serving its last routing table, with
// expiry enforced, while the broker is unavailable.
#pragma once

#include <string>

namespace meshfed::app {

struct GatewayArgs {
  std::string role;  // ingress or egress
  std::string config_file;
  std::string broker_url;
  std::string token_file;
  std::string metrics_listen;  // optional host:port for a plain-HTTP /metrics
};

// Runs until SIGTERM or SIGINT. Returns the process exit code.
int run_gateway(const GatewayArgs& args);

}  // namespace meshfed::app
