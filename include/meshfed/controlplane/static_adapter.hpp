// The embedded default adapter: inventory from a JSON file, watched for changes.
#pragma once

#include <filesystem>
#include <mutex>

#include "meshfed/controlplane/adapter.hpp"

namespace meshfed::controlplane {

class StaticAdapter final : public Adapter {
 public:
  StaticAdapter(std::filesystem::path inventory_file, std::filesystem::path imports_dir);

  Status refresh_inventory(bool force) override;
  std::shared_ptr<const Inventory> inventory() const override;
  std::vector<ApplyResult> apply(const DesiredState& desired) override;
  Health health() const override;
  // A new inventory file, read at the next refresh.
  void reconfigure(const config::ControlPlaneConfig& cfg, const std::string& token) override;

  void set_inventory_file(std::filesystem::path file);

 private:
  mutable std::mutex mu_;
  std::filesystem::path inventory_file_;
  std::filesystem::path imports_dir_;
  std::shared_ptr<const Inventory> inventory_;
  std::filesystem::file_time_type seen_mtime_{};
  uintmax_t seen_size_ = 0;
  std::string last_error_;
  int64_t errors_ = 0;
};

}  // namespace meshfed::controlplane
