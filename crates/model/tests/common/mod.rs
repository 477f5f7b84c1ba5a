//! Shared helpers for the model crate's integration tests: loading the committed reference
//! fixtures (tests/data/reference_*.json, written by scripts/make_reference.py), turning Stan
//! JSON values into `Data`, building tiny Stan programs, tolerant comparisons that collect every
//! failing case, and finite differences (Ridders' extrapolation) for gradient checks.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use refinestat_language::{Data, DataValue};
use refinestat_model::{LogDensityOptions, Model, ModelError};
use serde_json::Value;

pub const FULL: LogDensityOptions = LogDensityOptions {
    jacobian: false,
    propto: false,
};
pub const FULL_JACOBIAN: LogDensityOptions = LogDensityOptions {
    jacobian: true,
    propto: false,
};
pub const PROPTO_JACOBIAN: LogDensityOptions = LogDensityOptions {
    jacobian: true,
    propto: true,
};

/// One distribution case of reference_distributions.json (see the script for the format).
#[derive(Debug, Clone)]
pub struct DistCase {
    pub name: String,
    pub dist: String,
    pub kind: String,
    pub decls: Vec<(String, String)>,
    pub variate: String,
    pub args: Vec<String>,
    pub params: Vec<String>,
    pub data: serde_json::Map<String, Value>,
    pub truncation: Option<(Option<String>, Option<String>)>,
    pub lp: f64,
    pub pointwise: Option<Vec<f64>>,
}

/// One math-function case of reference_functions.json.
#[derive(Debug, Clone)]
pub struct FnCase {
    pub name: String,
    pub expr: String,
    pub decls: Vec<(String, String)>,
    pub params: Vec<String>,
    pub data: serde_json::Map<String, Value>,
    pub result_type: String,
    pub value: Value,
}

fn read_cases(file: &str) -> Vec<Value> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"));
    doc["cases"].as_array().expect("cases array").clone()
}

fn decls(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("decls")
        .iter()
        .map(|d| {
            (
                d[0].as_str().expect("type").to_string(),
                d[1].as_str().expect("name").to_string(),
            )
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("string list")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

pub fn dist_cases() -> Vec<DistCase> {
    read_cases("reference_distributions.json")
        .iter()
        .map(|c| DistCase {
            name: c["name"].as_str().unwrap().to_string(),
            dist: c["dist"].as_str().unwrap().to_string(),
            kind: c["kind"].as_str().unwrap().to_string(),
            decls: decls(&c["decls"]),
            variate: c["variate"].as_str().unwrap().to_string(),
            args: strings(&c["args"]),
            params: strings(&c["params"]),
            data: c["data"].as_object().unwrap().clone(),
            truncation: c.get("truncation").map(|t| {
                (
                    t[0].as_str().map(str::to_string),
                    t[1].as_str().map(str::to_string),
                )
            }),
            lp: c["lp"].as_f64().unwrap(),
            pointwise: c.get("pointwise").map(|p| {
                p.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            }),
        })
        .collect()
}

pub fn fn_cases() -> Vec<FnCase> {
    read_cases("reference_functions.json")
        .iter()
        .map(|c| FnCase {
            name: c["name"].as_str().unwrap().to_string(),
            expr: c["expr"].as_str().unwrap().to_string(),
            decls: decls(&c["decls"]),
            params: strings(&c["params"]),
            data: c["data"].as_object().unwrap().clone(),
            result_type: c["result_type"].as_str().unwrap().to_string(),
            value: c["value"].clone(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Stan JSON values -> Data

fn flatten(v: &Value, depth: usize, dims: &mut Vec<usize>, out: &mut Vec<f64>, all_int: &mut bool) {
    match v {
        Value::Array(items) => {
            if dims.len() == depth {
                dims.push(items.len());
            }
            for item in items {
                flatten(item, depth + 1, dims, out, all_int);
            }
        }
        Value::Number(n) => {
            if !(n.is_i64() || n.is_u64()) {
                *all_int = false;
            }
            out.push(n.as_f64().expect("number"));
        }
        other => panic!("unexpected JSON value in fixture: {other}"),
    }
}

pub fn data_value(v: &Value) -> DataValue {
    let mut dims = Vec::new();
    let mut values = Vec::new();
    let mut all_int = true;
    flatten(v, 0, &mut dims, &mut values, &mut all_int);
    DataValue {
        dims,
        values,
        all_int,
    }
}

/// The `Data` holding the named variables of a fixture's value map.
pub fn data_of<'a>(
    values: &serde_json::Map<String, Value>,
    names: impl IntoIterator<Item = &'a String>,
) -> Data {
    let mut vars = BTreeMap::new();
    for name in names {
        let v = values
            .get(name)
            .unwrap_or_else(|| panic!("fixture has no value for {name}"));
        vars.insert(name.clone(), data_value(v));
    }
    Data { vars }
}

/// `Data` from Stan JSON text, converted here (not by the loader under test).
pub fn data_from_json(text: &str) -> Data {
    let value: Value = serde_json::from_str(text).expect("fixture JSON");
    let map = value.as_object().expect("JSON object").clone();
    let names: Vec<String> = map.keys().cloned().collect();
    data_of(&map, names.iter())
}

// ---------------------------------------------------------------------------------------------
// programs

/// `data { ... } parameters { ... } model { body }`, declarations in the given order; blocks
/// with no declarations are left out.
pub fn program(
    data_decls: &[&(String, String)],
    param_decls: &[&(String, String)],
    body: &str,
) -> String {
    let mut src = String::new();
    if !data_decls.is_empty() {
        src.push_str("data {\n");
        for (ty, name) in data_decls {
            src.push_str(&format!("  {ty} {name};\n"));
        }
        src.push_str("}\n");
    }
    if !param_decls.is_empty() {
        src.push_str("parameters {\n");
        for (ty, name) in param_decls {
            src.push_str(&format!("  {ty} {name};\n"));
        }
        src.push_str("}\n");
    }
    src.push_str(&format!("model {{\n{body}\n}}\n"));
    src
}

/// Calls a step of a test, turning a panic (a defect of the model crate) into an error string so
/// one broken case does not hide the others.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".to_string());
            Err(format!("PANIC: {msg}"))
        }
    }
}

/// Compile a test program. A program our parser rejects is reported as such, apart from
/// model-crate failures. The programs are valid Stan by construction.
pub fn compile(src: &str, data: &Data) -> Result<Model, String> {
    let parsed = refinestat_language::parse(src);
    if let Some(first) = parsed.errors.first() {
        return Err(format!(
            "test program does not parse ({} at {:?})\n--- program ---\n{src}",
            first.message, first.span
        ));
    }
    // Model::new on the parsed program (not from_source): these tests are about the model
    // crate's numbers, so a validity checker verdict must not mask them.
    Model::new(&parsed.program, data)
        .map_err(|e| format!("compile error: {e}\n--- program ---\n{src}"))
}

pub fn err_str(e: ModelError) -> String {
    format!("{e}")
}

/// Reference comparison: relative `rel`, with an absolute floor for values near zero.
pub fn close(got: f64, want: f64, rel: f64, abs_floor: f64) -> bool {
    if got == want {
        return true;
    }
    (got - want).abs() <= (rel * want.abs()).max(abs_floor)
}

/// Collects failures so a test reports every failing case, then fails once at the end.
#[derive(Default)]
pub struct Failures {
    pub checked: usize,
    pub list: Vec<String>,
}

impl Failures {
    pub fn record(&mut self, case: &str, result: Result<(), String>) {
        self.checked += 1;
        if let Err(msg) = result {
            self.list.push(format!("[{case}] {msg}"));
        }
    }

    pub fn assert_none(&self, what: &str) {
        assert!(self.checked > 0, "{what}: no cases were checked");
        if !self.list.is_empty() {
            panic!(
                "{what}: {} of {} checks failed:\n{}",
                self.list.len(),
                self.checked,
                self.list.join("\n")
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// finite differences

/// Ridders' polynomial extrapolation of central differences of `f` at `x` starting from step
/// `h` (Numerical Recipes, dfridr). Returns (estimate, error estimate); the error is infinite
/// when `f` is not finite at the first step.
pub fn ridders(f: &mut dyn FnMut(f64) -> Option<f64>, x: f64, h: f64) -> (f64, f64) {
    const SHRINK: f64 = 1.4;
    const SHRINK2: f64 = SHRINK * SHRINK;
    const LEVELS: usize = 10;
    let mut table = [[0.0f64; LEVELS]; LEVELS];
    let mut hh = h;
    let central = |f: &mut dyn FnMut(f64) -> Option<f64>, hh: f64| -> Option<f64> {
        let up = f(x + hh)?;
        let down = f(x - hh)?;
        let d = (up - down) / (2.0 * hh);
        d.is_finite().then_some(d)
    };
    let Some(first) = central(f, hh) else {
        return (f64::NAN, f64::INFINITY);
    };
    table[0][0] = first;
    let mut best = first;
    let mut err = f64::INFINITY;
    for i in 1..LEVELS {
        hh /= SHRINK;
        let Some(d) = central(f, hh) else { break };
        table[0][i] = d;
        let mut fac = SHRINK2;
        for j in 1..=i {
            table[j][i] = (table[j - 1][i] * fac - table[j - 1][i - 1]) / (fac - 1.0);
            fac *= SHRINK2;
            let errt = (table[j][i] - table[j - 1][i])
                .abs()
                .max((table[j][i] - table[j - 1][i - 1]).abs());
            if errt <= err {
                err = errt;
                best = table[j][i];
            }
        }
        if (table[i][i] - table[i - 1][i - 1]).abs() >= 2.0 * err {
            break;
        }
    }
    (best, err)
}

/// Starting steps for Ridders' method, relative to max(1, |x|): large steps are accurate for
/// smooth functions, small ones serve short length scales, overflow or a kink near `x`.
const START_STEPS: [f64; 10] = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10];

/// Ridders estimates (derivative, error estimate) of `f` at `x` from every starting step.
pub fn derivative_estimates(f: &mut dyn FnMut(f64) -> Option<f64>, x: f64) -> Vec<(f64, f64)> {
    let scale = x.abs().max(1.0);
    START_STEPS
        .iter()
        .map(|h| ridders(f, x, h * scale))
        .collect()
}

/// One derivative estimate: the largest starting step whose estimate is confirmed by the next
/// smaller one to 1e-8 relative (Ridders' own error estimate can be fooled by a coincidence at
/// one step; steps far beyond a short length scale agree on meaningless zeros, so exact zeros
/// count only when every estimate is zero); failing that, the smallest error estimate.
pub fn derivative(f: &mut dyn FnMut(f64) -> Option<f64>, x: f64) -> (f64, f64) {
    let estimates = derivative_estimates(f, x);
    if estimates.iter().all(|(d, _)| *d == 0.0 || !d.is_finite()) {
        if estimates.iter().any(|(d, _)| *d == 0.0) {
            return (0.0, 0.0);
        }
        return (f64::NAN, f64::INFINITY);
    }
    for pair in estimates.windows(2) {
        let ((d, e), (d_next, _)) = (pair[0], pair[1]);
        if d != 0.0 && e <= 1e-9 * d.abs() && (d - d_next).abs() <= 1e-8 * d.abs() {
            return (d, e.max((d - d_next).abs()));
        }
    }
    estimates
        .into_iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((f64::NAN, f64::INFINITY))
}

/// Whether an AD derivative `g` agrees with a finite-difference estimate `(d, err)`: 1e-6
/// relative, plus the estimate's own error (which must itself be small) and a 1e-9 floor.
pub fn agrees(g: f64, (d, err): (f64, f64)) -> bool {
    let scale = g.abs().max(d.abs());
    err <= 1e-5 * scale.max(1e-3) && (g - d).abs() <= 1e-6 * scale + 2.0 * err + 1e-9
}

/// Compares an AD gradient with finite differences of `lp` at `x`. A component passes when a
/// Ridders estimate from one of the starting steps agrees with it (see `agrees`); a wrong
/// gradient fails because every converged estimate approaches the true derivative.
pub fn check_gradient(model: &mut Model, x: &[f64], opts: LogDensityOptions) -> Result<(), String> {
    let mut grad = vec![f64::NAN; x.len()];
    let lp = model
        .log_density_gradient(x, opts, &mut grad)
        .map_err(|e| format!("log_density_gradient at {x:?}: {e}"))?;
    let lp_plain = model
        .log_density(x, opts)
        .map_err(|e| format!("log_density at {x:?}: {e}"))?;
    if !close(lp, lp_plain, 1e-12, 1e-12) {
        return Err(format!(
            "log_density_gradient returned lp {lp} but log_density gives {lp_plain} ({opts:?})"
        ));
    }
    let frozen: &Model = model;
    let mut problems = Vec::new();
    for i in 0..x.len() {
        let mut point = x.to_vec();
        let mut along = |t: f64| {
            point[i] = t;
            frozen
                .log_density(&point, opts)
                .ok()
                .filter(|v| v.is_finite())
        };
        let estimates = derivative_estimates(&mut along, x[i]);
        if !grad[i].is_finite() || !estimates.iter().any(|&e| agrees(grad[i], e)) {
            let best = estimates
                .iter()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .copied()
                .unwrap_or((f64::NAN, f64::INFINITY));
            problems.push(format!(
                "d/dx[{i}]: AD {} vs FD {} (error estimate {:.1e}; all FD estimates {:?})",
                grad[i], best.0, best.1, estimates
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "gradient ({opts:?}) at x = {x:?} (lp {lp}):\n    {}",
            problems.join("\n    ")
        ))
    }
}

/// log|det A| of a small square matrix (row-major) by LU with partial pivoting.
pub fn log_abs_det(mut a: Vec<f64>, n: usize) -> f64 {
    let mut log_det = 0.0;
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&r, &s| a[r * n + col].abs().total_cmp(&a[s * n + col].abs()))
            .expect("non-empty");
        if a[pivot * n + col] == 0.0 {
            return f64::NEG_INFINITY;
        }
        if pivot != col {
            for k in 0..n {
                a.swap(pivot * n + k, col * n + k);
            }
        }
        let d = a[col * n + col];
        log_det += d.abs().ln();
        for r in col + 1..n {
            let factor = a[r * n + col] / d;
            for k in col..n {
                a[r * n + k] -= factor * a[col * n + k];
            }
        }
    }
    log_det
}

/// Stan index text for flat row-major position `flat` of a value with `dims` (`[2, 1]`), or
/// the empty string for a scalar.
pub fn stan_index(dims: &[usize], mut flat: usize) -> String {
    if dims.is_empty() {
        return String::new();
    }
    let mut idx = vec![0usize; dims.len()];
    for d in (0..dims.len()).rev() {
        idx[d] = flat % dims[d] + 1;
        flat /= dims[d];
    }
    format!(
        "[{}]",
        idx.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Stan literal for a double that round-trips exactly.
pub fn literal(x: f64) -> String {
    let s = format!("{x:?}");
    if x < 0.0 {
        format!("({s})")
    } else {
        s
    }
}

/// Solve `a x = b` (dense, row-major `n x n`) by Gaussian elimination with partial pivoting.
pub fn solve_dense(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        a.swap(c, p);
        b.swap(c, p);
        let pivot_row = a[c].clone();
        for r in c + 1..n {
            let f = a[r][c] / pivot_row[c];
            for (x, p) in a[r].iter_mut().zip(&pivot_row).skip(c) {
                *x -= f * p;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    x
}

/// A single vector under a multivariate normal has per-element leave-one-out log_lik terms; the
/// reference is computed here by explicit conditioning, y_i | y_o ~ normal(mu_i + S_io S_oo^{-1}
/// (y_o - mu_o), S_ii - S_io S_oo^{-1} S_oi), independent of the model's precision formula.
pub fn gaussian_loo_reference(case: &DistCase) -> Option<Vec<f64>> {
    let is_chol = match case.dist.as_str() {
        "multi_normal" => false,
        "multi_normal_cholesky" => true,
        _ => return None,
    };
    let decl = case.decls.iter().find(|(_, n)| *n == case.variate)?;
    if !decl.0.starts_with("vector[") {
        return None;
    }
    let nums = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default()
    };
    let y = nums(&case.data[&case.variate]);
    let k = y.len();
    let mu_v = &case.data[&case.args[0]];
    let mu = mu_v.as_f64().map_or_else(|| nums(mu_v), |m| vec![m; k]);
    let m: Vec<Vec<f64>> = case.data[&case.args[1]]
        .as_array()?
        .iter()
        .map(nums)
        .collect();
    let s: Vec<Vec<f64>> = if is_chol {
        (0..k)
            .map(|i| {
                (0..k)
                    .map(|j| (0..k).map(|q| m[i][q] * m[j][q]).sum())
                    .collect()
            })
            .collect()
    } else {
        m
    };
    let out = (0..k)
        .map(|i| {
            let o: Vec<usize> = (0..k).filter(|&j| j != i).collect();
            let s_oo: Vec<Vec<f64>> = o
                .iter()
                .map(|&a| o.iter().map(|&b| s[a][b]).collect())
                .collect();
            let s_oi: Vec<f64> = o.iter().map(|&a| s[a][i]).collect();
            let r_o: Vec<f64> = o.iter().map(|&a| y[a] - mu[a]).collect();
            let w = solve_dense(s_oo, s_oi.clone());
            let mean = mu[i] + w.iter().zip(&r_o).map(|(a, b)| a * b).sum::<f64>();
            let var = s[i][i] - w.iter().zip(&s_oi).map(|(a, b)| a * b).sum::<f64>();
            -0.5 * (2.0 * std::f64::consts::PI * var).ln() - 0.5 * (y[i] - mean).powi(2) / var
        })
        .collect();
    Some(out)
}
