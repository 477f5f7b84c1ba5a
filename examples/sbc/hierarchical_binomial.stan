// Surgical-like hierarchical binomial for simulation-based calibration: deaths r out of n
// operations in N hospitals (n fixed: the surgical data set's), r simulated. Log-odds are
// non-centered around mu with scale sigma; the weakly informative priors put mortality mostly
// between 1% and 40% and make the prior predictive proper (posteriordb's version has
// inv_gamma(0.001, 0.001) and normal(0, 1000), too vague to simulate from usefully).
data {
  int<lower=0> N;
  array[N] int<lower=0> n;
  array[N] int<lower=0> r;
}
parameters {
  real mu;
  real<lower=0> sigma;
  vector[N] b_raw;
}
transformed parameters {
  vector[N] b = mu + sigma * b_raw;
}
model {
  mu ~ normal(-2.5, 1);
  sigma ~ normal(0, 1);
  b_raw ~ std_normal();
  r ~ binomial_logit(n, b);
}
