// A minimal plain-HTTP/1.1 listener for scrapers (`--metrics-listen`, `metrics.listen`): GET
// only, one request per connection, no body. It serves public, read-only documents such as
// /metrics; anything that needs authentication stays on the HTTPS listeners.
#pragma once

#include <functional>
#include <string>
#include <memory>

#include "meshfed/config/config.hpp"
#include "meshfed/core/result.hpp"
#include "meshfed/http/message.hpp"

namespace boost::asio {
class io_context;
}

namespace meshfed::http {

class PlainHttpServer {
 public:
  // `handler` runs on `run_blocking` when given (and the loop goes on meanwhile), otherwise on
  // the event loop: then keep it quick.
  PlainHttpServer(boost::asio::io_context& io, std::function<Response(const Request&)> handler,
                  BlockingRunner run_blocking = nullptr);
  ~PlainHttpServer();
  Status listen(const config::Endpoint& endpoint);
  uint16_t port() const;
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace meshfed::http
