#include "meshfed/cli/cli.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "meshfed/app/logging.hpp"
#include "meshfed/core/text.hpp"
#include "output.hpp"

namespace meshfed::cli {

namespace {

// What went wrong, naming an unknown word before any missing one: `broker --bogus` is a typo,
// not a missing --config. CLI11 checks requirements first, so the words it could not place
// are looked for here, in the deepest subcommand that was recognised.
std::string usage_error(const CLI::App& root, const CLI::ParseError& e) {
  const CLI::App* at = &root;
  std::string path = root.get_name();
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (const auto* sub : at->get_subcommands()) {
      at = sub;
      path += " " + sub->get_name();
      deeper = true;
      break;
    }
  }
  for (const auto& word : root.remaining(true)) {
    std::vector<std::string> names;
    if (word.starts_with("-")) {
      for (const CLI::App* a = at; a; a = a->get_parent()) {
        for (const auto* opt : a->get_options()) {
          for (const auto& n : opt->get_lnames()) names.push_back("--" + n);
        }
      }
      return "unknown option \"" + word + "\" for \"" + path + "\"" +
             did_you_mean(word.substr(0, word.find('=')), names);
    }
    for (const auto* sub : at->get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
    if (!names.empty()) return "unknown command \"" + word + "\" for \"" + path + "\"" + did_you_mean(word, names);
    return "unexpected argument \"" + word + "\" for \"" + path + "\"";
  }
  return e.what();
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"meshfed: federation broker for shared-nothing service meshes", "meshfed"};  // never the build path
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
  Invocation run;
  app.add_option("-o,--output", run.out.format,
                 "table (for people) or json (the API's shapes; a failure as problem+json on stdout)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_flag_callback(
      "--json", [&run] { run.out.format = "json"; }, "the same as -o json");
  app.parse_complete_callback(
      [&] { app::setup_logging(log_format == "json" ? app::LogFormat::kJson : app::LogFormat::kText, log_level); });
  add_broker_commands(app, run);
  add_pki_commands(app, run);
  add_token_commands(app, run);
  add_audit_commands(app, run);
  add_ctl_commands(app, run);
  add_backup_commands(app, run);
  add_store_commands(app, run);
  add_peer_commands(app, run);
  add_completion_command(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    return run.out.usage("", usage_error(app, e));
  }
  return run.exit_code;
}

}  // namespace meshfed::cli
