// std::thread replaced by clonert::thread, nothing else changed.
#include <clonert/thread.hpp>

#include <cstdio>
#include <mutex>
#include <vector>

int main() {
    std::mutex m;
    long total = 0;
    std::vector<clonert::thread> threads;
    for (int i = 1; i <= 4; ++i)
        threads.emplace_back([&m, &total](int n) {
            std::lock_guard<std::mutex> hold(m);
            total += n;
        }, i);
    for (auto &t : threads) t.join();
    std::printf("total %ld\n", total);
    return total == 10 ? 0 : 1;
}
