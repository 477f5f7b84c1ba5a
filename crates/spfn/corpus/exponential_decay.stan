// family: nonlinear_regression
// given: t=time
// source: written for refinestat
data {
  int<lower=1> N;
  vector<lower=0>[N] t;
  vector[N] y;
}
parameters {
  real<lower=0> a;
  real<lower=0> k;
  real<lower=0> sigma;
}
model {
  a ~ normal(10, 3);
  k ~ lognormal(-1, 0.5);
  sigma ~ normal(0, 1);
  y ~ normal(a * exp(-k * t), sigma);
}
