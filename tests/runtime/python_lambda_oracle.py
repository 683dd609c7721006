#!/usr/bin/env python3
"""ltrt::PythonLambda (LambdaLR's lr_lambda) against Python itself.

Each lambda of LAMBDAS is evaluated by Python (eval of its text, with math) and by
python_lambda_driver at every x of XS: the same type (int or float), the same value bit for bit,
or an error on both sides (Python's exception name is in ltrt's message). Each text of
REFUSED must fail to parse in ltrt, with the phrase given. Exit status 1 on any difference.
"""
import argparse
import json
import math
import subprocess
import sys

XS = list(range(-7, 45))

LAMBDAS = [
    "lambda step: min(1.0, (step + 1) / 10)",
    "lambda e: 0.95 ** e",
    "lambda e: e // 4 * 3 - e % 5 + 7",
    "lambda e: e / 3 - e // 3.0 + e % 2.5 - (-e) // 1.5 + (-e) % 0.75",
    "lambda e: 2 ** e if e < 60 else 0",
    "lambda e: 2 ** -e + (-2) ** 3 - -e ** 2",
    "lambda e: 2 ** 3 ** 2 + e ** 0 + 0 ** e",
    "lambda e: 1 / e",
    "lambda e: 1 // (e - 3) + 1 % (e - 4)",
    "lambda e: 1.5 // (e - 3) + 1.5 % (e - 4)",
    "lambda e: 0.0 ** (e - 5)",
    "lambda e: (e - 9.5) ** 0.5",
    "lambda e: (e - 10) ** 0.5 if e != 10 else 0",
    "lambda e: math.sqrt(e - 2)",
    "lambda e: math.log(e) + math.log(e + 8, 2) + math.log2(e + 8) + math.log10(e + 8)",
    "lambda e: math.exp(e * 30)",
    "lambda e: math.cosh(e * 30) + math.sinh(-e) + math.tanh(e)",
    "lambda e: math.acos(e / 10) + math.asin(e / 20) + math.atan(e)",
    "lambda e: math.cos(e) * math.sin(e / 3) + math.tan(e * 0.1) + math.fabs(-e)",
    "lambda e: math.floor(e / 3) + math.ceil(e / 3) + math.floor(e) + int(e / 4) + int(-e / 4.0) + round(e / 2) + round(e)",
    "lambda e: round(e * 0.5 + 0.5) - round(-2.5) + abs(e) + abs(-1.5 * e) + float(e)",
    "lambda e: math.pow(2, e) + pow(e, 2) + pow(2.0, -e) + math.radians(e) + math.degrees(e / 10)",
    "lambda e: math.pi * e + math.e - math.tau / (e * e + 1) + (e > math.inf) + (e < math.inf)",
    "lambda e: max(e, 3) + min(e, 3.0) + max(2, 2.0) + min(2.0, 2) + max(-e, e / 2, 1)",
    "lambda e: (e < 5) + (e <= 5) * 2 + (e == 5) * 4 + (e != 5) * 8 + (e > 5) * 16 + (e >= 5) * 32",
    "lambda e: 1 < e < 5 or e == 20",
    "lambda e: e and 3 or 4.5",
    "lambda e: not e % 3",
    "lambda e: (e if e > 2 else -e) if e % 2 else 0.5 if e < 10 else 1.5",
    "lambda e: e == 3.0 and 7 or e == 4 and 8.0",
    "lambda e: 1_000 * e + 1e3 + .5 + 5. + 1.5e-2 + 2E+1",
    "lambda e: 0.1 + 0.2 * e - 0.3 / (e + 8) + e * 1e308",
    "lambda e: 10.0 ** (e * 20)",
    "lambda e: 3 * e - 2 ** 62 * 4 if e > 40 else e",
    "lambda e: math.floor(1e300 * e) if e > 30 else 0",
    "lambda e: int(math.inf * e) if e < 0 else 0",
    "lambda  epoch  :  ( epoch+1 )/( 10 )",
]

REFUSED = [
    ("def f(e): return e", "expected `lambda"),
    ("lambda: 1.0", "parameter name"),
    ("lambda a, b: a", "one parameter"),
    ("lambda e: e +", "ends early"),
    ("lambda e: foo(e)", "unknown function foo()"),
    ("lambda e: x + 1", "unknown name 'x'"),
    ("lambda e: math.gamma(e)", "unknown function math.gamma()"),
    ("lambda e: (e + 1", "expected ')'"),
    ("lambda e: e if e > 1", "expected 'else'"),
    ("lambda e: 012", "leading zeros"),
    ("lambda e: 1__0", "underscores"),
    ("lambda e: e[0]", "unexpected '['"),
    ("lambda e: 99999999999999999999", "past 64 bits"),
]


def python_values(text):
    f = eval(text, {"math": math})
    out = []
    for x in XS:
        try:
            v = f(x)
        except (ArithmeticError, ValueError) as err:
            out.append(("error", type(err).__name__))
            continue
        if isinstance(v, complex):
            out.append(("error", "complex"))
        elif isinstance(v, (bool, int)):
            out.append(("int", int(v)) if -2**63 <= v < 2**63 else ("error", "big int"))
        else:
            out.append(("float", v))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    opts = ap.parse_args()
    proc = subprocess.run([opts.driver], input=json.dumps({"lambdas": LAMBDAS + [t for t, _ in REFUSED], "xs": XS}),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        return 1
    got = json.loads(proc.stdout)
    bad = 0
    compared = 0
    for text, row in zip(LAMBDAS, got[:len(LAMBDAS)]):
        if "parse_error" in row:
            print(f"{text}: ltrt refuses it: {row['parse_error']}")
            bad += 1
            continue
        for x, want, have in zip(XS, python_values(text), row["values"]):
            compared += 1
            kind, value = want
            if kind == "error":
                ok = "error" in have and (value in ("complex", "big int") or value in have["error"])
                if value == "complex":
                    ok = ok and "complex" in have["error"]
                if value == "big int":
                    ok = ok and "64 bits" in have["error"]
            elif kind == "int":
                ok = have.get("int") == value
            else:
                h = have.get("float")
                h = float(h) if isinstance(h, str) else h
                ok = h is not None and (h == value or (math.isnan(h) and math.isnan(value))) and \
                    math.copysign(1, h) == math.copysign(1, value)
            if not ok:
                print(f"{text} at {x}: Python {kind} {value!r}, ltrt {have}")
                bad += 1
    for (text, phrase), row in zip(REFUSED, got[len(LAMBDAS):]):
        if phrase not in row.get("parse_error", ""):
            print(f"{text}: expected a parse error with {phrase!r}, got {row}")
            bad += 1
    print(f"{len(LAMBDAS)} lambdas x {len(XS)} values ({compared} compared) and {len(REFUSED)} refused texts: "
          f"{bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
