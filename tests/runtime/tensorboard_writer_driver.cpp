// Writes a known TensorBoard run for tensorboard_reader_test.py, which reads
// it with TensorBoard's own reader. Usage: tensorboard_writer_driver <log_dir>
// Prints the event file's path. The values below are mirrored in the test.
#include "ltrt/json.hpp"
#include "ltrt/tensorboard_logger.hpp"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <log_dir>\n", argv[0]);
    return 2;
  }
  try {
    ltrt::TensorBoardLogger logger(argv[1]);
    logger.log_hparams(ltrt::json::parse(
        R"({"lr": 0.001, "batch_size": 32, "optimizer": "Adam", "amsgrad": false, "seed": null,)"
        R"( "model": {"hidden": [64, 32], "act": "relu", "dropout": 0.25}})"));
    // 5 epochs of 20 steps: train_loss every 10 steps, val_loss / lr-Adam / epoch per epoch.
    for (int epoch = 0; epoch < 5; ++epoch) {
      for (int step = epoch * 20; step < (epoch + 1) * 20; ++step) {
        if (step % 10 == 0) logger.log_scalars({{"train_loss", 1.0 / (step + 1) + 0.5}}, step);
      }
      const int last = (epoch + 1) * 20 - 1;
      logger.log_scalars({{"val_loss", 0.9 - 0.1 * epoch}, {"epoch", static_cast<double>(epoch)}}, last);
      double lr = 0.001;
      for (int k = 0; k < epoch; ++k) lr *= 0.5;
      logger.log_scalars({{"lr-Adam", lr}}, last);
      logger.flush();
    }
    // More than one buffer (64 KiB) between flushes; negative, zero, float32
    // rounding, a long step, a UTF-8 tag with a slash.
    for (int step = 0; step < 3000; ++step) logger.log_scalars({{"dense", step * 0.1 - 100.0}}, step);
    logger.log_scalars({{"edge/zero", 0.0}, {"edge/neg", -3.5}, {"edge/tiny", 1e-30}}, 7);
    logger.log_scalars({{"edge/big_step", 1e30}}, 1LL << 40);
    logger.log_scalars({{"edge/caf\xc3\xa9", 0.1}}, 1);
    std::printf("%s\n", logger.path().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tensorboard_writer_driver: %s\n", e.what());
    return 1;
  }
  return 0;  // the destructor flushes the last scalars
}
