// family: hierarchical_regression
// source: written for refinestat
data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> g;
  vector[N] x;
  vector[N] y;
}
parameters {
  real a;
  real mu_b;
  real<lower=0> sigma_b;
  vector[J] b;
  real<lower=0> sigma;
}
model {
  a ~ normal(0, 5);
  mu_b ~ normal(0, 2);
  sigma_b ~ normal(0, 1);
  b ~ normal(mu_b, sigma_b);
  sigma ~ normal(0, 2);
  y ~ normal(a + b[g] .* x, sigma);
}
