// Connections that only read, for answers that need not wait for the store thread: the peer
// API's catalog and the admin API's GETs. On SQLite they are read-only connections to the WAL
// file, which see the last commit while the store thread writes the next; on PostgreSQL they
// are connections of their own. Either way a read runs on one snapshot (Database::read).
//
// Thread-safe: a read takes an idle connection, or waits for one, and gives it back after;
// each connection keeps its own prepared statements, and belongs to whichever thread holds it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "meshfed/core/mutex.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/store/database.hpp"

namespace meshfed::store {

class ReadPool final : public Reads {
 public:
  // `size` connections to the SQLite store `file`, which its broker has opened (and migrated).
  static Result<std::unique_ptr<ReadPool>> open_sqlite(const std::filesystem::path& file, int size);
  // `size` connections to the PostgreSQL store (already migrated by Database::open_postgres).
  static Result<std::unique_ptr<ReadPool>> open_postgres(const std::string& conninfo, int size);
  ~ReadPool() override;

  // Runs read-only `body` on one snapshot of the store, on an idle connection of the pool.
  Status read(const std::function<Status(Reader&)>& body) override;

  int size() const { return size_; }
  // Reads that found every connection busy and waited for one.
  int64_t waited() const;

 private:
  explicit ReadPool(std::vector<std::unique_ptr<Database>> connections);
  std::unique_ptr<Database> take();
  void give_back(std::unique_ptr<Database> connection);

  const int size_;
  mutable Mutex mu_;
  CondVar returned_;
  std::vector<std::unique_ptr<Database>> idle_ GUARDED_BY(mu_);
  int64_t waited_ GUARDED_BY(mu_) = 0;
};

}  // namespace meshfed::store
