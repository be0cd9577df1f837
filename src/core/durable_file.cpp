#include "meshfed/core/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace meshfed {
namespace {

Error file_error(const std::string& what, const std::filesystem::path& file) {
  return make_error(ErrorCode::kInternal, "cannot " + what + " " + file.string() + ": " + std::strerror(errno));
}

}  // namespace

Status replace_file_durably(const std::filesystem::path& file, const std::string& text,
                            const std::function<bool(int fd)>& prepare) {
  const auto folder = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  const auto temp = std::filesystem::path(file.string() + ".new");
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return file_error("write", temp);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && (!prepare || prepare(fd)) && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), file.c_str()) != 0) {
    if (!ok) errno = saved;
    const Error e = file_error("write", file);
    ::unlink(temp.c_str());
    return e;
  }
  const int dir_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return file_error("open the folder of", file);
  ok = ::fsync(dir_fd) == 0;  // the rename itself survives a crash
  ::close(dir_fd);
  return ok ? Status{} : file_error("sync the folder of", file);
}

}  // namespace meshfed
