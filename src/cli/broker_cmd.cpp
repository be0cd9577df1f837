// meshfed broker, meshfed gateway, meshfed check-config, meshfed firewall.
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include <iostream>

#include "meshfed/app/broker.hpp"
#include "meshfed/app/gateway_process.hpp"
#include "config_arg.hpp"
#include "meshfed/cli/cli.hpp"
#include "meshfed/firewall/flows.hpp"
#include "meshfed/store/database.hpp"
#include "output.hpp"

namespace meshfed::cli {

void add_broker_commands(CLI::App& app, Invocation& run) {
  auto* broker = app.add_subcommand("broker", "Run the broker for one domain");
  auto config_file = std::make_shared<std::string>();
  broker->add_option("--config", *config_file, "the domain's config file (JSON)")->required();
  broker->footer(
      "Example: meshfed broker --config /etc/meshfed/pci.json  (under systemd: systemctl start meshfed@pci)");
  broker->callback([config_file, &run] { run.exit_code = app::run_broker(*config_file); });

  auto g = std::make_shared<app::GatewayArgs>();
  auto* gw = app.add_subcommand("gateway", "Run one gateway as its own process (gateways.<role>.enabled: false)");
  gw->add_option("--role", g->role, "ingress or egress")->required()->check(CLI::IsMember({"ingress", "egress"}));
  gw->add_option("--config", g->config_file, "the domain's config file (JSON)")->required();
  gw->add_option("--broker", g->broker_url, "the broker's admin API, https://host:port")->required();
  gw->add_option("--token-file", g->token_file, "a file holding a token with the gateway role")->required();
  gw->add_option("--metrics-listen", g->metrics_listen, "host:port for a plain-HTTP /metrics (default: none)");
  gw->footer(
      "Example: meshfed gateway --role ingress --config /etc/meshfed/pci.json --broker https://127.0.0.1:9440 "
      "--token-file /etc/meshfed/pci/ingress.token");
  gw->callback([g, &run] { run.exit_code = app::run_gateway(*g); });

  auto* check =
      app.add_subcommand("check-config", "Validate a config and the files it names, without binding anything");
  auto check_file = std::make_shared<std::string>();
  check->add_option("--config", *check_file, "the domain's config file (JSON)")->required();
  check->footer("Example: meshfed check-config --config /etc/meshfed/pci.json");
  check->callback([check_file, &run] {
    const auto cfg = load_config_arg(*check_file, run);
    if (!cfg) return;
    if (auto st = app::check_config_files(*cfg); !st) {
      run.exit_code = run.out.fail(*check_file, st.error());
      return;
    }
    const nlohmann::json result = {
        {"config", *check_file}, {"domain", cfg->domain}, {"peers", cfg->peers.size()}, {"ok", true}};
    run.out.print(result, [&] {
      const size_t n = cfg->peers.size();
      std::cout << *check_file << ": ok (domain " << cfg->domain << ", " << n << (n == 1 ? " peer" : " peers") << ")\n";
    });
  });

  struct FirewallArgs {
    std::string config, format = "nftables", mode = "host";
  };
  auto f = std::make_shared<FirewallArgs>();
  auto* fw =
      app.add_subcommand("firewall", "Print the cross-boundary flows this domain needs, as nftables rules or JSON");
  fw->add_option("--config", f->config, "the domain's config file (JSON)")->required();
  fw->footer("Example: meshfed firewall --config /etc/meshfed/pci.json --mode host > /etc/nftables.d/meshfed.nft");
  fw->add_option("--format", f->format, "nftables or json (-o json is the same as --format json)")
      ->check(CLI::IsMember({"nftables", "json"}))
      ->capture_default_str();
  fw->add_option("--mode", f->mode, "host (rules for meshfed's hosts) or router (forward rules between domains)")
      ->check(CLI::IsMember({"host", "router"}))
      ->capture_default_str();
  fw->callback([f, &run] {
    const auto cfg = load_config_arg(f->config, run);
    if (!cfg) return;
    // The flows depend on what is approved and imported: read the broker's store, never write
    // it. Before the first start there is none, and only the config's own flows are printed.
    std::string note;
    Result<firewall::FlowState> state = firewall::FlowState{};
    if (auto db = store::Database::open_read_only(cfg->state_dir / "meshfed.db")) {
      state = firewall::load_flow_state(**db);
    } else if (db.error().code == ErrorCode::kNotFound) {
      note = db.error().message + ": flows that depend on exports and imports are absent";
    } else {
      state = db.error();
    }
    if (!state) {
      run.exit_code = run.out.fail("firewall", state.error());
      return;
    }
    const auto mode = *firewall::parse_mode(f->mode);
    const auto flows = firewall::compute_flows(*cfg, *state, mode, firewall::resolve_host);
    if (f->format == "json" || run.out.json()) {
      auto out = firewall::to_json(flows, mode);
      if (!note.empty()) out["note"] = note;
      std::cout << out.dump(2) << "\n";
      run.exit_code = flows.errors.empty() ? 0 : 1;
      return;
    }
    auto text = firewall::to_nftables(flows, mode);
    if (!text) {
      run.exit_code = run.out.fail("firewall", text.error());
      return;
    }
    if (!note.empty()) std::cout << "# " << note << "\n";
    std::cout << *text;
  });
}

}  // namespace meshfed::cli
