//! Differentiable operations on runtime values: elementwise maps with broadcasting, matrix
//! products, reductions, and the container functions of the language. Each operation on
//! constants only is computed directly; anything touching a tape slot becomes one fused node.

use crate::math;
use crate::tape::{Node, Operand, Partials, Slots, Tape, NONE};
use crate::value::{
    eval_err, from_elems, operand_slots, promote, store_values, Base, Res, Shape, Store, Val,
};

fn real_shape(v: &Val) -> Option<Shape> {
    match v {
        Val::Int(_) | Val::Real(..) => None,
        Val::Ints(d, ..) => Some(Shape::array(*d)),
        Val::Reals(s, _) => Some(*s),
    }
}

/// Elementwise `f` over one value.
pub fn map1(t: &mut Tape, v: &Val, f: impl Fn(f64) -> (f64, f64)) -> Val {
    match v {
        Val::Int(i) => Val::real(f(*i as f64).0),
        Val::Real(x, s) => {
            let (y, d) = f(*x);
            if *s == NONE {
                Val::real(y)
            } else {
                Val::Real(y, t.un(y, *s, d))
            }
        }
        _ => {
            let shape = real_shape(v).expect("container");
            let n = shape.numel();
            let first_op = t.ops.len();
            match operand_slots(t, v) {
                None => {
                    let xs = v.values(&t.val);
                    let out: Vec<f64> = (0..n).map(|i| f(xs.get(i)).0).collect();
                    Val::const_reals(shape, out)
                }
                Some(slots) => {
                    let out = t.alloc_out(n);
                    let p = t.alloc_part(n);
                    {
                        let Tape { val, part, .. } = &mut *t;
                        let (before, after) = val.split_at_mut(out as usize);
                        let xs = v.values(before);
                        let ps = &mut part[p as usize..p as usize + n];
                        for i in 0..n {
                            let (y, d) = f(xs.get(i));
                            after[i] = y;
                            ps[i] = d;
                        }
                    }
                    t.ops.push(Operand {
                        slots,
                        n: n as u32,
                        p: Partials::Stored(p),
                    });
                    t.elem(out, n, first_op);
                    Val::Reals(shape, Store::Tape(out))
                }
            }
        }
    }
}

/// How a binary elementwise op's partial for one side is known without storing it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Known {
    Stored,
    Ones,
    NegOnes,
}

fn result_shape(a: &Val, b: &Val, what: &str) -> Res<Option<Shape>> {
    match (real_shape(a), real_shape(b)) {
        (None, None) => Ok(None),
        (Some(s), None) | (None, Some(s)) => Ok(Some(s)),
        (Some(sa), Some(sb)) => {
            if sa.numel() != sb.numel() {
                return eval_err(format!(
                    "size mismatch in {what}: {} and {}",
                    sa.describe(),
                    sb.describe()
                ));
            }
            Ok(Some(sa))
        }
    }
}

/// Elementwise binary `f(a, b) -> (value, d/da, d/db)` with scalar broadcasting.
pub fn map2(
    t: &mut Tape,
    a: &Val,
    b: &Val,
    what: &str,
    ka: Known,
    kb: Known,
    f: impl Fn(f64, f64) -> (f64, f64, f64),
) -> Res<Val> {
    let shape = result_shape(a, b, what)?;
    let Some(shape) = shape else {
        let (x, sx) = a.as_scalar()?;
        let (y, sy) = b.as_scalar()?;
        let (v, da, db) = f(x, y);
        if sx == NONE && sy == NONE {
            return Ok(Val::real(v));
        }
        return Ok(Val::Real(v, t.bin(v, sx, da, sy, db)));
    };
    let n = shape.numel();
    let first_op = t.ops.len();
    let sa = operand_slots(t, a);
    let sb = operand_slots(t, b);
    if sa.is_none() && sb.is_none() {
        let xa = a.values(&t.val);
        let xb = b.values(&t.val);
        let out: Vec<f64> = (0..n).map(|i| f(xa.get(i), xb.get(i)).0).collect();
        return Ok(Val::const_reals(shape, out));
    }
    let out = t.alloc_out(n);
    let pa = if sa.is_some() && ka == Known::Stored {
        t.alloc_part(n)
    } else {
        NONE
    };
    let pb = if sb.is_some() && kb == Known::Stored {
        t.alloc_part(n)
    } else {
        NONE
    };
    {
        let Tape { val, part, .. } = &mut *t;
        let (before, after) = val.split_at_mut(out as usize);
        let xa = a.values(before);
        let xb = b.values(before);
        let after = &mut after[..n];
        match (pa != NONE, pb != NONE) {
            (false, false) => {
                for (i, o) in after.iter_mut().enumerate() {
                    *o = f(xa.get(i), xb.get(i)).0;
                }
            }
            (true, false) => {
                for (i, o) in after.iter_mut().enumerate() {
                    let (v, da, _) = f(xa.get(i), xb.get(i));
                    *o = v;
                    part[pa as usize + i] = da;
                }
            }
            (false, true) => {
                for (i, o) in after.iter_mut().enumerate() {
                    let (v, _, db) = f(xa.get(i), xb.get(i));
                    *o = v;
                    part[pb as usize + i] = db;
                }
            }
            (true, true) => {
                for (i, o) in after.iter_mut().enumerate() {
                    let (v, da, db) = f(xa.get(i), xb.get(i));
                    *o = v;
                    part[pa as usize + i] = da;
                    part[pb as usize + i] = db;
                }
            }
        }
    }
    let partials = |k: Known, off: u32| match k {
        Known::Ones => Partials::Ones,
        Known::NegOnes => Partials::NegOnes,
        Known::Stored => Partials::Stored(off),
    };
    if let Some(s) = sa {
        t.ops.push(Operand {
            slots: s,
            n: n as u32,
            p: partials(ka, pa),
        });
    }
    if let Some(s) = sb {
        t.ops.push(Operand {
            slots: s,
            n: n as u32,
            p: partials(kb, pb),
        });
    }
    t.elem(out, n, first_op);
    Ok(Val::Reals(shape, Store::Tape(out)))
}

pub fn add(t: &mut Tape, a: &Val, b: &Val) -> Res<Val> {
    if let (Val::Int(x), Val::Int(y)) = (a, b) {
        return Ok(Val::Int(x.wrapping_add(*y)));
    }
    map2(t, a, b, "+", Known::Ones, Known::Ones, |x, y| {
        (x + y, 1.0, 1.0)
    })
}

pub fn sub(t: &mut Tape, a: &Val, b: &Val) -> Res<Val> {
    if let (Val::Int(x), Val::Int(y)) = (a, b) {
        return Ok(Val::Int(x.wrapping_sub(*y)));
    }
    map2(t, a, b, "-", Known::Ones, Known::NegOnes, |x, y| {
        (x - y, 1.0, -1.0)
    })
}

pub fn elt_mul(t: &mut Tape, a: &Val, b: &Val) -> Res<Val> {
    if let (Val::Int(x), Val::Int(y)) = (a, b) {
        return Ok(Val::Int(x.wrapping_mul(*y)));
    }
    map2(t, a, b, ".*", Known::Stored, Known::Stored, |x, y| {
        (x * y, y, x)
    })
}

pub fn elt_div(t: &mut Tape, a: &Val, b: &Val) -> Res<Val> {
    if let (Val::Int(x), Val::Int(y)) = (a, b) {
        if *y == 0 {
            return eval_err("integer division by zero");
        }
        return Ok(Val::Int(x.wrapping_div(*y)));
    }
    map2(t, a, b, "./", Known::Stored, Known::Stored, |x, y| {
        let q = x / y;
        (q, 1.0 / y, -q / y)
    })
}

pub fn neg(t: &mut Tape, a: &Val) -> Val {
    match a {
        Val::Int(i) => Val::Int(i.wrapping_neg()),
        _ => map1(t, a, |x| (-x, -1.0)),
    }
}

pub fn pow(t: &mut Tape, a: &Val, b: &Val) -> Res<Val> {
    map2(t, a, b, "^", Known::Stored, Known::Stored, math::pow)
}

/// (rows, inner, cols) of a value seen as a matrix: vectors are columns, row vectors rows.
fn mat_dims(v: &Val) -> Option<(usize, usize)> {
    match v {
        Val::Reals(s, _) if s.arr.is_empty() => match s.base {
            Base::Vector(n) => Some((n as usize, 1)),
            Base::RowVector(n) => Some((1, n as usize)),
            Base::Matrix(r, c) => Some((r as usize, c as usize)),
            Base::Real => None,
        },
        _ => None,
    }
}

/// `a * b`: scalar scaling or a matrix product.
pub fn mul(t: &mut Tape, a: &Val, b: &Val) -> Res<Val> {
    let (da, db) = (mat_dims(a), mat_dims(b));
    let (Some((r, k)), Some((k2, c))) = (da, db) else {
        return elt_mul(t, a, b);
    };
    if k != k2 {
        return eval_err(format!(
            "size mismatch in matrix product: {} * {}",
            a.type_name(),
            b.type_name()
        ));
    }
    let out_shape = match (a, b) {
        (Val::Reals(sa, _), Val::Reals(sb, _)) => match (sa.base, sb.base) {
            (Base::RowVector(_), Base::Vector(_)) => None,
            (Base::Matrix(..), Base::Vector(_)) => Some(Shape::vector(r)),
            (Base::RowVector(_), Base::Matrix(..)) => Some(Shape::row_vector(c)),
            _ => Some(Shape::matrix(r, c)),
        },
        _ => unreachable!(),
    };
    let sa = operand_slots(t, a);
    let sb = operand_slots(t, b);
    let n = r * c;
    if sa.is_none() && sb.is_none() {
        let av = a.values(&t.val);
        let bv = b.values(&t.val);
        let mut out = vec![0.0; n];
        for j in 0..c {
            for l in 0..k {
                let bl = bv.get(l + j * k);
                for i in 0..r {
                    out[i + j * r] += av.get(i + l * r) * bl;
                }
            }
        }
        return Ok(match out_shape {
            None => Val::real(out[0]),
            Some(s) => Val::const_reals(s, out),
        });
    }
    let out = t.alloc_out(n);
    // Constant matrix times parameter vector: the regression fast path.
    if let (None, Some(vs), Val::Reals(_, Store::Const(arc, off)), 1) = (sa, sb, a, c) {
        let Tape { val, .. } = &mut *t;
        let (before, after) = val.split_at_mut(out as usize);
        let bv = b.values(before);
        let am = &arc[*off as usize..*off as usize + r * k];
        let o = &mut after[..r];
        for l in 0..k {
            let bl = bv.get(l);
            let col = &am[l * r..(l + 1) * r];
            for (oi, ai) in o.iter_mut().zip(col) {
                *oi += ai * bl;
            }
        }
        t.nodes.push(Node::MatVecConst {
            out,
            r: r as u32,
            c: k as u32,
            a: arc.clone(),
            a_off: *off,
            v: vs,
            b: NONE,
        });
    } else {
        let a_vals = t.alloc_part(r * k);
        let b_vals = t.alloc_part(k * c);
        {
            let Tape { val, part, .. } = &mut *t;
            let (before, after) = val.split_at_mut(out as usize);
            let av = a.values(before);
            let bv = b.values(before);
            for i in 0..r * k {
                part[a_vals as usize + i] = av.get(i);
            }
            for i in 0..k * c {
                part[b_vals as usize + i] = bv.get(i);
            }
            let o = &mut after[..n];
            for j in 0..c {
                for l in 0..k {
                    let bl = bv.get(l + j * k);
                    for i in 0..r {
                        o[i + j * r] += av.get(i + l * r) * bl;
                    }
                }
            }
        }
        t.nodes.push(Node::MatMul {
            out,
            r: r as u32,
            k: k as u32,
            c: c as u32,
            a: sa,
            a_vals,
            b: sb,
            b_vals,
        });
    }
    Ok(match out_shape {
        None => Val::Real(t.val[out as usize], out),
        Some(s) => Val::Reals(s, Store::Tape(out)),
    })
}

/// `intercept + X * v` for a constant matrix `X`, a parameter vector `v` and a scalar
/// intercept as one node; `None` when the operands do not have that form.
pub fn affine(t: &mut Tape, intercept: &Val, x: &Val, v: &Val) -> Option<Val> {
    let (Val::Reals(xs, Store::Const(arc, off)), Val::Reals(vs, _)) = (x, v) else {
        return None;
    };
    let (Base::Matrix(r, k), Base::Vector(k2)) = (xs.base, vs.base) else {
        return None;
    };
    if !xs.arr.is_empty() || !vs.arr.is_empty() || k != k2 {
        return None;
    }
    let (b0, bslot) = intercept.as_scalar().ok()?;
    let vslots = operand_slots(t, v)?;
    let (r, k) = (r as usize, k as usize);
    let out = t.alloc_out(r);
    {
        let Tape { val, .. } = &mut *t;
        let (before, after) = val.split_at_mut(out as usize);
        let bv = v.values(before);
        let am = &arc[*off as usize..*off as usize + r * k];
        let o = &mut after[..r];
        o.iter_mut().for_each(|x| *x = b0);
        for l in 0..k {
            let bl = bv.get(l);
            let col = &am[l * r..(l + 1) * r];
            for (oi, ai) in o.iter_mut().zip(col) {
                *oi += ai * bl;
            }
        }
    }
    t.nodes.push(Node::MatVecConst {
        out,
        r: r as u32,
        c: k as u32,
        a: arc.clone(),
        a_off: *off,
        v: vslots,
        b: bslot,
    });
    Some(Val::Reals(Shape::vector(r), Store::Tape(out)))
}

/// `a / b`: elementwise when b is a scalar; matrix division is unsupported.
pub fn div(t: &mut Tape, a: &Val, b: &Val) -> Res<Val> {
    if let (Val::Int(x), Val::Int(y)) = (a, b) {
        if *y == 0 {
            return eval_err("integer division by zero");
        }
        // Stan's int / int truncates.
        return Ok(Val::Int(x.wrapping_div(*y)));
    }
    if real_shape(b).is_some() && real_shape(a).is_some() {
        // B / A = B * inverse(A) for a square matrix A.
        if let Val::Reals(s, _) = b {
            if matches!(s.base, Base::Matrix(..)) && s.arr.is_empty() {
                let inv = crate::builtins::call(
                    t,
                    crate::builtins::Builtin::Inverse,
                    std::slice::from_ref(b),
                )?;
                return mul(t, a, &inv);
            }
        }
        return Err(crate::ModelError::Unsupported(
            "division `/` by a container that is not a matrix (use ./)".into(),
        ));
    }
    elt_div(t, a, b)
}

/// Transpose of a vector, row vector or matrix.
pub fn transpose(t: &mut Tape, v: &Val) -> Res<Val> {
    let Val::Reals(s, st) = v else {
        return eval_err(format!("cannot transpose {}", v.type_name()));
    };
    if !s.arr.is_empty() {
        return eval_err("cannot transpose an array");
    }
    match s.base {
        Base::Vector(n) => Ok(Val::Reals(Shape::row_vector(n as usize), st.clone())),
        Base::RowVector(n) => Ok(Val::Reals(Shape::vector(n as usize), st.clone())),
        Base::Matrix(r, c) => {
            let (r, c) = (r as usize, c as usize);
            let perm: Vec<usize> = (0..r * c).map(|k| (k / c) + (k % c) * r).collect();
            // output (j, i) at j + i*c  <- input (i, j) at i + j*r. For output index k = j + i*c:
            // i = k / c, j = k % c, input index = i + j*r.
            Ok(gather(t, v, &perm, Shape::matrix(c, r)))
        }
        Base::Real => Ok(v.clone()),
    }
}

/// A new value whose element `k` is element `idx[k]` of `v` (no tape node: slots are reused).
pub fn gather(t: &Tape, v: &Val, idx: &[usize], shape: Shape) -> Val {
    let mut vals = Vec::with_capacity(idx.len());
    let mut slots = Vec::with_capacity(idx.len());
    for &i in idx {
        let (x, s) = v.elem(i, &t.val);
        vals.push(x);
        slots.push(s);
    }
    from_elems(shape, vals, slots)
}

/// Sum of all elements.
pub fn sum(t: &mut Tape, v: &Val) -> Val {
    match v {
        Val::Int(_) | Val::Real(..) => v.clone(),
        Val::Ints(d, data, off) => {
            let o = *off as usize;
            Val::Int(data[o..o + d.numel()].iter().sum::<f64>() as i64)
        }
        Val::Reals(s, st) => {
            let n = s.numel();
            let total: f64 = store_values(st, n, &t.val).iter().sum();
            let first_op = t.ops.len();
            if let Some(slots) = operand_slots(t, v) {
                t.ops.push(Operand {
                    slots,
                    n: n as u32,
                    p: Partials::Ones,
                });
                let out = t.reduce(total, first_op);
                Val::Real(total, out)
            } else {
                Val::real(total)
            }
        }
    }
}

/// A scalar node `value` with per-element partials `grad` with respect to `v`.
pub fn reduce_with(t: &mut Tape, v: &Val, value: f64, grad: &[f64]) -> Val {
    let first_op = t.ops.len();
    match operand_slots(t, v) {
        None => Val::real(value),
        Some(slots) => {
            let p = t.alloc_part(grad.len());
            t.part[p as usize..p as usize + grad.len()].copy_from_slice(grad);
            t.ops.push(Operand {
                slots,
                n: grad.len() as u32,
                p: Partials::Stored(p),
            });
            Val::Real(value, t.reduce(value, first_op))
        }
    }
}

/// A container node `out` with a dense Jacobian `jac` (out.len() x in.len(), row-major by output)
/// with respect to `v`. For small transforms (softmax, cumulative sums of short vectors).
pub fn dense_with(t: &mut Tape, v: &Val, shape: Shape, out: &[f64], jac: &[f64]) -> Val {
    let m = out.len();
    let Some(slots) = operand_slots(t, v) else {
        return Val::const_reals(shape, out.to_vec());
    };
    let nin = v.numel();
    let start = t.alloc_out(m);
    t.val[start as usize..start as usize + m].copy_from_slice(out);
    // One reduce-like node per output, each reading the same input slots.
    let in_slots: Vec<u32> = match slots {
        Slots::Range(s) => (s..s + nin as u32).collect(),
        Slots::Idx(o) => t.idx[o as usize..o as usize + nin].to_vec(),
        Slots::Scalar(s) => vec![s],
    };
    let idx_off = t.push_idx(&in_slots);
    for i in 0..m {
        let p = t.alloc_part(nin);
        t.part[p as usize..p as usize + nin].copy_from_slice(&jac[i * nin..(i + 1) * nin]);
        let o = t.ops.len();
        t.ops.push(Operand {
            slots: if nin == 1 {
                Slots::Scalar(in_slots[0])
            } else {
                Slots::Idx(idx_off)
            },
            n: nin as u32,
            p: Partials::Stored(p),
        });
        t.nodes.push(Node::Reduce {
            out: start + i as u32,
            ops: o as u32,
            nops: 1,
        });
    }
    Val::Reals(shape, Store::Tape(start))
}

/// Stack scalar values into a container of the given shape.
pub fn stack(t: &Tape, items: &[Val], shape: Shape) -> Res<Val> {
    let mut vals = Vec::with_capacity(shape.numel());
    let mut slots = Vec::with_capacity(shape.numel());
    for it in items {
        match it {
            Val::Int(i) => {
                vals.push(*i as f64);
                slots.push(NONE);
            }
            Val::Real(v, s) => {
                vals.push(*v);
                slots.push(*s);
            }
            other => {
                for i in 0..other.numel() {
                    let (v, s) = other.elem(i, &t.val);
                    vals.push(v);
                    slots.push(s);
                }
            }
        }
    }
    if vals.len() != shape.numel() {
        return eval_err("inconsistent sizes in a literal");
    }
    Ok(from_elems(shape, vals, slots))
}

/// Reinterpret the same elements under a new shape (storage order preserved).
pub fn reshape(v: &Val, shape: Shape) -> Res<Val> {
    if v.numel() != shape.numel() {
        return eval_err("size mismatch in reshape");
    }
    Ok(match promote(v.clone()) {
        Val::Real(x, s) => from_elems(shape, vec![x], vec![s]),
        Val::Reals(_, st) => Val::Reals(shape, st),
        other => other,
    })
}
