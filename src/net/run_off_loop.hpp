// Runs a request handler on a blocking executor (the store thread) and resumes the calling
// coroutine on its own executor with the answer: no connection's thread waits for SQLite.
#pragma once

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <string>

namespace meshfed::net {

// `resume_on` must be the executor the awaiting coroutine runs on (its loop). `post` hands a
// job to the blocking executor: post(job).
template <typename Result, typename Executor, typename Post>
boost::asio::awaitable<Result> run_off_loop(const Executor& resume_on, const Post& post, std::function<Result()> job) {
  auto initiate = [resume_on, &post, job = std::move(job)](auto completion) mutable {
    auto done = std::make_shared<decltype(completion)>(std::move(completion));
    post([resume_on, job = std::move(job), done]() mutable {
      Result r = job();
      boost::asio::post(resume_on, [done, r = std::move(r)]() mutable { (*done)(std::move(r)); });
    });
  };
  co_return co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(Result)>(
      std::move(initiate), boost::asio::use_awaitable);
}

}  // namespace meshfed::net
