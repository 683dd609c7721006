/// \file
/// Writes indented C++ source text line by line, and the text edits emitters share.
#pragma once

#include <string>
#include <vector>

namespace ltgen {

class CodeWriter {
 public:
  enum class Language { cpp, python };
  explicit CodeWriter(int indent = 0, Language language = Language::cpp) : indent_(indent), language_(language) {}
  /// One line at the current indentation ("" writes an empty line).
  void line(const std::string& text = "");
  /// Opens a block: writes `head {` (Python: `head:`) and indents.
  void open(const std::string& head);
  /// Closes a block: dedents and writes `}` plus `tail`.
  void close(const std::string& tail = "");
  /// C++: opens a bare block `{  // comment` (its own scope for the names inside), closed by close().
  void open_block(const std::string& comment);
  /// `} else {`: closes a block and opens the next at the same depth.
  void reopen(const std::string& head);
  void raw(const std::string& text) { out_ += text; }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
  int indent_;
  Language language_;
};

/// Replaces every occurrence of `from` in `s` by `to` (text written in place is not searched again).
void replace_all(std::string& s, const std::string& from, const std::string& to);

/// `text` as `// ` comment lines of at most `width` characters, broken between words.
std::vector<std::string> comment_lines(const std::string& text, size_t width);

}  // namespace ltgen
