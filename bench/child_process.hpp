// Running a program (strace, or this benchmark itself in one of its internal
// modes) and collecting what it printed.
#pragma once

#include <string>
#include <vector>

namespace bench {

// A file in /tmp, removed when this goes out of scope.
class temp_file {
public:
    explicit temp_file(const char *name);
    ~temp_file();
    temp_file(const temp_file &) = delete;
    temp_file &operator=(const temp_file &) = delete;
    const std::string &path() const { return path_; }
    std::string contents() const;

private:
    std::string path_;
};

// Runs args[0] (a path) with stdout and stderr into `output`; returns the
// wait status. Throws bench_error if it cannot be started.
int run_program(const std::vector<std::string> &args, const temp_file &output);

// The full path of `program` found in $PATH, or "".
std::string find_in_path(const char *program);

}  // namespace bench
