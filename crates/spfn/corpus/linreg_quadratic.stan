// family: polynomial_regression
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  vector[N] y;
}
parameters {
  real b0;
  real b1;
  real b2;
  real<lower=0> sigma;
}
model {
  b0 ~ normal(0, 5);
  b1 ~ normal(0, 2);
  b2 ~ normal(0, 1);
  sigma ~ normal(0, 2);
  y ~ normal(b0 + b1 * x + b2 * (x .* x), sigma);
}
