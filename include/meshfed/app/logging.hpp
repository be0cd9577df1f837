// Log set-up: readable lines by default, JSON lines for log shippers.
#pragma once

#include <string>

namespace meshfed::app {

enum class LogFormat { kText, kJson };
void setup_logging(LogFormat format, const std::string& level);

}  // namespace meshfed::app
