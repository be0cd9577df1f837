// The store a domain's config names, opened for a tool: the SQLite file under state_dir (with
// the state folder's lock, so no broker runs on it meanwhile) or the PostgreSQL database that
// store.url_file names (replicas may be running: PostgreSQL serialises what they and the tool do).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "meshfed/config/config.hpp"
#include "meshfed/store/database.hpp"
#include "meshfed/store/state_lock.hpp"

namespace meshfed::cli {

struct ConfiguredStore {
  std::optional<store::StateLock> lock;  // SQLite only
  std::unique_ptr<store::Database> db;
  std::string where;  // for messages: the file, or "PostgreSQL (store.url_file FILE)"
};

enum class StoreUse {
  kRead,     // SQLite: read-only, never created nor migrated, no lock (a running broker is fine)
  kMigrate,  // created if missing and migrated; SQLite: the broker must be stopped
};

Result<ConfiguredStore> open_configured_store(const config::Config& cfg, StoreUse use);

}  // namespace meshfed::cli
