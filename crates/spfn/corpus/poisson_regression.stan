// family: poisson_regression
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  array[N] int<lower=0> y;
}
parameters {
  real alpha;
  real beta;
}
model {
  alpha ~ normal(1, 1);
  beta ~ normal(0, 0.5);
  y ~ poisson_log(alpha + beta * x);
}
