// The --config argument of the subcommands that act on one domain: the config loaded, or its
// errors printed (each naming its key path) and the exit code set.
#pragma once

#include <iostream>
#include <optional>
#include <string>

#include "meshfed/config/config.hpp"

namespace meshfed::cli {

inline std::optional<config::Config> load_config_arg(const std::string& file, int& exit_code) {
  auto cfg = config::load_config(file);
  if (cfg) return std::move(cfg).value();
  std::cerr << file << " is invalid:\n" << config::format_errors(cfg.error());
  exit_code = 1;
  return std::nullopt;
}

}  // namespace meshfed::cli
