// A deterministic mutation fuzzer for the trace reader and everything after
// it: the seed traces of trace_fuzz_seeds.h, damaged in ways a real file is
// (bit flips, bytes changed, cut short, a length field wrong, a record
// inserted or dropped), must each read and convert or be one FormatError:
// never a crash, a hang, another exception, or invalid JSON. The PRNG is
// seeded: a failure repeats, and its input is saved for the reader's suite.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>

#include "json_testing.h"
#include "trace_fuzz_seeds.h"

namespace {

// splitmix64: the same sequence from every standard library.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t s_;
};

// Where the records of a well-formed trace start.
std::vector<std::size_t> record_offsets(const std::string& d) {
  std::vector<std::size_t> out;
  for (std::size_t off = GORT_TRACE_HEADER_SIZE; off + 5 <= d.size();) {
    out.push_back(off);
    std::uint32_t len = 0;
    for (int i = 0; i < 4; ++i) len |= static_cast<std::uint32_t>(static_cast<unsigned char>(d[off + 1 + i])) << (8 * i);
    off += 5 + len;
  }
  return out;
}

void put_u32_at(std::string& d, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4 && at + i < d.size(); ++i) d[at + i] = static_cast<char>(v >> (8 * i));
}

std::string mutate(const std::string& seed, Rng& r) {
  std::string d = seed;
  const std::vector<std::size_t> recs = record_offsets(seed);
  const int n = 1 + static_cast<int>(r.below(4));
  for (int k = 0; k < n && !d.empty(); ++k) {
    const std::size_t at = r.below(d.size());
    switch (r.below(9)) {
      case 0: d[at] = static_cast<char>(d[at] ^ (1 << r.below(8))); break;
      case 1: d[at] = static_cast<char>(r.next()); break;
      case 2: {
        static const unsigned char special[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe};
        d[at] = static_cast<char>(special[r.below(sizeof special)]);
        break;
      }
      case 3: d.resize(r.below(d.size() + 1)); break;
      case 4:
        if (!recs.empty()) {
          // A record's length: 0, off by one, huge, or anything.
          const std::size_t rec = recs[r.below(recs.size())];
          static const std::uint32_t lens[] = {0, 1, 15, 16, 17, 0x7fffffff, 0xffffffff};
          std::uint32_t v = r.below(2) ? lens[r.below(7)] : static_cast<std::uint32_t>(r.next());
          put_u32_at(d, rec + 1, v);
        }
        break;
      case 5:
        if (!recs.empty()) {
          // A record of any kind with any body, between two records.
          std::string body(r.below(40), '\0');
          for (char& c : body) c = static_cast<char>(r.next());
          std::string rec(1, static_cast<char>(r.below(8)));
          rec.append(4, '\0');
          put_u32_at(rec, 1, static_cast<std::uint32_t>(body.size()));
          const std::size_t where = std::min(recs[r.below(recs.size())], d.size());
          d.insert(where, rec + body);
        }
        break;
      case 6: {
        // Drop a span.
        const std::size_t len = r.below(std::min<std::size_t>(64, d.size() - at) + 1);
        d.erase(at, len);
        break;
      }
      case 7: {
        // Repeat a span (a batch twice, half a record...).
        const std::size_t len = r.below(std::min<std::size_t>(64, d.size() - at) + 1);
        d.insert(at, d.substr(at, len));
        break;
      }
      case 8:
        // A varint run: long continuation bytes.
        d.replace(at, std::min<std::size_t>(d.size() - at, 12), std::string(r.below(12) + 1, '\x80'));
        break;
    }
  }
  return d;
}

TEST(TraceFuzz, MutatedTracesReadOrFailCleanly) {
  const std::vector<std::string> seeds = trace_testing::fuzz_seeds();
  for (const std::string& s : seeds) ASSERT_TRUE(trace_testing::fuzz_pipeline(s));
  Rng r(20240601);
  constexpr int kIterations = 20000;
  int ok = 0, format_errors = 0;
  for (int i = 0; i < kIterations; ++i) {
    const std::string input = mutate(seeds[r.below(seeds.size())], r);
    std::string json;
    bool read = false;
    try {
      read = trace_testing::fuzz_pipeline(input, &json);
    } catch (const std::exception& e) {
      const std::string path = ::testing::TempDir() + "/trace_fuzz_failure.bin";
      std::ofstream(path, std::ios::binary).write(input.data(), static_cast<std::streamsize>(input.size()));
      FAIL() << "iteration " << i << ": " << e.what() << " (input saved in " << path << ")";
    }
    (read ? ok : format_errors)++;
    // The Chrome JSON must parse whatever the file held (a sample: parsing
    // every one would take most of the suite's time).
    if (read && i % 16 == 0) {
      try {
        json_testing::JsonParser(json).parse();
      } catch (const std::exception& e) {
        FAIL() << "iteration " << i << ": invalid JSON: " << e.what();
      }
    }
  }
  // Both outcomes are common: the mutations neither always break the file
  // nor never do.
  EXPECT_GT(ok, kIterations / 20);
  EXPECT_GT(format_errors, kIterations / 20);
  std::printf("%d read, %d format errors\n", ok, format_errors);
}

}  // namespace
