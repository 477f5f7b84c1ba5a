// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector<lower=0>[N] y;
}
parameters {
  real<lower=0> lambda;
}
model {
  lambda ~ gamma(5, 4);
  y ~ exponential(lambda);
}
