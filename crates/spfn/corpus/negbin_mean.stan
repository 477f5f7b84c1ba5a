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
  real<lower=0> inv_phi;
}
model {
  alpha ~ normal(1.5, 0.5);
  beta ~ normal(0, 0.3);
  inv_phi ~ exponential(2);
  y ~ neg_binomial_2(exp(alpha + beta * x), 1 / inv_phi);
}
