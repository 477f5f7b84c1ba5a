// family: measurement_error
// source: written for refinestat (measurement error in a predictor, Stan user guide)
data {
  int<lower=1> N;
  vector[N] x_obs;
  vector[N] y;
}
parameters {
  real mu_x;
  real<lower=0> tau_x;
  vector[N] x;
  real alpha;
  real beta;
  real<lower=0> sigma;
}
model {
  mu_x ~ normal(0, 3);
  tau_x ~ normal(0, 2);
  x ~ normal(mu_x, tau_x);
  x_obs ~ normal(x, 0.5);
  alpha ~ normal(0, 5);
  beta ~ normal(0, 2);
  sigma ~ normal(0, 2);
  y ~ normal(alpha + beta * x, sigma);
}
