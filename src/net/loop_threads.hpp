// Event loops that each run on a thread of their own: what the HTTPS server and the gateways
// hand their connections to. A connection accepted onto one loop (async_accept(loop, ...)) has
// its socket, deadlines and coroutine there, so everything it does runs on one thread without
// strands, and anyone else reaches it by posting to that loop.
#pragma once

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

namespace meshfed::net {

class LoopThreads {
 public:
  // `threads` 0 or less: one per core.
  explicit LoopThreads(int threads) {
    const int n = threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    for (int i = 0; i < n; ++i) loops_.push_back(std::make_unique<Loop>());
    for (auto& l : loops_) l->thread = std::thread([io = &l->io] { io->run(); });
  }
  ~LoopThreads() { stop(); }
  LoopThreads(const LoopThreads&) = delete;
  LoopThreads& operator=(const LoopThreads&) = delete;

  size_t size() const { return loops_.size(); }
  boost::asio::io_context& at(size_t i) { return loops_[i]->io; }
  // Round robin, for a new connection. Call from one thread (the one that accepts).
  boost::asio::io_context& next() {
    auto& io = loops_[next_]->io;
    next_ = (next_ + 1) % loops_.size();
    return io;
  }

  // Lets each loop end once its work is done, and joins the threads.
  void finish() {
    for (auto& l : loops_) l->guard.reset();
    join();
  }
  // Ends each loop now, leaving queued work unrun (destroyed with the loops), and joins.
  void stop() {
    for (auto& l : loops_) l->io.stop();
    join();
  }

 private:
  struct Loop {
    boost::asio::io_context io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
    std::thread thread;
  };
  void join() {
    for (auto& l : loops_) {
      if (l->thread.joinable()) l->thread.join();
    }
  }

  std::vector<std::unique_ptr<Loop>> loops_;
  size_t next_ = 0;
};

}  // namespace meshfed::net
