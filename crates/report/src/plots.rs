//! The report's figures: SVG text drawn with `plotters`' SVG backend (no fonts loaded: text is
//! left to the browser as `<text>` elements).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A figure that could not be drawn says why (shown in its place).
pub type Svg = Result<String, String>;

/// Chain colours (ColorBrewer Dark2, readable on white and for most colour-blind readers).
pub const CHAIN_COLORS: [RGBColor; 8] = [
    RGBColor(0x1b, 0x9e, 0x77),
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x75, 0x70, 0xb3),
    RGBColor(0xe7, 0x29, 0x8a),
    RGBColor(0x66, 0xa6, 0x1e),
    RGBColor(0xe6, 0xab, 0x02),
    RGBColor(0xa6, 0x76, 0x1d),
    RGBColor(0x66, 0x66, 0x66),
];
/// Divergent transitions, failed thresholds.
pub const RED: RGBColor = RGBColor(0xd6, 0x27, 0x28);
/// Posterior draws in scatter plots, replicated data.
pub const BLUE: RGBColor = RGBColor(0x4c, 0x72, 0xb0);
/// Observed data.
pub const DARK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GREY: RGBColor = RGBColor(0x88, 0x88, 0x88);
const FONT: &str = "sans-serif";

fn chain_color(k: usize) -> RGBColor {
    CHAIN_COLORS[k % CHAIN_COLORS.len()]
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// A tick label: few digits, no trailing noise.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if a < 1e-10 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        trim(format!("{v:.1}"))
    } else if a >= 1.0 {
        trim(format!("{v:.2}"))
    } else {
        trim(format!("{v:.3}"))
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The finite range of `values`, widened when empty or a single point.
pub fn range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= 1e-12 * lo.abs().max(1.0) {
        let pad = (lo.abs() * 0.1).max(0.5);
        return (lo - pad, hi + pad);
    }
    (lo, hi)
}

fn pad((lo, hi): (f64, f64), frac: f64) -> std::ops::Range<f64> {
    let d = (hi - lo) * frac;
    (lo - d)..(hi + d)
}

/// Draws into an SVG string of `size` pixels.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Svg {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Trace plot: `chains[k]` are the (thinned) draws of chain k with their iteration numbers.
pub fn trace(title: &str, chains: &[Vec<(f64, f64)>]) -> Svg {
    let (x0, x1) = range(chains.iter().flatten().map(|p| p.0));
    let (y0, y1) = range(chains.iter().flatten().map(|p| p.1));
    svg((350, 165), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(6)
            .caption(title, (FONT, 13))
            .x_label_area_size(22)
            .y_label_area_size(46)
            .build_cartesian_2d(x0..x1, pad((y0, y1), 0.05))
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(5)
            .y_labels(4)
            .label_style((FONT, 10))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(err)?;
        for (k, chain) in chains.iter().enumerate() {
            let style = chain_color(k).mix(0.75).stroke_width(1);
            chart
                .draw_series(LineSeries::new(
                    chain.iter().copied().filter(|p| p.1.is_finite()),
                    style,
                ))
                .map_err(err)?;
        }
        Ok(())
    })
}

/// Rank plot (rank overlay): per chain, the histogram of the ranks of its draws among all
/// chains' draws, as a step line; uniform ranks lie on the dashed line.
pub fn ranks(title: &str, chains: &[Vec<f64>], bins: usize) -> Svg {
    let n: usize = chains.iter().map(Vec::len).sum();
    if n == 0 {
        return Err("no draws".into());
    }
    let mut all: Vec<(f64, usize)> = chains
        .iter()
        .enumerate()
        .flat_map(|(k, c)| c.iter().map(move |&v| (v, k)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut counts = vec![vec![0usize; bins]; chains.len()];
    for (rank, &(_, k)) in all.iter().enumerate() {
        counts[k][(rank * bins / n).min(bins - 1)] += 1;
    }
    let expected = n as f64 / chains.len() as f64 / bins as f64;
    let most = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
    let ymax = (most as f64).max(expected * 1.5);
    svg((190, 165), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(6)
            .caption(title, (FONT, 13))
            .x_label_area_size(22)
            .y_label_area_size(36)
            .build_cartesian_2d(0.0..bins as f64, 0.0..ymax * 1.05)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(3)
            .y_labels(3)
            .label_style((FONT, 10))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, expected), (bins as f64, expected)],
                4,
                3,
                GREY.stroke_width(1),
            ))
            .map_err(err)?;
        for (k, c) in counts.iter().enumerate() {
            let mut steps = Vec::with_capacity(2 * bins);
            for (b, &v) in c.iter().enumerate() {
                steps.push((b as f64, v as f64));
                steps.push((b as f64 + 1.0, v as f64));
            }
            chart
                .draw_series(LineSeries::new(steps, chain_color(k).stroke_width(2)))
                .map_err(err)?;
        }
        Ok(())
    })
}

/// Pairs plot of `names.len()` quantities: histograms on the diagonal, scatter plots below it
/// (divergent transitions in red, drawn last), correlations above it.
pub fn pairs(names: &[String], columns: &[Vec<f64>], divergent: &[bool]) -> Svg {
    let k = names.len();
    let cell = if k <= 2 { 210 } else { 170 };
    let size = (cell * k as u32 + 10, cell * k as u32 + 10);
    svg(size, |root| {
        let root = root.margin(5, 5, 5, 5);
        let areas = root.split_evenly((k, k));
        for (i, row) in areas.chunks(k).enumerate() {
            for (j, area) in row.iter().enumerate() {
                let xi = &columns[j];
                let yi = &columns[i];
                let (x0, x1) = range(xi.iter().copied());
                let xr = pad((x0, x1), 0.05);
                let xlabel = if i == k - 1 { 20 } else { 0 };
                let ylabel = if j == 0 { 40 } else { 0 };
                if i == j {
                    let (edges, counts) = histogram(xi, 20, (x0, x1));
                    let ymax = counts.iter().copied().fold(0.0, f64::max).max(1.0);
                    let mut chart = ChartBuilder::on(area)
                        .margin(3)
                        .x_label_area_size(xlabel)
                        .y_label_area_size(ylabel)
                        .caption(&names[i], (FONT, 12))
                        .build_cartesian_2d(xr, 0.0..ymax * 1.05)
                        .map_err(err)?;
                    chart
                        .configure_mesh()
                        .disable_mesh()
                        .x_labels(3)
                        .y_labels(0)
                        .label_style((FONT, 9))
                        .x_label_formatter(&|v| tick(*v))
                        .draw()
                        .map_err(err)?;
                    chart
                        .draw_series(counts.iter().enumerate().map(|(b, &c)| {
                            Rectangle::new(
                                [(edges[b], 0.0), (edges[b + 1], c)],
                                BLUE.mix(0.6).filled(),
                            )
                        }))
                        .map_err(err)?;
                } else if i > j {
                    let (y0, y1) = range(yi.iter().copied());
                    let mut chart = ChartBuilder::on(area)
                        .margin(3)
                        .x_label_area_size(xlabel)
                        .y_label_area_size(ylabel)
                        .build_cartesian_2d(xr, pad((y0, y1), 0.05))
                        .map_err(err)?;
                    chart
                        .configure_mesh()
                        .disable_mesh()
                        .x_labels(3)
                        .y_labels(3)
                        .label_style((FONT, 9))
                        .x_label_formatter(&|v| tick(*v))
                        .y_label_formatter(&|v| tick(*v))
                        .draw()
                        .map_err(err)?;
                    let points = xi.iter().zip(yi).zip(divergent);
                    chart
                        .draw_series(
                            points.clone().filter(|(_, d)| !**d).map(|((&x, &y), _)| {
                                Circle::new((x, y), 1, BLUE.mix(0.5).filled())
                            }),
                        )
                        .map_err(err)?;
                    chart
                        .draw_series(
                            points
                                .filter(|(_, d)| **d)
                                .map(|((&x, &y), _)| Circle::new((x, y), 2, RED.filled())),
                        )
                        .map_err(err)?;
                } else {
                    let r = correlation(xi, yi);
                    let (w, h) = area.dim_in_pixel();
                    let text = format!("r = {}", r.map_or("NA".to_string(), |r| format!("{r:.2}")));
                    let size = 12.0 + 10.0 * r.map_or(0.0, f64::abs);
                    let style = TextStyle::from((FONT, size).into_font())
                        .color(&DARK)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    area.draw(&Text::new(text, (w as i32 / 2, h as i32 / 2), style))
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    })
}

/// Pearson correlation; `None` when either side is constant or not finite.
pub fn correlation(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len()) as f64;
    if n < 2.0 {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    let r = sxy / (sxx * syy).sqrt();
    r.is_finite().then_some(r)
}

/// Bin edges and counts of the finite values over `lo..hi`.
pub fn histogram(values: &[f64], bins: usize, (lo, hi): (f64, f64)) -> (Vec<f64>, Vec<f64>) {
    let width = (hi - lo) / bins as f64;
    let edges: Vec<f64> = (0..=bins).map(|b| lo + b as f64 * width).collect();
    let mut counts = vec![0.0; bins];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let b = (((v - lo) / width) as usize).min(bins - 1);
        counts[b] += 1.0;
    }
    (edges, counts)
}

/// Energy plot: the marginal energy distribution (centred) and the energy transition
/// distribution, as densities over shared bins; when the transition distribution is much narrower
/// than the marginal one, the sampler explores the tails poorly (low E-BFMI).
pub fn energy(energy: &[f64], transition: &[f64]) -> Svg {
    let mean = energy.iter().sum::<f64>() / energy.len().max(1) as f64;
    let centred: Vec<f64> = energy.iter().map(|e| e - mean).collect();
    let (lo, hi) = range(centred.iter().chain(transition).copied());
    let bins = 40;
    let width = (hi - lo) / bins as f64;
    let (edges, a) = histogram(&centred, bins, (lo, hi));
    let (_, b) = histogram(transition, bins, (lo, hi));
    let density = |c: &[f64], n: usize| -> Vec<f64> {
        c.iter().map(|x| x / (n.max(1) as f64 * width)).collect()
    };
    let a = density(&a, centred.len());
    let b = density(&b, transition.len());
    let ymax = a.iter().chain(&b).copied().fold(0.0, f64::max).max(1e-12);
    svg((520, 230), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, 0.0..ymax * 1.3)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(6)
            .y_labels(4)
            .label_style((FONT, 10))
            .x_desc("energy (centred)")
            .y_desc("density")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(err)?;
        for (values, color, label) in [
            (&a, BLUE, "marginal energy"),
            (&b, CHAIN_COLORS[1], "energy transition"),
        ] {
            chart
                .draw_series(values.iter().enumerate().map(|(i, &v)| {
                    Rectangle::new(
                        [(edges[i], 0.0), (edges[i + 1], v)],
                        color.mix(0.45).filled(),
                    )
                }))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.mix(0.6).filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(GREY)
            .label_font((FONT, 11))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// Observed against replicated continuous data: density estimates of every replicate (thin
/// blue) and of the observed data (thick dark).
pub fn ppc_density(title: &str, observed: &[f64], replicates: &[Vec<f64>]) -> Svg {
    let pooled: Vec<f64> = observed
        .iter()
        .chain(replicates.iter().flatten())
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = quantile_range(&pooled, 0.005, 0.995);
    let (lo, hi) = {
        let (olo, ohi) = range(observed.iter().copied());
        (lo.min(olo), hi.max(ohi))
    };
    let grid: Vec<f64> = (0..=120)
        .map(|i| lo + (hi - lo) * i as f64 / 120.0)
        .collect();
    let obs_density = kde(observed, &grid);
    let rep_densities: Vec<Vec<f64>> = replicates.iter().map(|r| kde(r, &grid)).collect();
    let ymax = obs_density
        .iter()
        .chain(rep_densities.iter().flatten())
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-12);
    svg((520, 250), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .caption(title, (FONT, 13))
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, 0.0..ymax * 1.3)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(6)
            .y_labels(4)
            .label_style((FONT, 10))
            .y_desc("density")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(err)?;
        for (i, d) in rep_densities.iter().enumerate() {
            let series = chart
                .draw_series(LineSeries::new(
                    grid.iter().copied().zip(d.iter().copied()),
                    BLUE.mix(0.25).stroke_width(1),
                ))
                .map_err(err)?;
            if i == 0 {
                series.label("replicated").legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], BLUE.stroke_width(2))
                });
            }
        }
        chart
            .draw_series(LineSeries::new(
                grid.iter().copied().zip(obs_density.iter().copied()),
                DARK.stroke_width(3),
            ))
            .map_err(err)?
            .label("observed")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], DARK.stroke_width(3)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(GREY)
            .label_font((FONT, 11))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// Observed against replicated counts: bars of the observed frequency of each value, with the
/// replicates' median frequency and 5%-95% interval.
pub fn ppc_counts(title: &str, observed: &[f64], replicates: &[Vec<f64>]) -> Svg {
    let lo = observed
        .iter()
        .chain(replicates.iter().flatten())
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let obs_hi = observed.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // Values up to the observed maximum or the replicates' 99th percentile, at most 60 of them.
    let pooled: Vec<f64> = replicates
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let rep_hi = quantile_range(&pooled, 0.0, 0.99).1;
    let hi = obs_hi.max(rep_hi).min(lo + 59.0);
    if !lo.is_finite() || !hi.is_finite() {
        return Err("no finite values".into());
    }
    let values: Vec<f64> = (0..=((hi - lo) as usize)).map(|i| lo + i as f64).collect();
    let count = |data: &[f64], v: f64| data.iter().filter(|&&x| x == v).count() as f64;
    let obs: Vec<f64> = values.iter().map(|&v| count(observed, v)).collect();
    let bands: Vec<(f64, f64, f64)> = values
        .iter()
        .map(|&v| {
            let mut c: Vec<f64> = replicates.iter().map(|r| count(r, v)).collect();
            c.sort_by(f64::total_cmp);
            (quantile(&c, 0.05), quantile(&c, 0.5), quantile(&c, 0.95))
        })
        .collect();
    let ymax = obs
        .iter()
        .copied()
        .chain(bands.iter().map(|b| b.2))
        .fold(1.0, f64::max);
    svg((520, 250), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .caption(title, (FONT, 13))
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d((lo - 0.6)..(hi + 0.6), 0.0..ymax * 1.35)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(8)
            .y_labels(4)
            .label_style((FONT, 10))
            .y_desc("count")
            .x_label_formatter(&|v| {
                if v.fract().abs() < 1e-9 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(values.iter().zip(&obs).map(|(&v, &c)| {
                Rectangle::new([(v - 0.4, 0.0), (v + 0.4, c)], DARK.mix(0.35).filled())
            }))
            .map_err(err)?
            .label("observed")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], DARK.mix(0.35).filled())
            });
        chart
            .draw_series(values.iter().zip(&bands).map(|(&v, &(l, _, h))| {
                PathElement::new(vec![(v, l), (v, h)], BLUE.stroke_width(2))
            }))
            .map_err(err)?;
        chart
            .draw_series(
                values
                    .iter()
                    .zip(&bands)
                    .map(|(&v, &(_, m, _))| Circle::new((v, m), 3, BLUE.filled())),
            )
            .map_err(err)?
            .label("replicated: median, 90% interval")
            .legend(|(x, y)| Circle::new((x + 6, y), 3, BLUE.filled()));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(GREY)
            .label_font((FONT, 11))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// A test statistic: the histogram of its replicated values with the observed value marked.
pub fn ppc_stat(title: &str, observed: f64, replicated: &[f64]) -> Svg {
    let (lo, hi) = range(replicated.iter().copied().chain([observed]));
    let (edges, counts) = histogram(replicated, 25, (lo, hi));
    let ymax = counts.iter().copied().fold(1.0, f64::max);
    svg((250, 160), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(6)
            .caption(title, (FONT, 12))
            .x_label_area_size(22)
            .y_label_area_size(8)
            .build_cartesian_2d(pad((lo, hi), 0.03), 0.0..ymax * 1.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(4)
            .y_labels(0)
            .label_style((FONT, 9))
            .x_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(b, &c)| {
                Rectangle::new([(edges[b], 0.0), (edges[b + 1], c)], BLUE.mix(0.5).filled())
            }))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(observed, 0.0), (observed, ymax * 1.1)],
                DARK.stroke_width(2),
            )))
            .map_err(err)?;
        Ok(())
    })
}

/// LOO-PIT: the ECDF of the LOO probability integral transform values minus the uniform CDF,
/// with the pointwise 95% band of n uniform values. A well-calibrated model stays in the band;
/// an S shape means the predictive distributions are too wide or too narrow, a shift a bias.
pub fn loo_pit(pit: &[f64]) -> Svg {
    let n = pit.len();
    let mut sorted: Vec<f64> = pit.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let grid: Vec<f64> = (0..=200).map(|i| i as f64 / 200.0).collect();
    let ecdf_diff: Vec<(f64, f64)> = grid
        .iter()
        .map(|&u| {
            let below = sorted.partition_point(|&v| v <= u) as f64;
            (u, below / n.max(1) as f64 - u)
        })
        .collect();
    let band: Vec<f64> = grid
        .iter()
        .map(|&u| 1.96 * (u * (1.0 - u) / n.max(1) as f64).sqrt())
        .collect();
    let ymax = ecdf_diff
        .iter()
        .map(|p| p.1.abs())
        .chain(band.iter().copied())
        .fold(0.05, f64::max)
        * 1.4;
    svg((520, 250), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, -ymax..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(6)
            .y_labels(5)
            .label_style((FONT, 10))
            .x_desc("LOO-PIT value")
            .y_desc("ECDF - uniform")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(err)?;
        let mut area: Vec<(f64, f64)> = grid.iter().zip(&band).map(|(&u, &b)| (u, b)).collect();
        area.extend(grid.iter().zip(&band).rev().map(|(&u, &b)| (u, -b)));
        chart
            .draw_series(std::iter::once(Polygon::new(area, BLUE.mix(0.15).filled())))
            .map_err(err)?
            .label("95% band of uniform PIT")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.mix(0.2).filled()));
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, 0.0), (1.0, 0.0)],
                GREY.stroke_width(1),
            ))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(ecdf_diff, DARK.stroke_width(2)))
            .map_err(err)?
            .label("LOO-PIT ECDF")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], DARK.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(GREY)
            .label_font((FONT, 11))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// Pareto k per observation with the thresholds 0.5, 0.7 and 1 (and ArviZ's sample-size
/// dependent `k_threshold` when it differs from 0.7).
pub fn pareto_k(k: &[f64], k_threshold: f64) -> Svg {
    let n = k.len();
    let finite: Vec<f64> = k.iter().copied().filter(|v| v.is_finite()).collect();
    let kmax = finite.iter().copied().fold(1.05, f64::max) + 0.05;
    let kmin = finite.iter().copied().fold(0.0, f64::min) - 0.05;
    svg((520, 230), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.5..(n as f64 + 0.5), kmin..kmax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(8)
            .y_labels(6)
            .label_style((FONT, 10))
            .x_desc("observation")
            .y_desc("Pareto k")
            .x_label_formatter(&|v| {
                if v.fract().abs() < 1e-9 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(err)?;
        let mut lines = vec![
            (0.5, GREY, "0.5"),
            (0.7, CHAIN_COLORS[1], "0.7"),
            (1.0, RED, "1"),
        ];
        if (k_threshold - 0.7).abs() > 1e-3 && k_threshold.is_finite() {
            lines.push((k_threshold, CHAIN_COLORS[2], "k_threshold"));
        }
        for (y, color, _) in &lines {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.5, *y), (n as f64 + 0.5, *y)],
                    5,
                    4,
                    color.stroke_width(1),
                ))
                .map_err(err)?;
        }
        let r = if n > 500 {
            1
        } else if n > 100 {
            2
        } else {
            3
        };
        chart
            .draw_series(
                k.iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, &v)| {
                        let color = if v > 1.0 {
                            RED
                        } else if v > 0.7 {
                            CHAIN_COLORS[1]
                        } else {
                            BLUE
                        };
                        Circle::new(((i + 1) as f64, v), r, color.filled())
                    }),
            )
            .map_err(err)?;
        Ok(())
    })
}

/// Gaussian kernel density on `grid` (Silverman's bandwidth).
pub fn kde(values: &[f64], grid: &[f64]) -> Vec<f64> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len() as f64;
    if v.is_empty() {
        return vec![0.0; grid.len()];
    }
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let mut sorted = v.clone();
    sorted.sort_by(f64::total_cmp);
    let iqr = quantile(&sorted, 0.75) - quantile(&sorted, 0.25);
    let spread = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
    let span = grid.last().copied().unwrap_or(1.0) - grid.first().copied().unwrap_or(0.0);
    let h = (0.9 * spread * n.powf(-0.2))
        .max(span.abs() * 1e-3)
        .max(1e-12);
    let norm = 1.0 / (n * h * (2.0 * std::f64::consts::PI).sqrt());
    grid.iter()
        .map(|&g| {
            v.iter()
                .map(|&x| (-0.5 * ((g - x) / h).powi(2)).exp())
                .sum::<f64>()
                * norm
        })
        .collect()
}

/// Linear-interpolation quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (sorted[j] - sorted[i]) * (pos - i as f64)
}

fn quantile_range(values: &[f64], lo: f64, hi: f64) -> (f64, f64) {
    let mut s: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if s.is_empty() {
        return (0.0, 1.0);
    }
    s.sort_by(f64::total_cmp);
    range([quantile(&s, lo), quantile(&s, hi)])
}
