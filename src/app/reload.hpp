// SIGHUP, on the store thread: the new config and every file it names are loaded and checked
// into a new snapshot, then published whole, and each part is told what changed for it; or
// nothing changes, and the audit log says why.
#pragma once

#include "parts.hpp"

namespace meshfed::app {

class Reloader {
 public:
  explicit Reloader(BrokerParts& parts) : p_(parts) {}
  void reload();

 private:
  // Tells each part what a newly published snapshot changed for it.
  void apply(const Snapshot& s);

  BrokerParts& p_;
};

}  // namespace meshfed::app
