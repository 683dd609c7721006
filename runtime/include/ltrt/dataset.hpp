// In-memory datasets: a DataSourceConfig loaded into rows of the model's
// per-sample input and target shapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ltrt/model.hpp"
#include "ltrt/rng.hpp"
#include "ltrt/torch_generator.hpp"

namespace ltrt {

// DataSourceConfig with owned strings (paths can come from the command line).
struct DataSource {
  DataSourceKind kind = DataSourceKind::none;
  std::int64_t num_samples = 0;  // randn
  std::string x_path, y_path;    // npy (x_path: the first model input's file)
  std::vector<std::string> other_x_paths;  // npy: the other model inputs' files, in order
  std::string csv_path;          // csv
  std::string target_column;     // csv: column name(s), comma-separated; an index when there is no header
  bool csv_header = true;
  std::string images_path, labels_path;  // idx
  double idx_scale = 255.0;              // idx: pixel = byte / idx_scale
  std::string text_path;                 // text: the corpus
  std::string vocab_path;                // text: the corpus whose bytes are the vocabulary (empty: text_path)
  double text_begin = 0, text_end = 1;   // text: the part of the corpus used, as fractions of its bytes
  std::string prompt;                    // prompt (see ModelDef's DataSourceConfig)
  std::int64_t max_new_tokens = 0;
  double temperature = 1.0;
  std::int64_t top_k = 0;
  std::vector<TransformConfig> transforms;  // torchvision's transforms of each sample's input
  std::vector<std::int64_t> sample_shape;   // randn: each first input's shape as drawn (empty: the model's)

  static DataSource from(const DataSourceConfig& config);
};

const char* data_source_kind_name(DataSourceKind kind);  // "none", "randn", "npy", "csv", "idx"

struct Dataset {
  std::int64_t num_samples = 0;
  DType input_dtype = DType::f32;
  DType target_dtype = DType::f32;
  std::int64_t input_row = 0;   // elements per sample
  std::int64_t target_row = 0;  // elements per sample
  std::vector<std::byte> inputs;   // num_samples * input_row elements of input_dtype
  std::vector<std::byte> targets;  // num_samples * target_row elements of target_dtype
  // A model with several inputs: the others' values (npy and randn sources), each feeding its
  // model input's batch buffer; `inputs` above is the first input's.
  struct OtherInput {
    TensorRef input;               // the model input it feeds
    std::int64_t row = 0;          // elements per sample
    std::vector<std::byte> values;  // num_samples * row elements of input.dtype
  };
  std::vector<OtherInput> other_inputs;
  std::string vocab;               // text: the vocabulary, sorted unique bytes (token i is vocab[i])
  // The source's transforms of each sample's (first) input, which its DataLoader applies as it
  // gathers a batch, and that input's per-sample shape in `inputs` (before the transforms, which
  // make the model input's of it: a crop can change it).
  std::vector<TransformConfig> transforms;
  std::vector<std::int64_t> input_shape;
};

// The sorted unique bytes of a corpus (plain or .gz): token i is byte i of the result.
std::string text_vocabulary(const std::string& path);

// A split's text source reads tokens with the training corpus's vocabulary.
DataSource with_train_vocabulary(DataSource source, const DataSource& train);

// Loads `source` for a model whose batch buffers are `input` and `target`
// (dim 0 is the batch; the rest is the per-sample shape).
//   randn: num_samples rows of randn(input sample shape), then num_samples
//          rows of randn(target sample shape), drawn as torch.randn draws them
//          from `randn` (randn_generator), like the Lightning seed's
//          X = randn(1000, 10); y = randn(1000)
//   (With transforms that crop the first input, its samples may be of another height and width,
//   and randn draws them in the source's sample_shape.)
//   npy:   x [N, *input] float32/float64 (-> float32), or int64 for int64
//          inputs; y [N, *target] float32/float64 for float targets, int64
//          for class targets; y [N] is accepted for a per-sample shape [1]
//   csv:   target_column names the target column(s); every other column is
//          an input feature
//   idx:   images uint8 [N, rows, cols] (MNIST's IDX, plain or gzip) as float32
//          byte / idx_scale, for a per-sample input shape [1, rows, cols],
//          [rows, cols] or [rows * cols]; labels uint8 [N] as int64 classes
//   text:  a character-level corpus cut into consecutive windows of T = block_size
//          bytes (stride T): x = ids[i*T : i*T+T], y = ids[i*T+1 : i*T+T+1], the ids
//          indexing the vocabulary (sorted unique bytes of vocab_path, else text_path);
//          int64 inputs and targets of per-sample shape [T]
// Mismatched row counts, shapes or dtypes throw ltrt::Error naming the file.
// What int64 class targets may hold: [0, num_classes) or ignore_index; and
// int64 inputs (Embedding indices): [0, num_embeddings).
struct ClassTargets {
  std::int64_t num_classes = 0;  // 0: float targets
  std::int64_t ignore_index = -100;
  bool with_targets = true;      // false: inputs only (predict data)
  std::int64_t num_embeddings = 0;  // int64 inputs: indices lie in [0, num_embeddings)
  // The same for each other input of a model with several (ModelDef::other_num_embeddings); 0: float.
  std::vector<std::int64_t> other_num_embeddings;
};

// A model's ClassTargets: its classes and index bounds, for data with targets or without (predict).
ClassTargets class_targets_of(const ModelDef& model, bool with_targets);

// randn draws class targets from [0, num_classes) as torch.randint does.
// `other_inputs`: the model's inputs after `input` (ModelDef::other_inputs), which only npy
// (a file each) and randn sources give.
Dataset load_dataset(const DataSource& source, const TensorRef& input, const TensorRef& target, TorchGenerator& randn,
                     ClassTargets classes = {}, const std::vector<TensorRef>& other_inputs = {});

// The generator a split's randn source draws from: torch.Generator().manual_seed(seed * 4 + split),
// split 0 train, 1 val, 2 test, 3 predict, as the script of `ltgen --emit lightning` seeds it.
enum class Split { train = 0, val = 1, test = 2, predict = 3 };
TorchGenerator randn_generator(std::int64_t seed, Split split);

// A model's inputs after its first, as load_dataset takes them.
std::vector<TensorRef> other_inputs_of(const ModelDef& model);

}  // namespace ltrt
