// Binds and opens a listening socket: the one way meshfed's listeners (HTTPS, plain HTTP,
// gateways) do it.
#pragma once

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace meshfed::net {

inline boost::system::error_code open_acceptor(boost::asio::ip::tcp::acceptor& acceptor, const std::string& host,
                                               uint16_t port) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return ec;
  const asio::ip::tcp::endpoint ep(addr, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
  }
  return ec;
}

}  // namespace meshfed::net
