// family: nonlinear_regression
// source: written for refinestat
data {
  int<lower=1> N;
  vector<lower=0>[N] conc;
  vector[N] rate;
}
parameters {
  real<lower=0> vmax;
  real<lower=0> km;
  real<lower=0> sigma;
}
model {
  vmax ~ normal(5, 2);
  km ~ lognormal(0, 0.5);
  sigma ~ normal(0, 0.5);
  rate ~ normal(vmax * conc ./ (km + conc), sigma);
}
