// meshfed backup, meshfed restore.
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>

#include "config_arg.hpp"
#include "exit_codes.hpp"
#include "meshfed/cli/cli.hpp"
#include "meshfed/config/config.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/state_lock.hpp"
#include "meshfed/workflow/audit_verify.hpp"

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

Status backup(const config::Config& cfg, const fs::path& out) {
  auto db = store::Database::open_read_only(cfg.state_dir / "meshfed.db");
  if (!db) return db.error();
  if (auto st = (*db)->backup_to(out); !st) return st;
  auto copy = store::Database::open_read_only(out);
  if (!copy) return copy.error();
  auto report = verified(**copy);
  if (!report) return report.error();
  std::cout << "backed up " << (cfg.state_dir / "meshfed.db").string() << " to " << out.string() << ": audit chain ok, "
            << report->entries << " entries, head " << report->head_seq << ":" << report->head_hash << "\n";
  return {};
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

Status restore(const config::Config& cfg, const fs::path& from) {
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
  if (auto st = (*source)->backup_to(incoming); !st) return st;
  const auto stamp = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const std::string aside = ".before-restore-" + stamp;
  if (fs::exists(db_file, ec)) {
    if (auto st = move_aside(db_file, aside); !st) return st;
    std::cout << "the previous database is kept as " << db_file.string() << aside << "\n";
  }
  fs::rename(incoming, db_file, ec);
  if (ec)
    return make_error(ErrorCode::kUnavailable, "cannot move " + incoming.string() + " into place: " + ec.message());
  std::cout << "restored " << from.string() << " into " << db_file.string() << ": audit chain ok, " << report->entries
            << " entries, head " << report->head_seq << ":" << report->head_hash << "\n";
  return {};
}

}  // namespace

void add_backup_commands(CLI::App& app, int& exit_code) {
  // The two differ in their file option and what they do with it; the rest is one shape.
  struct Command {
    const char* name;
    const char* summary;
    const char* file_option;
    const char* file_help;
    const char* example;
    Status (*run)(const config::Config&, const fs::path&);
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
    cmd->callback([a, c, &exit_code] {
      const auto cfg = load_config_arg(a->config, exit_code);
      if (!cfg) return;
      if (auto st = c.run(*cfg, a->file); !st) {
        std::cerr << c.name << ": " << st.error().message << "\n";
        exit_code = exit_code_for(st.error().code);
      }
    });
  }
}

}  // namespace meshfed::cli
