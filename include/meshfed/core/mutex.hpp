// A mutex clang's thread-safety analysis knows (-Wthread-safety, an error in the clang builds):
// a member marked GUARDED_BY(mu_) is read and written only with mu_ held, a function marked
// REQUIRES(mu_) is called only with it held, checked at compile time. libstdc++'s std::mutex
// carries no such attributes, so classes whose guarded state matters use this one. With other
// compilers the attributes are nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define MESHFED_THREAD_ATTRIBUTE(x) __attribute__((x))
#else
#define MESHFED_THREAD_ATTRIBUTE(x)
#endif

#define CAPABILITY(x) MESHFED_THREAD_ATTRIBUTE(capability(x))
#define SCOPED_CAPABILITY MESHFED_THREAD_ATTRIBUTE(scoped_lockable)
#define GUARDED_BY(x) MESHFED_THREAD_ATTRIBUTE(guarded_by(x))
#define PT_GUARDED_BY(x) MESHFED_THREAD_ATTRIBUTE(pt_guarded_by(x))
#define REQUIRES(...) MESHFED_THREAD_ATTRIBUTE(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) MESHFED_THREAD_ATTRIBUTE(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) MESHFED_THREAD_ATTRIBUTE(acquire_capability(__VA_ARGS__))
#define RELEASE(...) MESHFED_THREAD_ATTRIBUTE(release_capability(__VA_ARGS__))

namespace meshfed {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { m_.lock(); }
  void unlock() RELEASE() { m_.unlock(); }

 private:
  std::mutex m_;
};

// Holds `m` for its scope, as std::lock_guard does.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) ACQUIRE(m) : m_(m) { m_.lock(); }
  ~MutexLock() RELEASE() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_;
};

// A MutexLock that may let go before its scope ends (unlock()), before calling out.
class SCOPED_CAPABILITY ReleasableMutexLock {
 public:
  explicit ReleasableMutexLock(Mutex& m) ACQUIRE(m) : m_(m) { m_.lock(); }
  ~ReleasableMutexLock() RELEASE() {
    if (held_) m_.unlock();
  }
  void unlock() RELEASE() {
    m_.unlock();
    held_ = false;
  }
  ReleasableMutexLock(const ReleasableMutexLock&) = delete;
  ReleasableMutexLock& operator=(const ReleasableMutexLock&) = delete;

 private:
  Mutex& m_;
  bool held_ = true;
};

// A condition variable whose waits name the Mutex the caller holds (REQUIRES): a wait releases
// and retakes it as std::condition_variable does, out of the analysis' sight. Callers wait in
// a loop on their guarded condition, so the analysis checks the condition's reads too.
class CondVar {
 public:
  void wait(Mutex& m) REQUIRES(m) { cv_.wait(m); }
  // False when `deadline` passed first.
  bool wait_until(Mutex& m, std::chrono::steady_clock::time_point deadline) REQUIRES(m) {
    return cv_.wait_until(m, deadline) == std::cv_status::no_timeout;
  }
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace meshfed
