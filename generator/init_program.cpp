/// \file
/// The parameters' default initialisation in torch's order (see init_program.hpp).
#include "init_program.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ltgen {

double kaiming_uniform_bound(std::int64_t fan_in) {
  if (fan_in <= 0) return 0.0;  // torch draws nothing into an empty tensor
  const double a = std::sqrt(5.0);
  const double gain = std::sqrt(2.0 / (1 + a * a));  // calculate_gain("leaky_relu", a); a**2 is a * a rounded once
  const double std = gain / std::sqrt(static_cast<double>(fan_in));
  return std::sqrt(3.0) * std;
}

double fan_in_bound(std::int64_t fan_in) { return fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0; }

double xavier_uniform_bound(std::int64_t fan_in, std::int64_t fan_out) {
  const double std = 1.0 * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return std::sqrt(3.0) * std;
}

InitStep own_init(const Graph& g, int param) {
  const Value& v = g.value(param);
  InitStep s;
  s.param = param;
  s.kind = v.init;
  s.value = v.init_bound;
  s.zero_row = v.init_zero_row;
  s.copy_of = v.init_copy_of;
  return s;
}

void complete_init(Graph& g) {
  for (const int p : g.params) {
    const bool named = std::any_of(g.init_steps.begin(), g.init_steps.end(), [&](const InitStep& s) { return s.param == p; });
    if (!named) g.init_steps.push_back(own_init(g, p));
  }
}

void drop_init(Graph& g, const std::vector<int>& params) {
  g.init_steps.erase(std::remove_if(g.init_steps.begin(), g.init_steps.end(),
                                    [&](const InitStep& s) {
                                      return std::find(params.begin(), params.end(), s.param) != params.end();
                                    }),
                     g.init_steps.end());
}

void check_init(const Graph& g) {
  for (const int p : g.params)
    if (std::none_of(g.init_steps.begin(), g.init_steps.end(), [&](const InitStep& s) { return s.param == p; }))
      throw std::logic_error(g.value(p).torch_name + " has no init step");
  for (std::size_t k = 0; k < g.init_steps.size(); ++k) {
    const InitStep& s = g.init_steps[k];
    if (s.kind == Init::discard) {
      if (s.param != -1 || s.draws <= 0) throw std::logic_error("a discard step names a parameter or no draws");
      continue;
    }
    if (std::find(g.params.begin(), g.params.end(), s.param) == g.params.end())
      throw std::logic_error("an init step names a value that is not a parameter");
    if (s.kind != Init::copy) continue;
    const auto earlier = std::find_if(g.init_steps.begin(), g.init_steps.begin() + static_cast<std::ptrdiff_t>(k),
                                      [&](const InitStep& e) { return e.param == s.copy_of; });
    if (earlier == g.init_steps.begin() + static_cast<std::ptrdiff_t>(k) ||
        g.value(s.copy_of).shape != g.value(s.param).shape)
      throw std::logic_error(g.value(s.param).torch_name + " copies a parameter not set before it, or of another shape");
  }
}

}  // namespace ltgen
