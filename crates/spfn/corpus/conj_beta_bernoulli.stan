// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  real<lower=0, upper=1> theta;
}
model {
  theta ~ beta(3, 2);
  y ~ bernoulli(theta);
}
