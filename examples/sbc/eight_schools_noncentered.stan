// Eight schools, non-centered, for simulation-based calibration: J and the standard errors
// sigma are fixed data (the published ones), y is simulated. The half-normal prior on tau
// (instead of posteriordb's half-Cauchy) keeps prior draws in a range a fit can resolve; both
// are proper.
data {
  int<lower=0> J;
  array[J] real y;
  array[J] real<lower=0> sigma;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] theta_tilde;
}
transformed parameters {
  vector[J] theta = mu + tau * theta_tilde;
}
model {
  mu ~ normal(0, 5);
  tau ~ normal(0, 5);
  theta_tilde ~ normal(0, 1);
  y ~ normal(theta, sigma);
}
