//! The five benchmark datasets (posteriordb, Stan JSON), shipped inside the binary so that
//! `--dataset NAME` needs no files.

/// Names of the shipped datasets.
pub const DATASET_NAMES: [&str; 5] = ["eight_schools", "dugongs", "glm", "gp", "surgical"];

/// The Stan JSON text of a shipped dataset.
pub fn dataset_json(name: &str) -> Option<&'static str> {
    match name {
        "eight_schools" => Some(include_str!("../../../datasets/eight_schools.json")),
        "dugongs" => Some(include_str!("../../../datasets/dugongs.json")),
        "glm" => Some(include_str!("../../../datasets/glm.json")),
        "gp" => Some(include_str!("../../../datasets/gp.json")),
        "surgical" => Some(include_str!("../../../datasets/surgical.json")),
        _ => None,
    }
}

/// A shipped dataset, parsed.
pub fn dataset(name: &str) -> Option<refinestat_language::Data> {
    dataset_json(name).and_then(|text| refinestat_language::Data::from_json_str(text).ok())
}
