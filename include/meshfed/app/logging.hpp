// Log set-up: readable lines by default, JSON lines for log shippers, and journald's own
// priority prefixes when stderr is the journal (systemd sets JOURNAL_STREAM to its device and
// inode), so that `journalctl -p warning` finds our warnings.
#pragma once

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include <memory>
#include <optional>
#include <string>

namespace meshfed::app {

enum class LogFormat { kText, kJson, kJournal };

// The levels `--log-level` accepts; "warning" is "warn", as the log lines spell it.
std::optional<spdlog::level::level_enum> parse_log_level(const std::string& name);
// True when `journal_stream` ("<device>:<inode>", from JOURNAL_STREAM) names the file `fd` is.
bool is_journal_stream(const char* journal_stream, int fd);
std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format);

// Text becomes kJournal when stderr is the journal. `level` must be one parse_log_level knows.
void setup_logging(LogFormat format, const std::string& level);

}  // namespace meshfed::app
