#include "meshfed/store/read_pool.hpp"

#include "backend.hpp"

namespace meshfed::store {

ReadPool::ReadPool(std::vector<std::unique_ptr<Database>> connections)
    : size_(static_cast<int>(connections.size())), idle_(std::move(connections)) {}

ReadPool::~ReadPool() = default;

Result<std::unique_ptr<ReadPool>> ReadPool::open_sqlite(const std::filesystem::path& file, int size) {
  std::vector<std::unique_ptr<Database>> connections;
  for (int i = 0; i < size; ++i) {
    MESHFED_ASSIGN_OR_RETURN(auto db, Database::open_read_only(file));
    connections.push_back(std::move(db));
  }
  return std::unique_ptr<ReadPool>(new ReadPool(std::move(connections)));
}

Result<std::unique_ptr<ReadPool>> ReadPool::open_postgres(const std::string& conninfo, int size) {
  std::vector<std::unique_ptr<Database>> connections;
  try {
    for (int i = 0; i < size; ++i) {
      std::unique_ptr<Database> db(new Database(backend::open_postgres(conninfo), "PostgreSQL"));
      db->shared_ = true;
      db->owner_.release();
      connections.push_back(std::move(db));
    }
  } catch (const std::exception& e) {
    return store_error("cannot open the read pool's PostgreSQL connections", e);
  }
  return std::unique_ptr<ReadPool>(new ReadPool(std::move(connections)));
}

std::unique_ptr<Database> ReadPool::take() {
  MutexLock lock(mu_);
  if (idle_.empty()) {
    ++waited_;
    while (idle_.empty()) returned_.wait(mu_);
  }
  auto connection = std::move(idle_.back());
  idle_.pop_back();
  return connection;
}

void ReadPool::give_back(std::unique_ptr<Database> connection) {
  connection->owner_.release();  // the next thread to take it owns it
  {
    MutexLock lock(mu_);
    idle_.push_back(std::move(connection));
  }
  returned_.notify_one();
}

Status ReadPool::read(const std::function<Status(Reader&)>& body) {
  auto connection = take();
  try {
    Status st = connection->read(body);
    give_back(std::move(connection));
    return st;
  } catch (...) {  // Database::read turns store errors into a Status; anything else passes through
    give_back(std::move(connection));
    throw;
  }
}

int64_t ReadPool::waited() const {
  MutexLock lock(mu_);
  return waited_;
}

}  // namespace meshfed::store
