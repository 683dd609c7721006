#include "code_writer.hpp"

namespace ltgen {

void CodeWriter::line(const std::string& text) {
  const size_t width = language_ == Language::python ? 4 : 2;  // PEP 8 / Google C++ style
  if (!text.empty()) out_.append(static_cast<size_t>(indent_) * width, ' ');
  out_ += text;
  out_ += '\n';
}

void CodeWriter::open(const std::string& head) {
  line(head + (language_ == Language::python ? ":" : " {"));
  ++indent_;
}

void CodeWriter::close(const std::string& tail) {
  --indent_;
  if (language_ == Language::cpp) line("}" + tail);
}

void CodeWriter::reopen(const std::string& head) {
  --indent_;
  line("} " + head + " {");
  ++indent_;
}

}  // namespace ltgen
