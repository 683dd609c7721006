// Lightning's TensorBoardLogger: TFRecord event files, protobuf encoded by hand.
//
// Field numbers (tensorboard/compat/proto/event.proto, summary.proto,
// tensorboard/plugins/hparams/{api,plugin_data}.proto, google/protobuf/struct.proto):
//   Event:            wall_time 1 (double), step 2 (int64), file_version 3 (string),
//                     summary 5 (Summary), source_metadata 10 (SourceMetadata)
//   SourceMetadata:   writer 1 (string)
//   Summary:          value 1 (repeated Value)
//   Summary.Value:    tag 1 (string), simple_value 2 (float), metadata 9 (SummaryMetadata)
//   SummaryMetadata:  plugin_data 1 (PluginData{plugin_name 1, content 2 (bytes)})
//   HParamsPluginData: version 1 (int32), experiment 2, session_start_info 3, session_end_info 4
//   Experiment:       hparam_infos 4 (HParamInfo{name 1, type 4 (enum)}),
//                     metric_infos 5 (MetricInfo{name 1 (MetricName{group 1, tag 2})})
//   SessionStartInfo: hparams 1 (map<string, google.protobuf.Value>: entry{key 1, value 2})
//   google.protobuf.Value: number_value 2 (double), string_value 3 (string), bool_value 4
//   SessionEndInfo:   status 1 (enum; STATUS_SUCCESS = 1)
//   hparams DataType: DATA_TYPE_STRING = 1, DATA_TYPE_BOOL = 2, DATA_TYPE_FLOAT64 = 3
// Fields are written in field-number order, defaults of plain proto3 fields
// omitted, oneof members always written: what protobuf's serializer does.
#include "ltrt/tensorboard_logger.hpp"

#include "ltrt/crc32c.hpp"
#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/hparams_yaml.hpp"
#include "ltrt/python_repr.hpp"

#include <atomic>
#include <utility>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace ltrt {

namespace {

constexpr std::size_t kBufferBytes = 64 * 1024;
constexpr std::size_t kRecordOverhead = 8 + 4 + 4;

// Wire types.
constexpr unsigned kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5;

// ---- writing into a preallocated span (the allocation-free scalar path) -----

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

char* put_varint(char* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

char* put_key(char* p, unsigned field, unsigned wire) { return put_varint(p, (field << 3) | wire); }

char* put_le(char* p, std::uint64_t v, int bytes) {
  for (int k = 0; k < bytes; ++k) *p++ = static_cast<char>((v >> (8 * k)) & 0xFF);
  return p;
}

char* put_double(char* p, double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return put_le(p, bits, 8);
}

char* put_float(char* p, float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return put_le(p, bits, 4);
}

char* put_bytes(char* p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// Field keys below are all one byte (field numbers < 16).
std::size_t len_field_size(std::size_t n) { return 1 + varint_size(n) + n; }

// Sizes of the scalar Event's parts.
struct ScalarSizes {
  std::size_t value, summary, event;
};

ScalarSizes scalar_sizes(std::int64_t step, std::string_view tag) {
  ScalarSizes s{};
  s.value = len_field_size(tag.size()) + 1 + 4;  // tag, simple_value
  s.summary = len_field_size(s.value);
  s.event = 1 + 8 + (step != 0 ? 1 + varint_size(static_cast<std::uint64_t>(step)) : 0) +
            len_field_size(s.summary);
  return s;
}

char* put_scalar_event(char* p, const ScalarSizes& s, double wall_time, std::int64_t step,
                       std::string_view tag, float value) {
  p = put_key(p, 1, kFixed64);
  p = put_double(p, wall_time);
  if (step != 0) {
    p = put_key(p, 2, kVarint);
    p = put_varint(p, static_cast<std::uint64_t>(step));  // int64: negative as 10 bytes
  }
  p = put_key(p, 5, kLen);  // Event.summary
  p = put_varint(p, s.summary);
  p = put_key(p, 1, kLen);  // Summary.value
  p = put_varint(p, s.value);
  p = put_key(p, 1, kLen);  // Value.tag
  p = put_varint(p, tag.size());
  p = put_bytes(p, tag);
  p = put_key(p, 2, kFixed32);  // Value.simple_value
  return put_float(p, value);
}

// Frames the data_size bytes at rec + 12 (already written) as a TFRecord.
void frame_record(char* rec, std::size_t data_size) {
  char* p = put_le(rec, data_size, 8);
  p = put_le(p, mask_crc32c(crc32c(rec, 8)), 4);
  p += data_size;
  put_le(p, mask_crc32c(crc32c(rec + 12, data_size)), 4);
}

// ---- building messages in strings (hparams: once per run, may allocate) ----

void add_key(std::string& out, unsigned field, unsigned wire) {
  char tmp[10];
  out.append(tmp, put_key(tmp, field, wire));
}

void add_varint_field(std::string& out, unsigned field, std::uint64_t v) {
  char tmp[10];
  add_key(out, field, kVarint);
  out.append(tmp, put_varint(tmp, v));
}

void add_double_field(std::string& out, unsigned field, double d) {
  char tmp[8];
  add_key(out, field, kFixed64);
  out.append(tmp, put_double(tmp, d));
}

void add_len_field(std::string& out, unsigned field, std::string_view bytes) {
  char tmp[10];
  add_key(out, field, kLen);
  out.append(tmp, put_varint(tmp, bytes.size()));
  out.append(bytes.data(), bytes.size());
}

// A Summary holding one Value{tag, metadata{plugin_data{"hparams", content}}}.
std::string hparams_summary(std::string_view tag, std::string_view plugin_data) {
  std::string plugin;
  add_len_field(plugin, 1, "hparams");
  add_len_field(plugin, 2, plugin_data);
  std::string metadata;
  add_len_field(metadata, 1, plugin);
  std::string value;
  add_len_field(value, 1, tag);
  add_len_field(value, 9, metadata);
  std::string summary;
  add_len_field(summary, 1, value);
  return summary;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
#if defined(__unix__) || defined(__APPLE__)
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') return name;
#endif
  return "localhost";
}

long process_id() {
#if defined(__unix__) || defined(__APPLE__)
  return static_cast<long>(getpid());
#else
  return 0;
#endif
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string python_quote(const std::string& s) {
  // repr(str): single quotes unless the text has ' and no ".
  const char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  static const char* hex = "0123456789abcdef";
  std::string out(1, q);
  for (std::size_t k = 0; k < s.size(); ++k) {
    const auto c = static_cast<unsigned char>(s[k]);
    if (c == '\\' || c == static_cast<unsigned char>(q)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else if (c == 0xC2 && k + 1 < s.size() && static_cast<unsigned char>(s[k + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[k + 1]) <= 0xA0) {
      // U+0080..U+00A0 are not printable in Python: \x80 .. \xa0.
      const auto d = static_cast<unsigned char>(s[++k]);
      out += "\\x";
      out += hex[d >> 4];
      out += hex[d & 15];
    } else {
      out += static_cast<char>(c);  // other UTF-8 kept as is
    }
  }
  return out + q;
}

void flatten_into(const json::Value& obj, const std::string& prefix,
                  std::vector<std::pair<std::string, json::Value>>& out) {
  for (const auto& [key, value] : obj.members) {
    const std::string name = prefix.empty() ? key : prefix + "/" + key;
    if (value.is_object()) {
      flatten_into(value, name, out);
      continue;
    }
    json::Value leaf = value;
    if (!value.is_bool() && !value.is_number() && !value.is_string()) {
      leaf = json::Value::make_string(tfevents::python_str(value));  // _sanitize_params: str(v)
    }
    // {**result, **nested}: a later duplicate replaces the value, keeps the place.
    bool replaced = false;
    for (auto& entry : out) {
      if (entry.first == name) {
        entry.second = std::move(leaf);
        replaced = true;
        break;
      }
    }
    if (!replaced) out.emplace_back(name, std::move(leaf));
  }
}

}  // namespace

// ---- tfevents ----------------------------------------------------------------

namespace tfevents {

void append_record(std::string& out, std::string_view data) {
  const std::size_t start = out.size();
  out.resize(start + kRecordOverhead + data.size());
  char* rec = &out[start];
  put_bytes(rec + 12, data);
  frame_record(rec, data.size());
}

std::string file_version_event(double wall_time) {
  std::string e;
  add_double_field(e, 1, wall_time);
  add_len_field(e, 3, "brain.Event:2");
  std::string source;
  add_len_field(source, 1, "ltrt");
  add_len_field(e, 10, source);
  return e;
}

std::string scalar_event(double wall_time, std::int64_t step, std::string_view tag, float value) {
  const ScalarSizes s = scalar_sizes(step, tag);
  std::string e(s.event, '\0');
  put_scalar_event(&e[0], s, wall_time, step, tag, value);
  return e;
}

std::string summary_event(double wall_time, std::int64_t step, std::string_view summary) {
  std::string e;
  add_double_field(e, 1, wall_time);
  if (step != 0) add_varint_field(e, 2, static_cast<std::uint64_t>(step));
  add_len_field(e, 5, summary);
  return e;
}

void append_scalar_record(std::string& out, double wall_time, std::int64_t step, std::string_view tag,
                          float value) {
  const ScalarSizes s = scalar_sizes(step, tag);
  const std::size_t start = out.size();
  out.resize(start + kRecordOverhead + s.event);
  char* rec = &out[start];
  put_scalar_event(rec + 12, s, wall_time, step, tag, value);
  frame_record(rec, s.event);
}

std::vector<std::pair<std::string, json::Value>> flatten_hparams(const json::Value& hparams) {
  if (!hparams.is_object()) {
    throw Error(std::string("TensorBoardLogger: hparams must be a JSON object, not ") +
                json::kind_name(hparams.kind));
  }
  std::vector<std::pair<std::string, json::Value>> out;
  flatten_into(hparams, "", out);
  return out;
}

std::string python_str(const json::Value& v) {
  switch (v.kind) {
    case json::Kind::null:
      return "None";
    case json::Kind::boolean:
      return v.b ? "True" : "False";
    case json::Kind::number:
      return v.is_integer ? std::to_string(v.integer) : python_repr(v.num);
    case json::Kind::string:
      return python_quote(v.str);
    case json::Kind::array: {
      std::string out = "[";
      for (std::size_t k = 0; k < v.items.size(); ++k) {
        if (k > 0) out += ", ";
        out += python_str(v.items[k]);
      }
      return out + "]";
    }
    case json::Kind::object: {
      std::string out = "{";
      for (std::size_t k = 0; k < v.members.size(); ++k) {
        if (k > 0) out += ", ";
        out += python_quote(v.members[k].first) + ": " + python_str(v.members[k].second);
      }
      return out + "}";
    }
  }
  return "";
}

HParamsSummaries hparams_summaries(const json::Value& hparams, const std::vector<std::string>& metric_names) {
  constexpr unsigned kString = 1, kFloat64 = 3, kStatusSuccess = 1;
  std::string experiment, start_info;
  for (const auto& [name, value] : flatten_hparams(hparams)) {
    std::string pb_value;  // google.protobuf.Value
    if (value.is_string()) {
      add_len_field(pb_value, 3, value.str);
    } else {  // int, float, bool: number_value
      const double d = value.is_bool() ? (value.b ? 1.0 : 0.0)
                       : value.is_integer ? static_cast<double>(value.integer)
                                          : value.num;
      add_double_field(pb_value, 2, d);
    }
    std::string entry;  // map entry
    add_len_field(entry, 1, name);
    add_len_field(entry, 2, pb_value);
    add_len_field(start_info, 1, entry);

    std::string info;  // HParamInfo
    add_len_field(info, 1, name);
    add_varint_field(info, 4, value.is_string() ? kString : kFloat64);
    add_len_field(experiment, 4, info);
  }
  for (const std::string& metric : metric_names) {
    std::string metric_name;  // MetricName{tag}
    add_len_field(metric_name, 2, metric);
    std::string info;  // MetricInfo{name}
    add_len_field(info, 1, metric_name);
    add_len_field(experiment, 5, info);
  }
  std::string end_info;
  add_varint_field(end_info, 1, kStatusSuccess);

  // HParamsPluginData{version 0 (omitted), one of experiment / session_*_info}.
  HParamsSummaries out;
  std::string data;
  add_len_field(data, 2, experiment);
  out.experiment = hparams_summary("_hparams_/experiment", data);
  data.clear();
  add_len_field(data, 3, start_info);
  out.session_start_info = hparams_summary("_hparams_/session_start_info", data);
  data.clear();
  add_len_field(data, 4, end_info);
  out.session_end_info = hparams_summary("_hparams_/session_end_info", data);
  return out;
}

}  // namespace tfevents

// ---- TensorBoardLogger -------------------------------------------------------

TensorBoardLogger::TensorBoardLogger(const std::string& log_dir, bool default_hp_metric, std::string prefix)
    : log_dir_(log_dir), default_hp_metric_(default_hp_metric), prefix_(std::move(prefix)) {
  static std::atomic<int> files_opened{0};  // tensorboard's _global_uid
  make_dirs(log_dir_);
  const double wall_time = now_seconds();
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%010lld", static_cast<long long>(wall_time));
  path_ = join_path(log_dir_, std::string("events.out.tfevents.") + stamp + "." + host_name() + "." +
                                  std::to_string(process_id()) + "." + std::to_string(files_opened++));
  file_ = std::fopen(path_.c_str(), "wb");
  if (file_ == nullptr) throw Error(path_ + ": cannot open: " + std::strerror(errno));
  std::setvbuf(file_, nullptr, _IONBF, 0);  // buf_ is the buffer
  buf_.reserve(kBufferBytes);
  tfevents::append_record(buf_, tfevents::file_version_event(wall_time));
  try {
    flush();
  } catch (...) {
    std::fclose(file_);
    throw;
  }
}

TensorBoardLogger::~TensorBoardLogger() {
  try {
    flush();
  } catch (...) {  // a destructor must not throw; call flush() to see errors
  }
  std::fclose(file_);
}

void TensorBoardLogger::log_scalars(const std::vector<std::pair<std::string, double>>& metrics,
                                    std::int64_t step) {
  const double wall_time = now_seconds();
  for (const auto& [tag, value] : metrics) {
    const std::size_t need = kRecordOverhead + scalar_sizes(step, tag).event;
    if (buf_.size() + need > buf_.capacity()) flush();
    tfevents::append_scalar_record(buf_, wall_time, step, tag, static_cast<float>(value));
  }
}

void TensorBoardLogger::log_hparams(const json::Value& hparams,
                                    const std::vector<std::pair<std::string, double>>& metrics) {
  const tfevents::HParamsSummaries summaries = [&] {
    std::vector<std::string> names;
    if (metrics.empty() && default_hp_metric_) names.push_back("hp_metric");
    for (const auto& m : metrics) names.push_back(m.first);
    return tfevents::hparams_summaries(hparams, names);  // checks hparams first
  }();
  const std::string yaml_path = join_path(log_dir_, "hparams.yaml");
  if (!exists(yaml_path)) write_hparams_yaml(yaml_path, hparams);

  if (metrics.empty() && !default_hp_metric_) return;  // Lightning: `if metrics:`
  // log_metrics(metrics, 0), which adds the prefix to the scalars (not to the hparams plugin's names)
  std::vector<std::pair<std::string, double>> scalars = metrics;
  if (scalars.empty()) scalars.push_back({"hp_metric", -1.0});
  if (!prefix_.empty())
    for (auto& [tag, value] : scalars) tag = prefix_ + "-" + tag;
  log_scalars(scalars, 0);
  const double wall_time = now_seconds();
  for (const std::string* s :
       {&summaries.experiment, &summaries.session_start_info, &summaries.session_end_info}) {
    tfevents::append_record(buf_, tfevents::summary_event(wall_time, 0, *s));
  }
  flush();
}

void TensorBoardLogger::flush() {
  if (buf_.empty()) return;
  const std::size_t n = std::fwrite(buf_.data(), 1, buf_.size(), file_);
  if (n != buf_.size() || std::fflush(file_) != 0) {
    const int err = errno;
    buf_.erase(0, n);  // keep what was not written; a later flush retries it
    throw Error(path_ + ": write error: " + std::strerror(err));
  }
  buf_.clear();
}

}  // namespace ltrt
