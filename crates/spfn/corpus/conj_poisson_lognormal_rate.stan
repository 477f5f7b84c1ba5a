// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  array[N] int<lower=0> y;
}
parameters {
  real eta;
}
model {
  eta ~ normal(1, 0.3);
  y ~ poisson_log(eta);
}
