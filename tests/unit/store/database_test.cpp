#include "meshfed/store/database.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "support/test_support.hpp"

namespace meshfed::store {
namespace {

// The first row's first column as `column` reads it; `none` when there is no row.
template <typename T, typename Column>
T first_column(Database& db, std::string_view sql, T none, Column column) {
  T out = std::move(none);
  EXPECT_TRUE(db.read([&](Reader& tx) -> Status {
                  Statement s(tx, sql);
                  if (s.step()) out = column(s);
                  return {};
                }).ok());
  return out;
}

std::string text_of(Database& db, std::string_view sql) {
  return first_column(db, sql, std::string(), [](const Statement& s) { return s.text(0); });
}

int64_t int_of(Database& db, std::string_view sql) {
  return first_column(db, sql, int64_t{-1}, [](const Statement& s) { return s.int64(0); });
}

TEST(Database, MigratesFromEmptyAndRecordsVersions) {
  testing::TempDir dir;
  auto db = Database::open(dir / "m.db");
  ASSERT_TRUE(db.ok()) << db.error().message;
  EXPECT_GE((*db)->schema_version(), 1);
  auto& db_ = **db;
  EXPECT_EQ(text_of(db_, "SELECT name FROM schema_migrations WHERE version = 1"), "0001_initial.sql");
  EXPECT_EQ(text_of(db_, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(int_of(db_, "PRAGMA synchronous"), 2);  // FULL
  EXPECT_EQ(int_of(db_, "PRAGMA foreign_keys"), 1);
}

TEST(DatabaseDeathTest, ASecondThreadAbortsInsteadOfRacingTheFirst) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  testing::TempDir dir;
  EXPECT_DEATH(
      {
        testing::log_to_stderr();  // death tests read stderr
        auto db = Database::open(dir / "m.db");
        if (!db) std::abort();
        std::thread([&] { (void)(*db)->read([](Reader&) { return Status(); }); }).join();  // opened here, used there
        (void)(*db)->read([](Reader&) { return Status(); });                               // and back here: not
      },
      "the store connection is owned by one thread and was used from another");
}

TEST(Database, ReopeningAppliesNothingTwice) {
  testing::TempDir dir;
  { ASSERT_TRUE(Database::open(dir / "m.db").ok()); }
  auto db = Database::open(dir / "m.db");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(int_of(**db, "SELECT COUNT(*) FROM schema_migrations"), static_cast<int>(embedded_migrations().size()));
}

TEST(Database, AppliesMigrationsInOrderEachInItsTransaction) {
  testing::TempDir dir;
  const std::vector<Migration> v1 = {{"0001_a.sql", "CREATE TABLE a (x INTEGER);"}};
  const std::vector<Migration> v2 = {{"0001_a.sql", "CREATE TABLE a (x INTEGER);"},
                                     {"0002_b.sql", "ALTER TABLE a ADD COLUMN y TEXT;"}};
  { ASSERT_TRUE(Database::open(dir / "m.db", v1).ok()); }
  auto db = Database::open(dir / "m.db", v2);
  ASSERT_TRUE(db.ok()) << db.error().message;
  EXPECT_EQ((*db)->schema_version(), 2);
  (*db)->execute("INSERT INTO a (x, y) VALUES (1, 'z')");
}

TEST(Database, BrokenMigrationLeavesSchemaUnchanged) {
  testing::TempDir dir;
  const std::vector<Migration> bad = {{"0001_a.sql", "CREATE TABLE a (x INTEGER);"},
                                      {"0002_b.sql", "CREATE TABLE b (y INTEGER); SELECT nonsense FROM nowhere;"}};
  auto db = Database::open(dir / "m.db", bad);
  ASSERT_FALSE(db.ok());
  SQLite::Database raw((dir / "m.db").string());
  EXPECT_EQ(raw.execAndGet("SELECT MAX(version) FROM schema_migrations").getInt(), 1);
  EXPECT_FALSE(raw.tableExists("b"));
}

TEST(Database, RefusesSchemaNewerThanTheBinary) {
  testing::TempDir dir;
  {
    auto db = Database::open(dir / "m.db");
    ASSERT_TRUE(db.ok());
    (*db)->execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (999, '0999_future.sql', 'x')");
  }
  auto db = Database::open(dir / "m.db");
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.error().message.find("newer"), std::string::npos) << db.error().message;
  EXPECT_NE(db.error().message.find("999"), std::string::npos);
}

TEST(Database, TheFileIsOwnerOnlyWhateverTheUmask) {
  testing::TempDir dir;
  for (const mode_t umask : {mode_t{0}, mode_t{022}, mode_t{0277}}) {
    const auto file = dir / ("m" + std::to_string(umask) + ".db");
    const mode_t before = ::umask(umask);
    auto db = Database::open(file);
    ::umask(before);
    ASSERT_TRUE(db.ok()) << db.error().message;
    (*db)->execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (900, 'x', 'x')");
    for (const auto& f : {file, std::filesystem::path(file.string() + "-wal")}) {
      struct stat st {};
      ASSERT_EQ(::stat(f.c_str(), &st), 0) << f;
      EXPECT_EQ(st.st_mode & 0777, 0600u) << f << " under umask " << std::oct << umask;
    }
  }
}

TEST(Database, AReadOnlyOpenNeverCreatesMigratesOrWrites) {
  testing::TempDir dir;
  auto missing = Database::open_read_only(dir / "none.db");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir / "none.db"));

  // A store from an older binary is refused, not migrated.
  const std::vector<Migration> old_schema = {{"0001_initial.sql", "CREATE TABLE a (x INTEGER);"}};
  ASSERT_TRUE(Database::open(dir / "old.db", old_schema).ok());
  auto old = Database::open_read_only(dir / "old.db");
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.error().message.find("schema version 1"), std::string::npos) << old.error().message;
  SQLite::Database raw((dir / "old.db").string());
  EXPECT_EQ(raw.execAndGet("SELECT MAX(version) FROM schema_migrations").getInt(), 1);

  ASSERT_TRUE(Database::open(dir / "current.db").ok());
  auto current = Database::open_read_only(dir / "current.db");
  ASSERT_TRUE(current.ok()) << current.error().message;
  EXPECT_ANY_THROW((*current)->execute("CREATE TABLE b (y INTEGER)"));
}

TEST(Database, AStoreWithDamagedPagesIsRefusedAtOpenNamingTheFileAndTheProblem) {
  testing::TempDir dir;
  const auto file = dir / "m.db";
  {
    auto db = std::move(Database::open(file)).value();
    ASSERT_TRUE(db->transaction([&](store::Writer& tx) -> Status {
                    db->execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)");
                    for (int i = 0; i < 2000; ++i) {
                      Statement(tx, "INSERT INTO filler(body) VALUES (?)").bind(1, std::string(200, 'x')).exec();
                    }
                    return {};
                  }).ok());
    db->execute("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  // Garble the middle of the file: pages of the filler table, as a bad disk sector would.
  const auto size = std::filesystem::file_size(file);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
    const std::string garbage(8192, '\x5a');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto refused = Database::open(file);
  ASSERT_FALSE(refused.ok()) << "a damaged store must not start and answer 503 to every write";
  EXPECT_NE(refused.error().message.find(file.string()), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("integrity check"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("meshfed store check"), std::string::npos) << refused.error().message;
  // The full check, read-only, as `meshfed store check` runs it, lists the problems.
  auto ro = Database::open_read_only(file);
  ASSERT_TRUE(ro.ok()) << ro.error().message;
  auto problems = (*ro)->check_integrity(/*full=*/true);
  ASSERT_TRUE(problems.ok()) << problems.error().message;
  EXPECT_FALSE(problems->empty());
}

TEST(Database, FailedTransactionRollsBack) {
  testing::TempDir dir;
  auto db = Database::open(dir / "m.db");
  ASSERT_TRUE(db.ok());
  auto st = (*db)->transaction([&](store::Writer&) -> Status {
    (*db)->execute("INSERT INTO meta(key, value) VALUES ('k', 'v')");
    return make_error(ErrorCode::kInvalidArgument, "no");
  });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(int_of(**db, "SELECT COUNT(*) FROM meta WHERE key = 'k'"), 0);
}

}  // namespace
TEST(Database, AFailedReadTellsTheClientWhatFailedAndTheLogWhy) {
  testing::TempDir dir;
  auto db = Database::open(dir / "m.db");
  ASSERT_TRUE(db.ok());
  auto st = (*db)->read([&](store::Reader& tx) -> Status {
    Statement(tx, "SELECT secret_column FROM exports").step();
    return {};
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(st.error().message.rfind("store: read failed (logged as incident ", 0), 0u) << st.error().message;
  EXPECT_EQ(st.error().message.find("secret_column"), std::string::npos) << "SQLite's text reached the client";
}

}  // namespace meshfed::store
