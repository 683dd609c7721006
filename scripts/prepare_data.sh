#!/usr/bin/env bash
# Prepares the real data sets of the example specs (digits, Fashion-MNIST, The Jargon File), offline, from
# Debian's packages (nothing is downloaded at run time, nothing large lands in git):
#   - python3-sklearn ships scikit-learn's 8x8 digits (digits.csv.gz: 1797 rows, 64 pixels 0..16
#     and the label); they become data/digits/{train,val,test}.csv (pixels / 16 in p0..p63, then
#     `label`), a fixed seeded split: the indices 0..1796 shuffled by Python's random.Random(0),
#     the first 360 are test, the next 180 validation, the other 1257 training (deterministic:
#     random.shuffle has drawn the same permutation for a given seed since Python 3.2).
#   - jargon-text ships The Jargon File (about 1.7 MB of English text, gzipped); data/jargon.txt.gz
#     links to it for the character models (specs/gpt.json, specs/gpt_char.json).
#   - dataset-fashion-mnist ships Fashion-MNIST's IDX files gzipped in
#     /usr/share/datasets/fashion-mnist; data/fashion-mnist/ links to them (the idx source reads .gz).
# Installs the two packages when they are missing (as root, or with sudo). Idempotent.
# data/ is in .gitignore; with LTGEN_DATA=DIR the files go to DIR and data/ links to it.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3-sklearn dataset-fashion-mnist jargon-text)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "prepare_data: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" \
    > /tmp/ltgen-apt-data.log 2>&1 || { tail -20 /tmp/ltgen-apt-data.log; exit 1; }
fi

if [[ -n "${LTGEN_DATA:-}" ]]; then
  mkdir -p "$LTGEN_DATA"
  if [[ ! -e data ]]; then
    ln -s "$(cd "$LTGEN_DATA" && pwd)" data
  elif [[ "$(cd data && pwd -P)" != "$(cd "$LTGEN_DATA" && pwd -P)" ]]; then
    echo "prepare_data: data/ exists and is not LTGEN_DATA ($LTGEN_DATA); remove it first" >&2
    exit 1
  fi
fi
mkdir -p data/digits data/fashion-mnist

digits=$(dpkg -L python3-sklearn | grep '/sklearn/datasets/data/digits\.csv\.gz$' | head -1)
[[ -f "$digits" ]] || { echo "prepare_data: python3-sklearn ships no digits.csv.gz" >&2; exit 1; }
if [[ ! -f data/digits/test.csv || "$digits" -nt data/digits/test.csv || "$0" -nt data/digits/test.csv ]]; then
  # Python's standard library only (no numpy, no sklearn import): any python3 will do.
  python3 - "$digits" data/digits <<'PY'
import csv, gzip, os, random, sys
src, out = sys.argv[1], sys.argv[2]
with gzip.open(src, "rt") as f:
    rows = [r for r in csv.reader(f) if r]
assert len(rows) == 1797 and all(len(r) == 65 for r in rows), f"{src}: unexpected layout"
header = [f"p{i}" for i in range(64)] + ["label"]
order = list(range(len(rows)))
random.Random(0).shuffle(order)
split = {i: ("test" if k < 360 else "val" if k < 540 else "train") for k, i in enumerate(order)}
# Written in the files' original order (the split decides only which file a sample lands in);
# test.csv last, so that its presence means all three are complete.
for name in ("train", "val", "test"):
    keep = lambda i: split[i] == name
    tmp = os.path.join(out, name + ".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for i, r in enumerate(rows):
            if keep(i):
                w.writerow([repr(int(v) / 16) for v in r[:64]] + [int(r[64])])
    os.replace(tmp, os.path.join(out, name + ".csv"))
PY
fi

# The digits as a segmentation task (specs/segment_digits.json): each image (1, 8, 8) in
# data/digit_masks/<split>_x.npy and a label per pixel (8, 8) in <split>_y.npy, 0 for the background
# (below 4/16) and the digit plus 1 for its strokes (11 classes), written from the CSVs above.
if [[ ! -f data/digit_masks/test_y.npy || data/digits/test.csv -nt data/digit_masks/test_y.npy ||
      "$0" -nt data/digit_masks/test_y.npy ]]; then
  mkdir -p data/digit_masks
  python3 - data/digits data/digit_masks <<'PY'
import array, csv, os, sys
src, out = sys.argv[1], sys.argv[2]

def save_npy(path, descr, shape, values, code):
    # NPY format 1.0: magic, version, a little-endian header length, the header padded to 64 bytes.
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join(f"{d}, " for d in shape))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    data = array.array(code, values)
    if sys.byteorder != "little":
        data.byteswap()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1"))
        f.write(data.tobytes())
    os.replace(tmp, path)

for name in ("train", "val", "test"):  # test last: its presence means all three are complete
    with open(os.path.join(src, name + ".csv")) as f:
        rows = list(csv.reader(f))[1:]
    pixels = [float(v) for r in rows for v in r[:64]]
    labels = [int(r[64]) + 1 if float(v) >= 0.25 else 0 for r in rows for v in r[:64]]
    save_npy(os.path.join(out, name + "_x.npy"), "<f4", (len(rows), 1, 8, 8), pixels, "f")
    save_npy(os.path.join(out, name + "_y.npy"), "<i8", (len(rows), 8, 8), labels, "q")
PY
fi

for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  src="/usr/share/datasets/fashion-mnist/$f.gz"
  [[ -f "$src" ]] || { echo "prepare_data: $src is missing (dataset-fashion-mnist)" >&2; exit 1; }
  ln -sfn "$src" "data/fashion-mnist/$f.gz"
done
jargon=/usr/share/doc/jargon-text/jargon.txt.gz
[[ -f "$jargon" ]] || { echo "prepare_data: $jargon is missing (jargon-text)" >&2; exit 1; }
ln -sfn "$jargon" data/jargon.txt.gz
echo "prepare_data: data/digits/{train,val,test}.csv, data/digit_masks/*.npy, data/fashion-mnist/*.gz, data/jargon.txt.gz ready"
