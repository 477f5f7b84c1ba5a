"""Does llama.cpp's server apply our statement grammar as we send it? (run.sh calls this.)

Sends COUNT completion requests after the eight_schools data block without stop texts, once with
`grammar` = crates/synthesis/src/grammar/statement.gbnf (the text the openai client sends) and once
without, and counts the replies that are one step of a program or a prefix of one: no `;`, `{`
or `}` before the last character (the grammar allows one step, ending in one of them). Exits 1
when a grammar reply breaks that or the server answers with an error.

    python probe.py URL MODEL [COUNT]      # URL like http://127.0.0.1:8089/v1
"""

import json
import pathlib
import sys
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
GBNF = (ROOT / "crates/synthesis/src/grammar/statement.gbnf").read_text()
PROMPT = (
    "data {\n  int<lower=0> J;\n  vector<lower=0>[J] sigma;\n  vector[J] y;\n}\n"
)


def complete(url, model, seed, grammar):
    body = {
        "model": model,
        "prompt": PROMPT,
        "max_tokens": 48,
        "temperature": 1.0,
        "seed": seed,
    }
    if grammar is not None:
        body["grammar"] = grammar
    request = urllib.request.Request(
        url + "/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["choices"][0]["text"]


def one_step(text):
    return not any(c in ";{}" for c in text[:-1])


def main():
    url, model = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    broken = 0
    for name, grammar in [("gbnf", GBNF), ("none", None)]:
        replies = [complete(url, model, seed, grammar) for seed in range(1, count + 1)]
        steps = sum(one_step(r) for r in replies)
        ended = sum(bool(r) and r[-1] in ";{}" for r in replies)
        print(
            f"grammar={name}: {steps}/{count} replies are one step or a prefix of one "
            f"({ended} end in `;`, `{{` or `}}`)"
        )
        if grammar is not None:
            broken = count - steps
            for r in replies:
                if not one_step(r):
                    print(f"  not one step: {r!r}", file=sys.stderr)
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
