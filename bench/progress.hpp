// Progress on stderr for long runs: a percentage redrawn in place when stderr
// is a terminal, otherwise a line of dots (one per 2% of the work) that logs
// can hold.
#pragma once

#include <cstdint>
#include <string>

namespace bench {

class progress {
public:
    explicit progress(bool enabled);
    void add_work(long units) { total_ += units; }
    void advance(const char *phase, long units = 1);
    // A message on a line of its own, not mixed into the indicator.
    void say(const std::string &message);
    void finish();

private:
    void draw(const char *phase);
    bool enabled_;
    bool tty_;
    long total_ = 0;
    long done_ = 0;
    int dots_ = 0;
    bool mid_line_ = false;
    std::uint64_t last_draw_ = 0;
};

}  // namespace bench
