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
    /// Byte offset of the first character.
    pub start: u32,
    /// Byte offset one past the last character.
    pub end: u32,
}

impl Span {
    /// The span `start..end`.
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
    /// The span as a `usize` range, for slicing the source text.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A name with the span where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where it was written.
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
    /// `data { ... }`.
    pub data: Option<Block>,
    /// `transformed data { ... }`.
    pub transformed_data: Option<Block>,
    /// `parameters { ... }`.
    pub parameters: Option<Block>,
    /// `transformed parameters { ... }`.
    pub transformed_parameters: Option<Block>,
    /// `model { ... }`.
    pub model: Option<Block>,
    /// `generated quantities { ... }`.
    pub generated_quantities: Option<Block>,
}

/// Which of the six blocks a statement lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKind {
    /// `data`.
    Data,
    /// `transformed data`.
    TransformedData,
    /// `parameters`.
    Parameters,
    /// `transformed parameters`.
    TransformedParameters,
    /// `model`.
    Model,
    /// `generated quantities`.
    GeneratedQuantities,
}

impl BlockKind {
    /// The six blocks in program order.
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
    /// The block of the given kind, if present.
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

    /// The slot of the block of the given kind, for inserting or replacing it.
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
    /// The definitions and forward declarations, in source order.
    pub defs: Vec<FunDef>,
    /// From the `functions` keyword to the closing brace.
    pub span: Span,
}

/// A function definition `ret name(params) { body }` or a forward declaration `ret name(params);`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunDef {
    /// `None` for `void`.
    pub ret: Option<UnsizedType>,
    /// The function's name, suffix included (`foo_lpdf`).
    pub name: Ident,
    /// The arguments, in order.
    pub params: Vec<FunParam>,
    /// `None` for a forward declaration; otherwise a `{ ... }` block statement.
    pub body: Option<Stmt>,
    /// From the return type to the end of the body or the `;`.
    pub span: Span,
}

/// One argument of a function definition: `data array[] real x`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunParam {
    /// Declared with the `data` qualifier: only data (no parameters) may be passed.
    pub data_only: bool,
    /// The argument's type.
    pub ty: UnsizedType,
    /// The argument's name.
    pub name: Ident,
}

/// The element kinds a function argument or return value may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnsizedBase {
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

impl UnsizedBase {
    /// The Stan keyword of the base.
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
    /// The element kind.
    pub base: UnsizedBase,
    /// Number of array dimensions (`array[,] real` has 2).
    pub array_dims: u8,
    /// Where the type was written.
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
    /// The statements, in source order.
    pub stmts: Vec<Stmt>,
    /// From the block keyword to the closing brace (or the end of input for a prefix).
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
/// A statement with the span of its source text.
pub struct Stmt {
    /// What the statement is.
    pub kind: StmtKind,
    /// From its first token to its `;` or closing brace.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
/// The statement forms of the subset.
pub enum StmtKind {
    /// `type name;` or `type name = init;`
    Decl {
        /// The declared type.
        ty: TypeDecl,
        /// The declared name.
        name: Ident,
        /// The initializer, if any.
        init: Option<Expr>,
    },
    /// `lhs op rhs;` where lhs is a variable with optional indexes.
    Assign {
        /// The assigned variable and its indexes.
        lhs: LValue,
        /// `=` or a compound operator.
        op: AssignOp,
        /// The assigned value.
        rhs: Expr,
    },
    /// `lhs ~ dist(args) T[lower, upper];`
    Tilde {
        /// The variate.
        lhs: Expr,
        /// The distribution's name without suffix (`normal`).
        dist: Ident,
        /// The distribution's parameters.
        args: Vec<Expr>,
        /// `T[lower, upper]`, if present.
        truncation: Option<Truncation>,
    },
    /// `target += expr;`
    TargetPlus(Expr),
    /// `for (var in lower:upper) body`
    For {
        /// The loop variable.
        var: Ident,
        /// The first value.
        lower: Expr,
        /// The last value (inclusive).
        upper: Expr,
        /// The loop body.
        body: Box<Stmt>,
    },
    /// `for (var in container) body`
    ForEach {
        /// The loop variable.
        var: Ident,
        /// The array, vector or matrix iterated over.
        container: Expr,
        /// The loop body.
        body: Box<Stmt>,
    },
    /// `while (cond) body`
    While {
        /// The loop condition.
        cond: Expr,
        /// The loop body.
        body: Box<Stmt>,
    },
    /// `if (cond) then else otherwise`
    If {
        /// The condition.
        cond: Expr,
        /// The statement run when the condition holds.
        then: Box<Stmt>,
        /// The `else` branch, if any.
        otherwise: Option<Box<Stmt>>,
    },
    /// `{ stmts }`
    Block(Vec<Stmt>),
    /// `print(...)`
    Print(Vec<Printable>),
    /// `reject(...)`
    Reject(Vec<Printable>),
    /// `break;`
    Break,
    /// `continue;`
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
/// One argument of `print` or `reject`.
pub enum Printable {
    /// A string literal.
    Str(String),
    /// An expression, printed by value.
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
/// The left-hand side of an assignment: a variable with optional indexes.
pub struct LValue {
    /// The assigned variable.
    pub name: Ident,
    /// Zero or more index lists: `x[i][j]` is two lists, `x[i, j]` one list of two.
    pub indices: Vec<Vec<Index>>,
    /// The variable and its indexes.
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
/// An assignment operator.
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
    /// The operator as written in Stan.
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
    /// The lower bound, if given.
    pub lower: Option<Expr>,
    /// The upper bound, if given.
    pub upper: Option<Expr>,
    /// From `T` to the closing bracket.
    pub span: Span,
}

/// A declared type: `array[d1, d2] base<bounds>`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeDecl {
    /// The element type with its sizes.
    pub base: BaseType,
    /// Its constraint (`<lower=0>`) or affine transform (`<offset=, multiplier=>`).
    pub bounds: Bounds,
    /// Sizes of the enclosing `array[...]`, outermost first; empty when not an array.
    pub array_dims: Vec<Expr>,
    /// From the first keyword to the end of the type.
    pub span: Span,
}

/// The element type with its sizes. Sizes are arbitrary int expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum BaseType {
    /// `int`.
    Int,
    /// `real`.
    Real,
    /// `vector[N]`.
    Vector(Box<Expr>),
    /// `row_vector[N]`.
    RowVector(Box<Expr>),
    /// `matrix[M, N]`.
    Matrix(Box<Expr>, Box<Expr>),
    /// `cholesky_factor_corr[K]`.
    CholeskyFactorCorr(Box<Expr>),
    /// `cholesky_factor_cov[M, N]` (`[K]` is `[K, K]`: the second size is `None`).
    CholeskyFactorCov(Box<Expr>, Option<Box<Expr>>),
    /// `cov_matrix[K]`.
    CovMatrix(Box<Expr>),
    /// `corr_matrix[K]`.
    CorrMatrix(Box<Expr>),
    /// `simplex[K]`.
    Simplex(Box<Expr>),
    /// `ordered[K]`.
    Ordered(Box<Expr>),
    /// `positive_ordered[K]`.
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
    /// No constraint.
    None,
    /// `<lower=..., upper=...>`; either may be missing.
    LowerUpper {
        /// The lower bound, if given.
        lower: Option<Expr>,
        /// The upper bound, if given.
        upper: Option<Expr>,
    },
    /// `<offset=..., multiplier=...>`; either may be missing.
    OffsetMultiplier {
        /// The offset, if given.
        offset: Option<Expr>,
        /// The multiplier, if given.
        multiplier: Option<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
/// An expression with the span of its source text.
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// From its first to its last character.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
/// The expression forms of the subset.
pub enum ExprKind {
    /// An integer literal.
    IntLit(i64),
    /// A real literal; `text` keeps the source spelling so printing round-trips exactly.
    RealLit {
        /// The value.
        value: f64,
        /// The source spelling (`1e-3`, `0.50`).
        text: String,
    },
    /// A string literal (only valid inside print/reject; kept for error recovery).
    StrLit(String),
    /// A variable.
    Var(Ident),
    /// `lhs op rhs`
    Binary {
        /// The operator.
        op: BinOp,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// `op expr`
    Unary {
        /// The operator.
        op: UnOp,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `cond ? then : otherwise`
    Ternary {
        /// The condition.
        cond: Box<Expr>,
        /// The value when the condition holds.
        then: Box<Expr>,
        /// The value otherwise.
        otherwise: Box<Expr>,
    },
    /// `name(args)`
    Call {
        /// The function's name.
        name: Ident,
        /// The arguments.
        args: Vec<Expr>,
    },
    /// `name(first | rest)`, the conditional notation of `_lpdf`/`_lpmf`/`_lupdf`/`_lupmf`/`_lcdf`..
    CondCall {
        /// The density's or distribution function's name, suffix included.
        name: Ident,
        /// The arguments, the variate first.
        args: Vec<Expr>,
    },
    /// `expr[indices]`
    Index {
        /// The indexed expression.
        expr: Box<Expr>,
        /// The indexes, one per dimension.
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
/// One index inside `[...]`.
pub enum Index {
    /// `i` (an int) or a multi-index (an int array expression).
    Single(Expr),
    /// `:` alone.
    All,
    /// `lower:upper`, `lower:`, `:upper`.
    Range {
        /// The first index, if given.
        lower: Option<Expr>,
        /// The last index (inclusive), if given.
        upper: Option<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
/// A binary operator.
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
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
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `&&`
    And,
    /// `||`
    Or,
}

impl BinOp {
    /// The operator as written in Stan.
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
/// A prefix operator.
pub enum UnOp {
    /// `-`
    Neg,
    /// `+`
    Plus,
    /// `!`
    Not,
}

impl UnOp {
    /// The operator as written in Stan.
    pub fn as_str(self) -> &'static str {
        match self {
            UnOp::Neg => "-",
            UnOp::Plus => "+",
            UnOp::Not => "!",
        }
    }
}

impl Expr {
    /// An expression of the given kind and span.
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
