#include "output.hpp"

#include "meshfed/core/text.hpp"

#include <iostream>

#include "exit_codes.hpp"
#include "meshfed/api/problem.hpp"

namespace meshfed::cli {

void Output::print(const nlohmann::json& doc, const std::function<void()>& human) const {
  if (json()) {
    std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    human();
  }
}

int Output::report(const std::string& command, int exit_code, int http_status, const Error& e) const {
  if (json()) {
    auto problem = api::problem_body(http_status, e.message, e.fields);
    problem["exit_code"] = exit_code;
    print(problem, {});
  } else {
    std::cerr << (command.empty() ? "" : command + ": ") << e.message << "\n";
    for (const auto& f : e.fields) std::cerr << "  " << f.field << ": " << f.message << "\n";
  }
  return exit_code;
}

int Output::fail(const std::string& command, const Error& e) const {
  return report(command, exit_code_for(e.code), api::http_status(e.code), e);
}

int Output::usage(const std::string& command, const std::string& detail) const {
  if (!json()) {
    std::cerr << (command.empty() ? "" : command + ": ") << detail << "\nRun with --help for more information.\n";
    return kExitUsage;
  }
  return report(command, kExitUsage, 400, make_error(ErrorCode::kInvalidArgument, detail));
}

int Output::api_failure(int http_status, const nlohmann::json& problem, const std::string& raw) const {
  const int exit_code = exit_code_for_status(http_status);
  const bool is_problem = problem.is_object() && problem.contains("detail") && problem["detail"].is_string();
  if (json()) {
    nlohmann::json doc = is_problem ? problem : api::problem_body(http_status, raw);
    doc["exit_code"] = exit_code;
    print(doc, {});
    return exit_code;
  }
  if (!is_problem) {
    std::cerr << "error " << http_status << ": " << escape_for_log(raw, 2000) << "\n";
    return exit_code;
  }
  // The server's words, escaped: a proxy or a hostile server must not write to the terminal.
  std::cerr << "error " << http_status << ": " << escape_for_log(problem["detail"].get<std::string>(), 2000) << "\n";
  if (problem.contains("errors") && problem["errors"].is_array()) {
    for (const auto& e : problem["errors"]) {
      std::cerr << "  " << escape_for_log(e.value("field", ""), 200) << ": "
                << escape_for_log(e.value("message", ""), 2000) << "\n";
    }
  }
  return exit_code;
}

}  // namespace meshfed::cli
