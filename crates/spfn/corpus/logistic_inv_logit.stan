// family: logistic_regression
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  real a;
  real b;
}
model {
  a ~ normal(0, 1.5);
  b ~ normal(0, 1.5);
  y ~ bernoulli(inv_logit(a + b * x));
}
