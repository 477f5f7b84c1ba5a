//! Interval arithmetic for support analysis: the range every element of a value may take.
//!
//! Each end is a number with an open/closed flag; infinite ends are always open. Declared bounds
//! of reals are open (`real<lower=0> sigma` is > 0 on the constrained scale), literals are points,
//! data gives `[min, max]`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq)]
/// A set of reals `lo..hi`, each end open or closed: the range interval analysis tracks for a value.
pub struct Interval {
    /// The lower end (may be -inf).
    pub lo: f64,
    /// The upper end (may be +inf).
    pub hi: f64,
    /// The lower end itself is excluded.
    pub lo_open: bool,
    /// The upper end itself is excluded.
    pub hi_open: bool,
}

/// One end of an interval: value and whether it is excluded.
type End = (f64, bool);

impl Interval {
    /// Every real: (-inf, inf).
    pub const ALL: Interval = Interval {
        lo: f64::NEG_INFINITY,
        hi: f64::INFINITY,
        lo_open: true,
        hi_open: true,
    };
    /// (0, inf)
    pub const POSITIVE: Interval = Interval {
        lo: 0.0,
        hi: f64::INFINITY,
        lo_open: true,
        hi_open: true,
    };
    /// [0, inf)
    pub const NON_NEGATIVE: Interval = Interval {
        lo: 0.0,
        hi: f64::INFINITY,
        lo_open: false,
        hi_open: true,
    };
    /// [0, 1]
    pub const UNIT: Interval = Interval {
        lo: 0.0,
        hi: 1.0,
        lo_open: false,
        hi_open: false,
    };
    /// (0, 1)
    pub const OPEN_UNIT: Interval = Interval {
        lo: 0.0,
        hi: 1.0,
        lo_open: true,
        hi_open: true,
    };

    /// The interval with these ends; a NaN end widens to infinity and infinite ends are open.
    pub fn new(lo: f64, lo_open: bool, hi: f64, hi_open: bool) -> Interval {
        Interval {
            lo,
            hi,
            lo_open,
            hi_open,
        }
        .normalized()
    }

    /// The single value `x` (every real for NaN).
    pub fn point(x: f64) -> Interval {
        if x.is_nan() {
            return Interval::ALL;
        }
        Interval::new(x, false, x, false)
    }

    /// `[lo, hi]`.
    pub fn closed(lo: f64, hi: f64) -> Interval {
        Interval::new(lo, false, hi, false)
    }

    /// `(lo, hi)`.
    pub fn open(lo: f64, hi: f64) -> Interval {
        Interval::new(lo, true, hi, true)
    }

    /// Infinite ends are never attained; NaN ends mean nothing is known.
    fn normalized(mut self) -> Interval {
        if self.lo.is_nan() {
            self.lo = f64::NEG_INFINITY;
        }
        if self.hi.is_nan() {
            self.hi = f64::INFINITY;
        }
        if self.lo.is_infinite() {
            self.lo_open = true;
        }
        if self.hi.is_infinite() {
            self.hi_open = true;
        }
        self
    }

    fn lo_end(&self) -> End {
        (self.lo, self.lo_open)
    }
    fn hi_end(&self) -> End {
        (self.hi, self.hi_open)
    }

    /// The value, when the interval is a single point.
    pub fn is_point(&self) -> Option<f64> {
        (self.lo == self.hi && !self.lo_open && !self.hi_open).then_some(self.lo)
    }

    /// Is every element certainly inside `outer`?
    pub fn within(&self, outer: &Interval) -> bool {
        let lo_ok = self.lo > outer.lo || (self.lo == outer.lo && (!outer.lo_open || self.lo_open));
        let hi_ok = self.hi < outer.hi || (self.hi == outer.hi && (!outer.hi_open || self.hi_open));
        lo_ok && hi_ok
    }

    /// Is there certainly no element inside `other`?
    pub fn disjoint(&self, other: &Interval) -> bool {
        let below = self.hi < other.lo || (self.hi == other.lo && (self.hi_open || other.lo_open));
        let above = self.lo > other.hi || (self.lo == other.hi && (self.lo_open || other.hi_open));
        below || above
    }

    /// Is `x` certainly inside?
    pub fn contains(&self, x: f64) -> bool {
        Interval::point(x).within(self)
    }

    /// Certainly > 0.
    pub fn is_positive(&self) -> bool {
        self.lo > 0.0 || (self.lo == 0.0 && self.lo_open)
    }

    /// Certainly >= 0.
    pub fn is_non_negative(&self) -> bool {
        self.lo >= 0.0
    }

    /// The smallest interval covering both.
    pub fn union(&self, other: &Interval) -> Interval {
        let (lo, lo_open) = min_end(self.lo_end(), other.lo_end());
        let (hi, hi_open) = max_end(self.hi_end(), other.hi_end());
        Interval::new(lo, lo_open, hi, hi_open)
    }

    /// The intersection, or `self` unchanged when they do not meet.
    pub fn intersect(&self, other: &Interval) -> Interval {
        if self.disjoint(other) {
            return *self;
        }
        // At equal ends the open one is the tighter.
        let (lo, lo_open) = if self.lo > other.lo || (self.lo == other.lo && self.lo_open) {
            self.lo_end()
        } else {
            other.lo_end()
        };
        let (hi, hi_open) = if self.hi < other.hi || (self.hi == other.hi && self.hi_open) {
            self.hi_end()
        } else {
            other.hi_end()
        };
        Interval::new(lo, lo_open, hi, hi_open)
    }

    /// Widen the ends that moved from `old` to infinity (for assignments inside loops).
    pub fn widen_from(&self, old: &Interval) -> Interval {
        let mut r = *self;
        if self.lo < old.lo || (self.lo == old.lo && !self.lo_open && old.lo_open) {
            r.lo = f64::NEG_INFINITY;
        }
        if self.hi > old.hi || (self.hi == old.hi && !self.hi_open && old.hi_open) {
            r.hi = f64::INFINITY;
        }
        r.normalized()
    }

    /// The range of `-x`.
    pub fn neg(&self) -> Interval {
        Interval::new(-self.hi, self.hi_open, -self.lo, self.lo_open)
    }

    /// The range of `x + y`.
    pub fn add(&self, other: &Interval) -> Interval {
        Interval::new(
            self.lo + other.lo,
            self.lo_open || other.lo_open,
            self.hi + other.hi,
            self.hi_open || other.hi_open,
        )
    }

    /// The range of `x - y`.
    pub fn sub(&self, other: &Interval) -> Interval {
        self.add(&other.neg())
    }

    /// The range of `x * y`.
    pub fn mul(&self, other: &Interval) -> Interval {
        let candidates = [
            mul_end(self.lo_end(), other.lo_end()),
            mul_end(self.lo_end(), other.hi_end()),
            mul_end(self.hi_end(), other.lo_end()),
            mul_end(self.hi_end(), other.hi_end()),
        ];
        let lo = candidates
            .iter()
            .copied()
            .reduce(min_end)
            .unwrap_or((0.0, false));
        let hi = candidates
            .iter()
            .copied()
            .reduce(max_end)
            .unwrap_or((0.0, false));
        Interval::new(lo.0, lo.1, hi.0, hi.1)
    }

    /// `1 / self`.
    pub fn recip(&self) -> Interval {
        if self.is_positive() {
            Interval::new(
                recip_end(self.hi_end()).0,
                self.hi_open,
                recip_end(self.lo_end()).0,
                self.lo_open,
            )
        } else if self.neg().is_positive() {
            self.neg().recip().neg()
        } else {
            Interval::ALL
        }
    }

    /// The range of `x / y` (every real when `y` may be 0).
    pub fn div(&self, other: &Interval) -> Interval {
        self.mul(&other.recip())
    }

    /// Integer division (truncating toward zero) of int-valued intervals.
    pub fn int_div(&self, other: &Interval) -> Interval {
        let q = self.div(other);
        Interval::new(q.lo.trunc(), false, q.hi.trunc(), false)
    }

    /// Apply an increasing function to both ends.
    pub fn map_increasing(&self, f: impl Fn(f64) -> f64) -> Interval {
        Interval::new(f(self.lo), self.lo_open, f(self.hi), self.hi_open)
    }

    /// Apply a decreasing function to both ends.
    pub fn map_decreasing(&self, f: impl Fn(f64) -> f64) -> Interval {
        Interval::new(f(self.hi), self.hi_open, f(self.lo), self.lo_open)
    }

    /// `self ^ other`.
    pub fn pow(&self, other: &Interval) -> Interval {
        if let Some(p) = other.is_point() {
            if p == 0.0 {
                return Interval::point(1.0);
            }
            if p.fract() == 0.0 && p > 0.0 {
                let n = p as i32;
                if n % 2 == 0 {
                    return self.abs().map_increasing(|x| x.powi(n));
                }
                return self.map_increasing(|x| x.powi(n));
            }
            if self.is_non_negative() {
                return if p > 0.0 {
                    self.map_increasing(|x| x.powf(p))
                } else {
                    self.map_decreasing(|x| x.powf(p))
                };
            }
            return Interval::ALL;
        }
        if self.is_positive() {
            if self.within(&Interval::closed(0.0, 1.0)) && other.is_non_negative() {
                return Interval::new(0.0, true, 1.0, self.hi_open && !other.lo_open);
            }
            return Interval::POSITIVE;
        }
        if self.is_non_negative() {
            return Interval::NON_NEGATIVE;
        }
        Interval::ALL
    }

    /// The range of `abs(x)`.
    pub fn abs(&self) -> Interval {
        if self.is_non_negative() {
            *self
        } else if self.hi <= 0.0 {
            self.neg()
        } else {
            let (hi, hi_open) = max_end((-self.lo, self.lo_open), self.hi_end());
            Interval::new(0.0, false, hi, hi_open)
        }
    }

    /// The range of `x * x`.
    pub fn square(&self) -> Interval {
        self.pow(&Interval::point(2.0))
    }

    /// The range of `min(x, y)`.
    pub fn min(&self, other: &Interval) -> Interval {
        let (lo, lo_open) = min_end(self.lo_end(), other.lo_end());
        let (hi, hi_open) = min_end(self.hi_end(), other.hi_end());
        Interval::new(lo, lo_open, hi, hi_open)
    }

    /// The range of `max(x, y)`.
    pub fn max(&self, other: &Interval) -> Interval {
        let (lo, lo_open) = max_end(self.lo_end(), other.lo_end());
        let (hi, hi_open) = max_end(self.hi_end(), other.hi_end());
        Interval::new(lo, lo_open, hi, hi_open)
    }

    /// The sum of `n` elements each in `self` (`n` unknown: assume at least one element).
    pub fn sum_of(&self, n: Option<u64>) -> Interval {
        match n {
            Some(0) => Interval::point(0.0),
            Some(n) => {
                let k = n as f64;
                Interval::new(self.lo * k, self.lo_open, self.hi * k, self.hi_open)
            }
            None => {
                let lo = if self.is_positive() {
                    (0.0, true)
                } else if self.is_non_negative() {
                    (0.0, false)
                } else {
                    (f64::NEG_INFINITY, true)
                };
                let hi = if self.hi < 0.0 || (self.hi == 0.0 && self.hi_open) {
                    (0.0, true)
                } else if self.hi <= 0.0 {
                    (0.0, false)
                } else {
                    (f64::INFINITY, true)
                };
                Interval::new(lo.0, lo.1, hi.0, hi.1)
            }
        }
    }
}

fn min_end(a: End, b: End) -> End {
    if a.0 < b.0 || (a.0 == b.0 && !a.1) {
        a
    } else {
        b
    }
}

fn max_end(a: End, b: End) -> End {
    if a.0 > b.0 || (a.0 == b.0 && !a.1) {
        a
    } else {
        b
    }
}

fn mul_end(a: End, b: End) -> End {
    // An exact zero times anything (even an unattained infinity) is an exact zero.
    if (a.0 == 0.0 && !a.1) || (b.0 == 0.0 && !b.1) {
        return (0.0, false);
    }
    if a.0 == 0.0 || b.0 == 0.0 {
        return (0.0, true);
    }
    (a.0 * b.0, a.1 || b.1)
}

fn recip_end(a: End) -> End {
    if a.0 == 0.0 {
        (f64::INFINITY, true)
    } else {
        (1.0 / a.0, a.1)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |x: f64| {
            if x == f64::INFINITY {
                "inf".to_string()
            } else if x == f64::NEG_INFINITY {
                "-inf".to_string()
            } else {
                format!("{x}")
            }
        };
        if let Some(p) = self.is_point() {
            return write!(f, "{}", show(p));
        }
        write!(
            f,
            "{}{}, {}{}",
            if self.lo_open { '(' } else { '[' },
            show(self.lo),
            show(self.hi),
            if self.hi_open { ')' } else { ']' }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_keeps_strictness() {
        let pos = Interval::POSITIVE;
        assert!(pos.add(&pos).is_positive());
        assert!(pos.mul(&pos).is_positive());
        assert!(Interval::point(1.0)
            .div(&pos.map_increasing(f64::sqrt))
            .is_positive());
        assert!(!pos.sub(&Interval::point(1.0)).is_positive());
        assert!(Interval::ALL.square().is_non_negative());
        assert!(!Interval::ALL.square().is_positive());
        assert!(pos.square().is_positive());
        assert!(Interval::ALL.map_increasing(f64::exp).is_positive());
        assert_eq!(
            Interval::closed(-2.0, 3.0).mul(&Interval::closed(-1.0, 4.0)),
            Interval::closed(-8.0, 12.0)
        );
        assert_eq!(
            Interval::closed(-2.0, 3.0).abs(),
            Interval::closed(0.0, 3.0)
        );
        assert!(Interval::point(0.0).mul(&Interval::ALL).is_point() == Some(0.0));
        assert!(Interval::POSITIVE
            .intersect(&Interval::NON_NEGATIVE)
            .is_positive());
        assert!(Interval::NON_NEGATIVE
            .intersect(&Interval::POSITIVE)
            .is_positive());
    }

    #[test]
    fn containment_respects_open_ends() {
        assert!(Interval::POSITIVE.within(&Interval::NON_NEGATIVE));
        assert!(!Interval::NON_NEGATIVE.within(&Interval::POSITIVE));
        assert!(Interval::open(0.0, 1.0).within(&Interval::UNIT));
        assert!(!Interval::closed(0.0, 2.0).within(&Interval::UNIT));
        assert!(Interval::closed(-3.0, -1.0).disjoint(&Interval::POSITIVE));
        assert!(Interval::point(0.0).disjoint(&Interval::POSITIVE));
        assert!(!Interval::point(0.0).disjoint(&Interval::NON_NEGATIVE));
    }
}
