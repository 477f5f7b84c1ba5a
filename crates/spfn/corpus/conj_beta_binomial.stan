// family: conjugate
// given: n=trials(10,10)
// source: written for refinestat
data {
  int<lower=1> N;
  array[N] int<lower=1> n;
  array[N] int<lower=0> y;
}
parameters {
  real<lower=0, upper=1> theta;
}
model {
  theta ~ beta(2, 3);
  y ~ binomial(n, theta);
}
