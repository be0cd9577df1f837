// One broker per state folder: the broker holds an exclusive lock on `<state_dir>/broker.lock`
// for its lifetime (flock: released by the kernel however the process ends, kill -9 included),
// and whatever replaces the database under it (`meshfed restore`) must take the same lock.
#pragma once

#include <filesystem>
#include <utility>

#include "meshfed/core/result.hpp"

namespace meshfed::store {

class StateLock {
 public:
  // kFailedPrecondition when another process holds it, naming the folder.
  static Result<StateLock> acquire(const std::filesystem::path& state_dir);
  StateLock(StateLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  StateLock& operator=(StateLock&&) = delete;
  StateLock(const StateLock&) = delete;
  ~StateLock();

 private:
  explicit StateLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace meshfed::store
