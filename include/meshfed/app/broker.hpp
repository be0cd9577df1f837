// The composition root of `meshfed broker`: wires config, store, control-plane adapter,
// workflow, admin API and HTTPS listener; owns the event loop, the store thread, timers,
// signals (SIGHUP reload, SIGTERM graceful stop) and systemd notification.
#pragma once

#include <filesystem>

#include "meshfed/config/config.hpp"
#include "meshfed/core/result.hpp"

namespace meshfed::app {

// Loads every file the config names (tokens, certificates, inventory) the way the broker
// would, without binding anything: `meshfed check-config`.
Status check_config_files(const config::Config& cfg);

// Runs until SIGTERM or SIGINT. Returns the process exit code.
int run_broker(const std::filesystem::path& config_file);

}  // namespace meshfed::app
