// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  array[N] int<lower=0> y;
}
parameters {
  real<lower=0> lambda;
}
model {
  lambda ~ gamma(4, 2);
  y ~ poisson(lambda);
}
