//! Word lists other stages share, so they stay in step with the language when it grows: the
//! parser and checker keep their own purpose-built lists, these are the ones read from outside
//! the parse tree (prefix checks of unfinished statements, the decoder's backtracking).

/// Types that start a declaration statement (`real x;`, `array[N] vector[K] z;`).
pub const DECLARATION_TYPES: &[&str] = &[
    "real",
    "int",
    "vector",
    "row_vector",
    "matrix",
    "array",
    "simplex",
    "ordered",
    "positive_ordered",
    "cholesky_factor_corr",
    "cholesky_factor_cov",
    "cov_matrix",
    "corr_matrix",
];

/// Keywords that start or shape a statement.
pub const STATEMENT_WORDS: &[&str] = &[
    "for", "while", "if", "else", "in", "target", "print", "reject", "break", "continue", "return",
];

/// Words inside a declaration's `<...>`.
pub const BOUND_WORDS: &[&str] = &["lower", "upper", "offset", "multiplier"];

/// Words of block headers.
pub const BLOCK_WORDS: &[&str] = &[
    "functions",
    "data",
    "transformed",
    "parameters",
    "model",
    "generated",
    "quantities",
];
