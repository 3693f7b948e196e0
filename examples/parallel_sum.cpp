// parallel_sum: the sum of the primes below N, split across T threads.
//
// Written for std::thread; built a second time with -DUSE_CLONERT, which
// changes nothing but the type name below. clonert::thread has std::thread's
// interface (constructor, join, joinable, get_id, hardware_concurrency...),
// so the rest of the program is the same for both.
//
//   parallel_sum_std      [N [T]]   std::thread
//   parallel_sum_clonert  [N [T]]   clonert::thread
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <thread>
#include <vector>

#ifdef USE_CLONERT
#include <clonert/thread.hpp>
using thread_type = clonert::thread;
#else
using thread_type = std::thread;
#endif

namespace {

bool is_prime(long n) {
    if (n < 2) return false;
    for (long d = 2; d * d <= n; ++d)
        if (n % d == 0) return false;
    return true;
}

// Sums the primes in [from, to) of `numbers` into `result`: each thread has
// its own slice and its own result slot, so nothing is shared while they run.
void sum_primes(const std::vector<long> &numbers, std::size_t from, std::size_t to, long &result) {
    long sum = 0;
    for (std::size_t i = from; i < to; ++i)
        if (is_prime(numbers[i])) sum += numbers[i];
    result = sum;
}

long parse(const char *text, long fallback) {
    if (text == nullptr) return fallback;
    const long v = std::strtol(text, nullptr, 10);
    return v > 0 ? v : fallback;
}

}  // namespace

int main(int argc, char **argv) {
    const long n = parse(argc > 1 ? argv[1] : nullptr, 200000);
    const long threads = parse(argc > 2 ? argv[2] : nullptr, thread_type::hardware_concurrency());

    std::vector<long> numbers(static_cast<std::size_t>(n));
    std::iota(numbers.begin(), numbers.end(), 0L);

    // Interleaved slices would balance better (big numbers cost more); equal
    // contiguous slices keep the example short.
    std::vector<long> partial(static_cast<std::size_t>(threads), 0);
    std::vector<thread_type> workers;
    const std::size_t slice = numbers.size() / static_cast<std::size_t>(threads);
    for (std::size_t t = 0; t < partial.size(); ++t) {
        const std::size_t from = t * slice;
        const std::size_t to = t + 1 == partial.size() ? numbers.size() : from + slice;
        // Arguments are copied into the thread, as with std::thread: the
        // vector and the result slot go by reference, explicitly.
        workers.emplace_back(sum_primes, std::cref(numbers), from, to, std::ref(partial[t]));
    }
    for (thread_type &w : workers) w.join();

    const long total = std::accumulate(partial.begin(), partial.end(), 0L);
    std::printf("sum of the primes below %ld: %ld (%ld threads)\n", n, total, threads);
    return 0;
}
