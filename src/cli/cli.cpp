#include "meshfed/cli/cli.hpp"

#include <CLI/CLI.hpp>

#include "meshfed/app/logging.hpp"

namespace meshfed::cli {

int run(int argc, char** argv) {
  CLI::App app{"meshfed: federation broker for shared-nothing service meshes"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", std::string("meshfed ") + MESHFED_VERSION);
  std::string log_format = "text";
  std::string log_level = "info";
  app.add_option("--log-format", log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warning (or warn), error, critical, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warning", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.parse_complete_callback(
      [&] { app::setup_logging(log_format == "json" ? app::LogFormat::kJson : app::LogFormat::kText, log_level); });
  int exit_code = 0;
  add_broker_commands(app, exit_code);
  add_pki_commands(app, exit_code);
  add_token_commands(app, exit_code);
  add_audit_commands(app, exit_code);
  add_ctl_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}

}  // namespace meshfed::cli
