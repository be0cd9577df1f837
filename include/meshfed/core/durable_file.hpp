// Files whose content must survive a crash whole or not at all (the tokens file, audit archive
// segments): written beside themselves, synced, renamed over the old one, and the folder synced
// so that the rename survives too.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "meshfed/core/result.hpp"

namespace meshfed {

// Replaces `file` with `text`. The new file is created 0600; `prepare`, when given, runs on its
// descriptor before it is synced (ownership, mode) and returns false on failure (errno set).
// Errors name the file and the OS reason.
Status replace_file_durably(const std::filesystem::path& file, const std::string& text,
                            const std::function<bool(int fd)>& prepare = nullptr);

}  // namespace meshfed
