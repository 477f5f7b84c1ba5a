//! The flags that say which data a synthesis command works on and which proposal model writes its
//! programs, shared by `generate` and `synth` (and filled in by `experiment` per grid cell).

use crate::commands::read_data_in_order;
use crate::error::{CliError, Result};
use refinestat_language::Data;
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};
use refinestat_synthesis::{Schema, SchemaOptions};
use std::path::PathBuf;

/// `--dataset NAME | --data FILE`, `--describe`, `--response`, `--lm`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["dataset", "data"])))]
pub struct DataSource {
    /// One of the shipped benchmark datasets: eight_schools, dugongs, glm, gp, surgical.
    #[arg(long)]
    pub dataset: Option<String>,
    /// A data file: Stan JSON, or a CSV table (header row; text columns become 1..J indexes).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A sentence about the data: text models read it in their instruction; the builtin model
    /// reads a variable's name and words such as "counts", "proportion", "binary" in it when it
    /// decides the response.
    #[arg(long)]
    pub describe: Option<String>,
    /// The variable to model (repeat for several); without it the response is decided from the
    /// data and --describe, and printed.
    #[arg(long = "response", value_name = "NAME")]
    pub response: Vec<String>,
    /// Proposal model: builtin, local:PATH, openai:URL#model=NAME, spfn (the shipped model), spfn:PATH, or replay:FILE
    /// (proposes exactly the program in FILE, the part after the data block: what a decoding
    /// mode lets through of it). openai takes
    /// an http:// URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama) and optional
    /// &grammar=lark|gbnf|none, &timeout=SECONDS, &retries=N, &max_tokens=N, &resamples=N; the API key is
    /// read from OPENAI_API_KEY.
    #[arg(long, default_value = "builtin")]
    pub lm: String,
}

/// Data as a synthesis command reads it.
pub struct Loaded {
    /// How records name it: the dataset's name, or the file's path.
    pub source: String,
    pub data: Data,
    /// The file's variables in the order it lists them (empty for a shipped dataset).
    pub order: Vec<String>,
}

impl DataSource {
    /// What each variable is for a model: the response from --response, or decided from the
    /// data (in its file's order) and --describe. Data with nothing to model is a usage error.
    pub fn schema(&self, loaded: &Loaded) -> Result<Schema> {
        Schema::infer(
            &loaded.data,
            &SchemaOptions {
                responses: self.response.clone(),
                describe: self.describe.clone(),
                order: loaded.order.clone(),
            },
        )
        .map_err(|e| CliError::new(e.to_string()))
    }

    /// The data, how to name it in records, and its file's order.
    pub fn load(&self) -> Result<Loaded> {
        match (&self.dataset, &self.data) {
            (Some(name), _) => dataset(name)
                .map(|data| Loaded {
                    source: name.clone(),
                    data,
                    order: Vec::new(),
                })
                .ok_or_else(|| {
                    CliError::new(format!(
                        "unknown dataset `{name}` (shipped: {})",
                        DATASET_NAMES.join(", ")
                    ))
                }),
            (None, Some(path)) => {
                let (data, order) = read_data_in_order(path)?;
                Ok(Loaded {
                    source: path.display().to_string(),
                    data,
                    order,
                })
            }
            (None, None) => Err(CliError::new("give --dataset NAME or --data FILE")),
        }
    }
}
