"""specs/schema.json is what `ltgen --schema` prints, and it agrees with ltgen's reader:
every spec ltgen accepts validates, specs with unknown keys fail both, and every optimizer
argument the schema lists is accepted by ltgen."""
import copy
import glob
import json
import os
import subprocess
import sys
import tempfile

import jsonschema

ltgen, root = sys.argv[1], sys.argv[2]
failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


def ltgen_accepts(spec_path):
    r = subprocess.run([ltgen, spec_path, "--summary"], capture_output=True, text=True)
    return r.returncode == 0, r.stderr


printed = subprocess.run([ltgen, "--schema"], capture_output=True, text=True, check=True).stdout
with open(os.path.join(root, "specs", "schema.json")) as f:
    committed = f.read()
check(printed == committed, "specs/schema.json is stale: run `build/ltgen --schema > specs/schema.json`")
schema = json.loads(printed)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)

# Every spec ltgen accepts in the repository validates.
specs = [p for p in glob.glob(os.path.join(root, "specs", "*.json")) if not p.endswith("schema.json")]
specs += glob.glob(os.path.join(root, "tests", "*", "*specs", "*.json"))
for path in sorted(specs):
    if "bad_specs" in path:
        continue
    with open(path) as f:
        spec = json.load(f)
    errors = [e.message for e in validator.iter_errors(spec)]
    check(not errors, f"{os.path.relpath(path, root)} does not validate: {errors[:2]}")
    if path.startswith(os.path.join(root, "specs")):
        check(spec.get("$schema") == "schema.json", f"{os.path.relpath(path, root)} does not name schema.json")

# Bad specs whose mistake is an unknown key or an unknown type fail the schema too.
for path in sorted(glob.glob(os.path.join(root, "tests", "generator", "bad_specs", "*.json"))):
    with open(path.replace(".json", ".expect")) as f:
        expected = f.read()
    if "unknown key" not in expected and "unknown layer type" not in expected:
        continue
    with open(path) as f:
        spec = json.load(f)
    check(not validator.is_valid(spec), f"{os.path.relpath(path, root)} is a bad spec the schema accepts")

# Every optimizer argument the schema names is one ltgen reads.
with open(os.path.join(root, "specs", "linear.json")) as f:
    base = json.load(f)
values = {"number": 0.5, "integer": 3, "boolean": False, "array": [0.9, 0.99]}
# Arguments whose example is not their type's: a list of groups.
examples = {"param_groups": [{"params": ["*.bias"], "weight_decay": 0.0, "name": "no_decay"}, {"params": "*"}],
            "etas": [0.5, 1.2], "step_sizes": [1e-6, 50.0], "line_search_fn": "strong_wolfe", "max_eval": 4}
# Optimizers without a weight decay: their groups name an lr instead.
examples_for = {"Rprop": {"param_groups": [{"params": ["*.bias"], "lr": 0.01, "name": "biases"}, {"params": "*"}]}}
for alternative in schema["properties"]["optimizer"]["oneOf"]:
    kind = alternative["properties"]["type"]["const"]
    for arg, prop in alternative["properties"].items():
        if arg == "type":
            continue
        spec = copy.deepcopy(base)
        example = examples_for.get(kind, {}).get(arg, examples[arg] if arg in examples else values[prop["type"]])
        spec["optimizer"] = {"type": kind, arg: example}
        if kind == "SGD" and arg != "lr":
            spec["optimizer"]["lr"] = 0.1
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(spec, f)
        ok, err = ltgen_accepts(f.name)
        os.unlink(f.name)
        check(ok, f"the schema lists optimizer {kind}.{arg} but ltgen refuses it: {err.strip()}")
        check(validator.is_valid(spec), f"{kind}.{arg}: the schema refuses its own argument")

for m in failures:
    print("FAILED:", m)
print(f"schema: {len(specs)} specs checked, {len(failures)} failures")
sys.exit(1 if failures else 0)
