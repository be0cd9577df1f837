// One SQL statement of the store, the same whichever backend holds it: `?` placeholders bound
// by position from 1, rows stepped through, columns read by position from 0. SQL is written
// once where the dialects agree; the backend translates placeholders. The store's building
// block, for its repositories (`*_repository.hpp`) and its own operations: methods throw on store
// errors, and guarded() (database.hpp) turns the exception into the operation's Error at the
// edge of the store. A Statement is made from the Reader or Writer a read or a transaction
// hands out.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace meshfed::store {

class Database;
class Reader;
namespace backend {
class Cursor;
}

class Statement {
 public:
  // Prepared on the connection `tx` reads, or reused: a Statement gives its prepared statement
  // back to that connection when it goes, reset, for the next one of the same SQL.
  Statement(const Reader& tx, std::string_view sql);
  ~Statement();
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;

  Statement& bind(int i, int64_t v);
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v ? 1 : 0)); }
  Statement& bind(int i, const std::string& v);
  Statement& bind(int i, const char* v) { return bind(i, std::string(v)); }
  Statement& bind(int i, std::string_view v) { return bind(i, std::string(v)); }
  Statement& bind(int i, std::nullopt_t);
  template <typename T>
  Statement& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind(i, std::nullopt);
  }

  // The next row; false once there is none. The first call runs the statement.
  bool step();
  // Runs a statement that returns no rows.
  void exec();
  // Ready to bind and run again.
  void reset();

  bool is_null(int col) const;
  int64_t int64(int col) const;
  int int32(int col) const { return static_cast<int>(int64(col)); }
  bool boolean(int col) const { return int64(col) != 0; }
  std::string text(int col) const;
  std::optional<int64_t> opt_int64(int col) const;
  std::optional<std::string> opt_text(int col) const { return is_null(col) ? std::nullopt : std::optional(text(col)); }
  std::string text_or_empty(int col) const { return is_null(col) ? std::string() : text(col); }
  // The result's shape, once step() has run the statement.
  int columns() const;
  std::string column_name(int col) const;

 private:
  Database* db_;
  std::string sql_;
  std::unique_ptr<backend::Cursor> cursor_;
};

}  // namespace meshfed::store
