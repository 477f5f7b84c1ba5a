//! The five benchmark datasets, shipped inside the binary (`--dataset NAME`).

/// (name, Stan JSON text) for every shipped dataset.
pub const DATASETS: [(&str, &str); 5] = [
    (
        "eight_schools",
        include_str!("../../../datasets/eight_schools.json"),
    ),
    ("dugongs", include_str!("../../../datasets/dugongs.json")),
    ("glm", include_str!("../../../datasets/glm.json")),
    ("gp", include_str!("../../../datasets/gp.json")),
    ("surgical", include_str!("../../../datasets/surgical.json")),
];

/// The JSON text of a shipped dataset, or `None` for an unknown name.
pub fn dataset_json(name: &str) -> Option<&'static str> {
    DATASETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// Names of the shipped datasets, for error messages.
pub fn dataset_names() -> Vec<&'static str> {
    DATASETS.iter().map(|(n, _)| *n).collect()
}
