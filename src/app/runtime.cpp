#include "runtime.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <csignal>

namespace meshfed::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct Runtime::Periodic {
  // What a queued round holds: it may outlive the timer when the executor runs it after a stop.
  struct Round {
    std::function<void()> job;
    std::atomic<bool> running{false};  // set on the event loop, cleared on the executor
  };
  Periodic(asio::io_context& io, std::chrono::milliseconds p, SerialExecutor& e, std::function<void()> job)
      : timer(io), period(p), executor(e), round(std::make_shared<Round>()) {
    round->job = std::move(job);
  }
  asio::steady_timer timer;
  std::chrono::milliseconds period;
  SerialExecutor& executor;
  std::shared_ptr<Round> round;
};

Runtime::Runtime(std::chrono::milliseconds grace) : grace_(grace) {
  signals_.add(SIGHUP);
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
}

Runtime::~Runtime() = default;

void Runtime::every(std::chrono::milliseconds period, SerialExecutor& executor, std::function<void()> job) {
  periodic_.push_back(std::make_shared<Periodic>(io_, period, executor, std::move(job)));
}

void Runtime::on_reload(SerialExecutor& executor, std::function<void()> job) {
  reload_executor_ = &executor;
  reload_ = std::move(job);
}

bool Runtime::enable_watchdog(SerialExecutor& executor) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return false;
  const auto period = std::max(std::chrono::milliseconds(1), std::chrono::milliseconds(usec / 2000));
  every(period, executor, [] { sd_notify(0, "WATCHDOG=1"); });
  spdlog::info("systemd watchdog: a ping every {} ms while the event loop and the {} thread answer", period.count(),
               executor.name());
  return true;
}

void Runtime::status_every(std::chrono::milliseconds period, SerialExecutor& executor,
                           std::function<std::string()> status) {
  every(period, executor, [status = std::move(status)] { sd_notify(0, ("STATUS=" + status()).c_str()); });
}

void Runtime::on_stop(DrainHooks hooks) { drain_ = std::move(hooks); }

void Runtime::run() {
  wait_signal();
  for (const auto& p : periodic_) schedule(p);
  sd_notify(0, "READY=1");
  io_.run();
}

void Runtime::request_stop() {
  asio::post(io_, [this] { begin_stop(); });
}

void Runtime::schedule(const std::shared_ptr<Periodic>& p) {
  p->timer.expires_after(p->period);
  p->timer.async_wait([this, p](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    if (!p->round->running.exchange(true)) {
      p->executor.post([round = p->round] {
        round->job();
        round->running = false;
      });
    }
    schedule(p);
  });
}

void Runtime::wait_signal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig != SIGHUP) return begin_stop();
    if (reload_) {
      sd_notify(0, "RELOADING=1");
      reload_executor_->post([this] {
        reload_();
        sd_notify(0, "READY=1");
      });
    }
    wait_signal();
  });
}

void Runtime::begin_stop() {
  if (stopping_.exchange(true)) return;
  spdlog::info("stopping: no new connections, finishing in-flight requests");
  sd_notify(0, "STOPPING=1");
  for (const auto& p : periodic_) p->timer.cancel();
  signals_.cancel();
  if (drain_.stop_accepting) drain_.stop_accepting();
  drain_deadline_ = std::chrono::steady_clock::now() + grace_;
  wait_for_drain();
}

void Runtime::wait_for_drain() {
  const int open = drain_.open_connections ? drain_.open_connections() : 0;
  if (open == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
    if (open > 0) spdlog::warn("stopping with {} connections still open after the grace period", open);
    io_.stop();
    return;
  }
  drain_timer_.expires_after(50ms);
  drain_timer_.async_wait([this](const boost::system::error_code&) { wait_for_drain(); });
}

}  // namespace meshfed::app
