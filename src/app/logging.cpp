#include "meshfed/app/logging.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdlib>

#include "meshfed/core/log_fields.hpp"
#include "meshfed/core/text.hpp"

namespace meshfed::app {
namespace {

std::string level_name(spdlog::level::level_enum level) {
  const auto name = spdlog::level::to_string_view(level);
  return std::string(name.data(), name.size());
}

// One JSON object per line; the message goes through nlohmann so it is always escaped. Fields
// of a LogFields in scope (the access log's) get keys of their own.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::json line = {
        {"time", format_rfc3339(std::chrono::time_point_cast<std::chrono::system_clock::duration>(msg.time))},
        {"level", level_name(msg.level)},
        {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    if (const auto* fields = LogFields::current()) {
      for (const auto& field : *fields) {
        if (line.contains(field.first)) continue;  // a field never hides the line's own keys
        std::visit([&line, &field](const auto& v) { line[field.first] = v; }, field.second);
      }
    }
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// sd-daemon(3)'s "<N>" prefixes; journald adds its own timestamp.
class JournalFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string prefix = "<" + std::to_string(priority(msg.level)) + ">" + level_name(msg.level) + " ";
    dest.append(prefix.data(), prefix.data() + prefix.size());
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JournalFormatter>(); }

 private:
  static int priority(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::critical:
        return 2;  // LOG_CRIT
      case spdlog::level::err:
        return 3;  // LOG_ERR
      case spdlog::level::warn:
        return 4;  // LOG_WARNING
      case spdlog::level::info:
        return 6;  // LOG_INFO
      default:
        return 7;  // LOG_DEBUG
    }
  }
};

}  // namespace

std::optional<spdlog::level::level_enum> parse_log_level(const std::string& name) {
  if (name == "warn") return spdlog::level::warn;  // spdlog's own name for it is "warning"
  for (const auto level : {spdlog::level::trace, spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
                           spdlog::level::err, spdlog::level::critical, spdlog::level::off}) {
    if (name == level_name(level)) return level;
  }
  return std::nullopt;
}

bool is_journal_stream(const char* journal_stream, int fd) {
  if (!journal_stream) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return std::string(journal_stream) ==
         std::to_string(static_cast<uint64_t>(st.st_dev)) + ":" + std::to_string(static_cast<uint64_t>(st.st_ino));
}

std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format) {
  switch (format) {
    case LogFormat::kJson:
      return std::make_unique<JsonFormatter>();
    case LogFormat::kJournal:
      return std::make_unique<JournalFormatter>();
    case LogFormat::kText:
      break;
  }
  return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v",
                                                     spdlog::pattern_time_type::utc);
}

void setup_logging(LogFormat format, const std::string& level) {
  if (format == LogFormat::kText && is_journal_stream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO)) {
    format = LogFormat::kJournal;
  }
  spdlog::drop("meshfed");
  auto logger = spdlog::stderr_logger_mt("meshfed");
  logger->set_formatter(make_log_formatter(format));
  logger->set_level(parse_log_level(level).value_or(spdlog::level::info));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace meshfed::app
