// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  array[N] int<lower=0> y;
}
parameters {
  real<lower=0> mu;
}
model {
  mu ~ gamma(6, 2);
  y ~ neg_binomial_2(mu, 5);
}
