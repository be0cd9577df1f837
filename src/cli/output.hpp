// The one output switch of every command, `-o table|json` (`--json` for short), and how a
// command reports its result and its failure in either form. People get aligned tables and
// sentences on stdout and errors on stderr; scripts get one JSON document on stdout: the API's
// own shape for a resource, and for a failure a problem+json document (RFC 9457, as the admin
// API answers) with the exit code in it.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "meshfed/core/result.hpp"

namespace meshfed::cli {

class Output {
 public:
  bool json() const { return format == "json"; }

  // `doc` as JSON, or what `human` prints for people.
  void print(const nlohmann::json& doc, const std::function<void()>& human) const;

  // Each reports a failure of `command` ("pki init", "ctl") and returns the exit code.
  // An error of this process; the exit code follows its kind (exit_codes.hpp).
  int fail(const std::string& command, const Error& e) const;
  // A command line that cannot work: exit code 2.
  int usage(const std::string& command, const std::string& detail) const;
  // A problem+json answer of the admin API, passed on as it came; `raw` when the body was not
  // one (a proxy's error page).
  int api_failure(int http_status, const nlohmann::json& problem, const std::string& raw) const;

  std::string format = "table";

 private:
  int report(const std::string& command, int exit_code, int http_status, const Error& e) const;
};

// What one run of `meshfed` prints and exits with, shared by every subcommand's callback.
struct Invocation {
  int exit_code = 0;
  Output out;
};

}  // namespace meshfed::cli
