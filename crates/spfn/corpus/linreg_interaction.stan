// family: linear_regression
// labels: interaction=true
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x1;
  vector[N] x2;
  vector[N] y;
}
parameters {
  real alpha;
  real b1;
  real b2;
  real b12;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(0, 5);
  b1 ~ normal(0, 2);
  b2 ~ normal(0, 2);
  b12 ~ normal(0, 1);
  sigma ~ normal(0, 2);
  y ~ normal(alpha + b1 * x1 + b2 * x2 + b12 * (x1 .* x2), sigma);
}
