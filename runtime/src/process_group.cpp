// The process group over MPI when the program is built with it (LTRT_WITH_MPI), else one process.
#include "ltrt/process_group.hpp"

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <limits>

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

// The ranks' n values summed onto rank 0, then rank 0's sums to every rank: every rank logs, and
// decides on, the same bits (an all-reduce may round differently on different ranks).
void sum_as_rank_zero_does(int rank, void* data, int n, MPI_Datatype type) {
  check(MPI_Reduce(rank == 0 ? MPI_IN_PLACE : data, rank == 0 ? data : nullptr, n, type, MPI_SUM, 0, MPI_COMM_WORLD),
        "MPI_Reduce (logged values)");
  check(MPI_Bcast(data, n, type, 0, MPI_COMM_WORLD), "MPI_Bcast (logged values)");
}
#endif

// A launcher's environment variable holding a count or an index; -1 when unset or not a number.
long launcher_value(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    return *end == '\0' && n >= 0 && n < INT_MAX ? n : -1;
  }
  return -1;
}

#ifdef LTRT_WITH_MPI
// Waits (a second at most) until whoever reads this process's stdout and stderr pipes (mpirun's
// proxy) has read what it wrote. MPICH's proxy may act on an MPI_Abort before it drains the pipes
// of the rank that called it, and the rank's last words, its error, would be lost.
void let_launcher_read_output() {
  std::fflush(stdout);
  std::fflush(stderr);
  for (const int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) continue;
    for (int waited_ms = 0; waited_ms < 1000; waited_ms += 5) {
      int unread = 0;  // bytes in the pipe not read yet (Linux answers FIONREAD on either end)
      if (ioctl(fd, FIONREAD, &unread) != 0 || unread == 0) break;
      usleep(5000);
    }
  }
}
#endif
}  // namespace

bool ProcessGroup::built_with_mpi() {
#ifdef LTRT_WITH_MPI
  return true;
#else
  return false;
#endif
}

int ProcessGroup::launcher_rank() {
  const long r = launcher_value({"PMI_RANK", "OMPI_COMM_WORLD_RANK"});
  return r < 0 ? 0 : static_cast<int>(r);
}

ProcessGroup::ProcessGroup() {
  if (const long n = launcher_value({"PMI_SIZE", "OMPI_COMM_WORLD_SIZE"}); n > 1) launched_ = static_cast<int>(n);
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

int ProcessGroup::local_rank() const {
  if (size_ == 1) return 0;
  // What the launcher says (MPICH's Hydra, Open MPI), else the ranks that share memory with this one
  // (containers on one machine may not).
#ifdef LTRT_WITH_MPI
  const long launched = launcher_value({"MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK"});
  if (count(launched >= 0) == size_) return static_cast<int>(launched);
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  int local = 0;
  const int rc = MPI_Comm_rank(node, &local);
  MPI_Comm_free(&node);
  check(rc, "MPI_Comm_rank");
  return local;
#else
  return 0;
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
  // The reducer's mul_out(bucket, grad, 1.0 / world): a float multiply by the rounded reciprocal.
  const float scale = static_cast<float>(1.0 / size_);
  for (std::int64_t i = 0; i < n; ++i) data[i] *= scale;
  for (std::int64_t start = 0; start < n; start += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, n - start));
    float* mine = data + start;
    check(MPI_Reduce(rank_ == 0 ? MPI_IN_PLACE : mine, rank_ == 0 ? mine : nullptr, count, MPI_FLOAT, MPI_SUM, 0,
                     MPI_COMM_WORLD),
          "MPI_Reduce (gradients)");
    check(MPI_Bcast(data + start, count, MPI_FLOAT, 0, MPI_COMM_WORLD), "MPI_Bcast (gradients)");
  }
#else
  (void)data;
  (void)n;
#endif
}

void ProcessGroup::mean(float* data, int n) const {
  if (size_ == 1) return;
#ifdef LTRT_WITH_MPI
  sum_as_rank_zero_does(rank_, data, n, MPI_FLOAT);
#endif
  for (int i = 0; i < n; ++i) data[i] /= static_cast<float>(size_);  // div_(world_size)
}

void ProcessGroup::sum(double* data, int n) const {
  if (size_ == 1) return;
#ifdef LTRT_WITH_MPI
  sum_as_rank_zero_does(rank_, data, n, MPI_DOUBLE);
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

std::vector<std::string> ProcessGroup::gather(const std::string& text) const {
  if (size_ == 1) return {text};
  std::vector<std::string> texts;
#ifdef LTRT_WITH_MPI
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max() / size_))
    throw Error("gathering " + std::to_string(text.size()) + " bytes from each of " + std::to_string(size_) +
                " ranks: more than MPI's int counts hold");
  const int n = static_cast<int>(text.size());
  std::vector<int> sizes(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
  check(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather (sizes)");
  int total = 0;
  for (int r = 0; rank_ == 0 && r < size_; ++r)
    offsets[static_cast<std::size_t>(r)] = total, total += sizes[static_cast<std::size_t>(r)];
  std::string all(static_cast<std::size_t>(total), '\0');
  check(MPI_Gatherv(text.data(), n, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD),
        "MPI_Gatherv");
  for (int r = 0; rank_ == 0 && r < size_; ++r)
    texts.push_back(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]),
                               static_cast<std::size_t>(sizes[static_cast<std::size_t>(r)])));
#endif
  return texts;
}

bool ProcessGroup::broadcast(bool value) const {
  unsigned char v = value ? 1 : 0;
  broadcast(&v, 1);
  return v != 0;
}

int ProcessGroup::count(bool value) const {
  int in = value ? 1 : 0, out = in;
#ifdef LTRT_WITH_MPI
  if (size_ > 1) check(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce (a decision)");
#endif
  return out;
}

bool ProcessGroup::reduce_boolean(bool value, bool all) const {
  const int yes = count(value);
  return all ? yes == size_ : yes > 0;
}

void ProcessGroup::barrier() const {
#ifdef LTRT_WITH_MPI
  if (size_ > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

void ProcessGroup::abort(int exit_code) const {
#ifdef LTRT_WITH_MPI
  if (size_ > 1) {
    let_launcher_read_output();
    MPI_Abort(MPI_COMM_WORLD, exit_code);
  }
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
