// family: hierarchical_logistic
// source: written for refinestat
data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> g;
  vector[N] x;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] a;
  real b;
}
model {
  mu ~ normal(0, 1.5);
  tau ~ normal(0, 1);
  a ~ normal(mu, tau);
  b ~ normal(0, 1);
  y ~ bernoulli_logit(a[g] + b * x);
}
