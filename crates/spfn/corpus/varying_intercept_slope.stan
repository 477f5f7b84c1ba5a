// family: hierarchical_regression
// source: written for refinestat (the radon varying-intercept, varying-slope model, ARM ch. 13)
data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> g;
  vector[N] x;
  vector[N] y;
}
parameters {
  real mu_a;
  real mu_b;
  real<lower=0> sigma_a;
  real<lower=0> sigma_b;
  vector[J] a;
  vector[J] b;
  real<lower=0> sigma;
}
model {
  mu_a ~ normal(0, 5);
  mu_b ~ normal(0, 2);
  sigma_a ~ normal(0, 2);
  sigma_b ~ normal(0, 1);
  a ~ normal(mu_a, sigma_a);
  b ~ normal(mu_b, sigma_b);
  sigma ~ normal(0, 2);
  y ~ normal(a[g] + b[g] .* x, sigma);
}
