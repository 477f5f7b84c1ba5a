// family: poisson_regression
// labels: offset=true
// source: written for refinestat (the ARM chapter 6 exposure model)
data {
  int<lower=1> N;
  vector<lower=0>[N] exposure;
  vector[N] x;
  array[N] int<lower=0> y;
}
parameters {
  real alpha;
  real beta;
}
model {
  alpha ~ normal(0, 1);
  beta ~ normal(0, 0.5);
  y ~ poisson_log(log(exposure) + alpha + beta * x);
}
