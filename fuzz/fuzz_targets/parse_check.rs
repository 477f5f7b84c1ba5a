//! Fuzz target: arbitrary UTF-8 through the parser, prefix parser, checker, prefix checker and
//! data loader; none may panic. A clean parse must print (pretty and canonical) to text that parses
//! cleanly again, with stable printing and an idempotent canonical form.
//!
//! Input layout: program text, optionally followed by `\n---\n` and a JSON data document, which is
//! then also passed to the checker.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run parse_check -- -max_len=4096` in the repository root
//! (seed with `crates/language/tests/data/parser/valid` as an extra corpus directory).

#![no_main]

use libfuzzer_sys::fuzz_target;
use refinestat_language::{canonical, parse, parse_prefix, print_program};

fuzz_target!(|bytes: &[u8]| {
    let Ok(input) = std::str::from_utf8(bytes) else {
        return;
    };
    let (src, json) = match input.split_once("\n---\n") {
        Some((src, json)) => (src, Some(json)),
        None => (input, None),
    };
    let parsed = parse(src);
    let _ = parse_prefix(src);
    let _ = print_program(&parsed.program);
    let _ = canonical(&parsed.program);
    check_and_load(src, json.unwrap_or(src));
    if parsed.errors.is_empty() {
        let printed = print_program(&parsed.program);
        let again = parse(&printed);
        assert!(
            again.errors.is_empty(),
            "printed program does not parse:\n{printed}\n{:?}",
            again.errors
        );
        assert_eq!(
            print_program(&again.program),
            printed,
            "printing is not stable"
        );
        let canon = canonical(&parsed.program);
        let reparsed = parse(&canon);
        assert!(
            reparsed.errors.is_empty(),
            "canonical program does not parse:\n{canon}\n{:?}",
            reparsed.errors
        );
        assert_eq!(
            canonical(&reparsed.program),
            canon,
            "canonical form is not idempotent"
        );
        // Every prefix of a valid program can still become valid.
        for end in (0..=src.len())
            .filter(|&i| src.is_char_boundary(i))
            .step_by(7)
        {
            let errors = parse_prefix(&src[..end]).errors;
            assert!(
                errors.is_empty(),
                "prefix {:?} of a valid program rejected: {errors:?}",
                &src[..end]
            );
        }
    }
});

#[cfg(not(feature = "parser-only"))]
fn check_and_load(src: &str, json: &str) {
    use refinestat_language::{check, check_prefix, Data};
    let _ = check(src, None);
    let _ = check_prefix(src, None);
    if let Ok(data) = Data::from_json_str(json) {
        let _ = check(src, Some(&data));
        let _ = check_prefix(src, Some(&data));
    }
}

#[cfg(feature = "parser-only")]
fn check_and_load(_src: &str, _json: &str) {}
