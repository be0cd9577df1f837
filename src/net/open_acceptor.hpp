// Binds and opens a listening socket: the one way meshfed's listeners (HTTPS, plain HTTP,
// gateways) do it.
#pragma once

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/ip/tcp.hpp>

#include <sys/socket.h>
#include <unistd.h>

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

// Whether a listener could be opened on host:port now, with the same options as open_acceptor:
// a port another program listens on is refused. Plain sockets: it is asked once per port given
// out, and needs no event loop.
inline bool can_listen(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(host, ec);
  if (ec) return false;
  const int fd = ::socket(addr.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  const boost::asio::ip::tcp::endpoint ep(addr, port);
  const bool ok = ::bind(fd, ep.data(), static_cast<socklen_t>(ep.size())) == 0 && ::listen(fd, 1) == 0;
  ::close(fd);
  return ok;
}

}  // namespace meshfed::net
