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

for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  src="/usr/share/datasets/fashion-mnist/$f.gz"
  [[ -f "$src" ]] || { echo "prepare_data: $src is missing (dataset-fashion-mnist)" >&2; exit 1; }
  ln -sfn "$src" "data/fashion-mnist/$f.gz"
done
jargon=/usr/share/doc/jargon-text/jargon.txt.gz
[[ -f "$jargon" ]] || { echo "prepare_data: $jargon is missing (jargon-text)" >&2; exit 1; }
ln -sfn "$jargon" data/jargon.txt.gz
echo "prepare_data: data/digits/{train,val,test}.csv, data/fashion-mnist/*.gz, data/jargon.txt.gz ready"
