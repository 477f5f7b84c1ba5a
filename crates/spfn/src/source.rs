//! Where programs come from: the [`ProgramSource`] trait and the human-written corpus.
//!
//! A source yields programs with their data schema and structural labels. Four kinds feed the
//! meta-prior: the family library (a generator of structures given a data schema,
//! [`crate::library`]), the human corpus below, two-component mixtures of either ([`Mixtures`]),
//! and augmentations of any ([`crate::augment`]); the shares are
//! [`crate::corpus::MetaPrior::with_shares`]'s. Every pair's `source` label names its source
//! (`human`, `family`, `mixture`), with `+augmented` when augmentations were applied.
//!
//! **The human corpus** is `crates/spfn/corpus/*.stan`, embedded at build time. Each file is a
//! Stan program whose leading comment lines carry its metadata:
//!
//! ```text
//! // family: poisson_regression
//! // labels: domain=counts covariates=1
//! // given: N=size(20,150) x=covariate(normal)
//! // source: written for refinestat (after stan-dev/example-models ARM ch. 6)
//! ```
//!
//! `family` names the structure (the held-out-family split is by it), `labels` adds structural
//! labels to those read off the program ([`crate::analyze::structural_labels`]), and `given`
//! overrides the inferred roles of data variables ([`crate::schema::Schema::infer`]).

use crate::augment::Candidate;
use crate::schema::Schema;
use crate::SpfnError;
use refinestat_language::ast::Program;
use refinestat_language::{check, parse};
use std::collections::BTreeMap;

include!(concat!(env!("OUT_DIR"), "/human.rs"));

/// A program as a source yields it.
#[derive(Debug, Clone)]
pub struct SourceProgram {
    /// Where it came from (`human/<file stem>`, `family/<structure>`, ...).
    pub id: String,
    /// The structure it belongs to; held-out splits are by family.
    pub family: String,
    /// The program's syntax tree (it passes `check`).
    pub program: Program,
    /// Roles of its data variables.
    pub schema: Schema,
    /// Labels the source gives (a corpus file's `labels:` line, the library's `lib_*` and
    /// `schema_*`, a mixture's `mixture_families`, ...); [`SourceProgram::candidate`] adds the
    /// structural ones and `family`.
    pub labels: BTreeMap<String, String>,
}

impl SourceProgram {
    /// The program as a [`Candidate`]: its labels plus the structural labels read off the
    /// program and `family`.
    pub fn candidate(&self) -> Candidate {
        let mut labels = self.labels.clone();
        labels.extend(crate::analyze::structural_labels(&self.program));
        labels.insert("family".into(), self.family.clone());
        Candidate {
            program: self.program.clone(),
            schema: self.schema.clone(),
            labels,
        }
    }
}

/// A source of programs for the meta-prior.
pub trait ProgramSource: Send + Sync {
    /// A short name (`human`, `family`), recorded with every program it yields.
    fn name(&self) -> &str;
    /// Draw one program; `None` when the source has nothing to give.
    fn sample(&self, rng: &mut dyn rand::RngCore) -> Option<SourceProgram>;
    /// Every family the source can yield (for split configuration and stats).
    fn families(&self) -> Vec<String>;
}

/// The human-written corpus: a uniform draw over its families, then over the family's programs.
#[derive(Debug, Clone)]
pub struct HumanCorpus {
    /// Every program of the corpus, in file-name order.
    pub programs: Vec<SourceProgram>,
}

impl HumanCorpus {
    /// Load and check the embedded corpus; any file that does not parse, check, or has a bad
    /// header is an error naming the file.
    pub fn embedded() -> Result<HumanCorpus, SpfnError> {
        let mut programs = Vec::new();
        let mut errors = Vec::new();
        for (file, text) in HUMAN {
            match load_program(file, text) {
                Ok(p) => programs.push(p),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            return Err(SpfnError::Corpus(errors.join("\n")));
        }
        Ok(HumanCorpus { programs })
    }
}

/// Read one corpus file (see the module doc for the header).
pub fn load_program(file: &str, text: &str) -> Result<SourceProgram, SpfnError> {
    let err = |m: String| SpfnError::Corpus(format!("{file}: {m}"));
    let mut family = None;
    let mut labels = BTreeMap::new();
    let mut given = String::new();
    for line in text.lines().take_while(|l| l.starts_with("//")) {
        let line = line.trim_start_matches('/').trim();
        if let Some(v) = line.strip_prefix("family:") {
            family = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("labels:") {
            for kv in v.split_whitespace() {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| err(format!("label `{kv}` is not key=value")))?;
                labels.insert(k.to_string(), v.to_string());
            }
        } else if let Some(v) = line.strip_prefix("given:") {
            given.push_str(v);
            given.push(' ');
        }
    }
    let family = family.ok_or_else(|| err("missing `// family:` line".into()))?;
    let diags = check(text, None);
    if let Some(d) = diags.first() {
        return Err(err(format!(
            "does not check ({} violation(s)); first: {}",
            diags.len(),
            d.message
        )));
    }
    let program = parse(text).program;
    let schema = Schema::infer(&program, &given).map_err(|e| err(e.to_string()))?;
    let stem = file.trim_end_matches(".stan");
    Ok(SourceProgram {
        id: format!("human/{stem}"),
        family,
        program,
        schema,
        labels,
    })
}

impl ProgramSource for HumanCorpus {
    fn name(&self) -> &str {
        "human"
    }

    fn sample(&self, rng: &mut dyn rand::RngCore) -> Option<SourceProgram> {
        use rand::Rng;
        // A family uniformly, then a program of it: families with many variants (the conjugate
        // programs of the moment tests) do not crowd out the others.
        let mut families: Vec<&str> = self.programs.iter().map(|p| p.family.as_str()).collect();
        families.sort_unstable();
        families.dedup();
        if families.is_empty() {
            return None;
        }
        let family = families[rng.random_range(0..families.len())];
        let members: Vec<&SourceProgram> = self
            .programs
            .iter()
            .filter(|p| p.family == family)
            .collect();
        Some(members[rng.random_range(0..members.len())].clone())
    }

    fn families(&self) -> Vec<String> {
        let mut f: Vec<String> = self.programs.iter().map(|p| p.family.clone()).collect();
        f.sort();
        f.dedup();
        f
    }
}

/// Two-component mixtures ([`crate::augment::mix_two`]) of programs with the same observed
/// variable, a source of its own (named `mixture`): half the draws mix two structures the family
/// library writes for one drawn schema, half two human programs whose response is declared
/// alike (the first drawn as [`HumanCorpus`] draws, its partner uniformly among those).
#[derive(Debug, Clone)]
pub struct Mixtures {
    /// The human programs the human pairs are drawn from.
    pub human: HumanCorpus,
    /// The family library that writes the library pairs.
    pub library: crate::library::FamilyLibrary,
}

impl Mixtures {
    /// The embedded human corpus and the default family library.
    pub fn embedded() -> Result<Mixtures, SpfnError> {
        Ok(Mixtures {
            human: HumanCorpus::embedded()?,
            library: crate::library::FamilyLibrary::default(),
        })
    }

    fn human_pair(&self, rng: &mut dyn rand::RngCore) -> Option<crate::augment::Candidate> {
        use rand::Rng;
        let first = self.human.sample(rng)?;
        let decl = |p: &SourceProgram| {
            let r = p.schema.responses().first()?.to_string();
            p.program
                .data
                .iter()
                .flat_map(|b| &b.stmts)
                .find(|s| matches!(&s.kind, refinestat_language::ast::StmtKind::Decl { name, .. } if name.name == r))
                .map(refinestat_language::print::print_stmt)
        };
        let want = decl(&first)?;
        let partners: Vec<&SourceProgram> = self
            .human
            .programs
            .iter()
            .filter(|p| p.id != first.id && decl(p).as_ref() == Some(&want))
            .collect();
        if partners.is_empty() {
            return None;
        }
        let second = partners[rng.random_range(0..partners.len())];
        crate::augment::mix_two(&first.candidate(), &second.candidate())
    }
}

impl ProgramSource for Mixtures {
    fn name(&self) -> &str {
        "mixture"
    }

    fn sample(&self, rng: &mut dyn rand::RngCore) -> Option<SourceProgram> {
        use rand::Rng;
        for _ in 0..crate::library::TRIES {
            let mixed = if rng.random_bool(0.5) {
                let Some((a, b)) = self.library.sample_pair(rng) else {
                    continue;
                };
                crate::augment::mix_two(&a.candidate(), &b.candidate())
            } else {
                self.human_pair(rng)
            };
            if let Some(c) = mixed {
                let parts = c
                    .labels
                    .get("mixture_families")
                    .cloned()
                    .unwrap_or_default();
                return Some(SourceProgram {
                    id: format!("mixture/{parts}"),
                    family: "mixture".into(),
                    program: c.program,
                    schema: c.schema,
                    labels: c.labels,
                });
            }
        }
        None
    }

    fn families(&self) -> Vec<String> {
        vec!["mixture".into()]
    }
}
