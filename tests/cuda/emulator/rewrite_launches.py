"""Rewrites a .cu file into C++ the host compiler takes: each kernel launch
`kernel<<<grid, block[, shared[, stream]]>>>(args)` becomes
`::ltgen_emu::launch(::ltgen_emu::LaunchConfig(grid, block, ...), kernel, "kernel")(args)`,
which the emulator's cuda_runtime.h defines, and each declaration of dynamic shared memory in a
kernel, `extern __shared__ [__align__(N)] T name[];`, becomes
`T* const name = static_cast<T*>(::ltgen_emu::dynamic_shared_memory());`, and each declaration of
static shared memory, `[alignas(N)] __shared__ T name[...]...;`, is followed on its line by
`::ltgen_emu::poison_static_shared(name, sizeof name);` (each block's first thread to get there
fills it with NaNs: nothing carries over from the block before, and nothing starts as zeros).
Nothing else changes, so line numbers stay.
Usage: rewrite_launches.py IN.cu OUT.cpp"""
import os
import re
import sys

LAUNCH = re.compile(r"([A-Za-z_][\w:]*(?:<[^<>;(){}]*>)?)\s*<<<(.*?)>>>\s*\(", re.S)
DYNAMIC_SHARED = re.compile(r"extern\s+(?:(?:alignas|__align__)\(\s*\d+\s*\)\s+)?__shared__\s+(?:(?:alignas|__align__)\(\s*\d+\s*\)\s+)?"
                            r"([A-Za-z_][\w:]*)\s+([A-Za-z_]\w*)\s*\[\s*\]\s*;")


STATIC_SHARED = re.compile(r"^(\s*(?:(?:alignas|__align__)\(\s*\d+\s*\)\s+)?__shared__\s+(?:(?:alignas|__align__)\(\s*\d+\s*\)\s+)?"
                           r"[A-Za-z_][\w:]*\s+([A-Za-z_]\w*)\s*(?:\[[^\]]+\])+\s*;)", re.M)


def rewrite(text):
    def launch(m):
        name, config = m.group(1), m.group(2)
        return f'::ltgen_emu::launch(::ltgen_emu::LaunchConfig({config}), {name}, "{name}")('
    out = LAUNCH.sub(launch, text)
    out = DYNAMIC_SHARED.sub(
        lambda m: f"{m.group(1)}* const {m.group(2)} = static_cast<{m.group(1)}*>(::ltgen_emu::dynamic_shared_memory());",
        out)
    out = STATIC_SHARED.sub(lambda m: f"{m.group(1)} ::ltgen_emu::poison_static_shared({m.group(2)}, sizeof {m.group(2)});",
                            out)
    unknown = re.search(r"extern\s[^;]*__shared__", out)
    if unknown:
        line = out.count("\n", 0, unknown.start()) + 1
        raise SystemExit(f"rewrite_launches.py: line {line}: an 'extern __shared__' declaration this script does not know")
    left = out.find("<<<")
    if left >= 0:
        line = out.count("\n", 0, left) + 1
        raise SystemExit(f"rewrite_launches.py: line {line}: a '<<<' that is not a kernel launch this script knows")
    return out


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        text = f.read()
    # The source's path relative to the output's folder: the text is then the same wherever the
    # checkout lies, which ccache needs to find it again from another clone.
    name = os.path.relpath(os.path.abspath(src), os.path.dirname(os.path.abspath(dst)))
    with open(dst, "w") as f:
        f.write(f'#line 1 "{name}"\n' + rewrite(text))


if __name__ == "__main__":
    main()
