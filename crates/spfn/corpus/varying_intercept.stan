// family: hierarchical_regression
// source: written for refinestat (the radon varying-intercept model, ARM ch. 12)
data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> g;
  vector[N] x;
  vector[N] y;
}
parameters {
  real mu_a;
  real<lower=0> sigma_a;
  vector[J] a;
  real b;
  real<lower=0> sigma;
}
model {
  mu_a ~ normal(0, 5);
  sigma_a ~ normal(0, 2);
  a ~ normal(mu_a, sigma_a);
  b ~ normal(0, 2);
  sigma ~ normal(0, 2);
  y ~ normal(a[g] + b * x, sigma);
}
