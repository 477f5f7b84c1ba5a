// family: censoring
// labels: model=survival
// given: N_cens=size(0,20) t_max=const(3)
// source: written for refinestat
data {
  int<lower=1> N;
  int<lower=0> N_cens;
  real<lower=0> t_max;
  vector<lower=0>[N] t;
}
parameters {
  real<lower=0> lambda;
}
model {
  lambda ~ gamma(2, 2);
  t ~ exponential(lambda) T[, t_max];
  target += N_cens * exponential_lccdf(t_max | lambda);
}
