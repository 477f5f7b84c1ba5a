// family: conjugate
// given: n=trials(20,20)
// source: written for refinestat
data {
  int<lower=1> N;
  array[N] int<lower=1> n;
  array[N] int<lower=0> y;
}
parameters {
  real eta;
}
model {
  eta ~ normal(0, 0.01);
  y ~ binomial_logit(n, eta);
}
