// run_main: command line -> fit.
#include "ltrt/main.hpp"

#include <cstdio>
#include <exception>

#include "ltrt/cli.hpp"
#include "ltrt/error.hpp"
#include "ltrt/process_group.hpp"
#include "ltrt/trainer.hpp"

namespace ltrt {

int run_main(int argc, char** argv, const ModelDef& model) {
  const char* program = model.name ? model.name : "program";
  // Under mpirun every process reads the same command line: one of them says what is wrong with it.
  const bool speaks = ProcessGroup::launcher_rank() == 0;
  CliOptions options;
  try {
    options = parse_cli(argc, argv, model);
  } catch (const UsageError& e) {
    if (speaks) std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 2;
  }
  if (options.help) {
    if (speaks) std::fputs(usage(model).c_str(), stdout);
    return 0;
  }
  if (options.print_config) {
    if (speaks) std::fputs(config_json(options, model).c_str(), stdout);
    return 0;
  }
  ProcessGroup* group = nullptr;
  try {
    group = &ProcessGroup::world();  // DDP's ranks: MPI starts here in a program built with it
    FitConfig& config = options.fit;
    if (!config.ckpt_path.empty())
      group->agree_on_failure([&] { config.ckpt_path = resolve_ckpt_path(config.ckpt_path, config.trainer); });
    switch (options.subcommand) {
      case Subcommand::fit: fit(model, config, stdout); break;
      case Subcommand::validate: validate(model, config, stdout); break;
      case Subcommand::test: test(model, config, stdout); break;
      case Subcommand::predict: predict(model, config, stdout); break;
    }
  } catch (const LaunchError& e) {
    if (group->is_global_zero() && speaks) std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    group->finalize();
    return 2;
  } catch (const AgreedError& e) {  // every rank failed alike: rank 0 says it, all end normally
    std::fflush(stdout);
    if (group->is_global_zero()) std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    group->finalize();
    return 1;
  } catch (const PeerFailure&) {  // another rank failed: it says why and ends the launch
    std::fflush(stdout);
    group->barrier();               // ... by MPI_Abort, which ends this rank here
    group->abort(1);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    if (group && group->distributed()) {
      // The other ranks would wait for this one in their next collective: end them all.
      std::fprintf(stderr, "%s: error (rank %d of %d): %s\n", program, group->rank(), group->size(), e.what());
      std::fflush(stderr);
      group->abort(1);
    }
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    if (group) group->finalize();
    return 1;
  }
  group->finalize();
  return 0;
}

}  // namespace ltrt
