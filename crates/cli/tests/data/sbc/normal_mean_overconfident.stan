// The negative control of SBC: normal_mean.stan with a prior ten times too narrow. Fitted to data
// simulated from normal_mean.stan, its posteriors miss most true values, so ranks pile up at 0
// and L.
data {
  int<lower=1> N;
  vector[N] y;
}
parameters {
  real mu;
}
model {
  mu ~ normal(0, 0.1);
  y ~ normal(mu, 1);
}
