// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector<lower=0, upper=1>[N] y;
}
parameters {
  real<lower=0> a;
}
model {
  a ~ gamma(20, 10);
  y ~ beta(a, 2);
}
