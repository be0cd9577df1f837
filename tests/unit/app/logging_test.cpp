#include "meshfed/app/logging.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meshfed/core/log_fields.hpp"

namespace meshfed::app {
namespace {

std::string format(LogFormat f, spdlog::level::level_enum level, std::string_view text) {
  const spdlog::details::log_msg msg("meshfed", level, text);
  spdlog::memory_buf_t out;
  make_log_formatter(f)->format(msg, out);
  return std::string(out.data(), out.size());
}

TEST(Logging, EveryLevelNameTheLogPrintsIsAcceptedAndOthersAreNot) {
  EXPECT_EQ(parse_log_level("warning"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("warn"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("error"), spdlog::level::err);
  EXPECT_EQ(parse_log_level("debug"), spdlog::level::debug);
  EXPECT_EQ(parse_log_level("off"), spdlog::level::off);
  EXPECT_EQ(parse_log_level("verbose"), std::nullopt);
  EXPECT_EQ(parse_log_level(""), std::nullopt);
}

TEST(Logging, UnderJournaldLinesCarryThePriorityAndNoTimestampOfTheirOwn) {
  EXPECT_EQ(format(LogFormat::kJournal, spdlog::level::warn, "peer pci stale"), "<4>warning peer pci stale\n");
  EXPECT_EQ(format(LogFormat::kJournal, spdlog::level::err, "x"), "<3>error x\n");
  EXPECT_EQ(format(LogFormat::kJournal, spdlog::level::critical, "x"), "<2>critical x\n");
  EXPECT_EQ(format(LogFormat::kJournal, spdlog::level::info, "x"), "<6>info x\n");
  EXPECT_EQ(format(LogFormat::kJournal, spdlog::level::debug, "x"), "<7>debug x\n");
}

TEST(Logging, StderrIsTheJournalOnlyWhenJournalStreamNamesItsDeviceAndInode) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fds[1], &st), 0);
  const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  EXPECT_TRUE(is_journal_stream(mine.c_str(), fds[1]));
  EXPECT_FALSE(is_journal_stream(nullptr, fds[1]));
  EXPECT_FALSE(is_journal_stream((std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1)).c_str(), fds[1]));
  EXPECT_FALSE(is_journal_stream("", fds[1]));
  ::close(fds[0]);
  ::close(fds[1]);
  // Inherited by a child whose stderr went elsewhere: not the journal any more.
  EXPECT_FALSE(is_journal_stream(mine.c_str(), fds[1]));
}

TEST(Logging, JsonLinesGiveTheAccessLogFieldsKeysOfTheirOwn) {
  std::string line;
  {
    const LogFields fields({{"gateway", "ingress"}, {"bytes_up", int64_t{512}}, {"msg", "not this"}});
    line = format(LogFormat::kJson, spdlog::level::info, "access: gateway=ingress bytes_up=512");
  }
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["gateway"], "ingress");
  EXPECT_EQ(j["bytes_up"], 512);
  EXPECT_EQ(j["msg"], "access: gateway=ingress bytes_up=512");  // a field never hides the line's own keys
  EXPECT_EQ(j["level"], "info");
  // Outside the scope, a line has only its own keys.
  const auto plain = nlohmann::json::parse(format(LogFormat::kJson, spdlog::level::info, "hello"));
  EXPECT_FALSE(plain.contains("gateway"));
}

}  // namespace
}  // namespace meshfed::app
