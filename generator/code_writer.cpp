#include "code_writer.hpp"

namespace ltgen {

void CodeWriter::line(const std::string& text) {
  if (!text.empty()) out_.append(static_cast<size_t>(indent_) * 2, ' ');
  out_ += text;
  out_ += '\n';
}

void CodeWriter::open(const std::string& head) {
  line(head + " {");
  ++indent_;
}

void CodeWriter::close(const std::string& tail) {
  --indent_;
  line("}" + tail);
}

void CodeWriter::reopen(const std::string& head) {
  --indent_;
  line("} " + head + " {");
  ++indent_;
}

}  // namespace ltgen
