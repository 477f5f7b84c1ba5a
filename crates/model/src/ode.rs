//! ODE solvers (`ode_rk45`, `ode_bdf`, ... and the removed `integrate_ode_*` forms): an adaptive
//! explicit Dormand-Prince 5(4) Runge-Kutta method whose stages are evaluated on the tape, so
//! gradients with respect to the initial state and every argument of the right-hand side come
//! from differentiating the discrete solution (with the accepted step sizes held fixed). Stiff
//! systems (`_bdf`) are solved by the same explicit method: correct, but possibly slow.
//!
//! Default tolerances are Stan's (relative and absolute 1e-6, at most 1e6 steps; 1e-10, 1e-10
//! and 1e8 for the removed `integrate_ode_bdf` / `integrate_ode_adams`); the `_tol` forms and
//! the 10-argument `integrate_ode_*` take their own.

use crate::interp::Ctx;
use crate::lower::E;
use crate::ops;
use crate::value::{eval_err, promote, Dims, Res, Shape, Val};

// Dormand-Prince 5(4) tableau.
const C: [f64; 7] = [0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0];
const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [0.2, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// The fifth-order solution minus the embedded fourth-order one.
const ERR: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

impl Ctx<'_> {
    /// Solve the ODE and return the states at the output times.
    pub fn ode(
        &mut self,
        f: &[usize],
        args: &[E],
        old: bool,
        tol: bool,
        defaults: (f64, f64, usize),
    ) -> Res<Val> {
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.eval(a)?);
        }
        if vals.len() < 3 {
            return eval_err("ODE solver: needs the initial state, initial time and output times");
        }
        let y0 = promote(vals[0].clone());
        let t0 = vals[1].as_f64()?;
        let ts = vals[2].to_vec(&self.t.val);
        let num = |v: &Val| v.as_f64();
        let ((rtol, atol, max_steps), extra): ((f64, f64, usize), Vec<Val>) = if old {
            if vals.len() < 6 {
                return eval_err("integrate_ode: needs theta, x_r and x_i");
            }
            let tols = if vals.len() >= 9 {
                (num(&vals[6])?, num(&vals[7])?, num(&vals[8])? as usize)
            } else {
                defaults
            };
            (tols, vals[3..6].to_vec())
        } else if tol {
            if vals.len() < 6 {
                return eval_err("ODE solver: the _tol form needs rtol, atol and max_num_steps");
            }
            (
                (num(&vals[3])?, num(&vals[4])?, num(&vals[5])? as usize),
                vals[6..].to_vec(),
            )
        } else {
            (defaults, vals[3..].to_vec())
        };
        if !(rtol > 0.0 && atol > 0.0) {
            return eval_err("ODE solver: tolerances must be positive");
        }
        let n = y0.numel();
        let mut y = ops::reshape(&y0, Shape::vector(n))?;
        let mut t = t0;
        let span = ts.iter().map(|x| (x - t0).abs()).fold(0.0, f64::max);
        let mut h = (span * 1e-3).max(1e-8);
        let mut k1 = self.ode_rhs(f, t, &y, old, &extra, n)?;
        let mut out: Vec<Val> = Vec::with_capacity(ts.len() * n);
        let mut steps = 0usize;
        for &tout in &ts {
            if !(tout >= t) {
                return eval_err(format!(
                    "ODE solver: output times must be increasing and not before the initial time {t0} (found {tout})"
                ));
            }
            while t < tout {
                steps += 1;
                if steps > max_steps {
                    return eval_err(format!(
                        "ODE solver: more than {max_steps} steps before t = {tout}"
                    ));
                }
                let last = tout - t <= h * (1.0 + 1e-12);
                let hh = if last { tout - t } else { h };
                let mut k: Vec<Val> = vec![k1.clone()];
                for s in 1..7 {
                    let yi = self.ode_combine(&y, hh, &A[s][..s], &k)?;
                    if s == 6 {
                        // The fifth-order solution is the last stage's input (FSAL).
                        let ks = self.ode_rhs(f, t + C[s] * hh, &yi, old, &extra, n)?;
                        k.push(ks);
                        let norm = self.ode_error(&y, &yi, &k, hh, rtol, atol, n);
                        if norm <= 1.0 {
                            t = if last { tout } else { t + hh };
                            y = yi;
                            k1 = k[6].clone();
                        }
                        let fac = if norm == 0.0 {
                            5.0
                        } else {
                            (0.9 * norm.powf(-0.2)).clamp(0.2, 5.0)
                        };
                        if !fac.is_finite() {
                            return eval_err("ODE solver: the right-hand side is not finite");
                        }
                        if !(norm <= 1.0) || !last {
                            h = hh * fac;
                        }
                        if h < 1e-14 * t.abs().max(1.0) {
                            return eval_err("ODE solver: step size underflow");
                        }
                    } else {
                        let ks = self.ode_rhs(f, t + C[s] * hh, &yi, old, &extra, n)?;
                        k.push(ks);
                    }
                }
            }
            for i in 0..n {
                let (x, s) = y.elem(i, &self.t.val);
                out.push(Val::Real(x, s));
            }
        }
        let shape = if old {
            Shape::array(Dims::from_slice(&[ts.len(), n])?)
        } else {
            Shape {
                arr: Dims::from_slice(&[ts.len()])?,
                base: crate::value::Base::Vector(n as u32),
            }
        };
        ops::stack(self.t, &out, shape)
    }

    /// The right-hand side at (t, y) as a vector of length n.
    fn ode_rhs(
        &mut self,
        f: &[usize],
        t: f64,
        y: &Val,
        old: bool,
        extra: &[Val],
        n: usize,
    ) -> Res<Val> {
        let mut args = Vec::with_capacity(extra.len() + 2);
        args.push(Val::real(t));
        args.push(if old {
            ops::reshape(y, Shape::array(Dims::from_slice(&[n])?))?
        } else {
            y.clone()
        });
        args.extend(extra.iter().cloned());
        let dy = self.call_with(f, args)?;
        if dy.numel() != n {
            return eval_err(format!(
                "ODE solver: the right-hand side returned {} values for a state of size {n}",
                dy.numel()
            ));
        }
        ops::reshape(&dy, Shape::vector(n))
    }

    /// y + h * sum_j a_j k_j.
    fn ode_combine(&mut self, y: &Val, h: f64, a: &[f64], k: &[Val]) -> Res<Val> {
        let mut acc = y.clone();
        for (aj, kj) in a.iter().zip(k) {
            if *aj == 0.0 {
                continue;
            }
            let term = ops::mul(self.t, &Val::real(h * aj), kj)?;
            acc = ops::add(self.t, &acc, &term)?;
        }
        Ok(acc)
    }

    /// The scaled RMS norm of the embedded error estimate (values only).
    #[allow(clippy::too_many_arguments)]
    fn ode_error(
        &self,
        y: &Val,
        y5: &Val,
        k: &[Val],
        h: f64,
        rtol: f64,
        atol: f64,
        n: usize,
    ) -> f64 {
        let tv = &self.t.val;
        let mut sum = 0.0;
        for i in 0..n {
            let e: f64 = h * ERR
                .iter()
                .zip(k)
                .map(|(c, kj)| c * kj.elem(i, tv).0)
                .sum::<f64>();
            let scale = atol + rtol * y.elem(i, tv).0.abs().max(y5.elem(i, tv).0.abs());
            sum += (e / scale).powi(2);
        }
        if n == 0 {
            0.0
        } else {
            (sum / n as f64).sqrt()
        }
    }
}
