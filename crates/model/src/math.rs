//! Scalar special functions with their derivatives, shared by the function library and the
//! densities. Every function returns `(value, derivative)` where a derivative is needed.

pub const LOG_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
pub const LOG_PI: f64 = 1.144_729_885_849_400_2;
pub const LN2: f64 = std::f64::consts::LN_2;

pub fn lgamma(x: f64) -> f64 {
    special::Gamma::ln_gamma(x).0
}

/// Digamma valid on the whole real line (reflection for negative arguments keeps the recursion
/// of the underlying implementation short).
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x <= 0.0 {
        if x == x.floor() {
            return f64::NAN;
        }
        let pi = std::f64::consts::PI;
        return digamma(1.0 - x) - pi / (pi * x).tan();
    }
    if x > 1e15 {
        return x.ln();
    }
    special::Gamma::digamma(x)
}

pub fn trigamma(x: f64) -> f64 {
    special::Gamma::trigamma(&x)
}

pub fn lbeta(a: f64, b: f64) -> f64 {
    lgamma(a) + lgamma(b) - lgamma(a + b)
}

/// log(1 + exp(x)) without overflow.
#[inline]
pub fn log1p_exp(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

#[inline]
pub fn inv_logit(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// log(inv_logit(x)).
#[inline]
pub fn log_inv_logit(x: f64) -> f64 {
    -log1p_exp(-x)
}

/// log(1 - exp(x)) for x < 0.
pub fn log1m_exp(x: f64) -> f64 {
    if x > -LN2 {
        (-x.exp_m1()).ln()
    } else {
        (-x.exp()).ln_1p()
    }
}

/// log(exp(a) + exp(b)).
pub fn log_sum_exp2(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// log(exp(a) - exp(b)), a >= b.
pub fn log_diff_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    a + log1m_exp(b - a)
}

pub fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// Standard normal CDF.
pub fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal density.
pub fn std_normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x - LOG_SQRT_2PI).exp()
}

/// Regularized lower incomplete gamma P(a, x).
pub fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x.is_infinite() {
        return 1.0;
    }
    special::Gamma::inc_gamma(x, a)
}

/// Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x), accurate in the right tail
/// (Lentz continued fraction for x > a + 1).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    if x < a + 1.0 {
        return 1.0 - gamma_p(a, x);
    }
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..1000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x + a * x.ln() - lgamma(a)).exp() * h
}

/// Regularized incomplete beta I_x(a, b).
pub fn inc_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    special::Beta::inc_beta(x, a, b, special::Beta::ln_beta(a, b))
}

/// log of the binomial coefficient n choose k for real arguments.
pub fn lchoose(n: f64, k: f64) -> f64 {
    lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0)
}

/// The unary elementwise functions of the language: name -> (value, derivative).
pub type UnaryFn = fn(f64) -> (f64, f64);

/// The standard normal quantile: Acklam's rational approximation refined by two Newton steps on
/// `Phi(x) - p` (relative error near machine precision in the body and the tails).
pub fn inv_phi(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let mut x = if p < 0.024_25 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.024_25 {
        -tail((-2.0 * (-p).ln_1p()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    for _ in 0..2 {
        // Newton on the smaller tail probability, for accuracy far out.
        let (f, target) = if x < 0.0 {
            (phi(x), p)
        } else {
            (0.5 * erfc(x / std::f64::consts::SQRT_2), 1.0 - p)
        };
        let d = std_normal_pdf(x);
        if d > 0.0 && d.is_finite() {
            let step = (f - target) / d;
            x -= if x < 0.0 { step } else { -step };
        }
    }
    x
}

pub fn unary_fn(name: &str) -> Option<UnaryFn> {
    let f: UnaryFn = match name {
        "exp" => |x| {
            let y = x.exp();
            (y, y)
        },
        "log" => |x| (x.ln(), 1.0 / x),
        "log2" => |x| (x.log2(), 1.0 / (x * LN2)),
        "log10" => |x| (x.log10(), 1.0 / (x * std::f64::consts::LN_10)),
        "log1p" => |x| (x.ln_1p(), 1.0 / (1.0 + x)),
        "expm1" => |x| (x.exp_m1(), x.exp()),
        // At 0 the derivative is taken as 0, as Stan's sqrt does (its adjoint skips a zero
        // value): an underflowed exp under a sqrt then gives a finite gradient, not inf * 0.
        "sqrt" => |x| {
            let y = x.sqrt();
            (y, if y == 0.0 { 0.0 } else { 0.5 / y })
        },
        "cbrt" => |x| {
            let y = x.cbrt();
            (y, 1.0 / (3.0 * y * y))
        },
        "square" => |x| (x * x, 2.0 * x),
        "inv" => |x| (1.0 / x, -1.0 / (x * x)),
        "inv_sqrt" => |x| {
            let y = 1.0 / x.sqrt();
            (y, -0.5 * y / x)
        },
        "inv_square" => |x| (1.0 / (x * x), -2.0 / (x * x * x)),
        "fabs" => |x| {
            (
                x.abs(),
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                },
            )
        },
        "inv_logit" | "expit" => |x| {
            let y = inv_logit(x);
            (y, y * (1.0 - y))
        },
        "logit" => |x| ((x / (1.0 - x)).ln(), 1.0 / (x * (1.0 - x))),
        "log_inv_logit" => |x| (log_inv_logit(x), 1.0 - inv_logit(x)),
        "log1m_inv_logit" => |x| (log_inv_logit(-x), -inv_logit(x)),
        "inv_cloglog" => |x| (-(-x.exp()).exp_m1(), (x - x.exp()).exp()),
        "log1m" => |x| ((-x).ln_1p(), -1.0 / (1.0 - x)),
        "log1p_exp" => |x| (log1p_exp(x), inv_logit(x)),
        "log1m_exp" => |x| (log1m_exp(x), -1.0 / (-x).exp_m1()),
        "lgamma" => |x| (lgamma(x), digamma(x)),
        "digamma" => |x| (digamma(x), trigamma(x)),
        "tgamma" => |x| {
            let g = special::Gamma::gamma(x);
            (g, g * digamma(x))
        },
        "sin" => |x| (x.sin(), x.cos()),
        "cos" => |x| (x.cos(), -x.sin()),
        "tan" => |x| {
            let t = x.tan();
            (t, 1.0 + t * t)
        },
        "asin" => |x| (x.asin(), 1.0 / (1.0 - x * x).sqrt()),
        "acos" => |x| (x.acos(), -1.0 / (1.0 - x * x).sqrt()),
        "atan" => |x| (x.atan(), 1.0 / (1.0 + x * x)),
        "sinh" => |x| (x.sinh(), x.cosh()),
        "cosh" => |x| (x.cosh(), x.sinh()),
        "tanh" => |x| {
            let t = x.tanh();
            (t, 1.0 - t * t)
        },
        "asinh" => |x| (x.asinh(), 1.0 / (x * x + 1.0).sqrt()),
        "acosh" => |x| (x.acosh(), 1.0 / (x * x - 1.0).sqrt()),
        "atanh" => |x| (x.atanh(), 1.0 / (1.0 - x * x)),
        "erf" => |x| (erf(x), 2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp()),
        "erfc" => |x| (erfc(x), -2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp()),
        "Phi" => |x| (phi(x), std_normal_pdf(x)),
        "Phi_approx" => |x| {
            let z = 0.07056 * x * x * x + 1.5976 * x;
            let y = inv_logit(z);
            (y, y * (1.0 - y) * (3.0 * 0.07056 * x * x + 1.5976))
        },
        "inv_Phi" => |p| {
            let x = inv_phi(p);
            (x, 1.0 / std_normal_pdf(x))
        },
        "std_normal_log_qf" => return None,
        "floor" => |x| (x.floor(), 0.0),
        "ceil" => |x| (x.ceil(), 0.0),
        "round" => |x| (x.round(), 0.0),
        "trunc" => |x| (x.trunc(), 0.0),
        "step" => |x| (if x < 0.0 { 0.0 } else { 1.0 }, 0.0),
        "exp2" => |x| {
            let y = x.exp2();
            (y, y * LN2)
        },
        _ => return None,
    };
    Some(f)
}

/// Binary scalar functions: name -> (value, d/da, d/db).
pub type BinaryFn = fn(f64, f64) -> (f64, f64, f64);

pub fn binary_fn(name: &str) -> Option<BinaryFn> {
    let f: BinaryFn = match name {
        "pow" => pow,
        // Stan's fmin/fmax ignore a NaN argument.
        "fmin" => |a, b| {
            if b.is_nan() || a <= b {
                (a, 1.0, 0.0)
            } else {
                (b, 0.0, 1.0)
            }
        },
        "fmax" => |a, b| {
            if b.is_nan() || a >= b {
                (a, 1.0, 0.0)
            } else {
                (b, 0.0, 1.0)
            }
        },
        "fdim" => |a, b| {
            if a > b {
                (a - b, 1.0, -1.0)
            } else {
                (0.0, 0.0, 0.0)
            }
        },
        "fmod" => |a, b| (a % b, 1.0, -(a / b).trunc()),
        "hypot" => |a, b| {
            let h = a.hypot(b);
            (h, a / h, b / h)
        },
        "atan2" => |a, b| {
            let d = a * a + b * b;
            (a.atan2(b), b / d, -a / d)
        },
        "lbeta" => |a, b| {
            let dab = digamma(a + b);
            (lbeta(a, b), digamma(a) - dab, digamma(b) - dab)
        },
        "lchoose" => |n, k| {
            let dn = digamma(n + 1.0) - digamma(n - k + 1.0);
            let dk = -digamma(k + 1.0) + digamma(n - k + 1.0);
            (lchoose(n, k), dn, dk)
        },
        "log_diff_exp" => |a, b| {
            let v = log_diff_exp(a, b);
            // d/da = exp(a)/(exp(a)-exp(b)), d/db = -exp(b)/(exp(a)-exp(b))
            let da = 1.0 / (-(b - a).exp_m1());
            (v, da, 1.0 - da)
        },
        "log_sum_exp" => |a, b| {
            let v = log_sum_exp2(a, b);
            ((v), (a - v).exp(), (b - v).exp())
        },
        "log_inv_logit_diff" => |a, b| {
            let v = (inv_logit(a) - inv_logit(b)).ln();
            let d = inv_logit(a) - inv_logit(b);
            let pa = inv_logit(a);
            let pb = inv_logit(b);
            (v, pa * (1.0 - pa) / d, -pb * (1.0 - pb) / d)
        },
        "owens_t" | "bessel" => return None,
        _ => return None,
    };
    Some(f)
}

pub fn pow(a: f64, b: f64) -> (f64, f64, f64) {
    let v = a.powf(b);
    let da = if b == 0.0 { 0.0 } else { b * a.powf(b - 1.0) };
    let db = if a == 0.0 { 0.0 } else { v * a.ln() };
    (v, da, db)
}

/// `exp(x)` for `x <= 0` (or NaN, which gives a tiny positive number: callers check NaN), without
/// branches or table lookups so that loops over it vectorise: x = n ln 2 + r with |r| <= ln(2)/2,
/// exp(r) by its Taylor polynomial of degree 12 (truncation error below 2e-16 relative), and 2^n
/// applied as two exact power-of-two factors so results in the subnormal range round once.
/// Agrees with `f64::exp` to a few ulp.
#[inline(always)]
pub fn exp_nonpos(x: f64) -> f64 {
    // Round-to-nearest by adding 1.5 * 2^52: the low mantissa bits then hold the integer.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    let x = x.max(-746.0);
    let t = x * std::f64::consts::LOG2_E + SHIFT;
    let n_f = t - SHIFT;
    let r = (x - n_f * LN2_HI) - n_f * LN2_LO;
    let mut p = 1.0 / 479_001_600.0;
    for c in [
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // n = round(x / ln 2) in [-1077, 0], split into two halves, each a normal power of two.
    let n = (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let half = ((n_f * 0.5 + SHIFT).to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let rest = n.wrapping_sub(half);
    let s1 = f64::from_bits((half.wrapping_add(1023) as u64) << 52);
    let s2 = f64::from_bits((rest.wrapping_add(1023) as u64) << 52);
    p * s1 * s2
}
