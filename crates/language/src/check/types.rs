//! The checker's view of Stan types: an element kind, array depth, known sizes and structure.
//!
//! Types here are *unsized* in the sense of Stan's type checker ([`Ty`]); sizes travel beside them
//! ([`Sizes`]) and are compared only where both sides are known (literal sizes or sizes taken from
//! data values).

use std::fmt;

/// The element kind of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Base {
    /// `int`.
    Int,
    /// `real`.
    Real,
    /// `vector`.
    Vector,
    /// `row_vector`.
    RowVector,
    /// `matrix`.
    Matrix,
}

impl Base {
    /// Number of size dimensions of the element itself (0 for scalars, 2 for matrices).
    pub fn rank(self) -> usize {
        match self {
            Base::Int | Base::Real => 0,
            Base::Vector | Base::RowVector => 1,
            Base::Matrix => 2,
        }
    }

    /// The Stan keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Base::Int => "int",
            Base::Real => "real",
            Base::Vector => "vector",
            Base::RowVector => "row_vector",
            Base::Matrix => "matrix",
        }
    }
}

/// An unsized Stan type: `array_dims` levels of array around `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ty {
    /// The element kind.
    pub base: Base,
    /// Levels of array around it.
    pub array_dims: u8,
}

impl Ty {
    /// `int`.
    pub const INT: Ty = Ty::of(Base::Int);
    /// `real`.
    pub const REAL: Ty = Ty::of(Base::Real);
    /// `vector`.
    pub const VECTOR: Ty = Ty::of(Base::Vector);
    /// `row_vector`.
    pub const ROW_VECTOR: Ty = Ty::of(Base::RowVector);
    /// `matrix`.
    pub const MATRIX: Ty = Ty::of(Base::Matrix);

    /// A non-array value of kind `base`.
    pub const fn of(base: Base) -> Ty {
        Ty {
            base,
            array_dims: 0,
        }
    }

    /// `array_dims` levels of array around `base`.
    pub const fn array(base: Base, array_dims: u8) -> Ty {
        Ty { base, array_dims }
    }

    /// `array[] self`.
    pub fn wrap(self) -> Ty {
        Ty {
            base: self.base,
            array_dims: self.array_dims.saturating_add(1),
        }
    }

    /// An array of any element kind.
    pub fn is_array(self) -> bool {
        self.array_dims > 0
    }

    /// An `int` or `real` (not an array).
    pub fn is_scalar(self) -> bool {
        self.array_dims == 0 && matches!(self.base, Base::Int | Base::Real)
    }

    /// An `int` (not an array).
    pub fn is_int(self) -> bool {
        self.array_dims == 0 && self.base == Base::Int
    }

    /// Ints, or arrays of ints at any depth.
    pub fn is_int_valued(self) -> bool {
        self.base == Base::Int
    }

    /// A vector, row vector or matrix (not an array).
    pub fn is_linear_algebra(self) -> bool {
        self.array_dims == 0 && matches!(self.base, Base::Vector | Base::RowVector | Base::Matrix)
    }

    /// Total number of size dimensions: array levels, then the element's own.
    pub fn rank(self) -> usize {
        self.array_dims as usize + self.base.rank()
    }

    /// The same shape with ints promoted to reals.
    pub fn promoted(self) -> Ty {
        if self.base == Base::Int {
            Ty {
                base: Base::Real,
                array_dims: self.array_dims,
            }
        } else {
            self
        }
    }

    /// Can a value of type `self` be assigned to (or passed as) `target`? Ints promote to reals,
    /// also inside arrays.
    pub fn assignable_to(self, target: Ty) -> bool {
        self == target
            || (self.array_dims == target.array_dims
                && self.base == Base::Int
                && target.base == Base::Real)
    }

    /// The result of indexing with one single index: one array level, else one element level.
    pub fn index_once(self) -> Option<Ty> {
        if self.array_dims > 0 {
            Some(Ty {
                base: self.base,
                array_dims: self.array_dims - 1,
            })
        } else {
            match self.base {
                Base::Vector | Base::RowVector => Some(Ty::REAL),
                Base::Matrix => Some(Ty::ROW_VECTOR),
                Base::Int | Base::Real => None,
            }
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.array_dims > 0 {
            write!(f, "array[")?;
            for _ in 1..self.array_dims {
                write!(f, ",")?;
            }
            write!(f, "] ")?;
        }
        f.write_str(self.base.keyword())
    }
}

/// How many size slots [`Sizes`] keeps; deeper dimensions are simply unknown.
pub const MAX_TRACKED_DIMS: usize = 6;

/// Known sizes of a value's dimensions (array levels first, then rows, then columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sizes {
    dims: [Option<u32>; MAX_TRACKED_DIMS],
}

impl Sizes {
    /// No size known.
    pub const UNKNOWN: Sizes = Sizes {
        dims: [None; MAX_TRACKED_DIMS],
    };

    /// Sizes from a list, outermost first; dimensions beyond the tracked ones are dropped.
    pub fn from_slice(sizes: &[Option<u32>]) -> Sizes {
        let mut s = Sizes::UNKNOWN;
        for (slot, v) in s.dims.iter_mut().zip(sizes) {
            *slot = *v;
        }
        s
    }

    /// The size of dimension `i`, if known.
    pub fn get(&self, i: usize) -> Option<u32> {
        self.dims.get(i).copied().flatten()
    }

    /// Record the size of dimension `i`.
    pub fn set(&mut self, i: usize, v: Option<u32>) {
        if let Some(slot) = self.dims.get_mut(i) {
            *slot = v;
        }
    }

    /// Drop the first `n` dimensions (what indexing does).
    pub fn drop_front(&self, n: usize) -> Sizes {
        let mut s = Sizes::UNKNOWN;
        for i in n..MAX_TRACKED_DIMS {
            s.dims[i - n] = self.dims[i];
        }
        s
    }

    /// Remove dimension `i`, shifting later ones forward.
    pub fn remove(&self, i: usize) -> Sizes {
        let mut s = Sizes::UNKNOWN;
        let mut k = 0;
        for j in 0..MAX_TRACKED_DIMS {
            if j != i {
                s.dims[k] = self.dims[j];
                k += 1;
            }
        }
        s
    }

    /// Prepend a dimension (wrapping in an array).
    pub fn push_front(&self, n: Option<u32>) -> Sizes {
        let mut s = Sizes::UNKNOWN;
        s.dims[0] = n;
        s.dims[1..].copy_from_slice(&self.dims[..MAX_TRACKED_DIMS - 1]);
        s
    }

    /// Total number of elements when every size of the first `rank` dims is known.
    pub fn count(&self, rank: usize) -> Option<u64> {
        let mut n: u64 = 1;
        for i in 0..rank {
            n = n.checked_mul(self.get(i)? as u64)?;
        }
        Some(n)
    }

    /// The first dimension (of the first `rank`) where both sides are known and differ.
    pub fn first_mismatch(&self, other: &Sizes, rank: usize) -> Option<(usize, u32, u32)> {
        (0..rank.min(MAX_TRACKED_DIMS)).find_map(|i| match (self.get(i), other.get(i)) {
            (Some(a), Some(b)) if a != b => Some((i, a, b)),
            _ => None,
        })
    }
}

/// A structural guarantee on a vector or matrix value, needed by a few distributions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Structure {
    /// Nothing is known (data, values built element by element, ...): never reported.
    Unknown,
    /// A value that depends freely on parameters with no structure: it may violate any.
    Free,
    /// A simplex.
    Simplex,
    /// Increasing.
    Ordered,
    /// Positive and increasing.
    PositiveOrdered,
    /// A Cholesky factor of a correlation matrix.
    CholeskyFactorCorr,
    /// Lower triangular with a positive diagonal (e.g. from `cholesky_decompose`).
    CholeskyFactor,
    /// Symmetric positive definite.
    CovMatrix,
}

impl Structure {
    /// Does a value with this structure certainly satisfy `required`?
    pub fn satisfies(self, required: Structure) -> bool {
        self == required
            || matches!(
                (self, required),
                (Structure::CholeskyFactorCorr, Structure::CholeskyFactor)
                    | (Structure::PositiveOrdered, Structure::Ordered)
            )
    }

    /// Words for messages: "a simplex".
    pub fn describe(self) -> &'static str {
        match self {
            Structure::Unknown | Structure::Free => "an unconstrained value",
            Structure::Simplex => "a simplex (non-negative, summing to 1)",
            Structure::Ordered => "an ordered vector",
            Structure::PositiveOrdered => "a positive ordered vector",
            Structure::CholeskyFactorCorr => "the Cholesky factor of a correlation matrix",
            Structure::CholeskyFactor => "a Cholesky factor (lower triangular, positive diagonal)",
            Structure::CovMatrix => "a covariance matrix (symmetric positive definite)",
        }
    }
}
