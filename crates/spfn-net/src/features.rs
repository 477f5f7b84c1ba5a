//! What the encoder reads of a dataset: one token per data variable, each a set of per-cell
//! features (at most [`MAX_CELLS`] cells, chosen by value so that the choice does not depend on
//! the order of rows) and a vector of summary statistics.
//!
//! Nothing here depends on the order of rows or of variables: per-cell features are functions of
//! one value and the variable's own moments, the cells kept are order statistics, and the
//! summary statistics are symmetric functions of the values (plus facts relating a variable to
//! the others: a size, sized by a size, a group index into 1..J).

use refinestat_language::{Data, DataValue};

/// Cells per variable the encoder sees at most (order statistics beyond it).
pub const MAX_CELLS: usize = 64;
/// Features per cell.
pub const CELL_FEATURES: usize = 8;
/// Buckets of the name hash.
const NAME_BUCKETS: usize = 16;
/// Summary features per variable.
pub const SUMMARY_FEATURES: usize = 22 + NAME_BUCKETS;

/// The encoder's view of one data variable.
#[derive(Debug, Clone, PartialEq)]
pub struct VarFeatures {
    /// The variable's name (the decoder's token for it).
    pub name: String,
    /// `cells.len() / CELL_FEATURES` cells, row-major.
    pub cells: Vec<f32>,
    /// [`SUMMARY_FEATURES`] values.
    pub summary: Vec<f32>,
}

/// The encoder's view of a dataset: its variables in name order.
pub fn dataset_features(data: &Data) -> Vec<VarFeatures> {
    let scalars: Vec<f64> = data
        .vars
        .values()
        .filter(|v| v.dims.is_empty() && v.all_int)
        .filter_map(|v| v.values.first().copied())
        .collect();
    let lengths: Vec<usize> = data
        .vars
        .values()
        .flat_map(|v| v.dims.iter().copied())
        .collect();
    data.vars
        .iter()
        .map(|(name, v)| var_features(name, v, &scalars, &lengths))
        .collect()
}

fn slog(x: f64) -> f64 {
    x.signum() * x.abs().ln_1p()
}

fn clamp(x: f64, bound: f64) -> f64 {
    if x.is_finite() {
        x.clamp(-bound, bound)
    } else if x.is_nan() {
        0.0
    } else {
        bound.copysign(x)
    }
}

fn var_features(name: &str, v: &DataValue, scalars: &[f64], lengths: &[usize]) -> VarFeatures {
    let finite: Vec<f64> = v.values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = finite.len().max(1) as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let var = finite.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    let is_int = |x: f64| x.fract() == 0.0;
    let frac = |f: &dyn Fn(f64) -> bool| finite.iter().filter(|&&x| f(x)).count() as f64 / n;
    let (min, max) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let (min, max) = if finite.is_empty() {
        (0.0, 0.0)
    } else {
        (min, max)
    };
    let (skew, kurt) = if sd > 0.0 {
        let m3 = finite
            .iter()
            .map(|x| ((x - mean) / sd).powi(3))
            .sum::<f64>()
            / n;
        let m4 = finite
            .iter()
            .map(|x| ((x - mean) / sd).powi(4))
            .sum::<f64>()
            / n;
        (m3, m4)
    } else {
        (0.0, 0.0)
    };
    let all_int = v.all_int || finite.iter().all(|&x| is_int(x));
    let mut sorted = finite.clone();
    sorted.sort_by(f64::total_cmp);
    let unique = {
        let mut u = sorted.clone();
        u.dedup();
        u.len() as f64
    };
    let scalar = v.dims.is_empty();
    let first = v.values.first().copied().unwrap_or(0.0);
    let is_size = scalar && all_int && first >= 1.0 && lengths.iter().any(|&l| l as f64 == first);
    let sized = v
        .dims
        .first()
        .is_some_and(|&d| scalars.contains(&(d as f64)));
    let group_index = !scalar
        && all_int
        && min >= 1.0
        && scalars
            .iter()
            .any(|&j| j == max && j < finite.len() as f64 && j >= 2.0);
    let dispersion = if all_int && min >= 0.0 && mean > 0.0 {
        (var / mean).ln()
    } else {
        0.0
    };
    let mut summary = vec![
        f64::from(scalar),
        f64::from(v.dims.len() == 1),
        f64::from(v.dims.len() >= 2),
        n.ln_1p() / 5.0,
        f64::from(all_int),
        frac(&|x| x < 0.0),
        frac(&|x| x == 0.0),
        frac(&|x| (0.0..=1.0).contains(&x)),
        f64::from(finite.iter().all(|&x| x == 0.0 || x == 1.0)),
        slog(mean) / 3.0,
        sd.ln_1p() / 3.0,
        slog(min) / 3.0,
        slog(max) / 3.0,
        clamp(skew, 10.0) / 3.0,
        clamp(kurt.ln_1p(), 10.0) / 3.0,
        clamp(dispersion, 10.0) / 3.0,
        unique / n,
        unique.ln_1p() / 5.0,
        f64::from(is_size),
        f64::from(sized),
        f64::from(group_index),
        f64::from(min > 0.0),
    ];
    let mut buckets = [0.0; NAME_BUCKETS];
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    buckets[(h % NAME_BUCKETS as u64) as usize] = 1.0;
    summary.extend(buckets);
    debug_assert_eq!(summary.len(), SUMMARY_FEATURES);
    // Cells: every value when there are few, else evenly spaced order statistics.
    let kept: Vec<f64> = if sorted.len() <= MAX_CELLS {
        sorted.clone()
    } else {
        (0..MAX_CELLS)
            .map(|i| sorted[i * (sorted.len() - 1) / (MAX_CELLS - 1)])
            .collect()
    };
    let kept = if kept.is_empty() { vec![0.0] } else { kept };
    let mut cells = Vec::with_capacity(kept.len() * CELL_FEATURES);
    for x in kept {
        let z = if sd > 0.0 { (x - mean) / sd } else { 0.0 };
        cells.extend([
            clamp(z, 5.0) / 2.0,
            x.signum(),
            slog(x) / 3.0,
            f64::from(is_int(x)),
            f64::from(x == 0.0),
            f64::from((0.0..=1.0).contains(&x)),
            f64::from(x == 1.0),
            clamp(z * z, 25.0) / 5.0,
        ]);
    }
    VarFeatures {
        name: name.to_string(),
        cells: cells.into_iter().map(|x| x as f32).collect(),
        summary: summary.into_iter().map(|x| clamp(x, 10.0) as f32).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_do_not_depend_on_row_order() {
        let a = Data::from_json_str(r#"{"N": 4, "y": [3, 0, 7, 1], "x": [0.5, -1.5, 2.0, 0.1]}"#)
            .unwrap();
        let b = Data::from_json_str(r#"{"N": 4, "y": [7, 1, 3, 0], "x": [2.0, 0.1, 0.5, -1.5]}"#)
            .unwrap();
        assert_eq!(dataset_features(&a), dataset_features(&b));
        let f = dataset_features(&a);
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|v| v.summary.len() == SUMMARY_FEATURES));
        // N is a size; y is integer and x is not.
        let by = |n: &str| f.iter().find(|v| v.name == n).unwrap();
        assert_eq!(by("N").summary[18], 1.0);
        assert_eq!(by("y").summary[4], 1.0);
        assert_eq!(by("x").summary[4], 0.0);
        assert_eq!(by("y").summary[19], 1.0);
    }

    #[test]
    fn long_variables_keep_order_statistics() {
        let values: Vec<String> = (0..500).map(|i| format!("{}", (i * 37) % 500)).collect();
        let text = format!("{{\"y\": [{}]}}", values.join(","));
        let f = dataset_features(&Data::from_json_str(&text).unwrap());
        assert_eq!(f[0].cells.len(), MAX_CELLS * CELL_FEATURES);
        assert!(f[0].summary.iter().all(|x| x.is_finite()));
    }
}
