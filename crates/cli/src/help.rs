//! The examples shown at the end of each subcommand's `--help`.

pub const CHECK: &str = "Example:
  refinestat check examples/eight_schools_noncentered.stan --data datasets/eight_schools.json";

pub const FMT: &str = "Examples:
  refinestat fmt model.stan                       # the house layout, comments kept, on stdout
  refinestat fmt --check examples/*.stan          # exit 1 naming each file that would change
  refinestat fmt --in-place model.stan
  refinestat fmt examples/eight_schools_noncentered.stan --canonical";

pub const LOGP: &str = "Examples:
  refinestat logp examples/eight_schools_noncentered.stan --data datasets/eight_schools.json \\
      --params params.json
  refinestat logp model.stan --data data.json --unconstrained x.json --propto   # as Stan's log_prob
Prints lp and lp_jacobian (without and with the log Jacobian of the constraining transforms),
grad and grad_no_jacobian (their gradients on the unconstrained scale), the unconstrained point
and the pointwise log-likelihood. --propto drops the constant terms of `~` statements as Stan's
log_prob (PyStan's log_prob / grad_log_prob) does.";

pub const SIMULATE: &str = "Example:
  refinestat simulate examples/eight_schools_noncentered.stan --data datasets/eight_schools.json \\
      --draws 10 --seed 3";

pub const SAMPLE: &str = "Examples:
  refinestat sample examples/eight_schools_noncentered.stan --data datasets/eight_schools.json \\
      --output-dir out/eight_schools
  refinestat sample prior_only.stan        # a program without a data block needs no --data
  refinestat sample logistic.stan --data big.json --log-lik file   # log_lik.npy beside the CSVs
Writes chain-<k>.csv, summary.json, report.html, and copies of the program and data (data files
over 10 MB are named in run.json instead). The pointwise log-likelihood is in the CSVs up to
--log-lik-csv-max observations; PSIS-LOO is computed in chunks of observations either way, and
subsampled above --loo-subsample-above observations.";

pub const DIAGNOSE: &str = "Examples:
  refinestat diagnose out/eight_schools/chain-*.csv
  refinestat diagnose cmdstan-output-*.csv --program model.stan --data data.json";

pub const SBC: &str = "Example:
  refinestat sbc examples/eight_schools_noncentered.stan --data datasets/eight_schools.json \\
      --reps 100 --significance 0.05 --output-dir out/eight_schools-sbc";

pub const GENERATE: &str = "Examples:
  refinestat generate --dataset eight_schools --n 20 --mode refinestat --output-dir out/gen
  refinestat generate --dataset eight_schools --n 20 --without support --output-dir out/gen-nosup";

pub const SYNTH: &str = "Examples:
  refinestat synth --dataset eight_schools --output-dir out/synth-eight_schools
  refinestat synth --data mydata.json --describe \"test scores of 8 schools\" --rmax 20
Prints the best program, its posterior summary and the valid candidates compared by PSIS-LOO;
writes report.html and every attempt under candidates/.";

pub const EXPERIMENT: &str = "Examples:
  refinestat experiment --seeds 1-5 --datasets eight_schools,dugongs --mode refinestat,syntax \\
      --rmax 10 --output-dir out/exp
  refinestat experiment --seeds 1-3 --ablation --output-dir out/ablation   # analysis/ablation.txt
  refinestat experiment --seeds 1-3 --temperature 0.3,1 --output-dir out/temperatures
  refinestat experiment --seeds 1-10 --output-dir out/exp --emit-slurm exp.sbatch --shards 16
  sbatch exp.sbatch; refinestat experiment --seeds 1-10 --output-dir out/exp --merge
A rerun with the same flags resumes the grid.";

pub const REPORT: &str = "Examples:
  refinestat report out/eight_schools          # a `sample` output directory
  refinestat report out/synth-eight_schools    # a `synth` output directory
Writes DIR/report.html: one self-contained page (inline SVG, no JavaScript, no network).";
