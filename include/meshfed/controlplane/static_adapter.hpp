// The embedded default adapter: inventory from a JSON file, watched for changes.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "meshfed/core/mutex.hpp"
#include "meshfed/controlplane/adapter.hpp"

namespace meshfed::controlplane {

class StaticAdapter final : public Adapter {
 public:
  StaticAdapter(std::filesystem::path inventory_file, std::filesystem::path imports_dir);

  Status refresh_inventory(bool force) override;
  std::shared_ptr<const Inventory> inventory() const override;
  // Writes one MeshExternalService file per import and removes those of withdrawn imports. The
  // files this adapter wrote are remembered, so a reconcile touches only what changed; the first
  // apply, and the first after a reload, checks every file on disk (a file edited or deleted by
  // hand is put back then). Called on one thread (the store thread).
  std::vector<ApplyResult> apply(const DesiredState& desired) override;
  Health health() const override;
  // A new inventory file, read at the next refresh; the import files are checked again.
  void reconfigure(const config::ControlPlaneConfig& cfg, const std::string& token) override;

  void set_inventory_file(std::filesystem::path file);

 private:
  mutable Mutex mu_;
  std::filesystem::path inventory_file_ GUARDED_BY(mu_);
  std::filesystem::path imports_dir_ GUARDED_BY(mu_);
  std::shared_ptr<const Inventory> inventory_ GUARDED_BY(mu_);
  std::filesystem::file_time_type seen_mtime_ GUARDED_BY(mu_){};
  uintmax_t seen_size_ GUARDED_BY(mu_) = 0;
  std::string last_error_ GUARDED_BY(mu_);
  int64_t errors_ GUARDED_BY(mu_) = 0;
  // File name -> the import whose document this adapter wrote there (or found there) since the
  // imports folder was last checked whole: an unchanged import costs a comparison, not a
  // document. apply()'s thread only; reconfigure() asks for a full check through `recheck_`.
  std::map<std::string, DesiredImport> written_;
  bool recheck_ = true;
};

}  // namespace meshfed::controlplane
