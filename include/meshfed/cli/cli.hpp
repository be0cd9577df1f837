// The `meshfed` command line: one binary, subcommands for the broker, its operators and its
// users. Each group registers itself with CLI11; main() only dispatches.
#pragma once

namespace CLI {
class App;
}

namespace meshfed::cli {

int run(int argc, char** argv);

// Each adds its subcommands; the callback sets the exit code.
void add_broker_commands(CLI::App& app, int& exit_code);
void add_pki_commands(CLI::App& app, int& exit_code);
void add_token_commands(CLI::App& app, int& exit_code);
void add_audit_commands(CLI::App& app, int& exit_code);
void add_ctl_commands(CLI::App& app, int& exit_code);
void add_backup_commands(CLI::App& app, int& exit_code);
// Last: it describes everything added before it.
void add_completion_command(CLI::App& app, int& exit_code);

}  // namespace meshfed::cli
