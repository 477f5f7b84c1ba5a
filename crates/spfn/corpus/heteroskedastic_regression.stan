// family: heteroskedastic_regression
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  vector[N] y;
}
parameters {
  real alpha;
  real beta;
  real gamma0;
  real gamma1;
}
model {
  alpha ~ normal(0, 5);
  beta ~ normal(0, 2);
  gamma0 ~ normal(0, 1);
  gamma1 ~ normal(0, 0.5);
  y ~ normal(alpha + beta * x, exp(gamma0 + gamma1 * x));
}
