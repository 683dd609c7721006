#include "name_patterns.hpp"

#include "diagnostics.hpp"

namespace ltgen {

namespace {

// Python's fnmatch.fnmatchcase (the rules of fnmatch.translate), so that the emitted Lightning
// script groups the parameters as the program does: `*` any run of characters (dots too), `?`
// one, `[seq]` one of seq (ranges such as a-z; `!` first negates; a `]` first is literal; a `^` is
// literal), a `[` with no closing `]` a literal `[`; no escapes.
bool set_matches(const std::string& set, char c) {
  size_t i = 0;
  bool negate = false;
  if (i < set.size() && set[i] == '!') negate = true, ++i;
  bool hit = false;
  for (; i < set.size(); ++i) {
    if (i + 2 < set.size() && set[i + 1] == '-') {
      hit = hit || (set[i] <= c && c <= set[i + 2]);  // an empty range (a > b) matches nothing, as Python's
      i += 2;
    } else {
      hit = hit || set[i] == c;
    }
  }
  return hit != negate;
}

bool matches(const std::string& p, size_t pi, const std::string& s, size_t si) {
  while (pi < p.size()) {
    const char c = p[pi];
    if (c == '*') {
      while (pi < p.size() && p[pi] == '*') ++pi;
      if (pi == p.size()) return true;
      for (size_t k = si; k <= s.size(); ++k)
        if (matches(p, pi, s, k)) return true;
      return false;
    }
    if (si == s.size()) return false;
    if (c == '?') {
      ++pi, ++si;
      continue;
    }
    if (c == '[') {
      size_t j = pi + 1;
      if (j < p.size() && p[j] == '!') ++j;
      if (j < p.size() && p[j] == ']') ++j;
      while (j < p.size() && p[j] != ']') ++j;
      if (j < p.size()) {  // a set: [pi + 1, j)
        if (!set_matches(p.substr(pi + 1, j - pi - 1), s[si])) return false;
        pi = j + 1, ++si;
        continue;
      }
    }
    if (c != s[si]) return false;  // a literal, an unclosed '[' included
    ++pi, ++si;
  }
  return si == s.size();
}

}  // namespace


bool fnmatch_case(const std::string& pattern, const std::string& name) { return matches(pattern, 0, name, 0); }

std::vector<bool> match_names(const Spec& spec, const NamePatterns& patterns, const std::vector<std::string>& names,
                              const std::vector<std::string>& excluded,
                              const std::pair<std::string, std::string>& excluded_why) {
  std::vector<bool> hit(names.size(), false);
  for (size_t k = 0; k < patterns.patterns.size(); ++k) {
    const std::string& pattern = patterns.patterns[k];
    bool any = false;
    for (size_t p = 0; p < names.size(); ++p)
      if (fnmatch_case(pattern, names[p])) hit[p] = any = true;
    if (any) continue;
    std::string hits;
    for (const std::string& e : excluded)
      if (fnmatch_case(pattern, e)) hits += (hits.empty() ? "" : ", ") + e;
    if (!hits.empty())
      throw SpecError(spec.path, patterns.pos[k], patterns.paths[k],
                      "'" + pattern + "' matches only " + excluded_why.first + " (" + hits + ")" + excluded_why.second);
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    throw SpecError(spec.path, patterns.pos[k], patterns.paths[k],
                    "'" + pattern + "' matches no parameter" + did_you_mean(pattern, names) + " (the parameters: " +
                        list + "; a tied weight is named after its owner)");
  }
  return hit;
}

}  // namespace ltgen
