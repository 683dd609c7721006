// The entry point of a generated program: its main() is
//   int main(int argc, char** argv) { return ltrt::run_main(argc, argv, kModel); }
#pragma once

#include "ltrt/model.hpp"

namespace ltrt {

// Parses the command line and runs the subcommand. Exit status: 0 on
// success; 1 on a runtime error (bad data, weights or checkpoint: "error:
// <message>" on stderr); 2 on a command line mistake (unknown or fixed
// option, bad value, unsupported subcommand).
int run_main(int argc, char** argv, const ModelDef& model);

}  // namespace ltrt
