// meshfed peer: this domain's side of peering, offline (from its config, no broker needed).
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "bundle_output.hpp"
#include "config_arg.hpp"
#include "meshfed/cli/cli.hpp"
#include "meshfed/peering/bundle.hpp"

namespace meshfed::cli {

void add_peer_commands(CLI::App& app, Invocation& run) {
  auto* peer = app.add_subcommand("peer", "This domain's side of peering with another domain");
  peer->require_subcommand(1);
  peer->footer("Example: meshfed peer bundle --config /etc/meshfed/pci.json");
  auto config = std::make_shared<std::string>();
  auto* bundle =
      peer->add_subcommand("bundle", "Print this domain's peering bundle and its fingerprint (no secret: mail it)");
  bundle->add_option("--config", *config, "the domain's config file (JSON)")->required();
  bundle->footer(
      "Example: meshfed peer bundle --config /etc/meshfed/pci.json -o json > pci-bundle.json\n"
      "Read the fingerprint to the other domain's admin by voice; they type it when they add the bundle.");
  bundle->callback([config, &run] {
    const auto cfg = load_config_arg(*config, run);
    if (cfg) print_bundle(*cfg, run, "peer bundle");
  });
}

bool print_bundle(const config::Config& cfg, Invocation& run, const std::string& command, nlohmann::json extra) {
  auto made = peering::bundle_of(cfg);
  if (!made) {
    run.exit_code = run.out.fail(command, made.error());
    return false;
  }
  const std::string fingerprint = peering::fingerprint(*made);
  extra["bundle"] = peering::to_json(*made);
  extra["fingerprint"] = fingerprint;
  run.out.print(extra, [&] {
    std::cout << peering::to_json(*made).dump(2) << "\n\nFingerprint of " << made->domain
              << "'s bundle (compare it by voice with the admin who adds it):\n  " << fingerprint << "\n";
  });
  return true;
}

}  // namespace meshfed::cli
