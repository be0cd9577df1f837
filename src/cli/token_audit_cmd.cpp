// meshfed token create, meshfed audit verify.
#include <CLI/CLI.hpp>

#include <iostream>

#include "meshfed/api/auth.hpp"
#include "config_arg.hpp"
#include "meshfed/cli/cli.hpp"
#include "meshfed/config/config.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/workflow/audit_verify.hpp"

namespace meshfed::cli {

void add_token_commands(CLI::App& app, int& exit_code) {
  auto* token = app.add_subcommand("token", "Manage admin API tokens");
  token->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  auto roles = std::make_shared<std::vector<std::string>>();
  auto* create = token->add_subcommand("create", "Print a new token once, and the tokens-file entry that admits it");
  create->add_option("--name", *name, "who the token is for")->required();
  create->add_option("--role", *roles, "viewer, requester, approver, admin or gateway (repeatable)")->required();
  create->callback([name, roles, &exit_code] {
    auto t = api::create_token(*name, *roles);
    if (!t) {
      std::cerr << "token create: " << t.error().message << "\n";
      exit_code = 2;
      return;
    }
    std::cout << "token (shown once, keep it secret): " << t->token << "\n"
              << "tokens file entry: " << t->file_entry << "\n";
  });
}

void add_audit_commands(CLI::App& app, int& exit_code) {
  auto* audit_cmd = app.add_subcommand("audit", "Work with the audit log");
  audit_cmd->require_subcommand(1);
  auto state_dir = std::make_shared<std::string>();
  auto config_file = std::make_shared<std::string>();
  auto expect = std::make_shared<std::string>();
  auto* verify =
      audit_cmd->add_subcommand("verify", "Check the hash chain and that every export transition is audited");
  auto* by_dir = verify->add_option("--state-dir", *state_dir, "the broker's state_dir");
  verify->add_option("--config", *config_file, "the domain's config file (its state_dir)")->excludes(by_dir);
  verify->add_option("--expect-head", *expect, "SEQ:HASH recorded earlier outside the box (as ctl audit shows it)");
  verify->footer("Example: meshfed audit verify --config /etc/meshfed/pci.json --expect-head 42:9f86d081...");
  verify->callback([state_dir, config_file, expect, &exit_code] {
    if (state_dir->empty() == config_file->empty()) {
      std::cerr << "audit verify: give --config or --state-dir\nRun with --help for more information.\n";
      exit_code = 2;
      return;
    }
    if (!config_file->empty()) {
      const auto cfg = load_config_arg(*config_file, exit_code);
      if (!cfg) return;
      *state_dir = cfg->state_dir.string();
    }
    std::optional<workflow::ExpectedHead> head;
    if (!expect->empty()) {
      const auto colon = expect->find(':');
      if (colon == std::string::npos || colon == 0) {
        std::cerr << "--expect-head: expected SEQ:HASH, got \"" << *expect << "\"\n";
        exit_code = 2;
        return;
      }
      const auto seq = parse_int(expect->substr(0, colon));
      if (!seq) {
        std::cerr << "--expect-head: SEQ must be a number, got \"" << *expect << "\"\n";
        exit_code = 2;
        return;
      }
      head = workflow::ExpectedHead{*seq, expect->substr(colon + 1)};
    }
    auto db = store::Database::open_read_only(std::filesystem::path(*state_dir) / "meshfed.db");
    if (!db) {
      std::cerr << "audit verify: " << db.error().message << "\n";
      exit_code = 1;
      return;
    }
    auto report = workflow::verify_audit(**db, head);
    if (!report) {
      std::cerr << "audit verify: " << report.error().message << "\n";
      exit_code = 1;
      return;
    }
    if (!report->ok) {
      std::cerr << "audit verify: FAILED: " << report->problem << "\n";
      exit_code = 1;
      return;
    }
    std::cout << "audit verify: ok, " << report->entries << " entries, head " << report->head_seq << ":"
              << report->head_hash << "\n";
  });
}

}  // namespace meshfed::cli
