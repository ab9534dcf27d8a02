// A map keyed by goid for the timeline builder, which looks goroutines up
// several times per event. The runtime numbers goroutines up from 1, so a
// vector indexed by goid is the map, without hashing or a node per entry;
// goids beyond `dense_limit` (a damaged trace can name any) go to a hash
// map, which keeps the vector's size proportional to the trace.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gort::trace {

template <class T>
class GoidMap {
 public:
  explicit GoidMap(std::size_t dense_limit) : limit_(dense_limit) {}

  T* find(std::uint64_t g) {
    if (g < limit_) return g < dense_.size() && dense_[g] ? &*dense_[g] : nullptr;
    auto it = sparse_.find(g);
    return it == sparse_.end() ? nullptr : &it->second;
  }
  // Inserts v unless g is there; returns g's entry and whether it is new.
  std::pair<T*, bool> try_emplace(std::uint64_t g, const T& v) {
    if (g < limit_) {
      if (g >= dense_.size()) dense_.resize(g + 1);
      const bool fresh = !dense_[g];
      if (fresh) dense_[g] = v, size_++;
      return {&*dense_[g], fresh};
    }
    auto [it, fresh] = sparse_.try_emplace(g, v);
    return {&it->second, fresh};
  }
  void set(std::uint64_t g, const T& v) { *try_emplace(g, v).first = v; }
  void erase(std::uint64_t g) {
    if (g >= limit_) {
      sparse_.erase(g);
    } else if (g < dense_.size() && dense_[g]) {
      dense_[g].reset();
      size_--;
    }
  }
  std::size_t size() const { return size_ + sparse_.size(); }

 private:
  std::size_t limit_;
  std::vector<std::optional<T>> dense_;
  std::size_t size_ = 0;  // entries in dense_
  std::unordered_map<std::uint64_t, T> sparse_;
};

}  // namespace gort::trace
