// One named thread that runs jobs in the order they were posted: the broker's store thread
// (all SQLite work), its off-store thread and its lifecycle thread are each one of these.
//
// run() posts and waits; called from the executor's own thread it would wait for itself
// forever, so that is checked and aborts instead. A job that throws is reported (logged with
// the executor's name) and the next job runs: one failure never ends the thread.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "meshfed/core/mutex.hpp"

namespace meshfed {

class SerialExecutor {
 public:
  explicit SerialExecutor(std::string name);
  ~SerialExecutor();  // join()
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // False, and `job` dropped, once join() has begun.
  bool post(std::function<void()> job);
  // Runs `job` on the executor's thread and returns when it is done; false, without running
  // it, once join() has begun, and false when it threw.
  bool run(const std::function<void()>& job);
  bool running_in_this_thread() const { return std::this_thread::get_id() == id_; }
  // Runs what was posted before, then ends the thread. Jobs posted after it are not run.
  void join();
  const std::string& name() const { return name_; }

 private:
  void loop();

  std::string name_;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> jobs_ GUARDED_BY(mu_);
  bool joining_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // after the queue: starts once it exists
  std::thread::id id_;  // thread_'s, kept apart: join() changes thread_ while others may ask
};

}  // namespace meshfed
