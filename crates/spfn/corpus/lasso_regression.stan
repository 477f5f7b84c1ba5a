// family: linear_regression
// labels: shrinkage=laplace
// source: written for refinestat
data {
  int<lower=1> N;
  int<lower=1> K;
  matrix[N, K] X;
  vector[N] y;
}
parameters {
  real alpha;
  vector[K] beta;
  real<lower=0> sigma;
  real<lower=0> lambda;
}
model {
  lambda ~ cauchy(0, 1);
  alpha ~ normal(0, 5);
  beta ~ double_exponential(0, lambda);
  sigma ~ normal(0, 2);
  y ~ normal(alpha + X * beta, sigma);
}
