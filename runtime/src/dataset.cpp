// Loading randn / npy / csv data sources into memory.
#include "ltrt/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ltrt/csv.hpp"
#include "ltrt/error.hpp"
#include "ltrt/idx.hpp"
#include "ltrt/npy.hpp"
#include "ltrt/sample_transforms.hpp"

namespace ltrt {
namespace {

std::vector<std::int64_t> sample_shape(const TensorRef& t) {
  return std::vector<std::int64_t>(t.shape + (t.rank > 0 ? 1 : 0), t.shape + t.rank);
}

std::int64_t product(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const char* numpy_dtype(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
  }
  return "?";
}

// Converts an npy array's elements into `want` storage. Floats convert to
// float32; integers stay int64. Anything else is an error.
std::vector<std::byte> convert(const std::string& path, const NpyArray& a, DType want, const char* role) {
  const std::int64_t n = a.numel();
  std::vector<std::byte> out(static_cast<std::size_t>(n) * dtype_size(want));
  if (want == DType::f32 && a.dtype == DType::f32) {
    std::memcpy(out.data(), a.data.data(), out.size());
  } else if (want == DType::f32 && a.dtype == DType::f64) {
    float* dst = reinterpret_cast<float*>(out.data());
    for (std::int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, a.data.data() + i * 8, 8);
      dst[i] = static_cast<float>(v);
    }
  } else if (want == DType::i64 && a.dtype == DType::i64) {
    std::memcpy(out.data(), a.data.data(), out.size());
  } else if (want == DType::u8 && a.file_dtype == "bool") {  // a mask (read as int64 0 and 1)
    for (std::int64_t i = 0; i < n; ++i) {
      std::int64_t v;
      std::memcpy(&v, a.data.data() + i * 8, 8);
      out[static_cast<std::size_t>(i)] = static_cast<std::byte>(v != 0);
    }
  } else {
    throw Error(path + ": " + role + " has dtype " + (a.file_dtype.empty() ? std::string(numpy_dtype(a.dtype)) : a.file_dtype) + ", the model needs " +
                (want == DType::f32   ? "float32 (or float64, converted)"
                 : want == DType::u8 ? "bool (a mask: np.save of a bool array)"
                                     : "int64 (class indices)"));
  }
  return out;
}

void check_shape(const std::string& path, const NpyArray& a, const std::vector<std::int64_t>& per_sample,
                 const char* role, const TensorRef& ref) {
  std::vector<std::int64_t> got(a.shape.begin() + (a.shape.empty() ? 0 : 1), a.shape.end());
  if (a.shape.empty()) {
    throw Error(path + ": " + role + " is a 0-d array; expected shape [N, ...] with one row per sample");
  }
  // y of shape [N] for a per-sample shape [1] (torch's y.unsqueeze(1)).
  if (got.empty() && per_sample == std::vector<std::int64_t>{1}) return;
  if (got != per_sample) {
    std::vector<std::int64_t> want{a.shape[0]};
    want.insert(want.end(), per_sample.begin(), per_sample.end());
    throw Error(path + ": " + role + " has shape " + shape_text(a.shape) + ", expected " + shape_text(want) +
                " (per-sample shape " + shape_text(per_sample) + " of the model's " + ref.name + ")");
  }
}

// torch.randn(n, generator=gen): one normal_ over the whole tensor.
void fill_randn(std::vector<std::byte>& buf, std::int64_t n, TorchGenerator& gen) {
  buf.resize(static_cast<std::size_t>(n) * sizeof(float));
  gen.normal(reinterpret_cast<float*>(buf.data()), n, 0.0, 1.0);
}

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = s.find(',', start);
    std::string name = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!name.empty() && name.front() == ' ') name.erase(name.begin());
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (!name.empty()) out.push_back(name);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The feature columns (all but the targets, in file order) fill the model's inputs in order, each
// its per-sample shape row-major: a float32 input takes the numbers, an int64 one (an Embedding's
// indices, a categorical column) integers in [0, its Embedding's num_embeddings).
Dataset load_csv(const DataSource& src, const TensorRef& input, const TensorRef& target, Dataset ds,
                 const std::vector<TensorRef>& other_inputs, const ClassTargets& classes) {
  const std::string& path = src.csv_path;
  const CsvTable table = read_csv(path, src.csv_header);
  const std::size_t num_columns = src.csv_header ? table.header.size() : (table.rows.empty() ? 0 : table.rows[0].size());
  const std::vector<std::string> names = split_names(src.target_column);
  if (names.empty() && ds.target_row > 0) throw Error(path + ": no target column given (data.train.target_column)");

  std::vector<bool> is_target(num_columns, false);
  std::vector<std::size_t> target_cols;
  for (const std::string& name : names) {
    std::size_t col = num_columns;
    if (src.csv_header) {
      for (std::size_t c = 0; c < num_columns; ++c) {
        if (table.header[c] == name) col = c;
      }
      if (col == num_columns) {
        std::string have;
        for (const auto& h : table.header) have += (have.empty() ? "" : ", ") + h;
        throw Error(path + ": no column named '" + name + "' (columns: " + have + ")");
      }
    } else {
      char* end = nullptr;
      const long long idx = std::strtoll(name.c_str(), &end, 10);
      const long long resolved = idx < 0 ? idx + static_cast<long long>(num_columns) : idx;
      if (end == name.c_str() || *end != '\0' || resolved < 0 || resolved >= static_cast<long long>(num_columns)) {
        throw Error(path + ": target column '" + name + "' must be a column index (the file has no header and " +
                    std::to_string(num_columns) + " columns)");
      }
      col = static_cast<std::size_t>(resolved);
    }
    is_target[col] = true;
    target_cols.push_back(col);
  }
  // Where each input's columns start among the features, and what they hold.
  struct Feature {
    TensorRef ref;
    std::int64_t row, bound;  // values per sample; an int64 input's index bound
    std::byte* out = nullptr;
  };
  std::vector<Feature> features = {{input, ds.input_row, classes.num_embeddings}};
  for (std::size_t k = 0; k < other_inputs.size(); ++k)
    features.push_back({other_inputs[k], product(sample_shape(other_inputs[k])),
                        k < classes.other_num_embeddings.size() ? classes.other_num_embeddings[k] : 0});
  std::int64_t wanted = 0;
  std::string needs;
  for (const Feature& f : features) {
    if (f.ref.dtype != DType::f32 && f.ref.dtype != DType::i64)
      throw Error(path + ": the model's input " + f.ref.name + " is bool (a mask), which a csv source cannot give: use "
                  "an npy source with a bool file");
    wanted += f.row;
    needs += (needs.empty() ? "" : " + ") + std::to_string(f.row) + " (" + f.ref.name + ")";
  }
  const std::int64_t num_inputs = static_cast<std::int64_t>(num_columns - target_cols.size());
  if (num_inputs != wanted) {
    throw Error(path + ": " + std::to_string(num_inputs) + " input columns (all but the target), the model's " +
                (features.size() > 1 ? "inputs need " + needs : std::string(input.name) + " needs " + std::to_string(wanted)) +
                " features per sample");
  }
  const std::int64_t num_targets = static_cast<std::int64_t>(target_cols.size());
  if (num_targets != ds.target_row) {
    throw Error(path + ": " + std::to_string(num_targets) + " target column(s), the model's " + target.name +
                " needs " + std::to_string(ds.target_row) + " values per sample");
  }

  ds.num_samples = static_cast<std::int64_t>(table.rows.size());
  ds.inputs.resize(static_cast<std::size_t>(ds.num_samples * ds.input_row) * dtype_size(input.dtype));
  features[0].out = ds.inputs.data();
  for (std::size_t k = 1; k < features.size(); ++k) {
    Dataset::OtherInput column;
    column.input = features[k].ref;
    column.row = features[k].row;
    column.values.resize(static_cast<std::size_t>(ds.num_samples * column.row) * dtype_size(column.input.dtype));
    ds.other_inputs.push_back(std::move(column));
  }
  for (std::size_t k = 1; k < features.size(); ++k) features[k].out = ds.other_inputs[k - 1].values.data();
  ds.targets.resize(static_cast<std::size_t>(ds.num_samples * ds.target_row) * dtype_size(ds.target_dtype));
  for (std::int64_t r = 0; r < ds.num_samples; ++r) {
    const std::vector<double>& row = table.rows[static_cast<std::size_t>(r)];
    if (row.size() != num_columns) {
      throw Error(path + ": data row " + std::to_string(r + 1) + " has " + std::to_string(row.size()) +
                  " values, expected " + std::to_string(num_columns));
    }
    std::size_t f = 0;       // the input the next feature column fills
    std::int64_t filled = 0;  // its values of this row so far
    for (std::size_t c = 0; c < num_columns; ++c) {
      if (is_target[c]) continue;
      while (filled == features[f].row) ++f, filled = 0;  // (an input of no values takes none)
      Feature& in = features[f];
      const std::size_t at = static_cast<std::size_t>(r * in.row + filled++);
      if (in.ref.dtype == DType::f32) {
        reinterpret_cast<float*>(in.out)[at] = static_cast<float>(row[c]);
        continue;
      }
      const double v = row[c];
      if (v != std::floor(v) || !(v >= 0) || !(v < static_cast<double>(in.bound)))
        throw Error(path + ": data row " + std::to_string(r + 1) + ", column " +
                    (src.csv_header ? "'" + table.header[c] + "'" : std::to_string(c)) + ": " + std::to_string(v) +
                    " is not an index in [0, " + std::to_string(in.bound) + ") of the Embedding that reads the model's " +
                    in.ref.name);
      reinterpret_cast<std::int64_t*>(in.out)[at] = static_cast<std::int64_t>(v);
    }
    for (std::size_t t = 0; t < target_cols.size(); ++t) {
      const double v = row[target_cols[t]];
      const std::size_t i = static_cast<std::size_t>(r * ds.target_row) + t;
      if (ds.target_dtype == DType::i64) {
        if (v != std::floor(v) || !std::isfinite(v)) {
          throw Error(path + ": data row " + std::to_string(r + 1) + ": target " + std::to_string(v) +
                      " is not a class index");
        }
        reinterpret_cast<std::int64_t*>(ds.targets.data())[i] = static_cast<std::int64_t>(v);
      } else {
        reinterpret_cast<float*>(ds.targets.data())[i] = static_cast<float>(v);
      }
    }
  }
  return ds;
}

// idx images as float32 byte / scale, one row per sample; the per-sample input
// shape is [1, rows, cols], [rows, cols] or [rows * cols].
// With transforms that crop (`cropped`), the images may be of another size than the model input's:
// they keep its rank ([1, rows, cols] or [rows, cols]) and the transforms make its size of them.
void load_idx_images(const DataSource& src, const TensorRef& input, const std::vector<std::int64_t>& per_sample,
                     Dataset& ds, bool cropped) {
  const std::string& path = src.images_path;
  if (ds.input_dtype != DType::f32)
    throw Error(path + ": idx images are float32 pixels, but the model's input " + std::string(input.name) + " is " +
                numpy_dtype(ds.input_dtype));
  if (!(src.idx_scale > 0)) throw Error(path + ": the idx source's scale must be positive");
  const IdxArray images = read_idx(path, 3);
  const std::int64_t rows = images.shape[1], cols = images.shape[2];
  const std::vector<std::vector<std::int64_t>> fits = {{1, rows, cols}, {rows, cols}, {rows * cols}};
  bool ok = false;
  for (const auto& f : fits) ok = ok || f == per_sample;
  if (cropped && (per_sample.size() == 2 || (per_sample.size() == 3 && per_sample[0] == 1))) {
    ds.input_shape = per_sample.size() == 2 ? fits[1] : fits[0];
    ds.input_row = rows * cols;
    ok = true;
  }
  if (!ok) {
    throw Error(path + ": images of shape " + shape_text(images.shape) + " (" + std::to_string(rows) + "x" +
                std::to_string(cols) + " pixels) do not fit the model's " + input.name + " of per-sample shape " +
                shape_text(per_sample) + "; expected " + shape_text(fits[0]) + ", " + shape_text(fits[1]) + " or " +
                shape_text(fits[2]) + " in model.inputs");
  }
  ds.num_samples = images.shape[0];
  const std::int64_t n = images.numel();
  ds.inputs.resize(static_cast<std::size_t>(n) * sizeof(float));
  float* x = reinterpret_cast<float*>(ds.inputs.data());
  const float scale = static_cast<float>(src.idx_scale);
  for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(images.data[static_cast<std::size_t>(i)]) / scale;
}

// idx labels: uint8 [N] as int64 class indices, as many as there are images.
void load_idx_labels(const DataSource& src, const TensorRef& target, Dataset& ds) {
  const std::string& path = src.labels_path;
  if (ds.target_dtype != DType::i64 || ds.target_row != 1)
    throw Error(path + ": idx labels are class indices; the model's " + std::string(target.name) +
                " must be int64 classes (model.target: {\"dtype\": \"int64\", \"num_classes\": K})");
  const IdxArray labels = read_idx(path, 1);
  if (labels.shape[0] != ds.num_samples) {
    throw Error(path + ": " + std::to_string(labels.shape[0]) + " labels, but the images (" + src.images_path +
                ") hold " + std::to_string(ds.num_samples) + " samples");
  }
  ds.targets.resize(static_cast<std::size_t>(ds.num_samples) * sizeof(std::int64_t));
  auto* t = reinterpret_cast<std::int64_t*>(ds.targets.data());
  for (std::int64_t i = 0; i < ds.num_samples; ++i) t[i] = labels.data[static_cast<std::size_t>(i)];
}

}  // namespace

DataSource DataSource::from(const DataSourceConfig& c) {
  DataSource s;
  s.kind = c.kind;
  s.num_samples = c.num_samples;
  s.x_path = c.x_path ? c.x_path : "";
  if (c.other_x_paths)
    for (const char* const* p = c.other_x_paths; *p; ++p) s.other_x_paths.push_back(*p);
  s.y_path = c.y_path ? c.y_path : "";
  s.csv_path = c.csv_path ? c.csv_path : "";
  s.target_column = c.target_column ? c.target_column : "";
  s.csv_header = c.csv_header;
  s.images_path = c.images_path ? c.images_path : "";
  s.labels_path = c.labels_path ? c.labels_path : "";
  if (c.idx_scale > 0) s.idx_scale = c.idx_scale;
  s.text_path = c.text_path ? c.text_path : "";
  if (c.kind == DataSourceKind::text) {
    s.text_begin = c.text_begin;
    s.text_end = c.text_end;
  }
  if (c.kind == DataSourceKind::prompt) {
    s.prompt = c.prompt ? c.prompt : "";
    s.max_new_tokens = c.max_new_tokens;
    s.temperature = c.temperature;
    s.top_k = c.top_k;
  }
  if (c.transforms) s.transforms.assign(c.transforms, c.transforms + c.num_transforms);
  if (c.sample_shape) s.sample_shape.assign(c.sample_shape, c.sample_shape + c.sample_rank);
  return s;
}

std::string text_vocabulary(const std::string& path) {
  bool present[256] = {};
  for (std::uint8_t b : read_maybe_gzip(path)) present[b] = true;
  std::string vocab;
  for (int b = 0; b < 256; ++b)
    if (present[b]) vocab.push_back(static_cast<char>(b));
  return vocab;
}

DataSource with_train_vocabulary(DataSource source, const DataSource& train) {
  if (source.kind == DataSourceKind::text && train.kind == DataSourceKind::text) source.vocab_path = train.text_path;
  return source;
}

const char* data_source_kind_name(DataSourceKind kind) {
  switch (kind) {
    case DataSourceKind::none: return "none";
    case DataSourceKind::randn: return "randn";
    case DataSourceKind::npy: return "npy";
    case DataSourceKind::csv: return "csv";
    case DataSourceKind::idx: return "idx";
    case DataSourceKind::text: return "text";
    case DataSourceKind::prompt: return "prompt";
  }
  return "?";
}

namespace {
// Class targets index the logits: out of range would read past them.
void check_classes(const Dataset& ds, const std::string& file, ClassTargets classes) {
  if (ds.target_dtype != DType::i64 || classes.num_classes <= 0) return;
  const auto* t = reinterpret_cast<const std::int64_t*>(ds.targets.data());
  const std::int64_t count = ds.num_samples * ds.target_row;
  for (std::int64_t i = 0; i < count; ++i) {
    if (t[i] == classes.ignore_index || (t[i] >= 0 && t[i] < classes.num_classes)) continue;
    throw Error(file + ": target " + std::to_string(t[i]) + " of sample " + std::to_string(i / ds.target_row) +
                " is not a class in [0, " + std::to_string(classes.num_classes) + ")");
  }
}

// A character-level corpus as consecutive windows of T bytes: x = ids[i*T, i*T+T), y the
// same shifted by one (the next byte), ids indexing the sorted unique bytes of the vocabulary
// corpus (the training corpus for every split).
void load_text(const DataSource& source, const TensorRef& input, const TensorRef& target, Dataset& ds,
               bool with_targets) {
  if (source.text_path.empty()) throw Error("the text data source needs a corpus file (--data.<split>.path=PATH)");
  if (input.dtype != DType::i64 || (with_targets && target.dtype != DType::i64))
    throw Error("the text data source makes int64 tokens: the model's input and target must be int64");
  const std::int64_t t = ds.input_row;
  if (with_targets && ds.target_row != t)
    throw Error("the text data source needs targets of the input's shape [" + std::to_string(t) + "]");
  std::vector<std::uint8_t> text = read_maybe_gzip(source.text_path);
  // The vocabulary is the whole vocabulary corpus's bytes, before any range is cut out of it.
  const std::string vocab_file = source.vocab_path.empty() ? source.text_path : source.vocab_path;
  bool present[256] = {};
  for (std::uint8_t b : vocab_file == source.text_path ? text : read_maybe_gzip(vocab_file)) present[b] = true;
  if (source.text_begin != 0 || source.text_end != 1) {
    const double size = static_cast<double>(text.size());
    const auto begin = static_cast<std::ptrdiff_t>(size * source.text_begin);
    const auto end = static_cast<std::ptrdiff_t>(size * source.text_end);
    text = std::vector<std::uint8_t>(text.begin() + begin, text.begin() + end);
  }
  std::int64_t id[256];
  ds.vocab.clear();
  for (int b = 0; b < 256; ++b) {
    id[b] = present[b] ? static_cast<std::int64_t>(ds.vocab.size()) : -1;
    if (present[b]) ds.vocab.push_back(static_cast<char>(b));
  }
  ds.num_samples = static_cast<std::int64_t>(text.size()) > t ? (static_cast<std::int64_t>(text.size()) - 1) / t : 0;
  if (ds.num_samples == 0)
    throw Error(source.text_path + ": " + std::to_string(text.size()) + " bytes make no window of block_size " +
                std::to_string(t) + " plus its next byte");
  const std::int64_t used = ds.num_samples * t + 1;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(used));
  for (std::int64_t i = 0; i < used; ++i) {
    ids[static_cast<std::size_t>(i)] = id[text[static_cast<std::size_t>(i)]];
    if (ids[static_cast<std::size_t>(i)] < 0)
      throw Error(source.text_path + ": byte " + std::to_string(text[static_cast<std::size_t>(i)]) + " at offset " +
                  std::to_string(i) + " is not in the vocabulary of " + vocab_file);
  }
  const std::size_t n = static_cast<std::size_t>(ds.num_samples * t);
  ds.inputs.resize(n * sizeof(std::int64_t));
  std::memcpy(ds.inputs.data(), ids.data(), n * sizeof(std::int64_t));
  if (with_targets) {
    ds.targets.resize(n * sizeof(std::int64_t));
    std::memcpy(ds.targets.data(), ids.data() + 1, n * sizeof(std::int64_t));
  }
}

// Int64 inputs index an Embedding's rows: out of range would read past its weight. `values` holds
// `samples` rows of `row` indices from `file`, each in [0, bound), `bound` being `what`.
void check_index_range(const std::vector<std::byte>& values, std::int64_t samples, std::int64_t row,
                       std::int64_t bound, const std::string& file, const std::string& what) {
  const auto* x = reinterpret_cast<const std::int64_t*>(values.data());
  for (std::int64_t i = 0; i < samples * row; ++i) {
    if (x[i] >= 0 && x[i] < bound) continue;
    throw Error(file + ": index " + std::to_string(x[i]) + " of sample " + std::to_string(i / row) + " (element " +
                std::to_string(i % row) + ") is not in [0, " + std::to_string(bound) + "), " + what);
  }
}

void check_indices(const Dataset& ds, const std::string& file, ClassTargets classes) {
  if (ds.input_dtype != DType::i64) return;
  check_index_range(ds.inputs, ds.num_samples, ds.input_row, classes.num_embeddings, file,
                    "the Embedding's num_embeddings");
}

// Only npy, csv and randn sources give a model with several inputs its other inputs.
void check_source_of_inputs(const DataSource& source, const std::vector<TensorRef>& others) {
  if (!others.empty() && source.kind != DataSourceKind::npy && source.kind != DataSourceKind::randn &&
      source.kind != DataSourceKind::csv && source.kind != DataSourceKind::none)
    throw Error(std::string("a model with several inputs reads them from npy files (one per input), a csv file's "
                            "columns or draws them (randn); the ") + data_source_kind_name(source.kind) + " source gives one");
}

// A model's inputs after the first, drawn (randn: after the first's, before the targets) or read
// from their npy files, which must hold as many samples as the first's.
void load_other_inputs(const DataSource& source, const std::vector<TensorRef>& others, Dataset& ds,
                       TorchGenerator& data_gen, const ClassTargets& classes) {
  if (others.empty()) return;
  if (source.kind == DataSourceKind::npy && source.other_x_paths.size() != others.size())
    throw Error("the npy data source needs a file for each of the model's " + std::to_string(others.size() + 1) +
                " inputs, got " + std::to_string(source.other_x_paths.size() + 1));
  for (std::size_t k = 0; k < others.size(); ++k) {
    const TensorRef& input = others[k];
    Dataset::OtherInput column;
    column.input = input;
    const std::vector<std::int64_t> shape = sample_shape(input);
    column.row = product(shape);
    if (source.kind == DataSourceKind::randn && input.dtype != DType::f32)
      throw Error("the randn data source draws floats, but the model's input " + std::string(input.name) + " is " +
                  (input.dtype == DType::u8 ? "bool (a mask): use an npy source with a bool file for it"
                                            : "int64 (Embedding indices): use an npy source with an int64 file for it"));
    if (source.kind == DataSourceKind::randn) {
      fill_randn(column.values, ds.num_samples * column.row, data_gen);
    } else {
      const std::string& path = source.other_x_paths[k];
      if (path.empty()) throw Error(std::string("the npy data source has no file for the model's input ") + input.name);
      const NpyArray x = read_npy(path);
      check_shape(path, x, shape, "x", input);
      if (x.shape[0] != ds.num_samples)
        throw Error(path + ": " + input.name + " has " + std::to_string(x.shape[0]) + " rows but " +
                    source.x_path + " has " + std::to_string(ds.num_samples));
      column.values = convert(path, x, input.dtype, "x");
      if (input.dtype == DType::i64)
        check_index_range(column.values, ds.num_samples, column.row,
                          k < classes.other_num_embeddings.size() ? classes.other_num_embeddings[k] : 0, path,
                          std::string("the num_embeddings of the Embedding that reads ") + input.name);
    }
    ds.other_inputs.push_back(std::move(column));
  }
}

}  // namespace

ClassTargets class_targets_of(const ModelDef& model, bool with_targets) {
  ClassTargets c{model.num_classes, model.ignore_index, with_targets && model.takes_targets, model.num_embeddings, {}};
  for (int k = 0; k < model.num_other_inputs; ++k)
    c.other_num_embeddings.push_back(model.other_num_embeddings ? model.other_num_embeddings[k] : 0);
  return c;
}

TorchGenerator randn_generator(std::int64_t seed, Split split) {
  return TorchGenerator(static_cast<std::uint64_t>(seed) * 4 + static_cast<std::uint64_t>(split));
}

std::vector<TensorRef> other_inputs_of(const ModelDef& model) {
  return std::vector<TensorRef>(model.other_inputs, model.other_inputs + model.num_other_inputs);
}

namespace {

// The per-sample shape of an npy file's rows: the model input's (check_shape names a file that does
// not fit), or with transforms that crop or resize (`cropped`) any of its rank whose dimensions
// before the last two are its (the transforms make the model input's height and width of them).
std::vector<std::int64_t> npy_sample_shape(const std::string& path, const NpyArray& x,
                                           const std::vector<std::int64_t>& model, bool cropped, const TensorRef& ref) {
  if (!cropped || model.size() < 2) return model;
  std::vector<std::int64_t> rows(x.shape.begin() + (x.shape.empty() ? 0 : 1), x.shape.end());
  if (rows.size() != model.size() || !std::equal(model.begin(), model.end() - 2, rows.begin())) {
    std::string want = "[N";
    for (std::size_t d = 0; d + 2 < model.size(); ++d) want += ", " + std::to_string(model[d]);
    throw Error(path + ": x has shape " + shape_text(x.shape) + ", expected " + want +
                ", H, W]: the transforms crop or resize the last two dimensions of the samples, the others are "
                "the model's " +
                ref.name + "'s " + shape_text(model));
  }
  return rows;
}

Dataset load_source(const DataSource& source, const TensorRef& input, const TensorRef& target, TorchGenerator& data_gen,
                    ClassTargets classes, const std::vector<TensorRef>& other_inputs) {
  check_source_of_inputs(source, other_inputs);
  Dataset ds;
  ds.input_dtype = input.dtype;
  ds.target_dtype = target.dtype;
  const std::vector<std::int64_t> x_shape = sample_shape(input);
  const std::vector<std::int64_t> y_shape = sample_shape(target);
  // The first input's samples as the source holds them: the model input's shape, or randn's
  // sample_shape, or where the transforms crop, an npy or idx file's own height and width.
  const bool cropped = transforms_set_size(source.transforms);
  ds.input_shape = source.kind == DataSourceKind::randn && !source.sample_shape.empty() ? source.sample_shape : x_shape;
  ds.input_row = product(ds.input_shape);
  ds.target_row = product(y_shape);
  ds.transforms = source.transforms;
  if (!ds.transforms.empty() && input.dtype != DType::f32)
    throw Error(std::string("transforms apply to float32 inputs, but the model's input ") + input.name + " is not");
  if (!classes.with_targets) {
    // Predict data: inputs only; the loader copies no targets.
    ds.target_row = 0;
    switch (source.kind) {
      case DataSourceKind::randn:
        if (input.dtype == DType::i64)
          throw Error("the randn data source draws floats, but the model's input " + std::string(input.name) +
                      " is int64 (Embedding indices): use an npy source with an int64 x file");
        ds.num_samples = source.num_samples;
        fill_randn(ds.inputs, ds.num_samples * ds.input_row, data_gen);
        load_other_inputs(source, other_inputs, ds, data_gen, classes);
        return ds;
      case DataSourceKind::npy: {
        if (source.x_path.empty()) throw Error("the npy data source needs an x file (--data.predict.x=PATH)");
        const NpyArray x = read_npy(source.x_path);
        ds.input_shape = npy_sample_shape(source.x_path, x, x_shape, cropped, input);
        ds.input_row = product(ds.input_shape);
        check_shape(source.x_path, x, ds.input_shape, "x", input);
        ds.num_samples = x.shape[0];
        ds.inputs = convert(source.x_path, x, input.dtype, "x");
        check_indices(ds, source.x_path, classes);
        load_other_inputs(source, other_inputs, ds, data_gen, classes);
        return ds;
      }
      case DataSourceKind::csv:
        return load_csv(source, input, target, std::move(ds), other_inputs, classes);
      case DataSourceKind::idx:
        if (source.images_path.empty()) throw Error("the idx data source needs an images file (--data.predict.images=PATH)");
        load_idx_images(source, input, x_shape, ds, cropped);
        return ds;
      case DataSourceKind::text:
        load_text(source, input, target, ds, false);
        check_indices(ds, source.text_path, classes);
        return ds;
      case DataSourceKind::none:
        throw Error("the spec has no predict data (data.predict)");
      case DataSourceKind::prompt:
        throw Error("internal: a prompt is generated from (ltrt/generate_text.hpp), not loaded as a data set");
    }
  }

  switch (source.kind) {
    case DataSourceKind::none:
      throw Error("the spec has no training data (data.train)");
    case DataSourceKind::randn: {
      if (input.dtype == DType::i64)
        throw Error("the randn data source draws floats, but the model's input " + std::string(input.name) +
                    " is int64 (Embedding indices): use an npy source with an int64 x file");
      if (input.dtype == DType::f32 && target.dtype == DType::i64 && classes.num_classes > 0) {
        ds.num_samples = source.num_samples;
        fill_randn(ds.inputs, ds.num_samples * ds.input_row, data_gen);
        load_other_inputs(source, other_inputs, ds, data_gen, classes);
        ds.targets.resize(static_cast<std::size_t>(ds.num_samples * ds.target_row) * sizeof(std::int64_t));
        auto* t = reinterpret_cast<std::int64_t*>(ds.targets.data());
        data_gen.randint(t, ds.num_samples * ds.target_row, classes.num_classes);
        return ds;
      }
      if (input.dtype != DType::f32 || target.dtype != DType::f32) {
        throw Error("the randn data source needs float32 inputs and targets (the model has " +
                    std::string(numpy_dtype(input.dtype)) + " / " + numpy_dtype(target.dtype) + ")");
      }
      if (source.num_samples < 0) throw Error("data.train.num_samples must not be negative");
      ds.num_samples = source.num_samples;
      // All inputs first, then all targets: X = randn(N, ...); y = randn(N, ...).
      fill_randn(ds.inputs, ds.num_samples * ds.input_row, data_gen);
      load_other_inputs(source, other_inputs, ds, data_gen, classes);
      fill_randn(ds.targets, ds.num_samples * ds.target_row, data_gen);
      return ds;
    }
    case DataSourceKind::npy: {
      if (source.x_path.empty() || source.y_path.empty()) {
        throw Error("the npy data source needs both x and y files (--data.train.x=PATH --data.train.y=PATH)");
      }
      const NpyArray x = read_npy(source.x_path);
      const NpyArray y = read_npy(source.y_path);
      ds.input_shape = npy_sample_shape(source.x_path, x, x_shape, cropped, input);
      ds.input_row = product(ds.input_shape);
      check_shape(source.x_path, x, ds.input_shape, "x", input);
      check_shape(source.y_path, y, y_shape, "y", target);
      if (x.shape[0] != y.shape[0]) {
        throw Error(source.y_path + ": y has " + std::to_string(y.shape[0]) + " rows but x (" + source.x_path +
                    ") has " + std::to_string(x.shape[0]));
      }
      ds.num_samples = x.shape[0];
      ds.inputs = convert(source.x_path, x, input.dtype, "x");
      ds.targets = convert(source.y_path, y, target.dtype, "y");
      check_classes(ds, source.y_path, classes);
      check_indices(ds, source.x_path, classes);
      load_other_inputs(source, other_inputs, ds, data_gen, classes);
      return ds;
    }
    case DataSourceKind::csv:
      if (source.csv_path.empty()) throw Error("the csv data source needs a file (--data.train.path=PATH)");
      ds = load_csv(source, input, target, std::move(ds), other_inputs, classes);
      check_classes(ds, source.csv_path, classes);
      return ds;
    case DataSourceKind::idx:
      if (source.images_path.empty() || source.labels_path.empty()) {
        throw Error("the idx data source needs both images and labels files "
                    "(--data.train.images=PATH --data.train.labels=PATH)");
      }
      load_idx_images(source, input, x_shape, ds, cropped);
      load_idx_labels(source, target, ds);
      check_classes(ds, source.labels_path, classes);
      return ds;
    case DataSourceKind::text:
      load_text(source, input, target, ds, true);
      check_indices(ds, source.text_path, classes);
      check_classes(ds, source.text_path, classes);
      return ds;
    case DataSourceKind::prompt:
      throw Error("internal: a prompt source is for predict only (ltgen refuses it elsewhere)");
  }
  throw Error("unknown data source kind");
}

}  // namespace

Dataset load_dataset(const DataSource& source, const TensorRef& input, const TensorRef& target,
                     TorchGenerator& data_gen, ClassTargets classes, const std::vector<TensorRef>& other_inputs) {
  Dataset ds = load_source(source, input, target, data_gen, classes, other_inputs);
  if (ds.transforms.empty()) return ds;
  // The transforms must make the model input's samples of the source's.
  const std::string where = source.kind == DataSourceKind::npy   ? source.x_path
                            : source.kind == DataSourceKind::idx ? source.images_path
                            : source.kind == DataSourceKind::csv ? source.csv_path
                                                                 : std::string("the randn source");
  std::vector<std::int64_t> made;
  try {
    made = transformed_shape(ds.transforms, ds.input_shape);
  } catch (const Error& e) {
    throw Error(where + ": samples of " + shape_text(ds.input_shape) + ": " + e.what());
  }
  if (made != sample_shape(input))
    throw Error(where + ": samples of " + shape_text(ds.input_shape) + " become " + shape_text(made) +
                " through the transforms, but the model's input " + input.name + " takes " +
                shape_text(sample_shape(input)) + ": crop them to its height and width");
  return ds;
}

}  // namespace ltrt
