// The process group over MPI when the program is built with it (LTRT_WITH_MPI), else one process.
#include "ltrt/process_group.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <vector>

#include "ltrt/error.hpp"

#ifdef LTRT_WITH_MPI
#include <mpi.h>
#endif

namespace ltrt {

namespace {
#ifdef LTRT_WITH_MPI
void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string(what) + " failed: " + std::string(text, static_cast<std::size_t>(len)));
}
// MPI counts are ints: large buffers go in pieces.
constexpr std::int64_t kChunk = INT_MAX / 8;
#endif
}  // namespace

ProcessGroup::ProcessGroup() {
  for (const char* name : {"PMI_SIZE", "OMPI_COMM_WORLD_SIZE"}) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end == '\0' && n > 1 && n < INT_MAX) launched_ = static_cast<int>(n);
    break;
  }
#ifdef LTRT_WITH_MPI
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
#endif
}

ProcessGroup& ProcessGroup::world() {
  static ProcessGroup group;
  return group;
}

std::FILE* ProcessGroup::rank_zero(std::FILE* f) const {
  if (rank_ == 0) return f;
  static std::FILE* discard = std::fopen("/dev/null", "w");
  if (!discard) throw Error("cannot open /dev/null for the output of rank " + std::to_string(rank_));
  return discard;
}

void ProcessGroup::average(float* data, std::int64_t n) const {
  if (size_ == 1) return;
#ifdef LTRT_WITH_MPI
  const float world = static_cast<float>(size_);
  for (std::int64_t i = 0; i < n; ++i) data[i] /= world;
  std::vector<float> sum(rank_ == 0 ? static_cast<std::size_t>(std::min(n, kChunk)) : 0);
  for (std::int64_t start = 0; start < n; start += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, n - start));
    check(MPI_Reduce(data + start, rank_ == 0 ? sum.data() : nullptr, count, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD),
          "MPI_Reduce (gradients)");
    if (rank_ == 0) std::copy(sum.begin(), sum.begin() + count, data + start);
    check(MPI_Bcast(data + start, count, MPI_FLOAT, 0, MPI_COMM_WORLD), "MPI_Bcast (gradients)");
  }
#else
  (void)data;
  (void)n;
#endif
}

void ProcessGroup::broadcast(void* data, std::size_t bytes) const {
  if (size_ == 1) return;
#ifdef LTRT_WITH_MPI
  auto* p = static_cast<char*>(data);
  for (std::size_t start = 0; start < bytes; start += static_cast<std::size_t>(kChunk)) {
    const int count = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(kChunk), bytes - start));
    check(MPI_Bcast(p + start, count, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
  }
#else
  (void)data;
  (void)bytes;
#endif
}

std::string ProcessGroup::broadcast(const std::string& text) const {
  if (size_ == 1) return text;
  std::uint64_t n = text.size();
  broadcast(&n, sizeof n);
  std::string out = rank_ == 0 ? text : std::string(static_cast<std::size_t>(n), '\0');
  broadcast(out.data(), out.size());
  return out;
}

bool ProcessGroup::broadcast(bool value) const {
  unsigned char v = value ? 1 : 0;
  broadcast(&v, 1);
  return v != 0;
}

bool ProcessGroup::reduce_boolean(bool value, bool all) const {
  if (size_ == 1) return value;
#ifdef LTRT_WITH_MPI
  int in = value ? 1 : 0, out = 0;
  check(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce (a decision)");
  return all ? out == size_ : out > 0;
#else
  (void)all;
  return value;
#endif
}

void ProcessGroup::barrier() const {
#ifdef LTRT_WITH_MPI
  if (size_ > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

void ProcessGroup::abort(int exit_code) const {
#ifdef LTRT_WITH_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
#endif
  std::exit(exit_code);
}

void ProcessGroup::finalize() {
  if (finalized_) return;
  finalized_ = true;
#ifdef LTRT_WITH_MPI
  int initialized = 0, done = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&done);
  if (initialized && !done) MPI_Finalize();
#endif
}

}  // namespace ltrt
