// meshfed store migrate, meshfed store copy, meshfed store check.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>

#include "config_arg.hpp"
#include "meshfed/cli/cli.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/store/copy.hpp"
#include "meshfed/workflow/audit_verify.hpp"
#include "output.hpp"
#include "store_arg.hpp"

namespace meshfed::cli {

Result<ConfiguredStore> open_configured_store(const config::Config& cfg, StoreUse use) {
  ConfiguredStore out;
  if (cfg.store.type == config::StoreType::kPostgres) {
    auto url = read_secret_file(cfg.store.url_file.string());
    if (!url) return make_error(url.error().code, "store.url_file: " + url.error().message);
    MESHFED_ASSIGN_OR_RETURN(auto db, store::Database::open_postgres(*url));
    out.db = std::move(db);
    out.where = "PostgreSQL (store.url_file " + cfg.store.url_file.string() + ")";
    return out;
  }
  const auto file = cfg.state_dir / "meshfed.db";
  out.where = file.string();
  if (use == StoreUse::kRead) {
    MESHFED_ASSIGN_OR_RETURN(auto db, store::Database::open_read_only(file));
    out.db = std::move(db);
    return out;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::create_directories(cfg.state_dir, ec)) {
    fs::permissions(cfg.state_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot create " + cfg.state_dir.string() + ": " + ec.message());
  auto lock = store::StateLock::acquire(cfg.state_dir);
  if (!lock) return make_error(lock.error().code, lock.error().message + "; stop it first");
  out.lock.emplace(std::move(lock).value());
  MESHFED_ASSIGN_OR_RETURN(auto db, store::Database::open(file));
  out.db = std::move(db);
  return out;
}

namespace {

void add_migrate(CLI::App& store_cmd, Invocation& run) {
  auto config_file = std::make_shared<std::string>();
  auto* migrate = store_cmd.add_subcommand(
      "migrate", "Bring a domain's store to this meshfed's schema (brokers also do it at start)");
  migrate->add_option("--config", *config_file, "the domain's config file (JSON)")->required();
  migrate->footer("Example: meshfed store migrate --config /etc/meshfed/pci.json");
  migrate->callback([config_file, &run] {
    const auto cfg = load_config_arg(*config_file, run);
    if (!cfg) return;
    auto opened = open_configured_store(*cfg, StoreUse::kMigrate);
    if (!opened) {
      run.exit_code = run.out.fail("store migrate", opened.error());
      return;
    }
    const int version = opened->db->schema_version();
    run.out.print({{"store", opened->where}, {"schema_version", version}},
                  [&] { std::cout << "store " << opened->where << ": schema version " << version << "\n"; });
  });
}

void add_copy(CLI::App& store_cmd, Invocation& run) {
  struct Args {
    std::string from, to;
  };
  auto a = std::make_shared<Args>();
  auto* copy = store_cmd.add_subcommand(
      "copy", "Move a domain's whole state to another store (SQLite to PostgreSQL or back), audit chain intact");
  copy->add_option("--from", a->from, "the config whose store is read (its brokers stopped, for SQLite)")->required();
  copy->add_option("--to", a->to, "the config whose store is written: created, and empty")->required();
  copy->footer("Example: meshfed store copy --from /etc/meshfed/pci.json --to /etc/meshfed/pci-postgres.json");
  copy->callback([a, &run] {
    const auto from_cfg = load_config_arg(a->from, run);
    if (!from_cfg) return;
    const auto to_cfg = load_config_arg(a->to, run);
    if (!to_cfg) return;
    auto fail = [&](const Error& e) { run.exit_code = run.out.fail("store copy", e); };
    // Both migrated: a copy is between stores of this meshfed's schema.
    auto from = open_configured_store(*from_cfg, StoreUse::kMigrate);
    if (!from) return fail(from.error());
    auto to = open_configured_store(*to_cfg, StoreUse::kMigrate);
    if (!to) return fail(to.error());
    if (from->where == to->where && from_cfg->store.type == config::StoreType::kSqlite) {
      return fail(make_error(ErrorCode::kInvalidArgument, "--from and --to name the same store"));
    }
    auto before = workflow::verify_audit(*from->db, std::nullopt);
    if (!before) return fail(before.error());
    if (!before->ok)
      return fail(make_error(ErrorCode::kFailedPrecondition,
                             "the source's audit chain is broken: " + before->problem + "; nothing copied"));
    auto report = store::copy_store(*from->db, *to->db);
    if (!report) return fail(report.error());
    // The copy must end where the source does: the same chain, to the same head.
    auto after = workflow::verify_audit(*to->db, workflow::ExpectedHead{before->head_seq, before->head_hash});
    if (!after) return fail(after.error());
    if (!after->ok)
      return fail(make_error(ErrorCode::kInternal, "the copy's audit chain does not verify: " + after->problem));
    const std::string head = std::to_string(after->head_seq) + ":" + after->head_hash;
    run.out.print({{"from", from->where},
                   {"to", to->where},
                   {"rows", report->rows},
                   {"audit", {{"entries", after->entries}, {"head", head}}}},
                  [&] {
                    std::cout << "copied " << from->where << " to " << to->where << ": " << report->rows["exports"]
                              << " exports, " << report->rows["imports"] << " imports, " << after->entries
                              << " audit entries; audit chain ok, head " << head << "\n";
                  });
  });
}

void add_check(CLI::App& store_cmd, Invocation& run) {
  auto config_file = std::make_shared<std::string>();
  auto* check = store_cmd.add_subcommand(
      "check",
      "Check a domain's store whole: every page and index (SQLite integrity_check), every row readable, and "
      "the audit chain");
  check->add_option("--config", *config_file, "the domain's config file (JSON)")->required();
  check->footer(
      "Reads only; the broker may be running. Exits 1 naming the problems found.\n"
      "Example: meshfed store check --config /etc/meshfed/pci.json");
  check->callback([config_file, &run] {
    const auto cfg = load_config_arg(*config_file, run);
    if (!cfg) return;
    auto fail = [&](const Error& e) { run.exit_code = run.out.fail("store check", e); };
    auto opened = open_configured_store(*cfg, StoreUse::kRead);
    if (!opened) return fail(opened.error());
    auto problems = opened->db->check_integrity(/*full=*/true);
    if (!problems) return fail(problems.error());
    if (problems->empty()) {
      auto audit = workflow::verify_audit(*opened->db, std::nullopt);
      if (!audit) return fail(audit.error());
      if (!audit->ok) problems->push_back("audit chain: " + audit->problem);
    }
    if (!problems->empty()) {
      std::vector<FieldError> found;
      for (const auto& p : *problems) found.push_back({"store", p});
      return fail(make_error(ErrorCode::kInvalidArgument,
                             "store " + opened->where + " FAILED its check: " + problems->front() + " (" +
                                 std::to_string(problems->size()) + " problem(s)); restore a backup (meshfed restore)",
                             std::move(found)));
    }
    run.out.print({{"store", opened->where}, {"ok", true}},
                  [&] { std::cout << "store " << opened->where << ": ok (pages, indexes, rows and audit chain)\n"; });
  });
}

}  // namespace

void add_store_commands(CLI::App& app, Invocation& run) {
  auto* store_cmd =
      app.add_subcommand("store", "Migrate, check, or move a domain's store between SQLite and PostgreSQL");
  store_cmd->require_subcommand(1);
  store_cmd->footer("Example: meshfed store copy --from /etc/meshfed/pci.json --to /etc/meshfed/pci-postgres.json");
  add_migrate(*store_cmd, run);
  add_copy(*store_cmd, run);
  add_check(*store_cmd, run);
}

}  // namespace meshfed::cli
