// meshfed broker, meshfed check-config.
#include <CLI/CLI.hpp>

#include <iostream>

#include "meshfed/app/broker.hpp"
#include "meshfed/cli/cli.hpp"

namespace meshfed::cli {

void add_broker_commands(CLI::App& app, int& exit_code) {
  auto* broker = app.add_subcommand("broker", "Run the broker for one domain");
  auto config_file = std::make_shared<std::string>();
  broker->add_option("--config", *config_file, "the domain's config file (JSON)")->required();
  broker->callback([config_file, &exit_code] { exit_code = app::run_broker(*config_file); });

  auto* check = app.add_subcommand("check-config", "Validate a config and the files it names, without binding anything");
  auto check_file = std::make_shared<std::string>();
  check->add_option("--config", *check_file, "the domain's config file (JSON)")->required();
  check->callback([check_file, &exit_code] {
    auto cfg = config::load_config(*check_file);
    if (!cfg) {
      std::cerr << *check_file << " is invalid:\n" << config::format_errors(cfg.error());
      exit_code = 1;
      return;
    }
    if (auto st = app::check_config_files(*cfg); !st) {
      std::cerr << *check_file << ": " << config::format_errors(st.error()) << "\n";
      exit_code = 1;
      return;
    }
    std::cout << *check_file << ": ok (domain " << cfg->domain << ", " << cfg->peers.size() << " peers)\n";
  });
}

}  // namespace meshfed::cli
