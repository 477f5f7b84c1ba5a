//! The reports in a real browser. Every SVG of the `sample` and `synth` reports parses as XML
//! (always checked); with `REFINESTAT_BROWSER_TEST=1` (set by .ci/run, which installs Debian's
//! chromium) each report is also opened in headless Chromium: its screenshot must not be blank
//! and the browser must log no console error. `REFINESTAT_BROWSER` names the browser binary
//! (default `chromium`); `REFINESTAT_SCREENSHOTS=DIR` keeps the screenshots there.

mod common;

use common::{refinestat, scratch, stderr};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every `<svg>...</svg>` element of an HTML page.
fn svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("every <svg> is closed") + start + 6;
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// The `sample` and `synth` reports of eight_schools, made once per test.
fn reports(name: &str) -> (common::Scratch, Vec<PathBuf>) {
    let dir = scratch("browser", name);
    let fit = dir.join("fit");
    let out = refinestat(&[
        "sample",
        "examples/eight_schools_noncentered.stan",
        "--data",
        "datasets/eight_schools.json",
        "--chains",
        "2",
        "--warmup",
        "300",
        "--draws",
        "300",
        "--output-dir",
        fit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let synth = dir.join("synth");
    let out = refinestat(&[
        "synth",
        "--dataset",
        "eight_schools",
        "--chains",
        "2",
        "--warmup",
        "300",
        "--draws",
        "300",
        "--rmax",
        "4",
        "--beta",
        "2",
        "--k",
        "3",
        "--output-dir",
        synth.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (
        dir,
        vec![fit.join("report.html"), synth.join("report.html")],
    )
}

#[test]
fn every_svg_of_the_reports_parses() {
    let (_dir, files) = reports("svg");
    for file in files {
        let html = std::fs::read_to_string(&file).unwrap();
        let figures = svgs(&html);
        assert!(
            figures.len() >= 10,
            "{}: {} figures",
            file.display(),
            figures.len()
        );
        for (i, svg) in figures.iter().enumerate() {
            let doc = roxmltree::Document::parse(svg)
                .unwrap_or_else(|e| panic!("{} figure {i} is not XML: {e}", file.display()));
            assert_eq!(doc.root_element().tag_name().name(), "svg");
        }
    }
}

/// Share of pixels that are not (near) white in an RGB(A) PNG.
fn ink(png_path: &Path) -> f64 {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let total = pixels.len() / channels;
    let inked = pixels
        .chunks(channels)
        .filter(|p| p.iter().take(3).any(|&c| c < 235))
        .count();
    inked as f64 / total as f64
}

#[test]
fn reports_render_in_headless_chromium() {
    if std::env::var("REFINESTAT_BROWSER_TEST").as_deref() != Ok("1") {
        eprintln!("REFINESTAT_BROWSER_TEST is not 1: the browser check is left to .ci/run");
        return;
    }
    let browser = std::env::var("REFINESTAT_BROWSER").unwrap_or_else(|_| "chromium".to_string());
    let (dir, files) = reports("chromium");
    for (k, file) in files.iter().enumerate() {
        let profile = dir.join(format!("profile-{k}"));
        let shot = dir.join(format!("report-{k}.png"));
        let out = Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1280,2400",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--screenshot={}", shot.display()))
            .arg(format!("file://{}", file.canonicalize().unwrap().display()))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {browser}: {e}"));
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            shot.is_file(),
            "{browser} wrote no screenshot of {}:\n{log}",
            file.display()
        );
        let console_errors: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
            .collect();
        assert!(
            console_errors.is_empty(),
            "{}: {console_errors:?}",
            file.display()
        );
        let ink = ink(&shot);
        assert!(
            ink > 0.02,
            "{}: the screenshot is blank ({ink:.4} inked)",
            file.display()
        );
        if let Ok(keep) = std::env::var("REFINESTAT_SCREENSHOTS") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&shot, Path::new(&keep).join(format!("report-{k}.png"))).unwrap();
        }
    }
}
