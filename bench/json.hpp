// A small JSON writer (numbers, strings, booleans, arrays, objects), and a
// strict checker of JSON text (RFC 8259) for the --smoke self-test.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bench {

class json_writer {
public:
    json_writer &begin_object();
    json_writer &end_object();
    json_writer &begin_array();
    json_writer &end_array();
    json_writer &key(std::string_view name);
    json_writer &value(std::string_view text);
    json_writer &value(const char *text) { return value(std::string_view(text)); }
    json_writer &value(double number);  // NaN and infinities become null
    json_writer &value(long number);
    json_writer &value(int number) { return value(static_cast<long>(number)); }
    json_writer &value(std::size_t number) { return value(static_cast<long>(number)); }
    json_writer &value(bool truth);
    // key(name) then value(v).
    template <class T>
    json_writer &field(std::string_view name, const T &v) {
        key(name);
        return value(v);
    }
    const std::string &text() const { return out_; }

private:
    void separate();
    void newline();
    std::string out_;
    std::vector<bool> first_;  // per open container: no element written yet
    bool after_key_ = false;
};

// "" if `text` is one valid JSON value, else where and why it is not.
std::string json_error(std::string_view text);

}  // namespace bench
