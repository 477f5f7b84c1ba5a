// family: negbin_regression
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  array[N] int<lower=0> y;
}
parameters {
  real alpha;
  real beta;
  real<lower=0> phi;
}
model {
  alpha ~ normal(1, 1);
  beta ~ normal(0, 0.5);
  phi ~ gamma(2, 0.5);
  y ~ neg_binomial_2_log(alpha + beta * x, phi);
}
