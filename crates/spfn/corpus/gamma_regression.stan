// family: gamma_regression
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  vector<lower=0>[N] y;
}
parameters {
  real alpha;
  real beta;
  real<lower=0> shape;
}
model {
  alpha ~ normal(0, 1);
  beta ~ normal(0, 0.5);
  shape ~ gamma(4, 1);
  y ~ gamma(shape, shape * exp(-(alpha + beta * x)));
}
