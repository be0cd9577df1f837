#include "meshfed/controlplane/adapter.hpp"
#include "meshfed/controlplane/kuma_adapter.hpp"
#include "meshfed/controlplane/static_adapter.hpp"

namespace meshfed::controlplane {

std::unique_ptr<Adapter> make_adapter(const config::ControlPlaneConfig& cfg, const std::string& token) {
  if (cfg.type == config::ControlPlaneType::kKuma) return std::make_unique<KumaAdapter>(cfg.kuma, token);
  return std::make_unique<StaticAdapter>(cfg.static_cp.inventory_file, cfg.static_cp.imports_dir);
}

}  // namespace meshfed::controlplane
