// family: lognormal_regression
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  vector<lower=0>[N] y;
}
parameters {
  real alpha;
  real beta;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(0, 1);
  beta ~ normal(0, 0.5);
  sigma ~ normal(0, 0.5);
  y ~ lognormal(alpha + beta * x, sigma);
}
