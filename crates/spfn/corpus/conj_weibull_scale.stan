// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector<lower=0>[N] y;
}
parameters {
  real<lower=1, upper=3> s;
}
model {
  s ~ uniform(1, 3);
  y ~ weibull(1, s);
}
