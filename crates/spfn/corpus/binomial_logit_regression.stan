// family: binomial_regression
// source: written for refinestat (the dose-response model of the BUGS examples)
data {
  int<lower=1> N;
  vector[N] x;
  array[N] int<lower=1> n;
  array[N] int<lower=0> y;
}
parameters {
  real alpha;
  real beta;
}
model {
  alpha ~ normal(0, 1.5);
  beta ~ normal(0, 1);
  y ~ binomial_logit(n, alpha + beta * x);
}
