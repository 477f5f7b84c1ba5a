//! Small HTML helpers: escaping, numbers, the page frame.

use std::fmt::Write;

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with `d` decimals, or `NA`.
pub fn num(x: Option<f64>, d: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.d$}"),
        Some(v) if v.is_infinite() => if v > 0.0 { "inf" } else { "-inf" }.to_string(),
        _ => "NA".to_string(),
    }
}

/// A figure (or the reason it is missing) in a `<figure>`.
pub fn figure(svg: &Result<String, String>, caption: &str) -> String {
    match svg {
        Ok(svg) => format!(
            "<figure>{}<figcaption>{caption}</figcaption></figure>\n",
            strip_xml_declaration(svg)
        ),
        Err(why) => format!(
            "<p class=\"note\">Figure not drawn ({}): {}</p>\n",
            caption,
            esc(why)
        ),
    }
}

fn strip_xml_declaration(svg: &str) -> &str {
    match svg.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(svg, |(_, r)| r.trim_start()),
        None => svg,
    }
}

/// A pass/fail cell.
pub fn verdict(pass: bool) -> &'static str {
    if pass {
        "<td class=\"pass\">pass</td>"
    } else {
        "<td class=\"fail\">FAIL</td>"
    }
}

const STYLE: &str = r#"
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #222; background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 12px 24px 48px; }
header { background: #2f3e4e; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 22px; font-weight: 600; }
header p { margin: 4px 0 0; color: #cfd8e3; font-size: 14px; }
nav { font-size: 13px; margin: 10px 0 0; }
nav a { color: #cfe3ff; margin-right: 14px; text-decoration: none; }
h2 { font-size: 19px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 34px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p, li { font-size: 14px; line-height: 1.45; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 10px 12px; font-size: 12.5px; overflow-x: auto; line-height: 1.35; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 12px; }
th, td { padding: 3px 9px; border-bottom: 1px solid #e5e5e5; text-align: right; white-space: nowrap; }
th { background: #f3f4f6; font-weight: 600; }
td.l, th.l { text-align: left; white-space: normal; }
td.pass { background: #e3f4e1; color: #1e6b25; font-weight: 600; text-align: center; }
td.fail, td.bad { background: #fbe1e1; color: #a11c1c; font-weight: 600; }
td.fail { text-align: center; }
td.warn { background: #fff3d6; color: #8a5a00; }
tr.chosen td { background: #eef5ff; }
.score { font-size: 16px; font-weight: 600; }
.note { color: #555; font-size: 13px; }
.grid { display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: flex-start; }
figure { margin: 4px 0; }
figcaption { font-size: 12px; color: #555; max-width: 640px; }
details { margin: 2px 0; }
summary { cursor: pointer; font-size: 13px; color: #2f5d8a; }
.pair { display: flex; gap: 4px; align-items: flex-start; }
.pairs { display: flex; flex-wrap: wrap; gap: 0 22px; }
"#;

/// The whole page around `body`.
pub fn page(title: &str, subtitle: &str, nav: &[(String, String)], body: &str) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", esc(title));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = write!(
        out,
        "<header><h1>{}</h1><p>{}</p><nav>",
        esc(title),
        subtitle
    );
    for (anchor, label) in nav {
        let _ = write!(out, "<a href=\"#{anchor}\">{label}</a>");
    }
    out.push_str("</nav></header>\n<main>\n");
    out.push_str(body);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}
