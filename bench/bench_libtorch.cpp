// LibTorch's C++ frontend on the shapes of bench_steps.cpp (bench/README.md): one full step =
// zero_grad, forward, loss, backward, optimizer step, on a fixed full batch, with
// at::set_num_threads(T) for T = 1, 2.
//   BM_libtorch_linear/threads:T  Linear(10, 1), MSELoss, Adam(lr=1e-3), batch 32 (specs/linear.json)
//   BM_libtorch_mlp/threads:T     784-256-ReLU-256-ReLU-10, CrossEntropyLoss, SGD(lr=0.05,
//                                 momentum=0.9), batch 128 (specs/mlp.json)
#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace {

void report(benchmark::State& state, double flops, float loss) {
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["FLOP/step"] = flops;
  state.counters["loss"] = loss;
}

void BM_libtorch_linear(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  torch::manual_seed(42);
  torch::nn::Linear model(10, 1);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  const torch::Tensor x = torch::randn({32, 10}), y = torch::randn({32, 1});
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor loss = torch::mse_loss(model->forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  for (int i = 0; i < 10; ++i) step();
  for (auto _ : state) {
    torch::Tensor loss = step();
    benchmark::DoNotOptimize(loss);
  }
  const float last = step().item<float>();
  // As bench_steps.cpp counts: 2*B*in*out forward, as much for dW, 2*B*out per bias.
  report(state, 4.0 * 32 * 10 + 2.0 * 32, last);
}

struct Mlp : torch::nn::Module {
  torch::nn::Linear l0{nullptr}, l2{nullptr}, l4{nullptr};
  Mlp() {
    l0 = register_module("l0", torch::nn::Linear(784, 256));
    l2 = register_module("l2", torch::nn::Linear(256, 256));
    l4 = register_module("l4", torch::nn::Linear(256, 10));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return l4->forward(torch::relu(l2->forward(torch::relu(l0->forward(x)))));
  }
};

void BM_libtorch_mlp(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  torch::manual_seed(7);
  auto model = std::make_shared<Mlp>();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  const torch::Tensor x = torch::randn({128, 784});
  const torch::Tensor y = torch::randint(0, 10, {128}, torch::kLong);
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  for (int i = 0; i < 5; ++i) step();
  for (auto _ : state) {
    torch::Tensor loss = step();
    benchmark::DoNotOptimize(loss);
  }
  const float last = step().item<float>();
  // Matrix products: 2*B*in*out forward and dW for every layer, dX for all but the first.
  const double b = 128, p0 = 784.0 * 256, p2 = 256.0 * 256, p4 = 256.0 * 10;
  report(state, 4 * b * p0 + 6 * b * p2 + 6 * b * p4 + 2 * b * (256 + 256 + 10), last);
}

}  // namespace

BENCHMARK(BM_libtorch_linear)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_libtorch_mlp)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();

BENCHMARK_MAIN();
