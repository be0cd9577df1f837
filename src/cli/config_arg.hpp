// The --config argument of the subcommands that act on one domain: the config loaded, or its
// errors reported (each naming its key path) and the exit code set.
#pragma once

#include <optional>
#include <string>

#include "meshfed/config/config.hpp"
#include "output.hpp"

namespace meshfed::cli {

inline std::optional<config::Config> load_config_arg(const std::string& file, Invocation& run) {
  auto cfg = config::load_config(file);
  if (cfg) return std::move(cfg).value();
  Error e = cfg.error();
  e.message = file + " is invalid" + (e.fields.empty() ? ": " + e.message : "");
  run.exit_code = run.out.fail("", e);
  return std::nullopt;
}

}  // namespace meshfed::cli
