#include "meshfed/controlplane/static_adapter.hpp"

#include "meshfed/controlplane/mesh_resources.hpp"

#include "meshfed/core/strict_json.hpp"
#include "meshfed/core/text.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <utility>

namespace meshfed::controlplane {

StaticAdapter::StaticAdapter(std::filesystem::path inventory_file, std::filesystem::path imports_dir)
    : inventory_file_(std::move(inventory_file)), imports_dir_(std::move(imports_dir)) {}

void StaticAdapter::set_inventory_file(std::filesystem::path file) {
  MutexLock lock(mu_);
  inventory_file_ = std::move(file);
}

Status StaticAdapter::refresh_inventory(bool force) {
  std::filesystem::path file;
  {
    MutexLock lock(mu_);
    file = inventory_file_;
  }
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(file, ec);
  const auto size = ec ? 0 : std::filesystem::file_size(file, ec);
  {
    MutexLock lock(mu_);
    if (!force && !ec && inventory_ && mtime == seen_mtime_ && size == seen_size_) return {};
  }
  auto fail = [&](const std::string& msg) -> Status {
    MutexLock lock(mu_);
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
  MutexLock lock(mu_);
  inventory_ = std::make_shared<const Inventory>(std::move(inv).value());
  seen_mtime_ = mtime;
  seen_size_ = size;
  if (!last_error_.empty()) spdlog::info("inventory {}: valid again", file.string());
  last_error_.clear();
  spdlog::info("inventory {}: {} services", file.string(), inventory_->services.size());
  return {};
}

std::shared_ptr<const Inventory> StaticAdapter::inventory() const {
  MutexLock lock(mu_);
  return inventory_ ? inventory_ : std::make_shared<const Inventory>();
}

namespace {

std::string document(const DesiredImport& i) { return mesh_external_service(i, "default").dump(2) + "\n"; }

bool written_by_meshfed(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto j = parse_strict_json(ss.str(), {16 * 1024 * 1024, 32}, file.string());
  return j && j->is_object() && is_managed(*j);
}

// Writes through a temporary file and rename, so readers never see half a document.
Status write_atomically(const std::filesystem::path& file, const std::string& content) {
  const auto tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    out.flush();
    if (!out) return make_error(ErrorCode::kUnavailable, "cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot rename " + tmp + ": " + ec.message());
  return {};
}

}  // namespace

std::vector<ApplyResult> StaticAdapter::apply(const DesiredState& desired) {
  // Exports need nothing from a static control plane: the ingress routes by inventory address.
  std::vector<ApplyResult> out;
  for (const auto& e : desired.exports) out.push_back({ApplyResult::Kind::kExport, e.id, true, ""});
  std::filesystem::path dir;
  bool full_check = false;
  {
    MutexLock lock(mu_);
    dir = imports_dir_;
    full_check = std::exchange(recheck_, false);
  }
  if (full_check) written_.clear();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::set<std::string> wanted;
  for (const auto& i : desired.imports) {
    // Most imports are unchanged at every reconcile: they cost a name and a lookup, no path.
    const std::string& name = *wanted.insert("meshfed-" + i.id + ".json").first;
    const auto known = written_.find(name);
    if (known != written_.end() && known->second == i) {  // re-applying is idempotent
      out.push_back({ApplyResult::Kind::kImport, i.id, true, ""});
      continue;
    }
    const auto file = dir / name;
    const std::string content = document(i);
    if (known == written_.end()) {  // not written by this adapter since the last full check
      std::ifstream current(file);
      std::stringstream ss;
      ss << current.rdbuf();
      if (current && ss.str() == content) {
        written_[name] = i;
        out.push_back({ApplyResult::Kind::kImport, i.id, true, ""});
        continue;
      }
      if (current && !written_by_meshfed(file)) {
        out.push_back({ApplyResult::Kind::kImport, i.id, false,
                       "name clash: " + file.string() + " exists and was not written by meshfed"});
        continue;
      }
    }
    auto st = write_atomically(file, content);
    if (st) written_[name] = i;
    out.push_back({ApplyResult::Kind::kImport, i.id, st.ok(), st.ok() ? "" : st.error().message});
  }
  auto remove = [&](const std::filesystem::path& file) {
    if (!written_by_meshfed(file)) return;  // never touch what meshfed did not write
    std::filesystem::remove(file, ec);
    spdlog::info("imports: removed {}", file.string());
  };
  if (full_check) {
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const auto name = entry.path().filename().string();
      if (name.rfind("meshfed-", 0) != 0 || entry.path().extension() != ".json" || wanted.count(name)) continue;
      remove(entry.path());
    }
  } else {
    for (auto it = written_.begin(); it != written_.end();) {
      if (wanted.count(it->first)) {
        ++it;
        continue;
      }
      remove(dir / it->first);
      it = written_.erase(it);
    }
  }
  return out;
}

Health StaticAdapter::health() const {
  MutexLock lock(mu_);
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

void StaticAdapter::reconfigure(const config::ControlPlaneConfig& cfg, const std::string&) {
  set_inventory_file(cfg.static_cp.inventory_file);
  MutexLock lock(mu_);
  recheck_ = true;
}

}  // namespace meshfed::controlplane
