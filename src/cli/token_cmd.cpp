// meshfed token create|add|list|revoke: admin API tokens, and the tokens file that admits them.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>

#include "meshfed/api/auth.hpp"
#include "meshfed/cli/cli.hpp"
#include "output.hpp"

namespace meshfed::cli {
namespace {

constexpr const char* kReload =
    "a running broker reads it on reload: systemctl reload meshfed@DOMAIN (or kill -HUP its pid)";

struct TokenArgs {
  std::string name;
  std::vector<std::string> roles;
  std::string tokens_file;
  std::string token_out;
};

// The token alone in a new file only its owner reads, for `meshfed ctl --token-file`.
Status write_token_file(const std::string& path, const std::string& token) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return make_error(ErrorCode::kInternal, "cannot create " + path + ": " + std::strerror(errno));
  const std::string text = token + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) return make_error(ErrorCode::kInternal, "cannot write " + path);
  return {};
}

nlohmann::json listed(const api::TokenFileEntry& e) { return {{"name", e.name}, {"roles", e.roles}}; }

// The tokens file's entries; nullopt once `command`'s failure to read them is reported.
std::optional<std::vector<api::TokenFileEntry>> entries_of(const std::string& command, const TokenArgs& a,
                                                           bool missing_ok, Invocation& run) {
  auto entries = api::read_tokens_file(a.tokens_file, missing_ok);
  if (entries) return std::move(entries).value();
  run.exit_code = run.out.fail(command, entries.error());
  return std::nullopt;
}

// Writes the entries back; false once `command`'s failure to is reported.
bool saved(const std::string& command, const TokenArgs& a, const std::vector<api::TokenFileEntry>& entries,
           Invocation& run) {
  auto st = api::write_tokens_file(a.tokens_file, entries);
  if (!st) run.exit_code = run.out.fail(command, st.error());
  return st.ok();
}

}  // namespace

void add_token_commands(CLI::App& app, Invocation& run) {
  auto* token = app.add_subcommand("token", "Manage admin API tokens and the tokens file");
  token->require_subcommand(1);
  token->footer("Example: meshfed token add --tokens-file /etc/meshfed/pci/tokens.json --name alice --role requester");
  auto a = std::make_shared<TokenArgs>();
  const char* roles_help = "viewer, requester, approver, admin or gateway (repeatable)";

  auto* create = token->add_subcommand("create", "Print a new token once, and the tokens-file entry that admits it");
  create->add_option("--name", a->name, "who the token is for")->required();
  create->add_option("--role", a->roles, roles_help)->required();
  create->footer(
      "For scripts that keep the tokens file themselves; `meshfed token add` writes the entry into the file.\n"
      "Example: meshfed token create --name bob --role approver -o json");
  create->callback([a, &run] {
    auto t = api::create_token(a->name, a->roles);
    if (!t) {
      run.exit_code = run.out.usage("token create", t.error().message);
      return;
    }
    const nlohmann::json result = {{"token", t->token}, {"file_entry", nlohmann::json::parse(t->file_entry)}};
    run.out.print(result, [&] {
      std::cout << "token (shown once, keep it secret): " << t->token << "\n"
                << "tokens file entry: " << t->file_entry << "\n";
    });
  });

  auto* add = token->add_subcommand("add", "Make a new token and add it to the tokens file (created if needed)");
  add->add_option("--tokens-file", a->tokens_file, "the tokens file (admin.tokens_file)")->required();
  add->add_option("--name", a->name, "who the token is for (unique in the file)")->required();
  add->add_option("--role", a->roles, roles_help)->required();
  add->add_option("--token-out", a->token_out,
                  "write the token to this new file (0600, for ctl --token-file) instead of printing it");
  add->footer("Example: meshfed token add --tokens-file /etc/meshfed/pci/tokens.json --name bob --role approver");
  add->callback([a, &run] {
    auto t = api::create_token(a->name, a->roles);
    if (!t) {
      run.exit_code = run.out.usage("token add", t.error().message);
      return;
    }
    auto entries = entries_of("token add", *a, /*missing_ok=*/true, run);
    if (!entries) return;
    if (std::any_of(entries->begin(), entries->end(), [&](const auto& e) { return e.name == a->name; })) {
      run.exit_code = run.out.fail(
          "token add", make_error(ErrorCode::kAlreadyExists, a->tokens_file + " has a token named " + a->name +
                                                                 " already; revoke it first to replace it"));
      return;
    }
    if (!a->token_out.empty()) {
      if (auto st = write_token_file(a->token_out, t->token); !st) {
        run.exit_code = run.out.fail("token add", st.error());
        return;
      }
    }
    const auto entry = nlohmann::json::parse(t->file_entry);
    entries->push_back({a->name, a->roles, entry.at("sha256").get<std::string>()});
    if (!saved("token add", *a, *entries, run)) return;
    nlohmann::json done = {{"name", a->name}, {"roles", a->roles}, {"tokens_file", a->tokens_file}};
    if (a->token_out.empty()) {
      done["token"] = t->token;
    } else {
      done["token_file"] = a->token_out;
    }
    run.out.print(done, [&] {
      if (a->token_out.empty()) {
        std::cout << "token (shown once, keep it secret): " << t->token << "\n";
      } else {
        std::cout << "token written to " << a->token_out << " (0600)\n";
      }
      std::cout << "added " << a->name << " to " << a->tokens_file << "; " << kReload << "\n";
    });
  });

  auto* list = token->add_subcommand("list", "The names and roles in the tokens file (never the digests)");
  list->add_option("--tokens-file", a->tokens_file, "the tokens file (admin.tokens_file)")->required();
  list->footer("Example: meshfed token list --tokens-file /etc/meshfed/pci/tokens.json");
  list->callback([a, &run] {
    const auto entries = entries_of("token list", *a, /*missing_ok=*/false, run);
    if (!entries) return;
    nlohmann::json items = nlohmann::json::array();
    for (const auto& e : *entries) items.push_back(listed(e));
    run.out.print(items, [&] {
      size_t width = 4;
      for (const auto& e : *entries) width = std::max(width, e.name.size());
      std::cout << std::string("NAME") + std::string(width - 4 + 2, ' ') << "ROLES\n";
      for (const auto& e : *entries) {
        std::string roles;
        for (const auto& r : e.roles) roles += (roles.empty() ? "" : ",") + r;
        std::cout << e.name << std::string(width - e.name.size() + 2, ' ') << roles << "\n";
      }
    });
  });

  auto* revoke = token->add_subcommand("revoke", "Remove a token from the tokens file by its name");
  revoke->add_option("--tokens-file", a->tokens_file, "the tokens file (admin.tokens_file)")->required();
  revoke->add_option("--name", a->name, "the token's name")->required();
  revoke->footer("Example: meshfed token revoke --tokens-file /etc/meshfed/pci/tokens.json --name bob");
  revoke->callback([a, &run] {
    auto entries = entries_of("token revoke", *a, /*missing_ok=*/false, run);
    if (!entries) return;
    const auto gone =
        std::remove_if(entries->begin(), entries->end(), [&](const auto& e) { return e.name == a->name; });
    if (gone == entries->end()) {
      run.exit_code = run.out.fail("token revoke",
                                   make_error(ErrorCode::kNotFound, a->tokens_file + " has no token named " + a->name));
      return;
    }
    entries->erase(gone, entries->end());
    if (!saved("token revoke", *a, *entries, run)) return;
    run.out.print({{"revoked", a->name}, {"tokens_file", a->tokens_file}},
                  [&] { std::cout << "revoked " << a->name << " in " << a->tokens_file << "; " << kReload << "\n"; });
  });
}

}  // namespace meshfed::cli
