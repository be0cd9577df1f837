// Fields a log line carries besides its message, for `--log-format json`: a line logged while
// a LogFields is alive on the same thread gets them as keys of their own ({"bytes_up": 512}),
// so a log shipper needs no parsing. The text format ignores them: its message already says
// the same in words. Loggers are synchronous, so the formatter runs on the logging thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace meshfed {

class LogFields {
 public:
  using Value = std::variant<std::string, int64_t>;
  using List = std::vector<std::pair<std::string, Value>>;

  explicit LogFields(List fields) : fields_(std::move(fields)), outer_(current_) { current_ = &fields_; }
  ~LogFields() { current_ = outer_; }
  LogFields(const LogFields&) = delete;
  LogFields& operator=(const LogFields&) = delete;

  // The fields of the innermost LogFields alive on this thread, or null.
  static const List* current() { return current_; }

 private:
  List fields_;
  const List* outer_;
  static inline thread_local const List* current_ = nullptr;
};

}  // namespace meshfed
