// family: poisson_regression
// source: written for refinestat
data {
  int<lower=1> N;
  int<lower=1> K;
  matrix[N, K] X;
  array[N] int<lower=0> y;
}
parameters {
  real alpha;
  vector[K] beta;
}
model {
  alpha ~ normal(1, 1);
  beta ~ normal(0, 0.3);
  y ~ poisson(exp(alpha + X * beta));
}
