// family: linear_regression
// given: z=covariate(binary)
// source: written for refinestat (the ARM chapter 9 treatment regression)
data {
  int<lower=1> N;
  vector[N] z;
  vector[N] x;
  vector[N] y;
}
parameters {
  real alpha;
  real theta;
  real beta;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(0, 5);
  theta ~ normal(0, 2);
  beta ~ normal(0, 2);
  sigma ~ normal(0, 2);
  y ~ normal(alpha + theta * z + beta * x, sigma);
}
