#include "json.hpp"

#include <cmath>
#include <cstdio>

namespace bench {

// --- Writing --------------------------------------------------------------------

void json_writer::newline() {
    out_ += '\n';
    out_.append(2 * first_.size(), ' ');
}

void json_writer::separate() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (first_.empty()) return;
    if (!first_.back()) out_ += ',';
    first_.back() = false;
    newline();
}

json_writer &json_writer::begin_object() {
    separate();
    out_ += '{';
    first_.push_back(true);
    return *this;
}

json_writer &json_writer::end_object() {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) newline();
    out_ += '}';
    if (first_.empty()) out_ += '\n';
    return *this;
}

json_writer &json_writer::begin_array() {
    separate();
    out_ += '[';
    first_.push_back(true);
    return *this;
}

json_writer &json_writer::end_array() {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) newline();
    out_ += ']';
    return *this;
}

json_writer &json_writer::key(std::string_view name) {
    value(name);
    out_ += ": ";
    after_key_ = true;
    return *this;
}

json_writer &json_writer::value(std::string_view text) {
    separate();
    out_ += '"';
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out_ += '\\';
            out_ += c;
        } else if (u < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", u);
            out_ += escaped;
        } else {
            out_ += c;
        }
    }
    out_ += '"';
    return *this;
}

json_writer &json_writer::value(double number) {
    separate();
    if (!std::isfinite(number)) {
        out_ += "null";
        return *this;
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", number);
    out_ += text;
    return *this;
}

json_writer &json_writer::value(long number) {
    separate();
    out_ += std::to_string(number);
    return *this;
}

json_writer &json_writer::value(bool truth) {
    separate();
    out_ += truth ? "true" : "false";
    return *this;
}

// --- Checking -------------------------------------------------------------------

namespace {

struct json_checker {
    std::string_view s;
    std::size_t at = 0;
    std::string error;

    bool fail(const char *why) {
        if (error.empty()) error = std::string(why) + " at byte " + std::to_string(at);
        return false;
    }
    void skip_space() {
        while (at < s.size() && (s[at] == ' ' || s[at] == '\n' || s[at] == '\t' || s[at] == '\r'))
            ++at;
    }
    bool eat(char c) {
        skip_space();
        if (at < s.size() && s[at] == c) {
            ++at;
            return true;
        }
        return false;
    }
    bool literal(std::string_view word) {
        if (s.substr(at, word.size()) != word) return fail("unknown literal");
        at += word.size();
        return true;
    }
    bool digits() {
        const std::size_t start = at;
        while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
        return at > start || fail("digit expected");
    }
    bool number() {
        if (s[at] == '-') ++at;
        if (at < s.size() && s[at] == '0') ++at;
        else if (!digits()) return false;
        if (at < s.size() && s[at] == '.' && !(++at, digits())) return false;
        if (at < s.size() && (s[at] == 'e' || s[at] == 'E')) {
            ++at;
            if (at < s.size() && (s[at] == '+' || s[at] == '-')) ++at;
            if (!digits()) return false;
        }
        return true;
    }
    bool string() {
        ++at;  // the opening quote
        while (at < s.size() && s[at] != '"') {
            const auto c = static_cast<unsigned char>(s[at]);
            if (c < 0x20) return fail("control character in a string");
            at += c == '\\' ? 2 : 1;
        }
        if (at >= s.size()) return fail("unterminated string");
        ++at;
        return true;
    }
    template <class Element>
    bool sequence(char close, Element element) {
        ++at;  // the opening bracket
        if (eat(close)) return true;
        do {
            if (!element()) return false;
        } while (eat(','));
        return eat(close) || fail("',' or closing bracket expected");
    }
    bool member() {
        skip_space();
        if (at >= s.size() || s[at] != '"') return fail("object key expected");
        return string() && (eat(':') || fail("':' expected")) && value();
    }
    bool value() {
        skip_space();
        if (at >= s.size()) return fail("value expected");
        switch (s[at]) {
        case '{': return sequence('}', [this] { return member(); });
        case '[': return sequence(']', [this] { return value(); });
        case '"': return string();
        case 't': return literal("true");
        case 'f': return literal("false");
        case 'n': return literal("null");
        default:
            if (s[at] == '-' || (s[at] >= '0' && s[at] <= '9')) return number();
            return fail("unexpected character");
        }
    }
};

}  // namespace

std::string json_error(std::string_view text) {
    json_checker c{text, 0, {}};
    if (!c.value()) return c.error;
    c.skip_space();
    if (c.at != text.size()) c.fail("text after the value");
    return c.error;
}

}  // namespace bench
