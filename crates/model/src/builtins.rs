//! The function library of the language (everything that is not a distribution), resolved by
//! name once at lowering time and dispatched on the runtime types of the arguments.

use crate::math;
use crate::ops::{self, gather};
use crate::tape::{Node, Operand, Partials, Tape, NONE};
use crate::value::{
    eval_err, from_elems, operand_slots, promote, Base, Dims, Res, Shape, Store, Val,
};
use crate::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Pi,
    E,
    Sqrt2,
    Log2C,
    Log10C,
    NegativeInfinity,
    PositiveInfinity,
    NotANumber,
    MachinePrecision,
    Min,
    Max,
    Abs,
    Sum,
    Prod,
    Mean,
    Variance,
    Sd,
    LogSumExp,
    DotProduct,
    DotSelf,
    RepVector,
    RepRowVector,
    RepArray,
    RepMatrix,
    ToVector,
    ToRowVector,
    ToArray1d,
    CumulativeSum,
    Softmax,
    LogSoftmax,
    CholeskyDecompose,
    DiagMatrix,
    Diagonal,
    GpExpQuadCov,
    DiagPreMultiply,
    DiagPostMultiply,
    Rows,
    Cols,
    Size,
    NumElements,
    LogMix,
    IntStep,
    AppendRow,
    AppendCol,
    Head,
    Tail,
    Segment,
    Reverse,
    Col,
    Row,
    Block,
    AddDiag,
    Tcrossprod,
    Crossprod,
    MultiplyLowerTriSelfTranspose,
    Fma,
    SortAsc,
    SortDesc,
    SortIndicesAsc,
    SortIndicesDesc,
    Rank,
    DimsOf,
    ColumnsDotSelf,
    RowsDotSelf,
    Transpose,
    IsInf,
    IsNan,
    IdentityMatrix,
    QuadFormDiag,
    QuadForm,
    MdivideLeftTriLow,
    MdivideRightTriLow,
    ToMatrix,
    Choose,
    LinspacedVector,
    Inverse,
}

impl Builtin {
    pub fn from_name(name: &str) -> Option<Builtin> {
        use Builtin::*;
        Some(match name {
            "pi" => Pi,
            "e" => E,
            "sqrt2" => Sqrt2,
            "log2" => Log2C, // only when called with zero arguments (see lowering)
            "log10" => Log10C,
            "negative_infinity" => NegativeInfinity,
            "positive_infinity" => PositiveInfinity,
            "not_a_number" => NotANumber,
            "machine_precision" => MachinePrecision,
            "min" => Min,
            "max" => Max,
            "abs" => Abs,
            "sum" => Sum,
            "prod" => Prod,
            "mean" => Mean,
            "variance" => Variance,
            "sd" => Sd,
            "log_sum_exp" => LogSumExp,
            "dot_product" => DotProduct,
            "dot_self" => DotSelf,
            "rep_vector" => RepVector,
            "rep_row_vector" => RepRowVector,
            "rep_array" => RepArray,
            "rep_matrix" => RepMatrix,
            "to_vector" => ToVector,
            "to_row_vector" => ToRowVector,
            "to_array_1d" => ToArray1d,
            "cumulative_sum" => CumulativeSum,
            "softmax" => Softmax,
            "log_softmax" => LogSoftmax,
            "cholesky_decompose" => CholeskyDecompose,
            "diag_matrix" => DiagMatrix,
            "diagonal" => Diagonal,
            "gp_exp_quad_cov" => GpExpQuadCov,
            "diag_pre_multiply" => DiagPreMultiply,
            "diag_post_multiply" => DiagPostMultiply,
            "rows" => Rows,
            "cols" => Cols,
            "size" => Size,
            "num_elements" => NumElements,
            "log_mix" => LogMix,
            "int_step" => IntStep,
            "append_row" => AppendRow,
            "append_col" => AppendCol,
            "head" => Head,
            "tail" => Tail,
            "segment" => Segment,
            "reverse" => Reverse,
            "col" => Col,
            "row" => Row,
            "block" => Block,
            "add_diag" => AddDiag,
            "tcrossprod" => Tcrossprod,
            "crossprod" => Crossprod,
            "multiply_lower_tri_self_transpose" => MultiplyLowerTriSelfTranspose,
            "fma" => Fma,
            "sort_asc" => SortAsc,
            "sort_desc" => SortDesc,
            "sort_indices_asc" => SortIndicesAsc,
            "sort_indices_desc" => SortIndicesDesc,
            "rank" => Rank,
            "dims" => DimsOf,
            "columns_dot_self" => ColumnsDotSelf,
            "rows_dot_self" => RowsDotSelf,
            "transpose" => Transpose,
            "is_inf" => IsInf,
            "is_nan" => IsNan,
            "identity_matrix" => IdentityMatrix,
            "quad_form_diag" => QuadFormDiag,
            "quad_form" => QuadForm,
            "mdivide_left_tri_low" => MdivideLeftTriLow,
            "mdivide_right_tri_low" => MdivideRightTriLow,
            "to_matrix" => ToMatrix,
            "choose" => Choose,
            "linspaced_vector" => LinspacedVector,
            "inverse" => Inverse,
            _ => return None,
        })
    }
}

fn nargs(name: Builtin, args: &[Val], n: usize) -> Res<()> {
    if args.len() != n {
        return eval_err(format!(
            "{name:?} takes {n} arguments, found {}",
            args.len()
        ));
    }
    Ok(())
}

fn base_of(v: &Val) -> Option<(Dims, Base)> {
    match v {
        Val::Reals(s, _) => Some((s.arr, s.base)),
        Val::Ints(d, ..) => Some((*d, Base::Real)),
        _ => None,
    }
}

fn size_arg(v: &Val) -> Res<usize> {
    let n = v.as_int()?;
    if n < 0 {
        return eval_err(format!("size must be non-negative, found {n}"));
    }
    Ok(n as usize)
}

/// Repeat a value `n` times (no tape node; slots are shared).
fn repeat(t: &Tape, v: &Val, n: usize, shape: Shape) -> Val {
    let m = v.numel();
    let idx: Vec<usize> = (0..n).flat_map(|_| 0..m).collect();
    gather(t, v, &idx, shape)
}

pub fn call(t: &mut Tape, f: Builtin, args: &[Val]) -> Res<Val> {
    use Builtin::*;
    match f {
        Pi => Ok(Val::real(std::f64::consts::PI)),
        E => Ok(Val::real(std::f64::consts::E)),
        Sqrt2 => Ok(Val::real(std::f64::consts::SQRT_2)),
        Log2C => Ok(Val::real(std::f64::consts::LN_2)),
        Log10C => Ok(Val::real(std::f64::consts::LN_10)),
        NegativeInfinity => Ok(Val::real(f64::NEG_INFINITY)),
        PositiveInfinity => Ok(Val::real(f64::INFINITY)),
        NotANumber => Ok(Val::real(f64::NAN)),
        MachinePrecision => Ok(Val::real(f64::EPSILON)),
        Min | Max => {
            let is_min = f == Min;
            if args.len() == 2 {
                if let (Val::Int(a), Val::Int(b)) = (&args[0], &args[1]) {
                    return Ok(Val::Int(if is_min { *a.min(b) } else { *a.max(b) }));
                }
                let g = math::binary_fn(if is_min { "fmin" } else { "fmax" }).expect("fmin");
                return ops::map2(
                    t,
                    &args[0],
                    &args[1],
                    "min/max",
                    ops::Known::Stored,
                    ops::Known::Stored,
                    g,
                );
            }
            nargs(f, args, 1)?;
            let v = &args[0];
            let n = v.numel();
            if n == 0 {
                return Ok(Val::real(if is_min {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                }));
            }
            let mut best = 0;
            for i in 1..n {
                let (x, b) = (v.elem(i, &t.val).0, v.elem(best, &t.val).0);
                if (is_min && x < b) || (!is_min && x > b) {
                    best = i;
                }
            }
            if let Val::Ints(..) = v {
                return Ok(Val::Int(v.elem(best, &t.val).0 as i64));
            }
            let (x, s) = v.elem(best, &t.val);
            Ok(Val::Real(x, s))
        }
        Abs => {
            nargs(f, args, 1)?;
            match &args[0] {
                Val::Int(i) => Ok(Val::Int(i.wrapping_abs())),
                v => Ok(ops::map1(t, v, math::unary_fn("fabs").expect("fabs"))),
            }
        }
        Sum => {
            nargs(f, args, 1)?;
            Ok(ops::sum(t, &args[0]))
        }
        Prod => {
            nargs(f, args, 1)?;
            let v = &args[0];
            let xs = v.to_vec(&t.val);
            let p: f64 = xs.iter().product();
            let g: Vec<f64> = (0..xs.len())
                .map(|i| {
                    xs.iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, x)| x)
                        .product()
                })
                .collect();
            if let Val::Ints(..) | Val::Int(_) = v {
                return Ok(Val::Int(p as i64));
            }
            Ok(ops::reduce_with(t, v, p, &g))
        }
        Mean => {
            nargs(f, args, 1)?;
            let v = &args[0];
            let n = v.numel();
            if n == 0 {
                return eval_err("mean of an empty container");
            }
            let xs = v.to_vec(&t.val);
            let m = xs.iter().sum::<f64>() / n as f64;
            Ok(ops::reduce_with(t, v, m, &vec![1.0 / n as f64; n]))
        }
        Variance | Sd => {
            nargs(f, args, 1)?;
            let v = &args[0];
            let n = v.numel();
            if n < 2 {
                return eval_err("variance/sd needs at least two elements");
            }
            let xs = v.to_vec(&t.val);
            let m = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
            let dvar: Vec<f64> = xs.iter().map(|x| 2.0 * (x - m) / (n - 1) as f64).collect();
            if f == Variance {
                Ok(ops::reduce_with(t, v, var, &dvar))
            } else {
                let sd = var.sqrt();
                let g: Vec<f64> = dvar
                    .iter()
                    .map(|d| if sd > 0.0 { d / (2.0 * sd) } else { 0.0 })
                    .collect();
                Ok(ops::reduce_with(t, v, sd, &g))
            }
        }
        LogSumExp => {
            if args.len() == 2 {
                return ops::map2(
                    t,
                    &args[0],
                    &args[1],
                    "log_sum_exp",
                    ops::Known::Stored,
                    ops::Known::Stored,
                    math::binary_fn("log_sum_exp").expect("lse"),
                );
            }
            nargs(f, args, 1)?;
            let v = &args[0];
            let xs = v.to_vec(&t.val);
            let m = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                return Ok(Val::real(f64::NEG_INFINITY));
            }
            let s: f64 = xs.iter().map(|x| (x - m).exp()).sum();
            let lse = m + s.ln();
            let g: Vec<f64> = xs.iter().map(|x| (x - lse).exp()).collect();
            Ok(ops::reduce_with(t, v, lse, &g))
        }
        DotProduct => {
            nargs(f, args, 2)?;
            let (a, b) = (&args[0], &args[1]);
            if a.numel() != b.numel() {
                return eval_err("dot_product: sizes differ");
            }
            let xa = a.to_vec(&t.val);
            let xb = b.to_vec(&t.val);
            let v: f64 = xa.iter().zip(&xb).map(|(x, y)| x * y).sum();
            let first_op = t.ops.len();
            for (val, g) in [(a, &xb), (b, &xa)] {
                if let Some(slots) = operand_slots(t, val) {
                    let p = t.alloc_part(g.len());
                    t.part[p as usize..p as usize + g.len()].copy_from_slice(g);
                    t.ops.push(Operand {
                        slots,
                        n: g.len() as u32,
                        p: Partials::Stored(p),
                    });
                }
            }
            Ok(Val::Real(v, t.reduce(v, first_op)))
        }
        DotSelf => {
            nargs(f, args, 1)?;
            let xs = args[0].to_vec(&t.val);
            let v: f64 = xs.iter().map(|x| x * x).sum();
            let g: Vec<f64> = xs.iter().map(|x| 2.0 * x).collect();
            Ok(ops::reduce_with(t, &args[0], v, &g))
        }
        ColumnsDotSelf | RowsDotSelf => {
            nargs(f, args, 1)?;
            let sq = ops::map1(t, &args[0], |x| (x * x, 2.0 * x));
            let Some((_, Base::Matrix(r, c))) = base_of(&args[0]) else {
                return eval_err("columns_dot_self/rows_dot_self need a matrix");
            };
            let (r, c) = (r as usize, c as usize);
            let mut out = vec![];
            if f == ColumnsDotSelf {
                for j in 0..c {
                    let idx: Vec<usize> = (0..r).map(|i| i + j * r).collect();
                    let colv = gather(t, &sq, &idx, Shape::vector(r));
                    out.push(ops::sum(t, &colv));
                }
                ops::stack(t, &out, Shape::row_vector(c))
            } else {
                for i in 0..r {
                    let idx: Vec<usize> = (0..c).map(|j| i + j * r).collect();
                    let rowv = gather(t, &sq, &idx, Shape::vector(c));
                    out.push(ops::sum(t, &rowv));
                }
                ops::stack(t, &out, Shape::vector(r))
            }
        }
        RepVector | RepRowVector => {
            nargs(f, args, 2)?;
            let n = size_arg(&args[1])?;
            let x = promote(args[0].clone());
            let shape = if f == RepVector {
                Shape::vector(n)
            } else {
                Shape::row_vector(n)
            };
            Ok(repeat(t, &x, n, shape))
        }
        RepMatrix => {
            if args.len() == 3 {
                let (r, c) = (size_arg(&args[1])?, size_arg(&args[2])?);
                let x = promote(args[0].clone());
                return Ok(repeat(t, &x, r * c, Shape::matrix(r, c)));
            }
            nargs(f, args, 2)?;
            let k = size_arg(&args[1])?;
            match base_of(&args[0]) {
                Some((_, Base::Vector(n))) => {
                    Ok(repeat(t, &args[0], k, Shape::matrix(n as usize, k)))
                }
                Some((_, Base::RowVector(n))) => {
                    let n = n as usize;
                    let idx: Vec<usize> = (0..n).flat_map(|j| std::iter::repeat_n(j, k)).collect();
                    Ok(gather(t, &args[0], &idx, Shape::matrix(k, n)))
                }
                _ => eval_err("rep_matrix: expected a vector or row vector"),
            }
        }
        RepArray => {
            if args.len() < 2 || args.len() > 4 {
                return eval_err("rep_array takes 2 to 4 arguments");
            }
            let sizes: Vec<usize> = args[1..].iter().map(size_arg).collect::<Res<_>>()?;
            let total: usize = sizes.iter().product();
            let x = &args[0];
            match x {
                Val::Int(i) => {
                    let dims = Dims::from_slice(&sizes)?;
                    Ok(Val::Ints(dims, vec![*i as f64; total].into(), 0))
                }
                Val::Ints(d, ..) => {
                    let mut all = sizes.clone();
                    all.extend(d.as_slice().iter().map(|&x| x as usize));
                    let dims = Dims::from_slice(&all)?;
                    let xs = x.to_vec(&t.val);
                    let v: Vec<f64> = (0..total).flat_map(|_| xs.iter().cloned()).collect();
                    Ok(Val::Ints(dims, v.into(), 0))
                }
                Val::Real(..) => {
                    let dims = Dims::from_slice(&sizes)?;
                    Ok(repeat(t, x, total, Shape::array(dims)))
                }
                Val::Reals(s, _) => {
                    let mut all = sizes.clone();
                    all.extend(s.arr.as_slice().iter().map(|&x| x as usize));
                    let shape = Shape {
                        arr: Dims::from_slice(&all)?,
                        base: s.base,
                    };
                    Ok(repeat(t, x, total, shape))
                }
            }
        }
        ToVector | ToRowVector | ToArray1d => {
            nargs(f, args, 1)?;
            let v = &args[0];
            let n = v.numel();
            // Stan flattens matrices column-major (our storage order) for to_vector; arrays of
            // arrays row-major (also our storage order).
            let shape = match f {
                ToVector => Shape::vector(n),
                ToRowVector => Shape::row_vector(n),
                _ => Shape::array(Dims::from_slice(&[n])?),
            };
            if f == ToArray1d {
                if let Val::Ints(_, d, off) = v {
                    return Ok(Val::Ints(Dims::from_slice(&[n])?, d.clone(), *off));
                }
            }
            match v {
                Val::Int(_) | Val::Real(..) => Ok(ops::stack(t, std::slice::from_ref(v), shape)?),
                _ => ops::reshape(&promote(v.clone()), shape),
            }
        }
        CumulativeSum => {
            nargs(f, args, 1)?;
            let v = &args[0];
            if let Val::Ints(d, ..) = v {
                let xs = v.to_vec(&t.val);
                let mut acc = 0.0;
                let out: Vec<f64> = xs
                    .iter()
                    .map(|x| {
                        acc += x;
                        acc
                    })
                    .collect();
                return Ok(Val::Ints(*d, out.into(), 0));
            }
            let shape = match v {
                Val::Reals(s, _) => *s,
                _ => return eval_err("cumulative_sum needs a container"),
            };
            let n = v.numel();
            let mut out = Vec::with_capacity(n);
            let mut acc = Val::real(0.0);
            for i in 0..n {
                let (x, s) = v.elem(i, &t.val);
                acc = if i == 0 {
                    Val::Real(x, s)
                } else {
                    ops::add(t, &acc, &Val::Real(x, s))?
                };
                out.push(acc.clone());
            }
            ops::stack(t, &out, shape)
        }
        Softmax | LogSoftmax => {
            nargs(f, args, 1)?;
            let v = &args[0];
            let xs = v.to_vec(&t.val);
            let n = xs.len();
            let m = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = xs.iter().map(|x| (x - m).exp()).sum();
            let lse = m + s.ln();
            let p: Vec<f64> = xs.iter().map(|x| (x - lse).exp()).collect();
            let mut jac = vec![0.0; n * n];
            let out: Vec<f64>;
            if f == Softmax {
                for i in 0..n {
                    for j in 0..n {
                        jac[i * n + j] = p[i] * (if i == j { 1.0 } else { 0.0 } - p[j]);
                    }
                }
                out = p;
            } else {
                for i in 0..n {
                    for j in 0..n {
                        jac[i * n + j] = if i == j { 1.0 } else { 0.0 } - p[j];
                    }
                }
                out = xs.iter().map(|x| x - lse).collect();
            }
            Ok(ops::dense_with(t, v, Shape::vector(n), &out, &jac))
        }
        CholeskyDecompose => {
            nargs(f, args, 1)?;
            cholesky_decompose(t, &args[0])
        }
        DiagMatrix => {
            nargs(f, args, 1)?;
            let v = &args[0];
            let n = v.numel();
            let mut vals = vec![0.0; n * n];
            let mut slots = vec![NONE; n * n];
            for i in 0..n {
                let (x, s) = v.elem(i, &t.val);
                vals[i + i * n] = x;
                slots[i + i * n] = s;
            }
            Ok(from_elems(Shape::matrix(n, n), vals, slots))
        }
        Diagonal => {
            nargs(f, args, 1)?;
            let Some((_, Base::Matrix(r, c))) = base_of(&args[0]) else {
                return eval_err("diagonal needs a matrix");
            };
            let k = r.min(c) as usize;
            let idx: Vec<usize> = (0..k).map(|i| i + i * r as usize).collect();
            Ok(gather(t, &args[0], &idx, Shape::vector(k)))
        }
        GpExpQuadCov => gp_exp_quad_cov(t, args),
        DiagPreMultiply | DiagPostMultiply => {
            nargs(f, args, 2)?;
            let (v, m) = if f == DiagPreMultiply {
                (&args[0], &args[1])
            } else {
                (&args[1], &args[0])
            };
            let Some((_, Base::Matrix(r, c))) = base_of(m) else {
                return eval_err("diag_pre_multiply/diag_post_multiply need a matrix");
            };
            let (r, c) = (r as usize, c as usize);
            let idx: Vec<usize> = if f == DiagPreMultiply {
                if v.numel() != r {
                    return eval_err("diag_pre_multiply: size mismatch");
                }
                (0..r * c).map(|k| k % r).collect()
            } else {
                if v.numel() != c {
                    return eval_err("diag_post_multiply: size mismatch");
                }
                (0..r * c).map(|k| k / r).collect()
            };
            let expanded = gather(t, &promote(v.clone()), &idx, Shape::matrix(r, c));
            ops::elt_mul(t, &expanded, m)
        }
        Rows | Cols => {
            nargs(f, args, 1)?;
            let n = match base_of(&args[0]) {
                Some((d, Base::Real)) if !d.is_empty() => d.d[0] as i64,
                Some((_, Base::Vector(n))) => {
                    if f == Rows {
                        n as i64
                    } else {
                        1
                    }
                }
                Some((_, Base::RowVector(n))) => {
                    if f == Rows {
                        1
                    } else {
                        n as i64
                    }
                }
                Some((_, Base::Matrix(r, c))) => {
                    if f == Rows {
                        r as i64
                    } else {
                        c as i64
                    }
                }
                _ => return eval_err("rows/cols need a vector or matrix"),
            };
            Ok(Val::Int(n))
        }
        Size => {
            nargs(f, args, 1)?;
            Ok(Val::Int(match base_of(&args[0]) {
                Some((d, b)) => {
                    if !d.is_empty() {
                        d.d[0] as i64
                    } else {
                        b.numel() as i64
                    }
                }
                None => 1,
            }))
        }
        NumElements => {
            nargs(f, args, 1)?;
            Ok(Val::Int(args[0].numel() as i64))
        }
        LogMix => log_mix(t, args),
        IntStep => {
            nargs(f, args, 1)?;
            Ok(Val::Int((args[0].as_f64()? > 0.0) as i64))
        }
        AppendRow | AppendCol => {
            nargs(f, args, 2)?;
            append(t, f == AppendRow, &args[0], &args[1])
        }
        Head | Tail => {
            nargs(f, args, 2)?;
            let v = &args[0];
            let n = v.numel();
            let k = size_arg(&args[1])?;
            if k > n {
                return eval_err(format!("{f:?}: {k} elements requested from {n}"));
            }
            let start = if f == Head { 0 } else { n - k };
            slice1d(t, v, start, k)
        }
        Segment => {
            nargs(f, args, 3)?;
            let v = &args[0];
            let i = args[1].as_int()?;
            let k = size_arg(&args[2])?;
            if i < 1 || (i as usize - 1) + k > v.numel() {
                return eval_err("segment: out of range");
            }
            slice1d(t, v, i as usize - 1, k)
        }
        Reverse => {
            nargs(f, args, 1)?;
            let v = &args[0];
            let n = v.numel();
            let idx: Vec<usize> = (0..n).rev().collect();
            match v {
                Val::Ints(d, ..) => {
                    let xs = v.to_vec(&t.val);
                    let out: Vec<f64> = idx.iter().map(|&i| xs[i]).collect();
                    Ok(Val::Ints(*d, out.into(), 0))
                }
                Val::Reals(s, _) => Ok(gather(t, v, &idx, *s)),
                _ => Ok(v.clone()),
            }
        }
        Col | Row => {
            nargs(f, args, 2)?;
            let Some((_, Base::Matrix(r, c))) = base_of(&args[0]) else {
                return eval_err("col/row need a matrix");
            };
            let (r, c) = (r as usize, c as usize);
            let k = args[1].as_int()?;
            if f == Col {
                if k < 1 || k as usize > c {
                    return eval_err("col: index out of range");
                }
                let j = k as usize - 1;
                let idx: Vec<usize> = (0..r).map(|i| i + j * r).collect();
                Ok(gather(t, &args[0], &idx, Shape::vector(r)))
            } else {
                if k < 1 || k as usize > r {
                    return eval_err("row: index out of range");
                }
                let i = k as usize - 1;
                let idx: Vec<usize> = (0..c).map(|j| i + j * r).collect();
                Ok(gather(t, &args[0], &idx, Shape::row_vector(c)))
            }
        }
        Block => {
            nargs(f, args, 5)?;
            let Some((_, Base::Matrix(r, c))) = base_of(&args[0]) else {
                return eval_err("block needs a matrix");
            };
            let (r, c) = (r as usize, c as usize);
            let (i, j) = (args[1].as_int()?, args[2].as_int()?);
            let (nr, nc) = (size_arg(&args[3])?, size_arg(&args[4])?);
            if i < 1 || j < 1 || i as usize - 1 + nr > r || j as usize - 1 + nc > c {
                return eval_err("block: out of range");
            }
            let (i0, j0) = (i as usize - 1, j as usize - 1);
            let idx: Vec<usize> = (0..nr * nc)
                .map(|k| (i0 + k % nr) + (j0 + k / nr) * r)
                .collect();
            Ok(gather(t, &args[0], &idx, Shape::matrix(nr, nc)))
        }
        AddDiag => {
            nargs(f, args, 2)?;
            let Some((_, Base::Matrix(r, c))) = base_of(&args[0]) else {
                return eval_err("add_diag needs a matrix");
            };
            let (r, c) = (r as usize, c as usize);
            let k = r.min(c);
            let d = &args[1];
            let mut vals = vec![0.0; r * c];
            let mut slots = vec![NONE; r * c];
            for i in 0..k {
                let (x, s) = d.elem(if d.numel() == 1 { 0 } else { i }, &t.val);
                vals[i + i * r] = x;
                slots[i + i * r] = s;
            }
            let dm = from_elems(Shape::matrix(r, c), vals, slots);
            ops::add(t, &args[0], &dm)
        }
        Tcrossprod | MultiplyLowerTriSelfTranspose => {
            nargs(f, args, 1)?;
            let m = if f == MultiplyLowerTriSelfTranspose {
                lower_tri(t, &args[0])?
            } else {
                args[0].clone()
            };
            let mt = ops::transpose(t, &m)?;
            ops::mul(t, &m, &mt)
        }
        Crossprod => {
            nargs(f, args, 1)?;
            let mt = ops::transpose(t, &args[0])?;
            ops::mul(t, &mt, &args[0])
        }
        Fma => {
            nargs(f, args, 3)?;
            let p = ops::elt_mul(t, &args[0], &args[1])?;
            ops::add(t, &p, &args[2])
        }
        SortAsc | SortDesc => {
            nargs(f, args, 1)?;
            let v = &args[0];
            let xs = v.to_vec(&t.val);
            let mut idx: Vec<usize> = (0..xs.len()).collect();
            idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
            if f == SortDesc {
                idx.reverse();
            }
            match v {
                Val::Ints(d, ..) => {
                    let out: Vec<f64> = idx.iter().map(|&i| xs[i]).collect();
                    Ok(Val::Ints(*d, out.into(), 0))
                }
                Val::Reals(s, _) => Ok(gather(t, v, &idx, *s)),
                _ => Ok(v.clone()),
            }
        }
        SortIndicesAsc | SortIndicesDesc => {
            nargs(f, args, 1)?;
            let xs = args[0].to_vec(&t.val);
            let mut idx: Vec<usize> = (0..xs.len()).collect();
            // Stable, so ties keep their order (as Stan's).
            if f == SortIndicesAsc {
                idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
            } else {
                idx.sort_by(|&a, &b| xs[b].total_cmp(&xs[a]));
            }
            let out: Vec<f64> = idx.iter().map(|&i| (i + 1) as f64).collect();
            Ok(Val::Ints(
                crate::value::Dims::from_slice(&[out.len()])?,
                out.into(),
                0,
            ))
        }
        Rank => {
            nargs(f, args, 2)?;
            let xs = args[0].to_vec(&t.val);
            let s = args[1].as_int()?;
            if s < 1 || s as usize > xs.len() {
                return eval_err(format!("rank: index {s} out of range 1..{}", xs.len()));
            }
            let v = xs[s as usize - 1];
            Ok(Val::Int(xs.iter().filter(|&&x| x < v).count() as i64))
        }
        DimsOf => {
            nargs(f, args, 1)?;
            let d: Vec<f64> = match &args[0] {
                Val::Int(_) | Val::Real(..) => vec![],
                Val::Ints(d, ..) => d.as_slice().iter().map(|&x| x as f64).collect(),
                Val::Reals(s, _) => crate::layout::full_dims(s)
                    .into_iter()
                    .map(|x| x as f64)
                    .collect(),
            };
            Ok(Val::Ints(
                crate::value::Dims::from_slice(&[d.len()])?,
                d.into(),
                0,
            ))
        }
        Transpose => {
            nargs(f, args, 1)?;
            ops::transpose(t, &args[0])
        }
        IsInf => {
            nargs(f, args, 1)?;
            Ok(Val::Int(args[0].as_f64()?.is_infinite() as i64))
        }
        IsNan => {
            nargs(f, args, 1)?;
            Ok(Val::Int(args[0].as_f64()?.is_nan() as i64))
        }
        IdentityMatrix => {
            nargs(f, args, 1)?;
            let n = size_arg(&args[0])?;
            let mut v = vec![0.0; n * n];
            for i in 0..n {
                v[i + i * n] = 1.0;
            }
            Ok(Val::const_reals(Shape::matrix(n, n), v))
        }
        QuadFormDiag => {
            nargs(f, args, 2)?;
            let Some((_, Base::Matrix(r, c))) = base_of(&args[0]) else {
                return eval_err("quad_form_diag needs a matrix");
            };
            let (r, c) = (r as usize, c as usize);
            if r != c || args[1].numel() != r {
                return eval_err("quad_form_diag: size mismatch");
            }
            let v = promote(args[1].clone());
            let rows: Vec<usize> = (0..r * c).map(|k| k % r).collect();
            let cols: Vec<usize> = (0..r * c).map(|k| k / r).collect();
            let vr = gather(t, &v, &rows, Shape::matrix(r, c));
            let vc = gather(t, &v, &cols, Shape::matrix(r, c));
            let m = ops::elt_mul(t, &args[0], &vr)?;
            ops::elt_mul(t, &m, &vc)
        }
        QuadForm => {
            nargs(f, args, 2)?;
            let bt = ops::transpose(t, &args[1])?;
            let ab = ops::mul(t, &args[0], &args[1])?;
            ops::mul(t, &bt, &ab)
        }
        MdivideLeftTriLow | MdivideRightTriLow => {
            nargs(f, args, 2)?;
            tri_solve(t, f == MdivideLeftTriLow, &args[0], &args[1])
        }
        ToMatrix => to_matrix(t, args),
        Choose => {
            nargs(f, args, 2)?;
            let (n, k) = (args[0].as_int()?, args[1].as_int()?);
            if n < 0 || k < 0 {
                return eval_err("choose: arguments must be non-negative");
            }
            if k > n {
                return Ok(Val::Int(0));
            }
            let v = math::lchoose(n as f64, k as f64).exp().round();
            if v >= i64::MAX as f64 {
                return eval_err("choose: result overflows an int");
            }
            Ok(Val::Int(v as i64))
        }
        LinspacedVector => {
            nargs(f, args, 3)?;
            let n = size_arg(&args[0])?;
            let (lo, hi) = (args[1].as_f64()?, args[2].as_f64()?);
            let v: Vec<f64> = (0..n)
                .map(|i| {
                    if n == 1 {
                        hi
                    } else {
                        lo + (hi - lo) * i as f64 / (n - 1) as f64
                    }
                })
                .collect();
            Ok(Val::const_reals(Shape::vector(n), v))
        }
        Inverse => {
            nargs(f, args, 1)?;
            inverse(t, &args[0])
        }
    }
}

/// Element (i, j) of a matrix-like value with `r` rows as a scalar value.
fn at(t: &Tape, m: &Val, i: usize, j: usize, r: usize) -> Val {
    let (x, s) = m.elem(i + j * r, &t.val);
    Val::Real(x, s)
}

/// `mdivide_left_tri_low(L, b)` = L^{-1} b and `mdivide_right_tri_low(b, L)` = b L^{-1}, by
/// substitution on scalar tape nodes.
fn tri_solve(t: &mut Tape, left: bool, a: &Val, b: &Val) -> Res<Val> {
    let (l, rhs) = if left { (a, b) } else { (b, a) };
    let Some((_, Base::Matrix(n, n2))) = base_of(l) else {
        return eval_err("triangular solve needs a square matrix");
    };
    let n = n as usize;
    if n2 as usize != n {
        return eval_err("triangular solve needs a square matrix");
    }
    let (shape, rows, cols) = match base_of(rhs) {
        Some((_, Base::Vector(k))) if left => (Shape::vector(k as usize), k as usize, 1),
        Some((_, Base::RowVector(k))) if !left => (Shape::row_vector(k as usize), 1, k as usize),
        Some((_, Base::Matrix(r, c))) => (
            Shape::matrix(r as usize, c as usize),
            r as usize,
            c as usize,
        ),
        _ => return eval_err("triangular solve: unsupported right-hand side"),
    };
    if (left && rows != n) || (!left && cols != n) {
        return eval_err("triangular solve: size mismatch");
    }
    for i in 0..n {
        if l.elem(i + i * n, &t.val).0 == 0.0 {
            return eval_err("triangular solve: zero on the diagonal");
        }
    }
    let mut out: Vec<Val> = vec![Val::real(0.0); rows * cols];
    if left {
        // Column by column: x_i = (b_i - sum_{k<i} L_ik x_k) / L_ii.
        for c in 0..cols {
            for i in 0..n {
                let mut acc = at(t, rhs, i, c, rows);
                for k in 0..i {
                    let p = ops::elt_mul(t, &at(t, l, i, k, n), &out[k + c * rows])?;
                    acc = ops::sub(t, &acc, &p)?;
                }
                out[i + c * rows] = ops::elt_div(t, &acc, &at(t, l, i, i, n))?;
            }
        }
    } else {
        // Row by row: x L = b, x_j = (b_j - sum_{k>j} x_k L_kj) / L_jj.
        for r in 0..rows {
            for j in (0..n).rev() {
                let mut acc = at(t, rhs, r, j, rows);
                for k in j + 1..n {
                    let p = ops::elt_mul(t, &out[r + k * rows], &at(t, l, k, j, n))?;
                    acc = ops::sub(t, &acc, &p)?;
                }
                out[r + j * rows] = ops::elt_div(t, &acc, &at(t, l, j, j, n))?;
            }
        }
    }
    ops::stack(t, &out, shape)
}

fn to_matrix(t: &mut Tape, args: &[Val]) -> Res<Val> {
    match args.len() {
        1 => {
            let v = &args[0];
            match base_of(v) {
                Some((d, Base::Matrix(..))) if d.is_empty() => Ok(v.clone()),
                Some((d, Base::Vector(n))) if d.is_empty() => {
                    ops::reshape(v, Shape::matrix(n as usize, 1))
                }
                Some((d, Base::RowVector(n))) if d.is_empty() => {
                    ops::reshape(v, Shape::matrix(1, n as usize))
                }
                Some((d, Base::Real)) if d.len() == 2 => {
                    // A 2-D array (row-major) becomes a column-major matrix.
                    let (r, c) = (d.d[0] as usize, d.d[1] as usize);
                    let idx: Vec<usize> = (0..r * c).map(|k| (k % r) * c + k / r).collect();
                    Ok(gather(t, &promote(v.clone()), &idx, Shape::matrix(r, c)))
                }
                _ => eval_err(format!("to_matrix: unsupported argument {}", v.type_name())),
            }
        }
        3 => {
            let (m, n) = (size_arg(&args[1])?, size_arg(&args[2])?);
            if args[0].numel() != m * n {
                return eval_err("to_matrix: size mismatch");
            }
            // Column-major fill from the storage order of a vector or 1-D array.
            ops::reshape(&promote(args[0].clone()), Shape::matrix(m, n))
        }
        _ => eval_err("to_matrix takes 1 or 3 arguments"),
    }
}

fn inverse(t: &mut Tape, a: &Val) -> Res<Val> {
    let Some((_, Base::Matrix(r, c))) = base_of(a) else {
        return eval_err("inverse needs a matrix");
    };
    if r != c {
        return eval_err("inverse needs a square matrix");
    }
    let n = r as usize;
    let av = a.to_vec(&t.val);
    // Gauss-Jordan with partial pivoting.
    let mut m = av.clone();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i + i * n] = 1.0;
    }
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&x, &y| m[x + col * n].abs().total_cmp(&m[y + col * n].abs()))
            .unwrap_or(col);
        if m[piv + col * n] == 0.0 || !m[piv + col * n].is_finite() {
            return eval_err("inverse: matrix is singular");
        }
        if piv != col {
            for j in 0..n {
                m.swap(piv + j * n, col + j * n);
                inv.swap(piv + j * n, col + j * n);
            }
        }
        let d = m[col + col * n];
        for j in 0..n {
            m[col + j * n] /= d;
            inv[col + j * n] /= d;
        }
        for i in 0..n {
            if i != col {
                let fct = m[i + col * n];
                if fct != 0.0 {
                    for j in 0..n {
                        m[i + j * n] -= fct * m[col + j * n];
                        inv[i + j * n] -= fct * inv[col + j * n];
                    }
                }
            }
        }
    }
    if !a.is_var() {
        return Ok(Val::const_reals(Shape::matrix(n, n), inv));
    }
    // d(A^-1)_{ij} / dA_{kl} = -(A^-1)_{ik} (A^-1)_{lj}.
    let nn = n * n;
    let mut jac = vec![0.0; nn * nn];
    for j in 0..n {
        for i in 0..n {
            let row = (i + j * n) * nn;
            for l in 0..n {
                for k in 0..n {
                    jac[row + k + l * n] = -inv[i + k * n] * inv[l + j * n];
                }
            }
        }
    }
    Ok(ops::dense_with(t, a, Shape::matrix(n, n), &inv, &jac))
}

fn lower_tri(t: &Tape, m: &Val) -> Res<Val> {
    let Some((_, Base::Matrix(r, c))) = base_of(m) else {
        return eval_err("expected a matrix");
    };
    let (r, c) = (r as usize, c as usize);
    let mut vals = vec![0.0; r * c];
    let mut slots = vec![NONE; r * c];
    for j in 0..c {
        for i in j..r {
            let (x, s) = m.elem(i + j * r, &t.val);
            vals[i + j * r] = x;
            slots[i + j * r] = s;
        }
    }
    Ok(from_elems(Shape::matrix(r, c), vals, slots))
}

fn slice1d(t: &Tape, v: &Val, start: usize, k: usize) -> Res<Val> {
    match v {
        Val::Ints(_, d, off) => Ok(Val::Ints(
            Dims::from_slice(&[k])?,
            d.clone(),
            off + start as u32,
        )),
        Val::Reals(s, _) => {
            let shape = match s.base {
                Base::Vector(_) => Shape::vector(k),
                Base::RowVector(_) => Shape::row_vector(k),
                Base::Real if s.arr.len() == 1 => Shape::array(Dims::from_slice(&[k])?),
                _ => return eval_err("head/tail/segment need a one-dimensional container"),
            };
            let idx: Vec<usize> = (start..start + k).collect();
            Ok(gather(t, v, &idx, shape))
        }
        _ => eval_err("head/tail/segment need a container"),
    }
}

fn append(t: &Tape, rows: bool, a: &Val, b: &Val) -> Res<Val> {
    let dims = |v: &Val| -> Res<(usize, usize, bool)> {
        // (rows, cols, is_vector_like)
        Ok(match v {
            Val::Int(_) | Val::Real(..) => (1, 1, true),
            Val::Reals(s, _) if s.arr.is_empty() => match s.base {
                Base::Vector(n) => (n as usize, 1, true),
                Base::RowVector(n) => (1, n as usize, true),
                Base::Matrix(r, c) => (r as usize, c as usize, false),
                Base::Real => (1, 1, true),
            },
            other => return eval_err(format!("cannot append {}", other.type_name())),
        })
    };
    let (ra, ca, _) = dims(a)?;
    let (rb, cb, _) = dims(b)?;
    let both_vec_like = |x: &Val| {
        matches!(x, Val::Int(_) | Val::Real(..))
            || matches!(x, Val::Reals(s, _) if matches!(s.base, Base::Vector(_)))
    };
    if rows {
        if ca != cb {
            return eval_err("append_row: column counts differ");
        }
        let r = ra + rb;
        let c = ca;
        let mut items = vec![(0.0, NONE); r * c];
        for j in 0..c {
            for i in 0..ra {
                items[i + j * r] = a.elem(i + j * ra, &t.val);
            }
            for i in 0..rb {
                items[ra + i + j * r] = b.elem(i + j * rb, &t.val);
            }
        }
        let shape = if c == 1 && both_vec_like(a) && both_vec_like(b) {
            Shape::vector(r)
        } else {
            Shape::matrix(r, c)
        };
        let (v, s): (Vec<f64>, Vec<u32>) = items.into_iter().unzip();
        Ok(from_elems(shape, v, s))
    } else {
        if ra != rb {
            return eval_err("append_col: row counts differ");
        }
        let r = ra;
        let mut vals = a.to_vec(&t.val);
        let mut slots = a.slots();
        vals.extend(b.to_vec(&t.val));
        slots.extend(b.slots());
        let c = ca + cb;
        let row_like = |x: &Val| {
            matches!(x, Val::Int(_) | Val::Real(..))
                || matches!(x, Val::Reals(s, _) if matches!(s.base, Base::RowVector(_)))
        };
        let shape = if r == 1 && row_like(a) && row_like(b) {
            Shape::row_vector(c)
        } else {
            Shape::matrix(r, c)
        };
        Ok(from_elems(shape, vals, slots))
    }
}

fn cholesky_decompose(t: &mut Tape, a: &Val) -> Res<Val> {
    let Some((_, Base::Matrix(r, c))) = base_of(a) else {
        return eval_err("cholesky_decompose needs a matrix");
    };
    if r != c {
        return eval_err("cholesky_decompose needs a square matrix");
    }
    let n = r as usize;
    let av = a.to_vec(&t.val);
    for i in 0..n {
        for j in 0..i {
            let (x, y) = (av[i + j * n], av[j + i * n]);
            if (x - y).abs() > 1e-8 * (1.0 + x.abs().max(y.abs())) {
                return eval_err("cholesky_decompose: matrix is not symmetric");
            }
        }
    }
    let Some(l) = crate::dist::cholesky(&av, n) else {
        return eval_err("cholesky_decompose: matrix is not positive definite");
    };
    match operand_slots(t, a) {
        None => Ok(Val::const_reals(Shape::matrix(n, n), l)),
        Some(slots) => {
            let out = t.alloc_out(n * n);
            t.val[out as usize..out as usize + n * n].copy_from_slice(&l);
            t.nodes.push(Node::Chol {
                out,
                n: n as u32,
                a: slots,
            });
            Ok(Val::Reals(Shape::matrix(n, n), Store::Tape(out)))
        }
    }
}

fn gp_exp_quad_cov(t: &mut Tape, args: &[Val]) -> Res<Val> {
    let (x1, x2, alpha, rho) = match args.len() {
        3 => (&args[0], &args[0], &args[1], &args[2]),
        4 => (&args[0], &args[1], &args[2], &args[3]),
        _ => return eval_err("gp_exp_quad_cov takes 3 or 4 arguments"),
    };
    if x1.is_var() || x2.is_var() {
        return Err(ModelError::Unsupported(
            "gp_exp_quad_cov with parameter-dependent inputs".into(),
        ));
    }
    // Inputs: an array of reals, or an array of vectors (squared Euclidean distance).
    let points = |v: &Val| -> Res<(usize, usize, Vec<f64>)> {
        match v {
            Val::Ints(d, ..) => Ok((d.numel(), 1, v.to_vec(&[]))),
            Val::Reals(s, _) => {
                let (n, d) = if s.arr.is_empty() {
                    (s.base.numel(), 1)
                } else {
                    (s.arr.numel(), s.base.numel())
                };
                Ok((n, d, v.to_vec(&t.val)))
            }
            _ => eval_err("gp_exp_quad_cov: inputs must be arrays"),
        }
    };
    let (n1, d1, p1) = points(x1)?;
    let (n2, d2, p2) = points(x2)?;
    if d1 != d2 {
        return eval_err("gp_exp_quad_cov: input dimensions differ");
    }
    let (a, sa) = alpha.as_scalar()?;
    let (r, sr) = rho.as_scalar()?;
    if !(a > 0.0) || !(r > 0.0) {
        return eval_err("gp_exp_quad_cov: magnitude and length scale must be positive");
    }
    let n = n1 * n2;
    let mut vals = vec![0.0; n];
    let mut da = vec![0.0; n];
    let mut dr = vec![0.0; n];
    let a2 = a * a;
    let inv_r2 = 1.0 / (r * r);
    for j in 0..n2 {
        for i in 0..n1 {
            let mut d2s = 0.0;
            for k in 0..d1 {
                let diff = p1[i * d1 + k] - p2[j * d1 + k];
                d2s += diff * diff;
            }
            let kv = a2 * (-0.5 * d2s * inv_r2).exp();
            vals[i + j * n1] = kv;
            da[i + j * n1] = 2.0 * kv / a;
            dr[i + j * n1] = kv * d2s * inv_r2 / r;
        }
    }
    let shape = Shape::matrix(n1, n2);
    if sa == NONE && sr == NONE {
        return Ok(Val::const_reals(shape, vals));
    }
    let out = t.alloc_out(n);
    t.val[out as usize..out as usize + n].copy_from_slice(&vals);
    let first_op = t.ops.len();
    for (s, g) in [(sa, &da), (sr, &dr)] {
        if s != NONE {
            let p = t.alloc_part(n);
            t.part[p as usize..p as usize + n].copy_from_slice(g);
            t.ops.push(Operand {
                slots: crate::tape::Slots::Scalar(s),
                n: n as u32,
                p: Partials::Stored(p),
            });
        }
    }
    t.elem(out, n, first_op);
    Ok(Val::Reals(shape, Store::Tape(out)))
}

fn log_mix(t: &mut Tape, args: &[Val]) -> Res<Val> {
    // log_mix(theta, lp1, lp2) = log(theta exp(lp1) + (1 - theta) exp(lp2));
    // log_mix(thetas, lps) = log_sum_exp(log(thetas) + lps).
    match args.len() {
        3 => {
            let (th, st) = args[0].as_scalar()?;
            let (l1, s1) = args[1].as_scalar()?;
            let (l2, s2) = args[2].as_scalar()?;
            if !(0.0..=1.0).contains(&th) {
                return eval_err(format!("log_mix: mixing proportion {th} outside [0, 1]"));
            }
            let a = th.ln() + l1;
            let b = (-th).ln_1p() + l2;
            let v = math::log_sum_exp2(a, b);
            let w1 = (a - v).exp();
            let w2 = (b - v).exp();
            let dth = (l1 - v).exp() - (l2 - v).exp();
            let first_op = t.ops.len();
            for (s, d) in [(st, dth), (s1, w1), (s2, w2)] {
                if s != NONE {
                    let p = t.alloc_part(1);
                    t.part[p as usize] = d;
                    t.ops.push(Operand {
                        slots: crate::tape::Slots::Scalar(s),
                        n: 1,
                        p: Partials::Stored(p),
                    });
                }
            }
            Ok(Val::Real(v, t.reduce(v, first_op)))
        }
        2 => {
            let th = args[0].to_vec(&t.val);
            let lp = args[1].to_vec(&t.val);
            if th.len() != lp.len() {
                return eval_err("log_mix: sizes differ");
            }
            let terms: Vec<f64> = th.iter().zip(&lp).map(|(a, b)| a.ln() + b).collect();
            let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let v = m + terms.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
            let w: Vec<f64> = terms.iter().map(|x| (x - v).exp()).collect();
            let dth: Vec<f64> = w.iter().zip(&th).map(|(w, th)| w / th).collect();
            let first_op = t.ops.len();
            for (val, g) in [(&args[0], &dth), (&args[1], &w)] {
                if let Some(slots) = operand_slots(t, val) {
                    let p = t.alloc_part(g.len());
                    t.part[p as usize..p as usize + g.len()].copy_from_slice(g);
                    t.ops.push(Operand {
                        slots,
                        n: g.len() as u32,
                        p: Partials::Stored(p),
                    });
                }
            }
            Ok(Val::Real(v, t.reduce(v, first_op)))
        }
        _ => eval_err("log_mix takes 2 or 3 arguments"),
    }
}
