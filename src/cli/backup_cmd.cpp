// meshfed backup, meshfed restore.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>

#include "config_arg.hpp"
#include "exit_codes.hpp"
#include "meshfed/cli/cli.hpp"
#include "meshfed/config/config.hpp"
#include "meshfed/core/text.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/state_lock.hpp"
#include "meshfed/workflow/audit_verify.hpp"
#include "meshfed/workflow/restore.hpp"
#include "witness_output.hpp"
#include "output.hpp"

namespace meshfed::cli {
namespace {

namespace fs = std::filesystem;

// The audit chain of a store, or why it does not hold.
Result<workflow::AuditReport> verified(store::Database& db) {
  MESHFED_ASSIGN_OR_RETURN(auto report, workflow::verify_audit(db, std::nullopt));
  if (!report.ok) return make_error(ErrorCode::kFailedPrecondition, "audit chain broken: " + report.problem);
  return report;
}

// What a backup or a restore did: the database it wrote, and the audit chain it checked there.
struct Done {
  std::string verb;  // "backed up", "restored"
  fs::path from, to;
  workflow::AuditReport audit;
  std::string kept_as;  // the database a restore moved aside, if there was one
  std::optional<workflow::RestoreOutcome> restored;
  // A restore: what the peers witnessed of the log, against the restored one.
  std::optional<std::vector<federation::WitnessReport>> witnesses;

  nlohmann::json to_json() const {
    nlohmann::json j = {
        {"from", from.string()},
        {"to", to.string()},
        {"audit", {{"entries", audit.entries}, {"head", std::to_string(audit.head_seq) + ":" + audit.head_hash}}}};
    if (!kept_as.empty()) j["previous_database"] = kept_as;
    if (restored) {
      j["kept_ended"] = nlohmann::json::array();
      for (const auto& k : restored->kept_ended) {
        j["kept_ended"].push_back({{"export", k.id},
                                   {"state", std::string(store::to_string(k.state))},
                                   {"by", k.by},
                                   {"at", format_rfc3339(from_unix_ms(k.at_ms))}});
      }
      j["audit_entry"] = restored->audit_seq;
    }
    if (witnesses) {
      j["witness_outcome"] = federation::to_string(federation::outcome_of(*witnesses));
      j["witnesses"] = federation::to_json(*witnesses);
    }
    return j;
  }
  void print() const {
    if (!kept_as.empty()) std::cout << "the previous database is kept as " << kept_as << "\n";
    std::cout << verb << " " << from.string() << " to " << to.string() << ": audit chain ok, " << audit.entries
              << " entries, head " << audit.head_seq << ":" << audit.head_hash << "\n";
    if (!restored) return;
    for (const auto& k : restored->kept_ended) {
      std::cout << "kept ended: export " << k.id << " is approved or pending in the backup, but was "
                << store::to_string(k.state) << " by " << k.by << " at " << format_rfc3339(from_unix_ms(k.at_ms))
                << "; it stays " << store::to_string(k.state) << "\n";
    }
    std::cout << "recorded as audit entry " << restored->audit_seq << " (store.restored); peers get a full catalog\n";
    if (!witnesses) return;
    if (federation::outcome_of(*witnesses) == federation::WitnessOutcome::kFailed) {
      std::cout << "the peers witnessed more of this domain's audit log than the restored store holds: the entries "
                   "after the backup are lost, and `meshfed audit verify --witnesses` reports it until the peers' "
                   "retention.witness_days pass\n";
    }
    print_witness_reports(*witnesses);
  }
};

Result<Done> backup(const config::Config& cfg, const fs::path& out) {
  MESHFED_ASSIGN_OR_RETURN(auto db, store::Database::open_read_only(cfg.state_dir / "meshfed.db"));
  MESHFED_RETURN_IF_ERROR(db->backup_to(out));
  MESHFED_ASSIGN_OR_RETURN(auto copy, store::Database::open_read_only(out));
  MESHFED_ASSIGN_OR_RETURN(auto report, verified(*copy));
  return Done{"backed up", cfg.state_dir / "meshfed.db", out, report, "", std::nullopt, std::nullopt};
}

// A file error in the words an operator acts on: the path, what was tried, the OS's reason.
Error file_error(const std::string& what, const fs::path& path, int err) {
  std::string message = "cannot " + what + " " + path.string() + ": " + std::strerror(err);
  if (err == EACCES || err == EPERM) {
    message += geteuid() == 0 ? "" : " (run meshfed restore as root, or as the user that owns it)";
  }
  return make_error(ErrorCode::kInternal, message);
}

// Moves the database and its WAL files aside: a WAL left next to another database would be
// replayed into it.
Status move_aside(const fs::path& db_file, const std::string& suffix) {
  std::error_code ec;
  for (const std::string ext : {"", "-wal", "-shm"}) {
    const fs::path from = db_file.string() + ext;
    if (!fs::exists(from, ec)) continue;
    fs::rename(from, db_file.string() + suffix + ext, ec);
    if (ec) return file_error("move aside", from, ec.value());
  }
  return {};
}

// Who restores, for the audit log: the restore has no token, so the OS user answers for it.
std::string restore_actor() {
  const passwd* pw = getpwuid(geteuid());
  return "restore:" + (pw ? std::string(pw->pw_name) : std::to_string(geteuid()));
}

Result<Done> restore(const config::Config& cfg, const fs::path& from) {
  std::error_code ec;
  if (fs::create_directories(cfg.state_dir, ec)) {
    fs::permissions(cfg.state_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  if (ec) return file_error("create", cfg.state_dir, ec.value());
  if (::access(from.c_str(), R_OK) != 0) return file_error("read the backup", from, errno);
  struct stat folder {};
  if (::stat(cfg.state_dir.c_str(), &folder) != 0) return file_error("read", cfg.state_dir, errno);
  auto lock = store::StateLock::acquire(cfg.state_dir);  // held until the new database is in place
  if (!lock) return make_error(lock.error().code, lock.error().message + "; stop it before restoring");
  MESHFED_ASSIGN_OR_RETURN(auto source, store::Database::open_read_only(from, /*accept_older=*/true));
  auto report = verified(*source);
  if (!report) return make_error(report.error().code, from.string() + ": " + report.error().message);
  const fs::path db_file = cfg.state_dir / "meshfed.db";
  const fs::path incoming = db_file.string() + ".restoring";
  fs::remove(incoming, ec);
  MESHFED_RETURN_IF_ERROR(source->backup_to(incoming));
  source.reset();

  // What the store being replaced has ended stays ended (workflow/restore.hpp).
  std::unique_ptr<store::Database> replaced;
  if (fs::exists(db_file, ec)) {
    auto current = store::Database::open_read_only(db_file, /*accept_older=*/true);
    if (!current) {
      fs::remove(incoming, ec);
      return make_error(current.error().code,
                        "cannot read the store being replaced, " + db_file.string() +
                            ", to keep the exports it has ended ended: " + current.error().message +
                            "; if it is beyond reading, move it aside yourself and restore again");
    }
    replaced = std::move(*current);
  }
  std::optional<workflow::RestoreOutcome> outcome;
  {
    // Opening migrates a backup of an older schema.
    MESHFED_ASSIGN_OR_RETURN(const auto restored, store::Database::open(incoming));
    MESHFED_ASSIGN_OR_RETURN(outcome, workflow::settle_restore(replaced.get(), *restored, SystemClock().now(),
                                                               restore_actor(), from.string()));
  }  // closed: SQLite folds its WAL back into the file
  replaced.reset();

  // Owned like the folder it lands in, whoever restores: the broker runs as that folder's owner.
  for (const std::string ext : {"", "-wal", "-shm"}) {
    const fs::path f = incoming.string() + ext;
    if (!fs::exists(f, ec)) continue;
    if (::chown(f.c_str(), folder.st_uid, folder.st_gid) != 0 || ::chmod(f.c_str(), 0600) != 0) {
      return file_error("give the state folder's owner", f, errno);
    }
  }
  const auto stamp = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const std::string aside = ".before-restore-" + stamp;
  std::string kept_as;
  if (fs::exists(db_file, ec)) {
    MESHFED_RETURN_IF_ERROR(move_aside(db_file, aside));
    kept_as = db_file.string() + aside;
  }
  fs::rename(incoming, db_file, ec);
  if (ec) return file_error("move into place", incoming, ec.value());
  Done done{"restored", from, db_file, *report, kept_as, std::move(outcome), std::nullopt};
  if (!cfg.peers.empty()) {
    // Reported, not refused: the backup is in place; what it lacks is for the operator to know.
    auto db = store::Database::open_read_only(db_file);
    auto asked =
        db ? federation::check_witnesses_of(cfg, **db) : Result<std::vector<federation::WitnessReport>>(db.error());
    if (asked) {
      done.witnesses = std::move(asked).value();
    } else {
      std::cerr << "restore: could not ask the peers what they witnessed: " << asked.error().message << "\n";
    }
  }
  return done;
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
