// family: censoring
// given: N_cens=size(0,20) U=const(1.5)
// source: written for refinestat (censored data, Stan user guide)
data {
  int<lower=1> N;
  int<lower=0> N_cens;
  real U;
  vector[N] y;
}
parameters {
  real mu;
  real<lower=0> sigma;
}
model {
  mu ~ normal(0, 1);
  sigma ~ normal(1, 0.3);
  y ~ normal(mu, sigma) T[, U];
  target += N_cens * normal_lccdf(U | mu, sigma);
}
