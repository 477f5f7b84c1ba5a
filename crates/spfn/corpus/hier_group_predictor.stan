// family: hierarchical_regression
// labels: group_predictor=true
// source: written for refinestat (radon with county uranium, ARM ch. 12)
data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> g;
  vector[J] u;
  vector[N] x;
  vector[N] y;
}
parameters {
  real g0;
  real g1;
  real<lower=0> sigma_a;
  vector[J] a;
  real b;
  real<lower=0> sigma;
}
model {
  g0 ~ normal(0, 5);
  g1 ~ normal(0, 2);
  sigma_a ~ normal(0, 2);
  a ~ normal(g0 + g1 * u, sigma_a);
  b ~ normal(0, 2);
  sigma ~ normal(0, 2);
  y ~ normal(a[g] + b * x, sigma);
}
