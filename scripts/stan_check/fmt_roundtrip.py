#!/usr/bin/env python3
"""Check that `refinestat fmt` keeps every comment and is idempotent over whole Stan corpora.

The user fetches the corpora (nothing here downloads anything), as for corpus_check.py:

    git clone https://github.com/stan-dev/posteriordb
    git clone https://github.com/stan-dev/example-models
    python3 scripts/stan_check/fmt_roundtrip.py --refinestat target/release/refinestat \
        posteriordb example-models

For every `.stan` file below the given directories: `fmt` succeeds (the program parses), the
formatted text has the same comments in the same order (found as the language crate finds them:
`//` to the end of the line, `/* ... */`, not inside string literals), `fmt --check` on the
formatted text exits 0 (idempotent), and `fmt --canonical` of the original and of the formatted
text are equal (formatting changed no statement). Prints the counts and every failure.
Standard library only.
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile


def comments(src: str) -> list[str]:
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c == '"':
            i += 1
            while i < n and src[i] not in '"\n':
                i += 1
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(src[i:j].rstrip())
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(src[i:j].rstrip())
            i = j
        else:
            i += 1
    return out


def fmt(binary: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "fmt", *args], capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refinestat", default="target/release/refinestat")
    parser.add_argument("dirs", nargs="+", type=pathlib.Path)
    args = parser.parse_args()
    files = sorted(p for d in args.dirs for p in d.rglob("*.stan"))
    counts = {"ok": 0, "does not parse": 0, "failed": 0}
    with_comments = 0
    with tempfile.TemporaryDirectory() as tmp:
        formatted = pathlib.Path(tmp) / "formatted.stan"
        for path in files:
            src = path.read_text(errors="replace")
            once = fmt(args.refinestat, str(path))
            if once.returncode != 0:
                counts["does not parse"] += 1
                print(f"does not parse: {path}")
                continue
            formatted.write_text(once.stdout)
            problems = []
            if comments(once.stdout) != comments(src):
                problems.append("comments changed")
            if fmt(args.refinestat, "--check", str(formatted)).returncode != 0:
                problems.append("not idempotent")
            if fmt(args.refinestat, "--canonical", str(path)).stdout != fmt(
                    args.refinestat, "--canonical", str(formatted)).stdout:
                problems.append("canonical form changed")
            with_comments += bool(comments(src))
            if problems:
                counts["failed"] += 1
                print(f"FAILED {path}: {', '.join(problems)}")
            else:
                counts["ok"] += 1
    print(f"{len(files)} programs ({with_comments} of the parsed ones with comments): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    sys.exit(1 if counts["failed"] else 0)


if __name__ == "__main__":
    main()
