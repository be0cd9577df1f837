#include "meshfed/core/serial_executor.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <future>

#include "meshfed/core/thread_owner.hpp"

namespace meshfed {

void ThreadOwner::check() const {
  const auto me = std::this_thread::get_id();
  auto owner = owner_.load(std::memory_order_relaxed);
  if (owner == me) return;
  if (owner == std::thread::id() && owner_.compare_exchange_strong(owner, me)) return;
  spdlog::critical("{} is owned by one thread and was used from another: aborting before a data race", what_);
  std::abort();
}

SerialExecutor::SerialExecutor(std::string name)
    : name_(std::move(name)), thread_([this] { loop(); }), id_(thread_.get_id()) {}

SerialExecutor::~SerialExecutor() { join(); }

bool SerialExecutor::post(std::function<void()> job) {
  {
    MutexLock lock(mu_);
    if (joining_) {
      spdlog::debug("{}: a job posted while stopping is dropped", name_);
      return false;
    }
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

bool SerialExecutor::run(const std::function<void()>& job) {
  if (running_in_this_thread()) {
    spdlog::critical("{}: run() called from its own thread would wait for itself forever", name_);
    std::abort();
  }
  std::promise<bool> done;
  auto finished = done.get_future();
  if (!post([&] {
        bool ok = false;
        try {
          job();
          ok = true;
        } catch (const std::exception& e) {
          spdlog::error("{}: a job failed: {}", name_, e.what());
        } catch (...) {
          spdlog::error("{}: a job failed with an unknown exception", name_);
        }
        done.set_value(ok);
      }))
    return false;
  return finished.get();
}

void SerialExecutor::join() {
  {
    MutexLock lock(mu_);
    joining_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void SerialExecutor::loop() {
  // Linux keeps 15 characters: "meshfed-store" and its kind fit.
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  for (;;) {
    std::function<void()> job;
    {
      MutexLock lock(mu_);
      while (!joining_ && jobs_.empty()) cv_.wait(mu_);
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("{}: a job failed, the next one runs: {}", name_, e.what());
    } catch (...) {
      spdlog::error("{}: a job failed with an unknown exception, the next one runs", name_);
    }
  }
}

}  // namespace meshfed
