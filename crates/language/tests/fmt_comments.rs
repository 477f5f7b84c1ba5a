//! `fmt` keeps comments: over every Stan program in the repository (examples, the SPFN corpus of
//! human programs, the parser's golden files, the peer benchmark's programs), printing with
//! comments keeps every comment's text in order, gives the same tree as printing without them,
//! and printing the result again changes nothing.

use refinestat_language::comments::comments;
use refinestat_language::{parse, print_program, print_program_with_comments, Program};
use std::path::{Path, PathBuf};

fn repository_programs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dirs = [
        "examples",
        "examples/real",
        "examples/sbc",
        "crates/spfn/corpus",
        "crates/language/tests/data/parser/valid",
        "scripts/bench_peers/stan",
    ];
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "stan"))
        .collect();
    files.sort();
    assert!(files.len() >= 150, "found only {} programs", files.len());
    files
}

fn parse_ok(src: &str, what: &str) -> Program {
    let parsed = parse(src);
    assert!(parsed.errors.is_empty(), "{what}: {:?}", parsed.errors);
    parsed.program
}

fn comment_texts(src: &str) -> Vec<String> {
    comments(src).into_iter().map(|c| c.text).collect()
}

#[test]
fn every_repository_program_keeps_its_comments_and_is_idempotent() {
    let mut with_comments = 0;
    for path in repository_programs() {
        let what = path.display().to_string();
        let src = std::fs::read_to_string(&path).unwrap();
        let program = parse_ok(&src, &what);
        let printed = print_program_with_comments(&program, &src);
        assert_eq!(
            comment_texts(&printed),
            comment_texts(&src),
            "{what}: comments lost or reordered"
        );
        // Comments change nothing else: stripped of them, the text is what the plain printer writes.
        let reparsed = parse_ok(&printed, &what);
        assert_eq!(print_program(&reparsed), print_program(&program), "{what}");
        assert_eq!(
            print_program_with_comments(&reparsed, &printed),
            printed,
            "{what}: printing twice changes the text"
        );
        with_comments += usize::from(!comments(&src).is_empty());
    }
    // The check above means something only if many programs have comments.
    assert!(
        with_comments >= 20,
        "{with_comments} programs with comments"
    );
}

#[test]
fn comments_attach_to_what_they_precede_or_follow() {
    let src = "// about the data\ndata {\n  int N;   // rows\n  /* the outcome */ array[N] real y;\n}\n\
               parameters { real mu; }\nmodel {\n  for (n in 1:N) {\n    y[n] ~ normal(mu, 1); // each\n  \
               // last in the loop\n  }\n  // last in the block\n}\n// the end\n";
    let printed = print_program_with_comments(&parse_ok(src, "inline"), src);
    let expected = "// about the data\ndata {\n    int N; // rows\n    /* the outcome */\n    \
                    array[N] real y;\n}\n\nparameters {\n    real mu;\n}\n\nmodel {\n    \
                    for (n in 1:N) {\n        y[n] ~ normal(mu, 1); // each\n        \
                    // last in the loop\n    }\n    // last in the block\n}\n// the end\n";
    assert_eq!(printed, expected);
}

#[test]
fn a_comment_inside_a_statement_moves_after_it() {
    let src = "model {\n  target += normal_lpdf(1 | 0, /* unit */ 1);\n}\n";
    let printed = print_program_with_comments(&parse_ok(src, "inline"), src);
    assert_eq!(
        printed,
        "model {\n    target += normal_lpdf(1 | 0, 1);\n    /* unit */\n}\n"
    );
}
