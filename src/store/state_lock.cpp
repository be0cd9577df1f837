#include "meshfed/store/state_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace meshfed::store {

Result<StateLock> StateLock::acquire(const std::filesystem::path& state_dir) {
  const auto file = state_dir / "broker.lock";
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kUnavailable, "cannot open " + file.string() + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "a meshfed broker is running on " + state_dir.string() + " (it holds " + file.string() + ")");
    }
    return make_error(ErrorCode::kUnavailable, "cannot lock " + file.string() + ": " + std::strerror(err));
  }
  return StateLock(fd);
}

StateLock::~StateLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace meshfed::store
