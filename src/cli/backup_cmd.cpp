// meshfed backup, meshfed restore.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>

#include "config_arg.hpp"
#include "exit_codes.hpp"
#include "meshfed/cli/cli.hpp"
#include "meshfed/config/config.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/state_lock.hpp"
#include "meshfed/workflow/audit_verify.hpp"
#include "output.hpp"

namespace meshfed::cli {
namespace {

namespace fs = std::filesystem;

// The audit chain of a store, or why it does not hold.
Result<workflow::AuditReport> verified(store::Database& db) {
  auto report = workflow::verify_audit(db, std::nullopt);
  if (!report) return report.error();
  if (!report->ok) return make_error(ErrorCode::kFailedPrecondition, "audit chain broken: " + report->problem);
  return report;
}

// What a backup or a restore did: the database it wrote, and the audit chain it checked there.
struct Done {
  std::string verb;  // "backed up", "restored"
  fs::path from, to;
  workflow::AuditReport audit;
  std::string kept_as;  // the database a restore moved aside, if there was one

  nlohmann::json to_json() const {
    nlohmann::json j = {
        {"from", from.string()},
        {"to", to.string()},
        {"audit", {{"entries", audit.entries}, {"head", std::to_string(audit.head_seq) + ":" + audit.head_hash}}}};
    if (!kept_as.empty()) j["previous_database"] = kept_as;
    return j;
  }
  void print() const {
    if (!kept_as.empty()) std::cout << "the previous database is kept as " << kept_as << "\n";
    std::cout << verb << " " << from.string() << " to " << to.string() << ": audit chain ok, " << audit.entries
              << " entries, head " << audit.head_seq << ":" << audit.head_hash << "\n";
  }
};

Result<Done> backup(const config::Config& cfg, const fs::path& out) {
  auto db = store::Database::open_read_only(cfg.state_dir / "meshfed.db");
  if (!db) return db.error();
  if (auto st = (*db)->backup_to(out); !st) return st.error();
  auto copy = store::Database::open_read_only(out);
  if (!copy) return copy.error();
  auto report = verified(**copy);
  if (!report) return report.error();
  return Done{"backed up", cfg.state_dir / "meshfed.db", out, *report, ""};
}

// Moves the database and its WAL files aside: a WAL left next to another database would be
// replayed into it.
Status move_aside(const fs::path& db_file, const std::string& suffix) {
  std::error_code ec;
  for (const std::string ext : {"", "-wal", "-shm"}) {
    const fs::path from = db_file.string() + ext;
    if (!fs::exists(from, ec)) continue;
    fs::rename(from, db_file.string() + suffix + ext, ec);
    if (ec) return make_error(ErrorCode::kUnavailable, "cannot move " + from.string() + " aside: " + ec.message());
  }
  return {};
}

Result<Done> restore(const config::Config& cfg, const fs::path& from) {
  std::error_code ec;
  if (fs::create_directories(cfg.state_dir, ec)) {
    fs::permissions(cfg.state_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot create " + cfg.state_dir.string() + ": " + ec.message());
  auto lock = store::StateLock::acquire(cfg.state_dir);  // held until the new database is in place
  if (!lock) return make_error(lock.error().code, lock.error().message + "; stop it before restoring");
  auto source = store::Database::open_read_only(from, /*accept_older=*/true);
  if (!source) return source.error();
  auto report = verified(**source);
  if (!report) return make_error(report.error().code, from.string() + ": " + report.error().message);
  const fs::path db_file = cfg.state_dir / "meshfed.db";
  const fs::path incoming = db_file.string() + ".restoring";
  fs::remove(incoming, ec);
  if (auto st = (*source)->backup_to(incoming); !st) return st.error();
  const auto stamp = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const std::string aside = ".before-restore-" + stamp;
  std::string kept_as;
  if (fs::exists(db_file, ec)) {
    if (auto st = move_aside(db_file, aside); !st) return st.error();
    kept_as = db_file.string() + aside;
  }
  fs::rename(incoming, db_file, ec);
  if (ec)
    return make_error(ErrorCode::kUnavailable, "cannot move " + incoming.string() + " into place: " + ec.message());
  return Done{"restored", from, db_file, *report, kept_as};
}

// Both work on the SQLite file; PostgreSQL has its own tools, and `store copy` moves a domain
// between the two.
Error on_postgres(const std::string& command) {
  return make_error(ErrorCode::kFailedPrecondition,
                    "store.type is postgres: meshfed " + command +
                        " works on the SQLite file; use PostgreSQL's own tools (pg_dump, pg_restore), or `meshfed "
                        "store copy` to move the state to an SQLite file and back");
}

}  // namespace

void add_backup_commands(CLI::App& app, Invocation& run) {
  // The two differ in their file option and what they do with it; the rest is one shape.
  struct Command {
    const char* name;
    const char* summary;
    const char* file_option;
    const char* file_help;
    const char* example;
    Result<Done> (*act)(const config::Config&, const fs::path&);
  };
  const Command commands[] = {
      {"backup", "Copy a domain's database consistently, also while its broker runs", "--out",
       "the backup file to create (never overwritten)",
       "Example: meshfed backup --config /etc/meshfed/pci.json --out /backup/pci-$(date +%F).db", backup},
      {"restore", "Put a backup in place as a domain's database (the broker must be stopped)", "--from",
       "a file made by meshfed backup",
       "Example: meshfed restore --config /etc/meshfed/pci.json --from /backup/pci-2026-11-30.db", restore},
  };
  for (const auto& c : commands) {
    struct Args {
      std::string config, file;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand(c.name, c.summary);
    cmd->add_option("--config", a->config, "the domain's config file (JSON)")->required();
    cmd->add_option(c.file_option, a->file, c.file_help)->required();
    cmd->footer(c.example);
    cmd->callback([a, c, &run] {
      const auto cfg = load_config_arg(a->config, run);
      if (!cfg) return;
      auto done =
          cfg->store.type == config::StoreType::kPostgres ? Result<Done>(on_postgres(c.name)) : c.act(*cfg, a->file);
      if (!done) {
        run.exit_code = run.out.fail(c.name, done.error());
        return;
      }
      run.out.print(done->to_json(), [&] { done->print(); });
    });
  }
}

}  // namespace meshfed::cli
