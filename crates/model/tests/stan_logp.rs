//! Log density and gradient of posteriordb posteriors against Stan's own values.
//!
//! Each file in tests/data/stan_logp/ holds one posteriordb posterior (its program and data),
//! five points on the unconstrained scale and what Stan (PyStan 3.10 / httpstan 4.13, Stan
//! 2.35) returns there: `log_prob` and `log_prob_grad` with propto = true (the constants of `~`
//! statements dropped), with and without the Jacobian. They were written by
//! `scripts/stan_check/logp_check.py --fixtures` (its table is in BENCHMARKS.md, issue 14). Our
//! values must agree to 1e-8 relative (|ours - Stan| / max(|Stan|, 1)). The test reports every
//! posterior and point that does not, by name.

use refinestat_language::Data;
use refinestat_model::{LogDensityOptions, Model};
use serde_json::Value;

const TOL: f64 = 1e-8;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1.0)
}

/// Every disagreement of one posterior, as lines of text.
fn check_posterior(f: &Value) -> Vec<String> {
    let name = f["posterior"].as_str().expect("posterior");
    let data = Data::from_json_str(&f["data"].to_string()).expect("fixture data");
    let mut model = match Model::from_source(f["program"].as_str().expect("program"), &data) {
        Ok(m) => m,
        Err(e) => return vec![format!("{name}: does not build: {e}")],
    };
    let mut bad = vec![];
    for (i, x) in f["points"].as_array().expect("points").iter().enumerate() {
        let x = floats(x);
        for (jacobian, lp_key, grad_key) in [
            (false, "lp", "grad"),
            (true, "lp_jacobian", "grad_jacobian"),
        ] {
            let opts = LogDensityOptions {
                jacobian,
                propto: true,
            };
            let mut grad = vec![0.0; model.dim()];
            let want_grad = floats(&f[grad_key][i]);
            if want_grad.len() != grad.len() {
                bad.push(format!(
                    "{name}: dimension {} but Stan's is {}",
                    grad.len(),
                    want_grad.len()
                ));
                return bad;
            }
            let lp = match model.log_density_gradient(&x, opts, &mut grad) {
                Ok(lp) => lp,
                Err(e) => {
                    bad.push(format!("{name} point {i}: {e}"));
                    continue;
                }
            };
            let want = f[lp_key][i].as_f64().expect("lp");
            if rel(lp, want) > TOL {
                bad.push(format!(
                    "{name} point {i} {lp_key}: {lp:e} vs Stan's {want:e}"
                ));
            }
            let value_only = model
                .log_density(&x, opts)
                .expect("value at a point with a gradient");
            if rel(value_only, want) > TOL {
                bad.push(format!(
                    "{name} point {i} {lp_key} (value only): {value_only:e} vs Stan's {want:e}"
                ));
            }
            for (k, (g, w)) in grad.iter().zip(&want_grad).enumerate() {
                if rel(*g, *w) > TOL {
                    bad.push(format!(
                        "{name} point {i} {grad_key}[{k}]: {g:e} vs Stan's {w:e}"
                    ));
                }
            }
        }
    }
    bad
}

#[test]
fn posteriordb_log_densities_and_gradients_match_stan() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/stan_logp");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "only {} fixtures in {}",
        files.len(),
        dir.display()
    );
    let mut bad = vec![];
    for path in &files {
        let text = std::fs::read_to_string(path).expect("fixture");
        let f: Value = serde_json::from_str(&text).expect("fixture JSON");
        assert_eq!(
            f["points"].as_array().map(Vec::len),
            Some(5),
            "{}",
            path.display()
        );
        bad.extend(check_posterior(&f));
    }
    assert!(
        bad.is_empty(),
        "{} disagreements:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
