//! Safetensors weights of a local model: reading one file or a sharded set into memory (no
//! memory mapping, so no `unsafe`), and a checking [`SimpleBackend`] that hands them to candle's
//! model constructors while recording every missing tensor and wrong shape.
//!
//! Some candle constructors `unwrap` the result of loading a layer, so a backend that returned an
//! error for a missing tensor would make them panic. This one never fails: it records the
//! problem, returns a zero-cost stand-in of the requested shape, and [`CheckedBackend::problems`]
//! turns the first recorded problem into an error once construction is over.

use super::files_error;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use refinestat_proposal::ProposalError;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The safetensors files of a model directory: `model.safetensors`, the shards named by
/// `model.safetensors.index.json`, or else every `*.safetensors` file.
pub(crate) fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ProposalError> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index)
            .map_err(|e| files_error(&index, format!("cannot read: {e}")))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| files_error(&index, format!("malformed JSON: {e}")))?;
        let map = value
            .get("weight_map")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| files_error(&index, "no `weight_map` object"))?;
        let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        if shards.is_empty() {
            return Err(files_error(&index, "`weight_map` names no files"));
        }
        return Ok(shards.into_iter().map(|s| dir.join(s)).collect());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| files_error(dir, format!("cannot list the directory: {e}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(files_error(
            dir,
            "no weights: expected model.safetensors, or shards listed in \
             model.safetensors.index.json",
        ));
    }
    Ok(found)
}

/// Every tensor of `files`, on the CPU in its stored dtype, with the file it came from.
pub(crate) fn read_tensors(
    files: &[PathBuf],
) -> Result<HashMap<String, (Tensor, PathBuf)>, ProposalError> {
    let mut all = HashMap::new();
    for file in files {
        let bytes =
            std::fs::read(file).map_err(|e| files_error(file, format!("cannot read: {e}")))?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| {
            files_error(
                file,
                format!("not a valid safetensors file (truncated or corrupt?): {e}"),
            )
        })?;
        for (name, tensor) in tensors {
            all.insert(name, (tensor, file.clone()));
        }
    }
    Ok(all)
}

/// Hands stored tensors to candle constructors, converting dtype and device, and records what
/// is missing or misshapen instead of failing.
pub(crate) struct CheckedBackend {
    tensors: HashMap<String, (Tensor, PathBuf)>,
    /// Where a missing tensor should have been (the file, or the directory when sharded).
    source: PathBuf,
    problems: Mutex<Vec<ProposalError>>,
}

impl CheckedBackend {
    pub fn new(tensors: HashMap<String, (Tensor, PathBuf)>, source: PathBuf) -> CheckedBackend {
        CheckedBackend {
            tensors,
            source,
            problems: Mutex::new(Vec::new()),
        }
    }

    fn record(&self, problem: ProposalError) {
        if let Ok(mut problems) = self.problems.lock() {
            problems.push(problem);
        }
    }

    fn stand_in(shape: Shape, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        Tensor::zeros((), dtype, dev)?.broadcast_as(shape)
    }
}

/// A [`CheckedBackend`] behind an `Arc`, so that its problems can be read after a `VarBuilder`
/// owning it is gone.
#[derive(Clone)]
pub(crate) struct SharedChecked(pub std::sync::Arc<CheckedBackend>);

impl SharedChecked {
    /// The first problem recorded, if any.
    pub fn first_problem(&self) -> Option<ProposalError> {
        self.0
            .problems
            .lock()
            .ok()
            .and_then(|problems| problems.first().cloned())
    }
}

impl SimpleBackend for SharedChecked {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let this = &self.0;
        match this.tensors.get(name) {
            None => {
                this.record(files_error(
                    &this.source,
                    format!(
                        "tensor `{name}` is missing (config.json implies shape {:?})",
                        s.dims()
                    ),
                ));
                CheckedBackend::stand_in(s, dtype, dev)
            }
            Some((tensor, file)) if tensor.shape() != &s => {
                this.record(files_error(
                    file,
                    format!(
                        "tensor `{name}` has shape {:?}, but config.json implies {:?}",
                        tensor.dims(),
                        s.dims()
                    ),
                ));
                CheckedBackend::stand_in(s, dtype, dev)
            }
            Some((tensor, _)) => tensor.to_dtype(dtype)?.to_device(dev),
        }
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        match self.0.tensors.get(name) {
            Some((tensor, _)) => tensor.to_dtype(dtype)?.to_device(dev),
            None => {
                self.0.record(files_error(
                    &self.0.source,
                    format!("tensor `{name}` is missing"),
                ));
                candle_core::bail!("tensor `{name}` is missing")
            }
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.tensors.contains_key(name)
    }
}
