#include "meshfed/controlplane/static_adapter.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

namespace meshfed::controlplane {

StaticAdapter::StaticAdapter(std::filesystem::path inventory_file, std::filesystem::path imports_dir)
    : inventory_file_(std::move(inventory_file)), imports_dir_(std::move(imports_dir)) {}

void StaticAdapter::set_inventory_file(std::filesystem::path file) {
  std::lock_guard lock(mu_);
  inventory_file_ = std::move(file);
}

Status StaticAdapter::refresh_inventory(bool force) {
  std::filesystem::path file;
  {
    std::lock_guard lock(mu_);
    file = inventory_file_;
  }
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(file, ec);
  const auto size = ec ? 0 : std::filesystem::file_size(file, ec);
  {
    std::lock_guard lock(mu_);
    if (!force && !ec && inventory_ && mtime == seen_mtime_ && size == seen_size_) return {};
  }
  auto fail = [&](const std::string& msg) -> Status {
    std::lock_guard lock(mu_);
    if (msg != last_error_) spdlog::error("inventory {}: {} (keeping the last good inventory)", file.string(), msg);
    last_error_ = msg;
    ++errors_;
    seen_mtime_ = mtime;
    seen_size_ = size;
    return make_error(ErrorCode::kInvalidArgument, msg);
  };
  if (ec) return fail("cannot read: " + ec.message());
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail("cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  auto inv = parse_inventory(ss.str());
  if (!inv) return fail(inv.error().message);
  std::lock_guard lock(mu_);
  inventory_ = std::make_shared<const Inventory>(std::move(inv).value());
  seen_mtime_ = mtime;
  seen_size_ = size;
  if (!last_error_.empty()) spdlog::info("inventory {}: valid again", file.string());
  last_error_.clear();
  spdlog::info("inventory {}: {} services", file.string(), inventory_->services.size());
  return {};
}

std::shared_ptr<const Inventory> StaticAdapter::inventory() const {
  std::lock_guard lock(mu_);
  return inventory_ ? inventory_ : std::make_shared<const Inventory>();
}

std::vector<ApplyResult> StaticAdapter::apply(const DesiredState& desired) {
  // Exports need nothing from a static control plane: the ingress routes by inventory address.
  // Import files are written by the federation issue's import applier.
  std::vector<ApplyResult> out;
  for (const auto& e : desired.exports) out.push_back({"export", e.id, true, ""});
  for (const auto& i : desired.imports) out.push_back({"import", i.id, false, "imports are not applied yet"});
  return out;
}

Health StaticAdapter::health() const {
  std::lock_guard lock(mu_);
  Health h;
  h.inventory_errors = errors_;
  if (!inventory_) {
    h.ready = false;
    h.detail = "inventory not loaded" + (last_error_.empty() ? "" : ": " + last_error_);
  } else {
    h.ready = true;
    h.detail = last_error_.empty() ? "inventory loaded (" + std::to_string(inventory_->services.size()) + " services)"
                                   : "using last good inventory; current file is invalid: " + last_error_;
  }
  return h;
}

}  // namespace meshfed::controlplane
