// Makes "this object is used from one thread only" a checked rule instead of a comment. The
// object belongs to the first thread that calls check(); a call from any other thread is a
// data race in waiting, so it aborts at once, naming the object, in every build type (the
// check is one atomic load and a comparison).
#pragma once

#include <atomic>
#include <thread>

namespace meshfed {

class ThreadOwner {
 public:
  explicit ThreadOwner(const char* what) : what_(what) {}

  void check() const;
  // The next caller of check() becomes the owner: for a hand-over made on purpose, such as a
  // store opened on the main thread and then given to the store executor.
  void release() { owner_.store(std::thread::id()); }

 private:
  const char* what_;
  mutable std::atomic<std::thread::id> owner_{};
};

}  // namespace meshfed
