// Heartbeats and post-mortems of failed collectives (see backend.h, class Health).
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include "backend.h"
#include "grpo/core/error.h"

namespace grpo::dist::detail {

struct Health::State {
  std::unique_ptr<Store> store;  // this thread's own connection
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  std::atomic<int64_t> seq{0};
  std::atomic<const char*> op{"start"};
  std::thread thread;
};

namespace {

struct Beat {
  int64_t beat = -1;
  int64_t seq = 0;
  std::string op;
};

std::optional<Beat> parse_beat(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  std::istringstream in(*value);
  Beat b;
  if (!(in >> b.beat >> b.seq >> b.op)) return std::nullopt;
  return b;
}

std::string join_ranks(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

std::string seconds(Millis ms) {
  std::ostringstream os;
  os.precision(2);
  os << std::fixed << ms.count() / 1000.0;
  return os.str();
}

}  // namespace

Health::Health(std::unique_ptr<Store> own_connection, int rank, int world_size, Millis interval)
    : state_(std::make_shared<State>()), rank_(rank), world_size_(world_size), interval_(interval) {
  state_->store = std::move(own_connection);
  const std::string key = "hb/" + std::to_string(rank);
  // The thread owns a reference to the state, so that a detached thread outlives this object.
  state_->thread = std::thread([state = state_, key, interval] {
    int64_t beat = 0;
    std::unique_lock<std::mutex> lock(state->mutex);
    while (!state->stop) {
      const std::string value = std::to_string(beat++) + " " + std::to_string(state->seq.load()) +
                                " " + state->op.load();
      lock.unlock();
      try {
        state->store->set(key, value);
      } catch (const std::exception&) {
        // The store is gone (its host died): the failing collective reports it.
      }
      lock.lock();
      state->wake.wait_for(lock, interval, [&] { return state->stop; });
    }
  });
}

Health::~Health() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
  }
  state_->wake.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

void Health::abandon() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
  }
  state_->wake.notify_all();
  // A heartbeat stuck on an unreachable store must not hold up the exit.
  if (state_->thread.joinable()) state_->thread.detach();
}

void Health::enter(int64_t seq, const char* op) {
  state_->op.store(op);
  state_->seq.store(seq);
}

std::string Health::diagnose(Store& store, int64_t seq, const std::string& op,
                             const std::string& store_owner) {
  // Long enough for every live rank to beat at least twice, whatever the machine's load.
  const Millis settle = std::max(3 * interval_, Millis(300));
  std::vector<std::optional<Beat>> first(world_size_), last(world_size_);
  std::vector<bool> failed(world_size_, false);
  try {
    store.set("fail/" + std::to_string(rank_), std::to_string(seq) + " " + op);
    for (int q = 0; q < world_size_; ++q)
      if (q != rank_) first[q] = parse_beat(store.try_get("hb/" + std::to_string(q)));
    std::this_thread::sleep_for(settle);
    for (int q = 0; q < world_size_; ++q) {
      if (q == rank_) continue;
      last[q] = parse_beat(store.try_get("hb/" + std::to_string(q)));
      failed[q] = store.try_get("fail/" + std::to_string(q)).has_value();
    }
  } catch (const std::exception& e) {
    return "the rendezvous store cannot be reached any more, so " + store_owner +
           ", which hosts it, is probably lost (" + std::string(e.what()).substr(0, 200) + ")";
  }
  std::vector<int> lost, also_failed;
  std::vector<std::string> others;
  for (int q = 0; q < world_size_; ++q) {
    if (q == rank_) continue;
    if (failed[q]) {
      also_failed.push_back(q);
    } else if (!last[q] || (first[q] && first[q]->beat == last[q]->beat)) {
      lost.push_back(q);
    } else if (last[q]->seq < seq) {
      others.push_back("rank " + std::to_string(q) + " is alive but has not called " + op + " #" +
                       std::to_string(seq) +
                       (last[q]->seq == 0 ? std::string(" (it has made no call yet)")
                                          : " (its last call: " + last[q]->op + " #" +
                                                std::to_string(last[q]->seq) + ")"));
    } else if (last[q]->seq > seq || last[q]->op != op) {
      others.push_back("rank " + std::to_string(q) + " is in " + last[q]->op + " #" +
                       std::to_string(last[q]->seq) + " where this rank called " + op + " #" +
                       std::to_string(seq) +
                       " (every rank must issue the same collectives in the same order)");
    }
  }
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : "; ") + part; };
  if (!lost.empty())
    add("lost " + join_ranks(lost) + " (no heartbeat in " + seconds(settle) +
        " s: killed, crashed, or its host is unreachable)");
  for (const std::string& o : others) add(o);
  if (!also_failed.empty()) add(join_ranks(also_failed) + " failed too");
  return s;
}

}  // namespace grpo::dist::detail
