// Schema migrations: the files migrations/NNNN_name.sql, compiled into the binary in order.
#pragma once

#include <string_view>
#include <vector>

namespace meshfed::store {

struct Migration {
  std::string_view file;  // e.g. "0001_initial.sql"; the number is the schema version
  std::string_view sql;
};

// migrations/*.sql, for SQLite.
const std::vector<Migration>& embedded_migrations();
// migrations/postgres/*.sql: the same versions in PostgreSQL's dialect.
const std::vector<Migration>& embedded_postgres_migrations();

}  // namespace meshfed::store
