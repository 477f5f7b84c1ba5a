//! Indexing and indexed assignment: single, multi and range indexes over arrays, vectors and
//! matrices. Indexing never creates tape nodes: the selected elements keep their slots.

use crate::tape::{Tape, NONE};
use crate::value::{eval_err, from_elems, Base, Dims, Res, Shape, Store, Val};

/// An evaluated index (1-based, as written).
#[derive(Debug, Clone)]
pub enum IdxVal {
    One(i64),
    Many(Vec<i64>),
    All,
}

enum Sel {
    One(usize),
    Many(Vec<usize>),
}

impl Sel {
    fn len(&self) -> usize {
        match self {
            Sel::One(_) => 1,
            Sel::Many(v) => v.len(),
        }
    }
    fn get(&self, k: usize) -> usize {
        match self {
            Sel::One(i) => *i,
            Sel::Many(v) => v[k],
        }
    }
}

/// (array dims, base dims) of a value.
fn dims_of(v: &Val) -> Res<(Vec<usize>, Base, Vec<usize>)> {
    Ok(match v {
        Val::Ints(d, ..) => (
            d.as_slice().iter().map(|&x| x as usize).collect(),
            Base::Real,
            vec![],
        ),
        Val::Reals(s, _) => {
            let arr = s.arr.as_slice().iter().map(|&x| x as usize).collect();
            let base = match s.base {
                Base::Real => vec![],
                Base::Vector(n) | Base::RowVector(n) => vec![n as usize],
                Base::Matrix(r, c) => vec![r as usize, c as usize],
            };
            (arr, s.base, base)
        }
        other => {
            return eval_err(format!(
                "cannot index a value of type {}",
                other.type_name()
            ))
        }
    })
}

fn check(i: i64, n: usize) -> Res<usize> {
    if i < 1 || i as usize > n {
        return eval_err(format!("index {i} out of range; expecting index in 1..{n}"));
    }
    Ok(i as usize - 1)
}

/// Flat storage positions selected by `idx`, and the shape of the selection
/// (`None` for a scalar).
pub fn select(v: &Val, idx: &[IdxVal]) -> Res<(Option<Shape>, Vec<usize>)> {
    let (arr, base, bdims) = dims_of(v)?;
    let nd = arr.len() + bdims.len();
    if idx.len() > nd {
        return eval_err(format!(
            "too many indexes ({}) for a value of type {}",
            idx.len(),
            v.type_name()
        ));
    }
    let all: Vec<usize> = arr.iter().chain(bdims.iter()).cloned().collect();
    let mut sel = Vec::with_capacity(nd);
    for (d, &n) in all.iter().enumerate() {
        sel.push(match idx.get(d) {
            Some(IdxVal::One(i)) => Sel::One(check(*i, n)?),
            Some(IdxVal::Many(is)) => {
                Sel::Many(is.iter().map(|&i| check(i, n)).collect::<Res<Vec<_>>>()?)
            }
            Some(IdxVal::All) | None => Sel::Many((0..n).collect()),
        });
    }
    let na = arr.len();
    let base_numel: usize = bdims.iter().product::<usize>().max(1);
    // Base positions in storage order of the selection.
    let base_pos: Vec<usize> = match bdims.len() {
        0 => vec![0],
        1 => (0..sel[na].len()).map(|k| sel[na].get(k)).collect(),
        _ => {
            let r = bdims[0];
            let (rs, cs) = (&sel[na], &sel[na + 1]);
            let mut out = Vec::with_capacity(rs.len() * cs.len());
            for j in 0..cs.len() {
                for i in 0..rs.len() {
                    out.push(rs.get(i) + cs.get(j) * r);
                }
            }
            out
        }
    };
    // Array offsets, row-major over the selected array indexes.
    let mut strides = vec![base_numel; na];
    for d in (0..na.saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * arr[d + 1];
    }
    let mut offsets = vec![0usize];
    for d in 0..na {
        let mut next = Vec::with_capacity(offsets.len() * sel[d].len());
        for &o in &offsets {
            for k in 0..sel[d].len() {
                next.push(o + sel[d].get(k) * strides[d]);
            }
        }
        offsets = next;
    }
    let mut pos = Vec::with_capacity(offsets.len() * base_pos.len());
    for &o in &offsets {
        for &b in &base_pos {
            pos.push(o + b);
        }
    }
    // Result shape.
    let kept_arr: Vec<usize> = (0..na)
        .filter_map(|d| match &sel[d] {
            Sel::Many(v) => Some(v.len()),
            Sel::One(_) => None,
        })
        .collect();
    let many = |d: usize| matches!(sel[d], Sel::Many(_));
    let rbase = match base {
        Base::Real => Base::Real,
        Base::Vector(_) => {
            if many(na) {
                Base::Vector(sel[na].len() as u32)
            } else {
                Base::Real
            }
        }
        Base::RowVector(_) => {
            if many(na) {
                Base::RowVector(sel[na].len() as u32)
            } else {
                Base::Real
            }
        }
        Base::Matrix(..) => match (many(na), many(na + 1)) {
            (true, true) => Base::Matrix(sel[na].len() as u32, sel[na + 1].len() as u32),
            (true, false) => Base::Vector(sel[na].len() as u32),
            (false, true) => Base::RowVector(sel[na + 1].len() as u32),
            (false, false) => Base::Real,
        },
    };
    if kept_arr.is_empty() && rbase == Base::Real {
        return Ok((None, pos));
    }
    Ok((
        Some(Shape {
            arr: Dims::from_slice(&kept_arr)?,
            base: rbase,
        }),
        pos,
    ))
}

/// Fast path: all single indexes selecting one scalar; returns its position.
fn scalar_pos(v: &Val, idx: &[IdxVal]) -> Option<Res<usize>> {
    let (arr, bdims, nb): (&[u32], [u32; 2], usize) = match v {
        Val::Ints(d, ..) => (d.as_slice(), [0, 0], 0),
        Val::Reals(s, _) => match s.base {
            Base::Real => (s.arr.as_slice(), [0, 0], 0),
            Base::Vector(n) | Base::RowVector(n) => (s.arr.as_slice(), [n, 0], 1),
            Base::Matrix(r, c) => (s.arr.as_slice(), [r, c], 2),
        },
        _ => return None,
    };
    if idx.len() != arr.len() + nb {
        return None;
    }
    let mut ints = [0i64; 8];
    for (k, ix) in idx.iter().enumerate() {
        match ix {
            IdxVal::One(i) => ints[k] = *i,
            _ => return None,
        }
    }
    let mut off = 0usize;
    for (d, &n) in arr.iter().enumerate() {
        match check(ints[d], n as usize) {
            Ok(i) => off = off * n as usize + i,
            Err(e) => return Some(Err(e)),
        }
    }
    let na = arr.len();
    let base_numel = match nb {
        0 => 1,
        1 => bdims[0] as usize,
        _ => bdims[0] as usize * bdims[1] as usize,
    };
    let bpos = match nb {
        0 => 0,
        1 => match check(ints[na], bdims[0] as usize) {
            Ok(i) => i,
            Err(e) => return Some(Err(e)),
        },
        _ => {
            let i = match check(ints[na], bdims[0] as usize) {
                Ok(i) => i,
                Err(e) => return Some(Err(e)),
            };
            let j = match check(ints[na + 1], bdims[1] as usize) {
                Ok(i) => i,
                Err(e) => return Some(Err(e)),
            };
            i + j * bdims[0] as usize
        }
    };
    Some(Ok(off * base_numel + bpos))
}

/// `v[idx]`.
pub fn index(t: &Tape, v: &Val, idx: &[IdxVal]) -> Res<Val> {
    if let Some(p) = scalar_pos(v, idx) {
        let p = p?;
        return Ok(match v {
            Val::Ints(_, d, off) => Val::Int(d[*off as usize + p] as i64),
            _ => {
                let (x, s) = v.elem(p, &t.val);
                Val::Real(x, s)
            }
        });
    }
    let (shape, pos) = select(v, idx)?;
    match v {
        Val::Ints(_, d, off) => match shape {
            None => Ok(Val::Int(d[*off as usize + pos[0]] as i64)),
            Some(s) => {
                let contiguous = pos.windows(2).all(|w| w[1] == w[0] + 1);
                if contiguous && !pos.is_empty() {
                    Ok(Val::Ints(s.arr, d.clone(), off + pos[0] as u32))
                } else {
                    let vals: Vec<f64> = pos.iter().map(|&p| d[*off as usize + p]).collect();
                    Ok(Val::Ints(s.arr, vals.into(), 0))
                }
            }
        },
        Val::Reals(_, st) => match shape {
            None => {
                let (x, s) = v.elem(pos[0], &t.val);
                Ok(Val::Real(x, s))
            }
            Some(s) => {
                let contiguous = pos.windows(2).all(|w| w[1] == w[0] + 1);
                if contiguous && !pos.is_empty() {
                    let p0 = pos[0] as u32;
                    match st {
                        Store::Const(d, off) => {
                            return Ok(Val::Reals(s, Store::Const(d.clone(), off + p0)))
                        }
                        Store::Tape(start) => return Ok(Val::Reals(s, Store::Tape(start + p0))),
                        Store::Mixed(..) => {}
                    }
                }
                Ok(crate::ops::gather(t, v, &pos, s))
            }
        },
        _ => eval_err("cannot index a scalar"),
    }
}

/// `target[idx] = rhs` (or the whole value when `idx` is empty).
pub fn assign(t: &Tape, target: &mut Val, idx: &[IdxVal], rhs: &Val) -> Res<()> {
    if idx.is_empty() {
        return assign_whole(t, target, rhs);
    }
    let pos = match scalar_pos(target, idx) {
        Some(p) => vec![p?],
        None => select(target, idx)?.1,
    };
    if rhs.numel() != pos.len() {
        return eval_err(format!(
            "assignment size mismatch: {} elements into {}",
            rhs.numel(),
            pos.len()
        ));
    }
    match target {
        Val::Ints(d, data, off) => {
            let (Val::Int(_) | Val::Ints(..)) = rhs else {
                return eval_err("cannot assign a real value to an int variable");
            };
            let n = d.numel();
            let o = *off as usize;
            let mut vals: Vec<f64> = data[o..o + n].to_vec();
            for (k, &p) in pos.iter().enumerate() {
                vals[p] = rhs.elem(k, &t.val).0;
            }
            *data = vals.into();
            *off = 0;
            Ok(())
        }
        Val::Reals(shape, st) => {
            let n = shape.numel();
            if let Store::Const(..) | Store::Tape(_) = st {
                let vals = crate::value::store_values(st, n, &t.val).to_vec();
                let slots: Vec<u32> = match st {
                    Store::Tape(s) => (*s..*s + n as u32).collect(),
                    _ => vec![NONE; n],
                };
                *st = Store::Mixed(vals, slots);
            }
            let Store::Mixed(vals, slots) = st else {
                unreachable!()
            };
            for (k, &p) in pos.iter().enumerate() {
                let (x, s) = rhs.elem(k, &t.val);
                vals[p] = x;
                slots[p] = s;
            }
            Ok(())
        }
        Val::Int(_) | Val::Real(..) => eval_err("cannot index a scalar"),
    }
}

fn assign_whole(t: &Tape, target: &mut Val, rhs: &Val) -> Res<()> {
    match (&*target, rhs) {
        (Val::Int(_), Val::Int(_)) => *target = rhs.clone(),
        (Val::Int(_), _) => return eval_err("cannot assign a real value to an int variable"),
        (Val::Real(..), Val::Int(i)) => *target = Val::real(*i as f64),
        (Val::Real(..), Val::Real(..)) => *target = rhs.clone(),
        (Val::Real(..), _) => {
            if rhs.numel() != 1 {
                return eval_err(format!("cannot assign {} to a real", rhs.type_name()));
            }
            let (x, s) = rhs.elem(0, &t.val);
            *target = Val::Real(x, s);
        }
        (Val::Ints(d, ..), Val::Ints(d2, ..)) => {
            if d.numel() != d2.numel() {
                return eval_err("assignment size mismatch");
            }
            let d = *d;
            let Val::Ints(_, data, off) = rhs else {
                unreachable!()
            };
            *target = Val::Ints(d, data.clone(), *off);
        }
        (Val::Reals(shape, _), _) => {
            let shape = *shape;
            if rhs.numel() != shape.numel() {
                return eval_err(format!(
                    "assignment size mismatch: {} into {}",
                    rhs.type_name(),
                    shape.describe()
                ));
            }
            *target = match rhs {
                Val::Reals(_, st) => Val::Reals(shape, st.clone()),
                Val::Ints(_, d, off) => Val::Reals(shape, Store::Const(d.clone(), *off)),
                Val::Real(x, s) => from_elems(shape, vec![*x], vec![*s]),
                Val::Int(i) => Val::const_reals(shape, vec![*i as f64]),
            };
        }
        (Val::Ints(..), _) => return eval_err("cannot assign a real value to an int array"),
    }
    Ok(())
}
