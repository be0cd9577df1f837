// The `meshfed` command line: one binary, subcommands for the broker, its operators and its
// users. Each group registers itself with CLI11; main() only dispatches.
#pragma once

namespace CLI {
class App;
}

namespace meshfed::cli {

struct Invocation;  // output.hpp: the output switch and the exit code

int run(int argc, char** argv);

// Each adds its subcommands; their callbacks print through `run.out` and set `run.exit_code`.
void add_broker_commands(CLI::App& app, Invocation& run);
void add_pki_commands(CLI::App& app, Invocation& run);
void add_token_commands(CLI::App& app, Invocation& run);
void add_audit_commands(CLI::App& app, Invocation& run);
void add_ctl_commands(CLI::App& app, Invocation& run);
void add_backup_commands(CLI::App& app, Invocation& run);
void add_store_commands(CLI::App& app, Invocation& run);
void add_peer_commands(CLI::App& app, Invocation& run);
// Last: it describes everything added before it.
void add_completion_command(CLI::App& app, Invocation& run);

}  // namespace meshfed::cli
