//! The symbol table: every declared name with its block, type, sizes, bounds and what is known of
//! its values; scopes nest for local blocks and loops.

use super::intervals::Interval;
use super::types::{Sizes, Structure, Ty};
use crate::ast::{BlockKind, Span};
use crate::data::DataValue;

/// Dependence flags of a value: on data (observed, fixed) and on parameters (sampled).
pub(crate) const DEP_DATA: u8 = 1;
pub(crate) const DEP_PARAM: u8 = 2;

/// Where a name was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// At the top level of a block (program variables).
    Block(BlockKind),
    /// Inside a nested statement block, or at the top of the model block.
    Local(BlockKind),
    /// A `for` loop variable.
    LoopVar,
    /// An argument of a user-defined function.
    Argument,
}

#[derive(Debug, Clone)]
pub(crate) struct Symbol<'p, 'd> {
    pub name: &'p str,
    /// Where the name was declared.
    pub span: Span,
    pub origin: Origin,
    pub ty: Ty,
    pub sizes: Sizes,
    /// A range every element certainly lies in, from declared bounds or data values.
    pub fixed: Option<Interval>,
    /// The union of every value assigned so far (used when `fixed` is absent).
    pub assigned: Option<Interval>,
    pub structure: Structure,
    pub deps: u8,
    pub has_lower: bool,
    pub has_upper: bool,
    /// The data value, for data-block variables when data is given.
    pub value: Option<&'d DataValue>,
    /// Has the variable been assigned as a whole yet (for structure tracking)?
    pub whole_assignments: u32,
    /// Declared `<lower=..>` / `<upper=..>` values, when they are known numbers.
    pub bound_values: (Option<f64>, Option<f64>),
}

impl Symbol<'_, '_> {
    pub fn range(&self) -> Interval {
        self.fixed.or(self.assigned).unwrap_or(Interval::ALL)
    }

    pub fn block(&self) -> Option<BlockKind> {
        match self.origin {
            Origin::Block(b) => Some(b),
            _ => None,
        }
    }
}

/// Visible names, innermost last.
#[derive(Debug, Default)]
pub(crate) struct Scopes<'p, 'd> {
    pub symbols: Vec<Symbol<'p, 'd>>,
    /// Indexes into `symbols` of the visible names.
    visible: Vec<usize>,
    /// Length of `visible` at each open scope.
    marks: Vec<usize>,
}

impl<'p, 'd> Scopes<'p, 'd> {
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.visible
            .iter()
            .rev()
            .copied()
            .find(|&i| self.symbols[i].name == name)
    }

    pub fn declare(&mut self, sym: Symbol<'p, 'd>) -> usize {
        let id = self.symbols.len();
        self.symbols.push(sym);
        self.visible.push(id);
        id
    }

    pub fn push(&mut self) {
        self.marks.push(self.visible.len());
    }

    pub fn pop(&mut self) {
        if let Some(m) = self.marks.pop() {
            self.visible.truncate(m);
        }
    }

    pub fn visible_names(&self) -> impl Iterator<Item = &'p str> + '_ {
        self.visible.iter().map(|&i| self.symbols[i].name)
    }
}
