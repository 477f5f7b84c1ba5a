// family: hierarchical_poisson
// source: written for refinestat
data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> g;
  vector[N] x;
  array[N] int<lower=0> y;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] a;
  real b;
}
model {
  mu ~ normal(1, 1);
  tau ~ normal(0, 0.5);
  a ~ normal(mu, tau);
  b ~ normal(0, 0.3);
  y ~ poisson_log(a[g] + b * x);
}
