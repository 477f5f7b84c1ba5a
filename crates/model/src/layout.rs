//! Orders of elements: internal storage (arrays row-major, matrices column-major), Stan JSON
//! (row-major over every dimension) and CmdStan output (column-major over every dimension,
//! as `theta[1]`, `L[2,1]` ...), with conversions between them.

use crate::value::{Base, Shape};

/// All dimensions of a shape: array dimensions then base dimensions.
pub fn full_dims(shape: &Shape) -> Vec<usize> {
    let mut d: Vec<usize> = shape.arr.as_slice().iter().map(|&x| x as usize).collect();
    match shape.base {
        Base::Real => {}
        Base::Vector(n) | Base::RowVector(n) => d.push(n as usize),
        Base::Matrix(r, c) => {
            d.push(r as usize);
            d.push(c as usize);
        }
    }
    d
}

/// Internal storage position of a 0-based index tuple over `full_dims`.
pub fn internal_pos(shape: &Shape, idx: &[usize]) -> usize {
    let na = shape.arr.len();
    let mut off = 0;
    for (d, &n) in shape.arr.as_slice().iter().enumerate() {
        off = off * n as usize + idx[d];
    }
    let bp = match shape.base {
        Base::Real => 0,
        Base::Vector(_) | Base::RowVector(_) => idx[na],
        Base::Matrix(r, _) => idx[na] + idx[na + 1] * r as usize,
    };
    off * shape.base.numel() + bp
}

/// Every index tuple in row-major (JSON) order.
pub fn tuples_row_major(dims: &[usize]) -> Vec<Vec<usize>> {
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut cur = vec![0usize; dims.len()];
    for _ in 0..total {
        out.push(cur.clone());
        for d in (0..dims.len()).rev() {
            cur[d] += 1;
            if cur[d] < dims[d] {
                break;
            }
            cur[d] = 0;
        }
    }
    out
}

/// Every index tuple in column-major (CmdStan) order.
pub fn tuples_col_major(dims: &[usize]) -> Vec<Vec<usize>> {
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut cur = vec![0usize; dims.len()];
    for _ in 0..total {
        out.push(cur.clone());
        for d in 0..dims.len() {
            cur[d] += 1;
            if cur[d] < dims[d] {
                break;
            }
            cur[d] = 0;
        }
    }
    out
}

/// For each JSON (row-major) position, the internal position.
pub fn json_to_internal(shape: &Shape) -> Vec<usize> {
    tuples_row_major(&full_dims(shape))
        .iter()
        .map(|t| internal_pos(shape, t))
        .collect()
}

/// Stan-style element names in CmdStan order, with the internal position of each.
pub fn output_elements(name: &str, shape: &Shape) -> Vec<(String, usize)> {
    let dims = full_dims(shape);
    if dims.is_empty() {
        return vec![(name.to_string(), 0)];
    }
    tuples_col_major(&dims)
        .into_iter()
        .map(|t| {
            let s: Vec<String> = t.iter().map(|i| (i + 1).to_string()).collect();
            (format!("{name}[{}]", s.join(",")), internal_pos(shape, &t))
        })
        .collect()
}
