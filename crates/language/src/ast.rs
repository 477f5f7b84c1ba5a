//! The abstract syntax tree of the Stan subset.
//!
//! Every node carries the byte [`Span`] of the source text it came from, so that later phases can
//! report problems at a line and column. The parser never fails: where the source is malformed it
//! inserts [`ExprKind::Error`] / [`StmtKind::Error`] placeholders and records a diagnostic, so a tree
//! always exists (also for program prefixes). Later phases skip placeholders silently.

use std::fmt;

/// A half-open byte range `start..end` into the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A name with the span where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A whole program: the optional `functions` block, then the six optional blocks in their fixed
/// order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    /// User-defined functions (`functions { ... }`), in source order.
    pub functions: Option<FunctionsBlock>,
    pub data: Option<Block>,
    pub transformed_data: Option<Block>,
    pub parameters: Option<Block>,
    pub transformed_parameters: Option<Block>,
    pub model: Option<Block>,
    pub generated_quantities: Option<Block>,
}

/// Which of the six blocks a statement lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKind {
    Data,
    TransformedData,
    Parameters,
    TransformedParameters,
    Model,
    GeneratedQuantities,
}

impl BlockKind {
    pub const ALL: [BlockKind; 6] = [
        BlockKind::Data,
        BlockKind::TransformedData,
        BlockKind::Parameters,
        BlockKind::TransformedParameters,
        BlockKind::Model,
        BlockKind::GeneratedQuantities,
    ];

    /// The keyword(s) that open the block in source text.
    pub fn keyword(self) -> &'static str {
        match self {
            BlockKind::Data => "data",
            BlockKind::TransformedData => "transformed data",
            BlockKind::Parameters => "parameters",
            BlockKind::TransformedParameters => "transformed parameters",
            BlockKind::Model => "model",
            BlockKind::GeneratedQuantities => "generated quantities",
        }
    }
}

impl Program {
    pub fn block(&self, kind: BlockKind) -> Option<&Block> {
        match kind {
            BlockKind::Data => self.data.as_ref(),
            BlockKind::TransformedData => self.transformed_data.as_ref(),
            BlockKind::Parameters => self.parameters.as_ref(),
            BlockKind::TransformedParameters => self.transformed_parameters.as_ref(),
            BlockKind::Model => self.model.as_ref(),
            BlockKind::GeneratedQuantities => self.generated_quantities.as_ref(),
        }
    }

    pub fn block_mut(&mut self, kind: BlockKind) -> &mut Option<Block> {
        match kind {
            BlockKind::Data => &mut self.data,
            BlockKind::TransformedData => &mut self.transformed_data,
            BlockKind::Parameters => &mut self.parameters,
            BlockKind::TransformedParameters => &mut self.transformed_parameters,
            BlockKind::Model => &mut self.model,
            BlockKind::GeneratedQuantities => &mut self.generated_quantities,
        }
    }

    /// The present blocks in program order.
    pub fn blocks(&self) -> impl Iterator<Item = (BlockKind, &Block)> {
        BlockKind::ALL
            .into_iter()
            .filter_map(move |k| self.block(k).map(|b| (k, b)))
    }
}

/// `functions { defs }`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionsBlock {
    pub defs: Vec<FunDef>,
    /// From the `functions` keyword to the closing brace.
    pub span: Span,
}

/// A function definition `ret name(params) { body }` or a forward declaration `ret name(params);`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunDef {
    /// `None` for `void`.
    pub ret: Option<UnsizedType>,
    pub name: Ident,
    pub params: Vec<FunParam>,
    /// `None` for a forward declaration; otherwise a `{ ... }` block statement.
    pub body: Option<Stmt>,
    pub span: Span,
}

/// One argument of a function definition: `data array[] real x`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunParam {
    /// Declared with the `data` qualifier: only data (no parameters) may be passed.
    pub data_only: bool,
    pub ty: UnsizedType,
    pub name: Ident,
}

/// The element kinds a function argument or return value may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnsizedBase {
    Int,
    Real,
    Vector,
    RowVector,
    Matrix,
}

impl UnsizedBase {
    pub fn keyword(self) -> &'static str {
        match self {
            UnsizedBase::Int => "int",
            UnsizedBase::Real => "real",
            UnsizedBase::Vector => "vector",
            UnsizedBase::RowVector => "row_vector",
            UnsizedBase::Matrix => "matrix",
        }
    }
}

/// A type without sizes, as in function signatures: `array[,] real`, `vector`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnsizedType {
    pub base: UnsizedBase,
    pub array_dims: u8,
    pub span: Span,
}

impl fmt::Display for UnsizedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.array_dims > 0 {
            f.write_str("array[")?;
            for _ in 1..self.array_dims {
                f.write_str(",")?;
            }
            f.write_str("] ")?;
        }
        f.write_str(self.base.keyword())
    }
}

/// `kind { stmts }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    /// From the block keyword to the closing brace (or the end of input for a prefix).
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `type name;` or `type name = init;`
    Decl {
        ty: TypeDecl,
        name: Ident,
        init: Option<Expr>,
    },
    /// `lhs op rhs;` where lhs is a variable with optional indexes.
    Assign {
        lhs: LValue,
        op: AssignOp,
        rhs: Expr,
    },
    /// `lhs ~ dist(args) T[lower, upper];`
    Tilde {
        lhs: Expr,
        dist: Ident,
        args: Vec<Expr>,
        truncation: Option<Truncation>,
    },
    /// `target += expr;`
    TargetPlus(Expr),
    /// `for (var in lower:upper) body`
    For {
        var: Ident,
        lower: Expr,
        upper: Expr,
        body: Box<Stmt>,
    },
    /// `for (var in container) body`
    ForEach {
        var: Ident,
        container: Expr,
        body: Box<Stmt>,
    },
    While {
        cond: Expr,
        body: Box<Stmt>,
    },
    If {
        cond: Expr,
        then: Box<Stmt>,
        otherwise: Option<Box<Stmt>>,
    },
    /// `{ stmts }`
    Block(Vec<Stmt>),
    Print(Vec<Printable>),
    Reject(Vec<Printable>),
    Break,
    Continue,
    /// `return;` or `return expr;` (only inside function bodies).
    Return(Option<Expr>),
    /// A call of a `void` function as a statement: `f(x);` (the expression is an
    /// [`ExprKind::Call`]).
    Call(Expr),
    /// `;`
    Empty,
    /// Placeholder where the parser could not make sense of the input.
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Printable {
    Str(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LValue {
    pub name: Ident,
    /// Zero or more index lists: `x[i][j]` is two lists, `x[i, j]` one list of two.
    pub indices: Vec<Vec<Index>>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignOp {
    /// `=`
    Set,
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
    /// `.*=`
    EltMul,
    /// `./=`
    EltDiv,
}

impl AssignOp {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignOp::Set => "=",
            AssignOp::Add => "+=",
            AssignOp::Sub => "-=",
            AssignOp::Mul => "*=",
            AssignOp::Div => "/=",
            AssignOp::EltMul => ".*=",
            AssignOp::EltDiv => "./=",
        }
    }
    /// The binary operator a compound assignment applies, `None` for `=`.
    pub fn binary(self) -> Option<BinOp> {
        match self {
            AssignOp::Set => None,
            AssignOp::Add => Some(BinOp::Add),
            AssignOp::Sub => Some(BinOp::Sub),
            AssignOp::Mul => Some(BinOp::Mul),
            AssignOp::Div => Some(BinOp::Div),
            AssignOp::EltMul => Some(BinOp::EltMul),
            AssignOp::EltDiv => Some(BinOp::EltDiv),
        }
    }
}

/// `T[lower, upper]`; either side may be empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Truncation {
    pub lower: Option<Expr>,
    pub upper: Option<Expr>,
    pub span: Span,
}

/// A declared type: `array[d1, d2] base<bounds>`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeDecl {
    pub base: BaseType,
    pub bounds: Bounds,
    /// Sizes of the enclosing `array[...]`, outermost first; empty when not an array.
    pub array_dims: Vec<Expr>,
    pub span: Span,
}

/// The element type with its sizes. Sizes are arbitrary int expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum BaseType {
    Int,
    Real,
    Vector(Box<Expr>),
    RowVector(Box<Expr>),
    Matrix(Box<Expr>, Box<Expr>),
    CholeskyFactorCorr(Box<Expr>),
    /// `cholesky_factor_cov[M, N]` (`[K]` is `[K, K]`: the second size is `None`).
    CholeskyFactorCov(Box<Expr>, Option<Box<Expr>>),
    CovMatrix(Box<Expr>),
    CorrMatrix(Box<Expr>),
    Simplex(Box<Expr>),
    Ordered(Box<Expr>),
    PositiveOrdered(Box<Expr>),
}

impl BaseType {
    /// The Stan keyword of the type.
    pub fn keyword(&self) -> &'static str {
        match self {
            BaseType::Int => "int",
            BaseType::Real => "real",
            BaseType::Vector(_) => "vector",
            BaseType::RowVector(_) => "row_vector",
            BaseType::Matrix(..) => "matrix",
            BaseType::CholeskyFactorCorr(_) => "cholesky_factor_corr",
            BaseType::CholeskyFactorCov(..) => "cholesky_factor_cov",
            BaseType::CovMatrix(_) => "cov_matrix",
            BaseType::CorrMatrix(_) => "corr_matrix",
            BaseType::Simplex(_) => "simplex",
            BaseType::Ordered(_) => "ordered",
            BaseType::PositiveOrdered(_) => "positive_ordered",
        }
    }
}

/// `<lower=, upper=>` or `<offset=, multiplier=>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Bounds {
    #[default]
    None,
    LowerUpper {
        lower: Option<Expr>,
        upper: Option<Expr>,
    },
    OffsetMultiplier {
        offset: Option<Expr>,
        multiplier: Option<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    IntLit(i64),
    /// A real literal; `text` keeps the source spelling so printing round-trips exactly.
    RealLit {
        value: f64,
        text: String,
    },
    /// A string literal (only valid inside print/reject; kept for error recovery).
    StrLit(String),
    Var(Ident),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    /// `cond ? then : otherwise`
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `name(args)`
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `name(first | rest)`, the conditional notation of `_lpdf`/`_lpmf`/`_lupdf`/`_lupmf`/`_lcdf`..
    CondCall {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `expr[indices]`
    Index {
        expr: Box<Expr>,
        indices: Vec<Index>,
    },
    /// Postfix transpose `expr'`.
    Transpose(Box<Expr>),
    /// `{a, b, c}`
    ArrayLit(Vec<Expr>),
    /// `[a, b, c]` (a row vector; `[a, b]'` is a vector; `[[..], [..]]` is a matrix).
    RowVectorLit(Vec<Expr>),
    /// Explicit parentheses, kept so that printing preserves the author's grouping.
    Paren(Box<Expr>),
    /// Placeholder where the parser could not make sense of the input.
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Index {
    /// `i` (an int) or a multi-index (an int array expression).
    Single(Expr),
    /// `:` alone.
    All,
    /// `lower:upper`, `lower:`, `:upper`.
    Range {
        lower: Option<Expr>,
        upper: Option<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `%/%`
    IntDiv,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `.*`
    EltMul,
    /// `./`
    EltDiv,
    /// `\` (left division)
    LeftDiv,
    /// `.^`
    EltPow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::IntDiv => "%/%",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::EltMul => ".*",
            BinOp::EltDiv => "./",
            BinOp::LeftDiv => "\\",
            BinOp::EltPow => ".^",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }

    /// Binding strength, higher binds tighter (Stan's precedence table).
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne => 3,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul
            | BinOp::Div
            | BinOp::IntDiv
            | BinOp::Mod
            | BinOp::EltMul
            | BinOp::EltDiv => 6,
            BinOp::LeftDiv => 7,
            // unary prefix operators sit at 8
            BinOp::Pow | BinOp::EltPow => 9,
        }
    }

    /// `^` and `.^` are right associative; everything else is left associative.
    pub fn right_assoc(self) -> bool {
        matches!(self, BinOp::Pow | BinOp::EltPow)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnOp {
    Neg,
    Plus,
    Not,
}

impl UnOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UnOp::Neg => "-",
            UnOp::Plus => "+",
            UnOp::Not => "!",
        }
    }
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }
    /// Strip any explicit parentheses.
    pub fn unparen(&self) -> &Expr {
        match &self.kind {
            ExprKind::Paren(e) => e.unparen(),
            _ => self,
        }
    }
}
