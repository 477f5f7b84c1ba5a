//! Runtime values of the interpreter: ints, real scalars and real containers whose elements are
//! constants or tape slots.
//!
//! Storage order inside a container: array dimensions outermost (row-major over them), then the
//! base type; vectors and row vectors contiguous, matrices column-major. Integer arrays are stored
//! as exact `f64`s so that discrete data feeds densities without conversion.

use std::sync::Arc;

use crate::tape::{Slots, Tape, NONE};
use crate::ModelError;

pub type Res<T> = Result<T, ModelError>;

pub fn eval_err<T>(msg: impl Into<String>) -> Res<T> {
    Err(ModelError::Eval(msg.into()))
}

/// Up to four array dimensions, outermost first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dims {
    pub n: u8,
    pub d: [u32; 4],
}

impl Dims {
    pub fn from_slice(ds: &[usize]) -> Res<Dims> {
        if ds.len() > 4 {
            return Err(ModelError::Unsupported(
                "arrays with more than four dimensions".into(),
            ));
        }
        let mut d = [0u32; 4];
        for (i, &x) in ds.iter().enumerate() {
            d[i] = x as u32;
        }
        Ok(Dims {
            n: ds.len() as u8,
            d,
        })
    }
    pub fn as_slice(&self) -> &[u32] {
        &self.d[..self.n as usize]
    }
    pub fn len(&self) -> usize {
        self.n as usize
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    pub fn numel(&self) -> usize {
        self.as_slice().iter().map(|&x| x as usize).product()
    }
    /// Prepend an outermost dimension.
    pub fn push_front(&self, k: usize) -> Res<Dims> {
        let mut v: Vec<usize> = vec![k];
        v.extend(self.as_slice().iter().map(|&x| x as usize));
        Dims::from_slice(&v)
    }
}

/// The element type of a real container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Real,
    Vector(u32),
    RowVector(u32),
    /// rows, cols
    Matrix(u32, u32),
}

impl Base {
    pub fn numel(&self) -> usize {
        match *self {
            Base::Real => 1,
            Base::Vector(n) | Base::RowVector(n) => n as usize,
            Base::Matrix(r, c) => r as usize * c as usize,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub arr: Dims,
    pub base: Base,
}

impl Shape {
    pub fn numel(&self) -> usize {
        self.arr.numel() * self.base.numel()
    }
    pub fn vector(n: usize) -> Shape {
        Shape {
            arr: Dims::default(),
            base: Base::Vector(n as u32),
        }
    }
    pub fn row_vector(n: usize) -> Shape {
        Shape {
            arr: Dims::default(),
            base: Base::RowVector(n as u32),
        }
    }
    pub fn matrix(r: usize, c: usize) -> Shape {
        Shape {
            arr: Dims::default(),
            base: Base::Matrix(r as u32, c as u32),
        }
    }
    pub fn array(dims: Dims) -> Shape {
        Shape {
            arr: dims,
            base: Base::Real,
        }
    }
    pub fn describe(&self) -> String {
        let b = match self.base {
            Base::Real => "real".to_string(),
            Base::Vector(n) => format!("vector[{n}]"),
            Base::RowVector(n) => format!("row_vector[{n}]"),
            Base::Matrix(r, c) => format!("matrix[{r},{c}]"),
        };
        if self.arr.is_empty() {
            b
        } else {
            let d: Vec<String> = self.arr.as_slice().iter().map(|x| x.to_string()).collect();
            format!("array[{}] {b}", d.join(","))
        }
    }
}

/// Where a real container's elements live.
#[derive(Debug, Clone)]
pub enum Store {
    /// Constants: `data[off .. off + numel]`.
    Const(Arc<[f64]>, u32),
    /// Tape slots `start .. start + numel`.
    Tape(u32),
    /// Per element: the value and its slot (`NONE` for a constant).
    Mixed(Vec<f64>, Vec<u32>),
}

/// A runtime value.
#[derive(Debug, Clone)]
pub enum Val {
    Int(i64),
    /// value, tape slot (`NONE` for a constant)
    Real(f64, u32),
    /// An int array: dims, values stored as exact f64 at `data[off..off + numel]`.
    Ints(Dims, Arc<[f64]>, u32),
    Reals(Shape, Store),
}

impl Val {
    pub fn real(v: f64) -> Val {
        Val::Real(v, NONE)
    }

    pub fn const_reals(shape: Shape, v: Vec<f64>) -> Val {
        Val::Reals(shape, Store::Const(Arc::from(v), 0))
    }

    pub fn type_name(&self) -> String {
        match self {
            Val::Int(_) => "int".into(),
            Val::Real(..) => "real".into(),
            Val::Ints(d, ..) => {
                let ds: Vec<String> = d.as_slice().iter().map(|x| x.to_string()).collect();
                format!("array[{}] int", ds.join(","))
            }
            Val::Reals(s, _) => s.describe(),
        }
    }

    /// Number of scalar elements.
    pub fn numel(&self) -> usize {
        match self {
            Val::Int(_) | Val::Real(..) => 1,
            Val::Ints(d, ..) => d.numel(),
            Val::Reals(s, _) => s.numel(),
        }
    }

    /// True when the value depends on parameters.
    pub fn is_var(&self) -> bool {
        match self {
            Val::Int(_) | Val::Ints(..) => false,
            Val::Real(_, s) => *s != NONE,
            Val::Reals(_, st) => match st {
                Store::Const(..) => false,
                Store::Tape(_) => true,
                Store::Mixed(_, s) => s.iter().any(|&x| x != NONE),
            },
        }
    }

    pub fn as_int(&self) -> Res<i64> {
        match self {
            Val::Int(i) => Ok(*i),
            other => eval_err(format!("expected an int, found {}", other.type_name())),
        }
    }

    /// A scalar (int or real) as (value, slot).
    pub fn as_scalar(&self) -> Res<(f64, u32)> {
        match self {
            Val::Int(i) => Ok((*i as f64, NONE)),
            Val::Real(v, s) => Ok((*v, *s)),
            other => eval_err(format!("expected a scalar, found {}", other.type_name())),
        }
    }

    pub fn as_f64(&self) -> Res<f64> {
        Ok(self.as_scalar()?.0)
    }

    /// Truthiness for conditions.
    pub fn truthy(&self) -> Res<bool> {
        Ok(self.as_f64()? != 0.0)
    }

    /// Values of all elements (storage order).
    pub fn values<'a>(&'a self, tv: &'a [f64]) -> ValSlice<'a> {
        match self {
            Val::Int(i) => ValSlice::Scalar(*i as f64),
            Val::Real(v, _) => ValSlice::Scalar(*v),
            Val::Ints(d, data, off) => {
                let o = *off as usize;
                ValSlice::Slice(&data[o..o + d.numel()])
            }
            Val::Reals(s, st) => ValSlice::Slice(store_values(st, s.numel(), tv)),
        }
    }

    /// Values copied out.
    pub fn to_vec(&self, tv: &[f64]) -> Vec<f64> {
        match self.values(tv) {
            ValSlice::Scalar(x) => vec![x],
            ValSlice::Slice(s) => s.to_vec(),
        }
    }

    /// Slot of every element (`NONE` for constants).
    pub fn slots(&self) -> Vec<u32> {
        match self {
            Val::Int(_) => vec![NONE],
            Val::Real(_, s) => vec![*s],
            Val::Ints(d, ..) => vec![NONE; d.numel()],
            Val::Reals(s, st) => {
                let n = s.numel();
                match st {
                    Store::Const(..) => vec![NONE; n],
                    Store::Tape(start) => (*start..*start + n as u32).collect(),
                    Store::Mixed(_, sl) => sl.clone(),
                }
            }
        }
    }

    /// Element `i` (storage order) as (value, slot).
    pub fn elem(&self, i: usize, tv: &[f64]) -> (f64, u32) {
        match self {
            Val::Int(v) => (*v as f64, NONE),
            Val::Real(v, s) => (*v, *s),
            Val::Ints(_, data, off) => (data[*off as usize + i], NONE),
            Val::Reals(_, st) => match st {
                Store::Const(d, off) => (d[*off as usize + i], NONE),
                Store::Tape(start) => (tv[*start as usize + i], *start + i as u32),
                Store::Mixed(v, s) => (v[i], s[i]),
            },
        }
    }
}

pub fn store_values<'a>(st: &'a Store, n: usize, tv: &'a [f64]) -> &'a [f64] {
    match st {
        Store::Const(d, off) => &d[*off as usize..*off as usize + n],
        Store::Tape(s) => &tv[*s as usize..*s as usize + n],
        Store::Mixed(v, _) => v,
    }
}

/// Element values of a value: one broadcast scalar or a slice.
#[derive(Debug, Clone, Copy)]
pub enum ValSlice<'a> {
    Scalar(f64),
    Slice(&'a [f64]),
}

impl ValSlice<'_> {
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        match self {
            ValSlice::Scalar(x) => *x,
            ValSlice::Slice(s) => s[i],
        }
    }
}

/// The tape operand slots of a value, or `None` when it is constant. Scalars give `Scalar`.
pub fn operand_slots(t: &mut Tape, v: &Val) -> Option<Slots> {
    match v {
        Val::Int(_) | Val::Ints(..) => None,
        Val::Real(_, s) => (*s != NONE).then_some(Slots::Scalar(*s)),
        Val::Reals(_, st) => match st {
            Store::Const(..) => None,
            Store::Tape(s) => Some(Slots::Range(*s)),
            Store::Mixed(_, sl) => {
                if sl.iter().all(|&x| x == NONE) {
                    None
                } else {
                    Some(Slots::Idx(t.push_idx(sl)))
                }
            }
        },
    }
}

/// Build a real container from per-element (value, slot) pairs, choosing the tightest store.
pub fn from_elems(shape: Shape, vals: Vec<f64>, slots: Vec<u32>) -> Val {
    if slots.iter().all(|&s| s == NONE) {
        return Val::const_reals(shape, vals);
    }
    if let Some(&first) = slots.first() {
        if first != NONE
            && slots
                .iter()
                .enumerate()
                .all(|(i, &s)| s == first.wrapping_add(i as u32))
        {
            return Val::Reals(shape, Store::Tape(first));
        }
    }
    Val::Reals(shape, Store::Mixed(vals, slots))
}

/// Convert an int value into reals (ints promote).
pub fn promote(v: Val) -> Val {
    match v {
        Val::Int(i) => Val::Real(i as f64, NONE),
        Val::Ints(d, data, off) => Val::Reals(Shape::array(d), Store::Const(data, off)),
        other => other,
    }
}
