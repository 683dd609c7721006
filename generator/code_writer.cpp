#include "code_writer.hpp"

#include <sstream>

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

void CodeWriter::open_block(const std::string& comment) {
  line("{  // " + comment);
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

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

std::vector<std::string> comment_lines(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  std::string line = "//";
  std::istringstream words(text);
  for (std::string word; words >> word;) {
    if (line.size() > 2 && line.size() + 1 + word.size() > width) {
      lines.push_back(line);
      line = "//";
    }
    line += " " + word;
  }
  if (line.size() > 2) lines.push_back(line);
  return lines;
}

}  // namespace ltgen
