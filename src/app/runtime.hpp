// What runs the broker's parts: the event loop, the signals, systemd's notifications, the
// graceful stop, and the periodic jobs the parts register. The parts themselves (servers,
// gateways, watchers, the store) are the broker's; it tells the runtime how to reload and
// how to stop accepting, and the runtime decides when.
//
//   SIGHUP           RELOADING=1, the reload job on its executor, READY=1 when it is done
//   WatchdogSec=     WATCHDOG=1 while both the event loop and the watched executor answer
//   SIGTERM, SIGINT  STOPPING=1, periodic jobs end, listeners stop accepting, in-flight
//                    requests get the grace period, then run() returns
//
// Everything here runs on the event loop, except the jobs, which run on the executor each was
// registered with, never twice at once.
#pragma once

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>

#include "meshfed/core/serial_executor.hpp"

namespace meshfed::app {

// How the runtime stops the listeners, and learns when their last request has been answered.
struct DrainHooks {
  std::function<void()> stop_accepting;
  std::function<int()> open_connections;
};

class Runtime {
 public:
  // Signals are claimed here: from the moment anyone can see the process, a SIGHUP is a
  // reload, not the default action that kills it (Asio queues signals until they are read).
  explicit Runtime(std::chrono::milliseconds grace);
  ~Runtime();

  boost::asio::io_context& io() { return io_; }

  // Before run(): `job` runs on `executor` every `period`; a round still running when the next
  // is due is not doubled up, the next waits for the period after it.
  void every(std::chrono::milliseconds period, SerialExecutor& executor, std::function<void()> job);
  void on_reload(SerialExecutor& executor, std::function<void()> job);
  // Under a unit with WatchdogSec= (systemd sets WATCHDOG_USEC): WATCHDOG=1 at half that period,
  // sent from `executor` on the event loop's timer, so that a stuck event loop or a stuck
  // executor (the store thread) stops the pings and systemd restarts the broker.
  // False when no watchdog is asked for.
  bool enable_watchdog(SerialExecutor& executor);
  // STATUS= for `systemctl status`, what `status` says, every `period` on `executor`.
  void status_every(std::chrono::milliseconds period, SerialExecutor& executor, std::function<std::string()> status);
  void on_stop(DrainHooks hooks);

  // Says READY=1 and runs the event loop until a stop has drained; then returns.
  void run();
  // Begins the graceful stop as SIGTERM would (thread-safe).
  void request_stop();
  // True from the first moment of a stop: readiness turns false while requests drain.
  bool stopping() const { return stopping_; }

 private:
  struct Periodic;
  void wait_signal();
  void begin_stop();
  void wait_for_drain();
  void schedule(const std::shared_ptr<Periodic>& p);

  std::chrono::milliseconds grace_;
  boost::asio::io_context io_{1};
  boost::asio::signal_set signals_{io_};
  boost::asio::steady_timer drain_timer_{io_};
  std::chrono::steady_clock::time_point drain_deadline_;
  std::list<std::shared_ptr<Periodic>> periodic_;
  SerialExecutor* reload_executor_ = nullptr;
  std::function<void()> reload_;
  DrainHooks drain_;
  std::atomic<bool> stopping_{false};  // set on the event loop, read by readiness on other threads
};

}  // namespace meshfed::app
