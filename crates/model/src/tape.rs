//! The reverse-mode AD tape: a value arena, a parallel adjoint arena, and nodes whose outputs are
//! contiguous slices of the value arena.
//!
//! Nodes store the partial derivatives of their outputs with respect to their inputs, computed in
//! the forward pass ("operands and partials"), so the backward sweep is a sequence of scatter-adds.
//! Fused nodes cover whole vectors (elementwise maps, reductions such as a vectorised log density,
//! data-matrix times parameter-vector products, Cholesky factorisations). Constants never enter the
//! tape: an operation on constants only is evaluated directly. All buffers are cleared, not freed,
//! between evaluations, so a gradient in steady state allocates nothing on the tape.

use std::sync::Arc;

/// "No tape slot": the value is a constant.
pub const NONE: u32 = u32::MAX;

/// Where an operand's elements live on the tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slots {
    /// Elements are the tape slots `start..start + n`.
    Range(u32),
    /// Element `i` is the slot `idx[off + i]` (`NONE` for a constant element).
    Idx(u32),
    /// One scalar slot, broadcast over all elements of the node.
    Scalar(u32),
}

/// The partial derivatives of a node's outputs with respect to one operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partials {
    Ones,
    NegOnes,
    /// `part[off + i]` for element `i`.
    Stored(u32),
}

/// One differentiable input of a fused node.
#[derive(Debug, Clone, Copy)]
pub struct Operand {
    pub slots: Slots,
    /// Number of elements (for `Scalar` in an elementwise node: the node's length).
    pub n: u32,
    pub p: Partials,
}

#[derive(Debug, Clone)]
pub enum Node {
    /// `out = f(a)`.
    Un { out: u32, a: u32, da: f64 },
    /// `out = f(a, b)`.
    Bin {
        out: u32,
        a: u32,
        da: f64,
        b: u32,
        db: f64,
    },
    /// Scalar output; `adj[slot_i] += adj[out] * p_i` for every operand element.
    Reduce { out: u32, ops: u32, nops: u32 },
    /// Outputs `out..out + n`; `adj[slot_i] += adj[out + i] * p_i`; a `Scalar` operand collects
    /// `sum_i adj[out + i] * p_i`.
    Elem {
        out: u32,
        n: u32,
        ops: u32,
        nops: u32,
    },
    /// `out (r) = b + A (r x c, constant, column-major) * v (c)` with an optional scalar
    /// intercept slot `b` (`NONE` when absent or constant).
    MatVecConst {
        out: u32,
        r: u32,
        c: u32,
        a: Arc<[f64]>,
        a_off: u32,
        v: Slots,
        b: u32,
    },
    /// `out (r x c) = A (r x k) * B (k x c)`, column-major; values of both factors are kept in
    /// `part` (at `a_vals`, `b_vals`) for the backward pass; a constant factor has no slots.
    MatMul {
        out: u32,
        r: u32,
        k: u32,
        c: u32,
        a: Option<Slots>,
        a_vals: u32,
        b: Option<Slots>,
        b_vals: u32,
    },
    /// `out = L` (n x n, column-major, zeros above the diagonal), the Cholesky factor of the
    /// symmetric input `a` (only its lower triangle is read).
    Chol { out: u32, n: u32, a: Slots },
}

/// The tape. `val` and `adj` are parallel; `part` holds stored partials, `idx` gathered slots.
#[derive(Debug, Clone, Default)]
pub struct Tape {
    pub val: Vec<f64>,
    pub adj: Vec<f64>,
    pub nodes: Vec<Node>,
    pub ops: Vec<Operand>,
    pub part: Vec<f64>,
    pub idx: Vec<u32>,
    /// Scratch for the Cholesky backward pass.
    scratch: Vec<f64>,
    /// Forward-pass scratch of fused kernels; grown, never cleared, so reusing it costs nothing.
    pub fwd_scratch: Vec<f64>,
}

impl Tape {
    pub fn clear(&mut self) {
        self.val.clear();
        self.nodes.clear();
        self.ops.clear();
        self.part.clear();
        self.idx.clear();
    }

    /// A new independent variable (no node).
    #[inline]
    pub fn input(&mut self, v: f64) -> u32 {
        self.val.push(v);
        (self.val.len() - 1) as u32
    }

    #[inline]
    pub fn un(&mut self, v: f64, a: u32, da: f64) -> u32 {
        let out = self.input(v);
        self.nodes.push(Node::Un { out, a, da });
        out
    }

    /// A binary scalar node; either input may be `NONE`.
    #[inline]
    pub fn bin(&mut self, v: f64, a: u32, da: f64, b: u32, db: f64) -> u32 {
        if a == NONE {
            return self.un(v, b, db);
        }
        if b == NONE {
            return self.un(v, a, da);
        }
        let out = self.input(v);
        self.nodes.push(Node::Bin { out, a, da, b, db });
        out
    }

    /// Reserve `n` stored partials; returns their offset.
    #[inline]
    pub fn alloc_part(&mut self, n: usize) -> u32 {
        let off = self.part.len();
        self.part.resize(off + n, 0.0);
        off as u32
    }

    /// Reserve `n` output slots; returns the first.
    #[inline]
    pub fn alloc_out(&mut self, n: usize) -> u32 {
        let off = self.val.len();
        self.val.resize(off + n, 0.0);
        off as u32
    }

    /// Store gathered slots; returns their offset.
    pub fn push_idx(&mut self, slots: &[u32]) -> u32 {
        let off = self.idx.len();
        self.idx.extend_from_slice(slots);
        off as u32
    }

    /// A scalar node with value `v` whose operands were pushed since `first_op`.
    pub fn reduce(&mut self, v: f64, first_op: usize) -> u32 {
        let nops = self.ops.len() - first_op;
        if nops == 0 {
            return NONE;
        }
        let out = self.input(v);
        self.nodes.push(Node::Reduce {
            out,
            ops: first_op as u32,
            nops: nops as u32,
        });
        out
    }

    /// An elementwise node over already written outputs `out..out+n`.
    pub fn elem(&mut self, out: u32, n: usize, first_op: usize) {
        let nops = self.ops.len() - first_op;
        if nops == 0 {
            return;
        }
        self.nodes.push(Node::Elem {
            out,
            n: n as u32,
            ops: first_op as u32,
            nops: nops as u32,
        });
    }

    #[inline]
    fn slot(idx: &[u32], s: Slots, i: usize) -> u32 {
        match s {
            Slots::Range(start) => start + i as u32,
            Slots::Idx(off) => idx[off as usize + i],
            Slots::Scalar(s) => s,
        }
    }

    /// Run the reverse sweep; `seeds` get adjoint 1. Afterwards `adj[i]` is d(sum of seeds)/d val[i].
    pub fn backward(&mut self, seeds: &[u32]) {
        let Tape {
            val,
            adj,
            nodes,
            ops,
            part,
            idx,
            scratch,
            ..
        } = self;
        adj.clear();
        adj.resize(val.len(), 0.0);
        for &s in seeds {
            if s != NONE {
                adj[s as usize] += 1.0;
            }
        }
        for node in nodes.iter().rev() {
            match node {
                Node::Un { out, a, da } => {
                    let g = adj[*out as usize];
                    adj[*a as usize] += g * da;
                }
                Node::Bin { out, a, da, b, db } => {
                    let g = adj[*out as usize];
                    adj[*a as usize] += g * da;
                    adj[*b as usize] += g * db;
                }
                Node::Reduce { out, ops: o, nops } => {
                    let g = adj[*out as usize];
                    if g == 0.0 {
                        continue;
                    }
                    for op in &ops[*o as usize..(*o + *nops) as usize] {
                        scatter_reduce(adj, part, idx, op, g);
                    }
                }
                Node::Elem {
                    out,
                    n,
                    ops: o,
                    nops,
                } => {
                    let (out, n) = (*out as usize, *n as usize);
                    for op in &ops[*o as usize..(*o + *nops) as usize] {
                        scatter_elem(adj, part, idx, op, out, n);
                    }
                }
                Node::MatVecConst {
                    out,
                    r,
                    c,
                    a,
                    a_off,
                    v,
                    b,
                } => {
                    let (out, r, c) = (*out as usize, *r as usize, *c as usize);
                    if *b != NONE {
                        let s = sum(&adj[out..out + r]);
                        adj[*b as usize] += s;
                    }
                    let a = &a[*a_off as usize..*a_off as usize + r * c];
                    for j in 0..c {
                        let col = &a[j * r..(j + 1) * r];
                        let s = dot(col, &adj[out..out + r]);
                        let slot = Self::slot(idx, *v, j);
                        if slot != NONE {
                            adj[slot as usize] += s;
                        }
                    }
                }
                Node::MatMul {
                    out,
                    r,
                    k,
                    c,
                    a,
                    a_vals,
                    b,
                    b_vals,
                } => {
                    let (out, r, k, c) = (*out as usize, *r as usize, *k as usize, *c as usize);
                    // dA[i,l] = sum_j G[i,j] B[l,j];  dB[l,j] = sum_i A[i,l] G[i,j]
                    if let Some(sa) = a {
                        let bv = &part[*b_vals as usize..*b_vals as usize + k * c];
                        for l in 0..k {
                            for i in 0..r {
                                let mut s = 0.0;
                                for j in 0..c {
                                    s += adj[out + i + j * r] * bv[l + j * k];
                                }
                                let slot = Self::slot(idx, *sa, i + l * r);
                                if slot != NONE {
                                    adj[slot as usize] += s;
                                }
                            }
                        }
                    }
                    if let Some(sb) = b {
                        let av = &part[*a_vals as usize..*a_vals as usize + r * k];
                        for j in 0..c {
                            for l in 0..k {
                                let mut s = 0.0;
                                for i in 0..r {
                                    s += av[i + l * r] * adj[out + i + j * r];
                                }
                                let slot = Self::slot(idx, *sb, l + j * k);
                                if slot != NONE {
                                    adj[slot as usize] += s;
                                }
                            }
                        }
                    }
                }
                Node::Chol { out, n, a } => {
                    let (out, n) = (*out as usize, *n as usize);
                    chol_backward(&val[out..out + n * n], adj, out, n, scratch);
                    // scratch now holds dA (symmetric contribution on the lower triangle).
                    for j in 0..n {
                        for i in j..n {
                            let g = scratch[i + j * n];
                            let slot = Self::slot(idx, *a, i + j * n);
                            if slot != NONE {
                                adj[slot as usize] += g;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Sum with independent accumulators (breaks the floating-point add latency chain).
#[inline]
pub fn sum(a: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let chunks = a.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    let mut s: f64 = rest.iter().sum();
    for v in acc {
        s += v;
    }
    s
}

/// Dot product with independent accumulators.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    for v in acc {
        s += v;
    }
    s
}

#[inline]
fn scatter_reduce(adj: &mut [f64], part: &[f64], idx: &[u32], op: &Operand, g: f64) {
    let n = op.n as usize;
    match (op.slots, op.p) {
        (Slots::Scalar(s), p) => {
            let d = match p {
                Partials::Ones => n as f64,
                Partials::NegOnes => -(n as f64),
                Partials::Stored(o) => sum(&part[o as usize..o as usize + n]),
            };
            adj[s as usize] += g * d;
        }
        (Slots::Range(s), Partials::Stored(o)) => {
            let s = s as usize;
            for (a, p) in adj[s..s + n]
                .iter_mut()
                .zip(&part[o as usize..o as usize + n])
            {
                *a += g * p;
            }
        }
        (Slots::Range(s), Partials::Ones) => {
            for a in &mut adj[s as usize..s as usize + n] {
                *a += g;
            }
        }
        (Slots::Range(s), Partials::NegOnes) => {
            for a in &mut adj[s as usize..s as usize + n] {
                *a -= g;
            }
        }
        (Slots::Idx(off), p) => {
            for i in 0..n {
                let s = idx[off as usize + i];
                if s == NONE {
                    continue;
                }
                let d = match p {
                    Partials::Ones => 1.0,
                    Partials::NegOnes => -1.0,
                    Partials::Stored(o) => part[o as usize + i],
                };
                adj[s as usize] += g * d;
            }
        }
    }
}

#[inline]
fn scatter_elem(adj: &mut [f64], part: &[f64], idx: &[u32], op: &Operand, out: usize, n: usize) {
    match (op.slots, op.p) {
        (Slots::Scalar(s), p) => {
            let g = &adj[out..out + n];
            let d: f64 = match p {
                Partials::Ones => sum(g),
                Partials::NegOnes => -sum(g),
                Partials::Stored(o) => dot(g, &part[o as usize..o as usize + n]),
            };
            adj[s as usize] += d;
        }
        (Slots::Range(s), p) => {
            let s = s as usize;
            // Inputs always precede outputs on the tape.
            let (lo, hi) = adj.split_at_mut(out);
            let g = &hi[..n];
            let a = &mut lo[s..s + n];
            match p {
                Partials::Ones => a.iter_mut().zip(g).for_each(|(a, g)| *a += g),
                Partials::NegOnes => a.iter_mut().zip(g).for_each(|(a, g)| *a -= g),
                Partials::Stored(o) => a
                    .iter_mut()
                    .zip(g)
                    .zip(&part[o as usize..o as usize + n])
                    .for_each(|((a, g), p)| *a += g * p),
            }
        }
        (Slots::Idx(off), p) => {
            for i in 0..n {
                let s = idx[off as usize + i];
                if s == NONE {
                    continue;
                }
                let d = match p {
                    Partials::Ones => 1.0,
                    Partials::NegOnes => -1.0,
                    Partials::Stored(o) => part[o as usize + i],
                };
                adj[s as usize] += adj[out + i] * d;
            }
        }
    }
}

/// Reverse-mode Cholesky (Murray 2016, "Differentiation of the Cholesky decomposition",
/// the unblocked algorithm). `l` is the factor (column-major n x n), `adj[out..]` its adjoint.
/// Leaves the adjoint of the input's lower triangle in `scratch`.
fn chol_backward(l: &[f64], adj: &[f64], out: usize, n: usize, scratch: &mut Vec<f64>) {
    scratch.clear();
    scratch.resize(n * n, 0.0);
    // Lbar: lower triangle of the adjoint.
    let lb = scratch;
    for j in 0..n {
        for i in j..n {
            lb[i + j * n] = adj[out + i + j * n];
        }
    }
    let at = |m: &[f64], i: usize, j: usize| m[i + j * n];
    for j in (0..n).rev() {
        let d = at(l, j, j);
        let mut s = 0.0;
        for i in j + 1..n {
            s += at(l, i, j) * lb[i + j * n];
        }
        lb[j + j * n] = (lb[j + j * n] - s / d) / d;
        for i in j + 1..n {
            lb[i + j * n] /= d;
        }
        let dbar = lb[j + j * n];
        for k in 0..j {
            let mut s = dbar * at(l, j, k);
            for i in j + 1..n {
                s += lb[i + j * n] * at(l, i, k);
            }
            lb[j + k * n] -= s;
        }
        for k in 0..j {
            let r = at(l, j, k);
            for i in j + 1..n {
                lb[i + k * n] -= lb[i + j * n] * r;
            }
        }
        lb[j + j * n] /= 2.0;
    }
    // The result is the adjoint w.r.t. the lower triangle treating A as symmetric with the
    // off-diagonal entries counted once: Murray's output convention.
}
