// A domain's peering bundle and its fingerprint as `meshfed peer bundle` prints them (-o json:
// {bundle, fingerprint}); also printed by `pki rollover` and `pki retire`, whose bundle changes.
#pragma once

#include <string>

#include "meshfed/config/config.hpp"
#include "output.hpp"

namespace meshfed::cli {

// False (the exit code set) when the config makes no bundle.
bool print_bundle(const config::Config& cfg, Invocation& run, const std::string& command,
                  nlohmann::json extra = nlohmann::json::object());

}  // namespace meshfed::cli
