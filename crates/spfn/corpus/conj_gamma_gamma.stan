// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector<lower=0>[N] y;
}
parameters {
  real<lower=0> rate;
}
model {
  rate ~ gamma(10, 5);
  y ~ gamma(3, rate);
}
