// family: multivariate
// labels: responses=2
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  vector[N] y1;
  vector[N] y2;
}
parameters {
  real a1;
  real a2;
  real b1;
  real b2;
  real<lower=0> s1;
  real<lower=0> s2;
}
model {
  a1 ~ normal(0, 5);
  a2 ~ normal(0, 5);
  b1 ~ normal(0, 2);
  b2 ~ normal(0, 2);
  s1 ~ normal(0, 2);
  s2 ~ normal(0, 2);
  y1 ~ normal(a1 + b1 * x, s1);
  y2 ~ normal(a2 + b2 * x, s2);
}
