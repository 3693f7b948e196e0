#include "progress.hpp"

#include <cstdio>
#include <unistd.h>

#include "raw.hpp"
#include "stats.hpp"

namespace bench {

progress::progress(bool enabled) : enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1) {}

void progress::advance(const char *phase, long units) {
    done_ += units;
    if (enabled_) draw(phase);
}

void progress::draw(const char *phase) {
    const long percent = total_ > 0 ? done_ * 100 / total_ : 0;
    if (tty_) {
        // At most ten redraws a second: the indicator must not cost time.
        const std::uint64_t now = raw::ticks();
        if (now - last_draw_ < static_cast<std::uint64_t>(100'000 * ticks_per_us())) return;
        last_draw_ = now;
        std::fprintf(stderr, "\r\033[Kclonert-bench: %3ld%% %s", percent, phase);
    } else {
        if (dots_ >= percent / 2) return;
        if (!mid_line_) std::fputs("clonert-bench: ", stderr);
        for (; dots_ < percent / 2; ++dots_) std::fputc('.', stderr);
    }
    mid_line_ = true;
    std::fflush(stderr);
}

void progress::say(const std::string &message) {
    if (mid_line_) std::fputc('\n', stderr);
    mid_line_ = false;
    std::fprintf(stderr, "clonert-bench: %s\n", message.c_str());
}

void progress::finish() {
    if (!enabled_ || !mid_line_) return;
    if (tty_) std::fputs("\r\033[K", stderr);
    else std::fputs(" done\n", stderr);
    mid_line_ = false;
    std::fflush(stderr);
}

}  // namespace bench
