// meshfed audit verify (--witnesses: against what the peers witnessed of the log).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>

#include "config_arg.hpp"
#include "meshfed/cli/cli.hpp"
#include "meshfed/config/config.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/federation/witness_check.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/workflow/audit_verify.hpp"
#include "output.hpp"
#include "witness_output.hpp"
#include "store_arg.hpp"

namespace meshfed::cli {

void add_audit_commands(CLI::App& app, Invocation& run) {
  auto* audit_cmd = app.add_subcommand("audit", "Work with the audit log");
  audit_cmd->require_subcommand(1);
  audit_cmd->footer("Example: meshfed audit verify --config /etc/meshfed/pci.json");
  auto state_dir = std::make_shared<std::string>();
  auto config_file = std::make_shared<std::string>();
  auto expect = std::make_shared<std::string>();
  auto archives = std::make_shared<std::string>();
  auto witnesses = std::make_shared<bool>(false);
  auto* verify =
      audit_cmd->add_subcommand("verify", "Check the hash chain and that every export transition is audited");
  auto* by_dir = verify->add_option("--state-dir", *state_dir, "the broker's state_dir");
  verify->add_option("--config", *config_file, "the domain's config file (its store, SQLite or PostgreSQL)")
      ->excludes(by_dir);
  verify->add_option("--expect-head", *expect, "SEQ:HASH recorded earlier outside the box (as ctl audit shows it)");
  verify->add_option("--archives", *archives,
                     "the folder of archived segments (retention.audit_archive_dir): check the whole history");
  verify
      ->add_flag("--witnesses", *witnesses,
                 "ask every peer in --config what it witnessed of this log, and check that against the chain")
      ->needs("--config");
  verify->footer(
      "Without --archives, the chain is checked from the newest audit.checkpoint (the entries before it are "
      "archived). With --witnesses, a peer that cannot be asked makes the result incomplete (exit 6), a head "
      "the log no longer holds makes it fail (exit 1).\nExample: meshfed audit verify --config "
      "/etc/meshfed/pci.json --expect-head 42:9f86d081...\nExample: meshfed audit verify --config "
      "/etc/meshfed/pci.json --witnesses");
  verify->callback([state_dir, config_file, expect, archives, witnesses, &run] {
    if (state_dir->empty() == config_file->empty()) {
      run.exit_code = run.out.usage("audit verify", "give --config or --state-dir");
      return;
    }
    std::optional<config::Config> cfg;
    if (!config_file->empty()) {
      cfg = load_config_arg(*config_file, run);
      if (!cfg) return;
    }
    std::optional<workflow::ExpectedHead> head;
    if (!expect->empty()) {
      const auto colon = expect->find(':');
      if (colon == std::string::npos || colon == 0) {
        run.exit_code = run.out.usage("audit verify", "--expect-head: expected SEQ:HASH, got \"" + *expect + "\"");
        return;
      }
      const auto seq = parse_int(expect->substr(0, colon));
      if (!seq) {
        run.exit_code = run.out.usage("audit verify", "--expect-head: SEQ must be a number, got \"" + *expect + "\"");
        return;
      }
      head = workflow::ExpectedHead{*seq, expect->substr(colon + 1)};
    }
    // --config: whichever store it names (PostgreSQL too); --state-dir: that folder's SQLite file.
    if (!cfg) cfg.emplace().state_dir = *state_dir;
    auto opened = open_configured_store(*cfg, StoreUse::kRead);
    if (!opened) {
      run.exit_code = run.out.fail("audit verify", opened.error());
      return;
    }
    std::optional<std::filesystem::path> archive_dir;
    if (!archives->empty()) archive_dir = *archives;
    auto report = workflow::verify_audit(*opened->db, head, archive_dir);
    if (!report) {
      run.exit_code = run.out.fail("audit verify", report.error());
      return;
    }
    if (!report->ok) {
      run.exit_code =
          run.out.fail("audit verify", make_error(ErrorCode::kInvalidArgument, "FAILED: " + report->problem));
      return;
    }
    const std::string head_text = std::to_string(report->head_seq) + ":" + report->head_hash;
    nlohmann::json out = {{"ok", true},
                          {"entries", report->entries},
                          {"archived_entries", report->archived_entries},
                          {"live_from", report->live_from},
                          {"unchecked_transitions", report->unchecked_transitions},
                          {"head", head_text}};
    std::vector<federation::WitnessReport> witnessed;
    auto outcome = federation::WitnessOutcome::kOk;
    if (*witnesses) {
      auto asked = federation::check_witnesses_of(*cfg, *opened->db);
      if (!asked) {
        run.exit_code = run.out.fail("audit verify", asked.error());
        return;
      }
      witnessed = std::move(asked).value();
      outcome = federation::outcome_of(witnessed);
      out["ok"] = outcome == federation::WitnessOutcome::kOk;
      out["witness_outcome"] = to_string(outcome);
      out["witnesses"] = federation::to_json(witnessed);
    }
    run.out.print(out, [&] {
      std::cout << "audit verify: ok, " << report->entries << " entries";
      if (report->archived_entries > 0) std::cout << " (" << report->archived_entries << " archived)";
      std::cout << ", head " << head_text << "\n";
      if (report->live_from > 1 && !archive_dir) {
        std::cout << "entries before " << report->live_from
                  << " are archived (audit.checkpoint); give --archives DIR to check them too\n";
      }
      if (*witnesses) print_witness_reports(witnessed);
    });
    if (outcome == federation::WitnessOutcome::kFailed) {
      std::string problems;
      for (const auto& r : witnessed) {
        for (const auto& h : r.heads) problems += h.problem.empty() ? "" : "; " + h.problem;
      }
      run.exit_code = run.out.fail(
          "audit verify",
          make_error(ErrorCode::kInvalidArgument, "FAILED: the log does not hold what its peers witnessed" + problems));
    } else if (outcome == federation::WitnessOutcome::kIncomplete) {
      run.exit_code = run.out.fail(
          "audit verify",
          make_error(ErrorCode::kUnavailable, "INCOMPLETE: not every peer could be asked what it witnessed"));
    }
  });
}

}  // namespace meshfed::cli
